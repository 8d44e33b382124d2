"""Live capture of OpenAI Agents SDK runs, driven offline by the SDK's own scripted model."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

pytest.importorskip("agents")

from agents import Agent, GuardrailFunctionOutput, InputGuardrail, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.tracing import custom_span

from pytest_agenttrace import recorder as native
from pytest_agenttrace.adapters import openai_agents
from pytest_agenttrace.adapters.openai_agents import map_span_data
from pytest_agenttrace.recorder import Recorder


@pytest.fixture(autouse=True)
def _installed() -> None:
    openai_agents.install()


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    with native.memory_read(f"order:{order_id}", value="shipped"):
        pass
    return f"order {order_id}: shipped"


@function_tool
def issue_refund(order_id: str) -> str:
    """Refund an order."""
    raise RuntimeError("refund service down")


def _no_injection(ctx: Any, agent: Any, user_input: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info={"checked": True}, tripwire_triggered=False)


def _support_agents(refund_attempts: int = 1) -> Agent[Any]:
    billing = Agent(
        name="billing",
        instructions="Handle billing.",
        tools=[lookup_order, issue_refund],
        model=ScriptedModel(
            [
                [function_call("lookup_order", {"order_id": "42"}, call_id="call_lookup")],
                *[
                    [function_call("issue_refund", {"order_id": "42"}, call_id=f"call_refund_{i}")]
                    for i in range(refund_attempts)
                ],
                [assistant_message("Refund could not be issued; escalated.")],
            ],
            emit_traces=True,
        ),
    )
    return Agent(
        name="triage",
        instructions="Route the customer.",
        handoffs=[billing],
        input_guardrails=[InputGuardrail(guardrail_function=_no_injection, name="no_injection")],
        model=ScriptedModel([[function_call("transfer_to_billing", {}, call_id="call_handoff")]], emit_traces=True),
    )


def _tree(rec: Recorder) -> list[str]:
    return [f"{'  ' * depth}{s.kind}:{s.name}@{s.agent}" for s, depth in rec.trace.walk()]


def test_two_agent_handoff_with_a_tool_and_a_failing_tool(agenttrace: Recorder) -> None:
    with agenttrace.agent("support_desk"):
        result = asyncio.run(Runner.run(_support_agents(), "Refund order 42"))
    assert result.final_output == "Refund could not be issued; escalated."
    assert _tree(agenttrace) == [
        "agent:support_desk@support_desk",
        "  custom:Agent workflow@support_desk",
        "    agent:triage@triage",
        "      guardrail:no_injection@triage",
        "      llm:generation@triage",
        "      handoff:billing@triage",
        "    agent:billing@billing",
        "      llm:generation@billing",
        "      tool:lookup_order@billing",
        "        memory_read:order:42@billing",
        "      llm:generation@billing",
        "      tool:issue_refund@billing",
        "      llm:generation@billing",
    ]
    trace = agenttrace.trace
    (handoff,) = trace.find("handoff")
    assert handoff.attributes["from_agent"] == "triage" and handoff.attributes["to_agent"] == "billing"
    assert handoff.to_agent == "billing" and handoff.context == {}
    lookup, refund = trace.find("tool")
    assert lookup.input == {"order_id": "42"} and lookup.output == "order 42: shipped" and lookup.status == "ok"
    assert refund.status == "error"
    assert refund.error is not None and "Error running tool" in refund.error["message"]
    (guardrail,) = trace.find("guardrail")
    assert guardrail.attributes["triggered"] is False
    assert all(s.end_ns >= s.start_ns for s in trace.spans)


def test_handoff_rules_and_detectors_work_on_captured_runs(agenttrace: Recorder) -> None:
    from pytest_agenttrace.spec.detectors import run_detector
    from pytest_agenttrace.spec.engine import check_trace

    asyncio.run(Runner.run(_support_agents(refund_attempts=4), "Refund order 42"))
    trace = agenttrace.trace
    spec = {
        "spec": "support",
        "rules": [
            {"id": "billing-needs-order", "handoff": {"from": "triage", "to": "billing", "requires": ["order_id"]}}
        ],
    }
    result = check_trace(trace, spec)
    assert [v.rule for v in result.violations] == ["billing-needs-order"]
    assert "order_id" in result.violations[0].message
    assert agenttrace.select("handoff[from_agent=triage][to_agent=billing]")
    storms = run_detector("retry_storm", trace, {"max_repeats": 3})
    assert len(storms) == 1 and "issue_refund" in str(storms[0])


def test_agent_as_tool_nests_under_a_delegation(agenttrace: Recorder) -> None:
    spanish = Agent(
        name="spanish", instructions="Translate.", model=ScriptedModel([[assistant_message("hola")]], emit_traces=True)
    )
    orchestrator = Agent(
        name="orchestrator",
        instructions="Use tools.",
        tools=[spanish.as_tool(tool_name="translate_es", tool_description="Translate to Spanish.")],
        model=ScriptedModel(
            [[function_call("translate_es", {"input": "hello"}, call_id="call_tr")], [assistant_message("done: hola")]],
            emit_traces=True,
        ),
    )
    asyncio.run(Runner.run(orchestrator, "translate hello"))
    assert _tree(agenttrace) == [
        "custom:Agent workflow@None",
        "  agent:orchestrator@orchestrator",
        "    llm:generation@orchestrator",
        "    tool:translate_es@orchestrator",
        "      delegation:spanish@orchestrator",
        "        agent:spanish@spanish",
        "          llm:generation@spanish",
        "    llm:generation@orchestrator",
    ]
    trace = agenttrace.trace
    (delegation,) = trace.delegations
    assert delegation.attributes["from_agent"] == "orchestrator" and delegation.attributes["to_agent"] == "spanish"
    assert delegation.context == {"input": {"input": "hello"}}
    (spanish_agent,) = trace.find("agent", name="spanish")
    assert spanish_agent.scope == delegation.span_id
    assert all(s.scope == delegation.span_id for s in trace.descendants(spanish_agent))


def test_custom_spans_and_native_spans_inside_sdk_spans(agenttrace: Recorder) -> None:
    from agents.tracing import trace as sdk_trace

    with sdk_trace("manual"), custom_span("plan", {"steps": 3}):
        with agenttrace.tool("native_inside"):
            pass
    (custom,) = agenttrace.trace.find("custom", name="plan")
    assert custom.attributes["data"] == {"steps": 3}
    (tool,) = agenttrace.trace.find("tool")
    assert tool.parent_id == custom.span_id


@pytest.mark.parametrize(
    ("data", "kind", "name", "attributes"),
    [
        (
            {"type": "agent", "name": "a", "tools": ["t"], "handoffs": [], "output_type": "str"},
            "agent",
            "a",
            {"tools": ["t"]},
        ),
        (
            {
                "type": "generation",
                "model": "gpt-x",
                "usage": {"input_tokens": 3, "output_tokens": 4},
                "input": [],
                "output": [],
            },
            "llm",
            "gpt-x",
            {"model": "gpt-x", "usage": {"input_tokens": 3, "output_tokens": 4}},
        ),
        (
            {"type": "response", "response_id": "r1", "usage": {"prompt_tokens": 1, "completion_tokens": 2}},
            "llm",
            "response",
            {"response_id": "r1", "usage": {"input_tokens": 1, "output_tokens": 2}},
        ),
        ({"type": "function", "name": "f", "input": '{"x": 1}', "output": "ok", "mcp_data": None}, "tool", "f", {}),
        ({"type": "handoff", "from_agent": "a", "to_agent": "b"}, "handoff", "b", {"from_agent": "a", "to_agent": "b"}),
        ({"type": "guardrail", "name": "g", "triggered": True}, "guardrail", "g", {"triggered": True}),
        ({"type": "custom", "name": "c", "data": {"k": "v"}}, "custom", "c", {"data": {"k": "v"}}),
        ({"type": "mcp_tools", "server": "fs", "result": ["read"]}, "custom", "mcp_tools", {"server": "fs"}),
        (
            {"type": "custom", "name": "task", "data": {"sdk_span_type": "task", "name": "Flow"}},
            "custom",
            "Flow",
            {"sdk_span_type": "task"},
        ),
        (
            {"type": "custom", "name": "turn", "data": {"sdk_span_type": "turn", "turn": 1, "agent_name": "a"}},
            None,
            "turn",
            {},
        ),
        ({"type": "something_new", "name": "n"}, "custom", "n", {"sdk_span_type": "something_new"}),
    ],
)
def test_map_span_data_table(data: dict[str, Any], kind: str | None, name: str, attributes: dict[str, Any]) -> None:
    mapped = map_span_data(data)
    assert (mapped.kind, mapped.name) == (kind, name)
    for key, value in attributes.items():
        assert mapped.attributes[key] == value
    if data["type"] == "function":
        assert mapped.input == {"x": 1}


def test_nothing_recorded_without_recorder_and_failures_are_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    result = asyncio.run(Runner.run(_support_agents(), "no recorder here"))
    assert result.final_output  # ran untouched with the processor installed

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("mapping bug")

    monkeypatch.setattr(openai_agents, "map_span_data", broken)
    monkeypatch.setattr(openai_agents, "_FILLERS", {})  # no fast path: every span goes through the mapping
    caplog.set_level(logging.WARNING, logger="pytest_agenttrace")
    rec = Recorder("broken")
    with rec:
        result = asyncio.run(Runner.run(_support_agents(), "Refund order 42"))
    assert result.final_output == "Refund could not be issued; escalated."
    trace = rec.finish()
    assert "could not record an Agents SDK span's data" in caplog.text
    # the spans are still there, without the data that could not be mapped
    assert {"agent", "tool", "handoff", "llm", "memory_read"} <= {s.kind for s in trace.spans}
    assert [s.name for s in trace.find("tool")] == ["lookup_order", "issue_refund"]
    assert all(s.input is None for s in trace.find("tool"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"q": "x"}', {"q": "x"}),
        ("123456789012345678901234567890", 123456789012345678901234567890),  # beyond 64 bits: json decides
        ("Infinity", float("inf")),
        ("not json", "not json"),
    ],
)
def test_tool_input_is_decoded_like_json_loads(text: str, expected: Any) -> None:
    assert map_span_data({"type": "function", "name": "f", "input": text}).input == expected


def test_captured_function_span_fields_match_map_span_data(agenttrace: Recorder) -> None:
    from agents.tracing import function_span, trace

    mcp = {"server": "files"}
    with trace("t"), function_span("read", input='{"path": "a.py"}') as span:
        span.span_data.mcp_data = mcp
        span.span_data.output = 42  # not text: exported as its str()
    (tool,) = agenttrace.trace.find("tool")
    expected = map_span_data(span.span_data.export())
    assert (
        (tool.name, tool.input, tool.output)
        == (expected.name, expected.input, expected.output)
        == (
            "read",
            {"path": "a.py"},
            "42",
        )
    )
    assert tool.attributes["mcp_data"] == expected.attributes["mcp_data"] == mcp


def test_an_explicit_parent_outside_the_recording_makes_a_root_not_a_child_of_the_current_span() -> None:
    from agents.tracing import agent_span
    from agents.tracing import trace as sdk_trace

    rec = Recorder("explicit-parent")
    with sdk_trace("wf"):
        outer = agent_span(name="pre")
        outer.start(mark_as_current=True)  # started before the recording: never in its trace
        with rec:
            with agent_span(name="A"):
                with custom_span("explicit", parent=outer):  # the caller names the parent: not A
                    pass
                with custom_span("implicit"):  # the SDK's current span is the parent: A
                    pass
                with agent_span(name="B", parent=outer):  # a recorded span under the unrecorded one
                    with custom_span("inner"):
                        pass
        outer.finish(reset_current=True)
    spans = {span.name: span for span in rec.trace.spans}
    assert "pre" not in spans
    assert spans["implicit"].parent_id == spans["A"].span_id
    assert spans["explicit"].parent_id is None  # its parent is not in the trace
    assert spans["B"].parent_id is None and spans["inner"].parent_id == spans["B"].span_id


def test_an_sdk_span_named_by_a_number_makes_a_valid_trace(tmp_path: Any) -> None:
    from agents.tracing import function_span
    from agents.tracing import trace as sdk_trace

    from pytest_agenttrace.store import load_trace, save_trace

    rec = Recorder("odd-name")  # the plugin installed the SDK's processor (capture "auto")
    with rec, sdk_trace("t"), function_span(name=123, input="{}"):  # type: ignore[arg-type]
        pass
    trace = rec.finish()
    assert [s.name for s in trace.spans] == ["123"]
    save_trace(trace, tmp_path / "t.json")
    load_trace(tmp_path / "t.json", validate=True)
