"""Recording never changes what the agent does: cases an audit of the recorder found.

Each test fails on the code before its fix: a traced call raising because the
recording finished meanwhile, values that cannot be copied, an async
generator's failing cleanup swallowed, an ended span put back as the current
one, a setter taken before the finish writing into a dict every finished span
shares, the span id table's lock waited for by a signal handler.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import unittest.mock
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import pytest_agenttrace as at
from pytest_agenttrace import UsageError
from pytest_agenttrace import recorder as recorder_module
from pytest_agenttrace.recorder import Recorder, _span_id


def _finish_during(call: Any) -> Any:
    """Run ``call`` in a thread (context propagated) and finish the recording while it runs; its result."""
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def body() -> Any:
        started.set()
        release.wait(5)
        return call()

    def run() -> None:
        try:
            outcome["value"] = wrapped()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            outcome["error"] = exc

    rec = Recorder("finished-meanwhile")
    with rec:
        wrapped = at.propagate(body)
        thread = threading.Thread(target=run)
        thread.start()
        started.wait(5)
    trace = rec.finish()
    release.set()
    thread.join(5)
    return outcome, trace


def test_a_traced_call_returns_its_value_when_the_recording_finished_meanwhile() -> None:
    @at.traced(kind="tool")
    def slow_tool(x: int) -> dict[str, int]:
        return {"v": x}

    outcome, trace = _finish_during(lambda: slow_tool(1))
    assert outcome == {"value": {"v": 1}}
    assert [s.name for s in trace.spans] == []  # started after the finish: in no trace


def test_a_traced_call_started_before_the_finish_returns_its_value_after_it() -> None:
    started, release = threading.Event(), threading.Event()

    @at.traced(kind="tool")
    def slow_tool(x: int) -> dict[str, int]:
        started.set()
        release.wait(5)
        return {"v": x}

    outcome: dict[str, Any] = {}
    rec = Recorder("finished-meanwhile")
    with rec:
        thread = threading.Thread(target=at.propagate(lambda: outcome.setdefault("value", slow_tool(1))))
        thread.start()
        started.wait(5)
    trace = rec.finish()
    release.set()
    thread.join(5)
    assert outcome == {"value": {"v": 1}}  # before the fix: UsageError from set_output on a finished span
    (span,) = trace.spans
    assert span.name == "slow_tool" and span.status == "error" and span.error is not None
    assert span.error["type"] == "Unfinished"


def test_an_async_traced_call_started_before_the_finish_returns_its_value_after_it() -> None:
    async def scenario() -> Any:
        release = asyncio.Event()

        @at.traced(kind="tool")
        async def slow_tool(x: int) -> int:
            await release.wait()
            return x + 1

        rec = Recorder("finished-meanwhile")
        with rec:
            task = asyncio.ensure_future(slow_tool(1))
            await asyncio.sleep(0)
        rec.finish()
        release.set()
        return await task

    assert asyncio.run(scenario()) == 2


class _BrokenList(list[int]):
    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("cannot iterate")


@pytest.mark.parametrize(
    "make",
    [lambda: unittest.mock.Mock(spec=dict), lambda: unittest.mock.Mock(spec=list), lambda: _BrokenList([1])],
    ids=["mock-dict", "mock-list", "list-subclass"],
)
def test_values_that_cannot_be_copied_are_returned_and_passed_unchanged(make: Any) -> None:
    value = make()

    @at.traced(kind="tool")
    def tool(arg: Any) -> Any:
        return arg

    rec = Recorder("uncopyable")
    with rec:
        assert tool(value) is value  # before the fix: TypeError/RuntimeError from recording the value
    (span,) = rec.finish().spans
    assert span.status == "ok" and span.end_ns is not None  # recorded, ended: no phantom "Unfinished" span
    if isinstance(value, unittest.mock.Mock):  # recorded by its type alone: the mock was asked nothing
        assert span.output == span.input["arg"] and span.output.startswith("<Mock spec=")
        assert value.mock_calls == []
    else:
        assert "could not be recorded" in str(span.input) and "could not be recorded" in str(span.output)


def test_a_traced_call_whose_arguments_cannot_be_read_is_still_recorded() -> None:
    @at.traced(kind="tool")
    def delete_db(target: Any) -> str:
        return "deleted"

    rec = Recorder("unreadable-arguments")
    with rec, unittest.mock.patch.object(recorder_module, "_snapshot_values", side_effect=RuntimeError("boom")):
        assert delete_db("db1") == "deleted"
    (span,) = rec.finish().spans
    assert (span.name, span.status) == ("delete_db", "ok")
    assert span.input == "…[agenttrace: the arguments could not be recorded: RuntimeError]"


def test_an_async_generator_whose_cleanup_fails_raises_from_aclose_as_without_tracing() -> None:
    async def stream() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            raise RuntimeError("cleanup failed")

    async def consume(gen: Any) -> str:
        await gen.__anext__()
        try:
            await gen.aclose()
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert asyncio.run(consume(stream())) == "cleanup failed"
    traced_stream = at.traced(kind="llm")(stream)
    assert asyncio.run(consume(traced_stream())) == "cleanup failed"  # before the fix: "no error"
    rec = Recorder("aclose")
    with rec:
        assert asyncio.run(consume(traced_stream())) == "cleanup failed"
    (span,) = rec.finish().spans
    assert span.status == "error" and span.error == {"type": "RuntimeError", "message": "cleanup failed"}


def test_a_span_closed_after_its_callers_span_does_not_bring_the_ended_one_back() -> None:
    def stream_answer() -> Iterator[str]:
        with at.llm("chat"):
            yield "Hel"
            yield "lo"

    def answer() -> str:
        with at.agent("writer"):
            tokens = stream_answer()
            first = next(tokens)
        return first + "".join(tokens)  # the llm span closes here, after writer ended

    rec = Recorder("out-of-order")
    with rec:
        with at.agent("orchestrator"):
            assert answer() == "Hello"
            assert at.current_span() is not None and at.current_span().name == "orchestrator"  # type: ignore[union-attr]
            with at.tool("save"):
                pass
        assert at.current_span() is None
    spans = {s.name: s for s in rec.finish().spans}
    assert spans["save"].parent_id == spans["orchestrator"].span_id  # not under the ended writer
    assert spans["chat"].parent_id == spans["writer"].span_id


def test_current_span_skips_an_ended_span_left_current() -> None:
    rec = Recorder("ended-current")
    with rec, at.agent("outer") as outer:
        inner = at.tool("inner").__enter__()
        inner.end()  # ended by hand, its ``with`` not left yet
        assert at.current_span() is outer
        inner.__exit__(None, None, None)


@pytest.mark.parametrize("setter", ["set_attribute", "set_attributes", "set_usage", "set_confidence", "set_output"])
def test_a_setter_taken_before_the_finish_refuses_after_it_and_shares_nothing(setter: str) -> None:
    arguments: dict[str, tuple[Any, ...]] = {
        "set_attribute": ("leaked", "from test_a"),
        "set_attributes": ({"leaked": 1},),
        "set_usage": (1, 2),
        "set_confidence": (0.5,),
        "set_output": ("late",),
    }
    rec = Recorder("a")
    with rec:
        handle = at.tool("t").__enter__()
        late = getattr(handle, setter)
        handle.__exit__(None, None, None)
    rec.finish()
    with pytest.raises(UsageError, match="belongs to a finished trace"):
        late(*arguments[setter])
    other = Recorder("b")
    with other, at.tool("unrelated"):
        pass
    (span,) = other.finish().spans
    assert span.attributes == {}  # before the fix: {'leaked': 'from test_a'} through the shared empty dict
    assert recorder_module._NO_ATTRIBUTES == {}


def test_the_span_id_table_never_waits_for_its_lock() -> None:
    # A signal handler or a finalizer recording a span while this thread grows the table (it holds the
    # lock) used to wait forever: now it makes its own id string.
    beyond = len(recorder_module._SPAN_IDS) + 10
    found: list[str] = []

    def holding_the_lock() -> None:  # as the interrupted frame of the same thread holds it
        if recorder_module._SPAN_IDS_LOCK.acquire(timeout=5):
            try:
                found.append(_span_id(beyond))  # before the fix: waits for itself, forever
            finally:
                recorder_module._SPAN_IDS_LOCK.release()

    worker = threading.Thread(target=holding_the_lock, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive() and found == [str(beyond)]
    assert _span_id(beyond) == str(beyond) and recorder_module._SPAN_IDS[beyond] == str(beyond)


def test_partials_and_callable_objects_can_be_traced() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    class AsyncTool:
        async def __call__(self, x: int) -> int:
            await asyncio.sleep(0)
            return x * 2

    plus_one = at.traced(kind="tool")(functools.partial(add, 1))
    doubled = at.traced(kind="tool")(AsyncTool())
    rec = Recorder("callables")
    with rec:
        assert plus_one(2) == 3
        assert asyncio.run(doubled(4)) == 8  # an async wrapper: the span lasts the awaited work
    spans = rec.finish().spans
    assert [(s.name, s.output) for s in spans] == [("add", 3), ("AsyncTool", 8)]
