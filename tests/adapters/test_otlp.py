"""OTLP JSON export and import: valid OTLP, exact round trip, foreign GenAI spans."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pytest_agenttrace.adapters.importing import import_trace
from pytest_agenttrace.adapters.otlp import decode_any_value, encode_any_value, read_otlp, to_otlp
from pytest_agenttrace.exceptions import TraceFileError
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.store import validate_trace_dict
from pytest_agenttrace.strategies import traces

from .corpora import who_and_when_files


def recorded_trace() -> Trace:
    """A run with every field in use: delegation scope, error, events, links, context."""
    rec = Recorder("tests/test_x.py::test_run", metadata={"nodeid": "tests/test_x.py::test_run", "n": 1})
    with rec:
        with rec.agent("planner", revision="r1"):
            with rec.llm("plan", model="gpt-4o", input=[{"role": "user", "content": "héllo"}]) as llm:
                llm.set_usage(input_tokens=12, output_tokens=4)
                llm.set_output("a plan")
            with rec.delegate(
                "coder",
                objective="fix bug",
                allowed_tools=["edit_file"],
                context={"diff": "x", "confidence": 0.75, "missing": None},
                required_context=["diff"],
            ):
                with rec.agent("coder"):
                    with rec.tool("edit_file", input={"path": "a.py"}, tool_call_id="call_1") as tool:
                        tool.add_event("retry", attempt=2)
                        tool.set_output({"ok": True, "lines": [1, 2]})
                        tool.link(llm)
                    try:
                        with rec.tool("run_tests", input={}):
                            raise ValueError("2 failed")
                    except ValueError:
                        pass
            with rec.memory_write("notes", {"steps": 3}, version=2, based_on_version=1, valid=False):
                pass
            with rec.handoff("reviewer", context={}):
                pass
    return rec.finish()


def otlp_roundtrip(trace: Trace) -> Trace:
    [back] = read_otlp(json.loads(json.dumps(to_otlp(trace))), "t.json")
    return back


def test_export_then_import_is_identity_for_a_recorded_run() -> None:
    trace = recorded_trace()
    assert otlp_roundtrip(trace).to_dict() == trace.to_dict()


@given(traces(max_spans=25))
def test_export_then_import_is_identity(trace: Trace) -> None:
    assert otlp_roundtrip(trace).to_dict() == trace.to_dict()


def test_round_trip_keeps_odd_ids_and_values() -> None:
    spans = (
        Span(
            span_id="root span/1",
            parent_id=None,
            kind="agent",
            name="ä",
            agent="ä",
            start_ns=5,
            end_ns=90,
            input="[not json]",
            output=None,
            attributes={"big": 2**70, "f": 1.0, "i": 1, "none": None, "l": []},
            context={},
        ),
        Span(
            span_id="0000000000000000",
            parent_id="root span/1",
            kind="tool",
            name="t",
            agent="ä",
            start_ns=5,
            end_ns=5,
            input={"nested": {"a": [1, {"b": None}]}},
            links=["root span/1"],
        ),
    )
    trace = Trace(trace_id="not-hex", name="odd", started_at="2026-01-02T03:04:05.123456Z", spans=spans)
    back = otlp_roundtrip(trace)
    expected = trace.to_dict()
    expected["spans"][0]["attributes"]["big"] = str(2**70)  # documented: beyond int64 travels as text
    assert back.to_dict() == expected


def _to_protobuf_json(document: dict[str, Any]) -> dict[str, Any]:
    """OTLP JSON uses hex ids where protobuf's JSON mapping uses base64: convert for the parser."""
    converted = json.loads(json.dumps(document))
    for resource_spans in converted["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
                for link in span.get("links", ()):
                    for key in ("traceId", "spanId"):
                        link[key] = base64.b64encode(bytes.fromhex(link[key])).decode()
    return converted


def test_export_is_valid_otlp_json() -> None:
    trace = recorded_trace()
    document = to_otlp(trace)
    request = json_format.ParseDict(_to_protobuf_json(document), ExportTraceServiceRequest())
    [resource_spans] = request.resource_spans
    spans = resource_spans.scope_spans[0].spans
    assert len(spans) == len(trace.spans)
    ids = {span.span_id for span in spans}
    assert len(ids) == len(spans)
    for raw, span in zip(document["resourceSpans"][0]["scopeSpans"][0]["spans"], spans, strict=True):
        assert len(span.trace_id) == 16 and len(span.span_id) == 8
        assert raw["traceId"] == raw["traceId"].lower() and len(raw["traceId"]) == 32
        assert isinstance(raw["startTimeUnixNano"], str) and int(raw["endTimeUnixNano"]) >= int(
            raw["startTimeUnixNano"]
        )
        assert span.parent_span_id == b"" or span.parent_span_id in ids
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    assert service == "pytest-agenttrace"


def test_export_carries_viewer_attributes() -> None:
    document = to_otlp(recorded_trace())
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    by_name = {span["name"]: {a["key"]: decode_any_value(a["value"]) for a in span["attributes"]} for span in spans}
    assert by_name["plan"]["openinference.span.kind"] == "LLM"
    assert by_name["plan"]["gen_ai.request.model"] == "gpt-4o"
    assert by_name["plan"]["gen_ai.usage.input_tokens"] == 12
    assert by_name["edit_file"]["gen_ai.tool.name"] == "edit_file"
    assert by_name["edit_file"]["gen_ai.tool.call.id"] == "call_1"
    assert json.loads(by_name["edit_file"]["input.value"]) == {"path": "a.py"}
    assert by_name["run_tests"]["error.type"] == "ValueError"
    error_span = next(s for s in spans if s["name"] == "run_tests")
    assert error_span["status"] == {"code": 2, "message": "2 failed"}
    assert next(s for s in spans if s["name"] == "edit_file")["events"][0]["name"] == "retry"


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -5, 2**63 - 1, 1.5, "", "text", [], [1, "a", None], {}, {"a": {"b": [1.0, {"c": False}]}}],
)
def test_any_value_round_trip(value: Any) -> None:
    assert decode_any_value(json.loads(json.dumps(encode_any_value(value)))) == value


