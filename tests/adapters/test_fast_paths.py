"""The adapters' fast paths give exactly what their general paths give.

The capture adapters map the common cases on a shorter road (the Agents SDK's
span data read field by field instead of ``export()`` + :func:`map_span_data`;
OpenTelemetry spans that ended cleanly filled in the deferred loop itself);
the OTLP importer tests ids and namespaces without regular expressions and
cleans each distinct name once.  Each property below compares the short road
with the general one on generated inputs.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("agents")
pytest.importorskip("opentelemetry.sdk")

from agents.tracing import span_data as sd

from pytest_agenttrace.adapters import _context, openai_agents, otel, otlp
from pytest_agenttrace.adapters.importing import ImportLog, Record, assemble
from pytest_agenttrace.adapters.semconv import map_otel_fields
from pytest_agenttrace.recorder import Recorder, SpanHandle
from pytest_agenttrace.sanitize import redact_text

FIELDS = ("kind", "name", "agent", "attributes", "input", "output", "context", "status", "error", "versions")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
# Text a tool could be given as arguments: JSON documents (some with huge integers or
# non-finite numbers), JSON-looking fragments and plain text.
tool_inputs = st.one_of(
    json_values.map(json.dumps),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["NaN", "Infinity", "-Infinity", ' {"a": 1} ', "\t[1, 2]\n", "1e400", '"\\ud800"', "{", "tru"]),
    # Short objects (the inlined orjson path): digit runs of 19+ under 40 characters, refusals.
    st.sampled_from(
        [
            '{"n": 1234567890123456789}',
            '{"n":-99999999999999999999}',
            '{"a": NaN}',
            '{"a":1e400}',
            '{"a": 1}',
            '{"s": "\\ud800"}',
            "{}",
            '{"a": 1',
            '{"q": "x03-000123"}',
        ]
    ),
    st.text(max_size=20),
    # Long arguments (the bytes check for digit runs), numbers past 64 bits inside, non-ASCII digits.
    st.builds(
        lambda pad, n, tail: json.dumps({"pad": pad, "n": n, "tail": tail}),
        st.text(min_size=20, max_size=80),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from(["", "\u0663" * 20, "1" * 19, "\ud800"]),
    ),
)
names = st.none() | st.text(max_size=6)
usages = st.none() | st.dictionaries(
    st.sampled_from(["input_tokens", "prompt_tokens", "output_tokens", "completion_tokens", "total_tokens", "x"]),
    st.integers(0, 10**6) | st.text(max_size=3) | st.booleans(),
    max_size=4,
)
messages = st.none() | st.lists(st.dictionaries(st.sampled_from(["role", "content"]), st.text(max_size=5)), max_size=60)


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included, and of the same types all the way down."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def handle_pair(kind: str, name: str, attributes: dict[str, Any] | None = None) -> tuple[SpanHandle, SpanHandle]:
    rec = Recorder("pair")
    return (
        rec.start_span(kind, name, parent_id=None, attributes=dict(attributes or {})),
        rec.start_span(kind, name, parent_id=None, attributes=dict(attributes or {})),
    )


def assert_same_handles(fast: SpanHandle, general: SpanHandle) -> None:
    for field_name in FIELDS:
        assert same(getattr(fast, field_name), getattr(general, field_name)), field_name


# -- Agents SDK: span data read field by field == export() + map_span_data ----------


def fill_both(data: Any, kind: str, name: str, attributes: dict[str, Any] | None = None) -> None:
    fast, general = handle_pair(kind, name, attributes)
    filler = openai_agents._FILLERS[type(data)]
    filler(fast, data)
    openai_agents._fill_mapped(general, openai_agents.map_span_data(data.export()))
    assert_same_handles(fast, general)


def test_every_fast_class_is_an_sdk_span_data_class_with_a_start_entry() -> None:
    assert set(openai_agents._FILLERS) <= set(openai_agents._START_BY_CLASS)
    assert {cls.__name__ for cls in openai_agents._FILLERS} == {
        "AgentSpanData",
        "FunctionSpanData",
        "GenerationSpanData",
        "HandoffSpanData",
        "GuardrailSpanData",
    }
    for cls, (kind, _field, sdk_type) in openai_agents._START_BY_CLASS.items():
        assert cls.__module__ == sd.__name__
        assert openai_agents._START_KINDS[sdk_type] == kind


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(max_size=6),
    value=st.none() | tool_inputs,
    output=st.none() | json_values,
    mcp=st.none() | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
def test_function_fast_fill_equals_the_general_mapping(name: str, value: str | None, output: Any, mcp: Any) -> None:
    fill_both(sd.FunctionSpanData(name, value, output, mcp), "tool", name or "function")


@settings(max_examples=200, deadline=None)
@given(
    model=names,
    config=st.none() | st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    usage=usages,
    given_input=messages,
    given_output=messages,
)
def test_generation_fast_fill_equals_the_general_mapping(
    model: str | None, config: Any, usage: Any, given_input: Any, given_output: Any
) -> None:
    data = sd.GenerationSpanData(input=given_input, output=given_output, model=model, model_config=config, usage=usage)
    fill_both(data, "llm", model or "generation", {"operation": "generation"})


@settings(max_examples=100, deadline=None)
@given(
    name=st.text(max_size=6),
    handoffs=st.none() | st.lists(st.text(max_size=4), max_size=2),
    tools=st.none() | st.lists(st.text(max_size=4), max_size=2),
    output_type=names,
)
def test_agent_fast_fill_equals_the_general_mapping(name: str, handoffs: Any, tools: Any, output_type: Any) -> None:
    fill_both(sd.AgentSpanData(name, handoffs, tools, output_type), "agent", name or "agent")


@settings(max_examples=100, deadline=None)
@given(from_agent=names, to_agent=names, started_from=names)
def test_handoff_fast_fill_equals_the_general_mapping(
    from_agent: str | None, to_agent: str | None, started_from: str | None
) -> None:
    attributes = {"from_agent": started_from, "to_agent": to_agent}
    fill_both(sd.HandoffSpanData(from_agent, to_agent), "handoff", to_agent or "handoff", attributes)


@given(name=st.text(max_size=6), triggered=st.booleans())
def test_guardrail_fast_fill_equals_the_general_mapping(name: str, triggered: bool) -> None:
    fill_both(sd.GuardrailSpanData(name, triggered), "guardrail", name or "guardrail")


def test_a_subclass_of_a_span_data_class_takes_the_general_path(agenttrace: Recorder) -> None:
    from agents.tracing import function_span, trace

    class Renamed(sd.FunctionSpanData):
        __slots__ = ()

        def export(self) -> dict[str, Any]:
            return {**super().export(), "input": '{"via": "export"}'}

    assert Renamed not in openai_agents._FILLERS
    openai_agents.install()
    with trace("t"), function_span("f") as span:
        span.span_data.__class__ = Renamed
    (tool,) = agenttrace.trace.find("tool")
    assert tool.input == {"via": "export"}


@settings(max_examples=500, deadline=None)
@given(text=tool_inputs)
def test_json_or_text_decodes_exactly_as_json_loads(text: str) -> None:
    try:
        expected: Any = json.loads(text)
    except ValueError:
        expected = text
    assert same(openai_agents._json_or_text(text), expected)


def test_json_or_text_keeps_non_text_and_str_subclasses_decode_too() -> None:
    class Text(str):
        pass

    assert openai_agents._json_or_text(7) == 7
    assert openai_agents._json_or_text(Text('{"a": 1}')) == {"a": 1}
    assert openai_agents._json_or_text(Text("plain")) == "plain"


# -- OpenTelemetry: the deferred loop's own fill == _apply ----------------------------

otel_keys = st.sampled_from(
    [
        "gen_ai.operation.name",
        "gen_ai.tool.name",
        "gen_ai.agent.name",
        "gen_ai.request.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.tool.call.id",
        "openinference.span.kind",
        "input.value",
        "output.value",
        "llm.prompt_template.version",
        "gen_ai.prompt.name",
        "from_agent",
        "to_agent",
        "http.method",
    ]
)
otel_values = st.one_of(
    st.sampled_from(["execute_tool", "chat", "handoff", "invoke_agent", "TOOL", "LLM", "search", "transfer_to_b"]),
    st.text(max_size=6),
    st.integers(-5, 500),
    st.booleans(),
    st.sampled_from(['{"q": 1}', "[1, 2]"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["execute_tool search", "chat", "handoff to b", "op", "invoke_agent a"]),
    attributes=st.dictionaries(otel_keys, otel_values, max_size=6),
    parent_agent=names,
)
def test_otel_deferred_fill_equals_apply(name: str, attributes: dict[str, Any], parent_agent: str | None) -> None:
    results = []
    for path in ("raw", "fast", "general"):
        rec = Recorder(path)
        parent = rec.start_span("agent", parent_agent or "root", parent_id=None)
        parent.agent = parent_agent
        handle = rec.start_span("custom", name, parent_id=parent.span_id)
        handle.end()
        if path == "raw":  # the common case: the ended span's own attribute dict beside the handle
            state = otel._state(rec)
            state.raw += [handle, dict(attributes)]
            otel._flush(rec, state)
        elif path == "fast":
            state = otel._state(rec)
            state.pending.append((handle, name, dict(attributes), None, None, None))
            otel._flush(rec, state)
        else:
            otel._apply(rec, handle, name, dict(attributes), None, None)
        results.append(handle)
    assert_same_handles(results[0], results[2])
    assert_same_handles(results[1], results[2])


def test_otel_deferred_loop_keeps_raw_attributes_when_the_mapping_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("mapping bug")

    monkeypatch.setattr(otel, "_map", broken)
    rec = Recorder("broken")
    handle = rec.start_span("tool", "t", parent_id=None)
    handle.end()
    state = otel._state(rec)
    state.pending.append((handle, "t", {"gen_ai.tool.name": ("a", "b")}, None, None, None))
    raw = rec.start_span("tool", "r", parent_id=None)
    raw.end()
    state.raw += [raw, {"gen_ai.tool.name": ("c",)}]  # the raw list: handle, the SDK's dict
    otel._flush(rec, state)
    assert handle.attributes == {"otel": {"gen_ai.tool.name": ["a", "b"]}}
    assert raw.attributes == {"otel": {"gen_ai.tool.name": ["c"]}}
    assert "could not map OpenTelemetry span" in caplog.text


# -- parent providers are asked only about recorders their framework recorded into ----


def test_a_provider_is_asked_only_once_its_adapter_has_state_for_the_recorder() -> None:
    asked: list[str] = []
    peek = _context.state_peeker("probe")

    def provider(rec: Recorder) -> SpanHandle | None:
        asked.append(rec.name)
        return None if peek(rec) is None else peek(rec).get("open")

    _context.register_parent_provider(provider)
    state = _context.state_getter("probe", lambda rec: {}, provider)
    rec = Recorder("probe")
    with rec:
        with rec.agent("native"):
            assert _context.resolve_parent(rec) is not None
        assert asked == []  # no state: never asked
        opened = rec.start_span("tool", "foreign", parent_id=None)
        state(rec)["open"] = opened
        assert _context.resolve_parent(rec) is opened
        with rec.tool("inside") as inside:  # a native span nests under the foreign one
            assert inside.parent_id == opened.span_id
        assert asked and set(asked) == {"probe"}
        opened.end()


# -- OTLP import: ids, our namespace and the per-import text cache -------------------


def id_by_pattern(value: Any) -> str | None:
    """The importer's id reading, with the regular expression: hex lowercased, 8- or 16-byte base64 decoded."""
    if not isinstance(value, str) or not value:
        return None
    if otlp._HEX_ID.fullmatch(value) or redact_text(value) != value:
        return value
    lowered = value.lower()
    if otlp._HEX_ID.fullmatch(lowered) or redact_text(lowered) != lowered:
        return lowered
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    return decoded.hex() if len(decoded) in (8, 16) else value


