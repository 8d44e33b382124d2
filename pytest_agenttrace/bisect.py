"""``agenttrace bisect``: find the prompt/config version that broke an agent test.

Three kinds of target (see :mod:`pytest_agenttrace.bisect_run`)::

    agenttrace bisect summarizer --good v3 --bad v11 -- tests/test_agent.py -k summary
    agenttrace bisect --git-file prompts/summarizer.txt --good v1.2 -- tests/test_agent.py
    agenttrace bisect summarizer --traces ci-artifacts/ --spec specs/agent.yaml

The search (see :mod:`pytest_agenttrace.bisect_search`) is a plain binary
search by default; ``--confidence P`` (or ``--strategy bayes|sprt``) switches
to a noise-tolerant search that re-runs versions until the first bad one is
known with posterior probability ``P``; ``--repeat N`` runs every probe of the
binary search ``N`` times.  Every run is logged under pytest's cache
directory (``.pytest_cache/v/agenttrace/bisect/``) so an interrupted bisect
resumes; ``--no-cache`` turns that off.

``agenttrace bisect --git-run-predicate -- PYTEST-ARGS`` is a predicate for
``git bisect run``: it runs the selection at the current checkout and exits
0 (good), 1 (bad), 125 (cannot test: skip) or 128 (abort: bad input).

Exit codes: 0 the first bad version was found; 1 it was not (the ends do not
bracket a regression, skipped versions hide it, or the run budget ran out
before the confidence asked for); 2 bad input.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from .bisect_report import BisectReport, diff_lines
from .bisect_run import (
    ExitCodePredicate,
    GitFileTarget,
    Predicate,
    PytestRunner,
    RegistryTarget,
    RunLog,
    RunRecord,
    SnapshotPredicate,
    SpecPredicate,
    Target,
)
from .bisect_search import (
    BAD,
    GOOD,
    SKIP,
    Outcome,
    SearchResult,
    Tally,
    bayesian_search,
    binary_search,
    default_budget,
    from_evidence,
    sprt_search,
)
from .exceptions import AgentTraceError, InputError
from .model import Trace

if TYPE_CHECKING:
    from .snapshot import SnapshotSettings
    from .versions import PromptRegistry

__all__ = ["BisectReport", "register", "run_bisect", "run_git_predicate"]

STRATEGIES: Final = ("auto", "binary", "bayes", "sprt")
#: ``git bisect run`` exit codes.
GIT_GOOD, GIT_BAD, GIT_SKIP, GIT_ABORT = 0, 1, 125, 128


def register(subparsers: Any) -> None:
    """Add ``agenttrace bisect`` to the command line."""
    from .cli import non_negative_float

    p = subparsers.add_parser(
        "bisect",
        help="find the first prompt/config version (or commit of a prompt file) where a test fails",
        description=(
            "Find the first bad version of prompt/config NAME between --good and --bad by running a pytest "
            "selection per candidate (arguments after --). Exit 0 found, 1 not found, 2 bad input."
        ),
        usage="agenttrace bisect [NAME] [options] [-- PYTEST-ARGS...]",
        epilog="Docs: docs/bisect.md. Example: agenttrace bisect summarizer --good v3 --bad v11 -- tests/ -k summary",
    )
    p.add_argument("name", nargs="?", help="prompt or config name in the registry (registry and traces modes)")
    p.add_argument("--good", metavar="LABEL", help="a version known to pass (default: the first one)")
    p.add_argument("--bad", metavar="LABEL", help="a version known to fail (default: the last one)")
    p.add_argument("--registry", metavar="DIR", help="registry directory (default: prompts/, with --config configs/)")
    p.add_argument("--config", action="store_true", help="NAME is a config: use the config registry (configs/)")
    p.add_argument("--versions", metavar="V1,V2,...", help="the ordered versions explicitly (instead of a registry)")
    p.add_argument("--git-file", metavar="PATH", help="bisect the commits that changed this file (applied alone)")
    p.add_argument("--in-place", action="store_true", help="--git-file: change the file in place (restored after)")
    p.add_argument("--traces", metavar="DIR", help="bisect recorded traces (one or more per version); no re-run")
    predicate = p.add_mutually_exclusive_group()
    predicate.add_argument("--spec", metavar="SPEC.yaml", help="bad = a saved trace violates this spec")
    predicate.add_argument("--snapshot", metavar="GOLDEN", help="bad = the saved trace differs from this golden file")
    snap = p.add_argument_group(
        "--snapshot comparison", "default: the project's pytest ini (agenttrace_snapshot_*); a flag given replaces it"
    )
    snap.add_argument("--include", action="append", metavar="PATH", help="keep this span path (repeatable)")
    snap.add_argument("--exclude", action="append", metavar="PATH", help="drop this span path (repeatable)")
    snap.add_argument(
        "--parallel", action="append", metavar="SELECTOR", help="children of matching spans are order-insensitive"
    )
    snap.add_argument(
        "--overlap-parallel", action="store_true", help="siblings overlapping in time are order-insensitive"
    )
    snap.add_argument("--duration-buckets", metavar="'10ms 1s'", help="keep durations as buckets with these bounds")
    snap.add_argument(
        "--float-tolerance", type=non_negative_float, metavar="EPS", help="absolute tolerance for numbers"
    )
    p.add_argument("--strategy", choices=STRATEGIES, default="auto", help="search strategy (default: auto)")
    p.add_argument("--repeat", type=int, metavar="N", help="run every probed version N times (flaky tests)")
    p.add_argument("--confidence", type=float, metavar="P", help="re-run until the answer has posterior P (bayes)")
    p.add_argument("--max-runs", type=int, metavar="N", help="run budget (default: see docs/bisect.md)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="base of the per-run seeds (default: 0); each run gets its own seed in env AGENTTRACE_BISECT_SEED",
    )
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="a run taking longer is skipped")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the run log")
    p.add_argument("--cache-dir", metavar="DIR", help="pytest cache directory (default: .pytest_cache)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.add_argument(
        "--git-run-predicate",
        action="store_true",
        help="run once at the current checkout and exit 0/1/125/128 for `git bisect run`",
    )
    p.set_defaults(handler=_main, pytest_args=[])
    # Everything after `--` goes to pytest untouched; argparse alone would mix it with our options.
    p.__class__ = type("BisectParser", (_DashDashParser, type(p)), {})


class _DashDashParser(argparse.ArgumentParser):
    """Splits the arguments at the first ``--``: the rest is ``pytest_args``."""

    def parse_known_args(  # type: ignore[override]  # typeshed overloads it per namespace type
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        items = list(sys.argv[1:] if args is None else args)
        tail: list[str] = []
        if "--" in items:
            cut = items.index("--")
            items, tail = items[:cut], items[cut + 1 :]
        parsed, extras = super().parse_known_args(items, namespace)
        parsed.pytest_args = tail
        return parsed, extras


def _main(args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.git_run_predicate:
        return run_git_predicate(args, out, sys.stderr)
    report = run_bisect(args, progress=sys.stderr if args.format == "text" else None)
    if args.format == "json":
        out.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        out.write(report.format() + "\n")
    return report.exit_code


# --------------------------------------------------------------------------- orchestration


def _check_timeout(args: argparse.Namespace) -> None:
    timeout = args.timeout
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise InputError(
            f"--timeout {timeout:g}: a run's time limit is a positive number of seconds, e.g. --timeout 300; "
            "leave it out for no limit."
        )


def _strategy(args: argparse.Namespace) -> str:
    _check_timeout(args)
    if args.repeat is not None and args.repeat < 1:
        raise InputError(f"--repeat {args.repeat}: must be at least 1.")
    if args.confidence is not None and not 0.5 <= args.confidence < 1:
        raise InputError(f"--confidence {args.confidence}: must be at least 0.5 and below 1, e.g. 0.95.")
    if args.max_runs is not None and args.max_runs < 2:
        raise InputError(f"--max-runs {args.max_runs}: must be at least 2 (the two ends).")
    strategy: str = args.strategy
    if strategy == "auto":
        strategy = "bayes" if args.confidence is not None else "binary"
    if strategy == "binary" and args.confidence is not None:
        raise InputError("--confidence needs a noisy strategy: drop --strategy binary or use --repeat N instead.")
    if strategy != "binary" and args.repeat is not None:
        raise InputError(f"--repeat works with the binary strategy; --strategy {strategy} re-runs on its own.")
    return strategy


def _labels_between(labels: list[str], good: str | None, bad: str | None, what: str) -> list[str]:
    for label in labels:
        try:
            label.encode("utf-8")
        except UnicodeEncodeError:  # a file name with bytes that are not UTF-8 (os.fsdecode's surrogates)
            shown = os.fsencode(label).decode("utf-8", "replace")  # the error printer escapes the rest
            raise InputError(
                f"{what}: the version {shown} is not UTF-8 text (a file name with bytes that are not UTF-8?); "
                "rename it, or list the versions with --versions."
            ) from None
    twice = [label for label, count in collections.Counter(labels).items() if count > 1]
    if twice:
        raise InputError(f"{what}: {', '.join(twice)} listed twice; list each version once, in order.")
    if len(labels) < 2:
        raise InputError(f"{what} has {len(labels)} version(s); a bisect needs at least two.")
    for option, value in (("--good", good), ("--bad", bad)):
        if value is not None and value not in labels:
            raise InputError(f"{option} {value}: {what} has no such version (versions in order: {', '.join(labels)}).")
    lo = labels.index(good) if good is not None else 0
    hi = labels.index(bad) if bad is not None else len(labels) - 1
    if hi <= lo:
        raise InputError(
            f"--good {labels[lo]} does not come before --bad {labels[hi]} in the order of {what} "
            f"({', '.join(labels)}); swap them."
        )
    return labels[lo : hi + 1]


def _pytest_args(args: argparse.Namespace) -> list[str]:
    return list(getattr(args, "pytest_args", None) or [])


def _selection(args: argparse.Namespace) -> list[str]:
    """The pytest arguments of a bisect that re-runs tests; none at all is a mistake, not "everything"."""
    selection = _pytest_args(args)
    if not selection:
        raise InputError(
            "name the tests to run for each version after --, for example "
            "`agenttrace bisect NAME -- tests/test_summary.py -k refund`; `-- .` runs every test "
            "(each probed version runs the whole selection)."
        )
    return selection


def _registry_target(args: argparse.Namespace) -> RegistryTarget:
    from .versions import ConfigRegistry, PromptRegistry

    if not args.name:
        raise InputError(
            "name the prompt or config to bisect (agenttrace bisect NAME --good LABEL --bad LABEL -- PYTEST-ARGS), "
            "or use --git-file PATH or --traces DIR."
        )
    root = _registry_root(args)
    registry = ConfigRegistry(root) if args.config else PromptRegistry(root)
    files: dict[str, Path] = {}
    if args.versions:
        labels = [v.strip() for v in args.versions.split(",") if v.strip()]
        if (root / args.name).is_dir():
            known = set(_registry_labels(registry, args.name))
            files = {label: registry.path(args.name, label) for label in labels if label in known}
        what = f"--versions {args.versions}"
    else:
        if not root.is_dir():
            problem = "is not a directory" if root.exists() else "does not exist"
            raise InputError(
                f"registry {root} {problem}; pass --registry DIR, or --versions V1,V2,... for an explicit list."
            )
        labels = _registry_labels(registry, args.name)
        files = {label: registry.path(args.name, label) for label in labels}
        what = f"{registry.kind} {args.name!r} in {root}"
    return RegistryTarget(args.name, _labels_between(labels, args.good, args.bad, what), Path.cwd(), files)


def _registry_root(args: argparse.Namespace) -> Path:
    """NAME's registry: ``--registry``, else ``configs/`` (``--config``), else ``$AGENTTRACE_PROMPTS`` or ``prompts/``.

    Registry and traces modes both ask here, so they agree on where the versions and their order live.
    """
    from .versions import ENV_PROMPTS

    if args.registry:
        return Path(args.registry)
    return Path("configs" if args.config else os.environ.get(ENV_PROMPTS, "prompts"))


def _registry_labels(registry: PromptRegistry, name: str) -> list[str]:
    """``registry.labels(name)``, with an unreadable order file as an input error."""
    try:
        return registry.labels(name)  # an order file that is not UTF-8 is a VersionError already
    except OSError as error:
        raise InputError(
            f"cannot read the {registry.kind} registry: {error.strerror}; check the permissions.",
            path=str(error.filename or registry.root / name),
        ) from None


def _predicate(args: argparse.Namespace) -> Predicate:
    if args.spec:
        return SpecPredicate(args.spec)
    if args.snapshot:
        return SnapshotPredicate(args.snapshot, _snapshot_settings(args))
    return ExitCodePredicate()


def _snapshot_settings(args: argparse.Namespace) -> SnapshotSettings:
    """How ``--snapshot`` compares: the project's snapshot ini options (as its tests compare), flags replacing them."""
    from .bisect_ini import ini_reader
    from .snapshot import COMPARISON_INI, SnapshotSettings, comparison_ini_values

    values = comparison_ini_values(ini_reader(_pytest_args(args), Path.cwd(), COMPARISON_INI))
    flags = {
        "include": args.include,
        "exclude": args.exclude,
        "parallel": args.parallel,
        "overlap_parallel": args.overlap_parallel or None,
        "duration_buckets": args.duration_buckets.split() if args.duration_buckets is not None else None,
        "float_tolerance": args.float_tolerance,
    }
    values.update({key: value for key, value in flags.items() if value is not None})
    return SnapshotSettings().updated(values, where="the snapshot options (pytest ini agenttrace_snapshot_*, flags)")


