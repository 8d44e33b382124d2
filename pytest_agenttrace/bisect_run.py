"""What ``agenttrace bisect`` runs: targets (the ordered versions), predicates and the run log.

A *target* is the ordered list of candidate versions plus a way to make one
of them current for a run:

* :class:`RegistryTarget`: the labels of a prompt or config in a registry
  (``prompts/<name>/<label>.txt``, ``configs/<name>/<label>.yaml``) or an
  explicit ``--versions`` list; a run gets ``--agenttrace-version NAME=LABEL``
  (and ``AGENTTRACE_VERSIONS``).
* :class:`GitFileTarget`: the commits that changed one file (``git log
  --follow``); a run sees that commit's content of the file only, in a
  temporary copy of the working tree (or in place, restored afterwards).

A *predicate* turns one pytest run into ``good``/``bad``/``skip``: the pytest
exit code (0 good, 1 bad, anything else skip), a spec checked against the
traces the run saved, or a comparison of those traces with a golden snapshot.

The :class:`RunLog` is an append-only JSON-lines file of every run (version,
stamp, outcome, seed, trace hash) kept under pytest's cache directory, so an
interrupted bisect resumes where it stopped: the k-th run of a version is
replayed from the log when the log has it and the version's content stamp is
unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from .bisect_search import BAD, GOOD, SKIP, Outcome
from .exceptions import InputError, TraceFileError
from .model import Trace

if TYPE_CHECKING:
    from .snapshot import SnapshotSettings

__all__ = [
    "ENV_RUN",
    "ENV_SEED",
    "ExitCodePredicate",
    "GitFileTarget",
    "Predicate",
    "PytestRunner",
    "RegistryTarget",
    "RunLog",
    "RunRecord",
    "SnapshotPredicate",
    "SpecPredicate",
    "Target",
    "trace_hash",
]

#: Environment variables every bisect run gets: a per-run seed and run number.
ENV_SEED: Final = "AGENTTRACE_BISECT_SEED"
ENV_RUN: Final = "AGENTTRACE_BISECT_RUN"
_IGNORED_DIRS: Final = (".git", ".pytest_cache", "__pycache__", ".mypy_cache", ".ruff_cache", ".venv", "node_modules")


@dataclass
class RunRecord:
    """One run of one version."""

    version: str
    stamp: str
    outcome: Outcome
    seed: int
    run: int
    trace_hash: str | None = None
    detail: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    traces: list[str] = field(default_factory=list)
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to the run log and ``--format json``."""
        return {
            "version": self.version,
            "stamp": self.stamp,
            "outcome": self.outcome,
            "seed": self.seed,
            "run": self.run,
            "trace_hash": self.trace_hash,
            "detail": self.detail,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "traces": self.traces,
            "cached": self.cached,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """Read a run-log line back (``ValueError``, ``KeyError`` or ``TypeError`` if it is not one)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a run-log line is a JSON object, not {type(data).__name__}")
        outcome = data["outcome"]
        if outcome not in (GOOD, BAD, SKIP):
            raise ValueError(f"unknown outcome {outcome!r}")
        exit_code = data.get("exit_code")
        if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
            raise TypeError(f"exit_code {exit_code!r} is not an integer")
        trace_hash = data.get("trace_hash")
        if trace_hash is not None and not isinstance(trace_hash, str):
            raise TypeError(f"trace_hash {trace_hash!r} is not a string")
        traces = data.get("traces", [])
        if not isinstance(traces, list):
            raise TypeError(f"traces {traces!r} is not a list")
        duration = float(data.get("duration_s", 0.0))
        if not math.isfinite(duration):
            raise ValueError(f"duration_s {duration!r} is not a number of seconds")
        return cls(
            version=str(data["version"]),
            stamp=str(data.get("stamp", "")),
            outcome=outcome,
            seed=int(data.get("seed", 0)),
            run=int(data.get("run", 0)),
            trace_hash=trace_hash,
            detail=str(data.get("detail", "")),
            exit_code=exit_code,
            duration_s=duration,
            traces=[str(t) for t in traces],
            cached=True,
        )


def trace_hash(paths: Sequence[Path]) -> str | None:
    """SHA-256 (16 hex digits) over the saved trace files of a run, or ``None``."""
    if not paths:
        return None
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- targets


class Target(Protocol):
    """The ordered versions of a bisect and how to make one current."""

    kind: str
    name: str
    labels: list[str]

    def stamp(self, label: str) -> str:
        """An identity of the version's content (a change invalidates cached runs)."""
        ...

    def prepare(self, label: str) -> contextlib.AbstractContextManager[tuple[Path, list[str], dict[str, str]]]:
        """Make ``label`` current: yields ``(cwd, extra pytest args, extra env)``."""
        ...

    def describe(self, label: str) -> str:
        """How a version is named in the output (``summarizer@v4``)."""
        ...


class RegistryTarget:
    """Versions of a prompt/config from a registry or an explicit list."""

    kind = "registry"

    def __init__(self, name: str, labels: list[str], cwd: Path, files: Mapping[str, Path] | None = None) -> None:
        self.name = name
        self.labels = labels
        self.cwd = cwd
        self._files = dict(files or {})

    def stamp(self, label: str) -> str:
        path = self._files.get(label)
        try:
            return f"{label}#{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}" if path is not None else label
        except OSError:  # gone or unreadable: the run will say so; the label alone is its identity
            return label

    @contextlib.contextmanager
    def prepare(self, label: str) -> Iterator[tuple[Path, list[str], dict[str, str]]]:
        override = f"{self.name}={label}"
        previous = os.environ.get("AGENTTRACE_VERSIONS", "")
        env_value = ",".join(x for x in (previous, override) if x)
        yield self.cwd, ["--agenttrace-version", override], {"AGENTTRACE_VERSIONS": env_value}

    def describe(self, label: str) -> str:
        return f"{self.name}@{label}"


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        raise InputError("--git-file needs the git command; install git or bisect a registry instead.") from None
    if done.returncode != 0:
        raise InputError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


class GitFileTarget:
    """The commits that changed one file, applied alone to a copy of the working tree."""

    kind = "git-file"

    def __init__(self, path: str, good: str | None, bad: str | None, cwd: Path, *, in_place: bool = False) -> None:
        self.cwd = cwd
        self.in_place = in_place
        if not (cwd / path).exists() and not _git(cwd, "log", "-1", "--format=%H", "--", path).strip():
            raise InputError(f"--git-file {path}: no such file in the working tree or in git history; check the path.")
        self.top = Path(_git(cwd, "rev-parse", "--show-toplevel").strip())
        try:
            self.rel = (cwd / path).resolve().relative_to(self.top.resolve()).as_posix()
        except ValueError:
            raise InputError(
                f"--git-file {path}: the file is outside the git repository {self.top}; name a file inside it."
            ) from None
        self.name = self.rel
        log = _git(self.top, "log", "--follow", "--format=commit %H", "--name-only", "--", self.rel)
        commits: list[tuple[str, str]] = []  # (sha, path at that commit), newest first
        sha = ""
        for line in log.splitlines():
            if line.startswith("commit "):
                sha = line[7:].strip()
            elif line.strip() and sha:
                commits.append((sha, line.strip()))
                sha = ""
        if not commits:
            raise InputError(f"--git-file {path}: git has no commit that changed it; commit it first.")
        commits.reverse()
        self._paths = {c[0][:10]: c[1] for c in commits}
        self._full = {c[0][:10]: c[0] for c in commits}
        ordered = [c[0][:10] for c in commits]
        lo = self._locate(good, ordered, "--good") if good else 0
        hi = self._locate(bad, ordered, "--bad") if bad else len(ordered) - 1
        if hi <= lo:
            raise InputError(
                f"--good {good} is not older than --bad {bad or 'HEAD'} in the history of {self.rel}; "
                "swap them or pick other commits."
            )
        self.labels = ordered[lo : hi + 1]

    def _locate(self, rev: str, ordered: list[str], option: str) -> int:
        full = _git(self.top, "rev-parse", "--verify", f"{rev}^{{commit}}").strip()
        for index in range(len(ordered) - 1, -1, -1):
            candidate = self._full[ordered[index]]
            if candidate == full:
                return index
            done = subprocess.run(
                ["git", "merge-base", "--is-ancestor", candidate, full], cwd=self.top, capture_output=True, check=False
            )
            if done.returncode == 0:
                return index
        raise InputError(f"{option} {rev}: no commit at or before it changed {self.rel}; pick a later commit.")

    def stamp(self, label: str) -> str:
        return self._full[label]

    def content(self, label: str) -> bytes | None:
        """The file's content at commit ``label`` (``None`` if it did not exist there)."""
        done = subprocess.run(
            ["git", "show", f"{self._full[label]}:{self._paths[label]}"],
            cwd=self.top,
            capture_output=True,
            check=False,
        )
        return done.stdout if done.returncode == 0 else None

    @contextlib.contextmanager
    def prepare(self, label: str) -> Iterator[tuple[Path, list[str], dict[str, str]]]:
        data = self.content(label)
        if data is None:
            raise _Untestable(f"{self.rel} does not exist at {label}")
        relcwd = self.cwd.resolve().relative_to(self.top.resolve())
        if self.in_place:
            target = self.top / self.rel
            original = target.read_bytes() if target.exists() else None
            with _signals_raise(f"restoring {self.rel}"):
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    yield self.cwd, [], {}
                finally:
                    if original is None:
                        target.unlink(missing_ok=True)
                    else:
                        target.write_bytes(original)
            return
        with tempfile.TemporaryDirectory(prefix="agenttrace-bisect-") as tmp:
            copy = Path(tmp) / self.top.name
            shutil.copytree(self.top, copy, ignore=shutil.ignore_patterns(*_IGNORED_DIRS), symlinks=True)
            (copy / self.rel).parent.mkdir(parents=True, exist_ok=True)
            (copy / self.rel).write_bytes(data)
            # An editable install (a .pth naming <repo>/src, or setuptools' finder) imports the package
            # from the checkout, whatever the run's directory: put the copy's folders first instead.
            inside = [str(copy / rel) for rel in _import_roots_inside(self.top)]
            env = {"PYTHONPATH": os.pathsep.join([*inside, *_env_pythonpath()])} if inside else {}
            yield copy / relcwd, [], env

    def describe(self, label: str) -> str:
        return f"{self.rel}@{label}"


def _env_pythonpath() -> list[str]:
    return [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]


def _import_roots_inside(top: Path) -> list[str]:
    """The folders inside the repository ``top`` that Python imports from, relative to ``top``.

    A run's interpreter is this one, with the same site-packages: the entries of :data:`sys.path` (from
    ``PYTHONPATH`` and ``.pth`` files such as an editable install's ``<repo>/src``) and the package
    folders that setuptools' editable finders map names to.  Virtualenvs and caches (not copied) and
    site-packages folders are left out.
    """
    places = [entry for entry in sys.path if entry]
    for name, module in list(sys.modules.items()):
        if name.startswith("__editable__") and name.endswith("_finder"):
            mapping = getattr(module, "MAPPING", None)
            if isinstance(mapping, dict):
                places.extend(str(Path(str(folder)).parent) for folder in mapping.values())
    try:
        root = top.resolve()
    except OSError:
        return []
    found: list[str] = []
    for place in places:
        try:
            path = Path(place).resolve()
            rel = path.relative_to(root)
        except (OSError, ValueError):
            continue
        parts = set(rel.parts)
        if parts & {*_IGNORED_DIRS, "site-packages", "dist-packages"} or not path.is_dir():
            continue
        if rel.as_posix() not in found:
            found.append(rel.as_posix())
    return found


@contextlib.contextmanager
def _signals_raise(doing: str) -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise ``SystemExit(128 + signal)``, so ``finally`` blocks run.

    Their default action ends the process on the spot, which would leave an ``--in-place`` file changed.
    Only the main thread can set handlers; a signal the process ignores (``nohup``) stays ignored.
    The previous handlers come back on the way out.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(number: int, frame: object) -> None:
        # A second signal while the finally blocks restore would interrupt the restore itself: from
        # here until the way out, both are ignored.
        for other in previous:
            signal.signal(other, signal.SIG_IGN)
        sys.stderr.write(f"agenttrace bisect: {_signal_name(number)}: {doing}, then stopping\n")
        raise SystemExit(128 + number)

    previous: dict[int, Any] = {}
    try:
        for name in ("SIGTERM", "SIGHUP"):
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
                previous[number] = signal.signal(number, handler)
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


class _Untestable(Exception):
    """A version cannot be set up for a run (skip it)."""


# --------------------------------------------------------------------------- predicates


class Predicate(Protocol):
    """Turns a finished pytest run into an outcome."""

    def judge(self, exit_code: int, traces: list[Path]) -> tuple[Outcome, str]:
        """``(outcome, one-line detail)``."""
        ...


_EXIT_NAMES: Final = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}


