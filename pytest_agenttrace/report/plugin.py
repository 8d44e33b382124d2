"""``--agenttrace-report=FILE.html``: one HTML report of every recorded test.

How the data travels, with or without pytest-xdist:

1. when a test's recording finishes, :func:`pytest_agenttrace_trace_finished`
   (``trylast``, so the spec and snapshot plugins have left their violations
   and diffs in ``recorder.results``) encodes the trace and findings once;
2. the teardown report of that test carries the encoded record as the
   attribute ``agenttrace_record`` (plain JSON data, so xdist's report
   serialisation sends it from a worker to the controller unchanged);
3. on the controller (or the only process), :class:`ReportCollector` reads
   outcomes and records from ``pytest_runtest_logreport`` and writes the page
   at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from ..exceptions import InputError
from ..sanitize import redact_text, scrub_known_secrets
from .html import ReportEntry, encode_record, write_html

if TYPE_CHECKING:
    from ..model import Trace
    from ..recorder import Recorder

__all__ = ["COLLECTOR_KEY", "ReportCollector"]

_RECORD_KEY: Final = pytest.StashKey[dict[str, Any]]()
#: Longest failure text kept per test (the head: the assertion and the violations come first).
MAX_MESSAGE: Final = 20_000
_ATTRIBUTE: Final = "agenttrace_record"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agenttrace")
    group.addoption(
        "--agenttrace-report",
        dest="agenttrace_report",
        default=None,
        metavar="FILE.html",
        help="write one self-contained HTML report (span trees, timelines, violations, snapshot diffs) "
        "of every recorded test to FILE.html.",
    )


@dataclass
class _TestEntry:
    nodeid: str
    outcome: str = "passed"
    duration: float = 0.0
    message: str | None = None
    output: str | None = None
    record: dict[str, Any] | None = None


@dataclass(eq=False)  # registered as a plugin: must stay hashable
class ReportCollector:
    """Collects outcomes and records on the controller and writes the page at session end."""

    path: Path
    tests: dict[str, _TestEntry] = field(default_factory=dict)
    written: Path | None = None
    count: int = 0
    problem: str | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if str(report.outcome) == "rerun":  # pytest-rerunfailures: only the last run counts
            self.tests.pop(report.nodeid, None)
            return
        entry = self.tests.get(report.nodeid)
        if entry is None:
            entry = self.tests[report.nodeid] = _TestEntry(report.nodeid)
        entry.duration += float(getattr(report, "duration", 0.0) or 0.0)
        entry.outcome = _merge_outcome(entry.outcome, report)
        if report.failed:  # pytest's text may quote secrets: redacted here
            output = scrub_known_secrets(report.longreprtext)
            crash = getattr(report.longrepr, "reprcrash", None)
            message = scrub_known_secrets(str(crash.message)) if crash is not None else output
            if entry.output is None:
                entry.output, entry.message = _cap(output), _cap(message)
            else:  # a failed test whose teardown fails too: both failures are shown
                entry.output = _cap(f"{entry.output}\n\n---- error in {report.when} ----\n{output}")
                entry.message = _cap(f"{entry.message}\n\nerror in {report.when}: {message}")
        elif entry.message is None and (reason := _reason(report)) is not None:
            entry.message = _cap(scrub_known_secrets(reason))
            if report.longrepr is not None and not isinstance(report.longrepr, tuple):  # an xfail's failure
                entry.output = _cap(scrub_known_secrets(report.longreprtext))
        record = getattr(report, _ATTRIBUTE, None)
        if isinstance(record, dict):
            entry.record = record

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if _nothing_runs(session.config):  # do not write (or overwrite) a report of tests that did not run
            return
        entries = [
            ReportEntry(
                name=redact_text(test.nodeid),
                outcome=test.outcome,
                duration=round(test.duration, 6),
                message=test.message,
                output=test.output if test.output != test.message else None,
                record=test.record,
            )
            for test in self.tests.values()
            if test.record is not None
        ]
        try:
            self.written = write_html(self.path, entries, title=f"agenttrace report: {session.config.rootpath.name}")
        except OSError as exc:
            # The store's OutputError says what failed and what to do already; a bare OSError does not.
            if isinstance(exc, InputError):  # names the file already
                self.problem = f"could not write the HTML report: {exc}"
            else:
                self.problem = f"could not write the HTML report to {self.path}: {exc.strerror or exc}; check the path."
            # The report is an artifact CI collects: a run that could not write it must not pass.
            if session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            return
        self.count = len(entries)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.problem is not None:
            terminalreporter.write_line(f"agenttrace: {self.problem}", red=True)
        if self.written is None:
            return
        try:
            shown: Path | str = self.written.relative_to(Path.cwd())
        except ValueError:
            shown = self.written
        terminalreporter.write_line(f"agenttrace: HTML report of {self.count} recorded test(s) written to {shown}")


COLLECTOR_KEY: Final = pytest.StashKey[ReportCollector]()


def _nothing_runs(config: pytest.Config) -> bool:
    """Whether pytest only lists or sets up tests (``--collect-only``, ``--setup-only``, ``--setup-plan``, ...)."""
    option = config.option
    return any(
        getattr(option, name, False) for name in ("collectonly", "setuponly", "setupplan", "show_fixtures_per_test")
    )


def _cap(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "\n… (cut)"


def _reason(report: pytest.TestReport) -> str | None:
    """Why a test skipped, xfailed or xpassed (``Skipped: not today``, ``xfailed: known bug``), else ``None``."""
    if hasattr(report, "wasxfail"):
        label = "xfailed" if report.skipped else "xpassed"
        reason = str(report.wasxfail)
        text = f"{label}: {reason}" if reason else label
        crash = getattr(report.longrepr, "reprcrash", None)
        return text if crash is None else f"{text}\n{crash.message}"
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])
    return None


def _merge_outcome(current: str, report: pytest.TestReport) -> str:
    """One outcome per test from its setup, call and teardown reports (as pytest counts them)."""
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.passed:
            return "xpassed" if xfail else "passed"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "failed"
    if report.failed:
        return "error"
    if report.skipped and report.when == "setup":
        return "xfailed" if xfail else "skipped"
    return current


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("agenttrace_report", None)
    if not target or hasattr(config, "workerinput"):  # xdist workers only send their records
        return
    path = Path(os.path.expanduser(str(target)))
    if not path.is_absolute():
        path = config.invocation_params.dir / path
    if path.is_dir():
        raise pytest.UsageError(f"--agenttrace-report={target} is a directory; give a file name such as report.html.")
    if path.parent.exists() and not path.parent.is_dir():
        raise pytest.UsageError(f"--agenttrace-report={target}: {path.parent} is not a directory; give a path to a file.")
    collector = ReportCollector(path)
    config.stash[COLLECTOR_KEY] = collector
    config.pluginmanager.register(collector, "agenttrace-report-collector")


@pytest.hookimpl(trylast=True)
def pytest_agenttrace_trace_finished(item: pytest.Item, recorder: Recorder, trace: Trace) -> None:
    if not item.config.getoption("agenttrace_report", None):
        return
    item.stash[_RECORD_KEY] = encode_record(
        trace,
        violations=recorder.results.get("violations") or (),
        snapshot_diffs=recorder.results.get("snapshot_diffs") or (),
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if call.when == "teardown":
        record = item.stash.get(_RECORD_KEY, None)
        if record is None:
            record = _late_record(item)
        if record is not None:
            setattr(report, _ATTRIBUTE, record)
    return report


def _late_record(item: pytest.Item) -> dict[str, Any] | None:
    """The record of a test whose trace-finished hook chain stopped before this plugin's turn
    (another implementation raised): the test still appears in the report."""
    if not item.config.getoption("agenttrace_report", None):
        return None
    from ..plugin import RECORDER_KEY

    recorder = item.stash.get(RECORDER_KEY, None)
    if recorder is None or not recorder.finished:
        return None
    return encode_record(
        recorder.trace,
        violations=recorder.results.get("violations") or (),
        snapshot_diffs=recorder.results.get("snapshot_diffs") or (),
    )
