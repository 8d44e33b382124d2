"""Deferred capture of OpenTelemetry spans: reserved at the start, filled in at the build or when asked for.

The processor's hot path only reserves a span's place (id, start, end); these
tests hold that every way to the span sees it complete, and that traces come
out exactly as with the span filled in at once (the public-API path, which
reserves nothing).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode, Tracer

from pytest_agenttrace.adapters import otel
from pytest_agenttrace.recorder import Recorder, ReservedHandle, SpanHandle

TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder"}


@pytest.fixture(scope="module")
def tracer() -> Tracer:
    provider = TracerProvider()
    otel.install(provider)
    return provider.get_tracer("tests")


def _reserved(rec: Recorder) -> list[SpanHandle]:
    return [h for h in rec._order if type(h) is ReservedHandle]


CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}


def test_a_span_is_only_reserved_while_it_runs_and_complete_when_asked_for(tracer: Tracer) -> None:
    rec = Recorder("asked")
    with rec, rec.agent("coder"), tracer.start_as_current_span("chat m", attributes=CHAT):
        with tracer.start_as_current_span("execute_tool search", attributes=TOOL):
            _, chat_handle, tool_handle = rec._order
            assert type(chat_handle) is ReservedHandle and type(tool_handle) is ReservedHandle
            found = rec.handle(tool_handle.span_id)
            # Asking for the child fills in its parent first, then the child, as they started.
            assert found is tool_handle and type(found) is SpanHandle and type(chat_handle) is SpanHandle
            # Open, it reads as at its start (its mapped name comes with the build after its end).
            assert (found.kind, found.name, found.agent, found.parent_id) == (
                "tool",
                "execute_tool search",
                "coder",
                chat_handle.span_id,
            )
    assert [(s.kind, s.name, s.agent) for s in rec.finish().spans] == [
        ("agent", "coder", "coder"),
        ("llm", "chat m", "coder"),
        ("tool", "search", "coder"),
    ]


def test_agent_spans_are_recorded_at_once_and_the_spans_inside_inherit_their_start(tracer: Tracer) -> None:
    rec = Recorder("agents")
    with rec, tracer.start_as_current_span("invoke_agent coder", attributes=AGENT) as agent:
        (handle,) = rec._order
        assert type(handle) is SpanHandle and handle.agent == "coder"
        agent.set_attribute("gen_ai.agent.name", "renamed")  # at its end: the agent span's own name
        with tracer.start_as_current_span("execute_tool search", attributes=TOOL):
            pass
    assert [(s.kind, s.name, s.agent) for s in rec.finish().spans] == [
        ("agent", "renamed", "renamed"),
        ("tool", "search", "coder"),  # inherited what its parent was when it started
    ]


def test_reading_a_field_not_filled_in_yet_completes_the_handle(tracer: Tracer) -> None:
    rec = Recorder("read")
    with rec, rec.agent("coder"), tracer.start_as_current_span("execute_tool search", attributes=TOOL):
        _, handle = rec._order
        assert handle.span_id == "2" and handle.end_ns is None  # set at the reservation: no completion
        assert type(handle) is ReservedHandle
        assert handle.agent == "coder"  # not set yet: completed, then read
        assert type(handle) is SpanHandle and not _reserved(rec)
        with pytest.raises(AttributeError):
            handle.__wrapped__  # noqa: B018 - dunder probes never complete a handle


def test_a_native_span_inside_an_open_otel_span_completes_it_and_inherits_from_it(tracer: Tracer) -> None:
    rec = Recorder("native")
    with rec, rec.delegate("coder") as delegation:
        with tracer.start_as_current_span("invoke_agent coder", attributes=AGENT):
            with rec.tool("read_file") as native:
                assert native.agent == "coder" and native.scope == delegation.span_id
    tree = [f"{'  ' * depth}{s.kind}:{s.name}@{s.agent}" for s, depth in rec.finish().walk()]
    assert tree == ["delegation:coder@None", "  agent:coder@coder", "    tool:read_file@coder"]


def test_a_snapshot_while_spans_run_then_the_final_mapping(tracer: Tracer) -> None:
    rec = Recorder("snapshot")
    with rec, tracer.start_as_current_span("provisional") as span:
        span.set_attribute("gen_ai.operation.name", "execute_tool")
        first = rec.trace  # the open span is filled in as at its start
        assert [(s.kind, s.name) for s in first.spans] == [("custom", "provisional")]  # as at its start
        span.update_name("execute_tool search")
        span.set_attribute("gen_ai.tool.name", "search")
        span.set_attribute("gen_ai.tool.call.id", "call_9")
    (final,) = rec.finish().spans
    assert (final.kind, final.name, final.status) == ("tool", "search", "ok")
    assert final.attributes == {"operation": "execute_tool", "tool_call_id": "call_9"}


def test_an_unusual_end_completes_the_span_at_once(tracer: Tracer) -> None:
    rec = Recorder("unusual")
    with rec:
        with tracer.start_as_current_span("execute_tool search", attributes=TOOL) as span:
            span.add_event("retry", {"attempt": 2})
            span.set_status(Status(StatusCode.ERROR, "tool down"))
        (handle,) = rec._order
        assert type(handle) is SpanHandle  # filled in at its end, mapped at the build
    (final,) = rec.finish().spans
    assert final.status == "error" and final.error == {"type": "Error", "message": "tool down"}
    assert [e["name"] for e in final.events] == ["retry"]


def test_a_failing_completion_keeps_the_span_as_a_custom_root_and_says_so(
    tracer: Tracer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("completion bug")

    monkeypatch.setattr(otel, "_complete_one", broken)
    caplog.set_level(logging.WARNING, logger="pytest_agenttrace")
    rec = Recorder("broken")
    with rec, rec.agent("orchestrator"), tracer.start_as_current_span("execute_tool search", attributes=TOOL):
        result = 42
    assert result == 42
    spans = rec.finish().spans
    # Its place in the tree is lost (a root), its own mapping is not.
    assert [(s.kind, s.name, s.parent_id) for s in spans] == [
        ("agent", "orchestrator", None),
        ("tool", "search", None),
    ]
    assert spans[1].end_ns >= spans[1].start_ns
    assert "could not map OpenTelemetry span 'execute_tool search'" in caplog.text


def test_deep_nesting_completes_without_recursion(tracer: Tracer) -> None:
    depth = 3000
    rec = Recorder("deep")
    with rec, contextlib.ExitStack() as stack:
        for level in range(depth):
            stack.enter_context(tracer.start_as_current_span(f"execute_tool t{level}", attributes=TOOL))
        with rec.llm("innermost") as native:  # asks for its OpenTelemetry parent: 3000 completions, in a loop
            pass
        assert native.parent_id == str(depth)
    trace = rec.finish()
    assert len(trace.spans) == depth + 1
    assert all(s.parent_id == (str(i) if i else None) for i, s in enumerate(trace.spans))


def test_threads_keep_their_own_parents(tracer: Tracer) -> None:
    rec = Recorder("threads")
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        with tracer.start_as_current_span(f"invoke_agent a{n}", attributes={**AGENT, "gen_ai.agent.name": f"a{n}"}):
            barrier.wait()  # all four agents open at once: their tools interleave
            for _ in range(50):
                with tracer.start_as_current_span("execute_tool search", attributes=TOOL):
                    pass

    with rec:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    trace = rec.finish()
    by_id = {s.span_id: s for s in trace.spans}
    tools = trace.find("tool")
    assert len(tools) == 200 and len(trace.find("agent")) == 4
    assert all(by_id[t.parent_id].kind == "agent" and t.agent == by_id[t.parent_id].name for t in tools)


# -- the same traces as the span filled in at once ----------------------------------------------------

_OTEL_KINDS = st.sampled_from(["agent", "tool", "chat", "plain", "handoff"])
_NATIVE_KINDS = st.sampled_from(["agent", "tool", "delegate"])
_node = st.recursive(
    st.tuples(st.sampled_from(["otel", "native"]), st.text("abc", min_size=1, max_size=2), st.booleans(), st.just([])),
    lambda children: st.tuples(
        st.sampled_from(["otel", "native"]),
        st.text("abc", min_size=1, max_size=2),
        st.booleans(),
        st.lists(children, max_size=3),
    ),
    max_leaves=14,
)


def _run(rec: Recorder, tracer: Tracer, node: Any, depth: int = 0) -> None:
    source, label, flag, children = node
    variant = (len(label) + depth) % 5
    if source == "native":
        manager: Any = (
            rec.agent(f"n{label}")
            if variant in (0, 1)
            else rec.delegate(f"d{label}")
            if variant == 2
            else rec.tool(f"t{label}")
        )
        with manager:
            if flag:
                rec.trace  # noqa: B018 - a snapshot while spans are open
            for child in children:
                _run(rec, tracer, child, depth + 1)
        return
    attributes: dict[str, Any] = [
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"o{label}"},
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"x{label}", "gen_ai.tool.call.id": label},
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": len(label)},
        {},
        {"gen_ai.operation.name": "handoff", "gen_ai.handoff.to_agent": f"o{label}"},
    ][variant]
    with tracer.start_as_current_span(f"span {label}", attributes=attributes) as span:
        if flag and depth % 3 == 0:
            rec.trace  # noqa: B018 - a snapshot while this span is open: completes it as at its start
        if flag and variant in (0, 3):  # agent name and operation set after the start
            span.set_attribute("gen_ai.agent.name", f"late{label}")
            span.set_attribute("gen_ai.operation.name", "invoke_agent")
        for child in children:
            _run(rec, tracer, child, depth + 1)
        if flag and variant in (1, 2):  # a tool or chat span naming an agent: its own, not its children's
            span.set_attribute("gen_ai.agent.name", f"own{label}")
        if flag:
            span.set_attribute("late", label)
            if variant == 3:
                span.update_name(f"renamed {label}")
            if depth % 2:
                span.set_status(Status(StatusCode.ERROR, "bad"))


@contextlib.contextmanager
def _public_api_only() -> Iterator[None]:
    saved = dict(otel._FAST_LAYOUT)
    otel._FAST_LAYOUT.update(dict.fromkeys(saved, False))
    try:
        yield
    finally:
        otel._FAST_LAYOUT.update(saved)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=st.lists(_node, min_size=1, max_size=3))
def test_reserved_capture_records_what_capture_at_once_does(tracer: Tracer, program: list[Any]) -> None:
    traces = []
    for reserve in (True, False):
        rec = Recorder("property")
        with contextlib.nullcontext() if reserve else _public_api_only(), rec:
            for node in program:
                _run(rec, tracer, node)
        trace = rec.finish()
        traces.append(
            [
                (depth, s.span_id, s.parent_id, s.kind, s.name, s.agent, s.scope, s.status, s.attributes, s.context)
                for s, depth in trace.walk()
            ]
        )
    assert traces[0] == traces[1]


def test_threads_completing_and_reserving_at_once_lose_nothing(
    tracer: Tracer, caplog: pytest.LogCaptureFixture
) -> None:
    """Native spans inside OpenTelemetry spans in two threads: each asks for its parent (a completion)
    while the other thread reserves; switches between threads are forced to be frequent."""
    caplog.set_level(logging.WARNING, logger="pytest_agenttrace")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    rec = Recorder("race")

    def work(n: int) -> None:
        with tracer.start_as_current_span(f"invoke_agent a{n}", attributes={**AGENT, "gen_ai.agent.name": f"a{n}"}):
            for _ in range(400):
                with tracer.start_as_current_span("execute_tool search", attributes=TOOL), rec.tool("native"):
                    pass

    try:
        with rec:
            threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        trace = rec.finish()
    finally:
        sys.setswitchinterval(interval)
    assert len(trace.spans) == 2 + 2 * 400 * 2
    by_id = {s.span_id: s for s in trace.spans}
    for span in trace.spans:
        parent = by_id.get(span.parent_id) if span.parent_id else None
        if span.kind == "agent":
            assert parent is None
        elif span.name == "native":
            assert parent is not None and parent.kind == "tool" and span.agent == parent.agent
        else:
            assert (span.kind, span.name) == ("tool", "search") and parent is not None and parent.kind == "agent"
            assert span.agent == parent.agent and span.versions is not None
    assert "agenttrace" not in caplog.text


def test_nothing_of_a_reservation_outlives_the_recording(tracer: Tracer) -> None:
    """Spans ended, completed early or still open at the finish keep no completion facts, and
    nothing of the capture keeps the recording alive."""
    import gc
    import weakref

    rec = Recorder("short-lived")
    with rec:
        with tracer.start_as_current_span("execute_tool a", attributes=TOOL):
            pass
        with tracer.start_as_current_span("execute_tool b", attributes=TOOL), rec.tool("native"):
            pass  # b is completed early by the native span inside it
        still_open = tracer.start_span("execute_tool c", attributes=TOOL)
        trace = rec.finish()
    still_open.end()
    assert [(s.kind, s.name, s.status) for s in trace.spans] == [
        ("tool", "search", "ok"),
        ("tool", "search", "ok"),
        ("tool", "native", "ok"),
        ("tool", "execute_tool c", "error"),  # open at the finish: as at its start, unfinished
    ]
    assert all(span._token is None for span in trace.spans)  # type: ignore[attr-defined]
    alive = weakref.ref(rec)
    del rec, trace  # (a finished span names its recorder: the trace alone keeps it)
    gc.collect()
    assert alive() is None