class ExitCodePredicate:
    """pytest's exit code: 0 good, 1 bad, anything else (collection error, no tests) skip."""

    def judge(self, exit_code: int, traces: list[Path]) -> tuple[Outcome, str]:
        if exit_code == 0:
            return GOOD, "tests passed"
        if exit_code == 1:
            return BAD, "tests failed"
        if exit_code < 0:  # subprocess's way of saying that a signal ended the run
            return SKIP, f"pytest was killed by signal {-exit_code} ({_signal_name(-exit_code)})"
        return SKIP, f"pytest exit code {exit_code} ({_EXIT_NAMES.get(exit_code, 'error')})"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def _load_traces(paths: Sequence[Path]) -> tuple[list[Trace], str | None]:
    """The run's saved traces, and why one of them cannot be read (``None`` when all can).

    A trace the run saved but that cannot be read (cut short, not a trace)
    could be the one that fails: judging the others alone could call a bad
    version good, so the caller skips the run and says which file it was.
    """
    from .cli import load_clean_trace  # judged as `agenttrace check` judges; details quote no secret

    out = []
    for path in paths:
        try:
            out.append(load_clean_trace(path))
        except TraceFileError as error:
            return out, f"a trace the run saved cannot be read, so the run is not judged: {error}"
    return out, None


