"""Recorder edge cases found by a QA review: values recorded by reference, non-string names,
exceptions whose ``str()`` fails, generators left open across tests, threads outliving their
test, and a mid-run ``trace`` that missed changes."""

from __future__ import annotations

import contextvars
import threading
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.recorder import NOOP, Recorder, SpanHandle, _snapshot
from pytest_agenttrace.sanitize import DEFAULT_LIMITS, Limits, clean
from pytest_agenttrace.store import validate_trace_dict


# -- 1. values are recorded as they are when recorded ----------------------------------------------
def test_a_chat_history_appended_to_later_keeps_each_span_as_it_was() -> None:
    @at.traced(kind="llm")
    def chat(messages: list[dict[str, str]]) -> dict[str, Any]:
        return {"reply": f"{len(messages)} msgs", "seen": messages}

    rec = Recorder("t")
    messages = [{"role": "user", "content": "hi"}]
    with rec.activate(), at.agent("a"):
        chat(messages)
        messages.append({"role": "assistant", "content": "hello"})
        with at.llm("second", input=messages):
            pass
        messages.append({"role": "user", "content": "again"})
        messages[0]["content"] = "changed"
    trace = rec.finish()
    first, second = trace.find("llm")
    assert first.input == {"messages": [{"role": "user", "content": "hi"}]}
    assert first.output == {"reply": "1 msgs", "seen": [{"role": "user", "content": "hi"}]}
    assert second.input == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_setters_and_context_snapshot_containers() -> None:
    rec = Recorder("t")
    value: dict[str, Any] = {"items": [1, 2], "nested": {"k": (1, [2])}, "tags": {"x"}}
    with rec.activate():
        with at.tool("kw", input=value) as kw:
            kw.set_output(value).set_attribute("one", value).set_attributes({"many": value})
            kw.add_event("retry", payload=value)
        with at.handoff(to="b", context={"plan": value}) as h:
            pass
        with at.delegate(to="c", context={"plan": value}) as d:
            d.set_context({"plan": value})
        with at.memory_write("m", value), at.memory_read("m", value=value):
            pass
        h.set_input(value)
        value["items"].append(3)
        value["nested"]["k"][1].append(9)
        value["tags"].add("y")
        value["new"] = True
    trace = rec.finish()
    before = {"items": [1, 2], "nested": {"k": [1, [2]]}, "tags": ["x"]}
    kw_span = trace.find("tool", name="kw")[0]
    assert kw_span.input == kw_span.output == before
    assert kw_span.attributes == {"one": before, "many": before}
    assert kw_span.events[0]["attributes"] == {"payload": before}
    handoff = trace.find("handoff")[0]
    assert handoff.context == {"plan": before} and handoff.input == before
    assert trace.find("delegation")[0].context == {"plan": before}
    assert trace.find("memory_write")[0].input == before
    assert trace.find("memory_read")[0].output == before


def test_the_snapshot_changes_nothing_else_in_the_trace() -> None:
    point = namedtuple("point", "x y")
    p = point(1, 2)
    long_list = list(range(1000))
    wide = {f"k{i}": [i] for i in range(300)}
    deep: Any = "leaf"
    for _ in range(20):
        deep = [deep]
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    odd = object()
    for value in (p, (1, [2]), long_list, wide, deep, cyclic, {1, 2, 3}, frozenset({4}), "s" * 5000, b"x", odd):
        assert clean(_snapshot(value, DEFAULT_LIMITS)) == clean(value), type(value)
    assert _snapshot(p, DEFAULT_LIMITS) is p  # nothing mutable inside: kept as it is
    assert _snapshot("text", DEFAULT_LIMITS) is not None and _snapshot(odd, DEFAULT_LIMITS) is odd
    small = Limits(max_items=3, max_depth=2)
    assert clean(_snapshot(wide, small), small) == clean(wide, small)
    assert clean(_snapshot(long_list, small), small) == clean(long_list, small)