def _attr(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": encode_any_value(value)}


def foreign_document(trace_hex: str = "5b8efff798038103d269b633813fc60c") -> dict[str, Any]:
    """Spans as an OpenTelemetry GenAI-instrumented agent exports them (child listed first)."""
    base = 1_750_000_000_000_000_000
    spans = [
        {
            "traceId": trace_hex,
            "spanId": "00f067aa0ba902b7",
            "parentSpanId": "00f067aa0ba902b6",
            "name": "execute_tool get_weather",
            "kind": 1,
            "startTimeUnixNano": str(base + 2000),
            "endTimeUnixNano": str(base + 3000),
            "attributes": [
                _attr("gen_ai.operation.name", "execute_tool"),
                _attr("gen_ai.tool.name", "get_weather"),
                _attr("gen_ai.tool.call.id", "call_1"),
                _attr("gen_ai.tool.call.arguments", '{"city": "Paris"}'),
            ],
            "events": [
                {
                    "timeUnixNano": str(base + 2500),
                    "name": "exception",
                    "attributes": [_attr("exception.type", "TimeoutError"), _attr("exception.message", "too slow")],
                }
            ],
            "status": {"code": 2, "message": ""},
        },
        {
            "traceId": trace_hex,
            "spanId": "00f067aa0ba902b6",
            "parentSpanId": "",
            "name": "invoke_agent weather",
            "kind": 1,
            "startTimeUnixNano": str(base),
            "endTimeUnixNano": str(base + 9000),
            "attributes": [_attr("gen_ai.operation.name", "invoke_agent"), _attr("gen_ai.agent.name", "weather")],
            "status": {},
        },
        {
            "traceId": trace_hex,
            "spanId": "00f067aa0ba902b8",
            "parentSpanId": "00f067aa0ba902b6",
            "name": "chat gpt-4o",
            "kind": 3,
            "startTimeUnixNano": str(base + 1000),
            "endTimeUnixNano": str(base + 1900),
            "attributes": [
                _attr("gen_ai.operation.name", "chat"),
                _attr("gen_ai.request.model", "gpt-4o"),
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": 31}},  # ints as JSON numbers too
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "7"}},
            ],
            "links": [{"traceId": trace_hex, "spanId": "00f067aa0ba902b6"}],
        },
    ]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("service.name", "weather-svc")]},
                "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}],
            }
        ]
    }