def _spec_fingerprint(spec_path: str) -> str:
    """A hash of the spec's content: its file (or the spec files of its folder) and every file they extend.

    The run log is keyed by it, so that a verdict is never replayed for a spec that has changed since.
    """
    from .spec.loader import spec_files

    path = Path(spec_path)
    files = (
        sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()) if path.is_dir() else [path]
    )
    digest = hashlib.sha256()
    for file in files:
        for dep in spec_files(file):  # the spec was loaded just before: read from the loader's cache
            digest.update(os.fsencode(dep) + b"\0")
            try:
                digest.update(Path(dep).read_bytes())
            except OSError:  # read a moment ago; gone now: the name alone, the run will say more
                pass
            digest.update(b"\0")
    return digest.hexdigest()[:16]


class SpecPredicate:
    """The traces a run saved, checked against a spec: any violation is bad."""

    def __init__(self, spec_path: str) -> None:
        from .spec.loader import load_spec

        self.path = spec_path
        self.spec = load_spec(spec_path)
        self.fingerprint = _spec_fingerprint(spec_path)

    def judge_trace(self, trace: Trace) -> tuple[Outcome, str]:
        """The outcome for one trace."""
        from .spec.engine import check_trace

        result = check_trace(trace, self.spec)
        if result.passed:
            return GOOD, "spec passed"
        rules = sorted({v.rule for v in result.violations})
        return BAD, f"spec violated: {', '.join(rules)}"

    def judge(self, exit_code: int, traces: list[Path]) -> tuple[Outcome, str]:
        if exit_code not in (0, 1):
            return ExitCodePredicate().judge(exit_code, traces)
        loaded, unreadable = _load_traces(traces)
        if unreadable is not None:
            return SKIP, unreadable
        if not loaded:
            return SKIP, "the run saved no trace (does the test use the agenttrace fixture?)"
        details = []
        for trace in loaded:
            outcome, detail = self.judge_trace(trace)
            if outcome == BAD:
                details.append(f"{trace.name}: {detail}")
        if details:
            return BAD, "; ".join(details)
        return GOOD, f"spec passed on {len(loaded)} trace(s)"


