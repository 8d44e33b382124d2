"""OTLP JSON: agenttrace traces out to OpenTelemetry viewers, and foreign spans in.

Export (:func:`to_otlp`) writes an ``ExportTraceServiceRequest`` in the OTLP
JSON encoding: ``resourceSpans`` / ``scopeSpans`` / ``spans``, lowercase hex
ids (trace 32, span 16 digits), times as decimal strings of unix nanoseconds,
enums as integers, attribute values as ``AnyValue`` objects.  One
``resourceSpans`` entry per trace.  Viewers (Jaeger, Phoenix, Langfuse) read
the attributes written alongside: the GenAI conventions
(``gen_ai.operation.name``, ``gen_ai.agent.name``, ``gen_ai.tool.name``,
``gen_ai.request.model``, ``gen_ai.usage.*``, ``error.type``) and OpenInference's
``openinference.span.kind`` and ``input.value``/``output.value``.

The contract fields travel under the ``agenttrace.`` namespace, so that export
then import gives back the same trace::

    resource  agenttrace.format_version, agenttrace.trace_id, agenttrace.trace.name,
              agenttrace.trace.started_at, agenttrace.trace.metadata, agenttrace.trace.versions
              (one resourceSpans per trace, present even when the trace has no spans)
    span      agenttrace.kind, agenttrace.span_id / agenttrace.parent_id (when the
              id is not already 16 hex digits), agenttrace.agent, agenttrace.scope,
              agenttrace.scope_path, agenttrace.status, agenttrace.error,
              agenttrace.attributes, agenttrace.versions, agenttrace.context,
              agenttrace.links, agenttrace.events; input/output in input.value /
              output.value (a string as it is, anything else as JSON text with
              the mime type application/json); status only when not ``ok``

Times: unix nanoseconds = ``started_at`` + ``start_ns``.  Not kept: integers
outside the signed 64-bit range (written as strings).

Export gives traces of one document that share a trace id distinct OTLP trace
ids.  Import (:func:`read_otlp`) groups foreign spans by trace id (one trace
may come from several resources: services), and the spans of our own export
by their resource (which names one trace) and OTLP trace id, so such traces
come back apart, even two identical ones (a run and its re-import), and a
trace split into batches comes back whole.  A resource of our own without
spans is one empty trace.  Spans carrying
``agenttrace.kind`` come back exactly; any other span is mapped with
:func:`~pytest_agenttrace.adapters.semconv.map_otel_span`.  Both the single
JSON document and JSON Lines (the collector's file exporter) are read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..model import FORMAT_VERSION, Span, Trace
from ..sanitize import redact_text
from .importing import (
    ImportLog,
    Record,
    RecordError,
    ShapeError,
    assemble,
    loads_text,
    quote,
    skip_reason,
    text_of,
    unix_ns_from_iso,
)
from .semconv import map_otel_fields

__all__ = ["decode_any_value", "encode_any_value", "read_otlp", "to_otlp"]

NS: Final = "agenttrace."
_KIND_KEY: Final = NS + "kind"
_OWN_PREFIXES: Final = (NS, "input.", "output.")
_SCOPE_NAME: Final = "pytest-agenttrace"
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX_ID = re.compile(r"[0-9a-f]{16}(?:[0-9a-f]{16})?")
_HEX_DIGITS: Final = "0123456789abcdef"
_INT64 = (-(2**63), 2**63 - 1)

_SPAN_KIND_INTERNAL: Final = 1
_SPAN_KIND_CLIENT: Final = 3
_STATUS_OK: Final = 1
_STATUS_ERROR: Final = 2

_OPENINFERENCE_KIND: Final[dict[str, str]] = {
    "agent": "AGENT",
    "llm": "LLM",
    "tool": "TOOL",
    "retrieval": "RETRIEVER",
    "guardrail": "GUARDRAIL",
}
_OPERATION: Final[dict[str, str]] = {
    "agent": "invoke_agent",
    "llm": "chat",
    "tool": "execute_tool",
    "retrieval": "retrieval",
    "memory_read": "search_memory",
    "memory_write": "update_memory",
}


# -- AnyValue ----------------------------------------------------------------


def encode_any_value(value: Any) -> dict[str, Any]:
    """A JSON value as an OTLP ``AnyValue`` (``null`` is the empty ``AnyValue``)."""
    if value is None:
        return {}
    if value is True or value is False:
        return {"boolValue": value}
    if isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            return {"intValue": str(value)}
        return {"stringValue": str(value)}
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"stringValue": repr(value)}
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": [{"key": str(k), "value": encode_any_value(v)} for k, v in value.items()]}}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [encode_any_value(v) for v in value]}}
    return {"stringValue": repr(value)}


def decode_any_value(value: Any) -> Any:
    """The Python value of an OTLP ``AnyValue`` (lenient: numbers as strings or not)."""
    if type(value) is not dict:
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "kvlistValue" in value:
        return _decode_attributes((value["kvlistValue"] or {}).get("values"))
    if "arrayValue" in value:
        return [decode_any_value(v) for v in (value["arrayValue"] or {}).get("values") or ()]
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attr(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": encode_any_value(value)}


def _decode_attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        value = item.get("value")
        # Most attribute values are strings: skip the general decoder for them.
        text = value.get("stringValue") if type(value) is dict else None
        key = item["key"]
        out[key if type(key) is str else text_of(key)] = text if text is not None else decode_any_value(value)
    return out


def _decode_own(items: Any) -> dict[str, Any]:
    """:func:`_decode_attributes` of the items in our namespace and the payloads, in one pass."""
    out: dict[str, Any] = {}
    prefixes = _OWN_PREFIXES
    for item in items:
        key = item.get("key", "")
        if key.startswith(prefixes):
            value = item.get("value")
            text = value.get("stringValue") if type(value) is dict else None
            out[key if type(key) is str else str(key)] = text if text is not None else decode_any_value(value)
    return out


# -- export ------------------------------------------------------------------


def to_otlp(traces: Trace | Iterable[Trace]) -> dict[str, Any]:
    """One or more traces as an OTLP JSON ``ExportTraceServiceRequest`` dict."""
    items = [traces] if isinstance(traces, Trace) else list(traces)
    out = []
    taken: set[str] = set()
    for trace in items:
        # Runs can share a trace id (Who&When's question id): each keeps its own OTLP trace in a viewer.
        trace_hex = _trace_hex(trace.trace_id)
        copy = 1
        while trace_hex in taken:
            copy += 1
            trace_hex = _trace_hex(f"{trace.trace_id}#{copy}")
        taken.add(trace_hex)
        out.append(_resource_spans(trace, trace_hex))
    return {"resourceSpans": out}


def _resource_spans(trace: Trace, trace_hex: str) -> dict[str, Any]:
    base = unix_ns_from_iso(trace.started_at) or 0
    ids = _span_hexes(trace, trace_hex)
    resource = [
        _attr("service.name", _SCOPE_NAME),
        _attr(NS + "format_version", FORMAT_VERSION),
        _attr(NS + "trace.name", trace.name),
        _attr(NS + "trace.started_at", trace.started_at),
        _attr(NS + "trace.metadata", trace.metadata),
        _attr(NS + "trace.versions", trace.versions),
    ]
    resource.append(_attr(NS + "trace_id", trace.trace_id))
    return {
        "resource": {"attributes": resource},
        "scopeSpans": [
            {
                "scope": {"name": _SCOPE_NAME},
                "spans": [_span(span, trace_hex, ids, base) for span in trace.spans],
            }
        ],
    }


def _span(span: Span, trace_hex: str, ids: dict[str, str], base: int) -> dict[str, Any]:
    span_hex = ids[span.span_id]
    attributes = [_attr(_KIND_KEY, span.kind)]  # first: the import looks for it there
    if span.status != "ok":
        attributes.append(_attr(NS + "status", span.status))
    if span_hex != span.span_id:
        attributes.append(_attr(NS + "span_id", span.span_id))
    parent_hex = ""
    if span.parent_id is not None:
        parent_hex = ids.get(span.parent_id) or _hash_hex(trace_hex, span.parent_id)
        if parent_hex != span.parent_id:
            attributes.append(_attr(NS + "parent_id", span.parent_id))
    for key in ("agent", "scope", "error", "context"):
        value = getattr(span, key)
        if value is not None:
            attributes.append(_attr(NS + key, value))
    for key in ("scope_path", "attributes", "versions", "links", "events"):
        value = getattr(span, key)
        if value:
            attributes.append(_attr(NS + key, value))
    for key, value in (("input", span.input), ("output", span.output)):
        if value is not None:
            if isinstance(value, str):  # OpenInference's default mime type is text/plain
                attributes.append(_attr(f"{key}.value", value))
            else:
                text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                attributes += [_attr(f"{key}.value", text), _attr(f"{key}.mime_type", "application/json")]
    attributes += _viewer_attributes(span)

    out: dict[str, Any] = {
        "traceId": trace_hex,
        "spanId": span_hex,
        "parentSpanId": parent_hex,
        "name": span.name,
        "kind": _SPAN_KIND_CLIENT if span.kind == "llm" else _SPAN_KIND_INTERNAL,
        "startTimeUnixNano": str(base + span.start_ns),
        "endTimeUnixNano": str(base + span.end_ns),
        "attributes": attributes,
        "status": (
            {"code": _STATUS_ERROR, "message": str((span.error or {}).get("message", ""))}
            if span.status == "error"
            else {"code": _STATUS_OK}
        ),
    }
    if span.events:
        out["events"] = [
            {
                "timeUnixNano": str(base + int(event.get("time_ns", span.start_ns))),
                "name": str(event.get("name", "event")),
                "attributes": [_attr(k, v) for k, v in (event.get("attributes") or {}).items()],
            }
            for event in span.events
        ]
    if span.links:
        out["links"] = [{"traceId": trace_hex, "spanId": ids[link]} for link in span.links if link in ids]
    return out


def _viewer_attributes(span: Span) -> list[dict[str, Any]]:
    """OpenInference and GenAI attributes for viewers; the import ignores them."""
    attrs = span.attributes
    out = [_attr("openinference.span.kind", _OPENINFERENCE_KIND.get(span.kind, "CHAIN"))]
    if span.kind in _OPERATION:
        out.append(_attr("gen_ai.operation.name", _OPERATION[span.kind]))
    if span.agent is not None:
        out.append(_attr("gen_ai.agent.name", span.agent))
    if span.kind == "tool":
        out.append(_attr("gen_ai.tool.name", span.name))
        if isinstance(attrs.get("tool_call_id"), str):
            out.append(_attr("gen_ai.tool.call.id", attrs["tool_call_id"]))
    model = attrs.get("model")
    if isinstance(model, str):
        out.append(_attr("gen_ai.request.model", model))
    usage = attrs.get("usage")
    if isinstance(usage, Mapping):
        for ours, genai in (
            ("input_tokens", "gen_ai.usage.input_tokens"),
            ("output_tokens", "gen_ai.usage.output_tokens"),
        ):
            if isinstance(usage.get(ours), int):
                out.append(_attr(genai, usage[ours]))
    if span.error is not None:
        out.append(_attr("error.type", str(span.error.get("type", "Error"))))
    return out


def _trace_hex(trace_id: str) -> str:
    if _HEX32.match(trace_id) and trace_id != "0" * 32:
        return trace_id
    if _HEX16.match(trace_id) and trace_id != "0" * 16:
        return "0" * 16 + trace_id
    return hashlib.sha256(trace_id.encode()).hexdigest()[:32]


def _hash_hex(trace_hex: str, span_id: str) -> str:
    return hashlib.sha256(f"{trace_hex}/{span_id}".encode()).hexdigest()[:16]


def _span_hexes(trace: Trace, trace_hex: str) -> dict[str, str]:
    """A distinct 16-hex-digit OTLP id for every span id of the trace."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for span in trace.spans:
        candidate = span.span_id
        if not _HEX16.match(candidate) or candidate == "0" * 16:
            candidate = _hash_hex(trace_hex, candidate)
        salt = 0
        while candidate in taken:  # only on a hash collision or an id clash with a hash
            salt += 1
            candidate = _hash_hex(trace_hex, f"{span.span_id}#{salt}")
        ids[span.span_id] = candidate
        taken.add(candidate)
    return ids