def test_foreign_genai_spans_import_into_a_tree() -> None:
    [trace] = read_otlp(foreign_document(), "f.json")
    validate_trace_dict(trace.to_dict())
    assert [(s.kind, s.name, s.agent, s.start_ns) for s in trace.spans] == [
        ("agent", "weather", "weather", 0),
        ("llm", "chat gpt-4o", "weather", 1000),
        ("tool", "get_weather", "weather", 2000),
    ]
    agent, llm, tool = trace.spans
    assert llm.parent_id == tool.parent_id == agent.span_id
    assert llm.attributes["usage"] == {"input_tokens": 31, "output_tokens": 7}
    assert llm.links == [agent.span_id]
    assert tool.input == {"city": "Paris"}
    assert (tool.status, tool.error) == ("error", {"type": "TimeoutError", "message": "too slow"})
    assert tool.events[0]["time_ns"] == 2500
    assert trace.started_at == "2025-06-15T15:06:40.000000Z"
    assert trace.metadata["service"] == "weather-svc"
    assert trace.name == "weather"  # the root span, as mapped


def test_json_lines_with_two_traces_and_base64_ids(tmp_path: Path) -> None:
    second = foreign_document("6b8efff798038103d269b633813fc60c")
    for span in second["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode() if span[key] else ""
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(foreign_document()) + "\n" + json.dumps(second) + "\n")
    result = import_trace(path)
    assert isinstance(result, list) and len(result) == 2
    assert [len(t.spans) for t in result] == [3, 3]
    assert result[1].spans[1].parent_id == result[1].spans[0].span_id == "00f067aa0ba902b6"


def test_a_malformed_span_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    document = foreign_document()
    document["resourceSpans"][0]["scopeSpans"][0]["spans"].append(
        {"traceId": "5b8efff798038103d269b633813fc60c", "name": "x"}
    )
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["parentSpanId"] = "1111111111111111"
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace.adapters"):
        [trace] = read_otlp(document, "f.json")
    assert len(trace.spans) == 3
    assert any("skipped" in r.message for r in caplog.records)
    warnings = trace.metadata["import_warnings"]
    assert any("not in the file; made a root" in w for w in warnings)
    validate_trace_dict(trace.to_dict())


def test_a_file_that_is_not_otlp_names_the_file_and_the_format(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"trace": {}, "observations": []}))
    with pytest.raises(TraceFileError, match=r"other\.json: is not an OTLP JSON export .*looks like 'langfuse'"):
        import_trace(path, "otlp")
    path.write_text("{ broken")
    with pytest.raises(TraceFileError, match=r"other\.json: is not JSON"):
        import_trace(path, "otlp")


def test_an_own_export_without_spans_whose_metadata_holds_odd_warnings_says_so(tmp_path: Path) -> None:
    empty = Trace(trace_id="t", name="n", started_at="2026-01-01T00:00:00Z", metadata={"import_warnings": 5})
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(to_otlp(empty)))
    with pytest.raises(TraceFileError, match="holds no span that could be imported; expected an OTLP JSON export"):
        import_trace(path, "otlp")


def test_traces_sharing_a_trace_id_come_back_apart() -> None:
    # Who&When runs of one question share its id (90 of 184 runs): export then import keeps every run.
    first = recorded_trace()
    second = dataclasses.replace(recorded_trace(), trace_id=first.trace_id, name="another run")
    document = json.loads(json.dumps(to_otlp([first, second])))
    hexes = [item["scopeSpans"][0]["spans"][0]["traceId"] for item in document["resourceSpans"]]
    assert len(set(hexes)) == 2  # a viewer shows two traces
    back = read_otlp(document, "t.json")
    assert [trace.to_dict() for trace in back] == [first.to_dict(), second.to_dict()]


def test_two_identical_traces_come_back_as_two(caplog: pytest.LogCaptureFixture) -> None:
    # A run and its export re-imported: same trace id, span ids, metadata, so the same resource; the export gives
    # them distinct OTLP trace ids, and the import keeps them apart by those.
    trace = recorded_trace()
    copy = Trace.from_dict(trace.to_dict())
    document = json.loads(json.dumps(to_otlp([trace, copy])))
    resources = [item["resource"] for item in document["resourceSpans"]]
    assert resources[0] == resources[1]
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace.adapters"):
        back = read_otlp(document, "t.json")
    assert [t.to_dict() for t in back] == [trace.to_dict(), trace.to_dict()]
    assert not caplog.records


