"""The tool gateway: recording, scope checks, enforce mode."""

from __future__ import annotations

import asyncio
import functools
import logging

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.recorder import Recorder


def web_search(query: str) -> list[str]:
    return [query]


async def fetch(url: str) -> str:
    await asyncio.sleep(0)
    return url.upper()


def read_db(table: str) -> str:
    raise PermissionError(f"no access to {table}")


def test_calls_are_recorded_with_agent_and_scope() -> None:
    tools = at.ToolGateway([web_search, fetch])
    rec = Recorder("t")
    with rec.activate(), rec.agent("boss"), rec.delegate(to="r", allowed_tools=["web_search", "fetch"]) as d:
        with rec.agent("r"):
            assert tools.web_search("q") == ["q"]
            assert asyncio.run(tools["fetch"]("u")) == "U"
    spans = rec.finish().find("tool")
    assert [(s.name, s.agent, s.scope, s.input, s.output) for s in spans] == [
        ("web_search", "r", d.span_id, {"query": "q"}, ["q"]),
        ("fetch", "r", d.span_id, {"url": "u"}, "U"),
    ]
    assert all("out_of_scope" not in s.attributes for s in spans)


def test_observe_mode_marks_out_of_scope_and_lets_the_call_through() -> None:
    tools = at.ToolGateway({"web_search": web_search})
    rec = Recorder("t")
    with rec.activate(), rec.delegate(to="r", allowed_tools=["fetch"]):
        assert tools.call("web_search", "q") == ["q"]
    (span,) = rec.finish().find("tool")
    assert span.attributes["out_of_scope"] is True and span.status == "ok"


def test_enforce_mode_refuses_and_records() -> None:
    tools = at.ToolGateway({"web_search": web_search}, enforce=True)
    rec = Recorder("t")
    with rec.activate(), rec.agent("boss"), rec.delegate(to="r", allowed_tools=["fetch", "web_search"]):
        with rec.delegate(to="sub", allowed_tools=["fetch"]) as inner, rec.agent("sub"):
            with pytest.raises(at.ScopeViolation) as info:
                tools.web_search("q")
    assert info.value.tool == "web_search" and info.value.allowed == ["fetch"]
    assert info.value.scope == inner.span_id
    assert f"outside delegation 'sub' (span {inner.span_id}, boss -> sub), which allows only ['fetch']" in str(
        info.value
    )
    (span,) = rec.finish().find("tool")
    assert span.status == "error" and span.attributes["refused"] is True


def test_delegation_without_allowed_tools_restricts_nothing() -> None:
    tools = at.ToolGateway({"web_search": web_search}, enforce=True)
    rec = Recorder("t")
    with rec.activate(), rec.delegate(to="r"):
        assert tools.web_search("q") == ["q"]


def test_tool_errors_pass_through_unchanged() -> None:
    tools = at.ToolGateway([read_db])
    rec = Recorder("t")
    with rec.activate(), pytest.raises(PermissionError, match="customers"):
        tools.read_db("customers")
    (span,) = rec.finish().spans
    assert span.error == {"type": "PermissionError", "message": "no access to customers"}


def test_gateway_works_without_a_recorder() -> None:
    tools = at.ToolGateway({"web_search": web_search}, enforce=True)
    assert tools.web_search("q") == ["q"]


def test_unknown_tool_names_the_registered_ones() -> None:
    tools = at.ToolGateway([web_search])
    with pytest.raises(AttributeError, match="web_search"):
        tools.nope  # noqa: B018
    with pytest.raises(KeyError, match="registered"):
        tools.call("nope")
    assert "web_search" in tools and list(tools) == ["web_search"]


def test_a_call_from_an_unpropagated_thread_is_allowed_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    from concurrent.futures import ThreadPoolExecutor

    tools = at.ToolGateway({"web_search": web_search}, enforce=True)
    rec = Recorder("t")
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace"):
        with rec.activate(), rec.delegate(to="r", allowed_tools=["fetch"]), ThreadPoolExecutor(1) as pool:
            # No current span in the worker thread: no scope applies there, so the call goes through...
            assert pool.submit(tools.web_search, "q").result() == ["q"]
            assert pool.submit(tools.web_search, "again").result() == ["again"]
            # ...and with the caller's context propagated it is refused as anywhere in the delegation.
            with pytest.raises(at.ScopeViolation):
                pool.submit(at.propagate(tools.web_search), "q").result()
    said = [r.getMessage() for r in caplog.records if "no current span" in r.getMessage()]
    assert len(said) == 1 and "'web_search'" in said[0] and "agenttrace.propagate" in said[0]