# -- 2. names are strings in every trace ----------------------------------------------------------
def test_non_string_names_become_strings_and_the_trace_stays_valid() -> None:
    rec = Recorder("t")
    with rec.activate():
        with at.agent(123):  # type: ignore[arg-type]
            with at.tool(None) as missing:  # type: ignore[arg-type]
                pass
            with at.llm(Path("/x/y")):  # type: ignore[arg-type]
                pass
            with at.handoff(to=42, from_agent=7):  # type: ignore[arg-type]
                pass
            with at.delegate(to=5), at.wait(on=6), at.memory_read(8), at.span("custom", 9) as s:  # type: ignore[arg-type]
                s.add_event(10).set_version(11, 12)  # type: ignore[arg-type]
        with rec.agent(b"bytes"), rec.tool(3.5):  # type: ignore[arg-type]
            pass
    assert missing is NOOP  # the module-level API never raises because of recording
    trace = rec.finish()
    validate_trace_dict(trace.to_dict())
    for s in trace.spans:
        assert type(s.name) is str and (s.agent is None or type(s.agent) is str), s
    agent, llm, handoff = trace.spans[:3]
    assert (agent.name, agent.agent, llm.name, llm.agent) == ("123", "123", "/x/y", "123")
    assert handoff.name == "42" and handoff.attributes["to_agent"] == "42" and handoff.attributes["from_agent"] == "7"
    assert trace.find("wait")[0].attributes["waiting_on"] == "6"
    assert trace.find("memory_read")[0].attributes["key"] == "8"
    custom = trace.find("custom")[0]
    assert custom.events[0]["name"] == "10" and custom.versions["11"] == "12"
    assert [s.name for s in trace.spans[-2:]] == ["b'bytes'", "3.5"]


def test_the_recorder_api_refuses_a_none_name() -> None:
    rec = Recorder("t")
    with pytest.raises(at.UsageError, match="must be a string, not None"):
        rec.tool(None)  # type: ignore[arg-type]
    with pytest.raises(at.UsageError, match="must be a string, not None"):
        rec.handoff(to=None)  # type: ignore[arg-type]
    assert rec.finish().spans == ()


def test_fixture_api_with_non_string_names_saves_a_valid_trace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest_agenttrace as at

        def test_names(agenttrace, agenttrace_snapshot):
            with agenttrace.agent(123):
                with at.tool(None), at.llm(3.5):
                    pass
                with agenttrace.handoff(to=42, context={"k": {1, 2}}):
                    pass
            assert agenttrace.trace == agenttrace_snapshot
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--agenttrace-save", "--snapshot-update", "-rA")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("-p", "no:cacheprovider", "--agenttrace-save")
    result.assert_outcomes(passed=1)
    (saved,) = (pytester.path / ".agenttrace").glob("*.json")
    trace = at.load_trace(saved)
    assert [(s.name, s.agent) for s in trace.spans] == [("123", "123"), ("3.5", "123"), ("42", "123")]


# -- 3. an exception whose str() fails passes through unchanged ------------------------------------
class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


@pytest.mark.parametrize("api", ["module", "recorder", "end", "set_status"])
def test_an_exception_with_a_broken_str_passes_through_unchanged(api: str) -> None:
    rec = Recorder("t")
    cause = ValueError("cause")
    with rec.activate(), pytest.raises(BadStr) as info:
        try:
            raise cause
        except ValueError as exc:
            error = BadStr()
            if api == "module":
                with at.tool("t"):
                    raise error from exc
            elif api == "recorder":
                with rec.tool("t"):
                    raise error from exc
            else:
                handle = rec.tool("t")
                try:
                    raise error from exc
                except BadStr as raised:
                    if api == "end":
                        handle.end(raised)
                    else:
                        handle.set_status("error", raised).end()
                    raise
    assert info.value is error and info.value.__cause__ is cause and info.value.__context__ is cause
    assert info.traceback[-1].name == "test_an_exception_with_a_broken_str_passes_through_unchanged"
    (span,) = rec.finish().spans
    assert span.status == "error" and span.error is not None
    assert span.error["type"].endswith("BadStr") and span.error["message"] == "<exception str() failed>"