def test_identical_traces_batched_under_one_resource_come_back_apart() -> None:
    # A collector's batch processor merges resourceSpans with equal resources: the OTLP trace ids still tell them apart.
    trace = recorded_trace()
    document = to_otlp([trace, trace, trace])
    first, second, third = document["resourceSpans"]
    merged = {
        "resource": first["resource"],
        "scopeSpans": [*first["scopeSpans"], *second["scopeSpans"], *third["scopeSpans"]],
    }
    back = read_otlp(json.loads(json.dumps({"resourceSpans": [merged]})), "t.json")
    assert [t.to_dict() for t in back] == [trace.to_dict()] * 3


def test_identical_empty_traces_come_back_as_two() -> None:
    empty = Trace(trace_id="t", name="n", started_at="2026-01-01T00:00:00Z", metadata={"k": 1})
    back = read_otlp(json.loads(json.dumps(to_otlp([empty, empty]))), "t.json")
    assert [t.to_dict() for t in back] == [empty.to_dict(), empty.to_dict()]


@pytest.mark.parametrize("empty_first", [False, True])
def test_an_empty_batch_of_a_trace_with_spans_adds_no_trace(empty_first: bool) -> None:
    # A collector may send a batch of our resource with no spans: it belongs to the trace, not a new one.
    trace = recorded_trace()
    [entry] = to_otlp([trace])["resourceSpans"]
    empty = {"resource": entry["resource"], "scopeSpans": [{"scope": {}, "spans": []}]}
    entries = [empty, entry] if empty_first else [entry, empty]
    back = read_otlp(json.loads(json.dumps({"resourceSpans": entries})), "t.json")
    assert [t.to_dict() for t in back] == [trace.to_dict()]


def test_a_foreign_trace_from_several_services_is_one_trace() -> None:
    # Foreign OTLP: one trace id across several resources (a multi-service trace) is one trace.
    document = foreign_document()
    [resource_spans] = document["resourceSpans"]
    spans = resource_spans["scopeSpans"][0]["spans"]
    other = {
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "tool-svc"}}]},
        "scopeSpans": [{"scope": {}, "spans": spans[2:]}],
    }
    resource_spans["scopeSpans"][0]["spans"] = spans[:2]
    document["resourceSpans"].append(other)
    [whole] = read_otlp(foreign_document(), "f.json")
    [trace] = read_otlp(document, "f.json")
    assert trace.to_dict() == whole.to_dict()


def test_our_export_split_into_batches_joins_again() -> None:
    # A collector's file exporter may write one trace's spans as several lines, each with the resource.
    trace = recorded_trace()
    [resource_spans] = to_otlp(trace)["resourceSpans"]
    spans = resource_spans["scopeSpans"][0]["spans"]
    lines = [
        {"resourceSpans": [{**resource_spans, "scopeSpans": [{"scope": {}, "spans": part}]}]}
        for part in (spans[:3], spans[3:])
    ]
    [back] = read_otlp(json.loads(json.dumps(lines)), "t.json")
    assert back.to_dict() == trace.to_dict()


def test_a_foreign_parent_survives_the_round_trip() -> None:
    rec = Recorder("distributed")
    rec.start_span("tool", "x", parent_id="proc-a-span-7").end()
    trace = rec.finish()
    back = otlp_roundtrip(trace)
    assert back.spans[0].parent_id == "proc-a-span-7"
    assert "import_warnings" not in back.metadata
    assert back.to_dict() == trace.to_dict()


def _foreign(span_id: str, parent: str = "", name: str = "s") -> dict[str, Any]:
    return {
        "traceId": "t1",
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000000000100",
    }