class SnapshotPredicate:
    """The traces compared with a golden trace or snapshot file: a different tree is bad."""

    def __init__(self, golden_path: str, settings: SnapshotSettings | None = None) -> None:
        from .diff import load_any
        from .snapshot import SnapshotSettings

        settings = settings or SnapshotSettings()
        self.path = golden_path
        self.golden = load_any(golden_path, settings.options)  # the options apply to a golden trace file
        # The options the tests compare with (ini, flags), at the level the golden was written at.
        level = str(self.golden.get("level", "io"))
        self.settings = settings.updated({"level": level}, where=f"--snapshot {golden_path}")
        #: The golden's content (as compared), for the run log's key: another golden is another question.
        canonical = json.dumps(self.golden, sort_keys=True, ensure_ascii=True, default=repr)
        self.fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def judge_trace(self, trace: Trace) -> tuple[Outcome, str]:
        """The outcome for one trace."""
        from .diff import diff_normalized
        from .normalize import normalize

        actual = normalize(trace, self.settings.options)
        result = diff_normalized(self.golden, actual, float_tolerance=self.settings.float_tolerance)
        if result.same:
            return GOOD, "same as the snapshot"
        return BAD, f"differs from the snapshot ({len(result.changes)} changes)"

    def judge(self, exit_code: int, traces: list[Path]) -> tuple[Outcome, str]:
        if exit_code not in (0, 1):
            return ExitCodePredicate().judge(exit_code, traces)
        loaded, unreadable = _load_traces(traces)
        if unreadable is not None:
            return SKIP, unreadable
        if len(loaded) != 1:
            return SKIP, (
                f"the run saved {len(loaded)} traces; --snapshot compares exactly one "
                "(select one test in the pytest arguments)"
            )
        return self.judge_trace(loaded[0])


