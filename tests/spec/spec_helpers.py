"""Trace builders for the spec tests: a compact tree notation and a realistic pipeline run.

``node(kind, name, *children, **fields)`` describes a span; :func:`make_trace`
numbers the spans ``"1"``, ``"2"``, ... in start order, gives each a 1 ms tick
per boundary, and fills ``agent``/``scope``/``scope_path`` the way the
recorder does (inherited from the enclosing agent and delegation spans).
"""

from __future__ import annotations

from typing import Any

from pytest_agenttrace.model import Trace

MS = 1_000_000

_TOP_FIELDS = ("status", "error", "input", "output", "context", "links", "versions", "events", "start_ns", "end_ns")


def node(kind: str, name: str, *children: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """One span of a tree for :func:`make_trace`; unknown keyword fields become attributes."""
    return {"kind": kind, "name": name, "children": list(children), "fields": fields}


def make_trace(*roots: dict[str, Any], name: str = "tests/test_pipeline.py::test_run") -> Trace:
    """A :class:`Trace` from :func:`node` trees (ids in start order, recorder-like inheritance)."""
    spans: list[dict[str, Any]] = []
    clock = [0]

    def tick() -> int:
        clock[0] += MS
        return clock[0]

    def visit(n: dict[str, Any], parent: dict[str, Any] | None) -> None:
        fields = dict(n["fields"])
        scope_path = list(parent["scope_path"]) if parent else []
        if parent is not None and parent["kind"] == "delegation":
            scope_path.append(parent["span_id"])
        agent = n["name"] if n["kind"] == "agent" else (parent["agent"] if parent else None)
        if "agent" in fields:
            agent = fields.pop("agent")
        span: dict[str, Any] = {
            "span_id": fields.pop("id", str(len(spans) + 1)),
            "parent_id": parent["span_id"] if parent else None,
            "kind": n["kind"],
            "name": n["name"],
            "agent": agent,
            "scope": scope_path[-1] if scope_path else None,
            "scope_path": scope_path,
            "start_ns": tick(),
            "end_ns": 0,
            "status": "ok",
            "error": None,
            "input": None,
            "output": None,
            "attributes": {},
            "versions": {},
            "context": None,
            "links": [],
            "events": [],
        }
        for key in _TOP_FIELDS:
            if key in fields:
                span[key] = fields.pop(key)
        span["attributes"] = fields
        spans.append(span)
        for child in n["children"]:
            visit(child, span)
        if not span["end_ns"]:
            span["end_ns"] = tick()

    for root in roots:
        visit(root, None)
    spans.sort(key=lambda s: s["start_ns"])
    return Trace.from_dict({"trace_id": "t1", "name": name, "started_at": "2026-11-21T23:00:00Z", "spans": spans})


def pipeline_trace() -> Trace:
    """A clean refactoring run: plan, delegate to the coder, hand over to the tester, report.

    Ids: 1 agent orchestrator, 2 llm plan, 3 delegation coder, 4 agent coder,
    5 read_file, 6 edit_file, 7 run_tests, 8 llm summarize, 9 handoff tester,
    10 agent tester, 11 run_tests, 12 llm report.
    """
    return make_trace(
        node(
            "agent",
            "orchestrator",
            node("llm", "plan", model="gpt-x", usage={"input_tokens": 900, "output_tokens": 120}),
            node(
                "delegation",
                "delegate_coder",
                node(
                    "agent",
                    "coder",
                    node("tool", "read_file", input={"path": "app.py"}),
                    node("tool", "edit_file", input={"path": "app.py"}),
                    node("tool", "run_tests"),
                    node("llm", "summarize", model="gpt-x", usage={"input_tokens": 1200, "output_tokens": 80}),
                ),
                from_agent="orchestrator",
                to_agent="coder",
                objective="refactor app.py",
                allowed_tools=["read_file", "edit_file", "run_tests"],
                required_context=["task"],
                context={"task": "refactor app.py"},
                versions={"prompt:coder": "coder@v2#1a2b3c4d"},
            ),
            node(
                "handoff",
                "to_tester",
                from_agent="orchestrator",
                to_agent="tester",
                context={"diff_summary": "renamed f to g", "confidence": 0.9},
            ),
            node("agent", "tester", node("tool", "run_tests")),
            node("llm", "report", model="gpt-x", usage={"input_tokens": 400, "output_tokens": 300}),
        )
    )