def test_only_hex_ids_are_lowercased_and_only_8_or_16_byte_base64_decoded() -> None:
    eight = base64.b64encode(bytes.fromhex("00f067aa0ba902b7")).decode()
    spans = [
        _foreign("Root-A", name="first"),
        _foreign("root-a", name="second"),
        _foreign("agent001", "Root-A", name="child"),
        _foreign("00F067AA0BA902B9", name="upper hex"),
        _foreign(eight, "00F067AA0BA902B9", name="base64"),
    ]
    [trace] = read_otlp({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, "t.json")
    got = {span.name: (span.span_id, span.parent_id) for span in trace.spans}
    assert got == {
        "first": ("Root-A", None),
        "second": ("root-a", None),  # not the same span as Root-A
        "child": ("agent001", "Root-A"),  # 6 bytes of base64: not an OTLP id, kept
        "upper hex": ("00f067aa0ba902b9", None),
        "base64": ("00f067aa0ba902b7", "00f067aa0ba902b9"),
    }
    assert "import_warnings" not in trace.metadata


def test_an_empty_span_id_is_given_one_like_in_every_importer(caplog: pytest.LogCaptureFixture) -> None:
    # docs/importing.md: an empty span id becomes imported-1, imported-2, ... (with a warning); "" as parent is a root.
    spans = [
        _foreign("aaaaaaaaaaaaaaaa", name="root"),
        _foreign("", "aaaaaaaaaaaaaaaa", name="child"),
        _foreign("", "", name="second root"),
        _foreign("bbbbbbbbbbbbbbbb", "", name="third root"),
    ]
    with caplog.at_level(logging.WARNING, logger="pytest_agenttrace.adapters"):
        [trace] = read_otlp({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, "t.json")
    got = {span.name: (span.span_id, span.parent_id) for span in trace.spans}
    assert got == {
        "root": ("aaaaaaaaaaaaaaaa", None),
        "child": ("imported-1", "aaaaaaaaaaaaaaaa"),
        "second root": ("imported-2", None),
        "third root": ("bbbbbbbbbbbbbbbb", None),
    }
    warnings = trace.metadata["import_warnings"]
    assert len(warnings) == 2 and all("has an empty id; it was given the id 'imported-" in w for w in warnings)
    assert not any("skipped" in r.message for r in caplog.records)
    validate_trace_dict(trace.to_dict())


def test_an_empty_span_id_of_our_own_export_is_given_one_too() -> None:
    trace = recorded_trace()
    document = json.loads(json.dumps(to_otlp(trace)))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    leaf = next(s for s in spans if s["name"] == "run_tests")
    leaf["spanId"] = ""
    [back] = read_otlp(document, "t.json")
    assert back.to_dict() == trace.to_dict()  # agenttrace.span_id names the span: the OTLP id is not needed
    leaf["attributes"] = [a for a in leaf["attributes"] if a["key"] != "agenttrace.span_id"]
    [back] = read_otlp(document, "t.json")
    assert len(back.spans) == len(trace.spans)
    assert next(s for s in back.spans if s.name == "run_tests").span_id == "imported-1"


@pytest.mark.parametrize(
    ("span_id", "why"),
    [
        ("(no key)", "skipped: it has no 'spanId'"),
        (None, "skipped: no spanId"),
        (7, "skipped: spanId 7 is not a string"),
    ],
)
def test_a_span_without_a_span_id_is_skipped_with_a_warning(span_id: Any, why: str) -> None:
    # No id at all (no key, null, not a string) is a malformed record, as in the other importers: skipped.
    missing = _foreign("x", name="no id")
    if span_id == "(no key)":
        del missing["spanId"]
    else:
        missing["spanId"] = span_id
    spans = [_foreign("aaaaaaaaaaaaaaaa", name="root"), missing]
    [trace] = read_otlp({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, "t.json")
    assert [span.name for span in trace.spans] == ["root"]
    [warning] = trace.metadata["import_warnings"]
    assert warning.endswith(why)


def test_every_who_and_when_run_survives_one_export_and_import() -> None:
    # 90 of the 184 runs share their trace id (the question id) with another run: all come back, each whole.
    runs: list[Trace] = []
    for path in who_and_when_files():
        run = import_trace(path, "messages")
        assert isinstance(run, Trace)
        runs.append(run)
    shared = Counter(run.trace_id for run in runs)
    assert sum(n for n in shared.values() if n > 1) == 90
    back = read_otlp(json.loads(json.dumps(to_otlp(runs))), "who-and-when.otlp.json")
    assert [trace.to_dict() for trace in back] == [run.to_dict() for run in runs]
