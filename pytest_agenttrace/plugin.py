"""The pytest plugin: the ``agenttrace`` fixture, options and the finish protocol.

Registered through the ``pytest11`` entry point.  The core here records; the
sub-plugins listed in :data:`SUBPLUGINS` (specs, snapshots, version matrices,
report, framework capture) act on a finished recording through the hook
``pytest_agenttrace_trace_finished`` (see :mod:`pytest_agenttrace.hookspec`).

Protocol per test that uses the fixture:

1. setup: a :class:`~pytest_agenttrace.recorder.Recorder` named after the test
   is created with the run's version overrides and activated;
2. call: the test body runs; right after it the recording is finished (if the
   test has not finished it itself) and ``pytest_agenttrace_trace_finished`` is
   called, once, with ``recorder.results["body_passed"]`` telling whether the
   body returned normally; the messages it returns (and an exception it raises)
   fail a test whose body passed, and are added to the report of a test whose
   body raised (failure, error, skip, xfail), which keeps its own outcome;
3. teardown: the recorder is deactivated (if the call phase never ran, the
   recording is finished and the hook called now) and, with
   ``--agenttrace-save``, the trace is written under ``agenttrace_dir``.
"""

from __future__ import annotations

import difflib
import importlib
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from . import hookspec, sanitize, versions
from .exceptions import AgentTraceError, InputError
from .recorder import Recorder
from .sanitize import redact_text
from .store import save_trace, trace_filename
from .versions import ITEM_OVERRIDES, ConfigRegistry, PromptRegistry, VersionContext, env_overrides, parse_overrides

__all__ = ["RECORDER_KEY", "STATE_KEY", "SUBPLUGINS", "AgentTraceState", "agenttrace", "agenttrace_matrix"]

SUBPLUGINS: Final = (
    "pytest_agenttrace.spec.plugin",
    "pytest_agenttrace.snapshot",
    "pytest_agenttrace.matrix",
    "pytest_agenttrace.report.plugin",
    "pytest_agenttrace.adapters.plugin",
)


@dataclass
class AgentTraceState:
    """Per-session state of the plugin (kept in ``config.stash``)."""

    rootpath: Path
    prompts_dir: Path
    configs_dir: Path
    trace_dir: Path
    save: bool
    overrides: dict[str, str]
    git_commit: str | None = None
    saved: list[Path] = field(default_factory=list)
    recorded: int = 0
    #: Trace files written in the session as the reports tell (under xdist: by every worker).
    saved_reported: int = 0
    #: The xdist worker's id under ``--dist each`` (every worker runs every test): part of each trace
    #: file name, so the workers' traces of one test do not overwrite each other.  Else empty.
    each_worker: str = ""
    #: Pinned names no registry holds, with the labels they were pinned to, as the reports tell.
    unheld_pins: dict[str, set[str]] = field(default_factory=dict)
    #: Those of them a prompt or config lookup asked for.
    asked_pins: set[str] = field(default_factory=set)
    _held: dict[str, bool] = field(default_factory=dict, repr=False)

    def holds(self, name: str) -> bool:
        """Whether the prompt or the config registry holds ``name`` (asked once per session and name)."""
        held = self._held.get(name)
        if held is None:
            held = self._held[name] = any(
                registry.holds(name) for registry in _registries(self.prompts_dir, self.configs_dir)
            )
        return held


