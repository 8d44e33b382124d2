"""Live capture of OpenAI Agents SDK runs (``pip install 'pytest-agenttrace[openai-agents]'``).

:class:`AgentTraceProcessor` is a ``TracingProcessor``; :func:`install` adds
it to the SDK's trace processors (next to the default exporter, which keeps
working).  While a recorder is active, each SDK span becomes a span:

============================  ==================================================
SDK span (``span_data.type``)  agenttrace span
============================  ==================================================
``agent``                     ``agent`` named after the agent
``generation``, ``response``  ``llm``: ``attributes.model``, ``attributes.usage``
                              (``input_tokens``/``output_tokens``), messages in
                              ``input``/``output``
``function``                  ``tool``: arguments (decoded JSON) in ``input``,
                              result in ``output``; an SDK error is the error
``handoff``                   ``handoff`` with ``attributes.from_agent`` and
                              ``attributes.to_agent`` (named after the target)
``guardrail``                 ``guardrail``: ``attributes.triggered``
``custom``                    ``custom`` with its data under ``attributes.data``
``mcp_tools``                 ``custom`` ``mcp_tools``: server and tool list
``task``                      ``custom`` named after the workflow (top level only)
``turn``                      not recorded: its children go to the agent span
============================  ==================================================

``Agent.as_tool``: the sub-agent's run happens inside the tool's function
span; the adapter puts a ``delegation`` span (``from_agent`` = the calling
agent, ``to_agent`` = the sub-agent, ``context.input`` = the tool input)
between the tool and the sub-agent, so everything the sub-agent does carries
that delegation's scope.  SDK spans nest under the native span open where the
run started, and native spans opened inside an SDK span (in a tool body, say)
nest under it.

:func:`map_span_data` is the mapping itself, shared with the importer of
exported SDK spans (``agenttrace import --from openai-agents``).
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from .. import recorder as _recorder_module
from ..exceptions import MissingExtraError
from ..recorder import _NO_SCOPE, _NONE, _SPAN_IDS, ReservedHandle, SpanHandle, _new_handle, _perf_ns, _span_id
from . import _context, _json
from ._context import (
    COMPLETION_LOCK,
    LIVE_KEY,
    STATES_ATTRIBUTE,
    ask_providers,
    complete_all,
    complete_as_plain_root,
    log,
    native_current_span,
    register_parent_provider,
    state_getter,
    state_peeker,
    take_ended,
)
from ._json import fast_loads as _fast_loads
from ._json import find_long_digit_run as _long_digits

try:
    from agents.tracing import TracingProcessor as _TracingProcessor
    from agents.tracing import add_trace_processor as _add_trace_processor
    from agents.tracing import get_current_span as _sdk_current_span
    from agents.tracing import get_trace_provider as _get_trace_provider
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    _IMPORT_ERROR: ImportError | None = _exc
    _TracingProcessor = object  # type: ignore[assignment,misc]  # lets the module import; install() raises
else:
    _IMPORT_ERROR = None

if TYPE_CHECKING:
    from ..recorder import Recorder

__all__ = ["AgentTraceProcessor", "MappedSDKSpan", "install", "map_span_data"]

SOURCE: Final = "openai-agents"
_MAX_MESSAGES: Final = 50


@dataclass(slots=True)
class MappedSDKSpan:
    """The agenttrace fields of one exported Agents SDK span (``span_data`` dict).

    ``kind`` is ``None`` for spans that are not recorded (``turn``, nested
    ``task``): their children belong to the enclosing span.
    """

    kind: str | None
    name: str
    agent: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    input: Any = None
    output: Any = None
    context: dict[str, Any] | None = None


#: First characters (after JSON whitespace) a JSON text can start with; any other text is kept as text.
_JSON_STARTS: Final = frozenset('{["-0123456789tfnNI')


def _json_or_text(value: Any) -> Any:
    """``value`` decoded as JSON (as :func:`json.loads` reads it) when it is JSON text, else unchanged.

    Tool arguments arrive as JSON text, so this runs once per captured tool
    call: text that cannot be JSON is kept without trying, and orjson (the
    ``fast`` extra) decodes when its result is certain to equal ``json``'s:
    on anything it rejects (``NaN``, lone surrogates, huge exponents) and on
    long digit runs (integers past 64 bits, which it would turn into floats)
    the standard library decides.
    """
    if type(value) is str and value[:1] == "{" and _fast_loads is not None:
        # The common case (a tool call's arguments: a short JSON object), inlined: under 19
        # characters no 19-digit run fits, under 40 the regex answers (what _json.loads checks).
        if len(value) < 19 or (len(value) < 40 and _long_digits(value) is None):
            try:
                return _fast_loads(value)
            except ValueError:  # orjson refused it (NaN, a lone surrogate...): the standard library decides
                pass
    elif not isinstance(value, str) or (
        value[:1] not in _JSON_STARTS and value.lstrip(" \t\n\r")[:1] not in _JSON_STARTS
    ):
        return value  # not text, or text that cannot be JSON
    try:
        return _json.loads(value)
    except ValueError:
        return value


def _usage(usage: Any) -> dict[str, Any]:
    if not isinstance(usage, Mapping):
        return {}
    out: dict[str, Any] = {}
    for ours, keys in (
        ("input_tokens", ("input_tokens", "prompt_tokens")),
        ("output_tokens", ("output_tokens", "completion_tokens")),
    ):
        for key in keys:
            value = usage.get(key)
            if isinstance(value, int):
                out[ours] = value
                break
    total = usage.get("total_tokens")
    if isinstance(total, int):
        out["total_tokens"] = total
    return out


def _cap_messages(messages: Any) -> Any:
    if isinstance(messages, (list, tuple)) and len(messages) > _MAX_MESSAGES:
        return [*messages[-_MAX_MESSAGES:], f"…[agenttrace: kept the last {_MAX_MESSAGES} of {len(messages)} messages]"]
    return messages


def map_span_data(data: Mapping[str, Any], *, nested: bool = False) -> MappedSDKSpan:
    """Map one SDK ``span_data`` export (``{"type": ..., ...}``) onto agenttrace fields.

    ``nested`` says the span has a parent: a nested ``task`` (the run of an
    ``Agent.as_tool`` sub-agent) is then not recorded.
    """
    kind = data.get("type")
    if kind == "custom" and isinstance(data.get("data"), Mapping) and data["data"].get("sdk_span_type"):
        kind = data["data"]["sdk_span_type"]  # task/turn exports wrap themselves as custom
        data = {"type": kind, **data["data"]}
    if kind == "agent":
        name = str(data.get("name") or "agent")
        agent_attrs = {k: data[k] for k in ("handoffs", "tools", "output_type") if data.get(k) is not None}
        return MappedSDKSpan("agent", name, agent=name, attributes=agent_attrs)
    if kind in ("generation", "response"):
        attrs: dict[str, Any] = {"operation": kind}
        model = data.get("model")
        if model:
            attrs["model"] = str(model)
        if data.get("model_config"):
            attrs["model_config"] = dict(data["model_config"])
        usage = _usage(data.get("usage"))
        if usage:
            attrs["usage"] = usage
        if data.get("response_id"):
            attrs["response_id"] = data["response_id"]
        return MappedSDKSpan(
            "llm",
            str(model or kind),
            attributes=attrs,
            input=_cap_messages(data.get("input")),
            output=_cap_messages(data.get("output")),
        )
    if kind == "function":
        attrs = {}
        if data.get("mcp_data"):
            attrs["mcp_data"] = data["mcp_data"]
        return MappedSDKSpan(
            "tool",
            str(data.get("name") or "function"),
            attributes=attrs,
            input=_json_or_text(data.get("input")),
            output=data.get("output"),
        )
    if kind == "handoff":
        from_agent, to_agent = data.get("from_agent"), data.get("to_agent")
        return MappedSDKSpan(
            "handoff",
            str(to_agent or "handoff"),
            attributes={"from_agent": from_agent, "to_agent": to_agent},
            context={},
        )
    if kind == "guardrail":
        return MappedSDKSpan(
            "guardrail", str(data.get("name") or "guardrail"), attributes={"triggered": bool(data.get("triggered"))}
        )
    if kind == "mcp_tools":
        return MappedSDKSpan(
            "custom", "mcp_tools", attributes={"server": data.get("server"), "result": data.get("result")}
        )
    if kind == "task":
        if nested:
            return MappedSDKSpan(None, "task")
        attrs = {"sdk_span_type": "task"}
        usage = _usage(data.get("usage"))
        if usage:
            attrs["usage"] = usage
        return MappedSDKSpan("custom", str(data.get("name") or "task"), attributes=attrs)
    if kind == "turn":
        return MappedSDKSpan(None, "turn", agent=data.get("agent_name"))
    if kind in ("transcription", "speech"):
        attrs = {"operation": kind}
        if data.get("model"):
            attrs["model"] = data["model"]
        return MappedSDKSpan("llm", str(data.get("model") or kind), attributes=attrs)
    name = str(data.get("name") or kind or "custom")
    payload = data.get("data")
    attrs = {"data": dict(payload)} if isinstance(payload, Mapping) else {}
    if kind not in (None, "custom"):
        attrs["sdk_span_type"] = kind
    return MappedSDKSpan("custom", name, attributes=attrs)


# -- live capture ---------------------------------------------------------------

#: span_data.type -> kind at the start; the full mapping runs when the trace is built.
_START_KINDS: Final[dict[str, str]] = {
    "agent": "agent",
    "function": "tool",
    "generation": "llm",
    "response": "llm",
    "handoff": "handoff",
    "guardrail": "guardrail",
    "transcription": "llm",
    "speech": "llm",
}


# The fast path.  The SDK's span data classes keep their fields as plain slots;
# for the common ones the span is filled from those fields directly, without
# ``export()`` and :func:`map_span_data`'s dicts.  Each filler does exactly
# what ``_fill_mapped(handle, map_span_data(data.export()))`` does for its
# class (a test compares both on every class); an unknown class, or a subclass,
# takes the general path.


def _fill_function(handle: SpanHandle, data: Any) -> None:
    if data.mcp_data:
        handle.attributes["mcp_data"] = data.mcp_data
    value = data.input
    if value is not None:
        value = _json_or_text(value)
        if value is not None:
            handle.input = value
    output = data.output
    if output is not None:
        handle.output = str(output)


def _fill_generation(handle: SpanHandle, data: Any) -> None:
    model = data.model
    if handle.kind == "llm":
        handle.name = str(model or "generation")
    attributes = handle.attributes
    attributes["operation"] = "generation"
    if model:
        attributes["model"] = str(model)
    if data.model_config:
        attributes["model_config"] = dict(data.model_config)
    usage = _usage(data.usage) if data.usage is not None else None
    if usage:
        attributes["usage"] = usage
    messages = data.input
    if messages is not None:
        handle.input = _cap_messages(messages)
    messages = data.output
    if messages is not None:
        handle.output = _cap_messages(messages)


def _fill_agent(handle: SpanHandle, data: Any) -> None:
    attributes = handle.attributes
    if data.handoffs is not None:
        attributes["handoffs"] = data.handoffs
    if data.tools is not None:
        attributes["tools"] = data.tools
    if data.output_type is not None:
        attributes["output_type"] = data.output_type


def _fill_handoff(handle: SpanHandle, data: Any) -> None:
    from_agent, to_agent = data.from_agent, data.to_agent
    handle.name = str(to_agent or "handoff")
    attributes = handle.attributes
    kept = from_agent or attributes.get("from_agent")
    attributes["from_agent"] = from_agent  # the general path's update(): keeps the key order
    attributes["to_agent"] = to_agent
    attributes["from_agent"] = kept


def _fill_guardrail(handle: SpanHandle, data: Any) -> None:
    handle.attributes["triggered"] = bool(data.triggered)


#: Span data class -> (kind at the start, the field naming the span, span_data.type), for the start.
_START_BY_CLASS: dict[type, tuple[str, str | None, str]] = {}
#: Span data class -> its filler, for the deferred mapping.
_FILLERS: dict[type, Callable[[SpanHandle, Any], None]] = {}
#: The entries of _START_BY_CLASS whose spans are reserved at their start (all but agent spans).
_RESERVABLE: dict[type, tuple[str, str | None, str]] = {}


def _register_fast_classes() -> None:
    """Fill the two tables above from the installed SDK's span data classes."""
    try:
        from agents.tracing import span_data
    except ImportError:  # pragma: no cover - without the extra (or the module): the general path does all
        return
    for class_name, start, filler in (
        ("AgentSpanData", ("agent", "name", "agent"), _fill_agent),
        ("FunctionSpanData", ("tool", "name", "function"), _fill_function),
        ("GenerationSpanData", ("llm", "model", "generation"), _fill_generation),
        ("ResponseSpanData", ("llm", None, "response"), None),
        ("HandoffSpanData", ("handoff", "to_agent", "handoff"), _fill_handoff),
        ("GuardrailSpanData", ("guardrail", "name", "guardrail"), _fill_guardrail),
    ):
        cls = getattr(span_data, class_name, None)
        if isinstance(cls, type):
            _START_BY_CLASS[cls] = start
            if start[0] != "agent":
                _RESERVABLE[cls] = start
            if filler is not None:
                _FILLERS[cls] = filler


