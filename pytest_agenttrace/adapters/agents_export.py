"""Exported OpenAI Agents SDK spans read as a trace (``agenttrace import --from openai-agents``).

The file is a JSON list of ``Span.export()`` dicts (``{"object": "trace.span",
"id", "trace_id", "parent_id", "started_at", "ended_at", "span_data",
"error"}``), optionally with the exported traces (``{"object": "trace", "id",
"workflow_name"}``) among them, or the same list under ``{"data": [...]}`` (the
SDK's ingest payload).  One trace per ``trace_id``.

Each ``span_data`` is mapped by
:func:`pytest_agenttrace.adapters.openai_agents.map_span_data`, the function the
live trace processor uses, so an imported run and a captured run give the same
tree: ``turn`` spans (and the ``task`` of a nested run) are folded into their
parent, an agent run inside a function span (``Agent.as_tool``) gets a
``delegation`` span between the tool and the agent, a span's ``error`` makes it
``status: error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..model import Trace
from .importing import ImportLog, Record, RecordError, assemble, id_of, quote, skip_reason, text_of, unix_ns_from_iso
from .openai_agents import map_span_data

__all__ = ["read_agents_export"]


def read_agents_export(data: Any, source: str) -> list[Trace]:
    """Traces from a parsed list of exported Agents SDK spans (grouped by ``trace_id``)."""
    items = data.get("data") if isinstance(data, Mapping) else data
    workflows: dict[str, str] = {}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping):
            continue
        if item.get("object") == "trace":
            workflows[text_of(item.get("id"))] = text_of(item.get("workflow_name") or "")
            continue
        groups.setdefault(text_of(item.get("trace_id") or "trace"), []).append(item)
    traces = []
    for trace_id, spans in groups.items():
        log = ImportLog(f"{source}#{trace_id}")
        records = _records(spans, log)
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


def _records(spans: list[Mapping[str, Any]], log: ImportLog) -> list[Record]:
    ids = {text_of(raw.get("id")) for raw in spans}
    folded: dict[str, str | None] = {}  # folded span id -> its parent id
    records: dict[str, Record] = {}
    for raw in spans:
        try:
            span_id = id_of(raw["id"])
            parent = text_of(raw["parent_id"]) if raw.get("parent_id") else None
            span_data = raw["span_data"]
            if not isinstance(span_data, Mapping):
                raise RecordError("span_data is not an object")
            mapped = map_span_data(_names_as_text(span_data), nested=parent is not None and parent in ids)
            if mapped.kind is None:
                folded[span_id] = parent
                continue
            start = unix_ns_from_iso(raw.get("started_at"))
            if start is None:
                raise RecordError(f"started_at {quote(raw.get('started_at'))} is not an ISO 8601 time")
            end = unix_ns_from_iso(raw.get("ended_at")) or start
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            why = skip_reason(exc)
            log.warn(f"span {quote(raw.get('id'))} skipped: {why}")
            continue
        record = Record(
            span_id=span_id,
            parent_id=parent,
            kind=mapped.kind,
            name=mapped.name,
            start_ns=start,
            end_ns=end,
            agent=mapped.agent,
            input=mapped.input,
            output=mapped.output,
            attributes=dict(mapped.attributes),
            context=mapped.context,
        )
        error = raw.get("error")
        if isinstance(error, Mapping) and error:
            detail = error.get("data")
            inner = detail.get("error") if isinstance(detail, Mapping) else None
            message = text_of(error.get("message") or "error")
            record.status = "error"
            record.error = {"type": "AgentsSDKError", "message": f"{message}: {text_of(inner)}" if inner else message}
        records[span_id] = record

    for record in list(records.values()):
        parent = record.parent_id
        seen: set[str] = set()
        while parent is not None and parent in folded and parent not in seen:
            seen.add(parent)
            parent = folded[parent]
        record.parent_id = parent
        outer = records.get(parent) if parent is not None else None
        if record.kind == "agent" and outer is not None and outer.kind == "tool":
            # Agent.as_tool: the sub-agent runs inside the tool, under a delegation.
            delegation = Record(
                span_id=f"{record.span_id}.delegation",
                parent_id=outer.span_id,
                kind="delegation",
                name=record.name,
                start_ns=record.start_ns,
                end_ns=record.end_ns,
                attributes={"to_agent": record.name, "via_tool": outer.name},
                context={"input": outer.input},
                status=record.status,
                error=record.error,
            )
            records[delegation.span_id] = delegation
            record.parent_id = delegation.span_id
    return list(records.values())


#: ``span_data`` fields that :func:`map_span_data` turns into span names with ``str()``.
_NAME_FIELDS: Final = ("name", "model", "to_agent", "type", "sdk_span_type")


def _names_as_text(span_data: Mapping[str, Any], *, inner: bool = False) -> Mapping[str, Any]:
    """``span_data`` with an object in a name field replaced by its cleaned text.

    ``str()`` of ``{"api_key": ...}`` would show the value that
    :func:`~pytest_agenttrace.sanitize.clean` redacts, and text redaction
    cannot see it in the name afterwards.  A task/turn export wraps its fields
    in ``data``: those too.
    """
    fixed: dict[str, Any] = {
        key: text_of(value) for key in _NAME_FIELDS if isinstance(value := span_data.get(key), Mapping | list)
    }
    wrapped = span_data.get("data")
    if not inner and isinstance(wrapped, Mapping):
        fixed_inner = _names_as_text(wrapped, inner=True)
        if fixed_inner is not wrapped:
            fixed["data"] = fixed_inner
    return {**span_data, **fixed} if fixed else span_data