def test_no_warning_without_an_open_restricting_delegation(caplog: pytest.LogCaptureFixture) -> None:
    tools = at.ToolGateway({"web_search": web_search}, enforce=True)
    rec = Recorder("t")
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace"), rec.activate():
        with rec.delegate(to="r"):  # restricts nothing
            pass
        with rec.delegate(to="s", allowed_tools=["fetch"]):  # restricts, but ends before the call
            pass
        assert tools.web_search("top level") == ["top level"]
    assert not [r for r in caplog.records if "no current span" in r.getMessage()]


class AsyncSearch:
    """A tool object whose ``__call__`` is a coroutine function."""

    async def __call__(self, query: str) -> str:
        await asyncio.sleep(0.001)
        if query == "bad":
            raise LookupError("no results")
        return query.upper()


def test_a_tool_object_with_async_call_is_recorded_while_it_runs() -> None:
    tools = at.ToolGateway({"web_search": AsyncSearch()})
    assert asyncio.iscoroutinefunction(tools.web_search)
    rec = Recorder("t")

    async def run() -> None:
        assert await tools.web_search("q") == "Q"
        with pytest.raises(LookupError, match="no results"):
            await tools.web_search("bad")

    with rec.activate(), rec.agent("r"):
        asyncio.run(run())
    ok, failed = rec.finish().find("tool")
    assert (ok.status, ok.output) == ("ok", "Q")
    assert ok.end_ns - ok.start_ns >= 1_000_000  # the span covers the awaited call, not the coroutine's creation
    assert (failed.status, failed.error) == ("error", {"type": "LookupError", "message": "no results"})


class _Tools:
    def search(self, query: str) -> str:
        return query


class _Unnamed:
    def __call__(self) -> None:
        return None


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (_Tools(), r"got a _Tools object; for an object's methods, list them: ToolGateway\(\[obj\.search\]\)"),
        (functools.partial(web_search), r"got the callable functools\.partial.*name it in a mapping"),
        (web_search, r"got the function 'web_search'.*one tool, pass it in a list: ToolGateway\(\[web_search\]\)"),
        ("web_search", r"got the string 'web_search'.*ToolGateway\(\[web_search\]\)"),
        (b"x", r"got the bytes b'x'"),
        (3, r"got an int object; pass e\.g\. ToolGateway\(\[web_search\]\)"),
        ({"a": 3}, r"tool 'a' is not callable \(got int 3\)"),
        ({1: web_search}, r"tool names are strings, got 1 \(int\)"),
        ({"": web_search}, r"tool names are strings, got '' "),
        ([web_search, 3], r"^3 \(an int\) is not callable, so it cannot be a tool"),
        ([_Unnamed()], r"tool <.*_Unnamed object at .*> has no __name__; name it in a mapping"),
    ],
    ids=[
        "object",
        "partial",
        "function",
        "str",
        "bytes",
        "int",
        "mapping-value",
        "mapping-key",
        "empty-key",
        "item",
        "unnamed",
    ],
)
def test_a_gateway_refuses_what_is_not_tools_at_construction(tools: object, message: str) -> None:
    with pytest.raises(at.UsageError, match=message) as raised:
        at.ToolGateway(tools)  # type: ignore[arg-type]
    assert "\n" not in str(raised.value)  # one message, not a traceback's worth


@pytest.mark.parametrize("fn", [3, None, "web_search"])
def test_register_refuses_a_non_callable(fn: object) -> None:
    with pytest.raises(at.UsageError, match="is not callable"):
        at.ToolGateway().register(fn, name="t")  # type: ignore[arg-type]


def test_a_gateway_accepts_mappings_iterables_and_generators() -> None:
    assert at.ToolGateway({"search": web_search}).names == ["search"]
    assert at.ToolGateway(f for f in [web_search, fetch]).names == ["web_search", "fetch"]
    obj = _Tools()
    assert at.ToolGateway([obj.search]).search("q") == "q"