# -- import ------------------------------------------------------------------


def read_otlp(data: Any, source: str) -> list[Trace]:
    """Traces from a parsed OTLP JSON document, or a list of them (JSON Lines)."""
    documents = data if isinstance(data, list) else [data]
    # Foreign spans are grouped by trace id; our own export's by its resource (which names one trace) and trace id.
    groups: dict[tuple[str, ...], _Group] = {}
    spanless: list[tuple[str, dict[str, Any], list[str]]] = []  # our resources' entries without spans
    last_raw_trace: Any = None
    group: _Group | None = None
    for position, document in enumerate(documents):
        where = f"document {position + 1}: " if len(documents) > 1 else ""
        if not isinstance(document, Mapping):
            raise ShapeError(f"{where}expected an object with 'resourceSpans', found {type(document).__name__}")
        all_resource_spans = document.get("resourceSpans") or []
        if not isinstance(all_resource_spans, list):
            raise ShapeError(f"{where}'resourceSpans' must be a list, found {type(all_resource_spans).__name__}")
        for resource_spans in all_resource_spans:
            if not isinstance(resource_spans, Mapping):
                raise ShapeError(f"{where}each 'resourceSpans' item must be an object")
            resource_obj = resource_spans.get("resource") or {}
            resource = _decode_attributes(resource_obj.get("attributes") if isinstance(resource_obj, Mapping) else None)
            # Our own export: the resource names one trace.  Traces sharing a trace id (runs of one question) have
            # different resources; identical traces (a run and its re-import) have equal resources but distinct OTLP
            # trace ids.  A collector that splits one trace's spans into batches repeats both: they join.
            fingerprint = _fingerprint(resource) if NS + "format_version" in resource else None
            own: _Group | None = None
            own_raw_trace: Any = None
            stray: list[str] = []  # warnings about our own entry's non-object spans, for its trace
            all_scope_spans = (
                resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []
            )
            if not isinstance(all_scope_spans, list):
                raise ShapeError(f"{where}'scopeSpans' must be a list, found {type(all_scope_spans).__name__}")
            for scope_spans in all_scope_spans:
                spans = scope_spans.get("spans") or () if isinstance(scope_spans, Mapping) else None
                if not isinstance(spans, (list, tuple)):
                    raise ShapeError(f"{where}each 'scopeSpans' item must be an object with a 'spans' list")
                for raw in spans:
                    if not isinstance(raw, Mapping):
                        message = f"span {quote(raw)} is not an object; skipped"
                        if fingerprint is not None:
                            stray.append(message)
                        else:
                            groups.setdefault(
                                ("otlp", "0" * 32), _Group("0" * 32, resource, f"{source}#{'0' * 32}")
                            ).log.warn(message)
                        continue
                    if fingerprint is not None:
                        raw_trace = raw.get("traceId")
                        if own is None or raw_trace != own_raw_trace:
                            own_raw_trace = raw_trace
                            own = _own_group(groups, fingerprint, _id(raw_trace) or "", resource, source)
                        own.add(raw)
                        continue
                    raw_trace = raw.get("traceId")
                    if raw_trace != last_raw_trace or group is None:
                        # Spans of one trace come together: the id is read and its group found once per run.
                        last_raw_trace = raw_trace
                        trace_hex = _id(raw_trace) or "0" * 32
                        group = groups.get(("otlp", trace_hex))
                        if group is None:
                            group = groups["otlp", trace_hex] = _Group(trace_hex, resource, f"{source}#{trace_hex}")
                    group.add(raw)
            if fingerprint is not None:
                if own is None:
                    spanless.append((fingerprint, resource, stray))
                    continue
                for message in stray:
                    own.log.warn(message)
    with_spans = {key[1] for key in groups if key[0] == "agenttrace"}
    numbers: dict[str, int] = {}
    for fingerprint, resource, stray in spanless:
        if fingerprint in with_spans:
            # An empty batch of a trace whose spans came in another entry: nothing to add but its warnings.
            own = next(g for k, g in groups.items() if k[0] == "agenttrace" and k[1] == fingerprint)
        else:
            # A trace without spans (it exists all the same); equal ones stay apart, one per resourceSpans.
            numbers[fingerprint] = number = numbers.get(fingerprint, 0) + 1
            own = _own_group(groups, fingerprint, "", resource, source, f"#{number}")
        for message in stray:
            own.log.warn(message)
    return [group.build(source) for group in groups.values()]


