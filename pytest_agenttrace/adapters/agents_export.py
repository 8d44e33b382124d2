"""OpenAI Agents SDK spans, as ``Span.export()`` writes them, mapped onto span kinds.

:func:`map_span_data` maps one ``span_data`` dict (``SpanData.export()``);
the live trace processor can call it with ``span.span_data.export()`` so that
captured and imported spans agree.  :func:`read_agents_export` reads a file
holding a JSON list of exported spans (``{"object": "trace.span", "id",
"trace_id", "parent_id", "started_at", "ended_at", "span_data", "error"}``),
optionally with the exported traces (``{"object": "trace", "id",
"workflow_name"}``) among them, or the same list under ``{"data": [...]}``
(the SDK's ingest payload).

=================  ===========================================================
``span_data.type``  span
=================  ===========================================================
agent               ``agent`` (its ``tools``, ``handoffs``, ``output_type`` kept)
function            ``tool``: input = the parsed arguments, output, ``mcp_data``
generation          ``llm``: model, usage, input messages, output
response            ``llm`` named ``response``: ``response_id``, usage
handoff             ``handoff`` from ``from_agent`` to ``to_agent``
guardrail           ``guardrail`` with ``triggered``
transcription,      ``llm`` (audio models)
speech
custom, mcp_tools,  ``custom`` with the data kept
speech_group, ...
=================  ===========================================================

A span's ``error`` (``{"message", "data"}``) makes it ``status: error``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from ..model import Trace
from .importing import ImportLog, Record, assemble, unix_ns_from_iso
from .semconv import MappedSpan

__all__ = ["map_span_data", "read_agents_export"]

_LLM_TYPES: Final = frozenset({"generation", "response", "transcription", "speech"})


def map_span_data(data: Mapping[str, Any], *, error: Mapping[str, Any] | None = None) -> MappedSpan:
    """Map an exported ``span_data`` dict (and the span's ``error``) onto agenttrace fields.

    The acting agent is left ``None`` except on agent and handoff spans: the
    caller inherits it from the enclosing agent span.
    """
    kind_name = str(data.get("type") or "custom")
    name = data.get("name")
    attributes: dict[str, Any] = {}
    agent: str | None = None
    input_value: Any = None
    output: Any = None

    if kind_name == "agent":
        kind = "agent"
        span_name = str(name or "agent")
        agent = span_name
        for key in ("tools", "handoffs", "output_type"):
            if data.get(key) is not None:
                attributes[key] = data[key]
    elif kind_name == "function":
        kind = "tool"
        span_name = str(name or "function")
        input_value = _json_or_text(data.get("input"))
        output = _json_or_text(data.get("output"))
        if data.get("mcp_data"):
            attributes["mcp_data"] = data["mcp_data"]
    elif kind_name == "handoff":
        kind = "handoff"
        to_agent = data.get("to_agent")
        span_name = str(to_agent or "handoff")
        if data.get("from_agent"):
            attributes["from_agent"] = agent = str(data["from_agent"])
        if to_agent:
            attributes["to_agent"] = str(to_agent)
    elif kind_name == "guardrail":
        kind = "guardrail"
        span_name = str(name or "guardrail")
        attributes["triggered"] = bool(data.get("triggered"))
    elif kind_name in _LLM_TYPES:
        kind = "llm"
        model = data.get("model")
        span_name = str(model or kind_name)
        if model:
            attributes["model"] = model
        if data.get("response_id"):
            attributes["response_id"] = data["response_id"]
        if data.get("model_config"):
            attributes["model_config"] = data["model_config"]
        usage = _usage(data.get("usage"))
        if usage:
            attributes["usage"] = usage
        input_value = data.get("input")
        output = data.get("output")
    else:
        kind = "custom"
        span_name = str(name or kind_name)
        extra = {k: v for k, v in data.items() if k not in ("type", "name")}
        if extra:
            attributes.update(extra)
    attributes["sdk_span_type"] = kind_name

    mapped_error = None
    if error:
        message = str(error.get("message") or "")
        details = error.get("data")
        if isinstance(details, Mapping) and details.get("error"):
            message = f"{message}: {details['error']}" if message else str(details["error"])
        mapped_error = {"type": "AgentsSDKError", "message": message}
    return MappedSpan(
        kind=kind,
        name=span_name,
        agent=agent,
        attributes=attributes,
        input=input_value,
        output=output,
        error=mapped_error,
    )


def read_agents_export(data: Any, source: str) -> list[Trace]:
    """Traces from a parsed list of exported Agents SDK spans (grouped by ``trace_id``)."""
    items = data.get("data") if isinstance(data, Mapping) else data
    workflows: dict[str, str] = {}
    groups: dict[str, list[Any]] = {}
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping):
            continue
        if item.get("object") == "trace":
            workflows[str(item.get("id"))] = str(item.get("workflow_name") or "")
            continue
        groups.setdefault(str(item.get("trace_id") or "trace"), []).append(item)
    traces = []
    for trace_id, spans in groups.items():
        log = ImportLog(f"{source}#{trace_id}")
        records = []
        for raw in spans:
            try:
                records.append(_record(raw))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warn(f"span {raw.get('id')!r} skipped: {exc!r}")
        roots = sorted((r for r in records if r.parent_id is None), key=lambda r: r.start_ns)
        traces.append(
            assemble(
                records,
                trace_id=trace_id,
                name=workflows.get(trace_id) or (roots[0].name if roots else trace_id),
                metadata={"imported_from": "openai-agents", "source": source},
                log=log,
            )
        )
    return traces


def _record(raw: Mapping[str, Any]) -> Record:
    span_data = raw["span_data"]
    if not isinstance(span_data, Mapping):
        raise TypeError("span_data is not an object")
    start = unix_ns_from_iso(raw.get("started_at"))
    if start is None:
        raise ValueError(f"started_at {raw.get('started_at')!r} is not an ISO 8601 time")
    end = unix_ns_from_iso(raw.get("ended_at")) or start
    error = raw.get("error")
    return Record.from_mapped(
        map_span_data(span_data, error=error if isinstance(error, Mapping) else None),
        span_id=str(raw["id"]),
        parent_id=str(raw["parent_id"]) if raw.get("parent_id") else None,
        start_ns=start,
        end_ns=end,
    )


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _usage(usage: Any) -> dict[str, int]:
    if not isinstance(usage, Mapping):
        return {}
    out = {}
    for ours, names in (("input_tokens", ("input_tokens", "prompt_tokens")), ("output_tokens", ("output_tokens", "completion_tokens"))):
        for theirs in names:
            value = usage.get(theirs)
            if isinstance(value, int) and not isinstance(value, bool):
                out[ours] = value
                break
    return out
