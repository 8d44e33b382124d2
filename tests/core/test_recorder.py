"""The recorder: nesting, inheritance, errors, crashes, misuse, propagation."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.recorder import NOOP, Recorder
from pytest_agenttrace.store import validate_trace_dict


def record(fn):  # type: ignore[no-untyped-def]
    rec = Recorder("t")
    with rec.activate():
        fn(rec)
    return rec.finish()


def test_spans_nest_and_inherit_agent_and_scope() -> None:
    def run(rec: Recorder) -> None:
        with rec.agent("orchestrator"):
            with rec.delegate(to="coder", allowed_tools=["edit_file"], context={"plan": "x"}, required_context=["plan"]):
                with rec.agent("coder"):
                    with rec.delegate(to="helper", allowed_tools=["read_file"]):
                        with at.tool("read_file", input={"path": "a.py"}) as t:
                            t.set_output("text")

    trace = record(run)
    _orch, deleg, coder, inner, tool = trace.spans
    assert [s.kind for s in trace.spans] == ["agent", "delegation", "agent", "delegation", "tool"]
    assert deleg.agent == "orchestrator" and deleg.scope is None
    assert deleg.attributes["from_agent"] == "orchestrator" and deleg.attributes["to_agent"] == "coder"
    assert deleg.context == {"plan": "x"} and deleg.attributes["required_context"] == ["plan"]
    assert coder.scope == deleg.span_id and coder.scope_path == [deleg.span_id]
    assert inner.agent == "coder" and inner.scope_path == [deleg.span_id]
    assert tool.agent == "coder"
    assert tool.scope == inner.span_id and tool.scope_path == [deleg.span_id, inner.span_id]
    assert tool.parent_id == inner.span_id and tool.input == {"path": "a.py"} and tool.output == "text"
    # read_file is not in the outer delegation's allowed_tools: scopes narrow, never widen.
    assert tool.attributes["out_of_scope"] is True
    assert trace.path_str(tool) == "agent:orchestrator > delegation:coder > agent:coder > delegation:helper > tool:read_file"


def test_exception_is_recorded_and_reraised_unchanged() -> None:
    error = KeyError("missing")
    rec = Recorder("t")
    with rec.activate(), pytest.raises(KeyError) as info:
        with rec.agent("a"):
            with rec.tool("lookup"):
                raise error
    assert info.value is error
    trace = rec.finish()
    assert [s.status for s in trace.spans] == ["error", "error"]
    assert trace.spans[1].error == {"type": "KeyError", "message": "'missing'"}


def test_custom_exception_type_is_qualified() -> None:
    class Boom(Exception):
        pass

    rec = Recorder("t")
    with rec.activate(), pytest.raises(Boom), rec.tool("x"):
        raise Boom("bad")
    err = rec.finish().spans[0].error
    assert err is not None and err["type"].endswith("Boom") and "." in err["type"]


def test_crash_leaves_open_spans_closed_and_valid() -> None:
    rec = Recorder("t")
    rec.activate().__enter__()
    rec.agent("a").__enter__()
    rec.tool("never-ends").__enter__()
    trace = rec.finish()
    assert {s.status for s in trace.spans} == {"error"}
    assert all(s.error and s.error["type"] == "Unfinished" for s in trace.spans)
    validate_trace_dict(trace.to_dict())
    assert at.active_recorder() is None


def test_asyncio_gather_keeps_parents() -> None:
    async def worker(n: int) -> None:
        with at.agent(f"w{n}"):
            await asyncio.sleep(0)
            with at.tool("search", input={"n": n}):
                await asyncio.sleep(0)

    async def main() -> None:
        with at.agent("orch"):
            await asyncio.gather(*(worker(n) for n in range(5)))

    rec = Recorder("t")
    with rec.activate():
        asyncio.run(main())
    trace = rec.finish()
    for tool in trace.find("tool"):
        parent = trace.parent(tool)
        assert parent is not None and parent.kind == "agent" and tool.agent == parent.name
        assert parent.name == f"w{tool.input['n']}"
        assert trace.parent(parent).name == "orch"  # type: ignore[union-attr]


def test_threads_keep_parents_with_propagate() -> None:
    def work(n: int) -> int:
        with at.tool("compute", input={"n": n}):
            return n * 2

    rec = Recorder("t")
    with rec.activate(), rec.agent("orch") as orch:
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(at.propagate(work), range(8))) == [n * 2 for n in range(8)]
    trace = rec.finish()
    tools = trace.find("tool")
    assert len(tools) == 8
    assert all(t.parent_id == orch.span_id and t.agent == "orch" for t in tools)


def test_threads_without_propagate_still_record_as_roots() -> None:
    rec = Recorder("t")
    with rec.activate(), rec.agent("orch"):
        thread = threading.Thread(target=lambda: at.tool("bare").__enter__().end())
        thread.start()
        thread.join()
    trace = rec.finish()
    (bare,) = trace.find("tool")
    assert bare.parent_id is None


def test_module_functions_are_noops_without_recorder() -> None:
    assert at.active_recorder() is None
    with at.tool("x", input=1) as handle:
        handle.set_output(2).set_attribute("a", 1).link("1")
    assert handle is NOOP
    assert not handle


def test_handle_setters_and_links() -> None:
    rec = Recorder("t")
    with rec.activate():
        with rec.llm("plan", model="m1") as llm:
            llm.set_usage(input_tokens=10, output_tokens=3).set_confidence(0.4)
            llm.add_event("retry", attempt=2)
        with rec.tool("use") as t:
            t.link(llm, llm.span_id)
    trace = rec.finish()
    first, second = trace.spans
    assert first.attributes == {"model": "m1", "usage": {"input_tokens": 10, "output_tokens": 3}, "confidence": 0.4}
    assert first.events[0]["name"] == "retry" and first.events[0]["attributes"] == {"attempt": 2}
    assert second.links == [first.span_id]


def test_memory_wait_handoff_shapes() -> None:
    rec = Recorder("t")
    with rec.activate(), rec.agent("a"):
        with rec.memory_write("plan", {"x": 1}, version=2, based_on_version=1, valid=False, confidence=0.2):
            pass
        with rec.memory_read("plan", version=2, value={"x": 1}):
            pass
        with rec.wait(on="b"):
            pass
        with rec.handoff(to="b", context={"k": None}):
            pass
    trace = rec.finish()
    write, read, wait, handoff = trace.spans[1:]
    assert write.attributes == {"key": "plan", "version": 2, "based_on_version": 1, "valid": False, "confidence": 0.2}
    assert write.input == {"x": 1} and read.output == {"x": 1}
    assert wait.attributes["waiting_on"] == "b"
    assert handoff.attributes == {"from_agent": "a", "to_agent": "b"} and handoff.context == {"k": None}


def test_ending_twice_is_a_usage_error() -> None:
    rec = Recorder("t")
    handle = rec.start_span("tool", "x")
    handle.end()
    with pytest.raises(at.UsageError, match="already ended"):
        handle.end()


def test_recording_after_finish_is_a_usage_error_but_instrumentation_is_silent() -> None:
    rec = Recorder("t")
    rec.finish()
    with pytest.raises(at.UsageError, match="has finished"):
        rec.tool("late")
    with pytest.raises(at.UsageError, match="has finished"):
        rec.activate().__enter__()
    assert at.tool("late") is NOOP  # agent code never raises because of recording


def test_unknown_kind_is_a_usage_error() -> None:
    with pytest.raises(at.UsageError, match="unknown span kind"):
        Recorder("t").span("bogus", "x")
    with pytest.raises(at.UsageError, match="unknown span kind"):
        at.traced(kind="bogus")


def test_nested_recorders_do_not_mix() -> None:
    outer = Recorder("outer")
    inner = Recorder("inner")
    with outer.activate(), at.agent("o"):
        with inner.activate(), at.agent("i"):
            pass
        with at.tool("after"):
            pass
    assert [s.name for s in inner.finish().spans] == ["i"]
    o_trace = outer.finish()
    assert [s.name for s in o_trace.spans] == ["o", "after"]
    assert o_trace.spans[1].parent_id == o_trace.spans[0].span_id


def test_traced_sync_and_async() -> None:
    @at.traced(kind="tool")
    def add(a: int, b: int = 2) -> int:
        return a + b

    @at.traced(kind="agent", name="planner")
    async def plan(goal: str) -> str:
        await asyncio.sleep(0.001)
        return add(1) and goal.upper()

    rec = Recorder("t")
    with rec.activate():
        assert asyncio.run(plan("x")) == "X"
    planner, tool = rec.finish().spans
    assert planner.kind == "agent" and planner.agent == "planner" and planner.input == {"goal": "x"}
    assert planner.output == "X" and planner.duration_ns >= 1_000_000  # the await is inside the span
    assert tool.name == "add" and tool.input == {"a": 1} and tool.output == 3 and tool.agent == "planner"


def test_traced_reraises() -> None:
    @at.traced
    def boom() -> None:
        raise RuntimeError("no")

    rec = Recorder("t")
    with rec.activate(), pytest.raises(RuntimeError, match="no"):
        boom()
    assert rec.finish().spans[0].status == "error"


def test_secrets_are_redacted_and_large_values_capped() -> None:
    rec = Recorder("t")
    with rec.activate():
        with rec.tool("call", input={"api_key": "abc", "q": "Authorization: Bearer abcdefghijklmnop"}) as t:
            t.set_output("x" * 10_000)
    span = rec.finish().spans[0]
    assert span.input == {"api_key": "[REDACTED]", "q": "Authorization: Bearer [REDACTED]"}
    assert len(span.output) < 4200 and "truncated 6000 of 10000 chars" in span.output


def test_trace_snapshot_during_recording_and_final() -> None:
    rec = Recorder("t")
    with rec.activate(), rec.agent("a"):
        with rec.tool("x"):
            pass
        mid = rec.trace
        assert len(mid) == 2 and mid.spans[0].status == "ok"
        assert rec.trace is mid  # cached while nothing changes
    final = rec.finish()
    assert rec.trace is final and rec.finish() is final


def test_stamps_are_on_spans_ended_after_them() -> None:
    rec = Recorder("t")
    with rec.activate():
        with rec.tool("before"):
            pass
        rec.stamp("prompt:p", "p@v1#00000000")
        with rec.tool("after") as t:
            t.set_version("model", "fake-1")
    before, after = rec.finish().spans
    assert before.versions == {}
    assert after.versions == {"prompt:p": "p@v1#00000000", "model": "fake-1"}


def test_start_span_with_explicit_parent_and_times() -> None:
    rec = Recorder("t")
    root = rec.start_span("agent", "a", start_ns=10)
    child = rec.start_span("custom", "c", parent_id=root.span_id, start_ns=20)
    child.end(end_ns=30)
    root.end(end_ns=40)
    a, c = rec.finish().spans
    assert (a.start_ns, a.end_ns, c.start_ns, c.end_ns) == (10, 40, 20, 30)
    assert c.parent_id == a.span_id and c.agent == "a"


def test_set_version_after_end_does_not_leak_onto_other_spans() -> None:
    rec = Recorder("t")
    rec.stamp("prompt:p", "p@v1#00000000")
    with rec.activate():
        with rec.tool("a"):
            pass
        with rec.tool("b") as b:
            pass
        b.set_version("model", "m2")
    a_span, b_span = rec.finish().spans
    assert "model" not in a_span.versions
    assert b_span.versions == {"prompt:p": "p@v1#00000000", "model": "m2"}


def test_secrets_in_names_agents_stamps_and_keys_are_redacted() -> None:
    # A tool named after the URL it fetched, a key as a dict key, a stamp that is a token: data too.
    key = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234"
    rec = Recorder("names")
    with rec:
        with rec.agent("a"):
            with rec.tool(f"GET https://x?api_key={key}") as tool:
                tool.set_attribute("headers", {key: "v", "plain": 1})
                tool.set_version("cfg", key)
                mid = rec.trace  # a snapshot while recording shows the same
            with rec.handoff(to="b", context={f"Bearer {key}": 1}):
                pass
        with rec.agent(key):
            pass
    for trace in (mid, rec.finish()):
        assert "ABCDEFGHIJKLMNOP" not in json.dumps(trace.to_dict())
    spans = rec.trace.spans
    assert spans[1].name == "GET https://x?api_key=[REDACTED]"
    assert spans[1].attributes["headers"] == {"[REDACTED]": "v", "plain": 1}
    assert spans[1].versions["cfg"] == "[REDACTED]" and rec.trace.versions["cfg"] == "[REDACTED]"
    assert spans[2].context == {"Bearer [REDACTED]": 1}
    assert (spans[3].name, spans[3].agent) == ("[REDACTED]", "[REDACTED]")
    # Ordinary names are the same objects: nothing was copied for them.
    assert spans[0].name == "a"


def test_open_spans_keep_their_own_stamps_and_no_raw_stamp_shows_mid_run() -> None:
    # Stamp sets were matched by id(): a set freed during the finish could lend its id, and its
    # redacted stamps, to the merged set of a span still open.  Mid-run, an open span showed the
    # recorder's stamps unredacted.
    rec = Recorder("stamps")
    rec.stamp("config:client", "Bearer abcdefghijklmnop")
    probe = rec.span("tool", "open_span")
    assert rec.trace.spans[0].versions == {"config:client": "Bearer [REDACTED]"}
    probe.end()
    for i in range(40):
        rec.span("tool", f"call{i}").set_version(f"cred{i}", f"Bearer tok{i:03d}abcdefgh")
        if i % 3 == 0:
            rec.span("tool", f"done{i}").set_version("m", f"m{i}").end()
    spans = {s.name: s for s in rec.finish().spans}
    for i in range(40):
        assert spans[f"call{i}"].versions[f"cred{i}"] == "Bearer [REDACTED]"
        assert set(spans[f"call{i}"].versions) == {"config:client", f"cred{i}"}
