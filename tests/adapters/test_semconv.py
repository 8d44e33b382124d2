"""OpenTelemetry GenAI / OpenInference attributes -> span kinds and reserved attributes."""

from __future__ import annotations

import collections
import enum
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace.adapters import semconv
from pytest_agenttrace.adapters.semconv import _KEYS, map_otel_fields, map_otel_span

_KNOWN_KEYS = frozenset(_KEYS)

# (span name, attributes) -> (kind, name, agent)
KINDS: list[tuple[str, dict[str, Any], tuple[str, str, str | None]]] = [
    (
        "invoke_agent planner",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
        ("agent", "planner", "planner"),
    ),
    ("invoke_agent planner", {"gen_ai.operation.name": "invoke_agent"}, ("agent", "planner", "planner")),
    (
        "create_agent",
        {"gen_ai.operation.name": "create_agent", "gen_ai.agent.name": "coder"},
        ("agent", "coder", "coder"),
    ),
    (
        "execute_tool search",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "web_search"},
        ("tool", "web_search", None),
    ),
    ("execute_tool search", {"gen_ai.operation.name": "execute_tool"}, ("tool", "search", None)),
    ("chat gpt-4o", {"gen_ai.operation.name": "chat"}, ("llm", "chat gpt-4o", None)),
    ("text_completion m", {"gen_ai.operation.name": "text_completion"}, ("llm", "text_completion m", None)),
    (
        "generate_content gemini",
        {"gen_ai.operation.name": "generate_content"},
        ("llm", "generate_content gemini", None),
    ),
    ("embeddings e", {"gen_ai.operation.name": "embeddings"}, ("llm", "embeddings e", None)),
    ("retrieval docs", {"gen_ai.operation.name": "retrieval"}, ("retrieval", "retrieval docs", None)),
    ("search_memory", {"gen_ai.operation.name": "search_memory"}, ("memory_read", "search_memory", None)),
    ("update_memory", {"gen_ai.operation.name": "update_memory"}, ("memory_write", "update_memory", None)),
    ("x", {"openinference.span.kind": "AGENT", "graph.node.id": "triage"}, ("agent", "triage", "triage")),
    ("agent_run [hello_agent]", {"openinference.span.kind": "AGENT"}, ("agent", "hello_agent", "hello_agent")),
    ("get_weather", {"openinference.span.kind": "TOOL", "tool.name": "get_weather"}, ("tool", "get_weather", None)),
    ("call_llm", {"openinference.span.kind": "LLM"}, ("llm", "call_llm", None)),
    ("embed", {"openinference.span.kind": "EMBEDDING"}, ("llm", "embed", None)),
    ("fetch", {"openinference.span.kind": "RETRIEVER"}, ("retrieval", "fetch", None)),
    ("rerank", {"openinference.span.kind": "RERANKER"}, ("retrieval", "rerank", None)),
    ("moderation", {"openinference.span.kind": "GUARDRAIL"}, ("guardrail", "moderation", None)),
    ("judge", {"openinference.span.kind": "EVALUATOR"}, ("guardrail", "judge", None)),
    ("pipeline", {"openinference.span.kind": "CHAIN"}, ("custom", "pipeline", None)),
    # No operation: what the attributes imply.
    ("running tool: lookup", {"gen_ai.tool.name": "lookup"}, ("tool", "lookup", None)),
    ("joke_agent run", {"gen_ai.agent.name": "joke_agent"}, ("agent", "joke_agent", "joke_agent")),
    ("llm call", {"gen_ai.request.model": "gpt-4o"}, ("llm", "llm call", None)),
    # A tool span inside an agent names the agent acting.
    ("execute_tool t", {"gen_ai.operation.name": "execute_tool", "gen_ai.agent.name": "coder"}, ("tool", "t", "coder")),
    # Handoffs, however they are spelled.
    ("handoff to billing", {"openinference.span.kind": "TOOL"}, ("handoff", "handoff to billing", None)),
    ("handoff from triage to billing", {}, ("handoff", "handoff from triage to billing", "triage")),
    ("Handoff: triage → billing", {}, ("handoff", "Handoff: triage → billing", "triage")),
    ("Handoff: triage -> billing", {}, ("handoff", "Handoff: triage -> billing", "triage")),
    (
        "transfer",
        {"gen_ai.operation.name": "handoff", "from_agent": "a", "to_agent": "b"},
        ("handoff", "transfer", "a"),
    ),
    ("transfer_to_billing", {"gen_ai.tool.name": "transfer_to_billing"}, ("handoff", "transfer_to_billing", None)),
    # Anything unknown.
    ("HTTP GET", {"http.method": "GET"}, ("custom", "HTTP GET", None)),
    ("Handoff complete", {}, ("custom", "Handoff complete", None)),
]