# --------------------------------------------------------------------------- runner


class PytestRunner:
    """Runs ``python -m pytest ARGS`` for one version and judges it."""

    def __init__(
        self,
        pytest_args: Sequence[str],
        predicate: Predicate,
        *,
        timeout: float | None = None,
        store: Path,
    ) -> None:
        self.pytest_args = list(pytest_args)
        self.predicate = predicate
        self.timeout = timeout
        self.store = store.absolute()  # the run's cwd may be a temporary copy of the tree

    def run(self, target: Target, label: str, run: int, seed: int) -> RunRecord:
        """Run the selection once with ``label`` current."""
        started = time.monotonic()
        trace_dir = self.store / "traces" / _safe(label) / str(run)
        shutil.rmtree(trace_dir, ignore_errors=True)
        timed_out = False  # not a return code: -1 is also that of a run killed by signal 1 (SIGHUP)
        try:
            with target.prepare(label) as (cwd, extra, env_extra):
                env = {**os.environ, **env_extra, ENV_SEED: str(seed), ENV_RUN: str(run)}
                cmd = [
                    sys.executable,
                    "-m",
                    "pytest",
                    *self.pytest_args,
                    *extra,
                    "--agenttrace-save",
                    "--agenttrace-dir",
                    str(trace_dir),
                ]
                try:
                    done = subprocess.run(
                        cmd,
                        cwd=cwd,
                        env=env,
                        capture_output=True,
                        text=True,
                        errors="replace",  # a test may print bytes that are not UTF-8
                        timeout=self.timeout,
                        check=False,
                    )
                    code = done.returncode
                except subprocess.TimeoutExpired:
                    code, timed_out = -1, True
        except _Untestable as exc:
            return RunRecord(label, target.stamp(label), SKIP, seed, run, detail=str(exc))
        traces = sorted(trace_dir.glob("*.json")) if trace_dir.is_dir() else []
        if timed_out:
            outcome, detail = SKIP, f"timed out after {self.timeout:g}s"
        else:
            outcome, detail = self.predicate.judge(code, traces)
            if code in (4, 5):  # pytest ran no test: say why, in its own words
                said = _first_problem(done.stdout, done.stderr)
                if said:
                    detail = f"{detail}: {said}"
        return RunRecord(
            version=label,
            stamp=target.stamp(label),
            outcome=outcome,
            seed=seed,
            run=run,
            trace_hash=trace_hash(traces),
            detail=detail,
            exit_code=code,
            duration_s=time.monotonic() - started,
            traces=[str(p) for p in traces],
        )