STATE_KEY: Final = pytest.StashKey[AgentTraceState]()
RECORDER_KEY: Final = pytest.StashKey[Recorder]()
_MESSAGES_KEY: Final = pytest.StashKey[list[str]]()
#: Set once the trace-finished hook has run for a test (it runs exactly once).
_HOOK_RAN_KEY: Final = pytest.StashKey[bool]()
#: The trace file --agenttrace-save wrote for a test (sent to the xdist controller on the teardown report).
_SAVED_KEY: Final = pytest.StashKey[str]()
#: Set when the trace checks failed a test whose body passed (the failure is raised from a hook).
_CHECKS_FAILED_KEY: Final = pytest.StashKey[bool]()
#: A test's pins of names no registry holds, as ``[name, label, asked]`` (sent to the xdist controller).
_UNHELD_PINS_KEY: Final = pytest.StashKey[list[list[Any]]]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)
    for name in SUBPLUGINS:
        if pluginmanager.has_plugin(name):
            continue
        pluginmanager.register(importlib.import_module(name), name)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agenttrace", "agent run tracing (pytest-agenttrace)")
    group.addoption(
        "--agenttrace-version",
        action="append",
        default=[],
        dest="agenttrace_versions",
        metavar="NAME=LABEL",
        help="use version LABEL of prompt/config NAME in this run (repeatable; also env AGENTTRACE_VERSIONS).",
    )
    group.addoption(
        "--agenttrace-save",
        action="store_true",
        default=False,
        dest="agenttrace_save",
        help="write one trace file per recording test under agenttrace_dir.",
    )
    group.addoption(
        "--agenttrace-dir",
        default=None,
        dest="agenttrace_dir",
        metavar="DIR",
        help="where --agenttrace-save writes traces, relative to the rootdir (default: ini agenttrace_dir, else .agenttrace/).",
    )
    parser.addini("agenttrace_dir", "directory for saved traces (relative to rootdir)", default=".agenttrace")
    parser.addini("agenttrace_prompts", "prompt registry directory (relative to rootdir)", default="prompts")
    parser.addini("agenttrace_configs", "config registry directory (relative to rootdir)", default="configs")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "agenttrace(spec=..., snapshot=...): check this test's trace against specs / a snapshot at its end.",
    )
    config.addinivalue_line(
        "markers",
        "agenttrace_versions(NAME=[labels]): run this test once per version of prompt/config NAME.",
    )
    root = config.rootpath
    try:
        overrides = {**env_overrides(), **parse_overrides(config.getoption("agenttrace_versions") or [])}
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    trace_dir = config.getoption("agenttrace_dir") or config.getini("agenttrace_dir")
    prompts_dir = root / str(config.getini("agenttrace_prompts"))
    configs_dir = root / str(config.getini("agenttrace_configs"))
    if not config.getoption("help", False):  # pytest --help must work whatever the environment pins
        _check_pins(config, overrides, prompts_dir, configs_dir)
        _check_matrix_option(config, prompts_dir, configs_dir)
    state = config.stash[STATE_KEY] = AgentTraceState(
        rootpath=root,
        prompts_dir=prompts_dir,
        configs_dir=configs_dir,
        trace_dir=root / os.path.expanduser(str(trace_dir)),
        # Tests that are only set up (--setup-only, --setup-plan) ran nothing: saving would overwrite
        # the traces of a real run with empty ones.
        save=bool(config.getoption("agenttrace_save"))
        and not (getattr(config.option, "setuponly", False) or getattr(config.option, "setupplan", False)),
        overrides=overrides,
    )
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        if workerinput.get(_DIST_EACH):
            state.each_worker = str(workerinput.get("workerid", ""))
    elif config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistController(), "agenttrace-xdist-controller")
    config.pluginmanager.register(_PinTracker(state), "agenttrace-pin-tracker")
    if state.save:
        if not hasattr(config, "workerinput"):  # once, in the controller: a clear error before any test runs
            _check_trace_dir(state.trace_dir, trace_dir)
        config.pluginmanager.register(_SavedCounter(state), "agenttrace-saved-counter")


#: Sent to xdist workers when the controller runs ``--dist each`` (a worker's own ``dist`` option
#: reads "no"): each worker then names its trace files after itself.
_DIST_EACH: Final = "agenttrace_dist_each"


class _XdistController:
    """xdist's controller-side hook: tells the workers whether every one of them runs every test."""

    @staticmethod
    def pytest_configure_node(node: Any) -> None:
        if node.config.getoption("dist", None) == "each":
            node.workerinput[_DIST_EACH] = True


