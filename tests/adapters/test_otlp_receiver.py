"""The OTLP/HTTP receiver: a sub-agent in another process lands under its delegation."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from pytest_agenttrace.adapters.otel import OTLPReceiver, inject, otlp_receiver
from pytest_agenttrace.recorder import Recorder

# A sub-agent process using only the standard OpenTelemetry SDK and OTLP exporter:
# it reads the W3C trace context from TRACEPARENT/BAGGAGE and exports over OTLP/HTTP.
CHILD = textwrap.dedent(
    """
    import os, sys
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": os.environ["TRACEPARENT"], "baggage": os.environ.get("BAGGAGE", "")}
    ctx = W3CBaggagePropagator().extract(carrier, TraceContextTextMapPropagator().extract(carrier))
    provider = TracerProvider(resource=Resource.create({"service.name": "research-service"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint from the environment
    tracer = provider.get_tracer("subagent")
    with tracer.start_as_current_span(
        "invoke_agent researcher", context=ctx,
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"},
    ):
        with tracer.start_as_current_span(
            "chat small-model",
            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "small-model",
                        "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 5},
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool web_search",
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "web_search",
                        "gen_ai.tool.call.id": "call_7"},
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool fetch_page",
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch_page"},
        ) as failing:
            failing.set_status(Status(StatusCode.ERROR, "timeout after 5s"))
    provider.shutdown()
    """
)


def _run_child(env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "subagent.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_subprocess_agent_lands_under_its_delegation(agenttrace: Recorder, tmp_path: Path) -> None:
    with agenttrace.agent("orchestrator"), agenttrace.otlp_receiver() as receiver:
        with agenttrace.delegate("researcher", objective="find sources", allowed_tools=["web_search"]) as delegation:
            _run_child(receiver.env(), tmp_path)
    trace = agenttrace.trace
    (sub_agent,) = trace.find("agent", name="researcher")
    assert sub_agent.parent_id == delegation.span_id
    assert sub_agent.scope == delegation.span_id
    assert sub_agent.attributes["service"] == "research-service"
    tools = trace.find("tool")
    assert [t.name for t in tools] == ["web_search", "fetch_page"]
    for span in [*tools, *trace.find("llm")]:
        assert span.parent_id == sub_agent.span_id
        assert span.agent == "researcher"
        assert span.scope == delegation.span_id
        assert span.scope_path == [delegation.span_id]
    assert tools[0].attributes["tool_call_id"] == "call_7"
    assert tools[1].status == "error" and "timeout" in tools[1].error["message"]
    (llm,) = trace.find("llm")
    assert llm.attributes["usage"] == {"input_tokens": 12, "output_tokens": 5}
    # Times are on the recorder's clock: the sub-agent runs inside the delegation.
    assert delegation.start_ns <= sub_agent.start_ns <= sub_agent.end_ns
    assert receiver.spans_received == 4


def test_receiver_env_carries_scope_and_agent_in_baggage(agenttrace: Recorder) -> None:
    with agenttrace.agent("planner"), otlp_receiver() as receiver:
        with agenttrace.delegate("coder") as delegation:
            env = receiver.env({})
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == receiver.traces_url
    assert receiver.traces_url.startswith("http://127.0.0.1:") and receiver.port > 0
    assert f"agenttrace.scope={delegation.span_id}" in env["BAGGAGE"]
    assert f"agenttrace.span={delegation.span_id}" in env["BAGGAGE"]
    assert "agenttrace.agent=planner" in env["BAGGAGE"]
    assert env["TRACEPARENT"].startswith("00-") and env["TRACEPARENT"].endswith("-01")


def _post_json(url: str, payload: dict[str, object]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def _json_span(span_id: str, parent: str | None, name: str, attrs: dict[str, str], start: int) -> dict[str, object]:
    return {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": span_id,
        **({"parentSpanId": parent} if parent else {}),
        "name": name,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1000),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }


def test_json_children_first_wait_for_their_parent() -> None:
    import time

    rec = Recorder("json")
    now = time.time_ns()
    with rec, rec.delegate("worker") as delegation:
        headers = inject()
        parent_hex = headers["traceparent"].split("-")[2]
        with otlp_receiver() as receiver:
            child = _json_span(
                "00f067aa0ba902b7",
                "b7ad6b7169203331",
                "execute_tool grep",
                {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "grep"},
                now + 10,
            )
            agent = _json_span(
                "b7ad6b7169203331",
                parent_hex,
                "invoke_agent worker",
                {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "worker"},
                now,
            )
            assert _post_json(receiver.traces_url, {"resourceSpans": [{"scopeSpans": [{"spans": [child]}]}]}) == 200
            assert _post_json(receiver.traces_url, {"resourceSpans": [{"scopeSpans": [{"spans": [agent]}]}]}) == 200
    trace = rec.finish()
    (worker,) = trace.find("agent")
    (grep,) = trace.find("tool")
    assert worker.parent_id == delegation.span_id
    assert grep.parent_id == worker.span_id and grep.agent == "worker" and grep.scope == delegation.span_id


def test_orphans_are_placed_by_baggage_when_the_receiver_closes() -> None:
    import time

    rec = Recorder("orphans")
    with rec, rec.delegate("helper") as delegation, otlp_receiver() as receiver:
        lost = _json_span(
            "1111111111111111",
            "2222222222222222",
            "execute_tool ls",
            {"gen_ai.tool.name": "ls", "agenttrace.span": delegation.span_id},
            time.time_ns(),
        )
        _post_json(receiver.traces_url, {"resourceSpans": [{"scopeSpans": [{"spans": [lost]}]}]})
        assert not rec.trace.find("tool")  # still waiting for span 2222...
    (ls,) = rec.finish().find("tool")
    assert ls.parent_id == delegation.span_id and ls.scope == delegation.span_id
    assert "agenttrace.span" not in ls.attributes.get("otel", {})


def test_garbage_request_is_answered_400_and_recording_goes_on() -> None:
    rec = Recorder("garbage")
    with rec, OTLPReceiver(rec).start() as receiver:
        request = urllib.request.Request(
            receiver.traces_url, data=b"\x00\xffnot protobuf", headers={"Content-Type": "application/x-protobuf"}
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 400
        info.value.close()
        with rec.tool("still_recording"):
            pass
    assert [s.name for s in rec.finish().spans] == ["still_recording"]
