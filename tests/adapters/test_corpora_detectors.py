"""The ten detectors on real imported runs, and the comparison script with the human labels."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pytest_agenttrace.adapters.importing import import_trace
from pytest_agenttrace.model import Trace
from pytest_agenttrace.spec.detectors import DETECTORS, run_detector

from .corpora import LANGFUSE, ROOT, TAU_RUNS, files, who_and_when_files

FINDINGS_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "corpora_findings.py"


@functools.cache
def imported() -> tuple[Trace, ...]:
    traces: list[Trace] = []
    for path in [*who_and_when_files(), TAU_RUNS, *files(LANGFUSE)]:
        result = import_trace(path)
        traces.extend(result if isinstance(result, list) else [result])
    return tuple(traces)


@functools.cache
def findings_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpora_findings", FINDINGS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("detector", list(DETECTORS))
def test_detector_runs_on_every_imported_run(detector: str) -> None:
    traces = imported()
    assert len(traces) == 184 + 29 + 13
    for trace in traces:
        for finding in run_detector(detector, trace):
            assert finding.spans, f"{detector} on {trace.name}: a finding without spans"
            for span_id in (*finding.spans, *finding.chain):
                trace.span(span_id)  # KeyError if the finding names a span the trace does not have


def test_loop_detectors_agree_with_magentic_one_own_loop_flags_more_often_than_not() -> None:
    runs = [t for t in imported() if t.metadata.get("system") == "magentic-one"]
    flagged_by_orchestrator = {t.trace_id for t in runs if any(s.attributes.get("is_in_loop") is True for s in t.spans)}
    flagged_by_tool_loop = {t.trace_id for t in runs if run_detector("tool_loop", t)}
    assert flagged_by_tool_loop, "tool_loop finds nothing on Magentic-One runs: the WebSurfer actions were not imported"
    # Not a tuned threshold: the orchestrator's own judgement and the detector's should overlap more than not.
    assert len(flagged_by_tool_loop & flagged_by_orchestrator) > len(flagged_by_tool_loop - flagged_by_orchestrator)


def test_comparison_script_reports_every_detector_per_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    script = findings_script()
    assert script.main(["--corpora", str(ROOT)]) == 0
    report = capsys.readouterr().out
    for group in (
        "Who&When hand-crafted (Magentic-One): 58 failed runs",
        "Who&When algorithm-generated (AG2): 126 failed runs",
        "AgentRx tau-bench retail: 29 failed runs",
    ):
        assert f"### {group}" in report
    for name in DETECTORS:
        assert report.count(f"| `{name}` |") == 3