def _own_group(
    groups: dict[tuple[str, ...], _Group],
    fingerprint: str,
    otlp_trace: str,
    resource: dict[str, Any],
    source: str,
    spanless: str = "",
) -> _Group:
    """The group of our own export's trace with this resource and OTLP trace id (made when new)."""
    key = ("agenttrace", fingerprint, otlp_trace, spanless)
    found = groups.get(key)
    if found is None:
        own_hex = _trace_hex(str(resource.get(NS + "trace_id", "")))
        found = groups[key] = _Group(own_hex, resource, f"{source}#{otlp_trace or own_hex}")
    return found


def _fingerprint(resource: Mapping[str, Any]) -> str:
    """What tells one exported trace's resource from another's (all of its attributes)."""
    text = json.dumps(resource, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class _Group:
    """The spans of one trace id, as records."""

    def __init__(self, trace_hex: str, resource: dict[str, Any], label: str) -> None:
        self.trace_hex = trace_hex
        self.resource = resource
        self.log = ImportLog(label)
        self.records: list[Record] = []
        self.hex_to_id: dict[str, str] = {}
        self.native = NS + "format_version" in resource

    def add(self, raw: Mapping[str, Any]) -> None:
        try:
            record = self._record(raw)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            why = skip_reason(exc)
            self.log.warn(f"span {quote(raw.get('spanId'))} skipped: {why}")
            return
        self.records.append(record)

    def _record(self, raw: Mapping[str, Any]) -> Record:
        raw_id = raw["spanId"]
        if type(raw_id) is not str:
            raise RecordError("no spanId" if raw_id is None else f"spanId {quote(raw_id)} is not a string")
        # An empty id ("") is given one by assemble (imported-1, ...), as in every importer; as a parent it means none.
        span_hex = _id(raw_id) or ""
        parent_hex = _id(raw.get("parentSpanId"))
        start = _ns(raw["startTimeUnixNano"], "startTimeUnixNano")
        end = _ns(raw.get("endTimeUnixNano") or start, "endTimeUnixNano")
        items = raw.get("attributes") or ()
        # Our export writes agenttrace.kind first; other positions are looked at only in our own resource.
        if items and (
            items[0].get("key") == _KIND_KEY or (self.native and any(item.get("key") == _KIND_KEY for item in items))
        ):
            # Our own span: only our namespace and the payloads matter, the rest is for viewers.
            return self._native(text_of(raw.get("name", "")), span_hex, parent_hex, start, end, _decode_own(items))
        attrs = _decode_attributes(items)
        status = raw.get("status") or {}
        code = status.get("code")
        raw_events = raw.get("events")
        events = [self._event(e) for e in raw_events] if raw_events else []
        status_error = None
        if code in (_STATUS_ERROR, "STATUS_CODE_ERROR"):
            exception: dict[str, Any] = next((e["attributes"] for e in events if e["name"] == "exception"), {})
            status_error = (
                text_of(exception.get("exception.type") or attrs.get("error.type") or ""),
                text_of(status.get("message") or exception.get("exception.message") or ""),
            )
        name = raw.get("name", "")
        # map_otel_span's fields as a plain tuple, straight into the record (no MappedSpan in between).
        kind, span_name, agent, attributes, input_value, output_value, versions, error = map_otel_fields(
            name if type(name) is str else text_of(name), attrs, status_error
        )
        raw_links = raw.get("links")
        links = [link for link in (_id(item.get("spanId")) for item in raw_links) if link] if raw_links else []
        self.hex_to_id[span_hex] = span_hex
        return Record(
            span_id=span_hex,
            parent_id=parent_hex,
            kind=kind,
            name=span_name,
            start_ns=start,
            end_ns=end,
            agent=agent,
            status="error" if error is not None else "ok",
            error=error,
            input=input_value,
            output=output_value,
            attributes=attributes,
            versions=versions,
            context=None,
            links=links,
            events=events,
        )

    def _native(
        self, name: str, span_hex: str, parent_hex: str | None, start: int, end: int, attrs: dict[str, Any]
    ) -> Record:
        get = attrs.get
        span_id = text_of(get("agenttrace.span_id", span_hex))
        self.hex_to_id[span_hex] = span_id
        parent_id = get("agenttrace.parent_id", parent_hex)
        links = get("agenttrace.links")
        scope_path = get("agenttrace.scope_path")
        scope = get("agenttrace.scope")
        return Record(
            span_id=span_id,
            parent_id=None if parent_id is None else text_of(parent_id),
            kind=text_of(attrs[_KIND_KEY]),
            name=name,
            start_ns=start,
            end_ns=end,
            agent=get("agenttrace.agent"),
            status=text_of(get("agenttrace.status", "ok")),
            error=get("agenttrace.error"),
            input=_payload(attrs, "input.value", "input.mime_type"),
            output=_payload(attrs, "output.value", "output.mime_type"),
            attributes=get("agenttrace.attributes") or {},
            versions=get("agenttrace.versions") or {},
            context=get("agenttrace.context"),
            links=[text_of(link) for link in links] if isinstance(links, list) else [],
            events=get("agenttrace.events") or [],
            scope=None if scope is None else text_of(scope),
            scope_path=[text_of(item) for item in scope_path] if isinstance(scope_path, list) else [],
            exact=True,
        )

    def _event(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": text_of(raw.get("name", "")),
            "time_ns": _ns(raw.get("timeUnixNano") or 0, "timeUnixNano"),
            "attributes": _decode_attributes(raw.get("attributes")),
        }

    def build(self, source: str) -> Trace:
        # Parents named by hex id point at the original ids of native spans.
        for record in self.records:
            if record.parent_id is not None and not record.exact:
                record.parent_id = self.hex_to_id.get(record.parent_id, record.parent_id)
        if self.native:
            resource = self.resource
            started_at = text_of(resource.get(NS + "trace.started_at", ""))
            return assemble(
                self.records,
                trace_id=text_of(resource.get(NS + "trace_id") or self.trace_hex),
                name=text_of(resource.get(NS + "trace.name", "")),
                metadata=resource.get(NS + "trace.metadata") or {},
                versions=resource.get(NS + "trace.versions") or {},
                started_at=started_at,
                base=unix_ns_from_iso(started_at) or 0,
                log=self.log,
            )
        roots = sorted((r for r in self.records if r.parent_id is None), key=lambda r: r.start_ns)
        metadata: dict[str, Any] = {"imported_from": "otlp", "source": source}
        service = self.resource.get("service.name")
        if isinstance(service, str):
            metadata["service"] = service
        return assemble(
            self.records,
            trace_id=self.trace_hex,
            name=roots[0].name if roots else source,
            metadata=metadata,
            log=self.log,
        )


def _payload(attrs: Mapping[str, Any], key: str, mime_key: str) -> Any:
    value = attrs.get(key)
    if value is not None and attrs.get(mime_key) == "application/json" and isinstance(value, str):
        try:
            return loads_text(value)
        except (ValueError, RecursionError):  # not JSON after all (or nested too deeply): the text
            return value
    return value


def _ns(value: Any, field: str) -> int:
    """Unix nanoseconds from an OTLP time (a decimal string, or a number); :class:`RecordError` if not one."""
    if type(value) is int:
        return value
    if isinstance(value, str) and len(value) <= 30:
        try:
            return int(value)
        except ValueError:
            pass
    elif isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        return int(value)
    raise RecordError(f"{field} {quote(value)} is not a time in unix nanoseconds")


def _id(value: Any) -> str | None:
    """An id as lowercase hex: a hex id lowercased, a base64 one (protobuf's own JSON mapping) decoded.

    Only what is one of these is converted: a hex id has 16 or 32 hex digits, a
    base64 id decodes to 8 or 16 bytes.  Any other id is kept as it is, so ids
    that differ only in case stay apart.
    """
    if not isinstance(value, str) or not value:
        return None
    if (len(value) == 16 or len(value) == 32) and not value.strip(_HEX_DIGITS):
        return value  # what _HEX_ID.fullmatch accepts, tested without the regex machinery (3 ids a span)
    if redact_text(value) != value:
        return value  # a secret: as it is, for the import to redact (lowercased or decoded it would not look like one)
    lowered = value.lower()
    if _HEX_ID.fullmatch(lowered) or redact_text(lowered) != lowered:
        return lowered  # hex; or a secret in capitals ('SK-PROJ-...'), lowercased for the import to redact
    if len(value) in (12, 24):  # the base64 lengths of 8 and 16 bytes
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value
        if len(decoded) in (8, 16):
            return decoded.hex()
    return value