_register_fast_classes()


class _SDKState:
    __slots__ = (
        "alone",
        "by_tool",
        "complete",
        "deferred",
        "delegations",
        "ended",
        "handles",
        "pending",
        "reserved",
    )

    def __init__(self, rec: Recorder) -> None:
        #: SDK span id -> our handle (a collapsed span maps to its nearest recorded ancestor, or None).
        self.handles: dict[str, SpanHandle | None] = {}
        #: SDK agent span id -> the delegation span inserted above it (Agent.as_tool).
        self.delegations: dict[str, SpanHandle] = {}
        #: our tool span id -> the delegations inserted under it.
        self.by_tool: dict[str, list[SpanHandle]] = {}
        #: ended spans mapped at the next build of the trace, flat: handle, SDK span data, whether
        #: nested, handle, ...  The data, not the SDK span, and no tuple per span: fewer objects for
        #: the garbage collector to walk meanwhile.
        self.pending: list[Any] = []
        #: handles reserved at their spans' start and not filled in yet, in that order.
        self.reserved: deque[ReservedHandle] = deque()
        #: reserved spans that ended without an error, their data mapped at the next build (their end
        #: wrote only ``end_ns`` and ``versions``, which a completion never writes: no race).
        self.ended: deque[SpanHandle] = deque()
        #: the recorder's live parent providers (a list replaced, never changed) when last seen holding
        #: only this adapter's: while it is the same list, a span start has no other provider to ask.
        self.alone: list[Any] | None = None
        #: the completer every reserved handle carries first in its ``_token``.
        self.complete: Callable[[ReservedHandle], None] = functools.partial(_complete_reserved, rec, self)
        add_finalizer = getattr(rec, "add_finalizer", None)
        self.deferred = add_finalizer is not None
        if add_finalizer is not None:
            add_finalizer(functools.partial(_flush, rec, self))