def _check_trace_dir(path: Path, given: object) -> None:
    """``--agenttrace-save`` needs a directory it can write: made now, or a usage error naming it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(
            f"--agenttrace-dir={given}: cannot create {path} ({exc.strerror or exc}); "
            "give a directory that can be written (relative to the rootdir), or leave out --agenttrace-save."
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise pytest.UsageError(
            f"--agenttrace-dir={given}: {path} cannot be written; "
            "give a directory that can be written (relative to the rootdir), or leave out --agenttrace-save."
        )


def _check_matrix_option(config: pytest.Config, prompts_dir: Path, configs_dir: Path) -> None:
    """Every label of ``--agenttrace-matrix`` that a registry holding its name lacks is a usage error."""
    from .matrix import parse_matrix_option

    try:
        axes = parse_matrix_option(config.getoption("agenttrace_matrix", None) or [])
    except pytest.UsageError:
        return  # the matrix plugin reports a malformed option itself
    for name, labels in axes.items():
        for label in labels:
            problem = unknown_label(name, label, prompts_dir, configs_dir, "--agenttrace-matrix")
            if problem is not None:
                raise pytest.UsageError(f"--agenttrace-matrix {name}={label}: {problem}")
        _warn_if_misspelt(config, f"--agenttrace-matrix {name}", name, prompts_dir, configs_dir, "--agenttrace-matrix")


def _check_pins(config: pytest.Config, overrides: Mapping[str, str], prompts_dir: Path, configs_dir: Path) -> None:
    """A pinned label that the registry holding its name does not have is a usage error (exit 4).

    Caught before any test runs, so a typo fails the session at once instead
    of failing every test that reads the prompt (which ``agenttrace bisect``
    would take for a bad version).  A name no registry holds may name an
    inline config, so it is not refused: when it is close to a name a registry
    holds (``codr`` for ``coder``) a warning says so at once, and a pin that no
    lookup used is named at the end of the session (see :class:`_PinTracker`).
    """
    source = "--agenttrace-version and AGENTTRACE_VERSIONS"
    for name, label in overrides.items():
        problem = unknown_label(name, label, prompts_dir, configs_dir, source)
        if problem is not None:
            raise pytest.UsageError(f"pinned version {name}={label}: {problem}")
        _warn_if_misspelt(config, f"pinned version {name}={label}", name, prompts_dir, configs_dir, source)


def _warn_if_misspelt(
    config: pytest.Config, what: str, name: str, prompts_dir: Path, configs_dir: Path, source: str
) -> None:
    """A configuration warning when ``name``, which no registry holds, is close to a name one holds."""
    hint = misspelling(name, prompts_dir, configs_dir, source)
    if hint is not None:
        config.issue_config_time_warning(pytest.PytestConfigWarning(f"{what}: {hint}"), stacklevel=2)


#: How alike (difflib's ratio, case ignored) a name no registry holds must be to a registry's name to be
#: taken for a misspelling of it: ``codr``/``coder`` 0.89, ``sumarizer``/``summarizer`` 0.95; an inline
#: config's own name is rarely that close to a prompt's (``team``/``teams`` would be).
_MISSPELT: Final = 0.8


def unknown_label(name: str, label: str, prompts_dir: Path, configs_dir: Path, source: str) -> str | None:
    """Why ``name=label`` cannot be run, or ``None`` when it can (as far as can be known before the tests).

    It cannot when a registry holds NAME but not LABEL.  Names no registry
    holds are left alone: they may name inline configs (:func:`misspelling`
    says when one looks like a misspelt registry name).  ``source`` names
    where the label came from, for the hint.
    """
    registries = _registries(prompts_dir, configs_dir)
    holders = [r for r in registries if r.holds(name)]
    if not holders:
        return None
    try:
        # The files alone, as resolving a pin reads them: an order file is not read here.
        if any(label in r._files(name) for r in holders):
            return None
        listed = ", ".join(holders[0].labels(name))
    except (InputError, OSError, UnicodeError) as exc:
        return str(exc)
    return (
        f"{holders[0].kind} {name!r} in {holders[0].root} has no version {label!r} "
        f"(versions in order: {listed}); check {source}."
    )


def misspelling(name: str, prompts_dir: Path, configs_dir: Path, source: str) -> str | None:
    """The diagnosis of a name no registry holds that is close to a name one holds, else ``None``.

    Only a warning: an inline config may well be called ``coders`` next to a prompt ``coder``.
    """
    registries = _registries(prompts_dir, configs_dir)
    if any(r.holds(name) for r in registries):
        return None
    known: dict[str, tuple[str, PromptRegistry]] = {}
    for held, registry in _held_names(registries):
        known.setdefault(held.lower(), (held, registry))
    close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=_MISSPELT)
    if not close:
        return None
    held, registry = known[close[0]]
    return (
        f"no prompt or config registry holds {name!r}; did you mean {held!r} ({registry.kind} in {registry.root})? "
        f"Check {source} (a pin of an inline config of that name is fine)."
    )


def _registries(prompts_dir: Path, configs_dir: Path) -> tuple[PromptRegistry, ConfigRegistry]:
    """The session's prompt and config registries."""
    return PromptRegistry(prompts_dir), ConfigRegistry(configs_dir)


