"""Langfuse trace exports: the 13 real framework runs import into valid, sensible trees."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from pytest_agenttrace.adapters.importing import import_trace
from pytest_agenttrace.adapters.langfuse import read_langfuse
from pytest_agenttrace.model import Trace
from pytest_agenttrace.store import validate_trace_dict

from .corpora import LANGFUSE, files

# file stem -> (kinds that must appear, agents that must appear, the tool spans' names)
EXPECTED: dict[str, tuple[set[str], set[str], set[str]]] = {
    "agno-2025-06-11": ({"agent", "llm", "tool"}, {"Agent.run"}, {"duckduckgo_search"}),
    "autogen-2025-06-06": ({"llm"}, set(), set()),
    "beeai-2025-08-01": (
        {"agent", "llm", "tool"},
        {"beeai-framework-main"},
        {"tool.search.wikipedia.start-12", "tool.search.wikipedia.finish-12", "tool.search.wikipedia.success-12"},
    ),
    "google-adk-2025-08-28": ({"agent", "llm", "tool"}, {"hello_agent"}, {"say_hello"}),
    "google-gemini-2025-08-01": ({"llm"}, set(), set()),
    "google-vertex-tools-langchain-2025-09-19": ({"llm"}, set(), set()),
    "koog-2025-08-26": ({"agent", "llm", "tool"}, set(), {"HelloTool", "ByeTool"}),
    "langgraph-2025-08-22": ({"agent", "llm", "tool"}, {"agent", "tools"}, {"Web-Search"}),
    "llamaindex-2025-06-05": ({"llm"}, set(), set()),
    "microsoft-agent-2025-10-14": ({"agent", "llm", "tool"}, {"99981f6a-abd1-4d09-9fba-00e2ab172193"}, {"get_weather"}),
    "openai-agents-2025-09-30": ({"agent", "llm", "tool"}, {"Hello world"}, {"get_weather"}),
    "openai-assistants-2024-05-29": ({"llm"}, set(), set()),
    "pydantic-ai-tools-2025-12-04": (
        {"agent", "llm", "tool"},
        {"joke_agent", "evaluator_agent"},
        {"get_pun_suggestion", "get_dad_joke_suggestion", "get_one_liner_suggestion"},
    ),
}

EXPORTS = files(LANGFUSE)


def test_every_framework_export_has_expectations() -> None:
    assert {p.stem for p in EXPORTS} == set(EXPECTED)


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.stem)
def test_framework_export_imports_into_a_valid_tree(path: Path) -> None:
    raw = json.loads(path.read_text())
    trace = import_trace(path, "langfuse")
    assert isinstance(trace, Trace)
    validate_trace_dict(trace.to_dict(), where=str(path))

    kinds, agents, tools = EXPECTED[path.stem]
    assert kinds <= {s.kind for s in trace.spans}
    assert agents <= set(trace.agents)
    assert {s.name for s in trace.spans if s.kind == "tool"} == tools
    # Every observation is a span and parentage is intact.
    observations = raw["observations"]
    assert len(trace.spans) == len(observations)
    for observation in observations:
        span = trace.span(observation["id"])
        parent = observation.get("parentObservationId")
        assert span.parent_id == (parent if parent in {o["id"] for o in observations} else None)
    # Spans are in start order, children inside their parents' time, every tool run by an agent if one encloses it.
    starts = [s.start_ns for s in trace.spans]
    assert starts == sorted(starts) and starts[0] == 0
    for span in trace.spans:
        parent = trace.parent(span)
        assert span.end_ns >= span.start_ns
        if span.kind == "tool" and any(a.kind == "agent" for a in trace.ancestors(span)):
            assert span.agent is not None
        if parent is not None and span.kind != "agent":
            assert span.agent == parent.agent
    assert trace.trace_id == raw["trace"]["id"]
    assert trace.metadata["imported_from"] == "langfuse"


@pytest.mark.parametrize(
    ("stem", "name", "check"),
    [
        (
            "google-adk-2025-08-28",
            "call_llm",
            {"model": "gemini-2.0-flash", "usage": {"input_tokens": 28, "output_tokens": 3, "total_tokens": 31}},
        ),
        ("microsoft-agent-2025-10-14", "get_weather", {"tool_call_id": "call_Sz1QP8T7fuJkIECGDLFWOorq"}),
        ("langgraph-2025-08-22", "Web-Search", {"tool_call_id": "call_1oGK863sxQHlPreFhDdEs3yl"}),
        (
            "autogen-2025-06-06",
            "chat gpt-4o",
            {"model": "gpt-4o", "usage": {"input_tokens": 41, "output_tokens": 3, "total_tokens": 44}},
        ),
    ],
)
def test_reserved_attributes_from_real_runs(stem: str, name: str, check: dict[str, Any]) -> None:
    trace = import_trace(LANGFUSE / f"{stem}.json", "langfuse")
    assert isinstance(trace, Trace)
    span = trace.find(name=name)[0]
    for key, value in check.items():
        assert span.attributes[key] == value


def test_tool_runs_under_its_agent_in_openai_agents_export() -> None:
    trace = import_trace(LANGFUSE / "openai-agents-2025-09-30.json", "langfuse")
    assert isinstance(trace, Trace)
    [tool] = trace.find("tool")
    assert tool.agent == "Hello world"
    assert tool.input == {"city": "Tokyo"}
    assert tool.output == "The weather in Tokyo is sunny."


def _observation(ident: str, parent: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "parentObservationId": parent,
        "type": "SPAN",
        "name": ident,
        "startTime": "2025-01-01T00:00:00.000Z",
        "endTime": "2025-01-01T00:00:01.500Z",
        "metadata": {},
        **extra,
    }


def test_langfuse_fields_fill_what_attributes_leave_open() -> None:
    data = {
        "trace": {"id": "t1", "name": "run", "sessionId": "s1"},
        "observations": [
            _observation("a", type="AGENT", name="planner"),
            _observation(
                "g",
                "a",
                type="GENERATION",
                model="gpt-4o",
                usageDetails={"input": 5, "output": 2, "total": 7},
                promptName="planner",
                promptVersion=3,
                level="ERROR",
                statusMessage="rate limited",
                input=[{"role": "user", "content": "hi"}],
                metadata='{"langgraph_step": 1}',
            ),
        ],
    }
    [trace] = read_langfuse(data, "x.json")
    agent, llm = trace.spans
    assert (agent.kind, agent.agent, llm.kind, llm.agent) == ("agent", "planner", "llm", "planner")
    assert llm.attributes["model"] == "gpt-4o"
    assert llm.attributes["usage"] == {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    assert llm.attributes["langfuse"] == {"langgraph_step": 1}
    assert llm.versions == {"prompt:planner": "planner@v3"}
    assert trace.versions == {"prompt:planner": "planner@v3"}
    assert (llm.status, llm.error) == ("error", {"type": "Error", "message": "rate limited"})
    assert llm.input == [{"role": "user", "content": "hi"}]
    assert llm.end_ns - llm.start_ns == 1_500_000_000
    assert trace.metadata["session_id"] == "s1"


def test_a_malformed_observation_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    data = {
        "trace": {"id": "t1", "name": "run"},
        "observations": [_observation("a"), _observation("b", "a", startTime="yesterday"), {"no": "id"}],
    }
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace.adapters"):
        [trace] = read_langfuse(data, "x.json")
    assert [s.span_id for s in trace.spans] == ["a"]
    assert len(trace.metadata["import_warnings"]) == 2
    assert "startTime 'yesterday' is not an ISO 8601 time" in caplog.text
    assert "observation #1 (id 'b') skipped: startTime 'yesterday'" in caplog.text
    assert "observation #2 skipped: it has no 'id'" in caplog.text


def test_trace_scores_and_metadata_are_kept_as_labels() -> None:
    export = {
        "trace": {
            "id": "t1",
            "name": "run",
            "metadata": json.dumps({"topic": "jokes", "resourceAttributes": {"service.name": "x"}}),
            "scores": [
                {"name": "toxicity", "value": 0, "dataType": "NUMERIC", "source": "EVAL", "comment": "fine"},
                {"name": "verdict", "value": None, "stringValue": "good", "dataType": "CATEGORICAL"},
                {"name": "toxicity", "value": 1, "observationId": "a"},
                {"value": 3},
            ],
        },
        "observations": [_observation("a")],
    }
    [trace] = read_langfuse(export, "lf.json")
    assert trace.metadata["labels"] == {"toxicity": [0, 1], "verdict": "good"}
    assert trace.metadata["scores"][0] == {
        "name": "toxicity",
        "value": 0,
        "source": "EVAL",
        "data_type": "NUMERIC",
        "comment": "fine",
    }
    assert trace.metadata["scores"][2]["observation_id"] == "a"
    assert trace.metadata["langfuse"] == {"topic": "jokes"}  # what describes only the exporter is dropped
    assert trace.metadata["import_warnings"] == ["score #3 has no name; skipped"]


def test_corpus_scores_are_kept() -> None:
    trace = import_trace(LANGFUSE / "microsoft-agent-2025-10-14.json")
    assert isinstance(trace, Trace)
    assert trace.metadata["labels"] == {"toxicity": 0, "hallucination": 1}
    validate_trace_dict(trace.to_dict())


def test_an_observation_with_a_null_id_is_skipped_not_named_none(caplog: pytest.LogCaptureFixture) -> None:
    # str(None) made every such observation the span "None" (two of them: one, with a duplicate warning).
    data = {"trace": {"id": "t1", "name": "run"}, "observations": [_observation("a"), {**_observation("b"), "id": None}]}
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace.adapters"):
        [trace] = read_langfuse(data, "x.json")
    assert [s.span_id for s in trace.spans] == ["a"]
    assert "observation #1 skipped: its id is null" in caplog.text


def test_an_openai_agents_export_span_with_a_null_id_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    from pytest_agenttrace.adapters.agents_export import read_agents_export

    spans = [
        {"object": "trace", "id": "trace_1", "workflow_name": "w"},
        {
            "object": "trace.span",
            "id": "span_a",
            "trace_id": "trace_1",
            "parent_id": None,
            "started_at": "2026-11-22T00:00:00+00:00",
            "ended_at": "2026-11-22T00:00:01+00:00",
            "span_data": {"type": "agent", "name": "planner"},
        },
    ]
    spans.append({**spans[1], "id": None, "span_data": {"type": "agent", "name": "helper"}})
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace.adapters"):
        [trace] = read_agents_export(spans, "x.json")
    assert [s.span_id for s in trace.spans] == ["span_a"]
    assert "span None skipped: its id is null" in caplog.text
