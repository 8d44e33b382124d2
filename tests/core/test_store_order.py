"""A trace file whose spans are not listed in start order is loaded in start order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_agenttrace.model import Span
from pytest_agenttrace.spec import parse_spec
from pytest_agenttrace.spec.selector import select
from pytest_agenttrace.store import load_trace


def _span(span_id: str, name: str, start_ns: int, *, kind: str = "tool", parent_id: str | None = "1") -> dict[str, Any]:
    span = Span(
        span_id=span_id,
        parent_id=parent_id,
        kind=kind,
        name=name,
        agent="coder",
        start_ns=start_ns,
        end_ns=start_ns + 5,
    )
    return span.to_dict()


def _write(tmp_path: Path, spans: list[dict[str, Any]]) -> Path:
    path = tmp_path / "trace.json"
    document = {
        "format_version": 1,
        "trace_id": "4bf92f3577b34da6",
        "name": "hand-written",
        "started_at": "2026-11-21T23:00:00Z",
        "metadata": {},
        "versions": {},
        "spans": spans,
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


SEQUENCE = "rules:\n  - id: seq\n    sequence: {select: tool, mode: exact, steps: [read_file, edit_file, run_tests]}\n"


def test_spans_listed_out_of_start_order_are_loaded_in_start_order(tmp_path: Path) -> None:
    # Written by hand (or by another tool) with the edit before the read and the root last.
    path = _write(
        tmp_path,
        [
            _span("3", "edit_file", 50),
            _span("4", "run_tests", 70),
            _span("2", "read_file", 10),
            _span("1", "coder", 0, kind="agent", parent_id=None),
        ],
    )
    trace = load_trace(path)
    assert [s.span_id for s in trace.spans] == ["1", "2", "3", "4"]
    assert [s.name for s in select(trace, "tool:first")] == ["read_file"]
    assert [s.name for s in select(trace, "tool:last")] == ["run_tests"]
    [rule] = parse_spec(SEQUENCE).rules
    assert rule.check(trace) == []


def test_equal_starts_keep_their_file_order_and_ordered_files_are_unchanged(tmp_path: Path) -> None:
    spans = [
        _span("1", "coder", 0, kind="agent", parent_id=None),
        _span("b", "edit_file", 20),
        _span("a", "read_file", 20),
        _span("c", "run_tests", 10),
    ]
    assert [s.span_id for s in load_trace(_write(tmp_path, spans)).spans] == ["1", "c", "b", "a"]
    ordered = [spans[0], spans[3], spans[1], spans[2]]
    assert [s.span_id for s in load_trace(_write(tmp_path, ordered)).spans] == ["1", "c", "b", "a"]
