"""Live OpenTelemetry capture: mapping, nesting with native spans both ways, safety."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from pytest_agenttrace.adapters import _context, otel
from pytest_agenttrace.recorder import Recorder


@pytest.fixture
def tracer() -> Tracer:
    provider = TracerProvider()
    otel.install(provider)
    return provider.get_tracer("tests")


def _tree(rec: Recorder) -> list[str]:
    return [f"{'  ' * depth}{s.kind}:{s.name}@{s.agent}" for s, depth in rec.trace.walk()]


def test_otel_spans_nest_under_native_and_native_under_otel(agenttrace: Recorder, tracer: Tracer) -> None:
    with agenttrace.agent("orchestrator"):
        with tracer.start_as_current_span(
            "invoke_agent coder", attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder"}
        ):
            with agenttrace.tool("read_file"):
                with tracer.start_as_current_span(
                    "execute_tool parse",
                    attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "parse"},
                ):
                    with agenttrace.llm("summarise"):
                        pass
            with agenttrace.delegate("tester") as delegation:
                with tracer.start_as_current_span(
                    "invoke_agent tester",
                    attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "tester"},
                ):
                    with agenttrace.tool("run_tests"):
                        pass
    assert _tree(agenttrace) == [
        "agent:orchestrator@orchestrator",
        "  agent:coder@coder",
        "    tool:read_file@coder",
        "      tool:parse@coder",
        "        llm:summarise@coder",
        "    delegation:tester@coder",
        "      agent:tester@tester",
        "        tool:run_tests@tester",
    ]
    (run_tests,) = agenttrace.trace.find("tool", name="run_tests")
    assert run_tests.scope == delegation.span_id


def test_explicit_otel_parent_is_kept_when_no_native_span_is_nearer(agenttrace: Recorder, tracer: Tracer) -> None:
    from opentelemetry import trace

    with agenttrace.agent("main"):
        root = tracer.start_span(
            "invoke_agent bg", attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "bg"}
        )
        with agenttrace.tool("unrelated"):
            pass
        child = tracer.start_span(
            "execute_tool late", context=trace.set_span_in_context(root), attributes={"gen_ai.tool.name": "late"}
        )
        child.end()
        root.end()
    assert _tree(agenttrace) == [
        "agent:main@main",
        "  agent:bg@bg",
        "    tool:late@bg",
        "  tool:unrelated@main",
    ]


@pytest.mark.parametrize(
    ("attributes", "kind", "name", "extra"),
    [
        (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
            },
            "llm",
            None,
            {"model": "gpt-4o-mini", "usage": {"input_tokens": 120, "output_tokens": 30}},
        ),
        (
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "gen_ai.tool.call.id": "call_1"},
            "tool",
            "search",
            {"tool_call_id": "call_1"},
        ),
        ({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "critic"}, "agent", "critic", {}),
        ({"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "kb"}, "retrieval", None, {"source": "kb"}),
        ({"openinference.span.kind": "TOOL", "tool.name": "calculator"}, "tool", "calculator", {}),
        (
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "claude",
                "llm.token_count.prompt": 7,
                "llm.token_count.completion": 2,
            },
            "llm",
            None,
            {"model": "claude", "usage": {"input_tokens": 7, "output_tokens": 2}},
        ),
        ({"openinference.span.kind": "RETRIEVER"}, "retrieval", None, {}),
        ({"openinference.span.kind": "GUARDRAIL"}, "guardrail", None, {}),
        ({"openinference.span.kind": "AGENT", "agent.name": "writer"}, "agent", "writer", {}),
        ({"openinference.span.kind": "CHAIN"}, "custom", None, {}),
        ({"some.other": "x"}, "custom", None, {}),
    ],
)
def test_semantic_conventions_map_onto_kinds(
    agenttrace: Recorder, tracer: Tracer, attributes: dict[str, Any], kind: str, name: str | None, extra: dict[str, Any]
) -> None:
    with tracer.start_as_current_span("op", attributes=attributes):
        pass
    (span,) = agenttrace.trace.spans
    assert span.kind == kind
    if name is not None:
        assert span.name == name
    for key, value in extra.items():
        assert span.attributes[key] == value
    if kind == "custom":
        assert span.attributes["otel"] == attributes  # an unknown span keeps its original attributes


def test_attributes_set_after_start_and_prompt_versions_are_mapped_at_the_end(
    agenttrace: Recorder, tracer: Tracer
) -> None:
    with agenttrace.agent("writer"), tracer.start_as_current_span("chat") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", "m1")
        span.set_attribute("llm.prompt_template.version", "v7")
        span.set_attribute("gen_ai.prompt.name", "draft")
    (llm,) = agenttrace.trace.find("llm")
    assert llm.attributes["model"] == "m1" and llm.agent == "writer"
    assert any("v7" in stamp for stamp in llm.versions.values())


def test_a_span_prompt_version_stamps_only_that_span(agenttrace: Recorder, tracer: Tracer) -> None:
    # Mapped after the spans ended: the stamp must not leak into spans sharing the recorder's stamps.
    with agenttrace.tool("before"):
        pass
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.prompt.name": "draft", "llm.prompt_template.version": "v7"}
    with tracer.start_as_current_span("chat", attributes=attributes):
        pass
    with agenttrace.tool("after"):
        pass
    stamps = {span.name: dict(span.versions) for span in agenttrace.trace.spans}
    assert stamps == {"before": {}, "chat": {"prompt:draft": "draft@v7"}, "after": {}}


def test_exceptions_become_errors_and_propagate_unchanged(agenttrace: Recorder, tracer: Tracer) -> None:
    with pytest.raises(KeyError, match="missing"):
        with tracer.start_as_current_span(
            "execute_tool lookup", attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}
        ):
            raise KeyError("missing")
    (tool,) = agenttrace.trace.find("tool")
    assert tool.status == "error"
    assert tool.error is not None and tool.error["type"] == "KeyError" and "missing" in tool.error["message"]


def test_otel_handoff_gets_from_agent_from_the_enclosing_agent(agenttrace: Recorder, tracer: Tracer) -> None:
    with (
        agenttrace.agent("triage"),
        tracer.start_as_current_span(
            "handoff", attributes={"gen_ai.operation.name": "handoff", "gen_ai.handoff.to_agent": "billing"}
        ),
    ):
        pass
    (handoff,) = agenttrace.trace.find("handoff")
    assert handoff.attributes["from_agent"] == "triage" and handoff.attributes["to_agent"] == "billing"
    assert handoff.context == {}


def test_async_tasks_keep_their_own_parents(agenttrace: Recorder, tracer: Tracer) -> None:
    async def worker(name: str) -> None:
        with tracer.start_as_current_span(
            f"invoke_agent {name}", attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
        ):
            await asyncio.sleep(0.001)
            with agenttrace.tool(f"{name}_tool"):
                await asyncio.sleep(0.001)

    async def main() -> None:
        with agenttrace.agent("boss"):
            await asyncio.gather(worker("a"), worker("b"))

    asyncio.run(main())
    trace = agenttrace.trace
    for name in ("a", "b"):
        (agent,) = trace.find("agent", name=name)
        (tool,) = trace.find("tool", name=f"{name}_tool")
        assert tool.parent_id == agent.span_id and tool.agent == name
        assert trace.parent(agent).name == "boss"  # type: ignore[union-attr]


def test_nothing_is_recorded_outside_a_recording_or_when_switched_off(tracer: Tracer) -> None:
    with tracer.start_as_current_span("outside"):
        pass  # no recorder: the processor returns at once
    rec = Recorder("off")
    _context.set_enabled({"langchain"})
    try:
        with rec, tracer.start_as_current_span("ignored"):
            pass
    finally:
        _context.set_enabled(None)
    assert rec.finish().spans == ()


def test_mapping_failure_logs_and_records_what_it_can(
    agenttrace: Recorder, tracer: Tracer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("mapping bug")

    monkeypatch.setattr(otel, "_map", broken)
    caplog.set_level(logging.WARNING, logger="pytest_agenttrace")
    with tracer.start_as_current_span("weird", attributes={"gen_ai.operation.name": "chat", "k": 1}):
        result = 42  # the user's code runs on untouched
    assert result == 42
    (span,) = agenttrace.trace.spans
    assert span.name == "weird" and span.end_ns >= span.start_ns
    assert span.attributes["otel"] == {"gen_ai.operation.name": "chat", "k": 1}
    assert "could not map OpenTelemetry span" in caplog.text


def test_install_reaches_providers_created_later(agenttrace: Recorder) -> None:
    otel.install()
    provider = TracerProvider()  # created after install: joined automatically
    with provider.get_tracer("late").start_as_current_span("execute_tool x", attributes={"gen_ai.tool.name": "x"}):
        pass
    assert [s.name for s in agenttrace.trace.find("tool")] == ["x"]
    otel.install(provider)  # idempotent: no double capture
    with provider.get_tracer("late").start_as_current_span("execute_tool y", attributes={"gen_ai.tool.name": "y"}):
        pass
    assert [s.name for s in agenttrace.trace.find("tool")] == ["x", "y"]


def test_inject_inside_an_otel_span_propagates_that_span(agenttrace: Recorder, tracer: Tracer) -> None:
    with tracer.start_as_current_span(
        "invoke_agent a", attributes={"gen_ai.agent.name": "a", "gen_ai.operation.name": "invoke_agent"}
    ) as span:
        headers = otel.inject()
    assert headers["traceparent"].split("-")[2] == format(span.get_span_context().span_id, "016x")
    (agent,) = agenttrace.trace.find("agent")
    assert f"agenttrace.span={agent.span_id}" in headers["baggage"]


def test_extract_and_context_from_env_read_back_inject(agenttrace: Recorder) -> None:
    from opentelemetry import baggage, trace

    with agenttrace.delegate("child") as delegation:
        env = otel.subprocess_env({})
    ctx = otel.context_from_env(env)
    assert trace.get_current_span(ctx).get_span_context().is_remote
    assert baggage.get_baggage("agenttrace.scope", ctx) == delegation.span_id
    assert (
        baggage.get_baggage(
            "agenttrace.span", otel.extract({"TraceParent": env["TRACEPARENT"], "Baggage": env["BAGGAGE"]})
        )
        == delegation.span_id
    )


def test_baggage_span_processor_copies_agenttrace_baggage() -> None:
    from opentelemetry import baggage
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(otel.BaggageSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ctx = baggage.set_baggage("agenttrace.scope", "7", baggage.set_baggage("other", "x"))
    with provider.get_tracer("t").start_as_current_span("s", context=ctx):
        pass
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes == {"agenttrace.scope": "7"}


def test_a_finished_recorder_is_not_kept_alive_by_the_capture(tracer: Tracer) -> None:
    import gc
    import weakref

    rec = Recorder("short-lived")
    with rec, tracer.start_as_current_span("execute_tool t", attributes={"gen_ai.tool.name": "t"}):
        pass
    assert [s.name for s in rec.finish().spans] == ["t"]
    alive = weakref.ref(rec)
    del rec
    gc.collect()
    assert alive() is None  # the adapter's per-recorder state lives and dies with the recorder


def _run_mixed_otel_workload(rec: Recorder, tracer: Tracer) -> None:
    """Agent, tool, chat, renamed, failing and event-carrying spans, nested with native ones."""
    with rec.agent("orchestrator"):
        with tracer.start_as_current_span(
            "invoke_agent coder", attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder"}
        ):
            with tracer.start_as_current_span(
                "execute_tool parse", attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "parse"}
            ):
                with rec.llm("summarise"):
                    pass
            with tracer.start_as_current_span("provisional") as renamed:
                renamed.update_name("execute_tool search")
                renamed.set_attribute("gen_ai.operation.name", "execute_tool")
                renamed.set_attribute("gen_ai.tool.name", "search")
            with pytest.raises(ValueError), tracer.start_as_current_span(
                "chat", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m1"}
            ):
                raise ValueError("model down")
            with tracer.start_as_current_span("retrieval", attributes={"gen_ai.operation.name": "retrieval"}) as span:
                span.add_event("retry", {"attempt": 2})
            with tracer.start_as_current_span("db query", attributes={"db.system": "sqlite"}):
                pass


def _summary(rec: Recorder) -> list[tuple[Any, ...]]:
    return [
        (depth, s.kind, s.name, s.agent, s.status, s.attributes, [e["name"] for e in s.events])
        for s, depth in rec.trace.walk()
    ]


def test_the_public_properties_path_records_what_the_fast_field_reads_do(
    tracer: Tracer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A span class whose private fields are not what the hot path expects is read through its API."""
    fast = Recorder("fast")
    with fast:
        _run_mixed_otel_workload(fast, tracer)
    assert otel._FAST_LAYOUT and all(otel._FAST_LAYOUT.values())  # the SDK's Span and ReadableSpan qualify
    monkeypatch.setattr(otel, "_FAST_LAYOUT", {cls: False for cls in otel._FAST_LAYOUT})
    slow = Recorder("slow")
    with slow:
        _run_mixed_otel_workload(slow, tracer)
    assert _summary(slow) == _summary(fast)
    names = [row[2] for row in _summary(fast)]
    assert "search" in names and "provisional" not in names  # renamed while running: the final name counts
    (chat,) = (span for span in fast.trace.find("llm") if span.name == "chat")
    assert chat.status == "error" and chat.error is not None and chat.error["type"] == "ValueError"
    (db,) = fast.trace.find("custom")
    assert db.attributes == {"otel": {"db.system": "sqlite"}}