@pytest.mark.parametrize(("name", "attributes", "expected"), KINDS, ids=[f"{n}|{sorted(a)}" for n, a, _ in KINDS])
def test_kind_name_and_agent(name: str, attributes: dict[str, Any], expected: tuple[str, str, str | None]) -> None:
    mapped = map_otel_span(name, attributes)
    assert (mapped.kind, mapped.name, mapped.agent) == expected


@pytest.mark.parametrize(
    ("name", "attributes", "to_agent", "from_agent"),
    [
        ("handoff to billing", {}, "billing", None),
        ("handoff from triage to billing", {}, "billing", "triage"),
        ("Handoff: a → b", {}, "b", "a"),
        ("t", {"gen_ai.tool.name": "transfer_to_refunds"}, "refunds", None),
        ("t", {"gen_ai.operation.name": "handoff", "to_agent": "x"}, "x", None),
    ],
)
def test_handoff_targets(name: str, attributes: dict[str, Any], to_agent: str, from_agent: str | None) -> None:
    mapped = map_otel_span(name, attributes)
    assert mapped.kind == "handoff"
    assert mapped.attributes["to_agent"] == to_agent
    assert mapped.attributes.get("from_agent") == from_agent


@pytest.mark.parametrize(
    ("attributes", "usage"),
    [
        ({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 3}, {"input_tokens": 10, "output_tokens": 3}),
        (
            {"gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": 2},
            {"input_tokens": 7, "output_tokens": 2},
        ),
        (
            {"llm.token_count.prompt": "39", "llm.token_count.completion": "6", "llm.token_count.total": "45"},
            {"input_tokens": 39, "output_tokens": 6, "total_tokens": 45},
        ),
        ({"gen_ai.usage.input_tokens": "many"}, None),
        ({"gen_ai.usage.input_tokens": 1.5}, None),
        ({"gen_ai.usage.input_tokens": True}, None),
    ],
)
def test_token_usage(attributes: dict[str, Any], usage: dict[str, int] | None) -> None:
    mapped = map_otel_span("chat m", {"gen_ai.operation.name": "chat", **attributes})
    assert mapped.attributes.get("usage") == usage


