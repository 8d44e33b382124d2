"""What ``agenttrace bisect`` prints: the report (text and JSON) and the trace diff.

The diff compares a passing run of the last good version with a failing run
of the first bad one, trace by trace (paired by test name), with the
tree-aligned diff of :mod:`pytest_agenttrace.diff`: version stamps first,
then call counts, then the changed spans.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .bisect_run import RunRecord
from .bisect_search import BAD, GOOD, SKIP, SearchResult
from .exceptions import TraceFileError
from .model import Trace
from .report.terminal import terminal_safe

__all__ = ["BisectReport", "diff_lines"]

_DIFF_PAIRS: Final = 3
_DIFF_LINES: Final = 60


@dataclass
class BisectReport:
    """Everything a bisect found, for the text and JSON outputs."""

    target: str
    name: str
    labels: list[str]
    strategy: str
    result: SearchResult
    records: list[RunRecord]
    describe: Callable[[str], str]
    diff_lines: list[str]
    confidence_target: float | None = None

    @property
    def exit_code(self) -> int:
        """0 when the first bad version was found, else 1."""
        return 0 if self.result.status == "found" else 1

    def _label(self, index: int | None) -> str | None:
        return None if index is None else self.labels[index]

    def to_dict(self) -> dict[str, Any]:
        """The ``--format json`` document."""
        r = self.result
        return {
            "first_bad": self._label(r.first_bad),
            "last_good": self._label(r.last_good),
            "status": r.status,
            "confidence": r.confidence,
            "confidence_target": self.confidence_target,
            "reason": r.reason,
            "candidates": [self.labels[i] for i in r.candidates],
            "target": self.target,
            "name": self.name,
            "strategy": self.strategy,
            "versions": self.labels,
            "evidence": {
                self.labels[i]: {"runs": e.runs, "passes": e.passes, "failures": e.failures, "skips": e.skips}
                for i, e in r.evidence.items()
            },
            "total_runs": len(self.records),
            "cached_runs": sum(1 for x in self.records if x.cached),
            "runs": [x.to_dict() for x in self.records],
            "diff": self.diff_lines,
        }

    def format(self) -> str:
        """The text report."""
        r = self.result
        # Labels, names and details can come from trace data (version stamps, test names): made inert.
        labels = [terminal_safe(label) for label in self.labels]

        def describe(index: int) -> str:
            return terminal_safe(self.describe(self.labels[index]))

        lines = [
            f"bisect {describe(0)} .. {labels[-1]}: {len(self.labels)} versions, "
            f"strategy {self.strategy}, {len(self.records)} runs "
            f"({sum(1 for x in self.records if x.cached)} from the cache)",
            "evidence:",
        ]
        width = max(len(label) for label in labels)
        for i, e in r.evidence.items():
            mark = ""
            if i == r.first_bad:
                mark = "  <- first bad" if r.status == "found" else "  <- best guess"
            elif i == r.last_good and r.status == "found":
                mark = "  <- last good"
            skips = f", {e.skips} skipped" if e.skips else ""
            lines.append(
                f"  {labels[i]:<{width}}  {e.runs} run{'s' if e.runs != 1 else ' '}: "
                f"{e.passes} passed, {e.failures} failed{skips}{mark}"
            )
        conf = f" (confidence {r.confidence:.3f})" if r.confidence is not None else ""
        if r.status == "found":
            assert r.first_bad is not None
            lines.append(f"first bad version: {describe(r.first_bad)}{conf}")
            if r.last_good is not None:
                lines.append(f"last good version: {describe(r.last_good)}")
        elif r.status == "not_bracketed":
            lines.append(
                f"the ends do not bracket a regression: {terminal_safe(r.reason)}{conf}. "
                "Pick a --good version that passes and a --bad version that fails."
            )
        elif r.status == "ambiguous":
            names = ", ".join(labels[i] for i in r.candidates)
            lines.append(f"the first bad version is one of: {names}{conf} ({terminal_safe(r.reason)})")
        else:
            guess = f"best guess {describe(r.first_bad)}" if r.first_bad is not None else ""
            names = ", ".join(labels[i] for i in r.candidates[:10])
            advice = "Record more runs" if self.target == "traces" else "Raise --max-runs"
            lines.append(
                f"inconclusive: {terminal_safe(r.reason)}; {guess or 'candidates ' + names}{conf}. {advice} or lower --confidence."
            )
        skipped = [x for x in self.records if x.outcome == SKIP]
        if skipped:
            lines.append("skipped runs:")
            lines.extend(f"  {terminal_safe(x.version)}: {terminal_safe(x.detail)}" for x in skipped[:10])
        if self.diff_lines:
            lines.append(
                "trace diff, last good -> first bad:"
                if r.status == "found"
                else "trace diff around the best guess (not confirmed):"
            )
            lines.extend(f"  {line}" for line in self.diff_lines)
        return "\n".join(lines)


def diff_lines(result: SearchResult, labels: list[str], records: list[RunRecord]) -> list[str]:
    """The trace diff between a passing run of the last good and a failing run of the first bad version."""
    if result.first_bad is None or result.last_good is None:
        return []
    good_label, bad_label = labels[result.last_good], labels[result.first_bad]
    good = _traces_of(records, good_label, GOOD)
    bad = _traces_of(records, bad_label, BAD)
    if not good or not bad:
        return ["(no saved traces to compare: does the test use the agenttrace fixture?)"]
    return _diff_trace_lists(good, bad)


def _traces_of(records: list[RunRecord], label: str, outcome: str) -> list[Trace]:
    from .cli import load_clean_trace

    for record in reversed(records):
        if record.version == label and record.outcome == outcome and record.traces:
            try:  # a trace file need not be clean (hand-made, from CI): the diff shows no secret
                return [load_clean_trace(p) for p in record.traces]
            except TraceFileError:
                continue
    return []


def _diff_trace_lists(old: Sequence[Trace], new: Sequence[Trace]) -> list[str]:
    """Diff traces paired by test name; at most a few pairs, each cut to a readable length."""
    by_name = {t.name: t for t in old}
    pairs = [(by_name[t.name], t) for t in new if t.name in by_name] or [(old[0], new[0])]
    lines: list[str] = []
    shown = 0
    for a, b in pairs:
        body = _diff_pair(a, b)
        if body is None:
            continue
        if shown == _DIFF_PAIRS:
            lines.append(f"... more traces differ ({len(pairs)} compared)")
            break
        shown += 1
        lines.append(f"{terminal_safe(b.name)}:")  # the diff's own lines are made safe by diff.py
        lines.extend(f"  {line}" for line in body)
    return lines or ["the saved traces of the two versions are the same"]


def _diff_pair(a: Trace, b: Trace) -> list[str] | None:
    try:
        from .diff import diff_traces
    except ImportError:  # pragma: no cover - the diff module ships with the package
        return _count_diff(a, b)
    result = diff_traces(a, b)
    if result.same and not result.version_changes:
        return None
    return result.render(_DIFF_LINES)


def _count_diff(a: Trace, b: Trace) -> list[str] | None:
    def counts(t: Trace) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in t.spans:
            key = f"{s.kind}:{s.name}"
            out[key] = out.get(key, 0) + 1
        return out

    ca, cb = counts(a), counts(b)
    lines = [f"{k}: {ca.get(k, 0)} -> {cb.get(k, 0)}" for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)]
    return lines or None
