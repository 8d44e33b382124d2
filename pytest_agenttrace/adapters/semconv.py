"""OpenTelemetry GenAI and OpenInference attributes mapped onto span kinds.

One function, :func:`map_otel_span`, turns an OpenTelemetry span's name and
attributes into the fields of an agenttrace span.  The live span processor
(:mod:`pytest_agenttrace.adapters.otel`) and the file importers (OTLP JSON,
Langfuse exports) share it, so a span means the same thing however it arrived.

Kind, first rule that applies:

1. a handoff: ``gen_ai.operation.name = handoff``, a span named
   ``handoff to B`` / ``handoff from A to B`` / ``Handoff: A -> B``, or a
   tool named ``transfer_to_B`` (the OpenAI Agents SDK's and LangGraph
   swarm's handoff tools);
2. ``gen_ai.operation.name``: ``invoke_agent``/``create_agent`` -> agent,
   ``execute_tool`` -> tool, ``chat``/``text_completion``/``generate_content``/
   ``embeddings`` -> llm, ``retrieval`` -> retrieval, ``search_memory`` ->
   memory_read, ``create_memory``/``update_memory``/``upsert_memory``/
   ``delete_memory`` -> memory_write;
3. ``openinference.span.kind``: AGENT, TOOL, LLM, EMBEDDING (llm), RETRIEVER
   and RERANKER (retrieval), GUARDRAIL and EVALUATOR (guardrail);
4. what the attributes imply without an operation: a tool name -> tool, an
   agent name -> agent, a model -> llm;
5. anything else -> ``custom``.

Reserved attributes filled in (design, *Data model*): ``model``,
``usage.input_tokens``/``output_tokens`` (also from the older
``prompt_tokens``/``completion_tokens`` and OpenInference's
``llm.token_count.*``), ``tool_call_id``, ``from_agent``/``to_agent`` on
handoffs, ``key`` on memory spans; plus ``operation``, ``provider`` and
``source`` when known; payloads go to ``input``/``output`` (JSON text parsed,
never evaluated).  Every attribute the mapping did not use stays under
``attributes.otel`` (a ``custom`` span keeps all of them), so nothing is lost
and nothing is stored twice.  Prompt versions (``llm.prompt_template.version``, ``gen_ai.prompt.name``)
and agent versions (``gen_ai.agent.version``) become version stamps.

Attribute values may come as OpenTelemetry values (str, bool, int, float,
tuples of them) or as strings (some exporters stringify numbers); numbers are
parsed from strings where a number is meant.  Attributes are read in one pass
(``_KEYS`` says which role each known key plays), so the cost per span grows
with its own attribute count, not with the number of conventions known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["MappedSpan", "map_otel_span"]

try:  # optional speed-up for JSON payloads
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None  # type: ignore[assignment]


def _loads(text: str) -> Any:
    return json.loads(text) if _orjson is None else _orjson.loads(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class MappedSpan:
    """The agenttrace fields of one foreign span.

    ``agent`` is the acting agent when the span itself says so (an agent span's
    own name, or ``gen_ai.agent.name`` on another span); ``None`` means "inherit
    from the nearest enclosing agent span", which the caller does.  Likewise
    ``attributes.from_agent`` of a handoff may be missing when only the target is
    known: the caller fills it with the enclosing agent.
    """

    kind: str
    name: str
    agent: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    input: Any = None
    output: Any = None
    versions: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


_OPERATIONS: Final[dict[str, str]] = {
    "invoke_agent": "agent",
    "create_agent": "agent",
    "execute_tool": "tool",
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "llm",
    "retrieval": "retrieval",
    "search_memory": "memory_read",
    "create_memory": "memory_write",
    "update_memory": "memory_write",
    "upsert_memory": "memory_write",
    "delete_memory": "memory_write",
    "handoff": "handoff",
}

_OPENINFERENCE: Final[dict[str, str]] = {
    "AGENT": "agent",
    "TOOL": "tool",
    "LLM": "llm",
    "EMBEDDING": "llm",
    "RETRIEVER": "retrieval",
    "RERANKER": "retrieval",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "guardrail",
}

# Every attribute the mapping reads, by role; within a role, earlier keys win.
# ``text`` roles need a non-empty text (numbers are turned into text), ``number``
# roles an integer (also from a numeric string), payload roles any non-null value.
_TEXT_ROLES: Final[dict[str, tuple[str, ...]]] = {
    "operation": ("gen_ai.operation.name",),
    "oi_kind": ("openinference.span.kind",),
    "tool_name": ("gen_ai.tool.name", "tool.name"),
    "agent_name": ("gen_ai.agent.name", "agent.name", "agent_name"),
    "model": ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "model_name"),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "call_id": ("gen_ai.tool.call.id",),
    "memory_key": ("gen_ai.memory.record.id", "gen_ai.memory.store.id"),
    "source": ("gen_ai.data_source.id",),
    "from_agent": ("from_agent", "gen_ai.handoff.from_agent"),
    "to_agent": ("to_agent", "gen_ai.handoff.to_agent"),
    "graph_node": ("graph.node.id",),
    "prompt_version": ("llm.prompt_template.version",),
    "prompt_name": ("gen_ai.prompt.name",),
    "agent_version": ("gen_ai.agent.version",),
}
_NUMBER_ROLES: Final[dict[str, tuple[str, ...]]] = {
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"),
    "total_tokens": ("llm.token_count.total",),
}
# Payload attributes moved into input/output rather than kept under otel.
_PAYLOAD_ROLES: Final[dict[str, tuple[str, ...]]] = {
    "input": (
        "input.value",
        "gen_ai.input.messages",
        "gen_ai.tool.call.arguments",
        "gen_ai.memory.query.text",
        "gen_ai.retrieval.query.text",
        "gen_ai.prompt",
        "tool_arguments",
    ),
    "output": (
        "output.value",
        "gen_ai.output.messages",
        "gen_ai.tool.call.result",
        "gen_ai.memory.records",
        "gen_ai.retrieval.documents",
        "gen_ai.completion",
        "tool_response",
        "final_result",
    ),
    "input_mime": ("input.mime_type",),
    "output_mime": ("output.mime_type",),
}
_TEXT, _NUMBER, _PAYLOAD = 0, 1, 2
# key -> (role, how to read it, rank within the role)
_KEYS: Final[dict[str, tuple[str, int, int]]] = {
    key: (role, how, rank)
    for how, table in ((_TEXT, _TEXT_ROLES), (_NUMBER, _NUMBER_ROLES), (_PAYLOAD, _PAYLOAD_ROLES))
    for role, keys in table.items()
    for rank, key in enumerate(keys)
}

_HANDOFF_NAME = re.compile(
    r"^\s*handoff(?:\s*:\s*|\s+)(?:from\s+)?(?:(?P<from>.+?)\s*(?:->|→|\s+to\s+)\s*|to\s+)(?P<to>.+?)\s*$",
    re.IGNORECASE,
)
_TRANSFER_TOOL = re.compile(r"^transfer_to_(?P<to>\w+)$")
# Span names that wrap the agent's or tool's name: "invoke_agent planner",
# "execute_tool search", "agent_run [planner]", "running tool: search".
_NAME_PREFIX = re.compile(
    r"^(?:invoke_agent|create_agent|execute_tool|running tool:|agent_run|tool_call)\s+\[?(?P<name>[^\]]+?)\]?\s*$"
)


def map_otel_span(
    name: str,
    attributes: Mapping[str, Any],
    *,
    status_error: tuple[str, str] | None = None,
) -> MappedSpan:
    """Map an OpenTelemetry span's ``name`` and ``attributes`` onto agenttrace fields.

    ``status_error`` is ``(type, message)`` when the span ended with an error
    status (the exception type, or ``""`` if unknown); ``error.type`` among the
    attributes refines an unknown type.  Never raises on odd attribute values:
    what cannot be read stays under ``attributes.otel``.
    """
    found = _read_roles(attributes)
    used: set[str] = set()

    def take(role: str) -> Any:
        entry = found.get(role)
        if entry is None:
            return None
        used.add(entry[1])
        return entry[2]

    operation: str | None = take("operation")
    oi_kind: str | None = take("oi_kind")
    tool_name: str | None = take("tool_name")
    agent_name: str | None = take("agent_name")
    model: str | None = take("model")

    out: dict[str, Any] = {}
    handoff = _handoff_targets(name, operation, tool_name, found)
    if handoff is not None:
        kind = "handoff"
        from_agent, to_agent = handoff
        take("from_agent")
        take("to_agent")
        if from_agent:
            out["from_agent"] = from_agent
        if to_agent:
            out["to_agent"] = to_agent
    elif operation is not None and operation.lower() in _OPERATIONS:
        kind = _OPERATIONS[operation.lower()]
    elif oi_kind is not None and oi_kind.upper() in _OPENINFERENCE:
        kind = _OPENINFERENCE[oi_kind.upper()]
    elif tool_name:
        kind = "tool"
    elif agent_name:
        kind = "agent"
    elif model and not oi_kind:
        kind = "llm"
    else:
        kind = "custom"

    span_name = name
    if kind == "tool" and tool_name:
        span_name = tool_name
    elif kind == "agent" and (agent_name or "graph_node" in found):
        span_name = agent_name or take("graph_node")
    elif kind in ("tool", "agent"):
        match = _NAME_PREFIX.match(name)
        if match is not None:
            span_name = match.group("name")
    agent: str | None = span_name if kind == "agent" else agent_name
    if kind == "handoff" and agent is None and "from_agent" in out:
        agent = out["from_agent"]

    if operation:
        out["operation"] = operation
    if model:
        out["model"] = model
    provider = take("provider")
    if provider:
        out["provider"] = provider
    usage = {role: take(role) for role in ("input_tokens", "output_tokens", "total_tokens") if role in found}
    if usage:
        out["usage"] = usage
    call_id = take("call_id")
    if call_id:
        out["tool_call_id"] = call_id
    if kind in ("memory_read", "memory_write") and "memory_key" in found:
        out["key"] = take("memory_key")
    source = take("source")
    if source:
        out["source"] = source

    input_mime, output_mime = take("input_mime"), take("output_mime")
    input_value = _decode(take("input"), input_mime)
    output_value = _decode(take("output"), output_mime)
    versions = _versions(take("prompt_name"), take("prompt_version"), take("agent_version"), agent)
    if kind == "custom":
        used.clear()  # an unknown span keeps every original attribute
    rest = {k: (list(v) if type(v) is tuple else v) for k, v in attributes.items() if k not in used}
    if rest:
        out["otel"] = rest

    return MappedSpan(
        kind=kind,
        name=span_name,
        agent=agent,
        attributes=out,
        input=input_value,
        output=output_value,
        versions=versions,
        context=None,
        error=_error(status_error, attributes),
    )


def _read_roles(attributes: Mapping[str, Any]) -> dict[str, tuple[int, str, Any]]:
    """One pass over the attributes: ``role -> (rank, key, value)`` for the best usable key."""
    found: dict[str, tuple[int, str, Any]] = {}
    for key, value in attributes.items():
        spec = _KEYS.get(key)
        if spec is None or value is None:
            continue
        role, how, rank = spec
        if how == _TEXT:
            if type(value) is not str:
                if key == "gen_ai.tool.call.id" and isinstance(value, list | tuple) and value:
                    # Microsoft Agent Framework writes [run id, call id]: the call id is the last item.
                    value = value[-1]
                value = _text(value)
            if not value:
                continue
        elif how == _NUMBER:
            value = _int(value)
            if value is None:
                continue
        previous = found.get(role)
        if previous is None or rank < previous[0]:
            found[role] = (rank, key, value)
    return found


def _handoff_targets(
    name: str, operation: str | None, tool_name: str | None, found: dict[str, tuple[int, str, Any]]
) -> tuple[str | None, str | None] | None:
    """``(from_agent, to_agent)`` if the span is a handoff, else ``None``."""
    from_agent = found["from_agent"][2] if "from_agent" in found else None
    to_agent = found["to_agent"][2] if "to_agent" in found else None
    if "andoff" in name:  # cheap guard before the regular expression
        match = _HANDOFF_NAME.match(name)
        if match is not None:
            return from_agent or match.group("from"), to_agent or match.group("to")
    if operation == "handoff" or (from_agent and to_agent):
        return from_agent, to_agent
    if tool_name and tool_name.startswith("transfer_to_"):
        transfer = _TRANSFER_TOOL.match(tool_name)
        if transfer is not None:
            return from_agent, to_agent or transfer.group("to")
    return None


def _versions(
    prompt_name: str | None, prompt_version: str | None, agent_version: str | None, agent: str | None
) -> dict[str, str]:
    versions: dict[str, str] = {}
    if prompt_name or prompt_version:
        label = prompt_name or "prompt"
        versions[f"prompt:{label}"] = f"{label}@{prompt_version}" if prompt_version else label
    if agent_version:
        versions[f"agent:{agent or 'agent'}"] = agent_version
    return versions


def _error(status_error: tuple[str, str] | None, attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    if status_error is None:
        return None
    error_type, message = status_error
    return {
        "type": error_type or _text(attrs.get("error.type")) or "Error",
        "message": message or "",
    }


def _decode(value: Any, mime: Any) -> Any:
    """JSON text becomes its value; anything else is kept as it is (never eval'd)."""
    if value is None:
        return None
    if type(value) is tuple:
        return list(value)
    if isinstance(value, str) and (value[:1] in ("{", "[") or mime == "application/json"):
        try:
            return _loads(value)
        except ValueError:
            return value
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if number.is_integer() else None
    return None