@given(
    st.text(alphabet="0123456789abcdefABCDEFxz+/=\n", max_size=34) | st.sampled_from(["ab" * 8, "AB" * 16, "0" * 16])
)
def test_id_check_reads_ids_exactly_as_the_hex_pattern(value: str) -> None:
    assert otlp._id(value) == id_by_pattern(value)


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "key": st.sampled_from(
                    [
                        "agenttrace.kind",
                        "agenttrace.attributes",
                        "input.value",
                        "output.mime_type",
                        "gen_ai.agent.name",
                        "openinference.span.kind",
                        "inputs",
                        "x",
                    ]
                ),
                "value": st.one_of(
                    st.fixed_dictionaries({"stringValue": st.text(max_size=4)}),
                    st.fixed_dictionaries({"intValue": st.integers(-9, 9).map(str)}),
                    st.fixed_dictionaries({"boolValue": st.booleans()}),
                ),
            }
        ),
        max_size=8,
    )
)
def test_own_namespace_decoding_equals_filter_then_decode(items: list[dict[str, Any]]) -> None:
    own = [item for item in items if item.get("key", "").startswith(otlp._OWN_PREFIXES)]
    assert otlp._decode_own(items) == otlp._decode_attributes(own)


def test_repeated_names_are_cleaned_like_the_first() -> None:
    secret = "agent sk-abcdefghijklmnopqrstuvwxyz0123"
    records = [
        Record(span_id=str(i), parent_id=None, kind="agent", name=secret, start_ns=i, end_ns=i + 1, agent=secret)
        for i in range(3)
    ]
    trace = assemble(records, trace_id="t", name="n", metadata={}, log=ImportLog("x"))
    assert {(s.name, s.agent) for s in trace.spans} == {("agent [REDACTED]", "agent [REDACTED]")}


def test_semconv_tuple_matches_what_the_importer_records() -> None:
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 3}
    kind, name, agent, attrs, *_ = map_otel_fields("chat m", attributes)
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "ab" * 16,
                                "spanId": "cd" * 8,
                                "name": "chat m",
                                "startTimeUnixNano": "5",
                                "endTimeUnixNano": "9",
                                "attributes": [
                                    {"key": k, "value": otlp.encode_any_value(v)} for k, v in attributes.items()
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    (trace,) = otlp.read_otlp(document, "x")
    (span,) = trace.spans
    assert (span.kind, span.name, span.agent, span.attributes) == (kind, name, agent, attrs)
