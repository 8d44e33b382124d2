"""Message logs (Who&When, tau-bench / OpenAI chat) turned into span trees."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from pytest_agenttrace.adapters.importing import ImportLog, import_trace
from pytest_agenttrace.adapters.messages import STEP_NS, conversation_records, read_messages
from pytest_agenttrace.model import Trace
from pytest_agenttrace.store import validate_trace_dict

from .corpora import TAU_RUNS, who_and_when_files

WHO_AND_WHEN = who_and_when_files()


def test_the_whole_who_and_when_corpus_is_there() -> None:
    assert len([p for p in WHO_AND_WHEN if p.parent.name == "Hand-Crafted"]) == 58
    assert len([p for p in WHO_AND_WHEN if p.parent.name == "Algorithm-Generated"]) == 126


@pytest.mark.parametrize("path", WHO_AND_WHEN, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_who_and_when_run_imports(path: Path) -> None:
    data = json.loads(path.read_text())
    history = data["history"]
    trace = import_trace(path, "messages")
    assert isinstance(trace, Trace)
    validate_trace_dict(trace.to_dict(), where=str(path))

    # One top-level span per message, in message order, carrying its 0-based step.
    messages = [s for s in trace.spans if s.parent_id is None]
    assert [s.attributes["step"] for s in messages] == list(range(len(history)))
    assert [s.start_ns for s in messages] == [i * STEP_NS for i in range(len(history))]
    for message, span in zip(history, messages, strict=True):
        role, name = message["role"], message.get("name")
        if "(-> " in role:
            speaker, target = role.split(" (-> ")
            assert (span.kind, span.agent, span.name) == ("handoff", speaker, target.rstrip(")"))
            assert span.attributes["from_agent"] == speaker and span.attributes["to_agent"] == target.rstrip(")")
            assert span.context == {"instruction": message["content"]}
        elif "terminal" in (name or role).lower():
            assert span.kind == "tool" and span.name == (name or role)
        elif role == "human":
            assert (span.kind, span.agent) == ("custom", None)
        else:
            assert span.kind == "agent"
            assert span.agent == (name or role.split(" (")[0])
    # Every tool is run by an agent.
    assert all(s.agent for s in trace.spans if s.kind == "tool")
    assert trace.metadata["synthetic_times"] is True
    labels = trace.metadata["labels"]
    assert labels["mistake_step"] == int(data["mistake_step"])
    assert labels["mistake_agent"] == data["mistake_agent"]
    assert trace.trace_id == data["question_ID"]


@functools.cache
def tau_traces() -> tuple[Trace, ...]:
    result = import_trace(TAU_RUNS, "messages")
    assert isinstance(result, list)
    return tuple(result)


TAU_DATA = json.loads(TAU_RUNS.read_text()) if TAU_RUNS.exists() else []


def test_all_29_tau_runs_import() -> None:
    assert len(tau_traces()) == len(TAU_DATA) == 29


@pytest.mark.parametrize("position", range(len(TAU_DATA)), ids=lambda i: f"task-{TAU_DATA[i]['task_id']}")
def test_tau_run_tool_calls_become_llm_and_tool_spans(position: int) -> None:
    run = TAU_DATA[position]
    trace = tau_traces()[position]
    validate_trace_dict(trace.to_dict())
    assert trace.metadata["task_id"] == run["task_id"]

    calls = [call for m in run["traj"] if m["role"] == "assistant" for call in m.get("tool_calls") or ()]
    tools = trace.find("tool")
    assert [t.attributes["tool_call_id"] for t in tools] == [c["id"] for c in calls]
    results = {m["tool_call_id"]: m for m in run["traj"] if m["role"] == "tool"}
    for tool, call in zip(tools, calls, strict=True):
        assert tool.name == call["function"]["name"]
        assert tool.input == json.loads(call["function"]["arguments"])
        assert tool.agent == "assistant"
        [llm_id] = tool.links
        assert trace.span(llm_id).kind == "llm"
        result = results[call["id"]]
        assert tool.output == result["content"]
        assert tool.attributes["index"] == result["index"]
        assert (tool.status == "error") == result["content"].startswith("Error")
    assert len(trace.find("llm")) == sum(1 for m in run["traj"] if m["role"] == "assistant")


def test_magentic_one_ledger_and_actions_are_kept() -> None:
    path = next(p for p in WHO_AND_WHEN if p.parent.name == "Hand-Crafted" and p.stem == "1")
    trace = import_trace(path, "messages")
    assert isinstance(trace, Trace)
    flagged = [s.attributes["step"] for s in trace.spans if s.attributes.get("is_in_loop") is True]
    assert 13 in flagged
    ledger = trace.span("m13").attributes["ledger"]
    assert ledger["is_in_loop"] is True and ledger["next_speaker"] == "WebSurfer"
    action = trace.span("m12.action")
    assert (action.kind, action.name, action.parent_id, action.agent) == ("tool", "click", "m12", "WebSurfer")
    assert action.input == {"target": "NY Jidokwan Taekwondo"}
    assert trace.span("m4").links == ["m3"]  # WebSurfer read the orchestrator's instruction


def _records(messages: list[dict[str, Any]]) -> dict[str, Any]:
    records = conversation_records(messages, ImportLog("test"))
    return {r.span_id: r for r in records}


@pytest.mark.parametrize(
    ("first_line", "tool", "arguments"),
    [
        ("I typed 'cheap flights' into the browser search bar.", "web_search", {"query": "cheap flights"}),
        ("I typed 'https://x.org' into the browser address bar.", "visit_url", {"url": "https://x.org"}),
        ("I typed 'Bob's bar' into 'Search'.", "input_text", {"text": "Bob's bar", "field": "Search"}),
        ("I clicked 'Next page'.", "click", {"target": "Next page"}),
        ("I clicked the control.", "click", {"target": "control"}),
        ("I clicked the browser back button.", "history_back", {}),
        ("I scrolled down one page in the browser.", "page_down", {}),
        ("Address: file:///workspace/a.pdf", "open_file", {"path": "file:///workspace/a.pdf"}),
        # AG2's WebServing_Expert reports Bing searches and web pages the same way (Algorithm-Generated/108).
        ("Address: bing: Andrea Jung biography", "web_search", {"query": "Andrea Jung biography"}),
        ("Address: https://en.wikipedia.org/wiki/X", "visit_url", {"url": "https://en.wikipedia.org/wiki/X"}),
        ("Address: about:blank", "visit_url", {"url": "about:blank"}),
    ],
)
def test_web_and_file_surfer_actions(first_line: str, tool: str, arguments: dict[str, str]) -> None:
    records = _records([{"role": "WebSurfer", "content": f"{first_line}\n\nHere is a screenshot."}])
    action = records["m0.action"]
    assert (action.kind, action.name, action.input, action.parent_id) == ("tool", tool, arguments, "m0")


def test_a_plain_sentence_is_no_action() -> None:
    assert set(_records([{"role": "WebSurfer", "content": "The page says hello."}])) == {"m0"}


def test_terminal_output_links_the_code_and_records_failures() -> None:
    records = _records(
        [
            {"role": "assistant", "name": "Coder", "content": "Run this:\n```python\nprint(1/0)\n```"},
            {
                "role": "user",
                "name": "Computer_terminal",
                "content": "exitcode: 1 (execution failed)\nCode output: ZeroDivisionError",
            },
            {"role": "assistant", "name": "Coder", "content": "It failed."},
        ]
    )
    terminal = records["m1"]
    assert (terminal.kind, terminal.agent, terminal.status) == ("tool", "Coder", "error")
    assert terminal.input == {"code": "print(1/0)\n"}
    assert terminal.error == {"type": "exitcode 1", "message": "exitcode: 1 (execution failed)"}
    assert terminal.links == ["m0"]
    assert records["m2"].links == ["m1"]  # the next turn read the failed output


def test_bare_openai_messages_and_odd_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    messages = [
        {"role": "system", "content": "be nice"},
        "not a message",
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{bad"}}],
        },
        {"role": "tool", "tool_call_id": "c9", "content": "orphan"},
    ]
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(messages))
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace.adapters"):
        trace = import_trace(path)
    assert isinstance(trace, Trace)
    validate_trace_dict(trace.to_dict())
    assert trace.span("m2.call0").input == "{bad"
    assert trace.span("m3").kind == "tool"
    warnings = trace.metadata["import_warnings"]
    assert any("no role" in w for w in warnings)
    assert any("not JSON" in w for w in warnings)
    assert any("unknown tool_call_id 'c9'" in w for w in warnings)


def test_a_run_in_a_messages_key_is_read() -> None:
    [trace] = read_messages(
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}, "m.json"
    )
    assert [(s.kind, s.agent) for s in trace.spans] == [("custom", None), ("llm", "assistant")]


@pytest.mark.parametrize(
    ("step", "kept"),
    [("12", 12), (" 3 ", 3), ("²", "²"), ("1" * 5000, "1" * 4000), ("x", "x")],
    ids=["digits", "spaced", "superscript", "past-int-digit-limit", "word"],
)
def test_a_mistake_step_int_refuses_is_kept_as_text(step: str, kept: object) -> None:
    [trace] = read_messages({"history": [{"role": "user", "content": "hi"}], "mistake_step": step}, "w.json")
    shown = trace.metadata["labels"]["mistake_step"]
    assert shown == kept or (isinstance(shown, str) and shown.startswith(str(kept)))  # long text is capped


def test_a_ledger_answer_json_cannot_read_leaves_the_message_in() -> None:
    ledger = 'Updated Ledger: {"is_in_loop": {"answer": "\\x"}, "is_progress_being_made": {"answer": true}}'
    [trace] = read_messages({"history": [{"role": "Orchestrator (thought)", "content": ledger}]}, "w.json")
    [span] = trace.spans
    assert span.attributes["ledger"] == {"is_progress_being_made": True}
    assert "import_warnings" not in trace.metadata


def test_who_and_when_searches_are_web_searches_with_their_query() -> None:
    path = next(p for p in WHO_AND_WHEN if p.parent.name == "Algorithm-Generated" and p.stem == "108")
    trace = import_trace(path)
    assert isinstance(trace, Trace)
    searches = [span.input["query"] for span in trace.spans if span.name == "web_search"]
    assert len(searches) == 3 and len(set(searches)) == 3
    assert not [span for span in trace.spans if span.name == "open_file"]


def test_a_legacy_function_call_is_a_tool_call() -> None:
    records = _records(
        [
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {"role": "function", "name": "get_weather", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
        ]
    )
    call = records["m1.call0"]
    assert (call.kind, call.name, call.input, call.output) == ("tool", "get_weather", {"city": "Paris"}, "sunny")
    assert call.links == ["m1"] and records["m3"].links == ["m1.call0"]
    assert records["m1"].output["function_call"]["name"] == "get_weather"
    assert "m2" not in records  # the result is the call's output, not a second tool span


def test_a_message_without_a_role_is_kept_as_a_placeholder() -> None:
    [trace] = read_messages(
        {"messages": [1, {"content": "hi", "name": "bob"}, {"role": "user", "content": "x"}]}, "m.json"
    )
    by_id = {span.span_id: span for span in trace.spans}
    assert (by_id["m0"].name, by_id["m0"].output) == ("unknown", 1)
    assert (by_id["m1"].name, by_id["m1"].output) == ("bob", "hi")
    assert by_id["m2"].attributes["step"] == 2
    warnings = trace.metadata["import_warnings"]
    assert warnings == [f"message {n} has no role; imported as an 'unknown' placeholder" for n in (0, 1)]
    assert not any("skipped" in warning for warning in warnings)