def _current_sdk_parent(rec: Recorder) -> SpanHandle | None:
    """Parent provider: the SDK span current in this context, mapped."""
    state = _peek(rec)
    if state is None or not state.handles:  # nothing captured from the SDK in this recording
        return None
    span = _sdk_current_span()
    if span is None:
        return None
    handle = state.handles.get(span.span_id)
    return ReservedHandle.complete(handle) if type(handle) is ReservedHandle else handle


_state: Callable[[Recorder], _SDKState] = state_getter(SOURCE, _SDKState, _current_sdk_parent)
_peek: Callable[[Recorder], _SDKState | None] = state_peeker(SOURCE)


def _complete_reserved(rec: Recorder, state: _SDKState, target: ReservedHandle | None = None) -> None:
    """Fill in the reserved handles in the order they were reserved: all of them, or up to ``target``.

    :func:`~pytest_agenttrace.adapters._context.complete_reserved` with the completion of one
    handle (:func:`~pytest_agenttrace.adapters._context.fill_in` included) inlined in its loop:
    this runs once per captured span, and a call costs about a point of the overhead.  The same
    order, lock and failure handling; ``test_reserved_capture_records_what_capture_at_once_does``
    holds it to what recording at once gives.
    """
    reserved = state.reserved
    handles = state.handles
    with COMPLETION_LOCK:
        # ``while True``: on CPython 3.11 only a plain backward jump warms a function's bytecode up
        # (a ``while <test>:`` loop ends in a conditional one); called once per build, this loop
        # would otherwise run unspecialized (no inline caches) whatever its length.
        while True:
            if target is not None and type(target) is not ReservedHandle:
                return
            try:
                handle = reserved.popleft()
            except IndexError:
                return
            if type(handle) is not ReservedHandle:
                continue
            info: Any = handle._token
            try:
                # One handle completed as on_span_start would have (_context.fill_in inlined).
                _, parent_sdk_id, innermost, data, known, _label = info
                parent = handles.get(parent_sdk_id) if parent_sdk_id is not None else None
                if parent is None or (
                    innermost is not None and innermost.seq > parent.seq and _context.descends(rec, innermost, parent)
                ):
                    parent = innermost
                kind, field_name, sdk_type = known
                name = (getattr(data, field_name) if field_name is not None else None) or sdk_type
                if kind == "handoff":
                    attributes: dict[str, Any] = {"from_agent": data.from_agent, "to_agent": data.to_agent}
                elif kind == "llm":
                    attributes = {"operation": sdk_type}
                else:
                    attributes = {}
                if parent is not None and parent.recorder is rec:
                    handle.parent_id = parent.span_id
                    if parent.kind == "delegation":
                        handle.scope = parent.span_id
                        handle.scope_path = [*parent.scope_path, parent.span_id]
                    else:
                        handle.scope = parent.scope
                        handle.scope_path = parent.scope_path
                    handle.agent = parent.agent
                else:
                    handle.parent_id = None
                    handle.scope = None
                    handle.scope_path = _NO_SCOPE
                    handle.agent = None
                handle.kind = kind
                handle.status = "ok"
                handle.error = None
                handle.input = None
                handle.output = None
                handle.attributes = attributes
                handle.context = None
                handle.links = _NONE
                handle.events = _NONE
                handle.name = name
                if kind == "tool":
                    if handle.scope_path:
                        rec._mark_out_of_scope(handle)
                elif kind == "handoff":
                    handle.context = {}
                    if not attributes.get("from_agent"):
                        attributes["from_agent"] = handle.agent
                handle.__class__ = SpanHandle  # type: ignore[assignment]  # last: a plain handle, complete
            except Exception:  # noqa: BLE001 - left a custom root with its name: the trace can be built
                name = str(info[-1])
                log.warning("agenttrace: could not map %s %r", "Agents SDK span", name, exc_info=True)
                complete_as_plain_root(handle, name)


