"""Deferred capture of Agents SDK spans: reserved at the start, filled in at the build or when asked for.

Agent spans are recorded at once (``Agent.as_tool`` inserts a delegation at
their start); function, generation, handoff and guardrail spans are reserved.
The traces must come out exactly as with every span recorded at once (the
public-property path, which reserves nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("agents")

from agents import Runner
from agents.tracing import (
    agent_span,
    custom_span,
    function_span,
    generation_span,
    guardrail_span,
    handoff_span,
    set_trace_processors,
)
from agents.tracing import trace as sdk_trace
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_agenttrace.adapters import openai_agents
from pytest_agenttrace.recorder import Recorder, ReservedHandle, SpanHandle

from .test_fast_paths import json_values, same, tool_inputs
from .test_openai_agents import _support_agents


@pytest.fixture(autouse=True)
def _only_ours() -> Iterator[None]:
    set_trace_processors([openai_agents.AgentTraceProcessor()])
    yield
    set_trace_processors([])
    openai_agents.install()


@contextlib.contextmanager
def _recorded_at_once() -> Iterator[None]:
    """Every span class read through its public properties: nothing is reserved."""
    with sdk_trace("warm-up"), function_span("warm-up"):
        pass  # the span class is in the layout table from here on
    saved = dict(openai_agents._FAST_LAYOUT)
    openai_agents._FAST_LAYOUT.update(dict.fromkeys(saved, False))
    try:
        yield
    finally:
        openai_agents._FAST_LAYOUT.update(saved)


def _rows(rec: Recorder) -> list[tuple[Any, ...]]:
    return [
        (
            depth,
            s.span_id,
            s.parent_id,
            s.kind,
            s.name,
            s.agent,
            s.scope,
            s.status,
            s.error,
            s.input,
            s.output,
            s.attributes,
            s.context,
        )
        for s, depth in rec.finish().walk()
    ]


def test_function_spans_are_reserved_and_complete_when_asked_for() -> None:
    rec = Recorder("asked")
    with rec, sdk_trace("t"), agent_span(name="billing"):
        with function_span("lookup", input='{"id": 42}') as span:
            (agent_handle, tool_handle) = rec._order
            assert type(agent_handle) is SpanHandle and type(tool_handle) is ReservedHandle
            with rec.memory_read("order:42") as native:  # asks for the SDK's current span: completes it
                pass
            assert type(tool_handle) is SpanHandle
            assert (native.parent_id, native.agent) == (tool_handle.span_id, "billing")
            span.span_data.output = "shipped"
        assert rec.handle(tool_handle.span_id) is tool_handle
    (tool,) = rec.finish().find("tool")
    assert (tool.name, tool.agent, tool.input, tool.output) == ("lookup", "billing", {"id": 42}, "shipped")


def test_an_ended_reserved_span_is_filled_in_when_read_and_gets_its_data_at_the_build() -> None:
    rec = Recorder("read")
    with rec, sdk_trace("t"):
        with function_span("lookup", input='{"id": 7}', output="ok"):
            pass
        (handle,) = rec._order
        assert type(handle) is ReservedHandle and handle.end_ns is not None
        assert handle.kind == "tool"  # not filled in yet: completed, then read
        assert type(handle) is SpanHandle and handle.input is None  # its data comes with the build
    (tool,) = rec.finish().spans
    assert (tool.input, tool.output, tool.status) == ({"id": 7}, "ok", "ok")


def test_a_full_run_records_the_same_trace_reserved_or_at_once() -> None:
    rows = []
    for at_once in (False, True):
        rec = Recorder("run")
        with _recorded_at_once() if at_once else contextlib.nullcontext(), rec:
            result = asyncio.run(Runner.run(_support_agents(refund_attempts=2), "Refund order 42"))
        assert result.final_output == "Refund could not be issued; escalated."
        rows.append(_rows(rec))
    assert rows[0] == rows[1]
    kinds = {row[3] for row in rows[0]}
    assert {"agent", "tool", "handoff", "llm", "guardrail", "memory_read"} <= kinds
    assert [row[7] for row in rows[0] if row[4] == "issue_refund"] == ["error", "error"]


_node = st.recursive(
    st.tuples(st.integers(0, 7), st.booleans(), st.just([])),
    lambda children: st.tuples(st.integers(0, 7), st.booleans(), st.lists(children, max_size=3)),
    max_leaves=14,
)


def _run(rec: Recorder, node: Any, depth: int = 0) -> None:
    variant, flag, children = node
    label = f"{variant}{depth}"
    if variant == 6:
        manager: Any = rec.delegate(f"d{label}")
    elif variant == 7:
        manager = rec.tool(f"n{label}")
    else:
        manager = [
            lambda: agent_span(name=f"a{label}", tools=["t"]),
            lambda: function_span(f"f{label}", input='{"q": 1}' if flag else "text"),
            lambda: generation_span(model=f"m{label}", usage={"input_tokens": depth, "output_tokens": 1}),
            lambda: handoff_span(from_agent=None if flag else "x", to_agent=f"b{label}"),
            lambda: guardrail_span(f"g{label}", triggered=flag),
            lambda: custom_span(f"c{label}", {"k": depth}),
        ][variant]()
    with manager as span:
        if flag and variant in (6, 7):
            rec.trace  # noqa: B018 - a snapshot while spans are open
        for child in children:
            _run(rec, child, depth + 1)
        if flag and variant in (1, 2) and depth % 2:
            from agents.tracing import SpanError

            span.set_error(SpanError(message="failed", data={"error": "boom"}))
        if variant == 1:
            span.span_data.output = f"out {label}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=st.lists(_node, min_size=1, max_size=3))
def test_reserved_capture_records_what_capture_at_once_does(program: list[Any]) -> None:
    rows = []
    for at_once in (False, True):
        rec = Recorder("property")
        with _recorded_at_once() if at_once else contextlib.nullcontext(), rec, sdk_trace("p"):
            for node in program:
                _run(rec, node)
        rows.append(_rows(rec))
    assert rows[0] == rows[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(max_size=6),
    value=st.none() | tool_inputs,
    output=st.none() | json_values | st.integers(),
    mcp=st.none() | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
@example(name="f", value='{"n":-99999999999999999999}', output=42, mcp={"s": 1})  # a long int: json decides
@example(name="f", value='{"a": NaN}', output=None, mcp=None)  # orjson refuses: json decides
@example(name="f", value=' {"a": 1}', output="ok", mcp=None)  # not the inlined path
def test_the_deferred_loop_fills_a_function_span_as_the_general_mapping(
    name: str, value: str | None, output: Any, mcp: Any
) -> None:
    """The build's loop fills function spans in itself (_fill_function inlined): the same fields."""
    rec = Recorder("inlined")
    with rec, sdk_trace("t"):
        with function_span(name, input=value, output=output) as span:
            span.span_data.mcp_data = mcp
        (captured,) = rec._order
        assert type(captured) is ReservedHandle
    rec.run_finalizers()  # the deferred loop: completion, then the data
    general = Recorder("general").start_span("tool", name or "function", parent_id=None, attributes={})
    openai_agents._fill_mapped(general, openai_agents.map_span_data(span.span_data.export()))
    for field_name in ("kind", "name", "agent", "attributes", "input", "output", "context", "status", "error"):
        assert same(getattr(captured, field_name), getattr(general, field_name)), field_name
