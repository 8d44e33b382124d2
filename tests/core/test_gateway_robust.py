"""The tool gateway when recording cannot follow: a recording finished mid-call, arguments that
cannot be recorded, no recorder at all.  The tool's result and exceptions are the agent's, and a
delegation scope refuses a call whatever happens to its recording."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

import pytest_agenttrace as at
from pytest_agenttrace import recorder as _rec
from pytest_agenttrace.recorder import Recorder


class ClosedConnection(dict[str, Any]):
    """A dict-like handle whose contents cannot be read any more (recording its copy fails)."""

    def keys(self) -> Any:
        raise RuntimeError("connection closed")

    def __iter__(self) -> Any:
        raise RuntimeError("connection closed")


def _run_in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as exc:  # noqa: BLE001 - the test inspects whatever came out
            outcome["error"] = exc

    thread = threading.Thread(target=at.propagate(run))
    thread.start()
    return thread, outcome


# -- 1. the recording finishes while a call runs ------------------------------------------------


def test_a_call_running_when_the_recording_finishes_returns_its_result() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(x: int) -> int:
        started.set()
        release.wait(10)
        return x * 2

    tools = at.ToolGateway([slow])
    rec = Recorder("t")
    with rec:
        thread, outcome = _run_in_thread(lambda: tools.slow(3))
        assert started.wait(10)
    trace = rec.finish()
    release.set()
    thread.join(10)
    assert outcome == {"result": 6}  # not a UsageError about the finished span
    (span,) = trace.find("tool")
    assert span.output is None and span.status == "error"  # closed as unfinished; the late output went nowhere


def test_an_async_call_running_when_the_recording_finishes_returns_its_result() -> None:
    started, release = threading.Event(), threading.Event()

    async def slow(x: int) -> int:
        started.set()
        while not release.is_set():
            await asyncio.sleep(0.001)
        return x * 2

    tools = at.ToolGateway([slow])
    rec = Recorder("t")
    with rec:
        thread, outcome = _run_in_thread(lambda: asyncio.run(tools.slow(4)))
        assert started.wait(10)
    rec.finish()
    release.set()
    thread.join(10)
    assert outcome == {"result": 8}


def test_an_error_raised_after_the_recording_finished_passes_through_unchanged() -> None:
    started, release = threading.Event(), threading.Event()
    error = PermissionError("no access")

    def failing() -> None:
        started.set()
        release.wait(10)
        raise error

    tools = at.ToolGateway([failing])
    rec = Recorder("t")
    with rec:
        thread, outcome = _run_in_thread(tools.failing)
        assert started.wait(10)
    rec.finish()
    release.set()
    thread.join(10)
    assert outcome["error"] is error


class _FinishingGateway(at.ToolGateway):
    """Finishes the recording right after the scope check: between the span's start and its entry."""

    recording: Recorder

    def check_scope(self, name: str) -> tuple[bool, list[str], str | None]:
        verdict = super().check_scope(name)
        self.recording.finish()
        return verdict


@pytest.mark.parametrize("enforce", [False, True])
def test_a_recording_finished_before_the_call_starts_leaves_the_call_alone(enforce: bool) -> None:
    def search(q: str) -> str:
        return f"found {q}"

    tools = _FinishingGateway([search], enforce=enforce)
    tools.recording = rec = Recorder("t")
    with rec:
        with rec.delegate(to="r", allowed_tools=["fetch"]):
            if enforce:  # refused as the scope says, recorded or not
                with pytest.raises(at.ScopeViolation):
                    tools.search("x")
            else:
                assert tools.search("x") == "found x"


async def _async_search(q: str) -> str:
    await asyncio.sleep(0)
    return f"found {q}"


def test_an_async_call_whose_recording_finished_before_it_started_runs() -> None:
    tools = _FinishingGateway({"search": _async_search})
    tools.recording = rec = Recorder("t")
    with rec:
        assert asyncio.run(tools.search("x")) == "found x"


# -- 2. the scope check does not depend on recording --------------------------------------------


