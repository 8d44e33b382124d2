"""Builders for the snapshot tests: compact handmade traces and span insertion."""

from __future__ import annotations

import copy
from typing import Any

from pytest_agenttrace.model import Span, Trace


def span(i: int, parent: int | None, kind: str, name: str, agent: str | None = None, **fields: Any) -> dict[str, Any]:
    """A trace-file span dict with id ``str(i)`` and 10 ns ticks."""
    data: dict[str, Any] = {
        "span_id": str(i),
        "parent_id": None if parent is None else str(parent),
        "kind": kind,
        "name": name,
        "agent": agent,
        "start_ns": i * 10,
        "end_ns": i * 10 + 5,
    }
    data.update(fields)
    return data


def pipeline(**versions: str) -> dict[str, Any]:
    """A small orchestrator -> coder run as a trace-file dict."""
    return {
        "trace_id": "t1",
        "name": "tests/test_x.py::test_pipeline",
        "started_at": "2026-11-21T23:00:00Z",
        "metadata": {"nodeid": "tests/test_x.py::test_pipeline", "git_commit": "abc"},
        "versions": versions or {"prompt:summarizer": "summarizer@v3#1a2b3c4d", "config:tools": "tools#a1b2c3d4"},
        "spans": [
            span(1, None, "agent", "orchestrator", "orchestrator", end_ns=1000),
            span(
                2,
                1,
                "delegation",
                "coder",
                "orchestrator",
                attributes={"to_agent": "coder", "from_agent": "orchestrator", "allowed_tools": ["web_search"]},
                context={"diff_summary": "fix"},
                end_ns=900,
            ),
            span(3, 2, "agent", "coder", "coder", scope="2", scope_path=["2"], end_ns=800),
            span(
                4,
                3,
                "tool",
                "web_search",
                "coder",
                scope="2",
                scope_path=["2"],
                input={"q": "bug"},
                output={"hits": 2},
                attributes={"tool_call_id": "call_81x"},
            ),
            span(
                5,
                3,
                "llm",
                "plan",
                "coder",
                scope="2",
                scope_path=["2"],
                attributes={"model": "fake-1", "usage": {"input_tokens": 10, "output_tokens": 5}, "confidence": 0.8},
                output="patch",
                links=["4"],
            ),
            span(6, 1, "agent", "reporter", "reporter", output="done"),
        ],
    }


def mutate(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of a trace dict with top-level ``changes``."""
    out = copy.deepcopy(data)
    out.update(changes)
    return out


def insert_span(trace: Trace, parent_id: str | None, position: int, new: Span) -> Trace:
    """``trace`` with ``new`` inserted as child number ``position`` of ``parent_id``."""
    spans = list(trace.spans)
    siblings = trace.children(parent_id)
    if position < len(siblings):
        at = spans.index(siblings[position])
    elif parent_id is None:
        at = len(spans)
    else:
        subtree = [trace.span(parent_id), *trace.descendants(parent_id)]
        at = max(spans.index(s) for s in subtree) + 1
    spans.insert(at, new.replace(parent_id=parent_id))
    return Trace(
        trace_id=trace.trace_id,
        name=trace.name,
        started_at=trace.started_at,
        metadata=trace.metadata,
        versions=trace.versions,
        spans=tuple(spans),
    )