# -- 4. a handle exiting elsewhere does not clobber another recording's current span ---------------
def _stream() -> Iterator[int]:
    with at.llm("stream"):
        yield 1
        yield 2


def test_a_generator_closed_during_another_recording_leaves_its_nesting_alone() -> None:
    contextvars.copy_context().run(_generator_closed_during_another_recording)  # leaks nothing into later tests


def _generator_closed_during_another_recording() -> None:
    first = Recorder("a")
    with first.activate():
        gen = _stream()
        next(gen)  # left open mid-stream: the test "failed"
    first.finish()
    second = Recorder("b")
    with second.activate(), at.agent("b"):
        gen.close()  # what the garbage collector does to it later
        with at.tool("child"):
            pass
    trace = second.finish()
    assert trace.find("tool", name="child")[0].parent_id == trace.find("agent")[0].span_id
    assert at.current_span() is None  # the finished recording's span left open is not brought back
    direct = Recorder("direct")  # a recorder used directly (not active) still records, as a root
    assert direct.start_span("tool", "x").parent_id is None


def test_a_stale_span_of_a_finished_recording_does_not_stop_a_direct_recorder() -> None:
    def run() -> None:
        old = Recorder("old")
        stale = old.start_span("agent", "left open")
        stale.__enter__()  # current here, and never exited
        old.finish()
        direct = Recorder("direct")
        assert direct.start_span("tool", "x").parent_id is None
        assert direct.tool("y").parent_id is None

    contextvars.copy_context().run(run)


