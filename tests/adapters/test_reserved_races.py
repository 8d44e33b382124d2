"""Reserved capture under the orderings a second review found: every case here once recorded a
different trace than capture at once, or broke the build.  Threads are held at exact points
(with events and a profile hook), so each ordering happens on every run."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("agents")

from agents.tracing import function_span, set_trace_processors
from agents.tracing import trace as sdk_trace
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, Tracer

from pytest_agenttrace.adapters import openai_agents, otel
from pytest_agenttrace.recorder import Recorder, ReservedHandle, SpanHandle

TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "gen_ai.tool.call.id": "c1"}


@pytest.fixture(scope="module")
def tracer() -> Iterator[Tracer]:
    provider = TracerProvider()
    otel.install(provider)
    set_trace_processors([openai_agents.AgentTraceProcessor()])
    warm = Recorder("warm")  # both layout tables learn their span classes
    with warm, provider.get_tracer("warm").start_as_current_span("warm"), sdk_trace("w"), function_span("w"):
        pass
    warm.finish()
    yield provider.get_tracer("tests")
    set_trace_processors([])
    openai_agents.install()


@contextlib.contextmanager
def _at_once() -> Iterator[None]:
    """Both adapters read spans through their public API: nothing is reserved."""
    saved = dict(otel._FAST_LAYOUT), dict(openai_agents._FAST_LAYOUT)
    otel._FAST_LAYOUT.update(dict.fromkeys(saved[0], False))
    openai_agents._FAST_LAYOUT.update(dict.fromkeys(saved[1], False))
    try:
        yield
    finally:
        otel._FAST_LAYOUT.update(saved[0])
        openai_agents._FAST_LAYOUT.update(saved[1])


def _rows(rec: Recorder) -> list[tuple[Any, ...]]:
    return [(depth, s.kind, s.name, s.agent, s.parent_id, s.attributes) for s, depth in rec.finish().walk()]


def _both_ways(program: Any) -> None:
    reserved = program(Recorder("reserved"))
    with _at_once():
        at_once = program(Recorder("at once"))
    assert reserved == at_once


def test_an_sdk_span_inside_an_otel_span_inherits_its_start_whichever_adapter_maps_first(tracer: Tracer) -> None:
    def tool_naming_its_agent(rec: Recorder) -> list[Any]:
        with rec:
            attributes = {**TOOL, "gen_ai.agent.name": "tool-owner"}
            with tracer.start_as_current_span("execute_tool search", attributes=attributes):
                with sdk_trace("t"), function_span("lookup"):
                    pass
        return _rows(rec)

    def agent_only_at_its_end(rec: Recorder) -> list[Any]:
        with rec, tracer.start_as_current_span("step") as step:
            with sdk_trace("t"), function_span("lookup"):
                pass
            step.set_attribute("gen_ai.operation.name", "invoke_agent")
            step.set_attribute("gen_ai.agent.name", "late")
        return _rows(rec)

    _both_ways(tool_naming_its_agent)
    _both_ways(agent_only_at_its_end)


def test_an_otel_parent_received_after_the_span_started_is_not_its_parent(tracer: Tracer) -> None:
    remote_id, trace_id = 0xABCDEF0123456789, 0x1234

    def program(rec: Recorder) -> list[Any]:
        receiver = otel.OTLPReceiver(rec)  # not started: ingest() is what its handler calls
        try:
            with rec, rec.agent("orchestrator"):
                remote = SpanContext(trace_id, remote_id, is_remote=True, trace_flags=TraceFlags(1))
                context = otel_trace.set_span_in_context(NonRecordingSpan(remote))
                with tracer.start_as_current_span("execute_tool search", context=context, attributes=TOOL):
                    pass
                now = time.time_ns()
                received = otel._Received(
                    span_id=remote_id,
                    parent_id=None,
                    trace_id=trace_id,
                    name="invoke_agent sub",
                    # Well before the recording began (so at its start in both runs, whatever the
                    # load): 1 ms before now once sorted before or after the tool span by timing.
                    start=now - 10**10,
                    end=now,
                    attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "sub"},
                    status_error=None,
                )
                receiver.ingest([received])
        finally:
            receiver._server.server_close()
        return _rows(rec)

    _both_ways(program)


def test_a_snapshot_taken_while_a_span_ends_is_not_kept_once_it_has_ended(tracer: Tracer) -> None:
    entered, release = threading.Event(), threading.Event()

    class HoldingDeque(collections.deque[Any]):
        def append(self, item: Any) -> None:
            if threading.current_thread().name == "ender":
                entered.set()
                release.wait(5)
            super().append(item)

    rec = Recorder("snapshot")
    with rec:
        with tracer.start_as_current_span("warm"):
            pass
        state = otel._peek(rec)
        assert state is not None
        state.ended = HoldingDeque(state.ended)

        def end_one() -> None:
            with tracer.start_as_current_span("execute_tool search", attributes=TOOL):
                pass

        ender = threading.Thread(target=end_one, name="ender")
        ender.start()
        assert entered.wait(5)
        rec.trace  # noqa: B018 - a snapshot while the span is ending
        release.set()
        ender.join()
        later = rec.trace
    assert [(s.kind, s.name) for s in later.spans][1:] == [("tool", "search")]


def test_a_span_reserved_while_the_recording_finishes_never_breaks_the_finish(tracer: Tracer) -> None:
    entered, release, started = threading.Event(), threading.Event(), threading.Event()

    class HoldingDict(dict[type, bool]):
        def get(self, key: Any, default: Any = None) -> Any:
            if threading.current_thread().name == "late" and not release.is_set():
                entered.set()  # on_start has read the active recorder already
                release.wait(5)
            return super().get(key, default)

    saved = otel._FAST_LAYOUT
    otel._FAST_LAYOUT = HoldingDict(saved)
    try:
        rec = Recorder("finishing")
        rec.__enter__()
        with tracer.start_as_current_span("warm", attributes=TOOL):
            pass

        def start_late() -> None:
            span = tracer.start_span("execute_tool search", attributes=TOOL)
            started.set()
            span.end()

        late = threading.Thread(target=start_late, name="late")
        late.start()
        assert entered.wait(5)

        def let_it_start() -> None:  # runs inside finish(), after the adapters' finalizers
            release.set()
            started.wait(5)

        rec.add_finalizer(let_it_start)
        trace = rec.finish()
        late.join()
    finally:
        otel._FAST_LAYOUT = saved
    assert rec.finished and all(type(s).__name__ == "Span" for s in trace.spans)
    assert all(s._token is None for s in trace.spans)  # type: ignore[attr-defined]
    assert trace.spans[0].name == "search"


def test_reading_a_field_while_another_thread_completes_the_handle(tracer: Tracer) -> None:
    rec = Recorder("getattr")
    with rec:
        span = tracer.start_span("execute_tool search", attributes=TOOL)
        (handle,) = rec._order
        assert type(handle) is ReservedHandle
        at_getattr, go = threading.Event(), threading.Event()
        read: dict[str, Any] = {}

        def hold_in_getattr(frame: Any, event: str, arg: Any) -> None:
            if event == "call" and frame.f_code is ReservedHandle.__getattr__.__code__:
                at_getattr.set()
                go.wait(5)

        def reader() -> None:
            sys.setprofile(hold_in_getattr)
            try:
                read["kind"] = handle.kind
            except AttributeError as exc:
                read["error"] = repr(exc)
            finally:
                sys.setprofile(None)

        thread = threading.Thread(target=reader)
        thread.start()
        assert at_getattr.wait(5)
        ReservedHandle.complete(handle)  # this thread completes it meanwhile
        go.set()
        thread.join()
        span.end()
    assert read == {"kind": "tool"} and type(handle) is SpanHandle
    rec.finish()


def test_a_with_on_an_ended_captured_span_loses_only_that_span_s_mapping(
    tracer: Tracer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pytest_agenttrace")
    rec = Recorder("with")
    with rec:
        with tracer.start_as_current_span("execute_tool search", attributes=TOOL):
            pass
        handle = rec.handle("1")
        assert handle is not None
        with handle, rec.llm("native"):  # nesting native work under it after the fact replaces its facts
            pass
        for i in range(3):
            with tracer.start_as_current_span("execute_tool t", attributes={**TOOL, "gen_ai.tool.name": f"t{i}"}):
                pass
    spans = rec.finish().spans
    assert [(s.kind, s.name) for s in spans] == [
        ("tool", "execute_tool search"),  # kept, unmapped, and said so
        ("llm", "native"),
        ("tool", "t0"),
        ("tool", "t1"),
        ("tool", "t2"),
    ]
    assert "lost its start facts" in caplog.text
    assert all(s._token is None for s in spans)  # type: ignore[attr-defined]


def test_a_finalizer_that_waits_for_a_thread_completing_a_reserved_span_does_not_deadlock(tracer: Tracer) -> None:
    import pytest_agenttrace as agenttrace

    rec = Recorder("finalizer")
    with rec:
        inside, done = threading.Event(), threading.Event()

        def worker() -> None:
            with tracer.start_as_current_span("execute_tool search", attributes=TOOL):  # reserved
                inside.set()
                time.sleep(0.05)
                with agenttrace.tool("native"):  # asks for its OpenTelemetry parent: a completion
                    pass
            done.set()

        thread = threading.Thread(target=worker, daemon=True)
        rec.add_finalizer(lambda: thread.join(5))  # public API: wait for background work before a build
        thread.start()
        assert inside.wait(5)
        snapshot = rec.trace
        assert done.is_set()  # the worker finished while the build waited for it: no lock held there
    assert [(s.kind, s.name) for s in snapshot.spans] == [("tool", "search"), ("tool", "native")]


def test_a_span_started_after_the_finish_froze_the_spans_is_left_out(tracer: Tracer) -> None:
    from pytest_agenttrace import recorder as recorder_module

    at_append, loop_done = threading.Event(), threading.Event()

    class HoldingDeque(collections.deque[Any]):
        def append(self, item: Any) -> None:
            if threading.current_thread().name == "late":
                at_append.set()  # past the check that the recording is not closing
                loop_done.wait(5)  # the build has frozen the spans it saw
            super().append(item)

    rec = Recorder("late")
    rec.__enter__()
    with tracer.start_as_current_span("warm", attributes=TOOL):
        pass
    state = otel._peek(rec)
    assert state is not None
    state.reserved = HoldingDeque(state.reserved)
    late = threading.Thread(target=lambda: tracer.start_span("execute_tool late", attributes=TOOL), name="late")
    late.start()
    assert at_append.wait(5)
    seen = len(rec._order)

    def on_return(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is recorder_module.Recorder._finish_in_place.__code__:
            loop_done.set()
            while len(rec._order) == seen:  # let the late span land before the trace is made
                time.sleep(0.001)

    sys.setprofile(on_return)
    try:
        trace = rec.finish()
    finally:
        sys.setprofile(None)
        late.join()
    assert [(type(s).__name__, s.name) for s in trace.spans] == [("Span", "search")]


def test_a_failing_adapter_state_does_not_stop_the_others_mapping(
    tracer: Tracer, caplog: pytest.LogCaptureFixture
) -> None:
    from pytest_agenttrace.adapters._context import adapter_state

    class OtherState:  # a third-party adapter's state, with something else under "reserved"
        def __init__(self) -> None:
            self.reserved = collections.deque(["slot"])

        def complete(self, target: Any) -> None:
            raise RuntimeError("not a completer")

    caplog.set_level(logging.WARNING, logger="pytest_agenttrace")
    rec = Recorder("other")
    with rec:
        adapter_state(rec, "other", OtherState)
        with tracer.start_as_current_span("execute_tool search", attributes=TOOL):
            pass
    (span,) = rec.finish().spans
    assert (span.kind, span.name, span.attributes) == (
        "tool",
        "search",
        {"operation": "execute_tool", "tool_call_id": "c1"},
    )
    assert "could not fill in reserved spans" in caplog.text


def test_a_with_on_an_ended_otel_span_during_the_build_does_not_stop_the_mapping(tracer: Tracer) -> None:
    rec = Recorder("with-during-build")
    with rec:
        for i in range(3):
            with tracer.start_as_current_span(f"execute_tool t{i}", attributes={**TOOL, "gen_ai.tool.name": f"t{i}"}):
                pass
        first = rec._order[0]
        pops: list[int] = []

        def hook(frame: Any, event: str, arg: Any) -> None:
            # At the build's second popleft the first span has been taken: another thread enters it then.
            if event == "c_call" and getattr(arg, "__name__", "") == "popleft" and frame.f_code.co_name == "take_ended":
                pops.append(1)
                if len(pops) == 2:
                    entering = threading.Thread(target=first.__enter__)
                    entering.start()
                    entering.join()

        sys.setprofile(hook)
        try:
            rec.trace  # noqa: B018 - a snapshot: runs the deferred mapping
        finally:
            sys.setprofile(None)
        assert len(pops) >= 2
    trace = rec.finish()
    assert [(s.name, s.attributes.get("tool_call_id")) for s in trace.spans] == [
        ("t0", "c1"),
        ("t1", "c1"),
        ("t2", "c1"),
    ]


def test_a_with_on_an_ended_sdk_span_during_the_build_does_not_stop_the_mapping(tracer: Tracer) -> None:
    from agents.tracing.span_data import FunctionSpanData

    rec = Recorder("with-during-build")
    with rec:
        with sdk_trace("t"):
            for i in range(3):
                with function_span(f"f{i}", input=json.dumps({"i": i}), output="ok"):
                    pass
        real = openai_agents._FILLERS[FunctionSpanData]
        filled: list[str] = []

        def filler(handle: SpanHandle, data: Any) -> None:
            filled.append(handle.name)
            if len(filled) == 1:  # while the build fills f0, another thread enters f1 (ended already)
                entering = threading.Thread(target=rec._order[-2].__enter__)
                entering.start()
                entering.join()
            real(handle, data)

        openai_agents._FILLERS[FunctionSpanData] = filler
        try:
            rec.trace  # noqa: B018 - a snapshot: runs the deferred mapping
        finally:
            openai_agents._FILLERS[FunctionSpanData] = real
    assert filled == ["f0", "f1", "f2"]
    trace = rec.finish()
    assert [(s.name, s.input, s.output) for s in trace.spans] == [(f"f{i}", {"i": i}, "ok") for i in range(3)]


def test_captured_tool_spans_outside_the_delegation_are_marked_as_native_ones(tracer: Tracer) -> None:
    rec = Recorder("scope")
    with rec, rec.agent("boss"), rec.delegate(to="r", allowed_tools=["search"]), rec.agent("r"):
        with tracer.start_as_current_span("execute_tool search", attributes=TOOL):
            pass
        with tracer.start_as_current_span("execute_tool drop", attributes={**TOOL, "gen_ai.tool.name": "drop"}):
            pass
        with sdk_trace("t"), function_span("drop_table", input="{}"):
            pass
        with rec.tool("drop_native"):
            pass
    marked = {s.name: s.attributes.get("out_of_scope") for s in rec.finish().find("tool")}
    assert marked == {"search": None, "drop": True, "drop_table": True, "drop_native": True}


def test_a_provider_that_joins_after_sdk_spans_is_asked_by_the_next_sdk_span(tracer: Tracer) -> None:
    """An SDK span start skips asking other providers while only the SDK's is live: the first
    OpenTelemetry span makes the list longer, and the SDK span inside it must nest under it."""
    rec = Recorder("joining")
    with rec, sdk_trace("t"):
        with function_span("before"):
            pass  # only the SDK's provider is live: remembered as alone
        state = rec._agenttrace_adapter_states["openai-agents"]
        assert state.alone is not None
        with tracer.start_as_current_span("execute_tool search", attributes=TOOL):
            with function_span("inside"):
                pass
    spans = {s.name: s for s in rec.finish().spans}
    assert spans["inside"].parent_id == spans["search"].span_id
    assert spans["before"].parent_id is None


def test_a_provider_that_joins_after_otel_spans_is_asked_by_the_next_otel_span(tracer: Tracer) -> None:
    """The same for OpenTelemetry: an SDK span opened after OpenTelemetry spans is their parent."""
    rec = Recorder("joining")
    with rec:
        with tracer.start_as_current_span("before"):
            pass  # only OpenTelemetry's provider is live: remembered as alone
        assert rec._agenttrace_adapter_states["otel"].alone is not None
        with sdk_trace("t"), function_span("sdk"):
            with tracer.start_as_current_span("inside"):
                pass
    spans = {s.name: s for s in rec.finish().spans}
    assert spans["inside"].parent_id == spans["sdk"].span_id
    assert spans["before"].parent_id is None
