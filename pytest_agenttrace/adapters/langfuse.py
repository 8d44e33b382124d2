"""Langfuse trace exports: ``{"trace": {...}, "observations": [...]}``.

Langfuse's download button (and its public API's trace object, which carries
``observations`` itself) gives one trace and its observations.  Each
observation has ``id``, ``parentObservationId``, ``type`` (``SPAN``,
``GENERATION``, ``AGENT``, ``TOOL``, ``CHAIN``, ``RETRIEVER``, ``EVENT``, ...),
``name``, ``startTime``/``endTime`` (ISO 8601), ``input``/``output``,
``model``, ``usageDetails``, ``level``/``statusMessage``, ``promptName``/
``promptVersion``, and ``metadata``; observations that arrived through
OpenTelemetry keep their original attributes in ``metadata.attributes``.

Mapping, first that applies:

1. the OpenTelemetry attributes, through
   :func:`~pytest_agenttrace.adapters.semconv.map_otel_span`;
2. a LangGraph node (``metadata.langgraph_node`` equal to the observation's
   name): an ``agent`` span named after the node, as the live LangChain
   adapter records it;
3. a LangChain tool result (output ``{"type": "tool", "tool_call_id": ...}``): a ``tool``;
4. the observation type: ``GENERATION``/``EMBEDDING`` -> llm, ``AGENT`` ->
   agent, ``TOOL`` -> tool, ``RETRIEVER`` -> retrieval, ``GUARDRAIL``/``EVALUATOR``
   -> guardrail, anything else -> custom.

Langfuse's own fields fill what the attributes leave open: ``model``,
``usageDetails`` (``usage.input_tokens``/``output_tokens``), ``input``/``output``,
``level: ERROR`` (status error with ``statusMessage``), prompt name/version
(version stamp ``prompt:NAME``).  The Langfuse metadata is kept under
``attributes.langfuse``.

The trace's own metadata (less what only describes the exporter) is kept in
``metadata.langfuse``, its scores (evaluations) in ``metadata.scores`` and, as
Who&When's labels are, in ``metadata.labels`` (score name -> value).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from ..model import Trace
from .importing import (
    ImportLog,
    Record,
    RecordError,
    ShapeError,
    assemble,
    describe,
    id_of,
    quote,
    text_of,
    unix_ns_from_iso,
)
from .semconv import MappedSpan, map_otel_span

__all__ = ["read_langfuse"]

_TYPES: Final[dict[str, str]] = {
    "GENERATION": "llm",
    "EMBEDDING": "llm",
    "AGENT": "agent",
    "TOOL": "tool",
    "RETRIEVER": "retrieval",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "guardrail",
}
# Langfuse metadata that only describes the exporter, not the run.
_DROPPED_METADATA: Final = frozenset({"attributes", "resourceAttributes", "scope"})


def read_langfuse(data: Any, source: str) -> list[Trace]:
    """Traces from a parsed Langfuse export (one export, or a list of them)."""
    exports = data if isinstance(data, list) else [data]
    traces = []
    for position, export in enumerate(exports):
        if not isinstance(export, Mapping):
            continue
        inner = export.get("trace")
        trace: Mapping[str, Any] = inner if isinstance(inner, Mapping) else export
        label = source if len(exports) == 1 else f"{source}#{position}"
        observations = export.get("observations")
        if not isinstance(observations, list):
            raise ShapeError(f"'observations' must be a list, found {type(observations).__name__}")
        traces.append(_read_one(trace, observations, label, source))
    return traces


def _read_one(trace: Mapping[str, Any], observations: list[Any], label: str, source: str) -> Trace:
    log = ImportLog(label)
    records = []
    for position, observation in enumerate(observations):
        try:
            records.append(_record(observation))
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            ident = observation.get("id") if isinstance(observation, Mapping) else None
            which = f"observation #{position}" + (f" (id {quote(ident)})" if ident is not None else "")
            if isinstance(exc, KeyError):
                why = f"it has no {quote(exc.args[0])}" if exc.args else "a field is missing"
            elif not isinstance(observation, Mapping):
                why = f"it is a {type(observation).__name__}, not an object"
            else:
                why = describe(exc)
            log.warn(f"{which} skipped: {why}")
    metadata: dict[str, Any] = {"imported_from": "langfuse", "source": source}
    for ours, theirs in (("session_id", "sessionId"), ("user_id", "userId"), ("tags", "tags"), ("release", "release")):
        value = trace.get(theirs)
        if value not in (None, "None", "", "[]", []):
            metadata[ours] = value
    trace_meta = {k: v for k, v in _mapping(trace.get("metadata")).items() if k not in _DROPPED_METADATA}
    if trace_meta:
        metadata["langfuse"] = trace_meta
    scores = _scores(trace.get("scores"), log)
    if scores:
        # The run's evaluations, kept as Who&When's labels are: name -> value (several of one name: a list).
        values: dict[str, list[Any]] = {}
        for score in scores:
            values.setdefault(score["name"], []).append(score["value"])
        metadata["labels"] = {name: found[0] if len(found) == 1 else found for name, found in values.items()}
        metadata["scores"] = scores
    return assemble(
        records,
        trace_id=text_of(trace.get("id") or source),
        name=text_of(trace.get("name") or source),
        metadata=metadata,
        log=log,
    )


def _record(observation: Mapping[str, Any]) -> Record:
    ident = id_of(observation["id"])
    name = text_of(observation.get("name") or "")
    meta = _mapping(observation.get("metadata"))
    attrs = _mapping(meta.get("attributes"))
    level = observation.get("level")
    status_error = None
    if level == "ERROR":
        status_error = ("", text_of(observation.get("statusMessage") or ""))

    mapped = map_otel_span(name, attrs, status_error=status_error) if attrs else None
    kind = mapped.kind if mapped is not None else "custom"
    span_name = mapped.name if mapped is not None else name
    agent = mapped.agent if mapped is not None else None
    attributes: dict[str, Any] = dict(mapped.attributes) if mapped is not None else {}
    output = observation.get("output")
    if kind == "custom":
        node = meta.get("langgraph_node")
        if isinstance(node, str) and node == name and not node.startswith("__"):
            kind, agent = "agent", name
        elif isinstance(output, Mapping) and output.get("type") == "tool" and "tool_call_id" in output:
            kind = "tool"
            attributes.setdefault("tool_call_id", output["tool_call_id"])
        else:
            kind = _TYPES.get(str(observation.get("type", "")).upper(), "custom")
            if kind == "agent":
                agent = span_name

    model = observation.get("model")
    if isinstance(model, str) and model and "model" not in attributes:
        attributes["model"] = model
    usage = _usage(observation.get("usageDetails"))
    if usage and "usage" not in attributes:
        attributes["usage"] = usage
    langfuse_meta = {k: v for k, v in meta.items() if k not in _DROPPED_METADATA}
    if langfuse_meta:
        attributes["langfuse"] = langfuse_meta
    attributes["observation_type"] = observation.get("type")

    versions = dict(mapped.versions) if mapped is not None else {}
    prompt = observation.get("promptName")
    if isinstance(prompt, str) and prompt:
        version = observation.get("promptVersion")
        versions[f"prompt:{prompt}"] = f"{prompt}@v{text_of(version)}" if version not in (None, "") else prompt

    start = unix_ns_from_iso(observation.get("startTime"))
    if start is None:
        raise RecordError(f"startTime {quote(observation.get('startTime'))} is not an ISO 8601 time")
    end = unix_ns_from_iso(observation.get("endTime")) or start
    parent = observation.get("parentObservationId")
    error = mapped.error if mapped is not None else None
    if status_error is not None and error is None:
        error = {"type": "Error", "message": status_error[1]}
    return Record.from_mapped(
        MappedSpan(
            kind=kind,
            name=span_name,
            agent=agent,
            attributes=attributes,
            input=mapped.input if mapped is not None and mapped.input is not None else observation.get("input"),
            output=mapped.output if mapped is not None and mapped.output is not None else output,
            versions=versions,
            error=error,
        ),
        span_id=ident,
        parent_id=text_of(parent) if parent else None,
        start_ns=start,
        end_ns=end,
    )


_SCORE_FIELDS: Final = (
    ("source", "source"),
    ("data_type", "dataType"),
    ("comment", "comment"),
    ("observation_id", "observationId"),
)


def _scores(value: Any, log: ImportLog) -> list[dict[str, Any]]:
    """A trace's Langfuse scores: ``name``, ``value`` (a category's text for a categorical score) and
    ``source``, ``data_type``, ``comment``, ``observation_id`` when set."""
    if not isinstance(value, list):
        return []
    scores = []
    for position, score in enumerate(value):
        if not isinstance(score, Mapping) or not isinstance(score.get("name"), str) or not score["name"]:
            log.warn(f"score #{position} has no name; skipped")
            continue
        name = score["name"]
        result = score.get("value") if score.get("stringValue") is None else score.get("stringValue")
        kept: dict[str, Any] = {"name": name, "value": result}
        for ours, theirs in _SCORE_FIELDS:
            if score.get(theirs) not in (None, ""):
                kept[ours] = score[theirs]
        scores.append(kept)
    return scores


def _mapping(value: Any) -> dict[str, Any]:
    """A metadata mapping, also when Langfuse stored it as a JSON string."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            return {}
        return dict(parsed) if isinstance(parsed, Mapping) else {}
    return {}


def _usage(details: Any) -> dict[str, int]:
    if not isinstance(details, Mapping):
        return {}
    usage = {}
    for ours, theirs in (("input_tokens", "input"), ("output_tokens", "output"), ("total_tokens", "total")):
        value = details.get(theirs)
        if isinstance(value, int) and not isinstance(value, bool):
            usage[ours] = value
    if not usage.get("input_tokens") and not usage.get("output_tokens"):
        return {}
    return usage