def _cache_key(parts: Sequence[Any]) -> str:
    raw = json.dumps(list(parts), sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _seed(base: int, label: str, run: int) -> int:
    digest = hashlib.sha256(f"{base}:{label}:{run}".encode()).hexdigest()
    return int(digest[:8], 16)


def run_bisect(args: argparse.Namespace, progress: TextIO | None = None) -> BisectReport:
    """Run a bisect as described by parsed command-line ``args``."""
    strategy = _strategy(args)
    if args.traces:
        return _traces_bisect(args, strategy)
    if args.git_file and args.name:
        raise InputError(f"--git-file bisects a file's commits; drop NAME ({args.name}) or drop --git-file.")
    predicate = _predicate(args)
    target: Target
    if args.git_file:
        target = GitFileTarget(args.git_file, args.good, args.bad, Path.cwd(), in_place=args.in_place)
    else:
        target = _registry_target(args)
    pytest_args = _selection(args)  # after the target: a wrong name or label is the first thing to hear about
    labels = target.labels
    key = _cache_key(
        [
            target.kind,
            target.name,
            labels,
            pytest_args,
            args.spec,
            args.snapshot,
            args.seed,
            str(Path.cwd()),
            *([repr(predicate.settings)] if isinstance(predicate, SnapshotPredicate) else []),
            # The content of the spec or golden (a verdict judged by an older one must not be replayed).
            *([predicate.fingerprint] if isinstance(predicate, (SpecPredicate, SnapshotPredicate)) else []),
        ]
    )
    if not args.no_cache:
        base = _cache_base(args)
        log_path = _writable_log(base / f"{key}.jsonl")
    with tempfile.TemporaryDirectory(prefix="agenttrace-bisect-") as tmp:
        if args.no_cache:
            log, store = RunLog(None), Path(tmp)
        else:
            log, store = RunLog(log_path), base / key
            if log.skipped and progress is not None:
                progress.write(
                    f"  note: ignored {log.skipped} unreadable line(s) of the run log {log_path} "
                    "(torn by an interrupted run, or not UTF-8)\n"
                )
        runner = PytestRunner(pytest_args, predicate, timeout=args.timeout, store=store)
        records: list[RunRecord] = []
        counts: dict[str, int] = {}

        def evaluate(index: int) -> Outcome:
            label = labels[index]
            run = counts.get(label, 0)
            counts[label] = run + 1
            stamp = target.stamp(label)
            record = log.cached(label, stamp, run)
            if record is None:
                record = runner.run(target, label, run, _seed(args.seed, label, run))
                log.append(record)
            records.append(record)
            if progress is not None:
                note = " (cached)" if record.cached else f" in {record.duration_s:.1f}s"
                progress.write(f"  {target.describe(label)} run {run + 1}: {record.outcome}{note}\n")
            return record.outcome

        result = _search(strategy, len(labels), evaluate, args)
        if result.status == "not_bracketed" and records and all(r.exit_code in (4, 5) for r in records):
            # pytest never ran a test: the selection is wrong, not the versions.
            raise InputError(
                f"pytest could not run the selection after -- for any version tried ({records[0].detail}); "
                "check the test paths and options."
            )
        diff = diff_lines(result, labels, records)
    return BisectReport(
        target=target.kind,
        name=target.name,
        labels=labels,
        strategy=strategy if args.repeat is None else f"{strategy} x{args.repeat}",
        result=result,
        records=records,
        describe=target.describe,
        diff_lines=diff,
        confidence_target=args.confidence,
    )


def _cache_base(args: argparse.Namespace) -> Path:
    """The run-log directory under the pytest cache, created now: a bad --cache-dir fails before any run."""
    option = f"--cache-dir {args.cache_dir}" if args.cache_dir else "the pytest cache .pytest_cache"
    base = Path(args.cache_dir or ".pytest_cache") / "v" / "agenttrace" / "bisect"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocker = next((p for p in (base, *base.parents) if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a directory" if blocker is not None else error.strerror
        raise InputError(
            f"{option}: cannot create {base} ({why}); pass another --cache-dir DIR, or --no-cache."
        ) from None
    return base


def _writable_log(path: Path) -> Path:
    """``path`` after checking that runs can be appended to it (it is created empty if missing)."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise InputError(
            f"cannot write the bisect run log {path} ({error.strerror}); pass another --cache-dir DIR, or --no-cache."
        ) from None
    return path


def _search(strategy: str, n: int, evaluate: Callable[[int], Outcome], args: argparse.Namespace) -> SearchResult:
    if strategy == "binary":
        return binary_search(n, evaluate, repeat=args.repeat or 1)
    confidence = args.confidence if args.confidence is not None else 0.95
    budget = args.max_runs if args.max_runs is not None else default_budget(n, strategy)
    if strategy == "sprt":
        return sprt_search(n, evaluate, confidence=confidence, max_runs=budget)
    return bayesian_search(n, evaluate, confidence=confidence, max_runs=budget)


# --------------------------------------------------------------------------- traces mode


def _trace_label(trace: Trace, path: Path, name: str | None) -> str:
    if name:
        for key, stamp in trace.versions.items():
            if key in (f"prompt:{name}", f"config:{name}", name) or stamp.startswith(f"{name}@"):
                head = stamp.split("#", 1)[0]
                return head.split("@", 1)[1] if "@" in head else stamp
        versions = trace.metadata.get("versions")
        if isinstance(versions, dict) and name in versions:
            return str(versions[name])
    if "version" in trace.metadata:
        return str(trace.metadata["version"])
    stem = path.stem
    return stem.rsplit("@", 1)[1] if "@" in stem else stem


def _traces_bisect(args: argparse.Namespace, strategy: str) -> BisectReport:
    from .cli import load_clean_trace, trace_paths
    from .versions import natural_key

    if args.git_file:
        raise InputError("--traces and --git-file are two different targets; use one of them.")
    if not (args.spec or args.snapshot):
        raise InputError("--traces needs a predicate: --spec SPEC.yaml or --snapshot GOLDEN (nothing is re-run).")
    if _pytest_args(args):
        raise InputError("--traces re-runs nothing, so it takes no pytest arguments; drop the part after --.")
    folder = Path(args.traces)
    if not folder.is_dir():
        raise InputError(f"--traces {folder}: no such directory; point it at a folder of trace files.")
    predicate = SpecPredicate(args.spec) if args.spec else SnapshotPredicate(args.snapshot, _snapshot_settings(args))
    by_label: dict[str, list[tuple[Path, Trace]]] = {}
    # As `agenttrace report DIR` reads a folder: *.json files that are not traces are skipped with a note.
    for path in trace_paths([str(folder)]):
        trace = load_clean_trace(path)  # a trace file need not be clean: the report quotes what it judged
        by_label.setdefault(_trace_label(trace, path, args.name), []).append((path, trace))
    what = f"the traces in {folder}"
    if args.versions:
        order = [v.strip() for v in args.versions.split(",") if v.strip()]
        what = f"--versions {args.versions}"
    else:
        order = _registry_order(args) or sorted(by_label, key=natural_key)
    labels = _labels_between(order, args.good, args.bad, what)
    outcomes: dict[str, list[RunRecord]] = {}
    for label in labels:
        if label in by_label:
            outcomes[label] = _recorded_runs(label, by_label[label], predicate)
    records: list[RunRecord] = []
    single = all(len(v) <= 1 for v in outcomes.values())
    if single and strategy == "binary":
        used: dict[str, int] = {}

        def evaluate(index: int) -> Outcome:
            label = labels[index]
            have = outcomes.get(label, [])
            run = used.get(label, 0)
            used[label] = run + 1
            if run >= len(have):
                record = RunRecord(label, label, SKIP, 0, run, detail="no recorded trace for this version")
            else:
                record = have[run]
            records.append(record)
            return record.outcome

        result = binary_search(len(labels), evaluate)
    else:
        tally = Tally(len(labels))
        for index, label in enumerate(labels):
            for record in outcomes.get(label, []):
                tally.record(index, record.outcome)
                records.append(record)
            if label not in outcomes:
                tally.record(index, SKIP)
        result = from_evidence(len(labels), tally, confidence=args.confidence or 0.95)
        strategy = "evidence"
    return BisectReport(
        target="traces",
        name=args.name or str(folder),
        labels=labels,
        strategy=strategy,
        result=result,
        records=records,
        describe=(lambda label: f"{args.name}@{label}") if args.name else (lambda label: label),
        diff_lines=diff_lines(result, labels, records),
        confidence_target=args.confidence,
    )


def _recorded_runs(
    label: str, traces: list[tuple[Path, Trace]], predicate: SpecPredicate | SnapshotPredicate
) -> list[RunRecord]:
    """The runs of one version that recorded ``traces``: one trace per test makes a run.

    The traces of different tests (trace names) are one run together, bad when any of them is bad, as a
    pytest run of those tests would be; only several traces of the same test are repeated runs: the
    ``k``-th run holds the ``k``-th trace of every test that has one.
    """
    by_test: dict[str, list[tuple[Path, Trace]]] = {}
    for path, trace in traces:
        by_test.setdefault(trace.name, []).append((path, trace))
    runs: list[RunRecord] = []
    for number in range(max(len(group) for group in by_test.values())):
        members = [group[number] for group in by_test.values() if number < len(group)]
        verdicts = [(trace.name, *predicate.judge_trace(trace)) for _, trace in members]
        bad = [(name, detail) for name, outcome, detail in verdicts if outcome == BAD]
        if len(by_test) == 1:
            outcome, detail = verdicts[0][1], verdicts[0][2]
        elif bad:
            outcome, detail = BAD, "; ".join(f"{name}: {detail}" for name, detail in bad)
        else:
            outcome, detail = GOOD, f"{verdicts[0][2]} ({len(members)} tests)"
        paths = [str(path) for path, _ in members]
        runs.append(RunRecord(label, label, outcome, 0, number, detail=detail, traces=paths))
    return runs


def _registry_order(args: argparse.Namespace) -> list[str]:
    from .versions import ConfigRegistry, PromptRegistry

    if not args.name:
        return []
    root = _registry_root(args)
    if not (root / args.name).is_dir():
        return []
    registry = ConfigRegistry(root) if args.config else PromptRegistry(root)
    return _registry_labels(registry, args.name)


# --------------------------------------------------------------------------- git bisect run


def run_git_predicate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """One verdict at the current checkout, as a ``git bisect run`` exit code.

    Runs the selection ``--repeat N`` times (default once): any skip -> 125,
    any failure -> 1, else 0; bad input or an internal error -> 128 (git
    stops the bisect instead of taking the error for a bad commit).
    """
    try:
        if args.name or args.git_file or args.traces:
            raise InputError("--git-run-predicate tests the current checkout; drop NAME, --git-file and --traces.")
        repeat = args.repeat or 1
        if repeat < 1:
            raise InputError(f"--repeat {repeat}: must be at least 1.")
        _check_timeout(args)
        predicate = _predicate(args)
        with tempfile.TemporaryDirectory(prefix="agenttrace-bisect-") as tmp:
            runner = PytestRunner(_selection(args), predicate, timeout=args.timeout, store=Path(tmp))
            outcomes = []
            for run in range(repeat):
                record = runner.run(_Checkout(), "HEAD", run, _seed(args.seed, "HEAD", run))
                outcomes.append(record.outcome)
                err.write(f"agenttrace bisect: run {run + 1}: {record.outcome} ({record.detail})\n")
                if record.outcome == SKIP:
                    return GIT_SKIP
    except AgentTraceError as exc:
        err.write(f"agenttrace bisect: error: {exc}\n")
        return GIT_ABORT
    verdict = GIT_BAD if BAD in outcomes else GIT_GOOD
    out.write(f"{'bad' if verdict else 'good'}: {outcomes.count(BAD)} of {len(outcomes)} runs failed\n")
    return verdict


class _Checkout:
    """The current checkout as a target with one version and no override."""

    kind = "checkout"
    name = "HEAD"

    def __init__(self) -> None:
        self.labels = ["HEAD"]

    def stamp(self, label: str) -> str:
        return label

    def prepare(self, label: str) -> contextlib.AbstractContextManager[tuple[Path, list[str], dict[str, str]]]:
        return contextlib.nullcontext((Path.cwd(), [], {}))

    def describe(self, label: str) -> str:
        return label
