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
with its own attribute count, not with the number of conventions known.  A
span of a shape mapped before (same name, same keys in the same order, same
values deciding kind, name and agent) is mapped by the plan the first one left,
copying its other values: about half the cost, and the same result.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..sanitize import label_text
from ._json import loads as loads_exact

__all__ = ["MappedFields", "MappedSpan", "map_otel_fields", "map_otel_span"]

#: JSON text decoded as ``json.loads`` reads it (orjson where that is certain to be the same).
_loads: Final = loads_exact


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

#: The kind an operation name or OpenInference kind alone gives, for spans that are not agents
#: (agents are mapped at their start; everything else may be mapped when the trace is built and
#: starts with this provisional kind).
QUICK_KINDS: Final[dict[str, str]] = {
    name: kind for name, kind in (*_OPERATIONS.items(), *_OPENINFERENCE.items()) if kind != "agent"
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


#: What :func:`map_otel_fields` returns: ``(kind, name, agent, attributes, input, output, versions, error)``.
MappedFields = tuple[str, str, str | None, dict[str, Any], Any, Any, dict[str, str], dict[str, Any] | None]


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
    kind, span_name, agent, out, input_value, output_value, versions, error = map_otel_fields(
        name, attributes, status_error
    )
    return MappedSpan(
        kind=kind,
        name=span_name,
        agent=agent,
        attributes=out,
        input=input_value,
        output=output_value,
        versions=versions,
        context=None,
        error=error,
    )


def map_otel_fields(
    name: str, attributes: Mapping[str, Any], status_error: tuple[str, str] | None = None
) -> MappedFields:
    """:func:`map_otel_span` as a plain tuple, for the live processors' hot path.

    ``(kind, name, agent, attributes, input, output, versions, error)``, the
    fields of :class:`MappedSpan` in order (``context`` is always ``None``);
    every dict is new.

    Spans of one shape (name, attribute keys in order, and the values that
    decide kind, name and agent) map alike: the second one on is mapped by
    the plan the first one left (:class:`_Plan`), which copies the other
    values where the first mapping took them.  A value a plan cannot copy as
    it is (an empty text, a number in a string, a list) takes the full mapping.
    """
    if status_error is not None or type(name) is not str:
        return _map_fields(name, attributes, status_error)[0]
    try:
        key = (name, tuple(attributes))
        shape = _SHAPES.get(key)
    except TypeError:  # an unhashable key (a hand-made mapping): the full mapping says what it means
        return _map_fields(name, attributes, None)[0]
    if type(shape) is not _Shape:
        if shape is None:  # the first span of its shape: remembered, mapped in full
            _remember(_SHAPES, key, _ONCE, _MAX_SHAPES)
            return _map_fields(name, attributes, None)[0]
        if shape is _ONCE:  # the second: worth a shape
            shape = _SHAPES[key] = _Shape(key[1])
        else:
            return _map_fields(name, attributes, None)[0]
    values = shape.usable(attributes)
    if values is None:  # a value no plan can copy as it is, or a deciding value not plain text
        return _map_fields(name, attributes, None)[0]
    plans = shape.plans
    plan = plans.get(values)
    if type(plan) is _Plan:
        return plan.apply(attributes)
    mapped, winners = _map_fields(name, attributes, None)
    if plan is None:
        _remember(plans, values, _ONCE, _MAX_PLANS)
    else:  # the second span of these deciding values: worth a plan
        plans[values] = _Plan(mapped, winners)
    return mapped


def _map_fields(
    name: str, attributes: Mapping[str, Any], status_error: tuple[str, str] | None
) -> tuple[MappedFields, dict[str, str]]:
    """The full mapping; also which attribute key each role's value came from."""
    if not isinstance(name, str):  # a span named by a number, bytes or None (the SDKs pass it on)
        name = label_text(name)
    # One pass: role -> value and role -> the key it came from, for the best usable key of each role.
    values: dict[str, Any] = {}
    winners: dict[str, str] = {}
    known = _KEYS.get
    for key, value in attributes.items():
        spec = known(key)
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
        if role in winners and _KEYS[winners[role]][2] < rank:
            continue  # an earlier key of the same role won already
        values[role] = value
        winners[role] = key
    if not values and "andoff" not in name:
        # Nothing GenAI or OpenInference about it (HTTP, database spans...): custom, every attribute kept.
        kept = _rest(attributes, None)
        custom: MappedFields = (
            "custom",
            name,
            None,
            {"otel": kept} if kept else {},
            None,
            None,
            {},
            _error(status_error, attributes),
        )
        return custom, winners

    get = values.get
    operation: str | None = get("operation")
    oi_kind: str | None = get("oi_kind")
    tool_name: str | None = get("tool_name")
    agent_name: str | None = get("agent_name")
    model: str | None = get("model")
    from_agent: str | None = get("from_agent")
    to_agent: str | None = get("to_agent")
    skipped = 0  # roles found but not used: their keys stay under ``otel``

    out: dict[str, Any] = {}
    handoff = False
    if "andoff" in name and (match := _HANDOFF_NAME.match(name)) is not None:
        handoff, from_agent, to_agent = True, from_agent or match.group("from"), to_agent or match.group("to")
    elif operation == "handoff" or (from_agent and to_agent):
        handoff = True
    elif tool_name and tool_name.startswith("transfer_to_") and (transfer := _TRANSFER_TOOL.match(tool_name)):
        handoff, to_agent = True, to_agent or transfer.group("to")
    if handoff:
        kind = "handoff"
        if from_agent:
            out["from_agent"] = from_agent
        if to_agent:
            out["to_agent"] = to_agent
    else:
        skipped = ("from_agent" in values) + ("to_agent" in values)
        kind = (
            (_OPERATIONS.get(operation.lower()) if operation is not None else None)
            or (_OPENINFERENCE.get(oi_kind.upper()) if oi_kind is not None else None)
            or ("tool" if tool_name else "agent" if agent_name else "llm" if model and not oi_kind else "custom")
        )

    span_name = name
    if kind == "tool" and tool_name:
        span_name = tool_name
    elif kind == "agent" and agent_name:
        span_name = agent_name
    elif kind == "agent" and "graph_node" in values:
        span_name = values["graph_node"]
    elif kind in ("tool", "agent"):
        prefixed = _NAME_PREFIX.match(name)
        if prefixed is not None:
            span_name = prefixed.group("name")
    if "graph_node" in values and not (kind == "agent" and not agent_name):
        skipped += 1
    agent = span_name if kind == "agent" else agent_name
    if kind == "handoff" and agent is None and "from_agent" in out:
        agent = out["from_agent"]

    if operation:
        out["operation"] = operation
    if model:
        out["model"] = model
    provider = get("provider")
    if provider:
        out["provider"] = provider
    if "input_tokens" in values or "output_tokens" in values or "total_tokens" in values:
        usage: dict[str, int] = {}
        for role in _USAGE_ROLES:
            if role in values:
                usage[role] = values[role]
        out["usage"] = usage
    call_id = get("call_id")
    if call_id:
        out["tool_call_id"] = call_id
    if "memory_key" in values:
        if kind in ("memory_read", "memory_write"):
            out["key"] = values["memory_key"]
        else:
            skipped += 1
    source = get("source")
    if source:
        out["source"] = source

    # The calls below only when their values are there (most spans carry no payload or version).
    value = get("input")
    input_value = None if value is None else _decode(value, get("input_mime"))
    value = get("output")
    output_value = None if value is None else _decode(value, get("output_mime"))
    prompt_name, prompt_version, agent_version = get("prompt_name"), get("prompt_version"), get("agent_version")
    versions = (
        {}
        if prompt_name is None and prompt_version is None and agent_version is None
        else _versions(prompt_name, prompt_version, agent_version, agent)
    )
    rest: dict[str, Any] | None
    if kind == "custom":
        rest = _rest(attributes, None)  # an unknown span keeps every original attribute
    elif len(values) - skipped == len(attributes):
        rest = None  # every attribute was used
    else:
        used = set(winners.values())
        if skipped:
            for role in ("from_agent", "to_agent", "graph_node", "memory_key"):
                if role in winners and not _taken(role, kind, agent_name, handoff):
                    used.discard(winners[role])
        rest = _rest(attributes, used)
    if rest:
        out["otel"] = rest
    error = None if status_error is None else _error(status_error, attributes)
    return (kind, span_name, agent, out, input_value, output_value, versions, error), winners


_USAGE_ROLES: Final = ("input_tokens", "output_tokens", "total_tokens")


# -- plans: spans of one shape map alike --------------------------------------------
#
# A span's mapping depends on its name, on which attribute keys it has (and in which order: the
# attributes left under ``otel`` keep it), on the values of the roles that decide the kind, the
# name and the agent, and on whether every other known value is usable.  All else is copied: a
# model, a call id, token counts, payloads (decoded), versions.  So the first span of a shape is
# mapped in full and leaves a plan; the next ones of that shape (most spans of a run: the same
# tools and models called again and again) only copy their values where the plan says.

#: Roles whose value decides the kind, the name or the agent: one plan per value of each.
_DECIDING: Final = frozenset(
    {"operation", "oi_kind", "tool_name", "agent_name", "from_agent", "to_agent", "graph_node"}
)
#: Output keys whose value is copied from the attribute that won the role.
_COPIED: Final[dict[str, str]] = {
    "model": "model",
    "provider": "provider",
    "tool_call_id": "call_id",
    "key": "memory_key",
    "source": "source",
}
#: At most this many shapes, and plans per shape, are kept; past that they start over.  A shape
#: (and a plan) is made the second time one is met: names that never repeat (an HTTP span named
#: after its URL) only cost a look-up and a remembered key.
_MAX_SHAPES: Final = 512
_MAX_PLANS: Final = 64
#: Met once (a shape, or a plan's deciding values): made when met again.
_ONCE: Final[Any] = object()


def _remember(table: dict[Any, Any], key: Any, value: Any, bound: int) -> None:
    if len(table) >= bound:
        table.clear()
    table[key] = value


class _Shape:
    """What a span's attribute keys say about its mapping: which values decide, which are copied."""

    __slots__ = ("numbers", "payloads", "pick", "plans", "single", "texts")

    def __init__(self, keys: tuple[str, ...]) -> None:
        deciding: list[str] = []
        texts: list[str] = []
        numbers: list[str] = []
        payloads: list[str] = []
        for key in keys:
            spec = _KEYS.get(key)
            if spec is None:
                continue
            role, how, _ = spec
            if role in _DECIDING:
                deciding.append(key)
            else:
                (texts if how == _TEXT else numbers if how == _NUMBER else payloads).append(key)
        #: reads the deciding values: one value, or a tuple of two or more (None: no deciding key)
        self.pick: Callable[[Mapping[str, Any]], Any] | None = operator.itemgetter(*deciding) if deciding else None
        self.single = len(deciding) == 1
        self.texts = tuple(texts)
        self.numbers = tuple(numbers)
        self.payloads = tuple(payloads)
        #: deciding values -> their plan (or _ONCE)
        self.plans: dict[Any, Any] = {}

    def usable(self, attributes: Mapping[str, Any]) -> Any:
        """The deciding values that pick this span's plan, or None when no plan may map it.

        A plan copies a text role only as a non-empty ``str``, a number role
        only as an ``int`` (not a bool, not a number in a string), a payload
        when it is there; and it is picked by deciding values that are plain
        ``str`` (no subclass, and nothing merely equal to one, such as ``True``
        to ``1``).  Only identity and type checks: no value's ``__eq__`` runs.
        """
        for key in self.texts:
            value = attributes[key]
            if type(value) is not str or not value:
                return None
        for key in self.numbers:
            if type(attributes[key]) is not int:
                return None
        for key in self.payloads:
            if attributes[key] is None:
                return None
        pick = self.pick
        if pick is None:
            return ()
        values = pick(attributes)
        if self.single:
            return values if type(values) is str else None
        for value in values:
            if type(value) is not str:
                return None
        return values


#: (span name, attribute keys in order) -> its shape, or _ONCE.
_SHAPES: dict[tuple[str, tuple[str, ...]], Any] = {}


class _Plan:
    """How the spans of one shape and deciding values map: constants, and the keys to copy from."""

    __slots__ = ("agent", "constants", "copies", "input", "kind", "name", "output", "used", "versions")

    def __init__(self, mapped: MappedFields, winners: dict[str, str]) -> None:
        kind, name, agent, out, _, _, versions, _ = mapped
        self.kind, self.name, self.agent = kind, name, agent
        # In the mapping's own order: the constants (from_agent, to_agent, operation) come first.
        constants: dict[str, Any] = {}
        copies: list[tuple[str, Any]] = []
        for out_key, value in out.items():
            if out_key == "otel":
                continue
            if out_key == "usage":
                copies.append((out_key, tuple((role, winners[role]) for role in value)))
            elif out_key in _COPIED:
                copies.append((out_key, winners[_COPIED[out_key]]))
            else:
                if copies:  # pragma: no cover - the mapping writes its constants first
                    raise AssertionError(f"constant {out_key!r} after a copied value")
                constants[out_key] = value
        self.constants = constants
        self.copies = tuple(copies)
        #: the keys left out of ``otel`` (every key the mapping used), or None when it kept none there;
        #: the keys written are the span's own (as the full mapping writes them).
        self.used: frozenset[str] | None = None
        if "otel" in out:
            kept = out["otel"]
            self.used = frozenset(key for key in winners.values() if key not in kept)
        # (payload key, its mime type's key or None), or None when the span has no payload: by the
        # key that won the role, not by the decoded value (JSON "null" decodes to None).
        self.input = (winners["input"], winners.get("input_mime")) if "input" in winners else None
        self.output = (winners["output"], winners.get("output_mime")) if "output" in winners else None
        self.versions = (
            (winners.get("prompt_name"), winners.get("prompt_version"), winners.get("agent_version"))
            if versions
            else None
        )

    def apply(self, attributes: Mapping[str, Any]) -> MappedFields:
        """The mapping of a span of this plan's shape and deciding values: every dict new."""
        out = self.constants.copy()
        for out_key, source in self.copies:
            if type(source) is tuple:  # usage: role -> key
                out[out_key] = {role: attributes[key] for role, key in source}
            else:
                out[out_key] = attributes[source]
        used = self.used
        if used is not None:
            out["otel"] = {
                key: (list(value) if type(value) is tuple else value)
                for key, value in attributes.items()
                if key not in used
            }
        input_value = output_value = None
        if self.input is not None:
            key, mime = self.input
            input_value = _decode(attributes[key], None if mime is None else attributes[mime])
        if self.output is not None:
            key, mime = self.output
            output_value = _decode(attributes[key], None if mime is None else attributes[mime])
        versions: dict[str, str] = {}
        if self.versions is not None:
            name, version, agent_version = (None if key is None else attributes[key] for key in self.versions)
            versions = _versions(name, version, agent_version, self.agent)
        return self.kind, self.name, self.agent, out, input_value, output_value, versions, None


def _taken(role: str, kind: str, agent_name: str | None, handoff: bool) -> bool:
    """Whether a found role of the few used only sometimes was used (its key then leaves ``otel``)."""
    if role == "graph_node":
        return kind == "agent" and not agent_name
    if role == "memory_key":
        return kind in ("memory_read", "memory_write")
    return handoff  # from_agent, to_agent


def _rest(attributes: Mapping[str, Any], used: set[str] | None) -> dict[str, Any]:
    """The attributes not used, tuples as lists."""
    if used is None:
        return {k: (list(v) if type(v) is tuple else v) for k, v in attributes.items()}
    return {k: (list(v) if type(v) is tuple else v) for k, v in attributes.items() if k not in used}


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
