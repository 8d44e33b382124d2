"""Planted traces for the detector tests: realistic multi-agent runs with one failure each.

:class:`TraceBuilder` writes spans the way the recorder would (agent and scope
inherited from the enclosing spans, ``scope_path`` from the root, a clock that
ticks 1 ms per span boundary) without needing a live recording, so each test
reads like the agent run it stands for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pytest_agenttrace.model import Span, Trace

MS = 1_000_000


class TraceBuilder:
    """Build a trace from nested ``with`` blocks; span ids are ``"1"``, ``"2"``, ... in start order."""

    def __init__(self, name: str = "planted") -> None:
        self.name = name
        self.clock = 0
        self._spans: list[dict[str, Any]] = []
        self._stack: list[dict[str, Any]] = []

    # -- low level ---------------------------------------------------------------
    def tick(self, ms: int = 1) -> int:
        self.clock += ms * MS
        return self.clock

    def _open(self, kind: str, name: str, **fields: Any) -> dict[str, Any]:
        parent = self._stack[-1] if self._stack else None
        scope_path = list(parent["scope_path"]) if parent else []
        if parent is not None and parent["kind"] == "delegation":
            scope_path.append(parent["span_id"])
        agent = name if kind == "agent" else (parent["agent"] if parent else None)
        start = fields.pop("start_ns", None)
        span: dict[str, Any] = {
            "span_id": str(len(self._spans) + 1),
            "parent_id": parent["span_id"] if parent else None,
            "kind": kind,
            "name": name,
            "agent": agent,
            "scope": scope_path[-1] if scope_path else None,
            "scope_path": scope_path,
            "start_ns": self.tick() if start is None else start,
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
        span.update(fields)
        self._spans.append(span)
        return span

    def _close(self, span: dict[str, Any], end_ns: int | None = None) -> None:
        if not span["end_ns"]:
            span["end_ns"] = self.tick() if end_ns is None else end_ns

    @contextmanager
    def span(self, kind: str, name: str, **fields: Any) -> Iterator[dict[str, Any]]:
        """A span with children; ``fields`` override any span field (``attributes``, ``agent``, ...)."""
        end = fields.pop("end_ns", None)
        span = self._open(kind, name, **fields)
        self._stack.append(span)
        try:
            yield span
        finally:
            self._stack.pop()
            self._close(span, end)

    def leaf(self, kind: str, name: str, **fields: Any) -> dict[str, Any]:
        """A span without children; returns its dict (``["span_id"]`` for links)."""
        end = fields.pop("end_ns", None)
        span = self._open(kind, name, **fields)
        self._close(span, end)
        return span

    # -- the recorder's vocabulary -----------------------------------------------
    def agent(self, name: str, **fields: Any) -> Any:
        return self.span("agent", name, **fields)

    def delegation(
        self,
        to: str,
        *,
        context: dict[str, Any] | None = None,
        allowed_tools: list[str] | None = None,
        required_context: list[str] | None = None,
        critical_keys: list[str] | None = None,
        objective: str | None = None,
        from_agent: str | None = None,
        **fields: Any,
    ) -> Any:
        attributes = self._handoff_attributes(to, from_agent, required_context, critical_keys)
        if objective is not None:
            attributes["objective"] = objective
        if allowed_tools is not None:
            attributes["allowed_tools"] = allowed_tools
        return self.span("delegation", to, attributes=attributes, context=dict(context or {}), **fields)

    def handoff(
        self,
        to: str,
        *,
        context: dict[str, Any] | None = None,
        required_context: list[str] | None = None,
        critical_keys: list[str] | None = None,
        from_agent: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        attributes = self._handoff_attributes(to, from_agent, required_context, critical_keys)
        return self.leaf("handoff", to, attributes=attributes, context=dict(context or {}), **fields)

    def _handoff_attributes(
        self,
        to: str,
        from_agent: str | None,
        required_context: list[str] | None,
        critical_keys: list[str] | None,
    ) -> dict[str, Any]:
        current = self._stack[-1]["agent"] if self._stack else None
        attributes: dict[str, Any] = {"from_agent": from_agent or current, "to_agent": to}
        if required_context is not None:
            attributes["required_context"] = required_context
        if critical_keys is not None:
            attributes["critical_keys"] = critical_keys
        return attributes

    def tool(self, name: str, input: Any = None, **fields: Any) -> dict[str, Any]:
        return self.leaf("tool", name, input=input, **fields)

    def llm(self, name: str = "chat", **attributes: Any) -> dict[str, Any]:
        fields = {k: attributes.pop(k) for k in ("links", "status", "error", "output") if k in attributes}
        return self.leaf("llm", name, attributes={"model": "gpt-test", **attributes}, **fields)

    def memory_write(self, key: str, value: Any = None, **attributes: Any) -> dict[str, Any]:
        fields = {k: attributes.pop(k) for k in ("status", "error", "start_ns", "end_ns", "agent") if k in attributes}
        return self.leaf("memory_write", key, input=value, attributes={"key": key, **attributes}, **fields)

    def memory_read(self, key: str, **attributes: Any) -> dict[str, Any]:
        fields = {k: attributes.pop(k) for k in ("start_ns", "end_ns", "agent") if k in attributes}
        return self.leaf("memory_read", key, attributes={"key": key, **attributes}, **fields)

    def wait(self, on: str, *, start_ns: int, end_ns: int, agent: str | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"attributes": {"waiting_on": on}, "start_ns": start_ns, "end_ns": end_ns}
        if agent is not None:
            fields["agent"] = agent
        return self.leaf("wait", on, **fields)

    def build(self) -> Trace:
        spans = sorted(self._spans, key=lambda s: s["start_ns"])
        return Trace(
            trace_id="planted-" + self.name,
            name=self.name,
            started_at="2026-11-21T23:00:00Z",
            spans=tuple(Span(**s) for s in spans),
        )


# -- the planted runs --------------------------------------------------------------
#
# Each returns (trace, ids): ids names the spans a test asserts on.


def refactor_pipeline(*, confidence_in_handoff: bool = True) -> tuple[Trace, dict[str, str]]:
    """Orchestrator delegates to coder, coder hands off to tester; tester needs ``confidence``."""
    b = TraceBuilder("refactor")
    ids: dict[str, str] = {}
    with b.agent("orchestrator"):
        b.llm("plan")
        with b.delegation(
            "coder",
            objective="rewrite call sites",
            allowed_tools=["read_file", "edit_file", "run_tests"],
            context={"diff_summary": "rename foo->bar", "confidence": 0.9},
            required_context=["diff_summary"],
        ) as d:
            ids["delegation"] = d["span_id"]
            with b.agent("coder"):
                b.tool("read_file", {"path": "a.py"})
                b.tool("edit_file", {"path": "a.py"})
                context = {"diff_summary": "rename foo->bar"}
                if confidence_in_handoff:
                    context["confidence"] = 0.9
                ids["handoff"] = b.handoff("tester", context=context, required_context=["diff_summary", "confidence"])[
                    "span_id"
                ]
        with b.agent("tester"):
            b.tool("run_tests", {"suite": "unit"})
    return b.build(), ids


def external_delegation(
    *, tool: str = "read_customer_db", allowed: list[str] | None = None
) -> tuple[Trace, dict[str, str]]:
    """Support bot delegates a lookup to an external agent allowed only web search."""
    b = TraceBuilder("external")
    ids: dict[str, str] = {}
    with b.agent("support"):
        b.llm("triage")
        with b.delegation(
            "external",
            objective="find shipping status",
            allowed_tools=allowed if allowed is not None else ["web_search"],
        ) as d:
            ids["delegation"] = d["span_id"]
            with b.agent("external"):
                ids["search"] = b.tool("web_search", {"q": "order 1234"})["span_id"]
                ids["tool"] = b.tool(tool, {"customer": 1234})["span_id"]
        ids["own_tool"] = b.tool("read_customer_db", {"customer": 1234})["span_id"]
    return b.build(), ids


def nested_scopes() -> tuple[Trace, dict[str, str]]:
    """Outer delegation allows read_file+edit_file; the inner one claims run_tests too (it cannot widen)."""
    b = TraceBuilder("nested")
    ids: dict[str, str] = {}
    with b.agent("orchestrator"):
        with b.delegation("coder", allowed_tools=["read_file", "edit_file"]) as outer:
            ids["outer"] = outer["span_id"]
            with b.agent("coder"):
                with b.delegation("helper", allowed_tools=["read_file", "run_tests"]) as inner:
                    ids["inner"] = inner["span_id"]
                    with b.agent("helper"):
                        ids["read"] = b.tool("read_file", {"path": "a.py"})["span_id"]
                        ids["tests"] = b.tool("run_tests")["span_id"]
                        ids["edit"] = b.tool("edit_file", {"path": "a.py"})["span_id"]
                with b.delegation("reviewer") as open_scope:  # declares nothing: restricts nothing
                    ids["open"] = open_scope["span_id"]
                    with b.agent("reviewer"):
                        ids["review_read"] = b.tool("read_file", {"path": "b.py"})["span_id"]
    return b.build(), ids


def research_run(calls: list[tuple[str, Any]], *, agent: str = "researcher") -> tuple[Trace, list[str]]:
    """One agent calling tools in the given order: ``[(name, input), ...]``; returns the tool span ids."""
    b = TraceBuilder("research")
    ids: list[str] = []
    with b.agent("orchestrator"):
        with b.delegation(agent, objective="answer the question"):
            with b.agent(agent):
                for name, arguments in calls:
                    b.llm("decide")
                    ids.append(b.tool(name, arguments)["span_id"])
    return b.build(), ids


def two_agents_interleaved(names_a: list[str], names_b: list[str]) -> Trace:
    """Two agents working in parallel; their tool calls interleave in start order."""
    b = TraceBuilder("parallel")
    time = 0
    for a, c in zip(names_a, names_b, strict=True):
        time += 10 * MS
        b.leaf("tool", a, agent="alice", start_ns=time, end_ns=time + 2 * MS)
        b.leaf("tool", c, agent="bob", start_ns=time + MS, end_ns=time + 3 * MS)
    return b.build()


def waits(*edges: tuple[str, str, int, int]) -> tuple[Trace, list[str]]:
    """Agents waiting on each other: ``(agent, waiting_on, start_ms, end_ms)`` per wait."""
    b = TraceBuilder("waits")
    ids = []
    for agent, on, start, end in edges:
        ids.append(b.wait(on, agent=agent, start_ns=start * MS, end_ns=end * MS)["span_id"])
    return b.build(), ids


def confidence_chain(
    *, keep_in_handoff: bool = True, truncate: bool = False, track: bool = True, keep_to_reporter: bool = False
) -> tuple[Trace, dict[str, str]]:
    """Orchestrator -> coder (critical: confidence) -> tester -> reporter; the key may get lost on the way."""
    b = TraceBuilder("collapse")
    ids: dict[str, str] = {}
    with b.agent("orchestrator"):
        with b.delegation(
            "coder",
            context={"diff_summary": "rename foo->bar", "confidence": 0.42},
            critical_keys=["confidence"] if track else None,
        ) as d:
            ids["delegation"] = d["span_id"]
            with b.agent("coder"):
                for tool in ("read_file", "edit_file", "run_tests"):
                    b.tool(tool, {"path": "m.py"})
                if truncate:
                    ids["llm"] = b.llm("summarize", truncated=True, dropped_keys=["confidence", "notes"])["span_id"]
                else:
                    b.llm("summarize")
                context = {"diff_summary": "rename foo->bar"}
                if keep_in_handoff:
                    context["confidence"] = 0.42
                ids["handoff"] = b.handoff("tester", context=context)["span_id"]
        with b.agent("tester"):
            onward: dict[str, Any] = {"result": "green"}
            if keep_to_reporter:
                onward["confidence"] = 0.42
            ids["to_reporter"] = b.handoff("reporter", context=onward)["span_id"]
    return b.build(), ids


def review_collapse_chain() -> Trace:
    """The contract review's scenario (cc.json): hAB carries critical ``k``; the chain below loses it.

    ``1`` agent A; ``2`` hAB A->B (critical k, k: 1); ``3`` hBC B->C (no k); ``4`` hCD C->D (no k);
    ``5`` a truncated llm of B dropping k; ``6`` hBE B->E (no k).  All flat under the agent span.
    """

    def span(span_id: int, kind: str, name: str, agent: str, start: int, **fields: Any) -> dict[str, Any]:
        parent = None if span_id == 1 else "1"
        return {
            "span_id": str(span_id),
            "parent_id": parent,
            "kind": kind,
            "name": name,
            "agent": agent,
            "start_ns": start,
            "end_ns": 1000 if span_id == 1 else start + 10,
            **fields,
        }

    def handoff(span_id: int, name: str, start: int, context: dict[str, Any], **attributes: Any) -> dict[str, Any]:
        route = {"from_agent": name[1], "to_agent": name[2], **attributes}
        return span(span_id, "handoff", name, name[1], start, attributes=route, context=context)

    spans = [
        span(1, "agent", "A", "A", 0),
        handoff(2, "hAB", 10, {"k": 1}, critical_keys=["k"]),
        handoff(3, "hBC", 30, {}),
        handoff(4, "hCD", 50, {}),
        span(5, "llm", "B_trunc", "B", 70, attributes={"truncated": True, "dropped_keys": ["k"]}),
        handoff(6, "hBE", 90, {}),
    ]
    return Trace.from_dict(
        {"trace_id": "4bf92f3577b34da6", "name": "t", "started_at": "2026-11-21T23:00:00Z", "spans": spans}
    )


def bad_summary_cascade(*, confidence: float | None = 0.2, writer_status: str = "ok") -> tuple[Trace, dict[str, str]]:
    """A low-confidence research summary feeds the writer, whose draft feeds the publisher."""
    b = TraceBuilder("cascade")
    ids: dict[str, str] = {}
    with b.agent("researcher"):
        extra = {"confidence": confidence} if confidence is not None else {}
        ids["origin"] = b.llm("summarize_sources", **extra)["span_id"]
    with b.agent("writer"):
        ids["draft"] = b.llm("draft", links=[ids["origin"]], status=writer_status)["span_id"]
    with b.agent("publisher"):
        ids["publish"] = b.tool("publish", {"channel": "blog"}, links=[ids["draft"]])["span_id"]
        ids["unrelated"] = b.tool("notify", {"who": "team"})["span_id"]
    return b.build(), ids


def shared_memory(
    *, valid: bool = False, reader: str = "writer", overwrite: bool = False, confidence: float | None = None
) -> tuple[Trace, dict[str, str]]:
    """Researcher writes ``facts`` (possibly invalid); ``reader`` and the analyst read it later."""
    b = TraceBuilder("memory")
    ids: dict[str, str] = {}
    with b.agent("researcher"):
        extra: dict[str, Any] = {"version": 1, "valid": valid}
        if confidence is not None:
            extra["confidence"] = confidence
        ids["write"] = b.memory_write("facts", {"ceo": "Jane Doe"}, **extra)["span_id"]
        ids["own_read"] = b.memory_read("facts", version=1)["span_id"]
    if overwrite:
        with b.agent("fact_checker"):
            ids["fix"] = b.memory_write("facts", {"ceo": "John Roe"}, version=2, valid=True, based_on_version=1)[
                "span_id"
            ]
    with b.agent(reader):
        ids["read"] = b.memory_read("facts")["span_id"]
    with b.agent("analyst"):
        ids["analyst_read"] = b.memory_read("facts")["span_id"]
        ids["other_key"] = b.memory_read("budget")["span_id"]
    return b.build(), ids


def concurrent_plan_edits(*, second_base: int = 3, second_agent: str = "coder") -> tuple[Trace, dict[str, str]]:
    """Planner and coder both read plan v3 and write it back."""
    b = TraceBuilder("lost-update")
    ids: dict[str, str] = {}
    with b.agent("planner"):
        b.memory_read("plan", version=3)
        ids["first"] = b.memory_write("plan", ["step 1", "step 2"], version=4, based_on_version=3)["span_id"]
    with b.agent(second_agent):
        b.memory_read("plan", version=second_base)
        ids["second"] = b.memory_write("plan", ["step 1", "step 3"], version=5, based_on_version=second_base)["span_id"]
    return b.build(), ids


def orphan_tool() -> tuple[Trace, dict[str, str]]:
    """A tool fired from a callback outside every agent span."""
    b = TraceBuilder("orphan")
    ids: dict[str, str] = {}
    with b.agent("planner"):
        b.tool("read_file", {"path": "plan.md"})
    ids["orphan"] = b.tool("send_email", {"to": "ceo@example.com"})["span_id"]
    return b.build(), ids