def _flush(rec: Recorder, state: _SDKState) -> None:
    """Map the data of the SDK spans that ended since the last build (a recorder finalizer)."""
    with COMPLETION_LOCK:  # one build at a time fills in and maps (rec.trace may be read from threads)
        _flush_locked(rec, state)


def _flush_locked(rec: Recorder, state: _SDKState) -> None:
    complete_all(rec)  # first, every adapter's reserved spans, as at their start, before any mapping
    pending, state.pending = state.pending, []
    items = iter(pending)
    for handle, data, nested in zip(items, items, items, strict=True):
        _fill_data(state, handle, data, nested)
    # Then the reserved spans that ended: their data is in the start facts (taken all at once first: a
    # thread that runs ``with`` on one meanwhile cannot change what is mapped).  The same as
    # _fill_data, and _fill_function (the common filler), inlined: this loop runs once per captured
    # span, and a call costs about a point of the overhead.
    fillers = _FILLERS
    taken = iter(take_ended(state, "Agents SDK span"))
    for handle, info in zip(taken, taken, strict=True):
        data = info[3]
        try:
            filler = fillers.get(type(data))
            if filler is _fill_function:  # inlined
                if data.mcp_data:
                    handle.attributes["mcp_data"] = data.mcp_data
                value = data.input
                if value is not None:
                    if type(value) is str and value[:1] == "{" and _fast_loads is not None:
                        # _json_or_text's own fast path, inlined (see there)
                        if len(value) < 19 or (len(value) < 40 and _long_digits(value) is None):
                            try:
                                value = _fast_loads(value)
                            except ValueError:
                                value = _json_or_text(value)
                        else:
                            value = _json_or_text(value)
                    else:
                        value = _json_or_text(value)
                    if value is not None:
                        handle.input = value
                value = data.output
                if value is not None:
                    handle.output = value if type(value) is str else str(value)
            elif filler is not None:
                filler(handle, data)
            else:
                _fill_mapped(handle, map_span_data(data.export(), nested=info[1] is not None))
            if state.by_tool:
                _fill_delegations(state, handle)
        except Exception:  # noqa: BLE001 - one bad span must not stop the others
            log.warning("agenttrace: could not record an Agents SDK span's data", exc_info=True)