@pytest.mark.parametrize(
    "argument", [mock.Mock(spec=dict), ClosedConnection()], ids=["Mock(spec=dict)", "dict-unreadable"]
)
def test_enforcing_refuses_a_call_whose_arguments_cannot_be_recorded(argument: Any) -> None:
    deleted: list[Any] = []

    def delete_db(conn: Any) -> str:
        deleted.append(conn)
        return "deleted"

    def search(q: str) -> str:
        return q

    tools = at.ToolGateway([delete_db, search], enforce=True)
    rec = Recorder("t")
    with rec, rec.agent("boss"), rec.delegate(to="researcher", allowed_tools=["search"]), rec.agent("researcher"):
        with pytest.raises(at.ScopeViolation) as info:
            tools.delete_db(argument)
    assert deleted == []
    assert info.value.agent == "researcher" and info.value.allowed == ["search"]
    (span,) = rec.finish().find("tool")  # still recorded, its arguments in their cleaned form
    assert span.name == "delete_db" and span.status == "error"
    assert span.attributes["out_of_scope"] is True and span.attributes["refused"] is True
    assert set(span.input) == {"conn"}


def test_observe_mode_records_an_out_of_scope_call_whose_arguments_cannot_be_recorded() -> None:
    tools = at.ToolGateway({"delete_db": lambda conn: "deleted"})
    rec = Recorder("t")
    with rec, rec.delegate(to="r", allowed_tools=["search"]):
        assert tools.delete_db(ClosedConnection()) == "deleted"
    (span,) = rec.finish().find("tool")
    assert span.attributes["out_of_scope"] is True and span.output == "deleted"


def test_enforcing_refuses_a_call_that_could_not_be_recorded_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    deleted: list[str] = []
    tools = at.ToolGateway({"delete_db": deleted.append}, enforce=True)
    rec = Recorder("t")
    with rec, rec.agent("boss"), rec.delegate(to="researcher", allowed_tools=["search"]), rec.agent("researcher"):
        monkeypatch.setattr(_rec, "tool", lambda *args, **kwargs: _rec.NOOP)  # any failure to record
        with pytest.raises(at.ScopeViolation) as info:
            tools.delete_db("db1")
        with pytest.raises(at.ScopeViolation):
            asyncio.run(at.ToolGateway({"delete": _async_search}, enforce=True).delete("db1"))
    assert deleted == [] and info.value.agent == "researcher"


def test_arguments_that_cannot_be_recorded_as_they_are_are_recorded_cleaned_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    set_input = _rec.SpanHandle.set_input
    failures = iter([RuntimeError("cannot copy")])

    def failing_once(handle: Any, value: Any) -> Any:
        for failure in failures:
            raise failure
        return set_input(handle, value)

    monkeypatch.setattr(_rec.SpanHandle, "set_input", failing_once)
    tools = at.ToolGateway({"use": lambda conn, api_key: "ok"})
    rec = Recorder("t")
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace"), rec:
        assert tools.use(mock.MagicMock(spec=dict), api_key="sk-secret") == "ok"
    (span,) = rec.finish().find("tool")
    assert span.input == {"conn": "<MagicMock spec='dict'>", "api_key": "[REDACTED]"}
    assert any("could not record the arguments of tool 'use'" in r.getMessage() for r in caplog.records)


# -- 3. no recorder: the tool itself, nothing else ----------------------------------------------


def test_without_a_recorder_the_tool_is_called_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("recording work done with nothing recording")

    def add(x: int, y: int = 1) -> int:
        return x + y

    assert at.active_recorder() is None
    tools = at.ToolGateway({"add": add, "search": _async_search}, enforce=True)
    monkeypatch.setattr(_rec, "_bind", unexpected)  # binding the arguments is the costly part
    monkeypatch.setattr(_rec, "tool", unexpected)
    assert tools.add(1, y=2) == 3
    assert asyncio.run(tools.search("q")) == "found q"
    with pytest.raises(TypeError):  # the tool's own error for bad arguments, unchanged
        tools.add()
