"""The tool gateway with tools that are not ``async def`` but whose call makes a coroutine.

A plain function returning a coroutine, a lambda, a partial of an async callable: the tool's
work happens when the coroutine is awaited, so that is what its span must cover (its end, its
errors, the spans recorded inside it), and the coroutine must behave as the unwrapped one does.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.recorder import Recorder


async def _fetch(url: str, *, delay: float = 0.002) -> str:
    await asyncio.sleep(delay)
    with at.llm("summarize"):  # recorded while the tool runs: under the tool's span
        pass
    if url == "bad":
        raise LookupError("no such page")
    return url.upper()


def _fetch_later(url: str) -> Coroutine[Any, Any, str]:
    """A plain function handing back the coroutine that does the work."""
    return _fetch(url)


class _AsyncFetcher:
    async def __call__(self, url: str) -> str:
        return await _fetch(url)


SYNC_RETURNING_A_COROUTINE: dict[str, Callable[..., Any]] = {
    "function": _fetch_later,
    "lambda": lambda url: _fetch(url),
}


@pytest.mark.parametrize("tool", list(SYNC_RETURNING_A_COROUTINE.values()), ids=list(SYNC_RETURNING_A_COROUTINE))
def test_the_span_of_a_returned_coroutine_covers_its_await(tool: Callable[..., Any]) -> None:
    tools = at.ToolGateway({"fetch": tool})
    rec = Recorder("t")

    async def run() -> None:
        with at.agent("researcher") as agent:
            pending = tools.fetch("u")
            assert at.current_span() is agent  # the caller's current span is back at once
            assert await pending == "U"

    with rec:
        asyncio.run(run())
    trace = rec.finish()
    (call,) = trace.find("tool")
    (inner,) = trace.find("llm")
    assert (call.status, call.output, call.input) == ("ok", "U", {"url": "u"})
    assert call.end_ns - call.start_ns >= 2_000_000  # ended when the awaited work ended, not at the return
    assert inner.parent_id == call.span_id  # what the coroutine recorded nests under its call
    assert call.end_ns >= inner.end_ns


@pytest.mark.parametrize("tool", list(SYNC_RETURNING_A_COROUTINE.values()), ids=list(SYNC_RETURNING_A_COROUTINE))
def test_an_error_raised_in_a_returned_coroutine_is_recorded_and_reraised_unchanged(tool: Callable[..., Any]) -> None:
    tools = at.ToolGateway({"fetch": tool})
    rec = Recorder("t")
    raised: list[BaseException] = []

    async def run() -> None:
        try:
            await tools.fetch("bad")
        except LookupError as exc:
            raised.append(exc)

    with rec:
        asyncio.run(run())
    (call,) = rec.finish().find("tool")
    assert (call.status, call.error) == ("error", {"type": "LookupError", "message": "no such page"})
    assert type(raised[0]) is LookupError and str(raised[0]) == "no such page"


def test_a_returned_coroutine_runs_as_a_task_and_is_awaitable_only_once() -> None:
    tools = at.ToolGateway([_fetch_later])
    rec = Recorder("t")

    async def run() -> None:
        pending = tools._fetch_later("u")
        assert asyncio.iscoroutine(pending)  # still a coroutine: create_task and asyncio.run take it
        assert await asyncio.create_task(pending) == "U"
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            await pending

    with rec:
        asyncio.run(run())
    (call,) = rec.finish().find("tool")
    assert (call.status, call.output) == ("ok", "U")


def test_gathered_returned_coroutines_each_get_their_own_span() -> None:
    tools = at.ToolGateway([_fetch_later])
    rec = Recorder("t")

    async def run() -> list[str]:
        with at.agent("researcher"):
            return await asyncio.gather(tools._fetch_later("a"), tools._fetch_later("b"))

    with rec:
        assert asyncio.run(run()) == ["A", "B"]
    trace = rec.finish()
    calls = trace.find("tool")
    assert [c.output for c in calls] == ["A", "B"]
    assert sorted(s.parent_id for s in trace.find("llm")) == sorted(c.span_id for c in calls)


def _never_awaited_warnings(make: Callable[[], Any]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pending = make()
        del pending
        gc.collect()
    return [str(w.message) for w in caught]


def test_a_returned_coroutine_never_awaited_warns_as_the_tool_alone_would() -> None:
    tools = at.ToolGateway([_fetch_later])
    rec = Recorder("t")
    alone = _never_awaited_warnings(lambda: _fetch_later("u"))
    assert alone == ["coroutine '_fetch' was never awaited"]
    with rec:
        assert _never_awaited_warnings(lambda: tools._fetch_later("u")) == alone
    (call,) = rec.finish().find("tool")
    assert call.status == "error"  # the call never ran: not recorded as a success
    assert call.error is not None and "never awaited" in call.error["message"]


def test_a_returned_coroutine_closed_unawaited_stays_quiet_as_the_tool_alone_would() -> None:
    tools = at.ToolGateway([_fetch_later])

    def closed(make: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            pending = make()
            pending.close()
            return pending

        return run

    with Recorder("t"):
        assert _never_awaited_warnings(closed(lambda: tools._fetch_later("u"))) == []
    assert _never_awaited_warnings(closed(lambda: _fetch_later("u"))) == []


@pytest.mark.parametrize(
    "tool",
    [functools.partial(_fetch, delay=0.002), functools.partial(_AsyncFetcher())],
    ids=["partial-of-async-function", "partial-of-async-callable-object"],
)
def test_a_partial_of_an_async_callable_is_wrapped_as_async(tool: Callable[..., Any]) -> None:
    tools = at.ToolGateway({"fetch": tool})
    assert asyncio.iscoroutinefunction(tools.fetch)
    rec = Recorder("t")
    with rec:
        assert asyncio.run(tools.fetch("u")) == "U"
    (call,) = rec.finish().find("tool")
    assert (call.status, call.output) == ("ok", "U")
    assert call.end_ns - call.start_ns >= 2_000_000


def test_without_a_recorder_the_returned_coroutine_is_the_tools_own() -> None:
    tools = at.ToolGateway([_fetch_later])
    pending = tools._fetch_later("u")
    assert pending.cr_code is _fetch.__code__
    assert asyncio.run(pending) == "U"