def _fill_data(state: _SDKState, handle: SpanHandle, data: Any, nested: bool) -> None:
    """Fill ``handle`` in from its span data (a filler for the common classes, else the SDK's export)."""
    try:
        filler = _FILLERS.get(type(data))
        if filler is not None:
            filler(handle, data)
        else:
            _fill_mapped(handle, map_span_data(data.export(), nested=nested))
        if state.by_tool:
            _fill_delegations(state, handle)
    except Exception:  # noqa: BLE001 - one bad span must not stop the others
        log.warning("agenttrace: could not record an Agents SDK span's data", exc_info=True)


def _fill(state: _SDKState, handle: SpanHandle, data: Any, nested: bool) -> None:
    """The general path: the SDK's own export, mapped by :func:`map_span_data`."""
    _fill_mapped(handle, map_span_data(data.export(), nested=nested))
    _fill_delegations(state, handle)


def _fill_delegations(state: _SDKState, handle: SpanHandle) -> None:
    for inserted in state.by_tool.pop(handle.span_id, ()):
        if not inserted.context:
            inserted.context = {"input": handle.input}


def _fill_mapped(handle: SpanHandle, mapped: MappedSDKSpan) -> None:
    if mapped.kind is not None:
        if mapped.kind == "handoff":
            handle.name = mapped.name
            from_agent = mapped.attributes.get("from_agent") or handle.attributes.get("from_agent")
            handle.attributes.update(mapped.attributes)
            handle.attributes["from_agent"] = from_agent
        else:
            if mapped.kind == "llm" and handle.kind == "llm":
                handle.name = mapped.name
            handle.attributes.update(mapped.attributes)
        if mapped.input is not None:
            handle.input = mapped.input
        if mapped.output is not None:
            handle.output = mapped.output