def _held_names(registries: Iterable[PromptRegistry]) -> Iterator[tuple[str, PromptRegistry]]:
    """Each name a registry holds, with the registry (an unreadable one is passed over: its lookups say so)."""
    for registry in registries:
        try:
            names = registry.names()
        except OSError:
            continue
        for name in names:
            yield name, registry


def _registry_names(state: AgentTraceState) -> str:
    """The names the registries hold, for a hint (``none`` when they hold none)."""
    names = {name for name, _ in _held_names(_registries(state.prompts_dir, state.configs_dir))}
    return ", ".join(sorted(names)) or "none"


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.overrides:
        return []
    pinned = ", ".join(f"{k}={v}" for k, v in sorted(state.overrides.items()))
    return [f"agenttrace: versions {pinned}"]


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def _metadata(item: pytest.Item, state: AgentTraceState) -> dict[str, Any]:
    from . import __version__

    if state.git_commit is None:
        state.git_commit = _git_commit(state.rootpath) or ""
    meta: dict[str, Any] = {
        "nodeid": item.nodeid,
        "python": platform.python_version(),
        "packages": {"pytest-agenttrace": __version__, "pytest": pytest.__version__},
    }
    if state.git_commit:
        meta["git_commit"] = state.git_commit
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        meta["xdist_worker"] = worker
    return meta