def test_a_span_class_with_another_layout_is_detected_and_read_through_its_api() -> None:
    class Odd:
        _context = None

        def get_span_context(self) -> Any:
            return "not a tuple"

    assert otel._check_layout(Odd()) is False
    assert otel._FAST_LAYOUT.pop(Odd) is False


def test_setting_attributes_on_an_ended_captured_span_never_touches_the_sdk_span() -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.install(provider)
    rec = Recorder("late-attributes")
    with rec:
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "gen_ai.usage.input_tokens": 5,
        }
        with provider.get_tracer("t").start_as_current_span("execute_tool search", attributes=attributes):
            pass
        (handle,) = rec._order  # ended, not yet mapped (the mapping waits for the build)
        handle.set_attribute("note", "x")
        handle.set_usage(input_tokens=3)
    (exported,) = exporter.get_finished_spans()
    assert dict(exported.attributes or {}) == attributes  # the SDK's span is untouched
    (span,) = rec.trace.spans
    assert span.kind == "tool" and span.name == "search"
    # Set on the handle after the span ended: wins over the mapped value, as if mapped at the end.
    assert span.attributes["note"] == "x" and span.attributes["usage"] == {"input_tokens": 3}
    assert span.attributes["operation"] == "execute_tool" and "otel" not in span.attributes


@pytest.mark.parametrize(("name", "shown"), [(123, "123"), (None, ""), (b"raw", "raw")])
def test_a_span_named_by_a_number_bytes_or_none_makes_a_valid_trace(
    tracer: Tracer, tmp_path: Any, name: Any, shown: str, caplog: pytest.LogCaptureFixture
) -> None:
    from pytest_agenttrace.store import load_trace, save_trace

    rec = Recorder("odd-name")
    with rec:
        with tracer.start_as_current_span(name, attributes={"gen_ai.operation.name": "execute_tool"}):
            pass
        with tracer.start_as_current_span(name):  # no attributes: a custom span
            pass
    trace = rec.finish()
    assert [s.name for s in trace.spans] == [shown, shown]  # before the fix: 123 / None / b'raw'
    save_trace(trace, tmp_path / "t.json")
    load_trace(tmp_path / "t.json", validate=True)  # the trace file's schema wants text
    assert "could not map" not in caplog.text