def test_reserved_attributes_model_tool_call_and_provider() -> None:
    mapped = map_otel_span(
        "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.provider.name": "openai",
            "gen_ai.conversation.id": "c1",
        },
    )
    attrs = mapped.attributes
    assert attrs["model"] == "gpt-4o-2024-08-06"  # the model that answered
    assert attrs["provider"] == "openai"
    assert attrs["operation"] == "chat"
    # Mapped keys are not repeated; the rest stays under otel.
    assert attrs["otel"] == {"gen_ai.request.model": "gpt-4o", "gen_ai.conversation.id": "c1"}

    tool = map_otel_span("execute_tool x", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.id": "call_9"})
    assert tool.attributes["tool_call_id"] == "call_9"
    assert "otel" not in tool.attributes
    # Microsoft Agent Framework writes [run id, call id].
    listed = map_otel_span("execute_tool x", {"gen_ai.tool.call.id": ["run_1", "call_2"], "gen_ai.tool.name": "x"})
    assert listed.attributes["tool_call_id"] == "call_2"


def test_openinference_model_name_becomes_model() -> None:
    mapped = map_otel_span("c", {"openinference.span.kind": "LLM", "llm.model_name": "gemini-2.0-flash"})
    assert mapped.attributes["model"] == "gemini-2.0-flash"


def test_memory_key_and_retrieval_source() -> None:
    write = map_otel_span(
        "update_memory", {"gen_ai.operation.name": "update_memory", "gen_ai.memory.record.id": "prefs"}
    )
    assert (write.kind, write.attributes["key"]) == ("memory_write", "prefs")
    read = map_otel_span("r", {"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "kb"})
    assert read.attributes["source"] == "kb"


def test_unknown_span_keeps_every_original_attribute() -> None:
    attributes = {"http.method": "GET", "tags": ("a", "b"), "n": 3}
    mapped = map_otel_span("HTTP GET", attributes)
    assert mapped.kind == "custom"
    assert mapped.attributes == {"otel": {"http.method": "GET", "tags": ["a", "b"], "n": 3}}


@pytest.mark.parametrize(
    ("attributes", "expected_input", "expected_output"),
    [
        ({"input.value": '{"q": 1}', "output.value": "done"}, {"q": 1}, "done"),
        ({"input.value": "{not json", "input.mime_type": "application/json"}, "{not json", None),
        ({"input.value": "[1, 2]", "input.mime_type": "text/plain"}, [1, 2], None),
        (
            {"gen_ai.tool.call.arguments": '{"city": "Paris"}', "gen_ai.tool.call.result": "sunny"},
            {"city": "Paris"},
            "sunny",
        ),
        ({"gen_ai.input.messages": '[{"role": "user"}]'}, [{"role": "user"}], None),
        ({"tool_arguments": "{'topic': 'x'}"}, "{'topic': 'x'}", None),  # Python repr: kept as text, never evaluated
    ],
)
def test_payloads_become_input_and_output(
    attributes: dict[str, Any], expected_input: Any, expected_output: Any
) -> None:
    mapped = map_otel_span("execute_tool t", {"gen_ai.operation.name": "execute_tool", **attributes})
    assert mapped.input == expected_input
    assert mapped.output == expected_output
    assert not set(attributes) & set(mapped.attributes.get("otel", {})) - {"input.mime_type"}


@pytest.mark.parametrize(
    ("attributes", "versions"),
    [
        ({"llm.prompt_template.version": "v3", "gen_ai.prompt.name": "planner"}, {"prompt:planner": "planner@v3"}),
        ({"llm.prompt_template.version": "v3"}, {"prompt:prompt": "prompt@v3"}),
        ({"gen_ai.prompt.name": "planner"}, {"prompt:planner": "planner"}),
        ({"gen_ai.agent.version": "2.1", "gen_ai.agent.name": "coder"}, {"agent:coder": "2.1"}),
        ({}, {}),
    ],
)
def test_prompt_and_agent_versions_become_stamps(attributes: dict[str, Any], versions: dict[str, str]) -> None:
    assert map_otel_span("chat", {"gen_ai.operation.name": "chat", **attributes}).versions == versions


@pytest.mark.parametrize(
    ("status_error", "attributes", "error"),
    [
        (None, {"error.type": "timeout"}, None),
        (("ValueError", "bad"), {}, {"type": "ValueError", "message": "bad"}),
        (("", "rate limited"), {"error.type": "429"}, {"type": "429", "message": "rate limited"}),
        (("", ""), {}, {"type": "Error", "message": ""}),
    ],
)
def test_errors(status_error: tuple[str, str] | None, attributes: dict[str, Any], error: dict[str, str] | None) -> None:
    assert map_otel_span("chat", attributes, status_error=status_error).error == error


otel_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.lists(st.text(max_size=5), max_size=3).map(tuple),
)
keys = st.sampled_from(
    [
        "gen_ai.operation.name",
        "openinference.span.kind",
        "gen_ai.tool.name",
        "gen_ai.agent.name",
        "gen_ai.usage.input_tokens",
        "llm.token_count.prompt",
        "input.value",
        "output.value",
        "input.mime_type",
        "gen_ai.tool.call.id",
        "llm.prompt_template.version",
        "from_agent",
        "to_agent",
        "x.custom",
    ]
)


@given(name=st.text(max_size=40), attributes=st.dictionaries(keys | st.text(max_size=10), otel_values, max_size=8))
def test_mapping_never_raises_and_always_gives_a_known_kind(name: str, attributes: dict[str, Any]) -> None:
    mapped = map_otel_span(name, attributes)
    assert mapped.kind in {
        "agent",
        "llm",
        "tool",
        "retrieval",
        "handoff",
        "memory_read",
        "memory_write",
        "guardrail",
        "custom",
    }
    assert isinstance(mapped.name, str)
    # Nothing is lost: each original key is either mapped or kept under otel.
    if mapped.kind == "custom":
        assert set(mapped.attributes.get("otel", {})) == {k for k in attributes}


@given(name=st.text(max_size=40), attributes=st.dictionaries(keys | st.text(max_size=10), otel_values, max_size=8))
def test_unknown_keys_are_always_kept_and_fields_match_map_otel_span(name: str, attributes: dict[str, Any]) -> None:
    mapped = map_otel_span(name, attributes, status_error=("", "boom"))
    kept = mapped.attributes.get("otel", {})
    # Keys no convention knows are never dropped, whatever else the span has.
    assert {k for k in attributes if k not in _KNOWN_KEYS} <= set(kept)
    # The tuple form used by the live processor is the same mapping.
    fields = map_otel_fields(name, attributes, ("", "boom"))
    assert fields == (
        mapped.kind,
        mapped.name,
        mapped.agent,
        mapped.attributes,
        mapped.input,
        mapped.output,
        mapped.versions,
        mapped.error,
    )


def test_a_key_found_but_not_used_stays_under_otel() -> None:
    # from/to agent only count on handoffs; elsewhere they stay as they came.
    mapped = map_otel_span("execute_tool t", {"gen_ai.operation.name": "execute_tool", "from_agent": "a"})
    assert mapped.kind == "tool"
    assert mapped.attributes["otel"] == {"from_agent": "a"}
    # A lower-ranked key of a role that a better key filled stays too.
    llm = map_otel_span("c", {"llm.model_name": "m2", "gen_ai.request.model": "m1"})
    assert llm.attributes["model"] == "m1" and llm.attributes["otel"] == {"llm.model_name": "m2"}


# -- plans: a span of a shape seen before maps as the full mapping would ------------------

_PLAN_NAMES = st.sampled_from(
    [
        "execute_tool search",
        "invoke_agent planner",
        "chat m",
        "handoff to reviewer",
        "Handoff: a -> b",
        "x",
        "agent_run [p]",
    ]
)
_PLAN_KEYS = st.lists(st.sampled_from([*sorted(_KNOWN_KEYS), "x.custom", "http.method"]), unique=True, max_size=7)
_JSON_TEXT = st.sampled_from(['{"q": 1}', "[1, 2]", "{not json", "plain", ""])
# Mostly values a plan can copy (texts, integers), so that plans are taken often; any value otherwise.
_PLAN_VALUES = st.one_of(
    st.sampled_from(["execute_tool", "invoke_agent", "chat", "handoff", "TOOL", "AGENT", "a", "transfer_to_b"]),
    st.integers(-3, 3),
    _JSON_TEXT,
    otel_values,
)


def _deciding(key: str) -> bool:
    return key in _KEYS and _KEYS[key][0] in semconv._DECIDING


_USABLE_TEXT = st.sampled_from(["execute_tool", "chat", "handoff", "TOOL", "AGENT", "a", "transfer_to_b", "m"])
_USABLE = {
    0: _USABLE_TEXT,  # _TEXT
    1: st.integers(-3, 3),  # _NUMBER
    2: _JSON_TEXT | _USABLE_TEXT,  # _PAYLOAD
}


def _value_for(key: str, usable: bool) -> st.SearchStrategy[Any]:
    """Any value, or (``usable``) one a plan can copy for that key's role."""
    return _USABLE[_KEYS[key][1]] if usable and key in _KEYS else _PLAN_VALUES


@given(data=st.data(), name=_PLAN_NAMES, keys=_PLAN_KEYS, usable=st.booleans())
def test_a_span_mapped_by_a_plan_maps_exactly_as_the_full_mapping(
    data: st.DataObject, name: str, keys: list[str], usable: bool
) -> None:
    semconv._SHAPES.clear()
    first = {key: data.draw(_value_for(key, usable), label=key) for key in keys}
    # The second span: the same keys in the same order, the deciding values kept (so the first span's
    # plan applies whenever the copied values are usable), every other value drawn again.
    second = {
        key: first[key] if _deciding(key) else data.draw(_value_for(key, usable), label=f"2:{key}") for key in keys
    }
    for attributes in (first, second) * 3:  # a shape, then a plan, is made when met again
        expected = semconv._map_fields(name, attributes, None)[0]
        # repr: equal values of another type (True and 1, a tuple and a list) or key order would show.
        assert repr(map_otel_fields(name, attributes)) == repr(expected)


def test_plans_are_used_for_spans_of_a_known_shape_and_give_new_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    semconv._SHAPES.clear()
    full = []
    original = semconv._map_fields
    monkeypatch.setattr(semconv, "_map_fields", lambda *args: full.append(args) or original(*args))
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2,
        "input.value": '{"q": 1}',
        "llm.prompt_template.version": "v1",
        "http.route": ("a", "b"),
    }
    for _ in range(3):  # a shape is made when met again, then a plan when its values are met again
        first = map_otel_fields("chat m", attributes)
    assert len(full) == 3
    first[3]["usage"]["input_tokens"] = -1  # a caller may change what it gets: the plan must not see it
    first[3]["otel"]["http.route"].append("c")
    first[4]["q"] = 2
    first[6].clear()
    second = map_otel_fields("chat m", {**attributes, "gen_ai.usage.input_tokens": 11, "gen_ai.request.model": "n"})
    assert len(full) == 3  # the fourth span took the plan
    assert second == (
        "llm",
        "chat m",
        None,
        {
            "operation": "chat",
            "model": "n",
            "usage": {"input_tokens": 11, "output_tokens": 2},
            "otel": {"http.route": ["a", "b"]},
        },
        {"q": 1},
        None,
        {"prompt:prompt": "prompt@v1"},
        None,
    )
    # Another deciding value, an unusable copied value (empty, or a number in a string) or an error: in full.
    map_otel_fields("chat m", {**attributes, "gen_ai.operation.name": "text_completion"})
    map_otel_fields("chat m", {**attributes, "gen_ai.request.model": ""})
    map_otel_fields("chat m", {**attributes, "gen_ai.usage.input_tokens": "11"})
    map_otel_fields("chat m", attributes, ("ValueError", "boom"))
    assert len(full) == 7


def _mapped_three_times(name: str, attributes: dict[str, Any], last: dict[str, Any]) -> None:
    """Map a shape until it has a plan, then ``last`` of the same shape: exactly as the full mapping."""
    semconv._SHAPES.clear()
    for _ in range(3):
        map_otel_fields(name, attributes)
    assert repr(map_otel_fields(name, last)) == repr(semconv._map_fields(name, last, None)[0])


@pytest.mark.parametrize("side", ["input", "output"])
def test_a_json_null_payload_leaves_no_plan_without_payload(side: str) -> None:
    # An OpenInference tool returning None writes "null": the plan must still decode later payloads.
    attributes = {
        "openinference.span.kind": "TOOL",
        "tool.name": "lookup",
        f"{side}.value": "null",
        f"{side}.mime_type": "application/json",
    }
    _mapped_three_times("lookup", attributes, {**attributes, f"{side}.value": '{"rows": 3}'})


class _Upper(str):
    def __repr__(self) -> str:
        return f"_Upper({str(self)!r})"


class _Operation(enum.StrEnum):
    chat = enum.auto()


@pytest.mark.parametrize(
    ("name", "attributes", "last"),
    [
        # a deciding value merely equal to a plain text: its own type, or its own meaning (UserString is no str)
        (
            "s",
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
            {"gen_ai.operation.name": _Operation.chat, "gen_ai.request.model": "m"},
        ),
        (
            "s",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
            {"gen_ai.operation.name": collections.UserString("execute_tool"), "gen_ai.tool.name": "search"},
        ),
        ("s", {"gen_ai.tool.name": "search"}, {"gen_ai.tool.name": _Upper("search")}),
        # a str-subclass key kept under otel is written as the span has it
        (
            "s",
            {"gen_ai.operation.name": "chat", "http.method": "GET"},
            {"gen_ai.operation.name": "chat", _Upper("http.method"): "GET"},
        ),
    ],
)
def test_values_and_keys_equal_to_plain_text_map_as_themselves(
    name: str, attributes: dict[str, Any], last: dict[str, Any]
) -> None:
    _mapped_three_times(name, attributes, last)


def test_a_str_subclass_span_name_maps_as_itself() -> None:
    attributes = {"gen_ai.operation.name": "chat"}
    semconv._SHAPES.clear()
    for _ in range(3):
        map_otel_fields("chat", attributes)
    assert repr(map_otel_fields(_Upper("chat"), attributes)) == repr(
        semconv._map_fields(_Upper("chat"), attributes, None)[0]
    )


class _Ambiguous:
    """A value whose ``==`` raises (as a numpy array's truth value does)."""

    def __eq__(self, other: object) -> bool:
        raise ValueError("ambiguous")

    __hash__ = object.__hash__


def test_a_payload_whose_equality_raises_is_mapped_like_any_other() -> None:
    value = _Ambiguous()
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.input.messages": value}
    semconv._SHAPES.clear()
    for _ in range(3):
        assert map_otel_fields("c", attributes)[4] is value


def test_plans_are_bounded() -> None:
    semconv._SHAPES.clear()
    for number in range(semconv._MAX_SHAPES + 10):
        for _ in range(2):
            map_otel_fields(f"span {number}", {"gen_ai.operation.name": "chat"})
    assert len(semconv._SHAPES) <= semconv._MAX_SHAPES
    for number in range(semconv._MAX_PLANS + 10):
        for _ in range(3):
            map_otel_fields("t", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"tool{number}"})
    shapes = [shape for shape in semconv._SHAPES.values() if type(shape) is semconv._Shape]
    assert shapes and all(len(shape.plans) <= semconv._MAX_PLANS for shape in shapes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"id": 12345678901234567890123}', {"id": 12345678901234567890123}),  # orjson: a float
        ('{"x": NaN}', "nan"),  # orjson refuses it; json.loads reads it
        ('{"q": "' + "a" * 60 + '", "n": -99999999999999999999}', {"q": "a" * 60, "n": -99999999999999999999}),
    ],
)
def test_json_payloads_decode_exactly_as_json_loads(text: str, expected: object) -> None:
    decoded = semconv._decode(text, None)
    if expected == "nan":
        assert math.isnan(decoded["x"])
    else:
        assert decoded == expected and type(decoded) is dict
        assert all(type(decoded[key]) is type(value) for key, value in expected.items())  # type: ignore[attr-defined]