@pytest.fixture
def agenttrace(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """The recorder of this test: spans recorded while the test runs land in it.

    ``agenttrace.trace`` is the trace, ``agenttrace.select(sel)`` queries it,
    ``agenttrace.check(spec)`` asserts a spec; the context managers
    (``agenttrace.agent(...)``, ``.tool(...)``, ...) record directly.
    """
    item = request.node
    state = request.config.stash[STATE_KEY]
    overrides = dict(state.overrides)
    overrides.update(item.stash.get(ITEM_OVERRIDES, {}))
    # Before the test runs: it may add pins of its own to the context.
    unheld = {name: label for name, label in overrides.items() if not state.holds(name)}
    context = VersionContext(
        prompts=PromptRegistry(state.prompts_dir), configs=ConfigRegistry(state.configs_dir), overrides=overrides
    )
    # Test ids can carry secrets (a parametrized API key): the trace's name and file name are redacted too.
    recorder = Recorder(redact_text(item.nodeid), metadata=_metadata(item, state), versions=context)
    item.stash[RECORDER_KEY] = recorder
    item.stash[_HOOK_RAN_KEY] = False  # per recording: a rerun of the item (pytest-rerunfailures) records anew
    state.recorded += 1
    recorder.__enter__()
    try:
        yield recorder
    finally:
        recorder.deactivate()
        if not item.stash.get(_HOOK_RAN_KEY, False):
            # The call phase never ran (setup failed, or skipped): still leave a complete trace.
            _finish_outside_call(item, recorder)
        if unheld:
            # A lookup outside the test's recording (a session fixture, agent code set up at import)
            # applies the pin through the process's default context: it counts as asked too.
            default = versions._default_context
            outside = default.asked if default is not None else set()
            item.stash[_UNHELD_PINS_KEY] = [
                [name, label, name in context.asked or name in outside] for name, label in unheld.items()
            ]
        if state.save:
            # The visible part is the redacted name; the hash is of the raw node id, so two
            # parametrizations that differ only in a secret do not overwrite each other's file.
            name, unique = recorder.name, item.nodeid
            if state.each_worker:  # --dist each: every worker runs this test, each keeps its own trace
                name, unique = f"{name}@{state.each_worker}", f"{unique}@{state.each_worker}"
            path = state.trace_dir / trace_filename(name, unique=unique)
            save_trace(recorder.trace, path)
            state.saved.append(path)
            item.stash[_SAVED_KEY] = str(path)


@pytest.fixture
def agenttrace_matrix(request: pytest.FixtureRequest) -> dict[str, str]:
    """This run's matrix labels (``{"summarizer": "v4"}``); empty outside a matrix.

    Here, not in :mod:`pytest_agenttrace.matrix`, which parametrizes it: with
    that plugin turned off a matrix test still runs (once, unpinned).
    """
    from .matrix import MatrixRun

    run: Any = getattr(request, "param", None)
    return dict(run.overrides) if isinstance(run, MatrixRun) else {}


def _finish_outside_call(item: pytest.Item, recorder: Recorder, when: str = "teardown") -> None:
    """Finish a recording whose body did not pass: the hook's messages (or its own error) become a
    report section of phase ``when``; the test's outcome stands."""
    try:
        messages = _finish(item, recorder, body_passed=False)
    except _HOOK_ERRORS as exc:
        messages = [_hook_error_text(exc)]
    if messages:
        item.add_report_section(when, "agenttrace", "\n\n".join(messages))


#: What a trace-finished hook may raise without ending the session (KeyboardInterrupt etc. still do).
_HOOK_ERRORS: Final = (Exception, pytest.fail.Exception, pytest.skip.Exception, pytest.xfail.Exception)


def _finish(item: pytest.Item, recorder: Recorder, *, body_passed: bool) -> list[str]:
    """Finish the recording (if the test has not) and run the trace-finished hook, once per test.

    ``recorder.results["body_passed"]`` tells the hook whether the test body
    returned normally; a hook's exception propagates (the caller decides).
    """
    item.stash[_HOOK_RAN_KEY] = True
    trace = recorder.finish()  # idempotent: a test may have finished its recording itself
    recorder.results["body_passed"] = body_passed
    results = item.config.hook.pytest_agenttrace_trace_finished(item=item, recorder=recorder, trace=trace)
    messages = [str(m) for m in results if m]
    item.stash[_MESSAGES_KEY] = messages
    return messages


def _hook_error_text(exc: BaseException) -> str:
    """A hook's exception as report text: the message alone for our usage errors, else the traceback."""
    if isinstance(exc, (pytest.UsageError, AgentTraceError)) or not isinstance(exc, Exception):
        return f"agenttrace: a pytest_agenttrace_trace_finished hook failed: {exc}"
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    # The hook's own frames: not pluggy's machinery nor this module's.
    own = [f for f in frames if f.filename != __file__ and f"{os.sep}pluggy{os.sep}" not in f.filename]
    lines = traceback.format_list(own or frames) + traceback.format_exception_only(exc)
    return (
        "agenttrace: a pytest_agenttrace_trace_finished hook raised:\nTraceback (most recent call last):\n"
        + "".join(lines)
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    recorder = item.stash.get(RECORDER_KEY, None)
    try:
        result = yield
    except BaseException:
        if recorder is not None and not item.stash.get(_HOOK_RAN_KEY, False):
            # The body's outcome (failure, skip, xfail, error) stands: the hook's messages
            # and any error of the hook itself go into the report as a section.
            _finish_outside_call(item, recorder, "call")
        raise
    if recorder is not None and not item.stash.get(_HOOK_RAN_KEY, False):
        problem: str | None = None
        try:
            messages = _finish(item, recorder, body_passed=True)
        except (pytest.UsageError, AgentTraceError) as exc:
            problem = _hook_error_text(exc)
        except Exception as exc:
            exc.add_note("(raised by a pytest_agenttrace_trace_finished hook after the test body passed)")
            raise
        else:
            if messages:
                __tracebackhide__ = True
                item.stash[_CHECKS_FAILED_KEY] = True
                raise AssertionError("\n\n".join(messages))
        if problem is not None:  # failed outside the handler: pytest would print both exceptions
            pytest.fail(problem, pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if call.when == "teardown" and _SAVED_KEY in item.stash:
        report.agenttrace_saved = item.stash[_SAVED_KEY]  # plain data: xdist sends it to the controller
    if call.when == "teardown" and _UNHELD_PINS_KEY in item.stash:
        report.agenttrace_unheld_pins = item.stash[_UNHELD_PINS_KEY]  # plain data, as above
    if report.skipped and call.when == "call":
        _add_messages_to_reason(report, item.stash.get(_MESSAGES_KEY, None))
    recorder = item.stash.get(RECORDER_KEY, None)
    if recorder is not None and call.when == "call" and report.failed:
        try:
            tree = _render_tree(recorder)
        except Exception as exc:  # noqa: BLE001 - a rendering problem must not hide the test failure
            tree = f"(could not render the trace: {exc!r})"
        report.sections.append(("agenttrace trace", tree))
        if item.stash.get(_CHECKS_FAILED_KEY, False):
            _point_crash_at_the_test(item, report)
    # Every report, not only failures: a teardown report repeats the call's captured output (what JUnit
    # XML writes), an xfail's report quotes its failure, a skip its reason.
    if sanitize._REDACTED_SEEN:
        try:
            _scrub_report(report)
        except Exception:  # noqa: BLE001 - never lose the failure itself
            report.longrepr = sanitize.scrub_known_secrets(report.longreprtext)
    elif not _encodable_report(report):  # scrubbing (above) makes it encodable too
        # Model output cut inside an emoji leaves a lone surrogate, which an assertion quotes: pytest
        # then prints the whole report as one escaped line, and xdist cannot send it at all.
        try:
            _scrub_report(report, sanitize.encodable)
        except Exception:  # noqa: BLE001 - never lose the failure itself
            report.longrepr = sanitize.encodable(report.longreprtext)
    return report


def _add_messages_to_reason(report: pytest.TestReport, messages: list[str] | None) -> None:
    """A trace-finished hook's messages for a skipped or xfailed test, added to its reason.

    pytest shows report sections of failures only: the reason is what ``-rs``,
    ``-rx`` and the HTML report show of a skip or an xfail.
    """
    if not messages:
        return
    lines = [line for message in messages for line in message.splitlines() if line.strip()]
    if not lines:
        return
    note = f"agenttrace: {lines[0]}" + (f" (+{len(lines) - 1} more lines)" if len(lines) > 1 else "")
    if hasattr(report, "wasxfail"):
        report.wasxfail = f"{report.wasxfail}; {note}" if report.wasxfail else note
    elif isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, lineno, reason = report.longrepr
        report.longrepr = (path, lineno, f"{reason}; {note}")


def _point_crash_at_the_test(item: pytest.Item, report: pytest.TestReport) -> None:
    """A failure of the trace checks (a marker's spec, ini specs, a snapshot) located at the test itself.

    It is raised after the body, from a hook: every frame of its traceback is
    pytest's or ours (hidden), so ``--tb=line`` and editors' jump-to-error
    pointed at pytest's capture plugin.  The crash location becomes the test
    function's definition, which is where the marker is.
    """
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is None:
        return
    try:
        path, lineno, _ = item.reportinfo()
    except Exception:  # noqa: BLE001 - a custom item: its location stays as pytest made it
        return
    if lineno is not None:
        crash.path, crash.lineno = str(item.path if path is None else path), lineno + 1


def _encodable_report(report: pytest.TestReport) -> bool:
    """Whether every text of a failure report encodes as UTF-8 (no lone surrogate in it)."""
    texts = [report.longreprtext, *(content for _, content in report.sections)]
    return all(sanitize.encodable(text) is text for text in texts)


def _scrub_report(report: pytest.TestReport, scrub: Callable[[str], str] = sanitize.scrub_known_secrets) -> None:
    """Secrets the recordings redacted, taken out of a failure report before anything prints or writes it.

    pytest shows the values an assertion compared (cut short, or in full with
    ``-vv``), the failing source and, with ``--showlocals``, the locals: a
    recorded secret reaches the terminal, JUnit XML and the HTML report that
    way.  The report's strings are scrubbed in place (its structure kept for
    every other plugin); if any text escapes that, the whole report becomes
    its scrubbed text.  ``scrub`` is what is done to each string.
    """
    if report.sections:
        report.sections = [(title, scrub(content)) for title, content in report.sections]
    longrepr = report.longrepr
    if longrepr is None:
        return
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        if len(longrepr) == 3 and isinstance(longrepr[2], str):
            report.longrepr = (longrepr[0], longrepr[1], scrub(longrepr[2]))
        return
    if isinstance(longrepr, str):
        report.longrepr = scrub(longrepr)
        return
    text = report.longreprtext
    if scrub(text) == text:
        return
    _scrub_strings(longrepr, scrub, 0)
    text = report.longreprtext
    scrubbed = scrub(text)
    if scrubbed != text:  # a field the walk does not know: keep only the text
        report.longrepr = scrubbed


def _scrub_strings(obj: Any, scrub: Callable[[str], str], depth: int) -> Any:
    """``obj`` (pytest's failure representation objects) with every string scrubbed, in place where mutable."""
    if isinstance(obj, str):
        return scrub(obj)
    if depth > 12:
        return obj
    if isinstance(obj, list):
        obj[:] = [_scrub_strings(item, scrub, depth + 1) for item in obj]
        return obj
    if type(obj) is tuple:
        return tuple(_scrub_strings(item, scrub, depth + 1) for item in obj)
    fields = getattr(obj, "__dict__", None)
    if isinstance(fields, dict):
        for name, value in list(fields.items()):
            scrubbed = _scrub_strings(value, scrub, depth + 1)
            if scrubbed is not value:
                object.__setattr__(obj, name, scrubbed)
    return obj


def _render_tree(recorder: Recorder) -> str:
    """The failure report's tree: violations marked, at most 200 spans, cut to the terminal's width."""
    trace = recorder.trace
    try:
        from .report.terminal import render_tree
    except ImportError:  # the report sub-package is optional at import time
        pass
    else:
        violations = recorder.results.get("violations") or []
        highlight: dict[str, list[str]] = {}
        for violation in violations:
            for sid in getattr(violation, "spans", ()):
                highlight.setdefault(sid, []).append(str(getattr(violation, "rule", "violation")))
        return str(render_tree(trace, highlight=highlight, color=False, max_spans=200, width=_tree_width()))
    lines = []
    for span, depth in trace.walk():  # repr: no trace text may reach the terminal raw (controls, surrogates)
        status = "" if span.status == "ok" else f"  !! {span.error!r}"
        lines.append(f"{'  ' * depth}{span.kind!r} {span.name!r} [{span.agent!r}]{status}")
    return "\n".join(lines)


#: The failure tree's width where the terminal's is unknown: output piped to a file or a CI log.
_TREE_WIDTH_UNKNOWN: Final = 120


def _tree_width() -> int:
    """Columns for the failure tree: ``COLUMNS``, else the width of the terminal on stdout, else 120.

    Under xdist a worker's stdout is not a terminal: it uses ``COLUMNS`` (set
    by the user, or exported by readline in the controller) or 120.  pytest
    itself guesses 80 where the width is unknown; a tree cut that short would
    lose the errors at the end of its lines in a CI log.
    """
    columns = shutil.get_terminal_size(fallback=(0, 0)).columns
    return max(columns, 40) if columns > 0 else _TREE_WIDTH_UNKNOWN


class _SavedCounter:
    """Counts the saved traces from the teardown reports: under xdist they arrive at the controller."""

    def __init__(self, state: AgentTraceState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" and getattr(report, "agenttrace_saved", None):
            self.state.saved_reported += 1


class _PinTracker:
    """Gathers, from the teardown reports, which pins of names no registry holds a lookup used.

    Such a name may be an inline config's (``agenttrace.config(name, mapping)``),
    which only the tests' lookups can tell, or a misspelling that would have
    run every test unpinned without a word.  Under xdist the reports (with the
    pins each test had and asked for) arrive at the controller, so the summary
    speaks for the whole session.
    """

    def __init__(self, state: AgentTraceState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        pins = getattr(report, "agenttrace_unheld_pins", None) if report.when == "teardown" else None
        if not isinstance(pins, list):
            return
        for pin in pins:
            if isinstance(pin, (list, tuple)) and len(pin) == 3:
                name, label, asked = pin
                self.state.unheld_pins.setdefault(str(name), set()).add(str(label))
                if asked:
                    self.state.asked_pins.add(str(name))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    unused = sorted(set(state.unheld_pins) - state.asked_pins)
    if unused:
        known = _registry_names(state)
        for name in unused:
            pins = ", ".join(f"{name}={label}" for label in sorted(state.unheld_pins[name]))
            terminalreporter.write_line(
                f"agenttrace: pinned name {name!r} ({pins}) was never used: no prompt or config "
                "registry holds it and no prompt() or config() call asked for it in this session; "
                f"check its spelling (registry names: {known}).",
                yellow=True,
            )
    if not state.saved_reported:
        return
    try:
        where = state.trace_dir.relative_to(Path.cwd())
    except ValueError:
        where = state.trace_dir
    terminalreporter.write_line(f"agenttrace: saved {state.saved_reported} trace(s) to {where}{os.sep}")