#: Exit codes of logged runs that a resumed bisect replays (``None``: the version could not be prepared).
_REPLAYED: Final = frozenset({0, 1, None})


def _first_problem(stdout: str, stderr: str) -> str | None:
    """pytest's first line saying why it ran nothing (``ERROR: file or directory not found: x``)."""
    for line in (*stderr.splitlines(), *stdout.splitlines()):
        text = line.strip().strip("=").strip()  # "=== no tests ran in 0.01s ===" without -q
        if text.startswith(("ERROR:", "error:")) or text.startswith("no tests ran"):
            return text[:300]
    return None


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in label) or "_"


# --------------------------------------------------------------------------- run log


class RunLog:
    """Append-only JSON-lines log of runs; replays them so a bisect resumes.

    Lines whose ``stamp`` no longer matches the version's content are ignored;
    lines that are not run records (a torn last line from an interrupted run,
    bytes that are not UTF-8, an edited line) are skipped and counted in
    :attr:`skipped`, and those runs are made again.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.skipped = 0
        self._entries: dict[str, list[RunRecord]] = {}
        if path is not None and path.is_file():
            for raw in path.read_bytes().splitlines():
                if not raw.strip():
                    continue
                try:
                    record = RunRecord.from_dict(json.loads(raw.decode("utf-8")))
                except (ValueError, KeyError, TypeError, RecursionError):  # UnicodeDecodeError is a ValueError
                    self.skipped += 1
                    continue
                self._entries.setdefault(record.version, []).append(record)

    def cached(self, label: str, stamp: str, run: int) -> RunRecord | None:
        """The ``run``-th (0-based) logged run of ``label`` with a matching stamp.

        Only runs in which pytest ran the tests (exit code 0 or 1) or that could
        not be prepared at all are replayed: a usage error, an empty collection,
        an interruption or a timeout says more about that moment than about the
        version, so those runs are made again (after a wrong path is fixed, say).
        """
        matching = [r for r in self._entries.get(label, []) if r.stamp == stamp and r.exit_code in _REPLAYED]
        return matching[run] if run < len(matching) else None

    def append(self, record: RunRecord) -> None:
        """Log one new run (flushed at once)."""
        self._entries.setdefault(record.version, []).append(record)
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({k: v for k, v in record.to_dict().items() if k != "cached"}, ensure_ascii=False)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
