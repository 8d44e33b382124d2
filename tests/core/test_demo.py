"""The README's first command: the demo runs and leaves a report and traces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_agenttrace.store import load_trace

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_writes_report_and_catches_the_planted_failures(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "run_demo.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 failed, 2 passed" in result.stdout
    for planted in ("out_of_scope_tool", "retry_storm", "handoff_context_loss"):
        assert planted in result.stdout
    summary = result.stdout.split("the rules that caught them:\n", 1)[1].splitlines()
    assert summary == [
        "  test_customer_ticket: out_of_scope_tool, customer-data-stays-out-of-summaries",
        "  test_search_outage: retry_storm, tool_loop",
        "  test_coder_prompt_versions[coder=v1]: handoff_context_loss, tester-gets-confidence",
    ]
    html = (tmp_path / "report.html").read_text()
    assert "<html" in html.lower() and "test_search_outage" in html
    traces = sorted((tmp_path / "traces").glob("*.json"))
    assert len(traces) == 5
    assert all(len(load_trace(p, validate=True)) > 10 for p in traces)