def test_a_generator_closed_by_gc_in_a_later_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import gc
        import pytest_agenttrace as at

        def stream():
            with at.llm("stream"):
                yield 1
                yield 2

        class Holder: pass

        def test_a(agenttrace):
            h = Holder(); h.self = h
            h.g = stream(); next(h.g)
            assert False, "agent failed mid-stream"

        def test_b(agenttrace):
            with at.agent("b"):
                gc.collect()
                with at.tool("child"):
                    pass
            assert agenttrace.trace.find("tool", name="child")[0].parent_id is not None
        """
    )
    # In a subprocess: in process, the failure report keeps test_a's frame (and the generator) alive.
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1, failed=1)


def test_exiting_in_another_context_still_restores_the_parent() -> None:
    from pytest_agenttrace.recorder import _CURRENT

    def run() -> None:
        rec = Recorder("t")
        with rec.activate(), at.agent("outer") as outer:
            inner = at.tool("inner")
            contextvars.copy_context().run(inner.__enter__)  # its token belongs to a copy of this context
            _CURRENT.set(inner)  # current here too (as a task's span seen from another task)
            inner.__exit__(None, None, None)  # reset fails (wrong context): the parent becomes current
            assert at.current_span() is outer
        rec.finish()

    contextvars.copy_context().run(run)


# -- 5. threads outliving their test record into no other test -------------------------------------
@pytest.mark.parametrize("providers", [False, True])
def test_a_thread_outliving_its_recording_records_nothing_into_the_next(
    providers: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_agenttrace import recorder as recorder_module

    if providers:  # with a framework adapter's parent lookup installed, as with capture on
        monkeypatch.setattr(recorder_module, "_PARENT_PROVIDERS", [lambda rec: None])
    go, done = threading.Event(), threading.Event()
    handles: list[object] = []

    def work() -> None:
        with at.tool("long"):
            go.wait(5)
            for make in (lambda: at.llm("late"), lambda: at.agent("late"), lambda: at.delegate(to="x")):
                with make() as h:
                    handles.append(h)
        done.set()

    first = Recorder("first")
    with first.activate():
        thread = threading.Thread(target=at.propagate(work))
        thread.start()
    first_trace = first.finish()
    second = Recorder("second")
    with second.activate():
        go.set()
        assert done.wait(5)
        with at.tool("next_body"):
            pass
    thread.join(5)
    assert handles == [NOOP, NOOP, NOOP]
    assert [s.name for s in second.finish().spans] == ["next_body"]
    assert [s.name for s in first_trace.spans] == ["long"]


def test_a_thread_outliving_its_test_in_pytest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import threading, time
        import pytest_agenttrace as at

        state = {}

        def test_thread_running_at_end(agenttrace):
            go, done = threading.Event(), threading.Event()
            def work():
                with at.tool("long"):
                    go.wait(5)
                    with at.llm("after_finish"):
                        pass
                done.set()
            t = threading.Thread(target=at.propagate(work)); t.start()
            state["t"] = (t, go, done)

        def test_next(agenttrace):
            t, go, done = state["t"]
            go.set(); assert done.wait(5)
            with at.tool("next_body"):
                pass
            assert [s.name for s in agenttrace.trace.spans] == ["next_body"]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


# -- 6. a mid-run trace sees every change ----------------------------------------------------------
def test_mid_run_trace_sees_changes_that_keep_the_span_counts() -> None:
    rec = Recorder("t")
    with rec.activate(), at.tool("t") as t:
        assert rec.trace.spans[0].output is None
        t.set_output("changed")
        assert rec.trace.spans[0].output == "changed"
        t.set_input([1]).set_attribute("k", 1)
        assert rec.trace.spans[0].input == [1] and rec.trace.spans[0].attributes == {"k": 1}
        t.set_status("error", {"type": "E", "message": "m"})
        assert rec.trace.spans[0].status == "error"
        t.set_usage(input_tokens=3).set_confidence(0.5).set_context({"c": 1}).set_version("v", "1")
        t.link("1").add_event("e")
        span = rec.trace.spans[0]
        assert span.attributes["usage"] == {"input_tokens": 3} and span.context == {"c": 1}
        assert span.versions == {"v": "1"} and span.links == ["1"] and span.events[0]["name"] == "e"
        rec.stamp("prompt:p", "p@v1")
        assert rec.trace.versions == {"prompt:p": "p@v1", "v": "1"}
        same = rec.trace
        assert rec.trace is same  # unchanged: the cached snapshot
    rec.finish()


def test_a_generator_left_open_inside_a_span_does_not_capture_later_spans() -> None:
    # A stream consumed halfway keeps its span open; the enclosing span's exit still restores the
    # context, so the next agent is a root, not a child of the abandoned stream.
    rec = Recorder("stream")

    def stream() -> Iterator[int]:
        with at.tool("stream"):
            yield 1
            yield 2

    with rec.activate():
        with at.agent("a"):
            generator = stream()
            next(generator)
        with at.agent("b"):
            pass
    spans = {s.name: s for s in rec.finish().spans}
    assert spans["stream"].parent_id == spans["a"].span_id
    assert spans["b"].parent_id is None
    generator.close()


def test_a_recording_finished_inside_its_own_span_leaves_the_outer_one_recording() -> None:
    outer = Recorder("outer")
    with outer.activate():
        sub = Recorder("sub")
        with sub.activate(), at.tool("sub-step"):
            sub.finish()  # inside its last span
            handle = at.tool("after-sub")
            assert type(handle) is SpanHandle
            handle.end()
        at.tool("later").end()
    assert [s.name for s in outer.finish().spans] == ["after-sub", "later"]


# -- @traced on generator functions (a streamed answer) -----------------------------------------


@at.traced(kind="llm")
def _traced_stream(n: int) -> Iterator[str]:
    with at.tool("fetch"):
        yield "a"
        with at.tool("inner"):  # resumed inside "fetch": nests there
            pass
        yield "b"
    for i in range(n):
        yield str(i)
    return "done"  # type: ignore[misc]


def test_a_traced_generator_spans_its_items_and_leaves_the_consumer_s_spans_alone() -> None:
    rec = Recorder("stream")
    with rec.activate(), at.agent("consumer"):
        got = []
        for item in _traced_stream(2):
            got.append(item)
            with at.tool(f"between-{item}"):  # the consumer's own work between items
                pass
    assert got == ["a", "b", "0", "1"]
    spans = {s.name: s for s in rec.finish().spans}
    consumer, stream = spans["consumer"], spans["_traced_stream"]
    assert stream.parent_id == consumer.span_id and stream.kind == "llm"
    assert spans["fetch"].parent_id == stream.span_id
    assert spans["inner"].parent_id == spans["fetch"].span_id
    assert {spans[f"between-{i}"].parent_id for i in "ab01"} == {consumer.span_id}
    assert stream.status == "ok" and stream.input == {"n": 2} and stream.output == "done"
    assert stream.end_ns >= spans["between-1"].start_ns  # it lasted until the last item was taken


def test_a_traced_generator_passes_sends_throws_close_and_errors_through() -> None:
    @at.traced
    def echo() -> Iterator[Any]:
        received = None
        while True:
            try:
                received = yield received
            except KeyError:
                received = "recovered"

    class Boom(Exception):
        pass

    @at.traced
    def failing() -> Iterator[int]:
        yield 1
        raise Boom("stream broke")

    rec = Recorder("protocol")
    with rec.activate():
        gen = echo()
        assert next(gen) is None and gen.send("x") == "x"
        assert gen.throw(KeyError("k")) == "recovered"
        gen.close()
        broken = failing()
        assert next(broken) == 1
        with pytest.raises(Boom) as caught:
            next(broken)
    assert str(caught.value) == "stream broke"
    spans = {s.name: s for s in rec.finish().spans}
    assert spans["echo"].status == "ok" and spans["echo"].end_ns is not None  # closed early: not an error
    assert spans["failing"].status == "error" and spans["failing"].error["message"] == "stream broke"
    # With nothing recording, the same protocol works unchanged.
    gen = echo()
    assert next(gen) is None and gen.send(3) == 3 and gen.throw(KeyError("k")) == "recovered"
    gen.close()


def test_a_traced_async_generator_spans_its_items() -> None:
    import asyncio

    @at.traced(kind="llm")
    async def astream() -> Any:
        with at.tool("fetch"):
            yield 1
            yield 2
        sent = yield 3
        yield sent

    async def consume() -> list[Any]:
        out = []
        agen = astream()
        out.append(await agen.__anext__())
        with at.tool("between"):
            pass
        out.append(await agen.__anext__())
        out.append(await agen.__anext__())
        out.append(await agen.asend("hello"))
        with pytest.raises(StopAsyncIteration):
            await agen.__anext__()
        return out

    rec = Recorder("astream")
    with rec.activate(), at.agent("consumer"):
        assert asyncio.run(consume()) == [1, 2, 3, "hello"]
    spans = {s.name: s for s in rec.finish().spans}
    assert spans["astream"].parent_id == spans["consumer"].span_id and spans["astream"].status == "ok"
    assert spans["fetch"].parent_id == spans["astream"].span_id
    assert spans["between"].parent_id == spans["consumer"].span_id
    assert asyncio.run(_drain(astream())) == [1, 2, 3, None]  # nothing recording: unchanged


async def _drain(agen: Any) -> list[Any]:
    return [item async for item in agen]


def test_a_span_ended_in_another_task_leaves_that_task_s_current_span_alone() -> None:
    import asyncio

    rec = Recorder("tasks")
    with rec, at.span("custom", "root"):
        entered = at.span("custom", "s")
        entered.__enter__()  # entered here (a framework's start hook), ended in another task

        async def other_task() -> None:
            with at.span("custom", "b"):
                entered.__exit__(None, None, None)
                with at.span("custom", "c"):
                    pass

        asyncio.run(other_task())
    names = {s.span_id: s.name for s in rec.finish().spans}
    assert {s.name: names.get(s.parent_id) for s in rec.trace.spans}["c"] == "b"


def test_traced_generator_edges_bad_arguments_shutdown_and_early_close() -> None:
    import asyncio

    @at.traced
    def numbers(limit: int) -> Iterator[int]:
        with at.tool("inside"):
            yield from range(limit)

    @at.traced
    async def body() -> Any:
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0.001)

    loop_errors: list[Any] = []
    kept: list[Any] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        agen = body()
        kept.append(agen)  # still open when the loop shuts down: the loop closes it
        await agen.__anext__()

    rec = Recorder("edges")
    with rec.activate():
        with pytest.raises(TypeError):
            next(numbers(1, 2))  # type: ignore[call-arg]
        stream = numbers(5)
        assert next(stream) == 0
        stream.close()  # the consumer stopped early
        asyncio.run(main())
    assert [(c.get("message"), repr(c.get("exception"))) for c in loop_errors] == []
    spans = rec.finish().spans
    assert [(s.name, s.status) for s in spans] == [("numbers", "ok"), ("inside", "ok"), ("body", "ok")]


# -- building the trace: short text passed over, the collector paused ------------------------------
def test_short_text_inputs_and_outputs_are_kept_capped_and_escaped_as_clean_does() -> None:
    """The build skips ``clean()`` for short ASCII text only: what it would return unchanged."""
    values = ["ok", "", "abcdefg", "abcdefgh", "caf\u00e9", "\ud800x", "x" * 9]
    for limits in (DEFAULT_LIMITS, Limits(max_string=3), Limits(max_string=7), Limits(redact=False)):
        rec = Recorder("t", limits=limits)
        with rec.activate():
            for value in values:
                with rec.tool("t", input=value) as span:
                    span.set_output(value)
        trace = rec.finish()
        for value, span in zip(values, trace.spans, strict=True):
            assert span.input == clean(value, limits) == span.output, (value, limits)


def test_the_collector_is_paused_for_the_final_build_only_and_restored_after() -> None:
    """The finish pauses it (the finalizers map, the build freezes); a snapshot taken while the
    agent runs does not touch the process-wide setting."""
    import gc

    seen: list[bool] = []
    rec = Recorder("t")
    rec.add_finalizer(lambda: seen.append(gc.isenabled()))
    with rec.activate(), rec.tool("t"):
        pass
    assert gc.isenabled()
    assert len(rec.trace.spans) == 1  # a snapshot runs the finalizers too
    rec.finish()
    assert seen == [True, False] and gc.isenabled()


def test_a_collector_the_program_switched_off_stays_off_after_the_build() -> None:
    import gc

    seen: list[bool] = []
    rec = Recorder("t")
    rec.add_finalizer(lambda: seen.append(gc.isenabled()))
    with rec.activate(), rec.tool("t"):
        pass
    gc.disable()
    try:
        rec.finish()
        assert not gc.isenabled() and seen == [False]
    finally:
        gc.enable()


def test_a_failing_finalizer_does_not_leave_the_collector_paused() -> None:
    import gc

    rec = Recorder("t")

    def broken() -> None:
        raise RuntimeError("boom")

    rec.add_finalizer(broken)
    with rec.activate(), rec.tool("t"):
        pass
    trace = rec.finish()  # logged, not raised
    assert gc.isenabled() and len(trace.spans) == 1


def test_dict_inputs_and_outputs_are_built_as_clean_makes_them() -> None:
    """The build asks clean()'s flat-dict look directly for a span's dict input and output."""
    values: list[dict[Any, Any]] = [
        {"q": "x03-000123"},  # learned key, short text
        {"q": "sk-proj-" + "a" * 40},  # learned key, a secret value
        {"q": "y" * 5000},  # learned key, capped text
        {"q": float("inf"), "n": 3},
        {"brand_new_key_for_this_test": 1},  # not learned: the full pass
        {"api_key": "hunter2hunter2"},  # a secret key
        {1: "non-str key"},
        {"q": {"nested": [1, 2]}},
        {"q": "caf\u00e9 \ud800"},
    ]
    clean({"q": "x", "n": 1})  # learn the harmless keys, as earlier spans would have
    expected = [clean(value) for value in values]
    rec = Recorder("t")
    with rec.activate():
        for value in values:
            with rec.tool("t", input=value) as span:
                span.set_output(value)
    trace = rec.finish()
    for value, want, span in zip(values, expected, trace.spans, strict=True):
        assert span.input == want == span.output, value
        assert span.input is not value  # a copy: the caller's dict may change later