#: Span class -> whether its spans keep ``span_id``, ``parent_id``, ``span_data`` and ``error`` in
#: the private fields those properties return (the SDK's ``SpanImpl`` does): the hot path then
#: reads the fields, four Python-level calls fewer per start and end.  Checked on the first span
#: of each class seen; for a class that does not, the properties are read.
_FAST_LAYOUT: dict[type, bool] = {}


def _check_layout(span: Any) -> bool:
    """Whether ``span``'s private fields say what its properties do (remembered for its class)."""
    try:
        ok = (
            span._span_id == span.span_id
            and span._parent_id == span.parent_id
            and span._span_data is span.span_data
            and span._error == span.error
        )
    except Exception:  # noqa: BLE001 - any surprise: the properties it is
        ok = False
    _FAST_LAYOUT[type(span)] = ok
    return ok


#: A parent id the state has no entry for (``None`` is a value there: a collapsed root).
_MISSING: Final[Any] = object()


class AgentTraceProcessor(_TracingProcessor):
    """An Agents SDK trace processor recording into the active recorder."""

    def on_trace_start(self, trace: Any) -> None:
        return None

    def on_trace_end(self, trace: Any) -> None:
        return None

    def on_span_start(self, span: Any) -> None:
        rec = _recorder_module._top  # active_recorder(), without the call
        if rec is None:
            return
        enabled = _context._enabled
        if enabled is not None and SOURCE not in enabled:
            return
        try:
            # The recorder's adapter states read directly (what _state() returns): every span pays for
            # this method, and a Python-level call costs about as much as the rest of a line here.
            states = rec._agenttrace_adapter_states  # a Recorder always has it (STATES_ATTRIBUTE)
            state = states.get(SOURCE) if states is not None else None
            if state is None:
                state = _state(rec)
                states = rec.__dict__[STATES_ATTRIBUTE]
            fast = _FAST_LAYOUT.get(type(span))
            if fast is None:
                fast = _check_layout(span)
            if fast:  # the fields the properties return, read without a call each
                data, parent_sdk_id, sdk_id = span._span_data, span._parent_id, span._span_id
            else:
                data, parent_sdk_id, sdk_id = span.span_data, span.parent_id, span.span_id
            # resolve_parent(rec, skip=_current_sdk_parent), without the calls when no other framework
            # recorded here.  The SDK's own current span is never asked: the SDK made it the parent if
            # it exists (parent_id), unless the caller passed another parent on purpose.
            innermost = native_current_span()
            if innermost is not None and innermost.recorder is not rec:
                innermost = None
            live = states.get(LIVE_KEY)  # states is the recorder's dict here (read or made above)
            if live is not state.alone:  # else the same list as last time, holding only ours: nothing to ask
                if live and (len(live) > 1 or live[0] is not _current_sdk_parent):
                    innermost = ask_providers(rec, innermost, _current_sdk_parent, live)
                elif live:
                    state.alone = live  # copy on write: another provider joining makes a new list
            known = _RESERVABLE.get(type(data))
            if known is not None and fast and state.deferred and not rec._closing:
                # Reserve the span's place (seq, id, start time) and keep what its completion needs:
                # parent, scope, agent and name are worked out when the trace is built, or when
                # something asks for the handle first (see _complete_reserved).  Agent spans are not
                # reserved: Agent.as_tool inserts a delegation at their start.
                seq = next(rec._ids)
                h = _new_handle(ReservedHandle)
                h.recorder = rec
                h.seq = seq
                try:
                    h.span_id = _SPAN_IDS[seq]
                except IndexError:
                    h.span_id = _span_id(seq)
                h.start_ns = _perf_ns() - rec._t0
                h.end_ns = None
                h.versions = None
                h._token = (state.complete, parent_sdk_id, innermost, data, known, known[2])  # type: ignore[assignment]
                state.reserved.append(h)  # first: whoever can see the handle can complete it
                rec._order.append(h)
                state.handles[sdk_id] = h
                return
            handles = state.handles
            parent = handles.get(parent_sdk_id, _MISSING) if parent_sdk_id is not None else _MISSING
            has_parent = parent is not _MISSING
            if not has_parent:
                parent = None
            if parent is None or (
                innermost is not None and innermost.seq > parent.seq and _context.descends(rec, innermost, parent)
            ):
                parent = innermost
            attributes: dict[str, Any] | None = None
            if known is not None:
                kind, field_name, sdk_type = known
                name = (getattr(data, field_name) if field_name is not None else None) or sdk_type
                if kind == "handoff":
                    attributes = {"from_agent": data.from_agent, "to_agent": data.to_agent}
                elif kind == "llm":
                    attributes = {"operation": sdk_type}
            else:
                sdk_type = data.type
                if sdk_type == "turn" or (sdk_type == "task" and has_parent):
                    handles[sdk_id] = parent  # collapsed: children go to the enclosing span
                    return
                start_kind = _START_KINDS.get(sdk_type)
                if start_kind is None:
                    mapped = map_span_data(data.export(), nested=has_parent)  # rare types: map now
                    kind, name, attributes = mapped.kind or "custom", mapped.name, mapped.attributes or None
                else:
                    kind = start_kind
                    name = (
                        getattr(data, "name", None)
                        or getattr(data, "to_agent", None)
                        or getattr(data, "model", None)
                        or sdk_type
                    )
                    if kind == "handoff":
                        attributes = {"from_agent": data.from_agent, "to_agent": data.to_agent}
                    elif kind == "llm":
                        attributes = {"operation": sdk_type}
            if kind == "agent" and parent is not None and parent.kind == "tool" and not parent.ended:
                # Agent.as_tool: the sub-agent runs inside the tool -> a delegation between them.
                delegation = rec.start_span(
                    "delegation",
                    name,
                    parent_id=parent.span_id,
                    attributes={"from_agent": parent.agent, "to_agent": name, "via_tool": parent.name},
                    context={},
                )
                state.delegations[sdk_id] = delegation
                state.by_tool.setdefault(parent.span_id, []).append(delegation)
                parent = delegation
            handle = rec._new(kind, name, parent, attributes if attributes is not None else {})  # kinds from our tables
            if kind == "tool" and handle.scope_path:
                rec._mark_out_of_scope(handle)
            if kind == "handoff":
                handle.context = {}
                if not handle.attributes.get("from_agent"):
                    handle.attributes["from_agent"] = handle.agent
            handles[sdk_id] = handle
        except Exception:  # noqa: BLE001 - never break the agent
            log.warning("agenttrace: could not record an Agents SDK span at its start", exc_info=True)

    def on_span_end(self, span: Any) -> None:
        rec = _recorder_module._top  # active_recorder(), without the call
        if rec is None:
            return
        handle: SpanHandle | None = None
        try:
            states = rec._agenttrace_adapter_states  # a Recorder always has it (STATES_ATTRIBUTE)
            state = states.get(SOURCE) if states is not None else None
            if state is None:  # nothing of the SDK's started in this recording
                return
            handles = state.handles
            fast = _FAST_LAYOUT.get(type(span))
            if fast is None:
                fast = _check_layout(span)
            if fast:
                sdk_id, parent_sdk_id, data, error = span._span_id, span._parent_id, span._span_data, span._error
            else:
                sdk_id, parent_sdk_id, data, error = span.span_id, span.parent_id, span.span_data, span.error
            handle = handles.get(sdk_id)
            if handle is None or handle.end_ns is not None or handle.recorder is not rec:
                return
            if parent_sdk_id is not None and handles.get(parent_sdk_id) is handle:
                return  # a collapsed span shares its parent's handle: not ours to end
            if type(handle) is ReservedHandle:
                if not error:  # the common end: its time now, the rest at the build (the handle itself is
                    # written by its completion alone, in whichever thread)
                    handle.versions = rec._stamps
                    state.ended.append(handle)  # before end_ns: a snapshot that sees it ended also maps it
                    handle.end_ns = _perf_ns() - rec._t0
                    return
                ReservedHandle.complete(handle)  # an error: filled in now, then ended as any span
            if type(handle._token) is tuple:  # filled in before its end: its start facts are not needed
                handle._token = None
            if error:
                detail = error.get("data") or {}
                message = str(error.get("message") or "error")
                inner = detail.get("error") if isinstance(detail, Mapping) else None
                handle.status = "error"
                handle.error = {"type": "AgentsSDKError", "message": f"{message}: {inner}" if inner else message}
            delegation = state.delegations.pop(sdk_id, None) if state.delegations else None
            handle.end()
            if delegation is not None and not delegation.ended:
                if handle.status == "error":
                    delegation.status, delegation.error = "error", handle.error
                delegation.end()
            if state.deferred:
                pending = state.pending
                pending.append(handle)
                pending.append(data)
                pending.append(parent_sdk_id is not None)
            else:
                _fill(state, handle, data, parent_sdk_id is not None)
        except Exception:  # noqa: BLE001 - never break the agent
            log.warning("agenttrace: could not record an Agents SDK span at its end", exc_info=True)
            if handle is not None and not handle.ended:
                try:
                    handle.end()
                except Exception:  # noqa: BLE001
                    pass

    def shutdown(self) -> None:
        return None

    def force_flush(self) -> None:
        return None


_PROCESSOR: AgentTraceProcessor | None = None
_install_lock = threading.Lock()


def install() -> AgentTraceProcessor:
    """Add the processor to the Agents SDK's trace processors (idempotent).

    Raises :class:`~pytest_agenttrace.exceptions.MissingExtraError` without the extra.
    """
    global _PROCESSOR
    if _IMPORT_ERROR is not None:
        raise MissingExtraError("OpenAI Agents SDK capture", "openai-agents", "openai-agents") from _IMPORT_ERROR
    with _install_lock:
        fresh = _PROCESSOR is None
        if _PROCESSOR is None:
            _PROCESSOR = AgentTraceProcessor()
        # Checked every time: set_trace_processors([...]) in user code replaces the list.
        current = getattr(getattr(_get_trace_provider(), "_multi_processor", None), "_processors", None)
        if (fresh and current is None) or (current is not None and _PROCESSOR not in current):
            _add_trace_processor(_PROCESSOR)
        register_parent_provider(_current_sdk_parent)
    return _PROCESSOR
