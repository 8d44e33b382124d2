"""Live capture of OpenTelemetry spans, cross-process propagation and an OTLP receiver.

Three pieces (``pip install 'pytest-agenttrace[otel]'``):

* :class:`AgentTraceSpanProcessor`: an OpenTelemetry SDK span processor.  While
  a recorder is active every SDK span becomes a span of the trace, mapped onto
  the span kinds by :func:`pytest_agenttrace.adapters.semconv.map_otel_span`
  (GenAI semantic conventions and OpenInference).  :func:`install` adds it to
  the global tracer provider and to every SDK ``TracerProvider`` created
  afterwards; the pytest plugin does this for you.  Native and OpenTelemetry
  spans nest both ways: an OpenTelemetry span started inside a native span
  gets it as parent, and a native span started while an OpenTelemetry span is
  current gets that span as parent.
* Propagation: :func:`inject` writes W3C ``traceparent`` and ``baggage``
  headers for the innermost open span (native or OpenTelemetry), with the
  delegation scope, agent and span id in baggage (``agenttrace.scope``,
  ``agenttrace.agent``, ``agenttrace.span``); :func:`subprocess_env` puts the
  same into ``TRACEPARENT``/``BAGGAGE`` environment variables;
  :func:`extract` and :func:`context_from_env` read them back in the other
  process.  :class:`BaggageSpanProcessor` (for the other process) copies the
  ``agenttrace.*`` baggage onto its spans, so they can be placed even when the
  trace context was lost on the way.
* :func:`otlp_receiver`: an OTLP/HTTP receiver (protobuf and JSON) on
  127.0.0.1 with a port chosen by the OS.  Spans exported to it by a
  subprocess with the standard OTLP exporter land in the recorder under the
  span whose context the subprocess was given, so a sub-agent in another
  process appears under the delegation that started it.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import random
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final

from .. import recorder as _recorder_module
from ..exceptions import MissingExtraError
from ..recorder import (
    _SPAN_IDS,
    ReservedHandle,
    SpanHandle,
    _new_handle,
    _perf_ns,
    _span_id,
    active_recorder,
)
from . import _context
from ._context import (
    COMPLETION_LOCK,
    LIVE_KEY,
    STATES_ATTRIBUTE,
    ask_providers,
    complete_all,
    complete_reserved,
    epoch_to_recorder_ns,
    fill_in,
    log,
    native_current_span,
    register_parent_provider,
    resolve_parent,
    state_getter,
    state_peeker,
    take_ended,
)
from ._context import (
    descends as _descends,
)
from .semconv import QUICK_KINDS, MappedFields, map_otel_fields

try:
    from opentelemetry import baggage as _baggage
    from opentelemetry import context as _otel_context
    from opentelemetry import trace as _trace
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace import SpanProcessor as _SpanProcessor
    from opentelemetry.trace import NonRecordingSpan, SpanContext, StatusCode, TraceFlags
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    _IMPORT_ERROR: ImportError | None = _exc
    _SpanProcessor = object  # type: ignore[assignment,misc]  # lets the module import; install() raises
else:
    _IMPORT_ERROR = None
    _ERROR: Final = StatusCode.ERROR

#: Span class -> whether its spans keep their context, parent, name, status, events and
#: attributes in the private fields the processor reads on its hot path (with the span id as
#: item 1 of the context, a tuple).  Checked on the first span of each class seen (the SDK's
#: ``Span`` at the start, the ``ReadableSpan`` it hands out at the end); for a class that does
#: not, the public properties are read.
_FAST_LAYOUT: dict[type, bool] = {}


def _check_layout(span: Any) -> bool:
    """Whether ``span``'s private fields say what its properties do (remembered for its class)."""
    try:
        context = span.get_span_context()
        ok = (
            span._context is context
            and type(context) is SpanContext
            and context[1] == context.span_id
            and span._parent is span.parent
            and span._name == span.name
            and span._status is span.status
            and hasattr(span._events, "_dq")
            and type(span._attributes._dict) is dict
        )
    except Exception:  # noqa: BLE001 - any surprise: the public API it is
        ok = False
    _FAST_LAYOUT[type(span)] = ok
    return ok


if TYPE_CHECKING:
    from opentelemetry.context import Context

    from ..recorder import Recorder

__all__ = [
    "AgentTraceSpanProcessor",
    "BaggageSpanProcessor",
    "OTLPReceiver",
    "context_from_env",
    "extract",
    "inject",
    "install",
    "otlp_receiver",
    "subprocess_env",
]

SOURCE: Final = "otel"
BAGGAGE_SPAN: Final = "agenttrace.span"
BAGGAGE_SCOPE: Final = "agenttrace.scope"
BAGGAGE_AGENT: Final = "agenttrace.agent"
BAGGAGE_TRACE: Final = "agenttrace.trace"
_BAGGAGE_KEYS: Final = (BAGGAGE_SPAN, BAGGAGE_SCOPE, BAGGAGE_AGENT, BAGGAGE_TRACE)


def _require() -> None:
    if _IMPORT_ERROR is not None:
        raise MissingExtraError("OpenTelemetry capture", "otel", "opentelemetry-sdk") from _IMPORT_ERROR


#: The one mapping call (semantic conventions -> agenttrace fields, as a plain tuple); looked up
#: as a module global at each use, so a test can replace it.
_map: Callable[[str, Mapping[str, Any], tuple[str, str] | None], MappedFields] = map_otel_fields


# -- per-recorder state ---------------------------------------------------------


_Started = tuple[dict[str, Any], MappedFields]
_Pending = tuple[SpanHandle, str, dict[str, Any], tuple[str, str] | None, tuple[Any, ...] | None, _Started | None]


class _OtelState:
    """Which OpenTelemetry span ids are which spans of one recorder."""

    __slots__ = (
        "alone",
        "complete",
        "contexts",
        "deferred",
        "ended",
        "handles",
        "mapped",
        "pending",
        "raw",
        "remote",
        "reserved",
        "synthetic",
        "trace_id",
    )

    def __init__(self, rec: Recorder) -> None:
        #: OpenTelemetry span id (int) -> handle, for spans captured or received.
        self.handles: dict[int, SpanHandle] = {}
        #: synthetic span id handed out by inject() -> our span id.
        self.remote: dict[int, str] = {}
        #: our span id -> the synthetic OpenTelemetry SpanContext handed out for it.
        self.contexts: dict[str, Any] = {}
        self.synthetic: dict[str, int] = {}
        self.trace_id = random.getrandbits(128) or 1
        #: span id -> (attributes at the start, their mapping), until the span ends (agent spans).
        self.mapped: dict[int, tuple[dict[str, Any], MappedFields]] = {}
        #: ended spans whose mapping waits for the next build of the trace:
        #: (handle, name, attributes, status error, events, attributes and mapping at the start).
        self.pending: list[_Pending] = []
        #: the common case of the above, ended spans with nothing but attributes to map, flat:
        #: handle, the SDK's own (frozen) attribute dict, handle, ...  No object is made per span.
        self.raw: list[Any] = []
        #: handles reserved at their spans' start and not filled in yet, in the order they were
        #: reserved (a parent always before its children).  See :func:`_complete_reserved`.
        self.reserved: deque[ReservedHandle] = deque()
        #: reserved spans that ended in the common way, mapped at the next build (their end wrote only
        #: ``end_ns`` and ``versions``, which a completion never writes: no race between the two).
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


def _flush(rec: Recorder, state: _OtelState) -> None:
    """Map the spans that ended since the last build (runs as a recorder finalizer).

    First every adapter's reserved spans are filled in, as at their start.
    Most spans ended cleanly, without events, and were not mapped at their
    start (reserved ones among them): for those the loop maps and fills in
    place (what :func:`_apply` does on that path, without its calls); every
    other span goes through :func:`_apply_ended`.
    """
    with COMPLETION_LOCK:  # one build at a time fills in and maps (rec.trace may be read from threads)
        _flush_locked(rec, state)


def _flush_locked(rec: Recorder, state: _OtelState) -> None:
    complete_all(rec)  # first, every adapter's reserved spans, as at their start, before any mapping
    raw, state.raw = state.raw, []
    taken = iter(take_ended(state, "OpenTelemetry span"))  # then, as any span's deferred mapping
    for handle, info in zip(taken, taken, strict=True):
        raw.append(handle)
        raw.append(info[3])  # the SDK's attribute dict, frozen since the end
    mapper = _map
    items = iter(raw)
    for handle, attributes in zip(items, items, strict=True):
        try:
            try:
                kind, handle.name, agent, mapped_attributes, input_value, output_value, versions, _ = mapper(
                    handle.name, attributes, None
                )
            except Exception:  # noqa: BLE001 - _apply keeps the raw attributes and says so
                _apply(rec, handle, handle.name, attributes, None, None)
                continue
            _fill(rec, handle, kind, agent, mapped_attributes, input_value, output_value, versions)
        except Exception:  # noqa: BLE001 - one bad span must not stop the others
            log.warning("agenttrace: could not map OpenTelemetry span %r", handle.name, exc_info=True)
    pending, state.pending = state.pending, []
    for ended in pending:
        try:
            handle, name, attributes, status_error, events, started = ended
            if started is not None or status_error is not None or events is not None:
                _apply_ended(rec, ended)
                continue
            try:
                kind, handle.name, agent, mapped_attributes, input_value, output_value, versions, _ = mapper(
                    name, attributes, None
                )
            except Exception:  # noqa: BLE001 - _apply keeps the raw attributes and says so
                _apply(rec, handle, name, attributes, None, None)
                continue
            _fill(rec, handle, kind, agent, mapped_attributes, input_value, output_value, versions)
        except Exception:  # noqa: BLE001 - one bad span must not stop the others
            log.warning("agenttrace: could not map OpenTelemetry span %r", ended[1], exc_info=True)


def _apply_ended(rec: Recorder, ended: _Pending) -> None:
    handle, name, attributes, status_error, events, started = ended
    # Attributes unchanged since the start (agent spans, mostly): reuse that mapping.
    reuse = started[1] if started is not None and status_error is None and started[0] == attributes else None
    _apply(rec, handle, name, attributes, status_error, events, mapped=reuse)


def _complete_reserved(rec: Recorder, state: _OtelState, target: ReservedHandle | None = None) -> None:
    """Fill in the reserved handles in the order they were reserved: all of them, or up to ``target``.

    Runs as part of the finalizer before each build of the trace, and when a
    reserved handle is asked for first (:meth:`ReservedHandle.complete`).
    """
    complete_reserved(rec, state, _complete_one, target, what="OpenTelemetry span")


def _complete_one(rec: Recorder, state: _OtelState, handle: ReservedHandle) -> None:
    """Fill in one reserved handle as ``on_start`` would have: parent, scope, agent, provisional kind.

    Its mapping, once it has ended, comes with the next build (``state.ended``).  The
    handle becomes a plain :class:`SpanHandle` last, once every field is there.
    """
    _, parent_id, innermost, _attributes, kind, _name = handle._token  # type: ignore[misc]
    parent: SpanHandle | None = None
    if parent_id is not None:
        parent = state.handles.get(parent_id)
        if parent is None and state.remote:
            parent = _handle_for_span_id(rec, state, parent_id)
        if parent is not None and parent.seq > handle.seq:
            parent = None  # arrived after this span started (an OTLP export): not its parent then
    if parent is None or (innermost is not None and innermost.seq > parent.seq and _descends(rec, innermost, parent)):
        parent = innermost  # a native span opened inside the OpenTelemetry parent is nearer
    # Never an agent span itself (those are not reserved): it inherits its parent's agent.  Its
    # name, versions and end_ns are the reservation's and the end's; _token stays for the build.
    fill_in(rec, handle, parent, kind, {})
    handle.__class__ = SpanHandle  # type: ignore[assignment]  # last: a plain handle, complete


_AGENT_OPERATIONS: Final = frozenset({"invoke_agent", "create_agent"})
#: A span's kind as its start attributes name it (operation first, then OpenInference kind):
#: QUICK_KINDS and the agent spans, which are recorded at once.
_START_KINDS: Final[dict[Any, str]] = {**QUICK_KINDS, **dict.fromkeys(_AGENT_OPERATIONS, "agent"), "AGENT": "agent"}


def _handle_for_span_id(rec: Recorder, state: _OtelState, span_id: int) -> SpanHandle | None:
    handle = state.handles.get(span_id)
    if handle is not None:
        return ReservedHandle.complete(handle) if type(handle) is ReservedHandle else handle
    ours = state.remote.get(span_id)
    return rec.handle(ours) if ours is not None else None


def _current_otel_parent(rec: Recorder) -> SpanHandle | None:
    """Parent provider: the OpenTelemetry span current in this context, mapped."""
    state = _peek(rec)
    if state is None or not state.handles:  # nothing captured from OpenTelemetry in this recording
        return None
    ctx = _trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return _handle_for_span_id(rec, state, ctx.span_id)


_state: Callable[[Recorder], _OtelState] = state_getter(SOURCE, _OtelState, _current_otel_parent)
_peek: Callable[[Recorder], _OtelState | None] = state_peeker(SOURCE)


# -- the span processor ---------------------------------------------------------


class AgentTraceSpanProcessor(_SpanProcessor):
    """Turns OpenTelemetry SDK spans into spans of the active recorder.

    With no active recorder (or with OpenTelemetry capture switched off) it
    does nothing.  Mapping errors are logged and the span is kept as far as it
    could be read; the traced program never sees them.
    """

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        rec = _recorder_module._top  # active_recorder(), without the call
        if rec is None:
            return
        enabled = _context._enabled
        if enabled is not None and SOURCE not in enabled:
            return
        try:
            # The hot path reads the recorder's adapter states and the SDK span's fields directly
            # (what _state(), resolve_parent() and the span's properties return): every span pays
            # for this method, and a Python-level call costs about as much as the rest of a line.
            states = rec._agenttrace_adapter_states  # a Recorder always has it (STATES_ATTRIBUTE)
            state = states.get(SOURCE) if states is not None else None
            if state is None:
                state = _state(rec)
                states = rec.__dict__[STATES_ATTRIBUTE]
            handles = state.handles
            fast = _FAST_LAYOUT.get(type(span))
            if fast is None:
                fast = _check_layout(span)
            parent_ctx = span._parent if fast else span.parent
            # resolve_parent(rec, skip=_current_otel_parent), without the calls when no other
            # framework recorded into this recorder: the innermost open span of another kind.
            innermost = native_current_span()
            if innermost is not None and innermost.recorder is not rec:
                innermost = None
            live = states.get(LIVE_KEY)  # states is the recorder's dict here (read or made above)
            if live is not state.alone:  # else the same list as last time, holding only ours: nothing to ask
                if live and (len(live) > 1 or live[0] is not _current_otel_parent):
                    innermost = ask_providers(rec, innermost, _current_otel_parent, live)
                elif live:
                    state.alone = live  # copy on write: another provider joining makes a new list
            live_attributes = span._attributes._dict if fast else _live_attributes(span)
            kind = "custom"
            agent_span = False
            if live_attributes:
                get = live_attributes.get
                oi_kind: Any = get("openinference.span.kind")
                kind = _START_KINDS.get(get("gen_ai.operation.name")) or _START_KINDS.get(oi_kind) or "custom"
                agent_span = kind == "agent" or oi_kind == "AGENT"
            if fast and not agent_span and state.deferred and not rec._closing:
                # Reserve the span's place (seq, id, start time) and keep what its completion needs:
                # parent, scope, agent and the provisional kind are filled in when the trace is built
                # or when something asks for the handle first (see _complete_reserved); the mapping
                # follows at the build, as for any span.  Agent spans are recorded at once: the spans
                # inside them inherit the agent their start names.
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
                h.name = name = span._name
                h.versions = None
                otel_id = span._context[1]
                h._token = (  # type: ignore[assignment]  # a reserved handle's completion facts
                    state.complete,
                    parent_ctx[1] if type(parent_ctx) is SpanContext else None,
                    innermost,
                    live_attributes,
                    kind,
                    name,  # last, as ReservedHandle asks
                )
                state.reserved.append(h)  # first: whoever can see the handle can complete it
                rec._order.append(h)
                handles[otel_id] = h
                return
            parent = None
            if parent_ctx is not None:
                parent_id = parent_ctx[1] if type(parent_ctx) is SpanContext and fast else parent_ctx.span_id
                parent = handles.get(parent_id)
                if parent is None and state.remote:
                    parent = _handle_for_span_id(rec, state, parent_id)
            if parent is None or (
                innermost is not None and innermost.seq > parent.seq and _descends(rec, innermost, parent)
            ):
                # A native span opened inside the OpenTelemetry parent is nearer.
                parent = innermost
            span_id = span._context[1] if fast else span.get_span_context().span_id
            # Read in place (no copy): only agent spans keep a copy, to compare with the end.
            name = span._name if fast else span.name
            if not live_attributes:
                handles[span_id] = rec._new("custom", name, parent, {})
                return
            if state.deferred and not agent_span:
                # Mapped when the trace is built (cheaper); a provisional kind until then.
                handles[span_id] = rec._new(kind, name, parent, {})
                return
            # Agent spans are mapped now: spans inside inherit their agent name.
            plain = dict(live_attributes)
            try:
                mapped = _map(name, plain, None)
            except Exception:  # noqa: BLE001 - start as custom; the end tries again and says so
                handles[span_id] = rec._new("custom", name, parent, {})
                return
            state.mapped[span_id] = (plain, mapped)
            kind, name, agent = mapped[0], mapped[1], mapped[2]
            handle = handles[span_id] = rec.start_child(kind, name, parent)
            if agent is not None:
                handle.agent = agent
        except Exception:  # noqa: BLE001 - never break the traced program
            log.warning(
                "agenttrace: could not map OpenTelemetry span %r at its start",
                getattr(span, "name", "?"),
                exc_info=True,
            )

    def on_end(self, span: ReadableSpan) -> None:
        rec = _recorder_module._top  # active_recorder(), without the call
        if rec is None:
            return
        handle: SpanHandle | None = None
        _sdk_span: Any = span
        try:
            states = rec._agenttrace_adapter_states  # a Recorder always has it (STATES_ATTRIBUTE)
            state = states.get(SOURCE) if states is not None else None
            if state is None:  # nothing of OpenTelemetry's started in this recording
                return
            fast = _FAST_LAYOUT.get(type(span))
            if fast is None:
                fast = _check_layout(span)
            span_id = _sdk_span._context[1] if fast else span.get_span_context().span_id  # type: ignore[union-attr]
            handle = state.handles.get(span_id)
            if handle is None or handle.end_ns is not None:
                return
            if type(handle) is ReservedHandle:
                if (
                    fast
                    and _sdk_span._attributes._dict is handle._token[3]  # type: ignore[index]
                    and _sdk_span._name == handle.name
                    and _sdk_span._status.status_code is not _ERROR
                    and not _sdk_span._events._dq
                ):
                    # The common end: its stamps and time now, its mapping at the build.  A completion
                    # (in any thread) never writes these two fields, nor the name checked above.
                    # Queued before end_ns is set, so a snapshot that sees it ended also maps it.
                    handle.versions = rec._stamps
                    state.ended.append(handle)
                    handle.end_ns = _perf_ns() - rec._t0
                    return
                ReservedHandle.complete(handle)  # an unusual end (an error, events): filled in now, then as any span
            if type(handle._token) is tuple:  # filled in before its end: its start facts are not needed
                handle._token = None
            started = state.mapped.pop(span_id, None) if state.mapped else None
            # What the mapping needs, read without copies: an ended span is frozen.  Plain values
            # only, not the span: fewer objects for the garbage collector to walk meanwhile.
            status = _sdk_span._status if fast else span.status
            status_error = _status_error(span) if status.status_code is StatusCode.ERROR else None
            if fast:  # the SDK's BoundedList: its deque answers "empty?" without a Python-level __len__
                events = _sdk_span._events
                events = getattr(events, "_dq", events)
                attributes = _sdk_span._attributes._dict
                name = _sdk_span._name
            else:
                events = span.events
                attributes = dict(_live_attributes(span))
                name = span.name
            if (
                state.deferred
                and started is None
                and status_error is None
                and not events
                and name == handle.name
                and not handle.attributes
            ):
                # Mapped at the next build.  The ended span's attribute dict is frozen: kept until
                # then as it is (no copy, no record of its own), beside the handle.
                raw = state.raw
                raw.append(handle)
                raw.append(attributes)
            else:
                ended: _Pending = (handle, name, attributes, status_error, tuple(events) if events else None, started)
                if state.deferred:
                    state.pending.append(ended)
                else:
                    _apply_ended(rec, ended)
            handle.end()
        except Exception:  # noqa: BLE001 - never break the traced program
            log.warning(
                "agenttrace: could not map OpenTelemetry span %r at its end", getattr(span, "name", "?"), exc_info=True
            )
            try:
                if handle is not None and not handle.ended:  # record what we can: at least close it
                    handle.end()
            except Exception:  # noqa: BLE001
                pass

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _live_attributes(span: Any) -> Mapping[str, Any]:
    """A span's attributes, read fast and not copied (they may still change until the span ends).

    The SDK hands them out behind a read-only proxy over a locked mapping,
    about ten times slower to read than the plain dict inside; use that when
    it is there, the public property otherwise.
    """
    try:
        inner = span._attributes._dict
    except AttributeError:
        inner = None
    if type(inner) is dict:
        return inner
    attributes = span.attributes
    return attributes if attributes else {}


def _status_error(span: Any) -> tuple[str, str] | None:
    status = span.status
    if status is None or status.status_code is not StatusCode.ERROR:
        return None
    for event in span.events or ():
        if event.name == "exception":
            attrs = event.attributes or {}
            return (str(attrs.get("exception.type", "")), str(attrs.get("exception.message", status.description or "")))
    return ("", status.description or "")


def _apply(
    rec: Recorder,
    handle: SpanHandle,
    name: str,
    attributes: Mapping[str, Any],
    status_error: tuple[str, str] | None,
    events: Sequence[Any] | None,
    *,
    mapped: MappedFields | None = None,
) -> None:
    """Fill ``handle`` from a finished span's name, attributes, status and events."""
    try:
        if mapped is None:
            mapped = _map(name, attributes, status_error)
    except Exception:  # noqa: BLE001 - keep the raw attributes when mapping fails
        log.warning("agenttrace: could not map OpenTelemetry span %r; keeping its raw attributes", name, exc_info=True)
        handle.attributes["otel"] = {k: _plain(v) for k, v in attributes.items()}
        if status_error is not None:
            handle.set_status("error", {"type": status_error[0] or "Error", "message": status_error[1]})
        return
    kind, handle.name, agent, mapped_attributes, input_value, output_value, versions, error = mapped
    _fill(rec, handle, kind, agent, mapped_attributes, input_value, output_value, versions)
    if error is not None:
        handle.status = "error"
        handle.error = error
    elif status_error is not None:
        handle.set_status("error", {"type": status_error[0] or "Error", "message": status_error[1]})
    if events:
        out = []
        for event in events:
            if event.name == "exception":
                continue
            when = epoch_to_recorder_ns(rec, event.timestamp)
            out.append(
                {
                    "name": event.name,
                    "time_ns": when,
                    "attributes": {k: _plain(v) for k, v in (event.attributes or {}).items()},
                }
            )
        if out:
            handle.events = (handle.events or []) + out


def _fill(
    rec: Recorder,
    handle: SpanHandle,
    kind: str,
    agent: str | None,
    mapped_attributes: dict[str, Any],
    input_value: Any,
    output_value: Any,
    versions: Mapping[str, str] | None,
) -> None:
    """Put a span's mapped fields on its handle (the deferred mapping and the general path alike)."""
    handle.kind = kind
    if agent is not None:
        handle.agent = agent
    if handle.attributes:
        # Set on the handle itself (after the span ended, before the build): those win, as they
        # would had the span been mapped at its end.  The mapping's dict is fresh: no copy needed.
        mapped_attributes.update(handle.attributes)
    handle.attributes = mapped_attributes
    if kind == "tool" and handle.scope_path:
        rec._mark_out_of_scope(handle)  # as a native tool() call under a restricting delegation
    if kind == "handoff" or kind == "delegation":
        _fill_handoff(rec, handle)
    if input_value is not None:
        handle.input = input_value
    if output_value is not None:
        handle.output = output_value
    if versions:
        _add_versions(handle, versions)


def _fill_handoff(rec: Recorder, handle: SpanHandle) -> None:
    """A handoff or delegation: ``from_agent`` defaults to the parent's agent; ``context`` is never null."""
    if not handle.attributes.get("from_agent"):
        parent = rec.handle(handle.parent_id) if handle.parent_id else None
        if parent is not None and parent.agent:
            handle.attributes["from_agent"] = parent.agent
    if handle.context is None:
        handle.context = {}


def _add_versions(handle: SpanHandle, versions: Mapping[str, str]) -> None:
    # Copy on write: an ended handle shares the recorder's stamps dict with other spans.
    merged = dict(handle.versions) if handle.versions else {}
    merged.update(versions)
    handle.versions = merged


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# -- installation ---------------------------------------------------------------

_PROCESSOR: AgentTraceSpanProcessor | None = None
_install_lock = threading.Lock()


def _processor() -> AgentTraceSpanProcessor:
    global _PROCESSOR
    if _PROCESSOR is None:
        _PROCESSOR = AgentTraceSpanProcessor()
    return _PROCESSOR


def _has_processor(provider: Any, processor: Any) -> bool:
    active = getattr(provider, "_active_span_processor", None)
    return processor in tuple(getattr(active, "_span_processors", ()))


def install(provider: Any = None) -> AgentTraceSpanProcessor:
    """Capture OpenTelemetry spans into the active recorder (idempotent).

    With ``provider`` the processor is added to that SDK ``TracerProvider``;
    without, to the global provider (when it is an SDK provider) and to every
    SDK ``TracerProvider`` created from now on.  Raises
    :class:`~pytest_agenttrace.exceptions.MissingExtraError` without the extra.
    """
    _require()
    processor = _processor()
    with _install_lock:
        register_parent_provider(_current_otel_parent)
        if provider is not None:
            if not _has_processor(provider, processor):
                provider.add_span_processor(processor)
            return processor
        _patch_sdk_provider(processor)
        current = _trace.get_tracer_provider()
        if isinstance(current, TracerProvider) and not _has_processor(current, processor):
            current.add_span_processor(processor)
    return processor


def _patch_sdk_provider(processor: AgentTraceSpanProcessor) -> None:
    init = TracerProvider.__init__
    if getattr(init, "_agenttrace_patched", False):
        return

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        try:
            self.add_span_processor(processor)
        except Exception:  # noqa: BLE001 - a provider we cannot join is simply not captured
            log.debug("agenttrace: could not add the span processor to %r", self, exc_info=True)

    __init__._agenttrace_patched = True  # type: ignore[attr-defined]  # marker against double patching
    TracerProvider.__init__ = __init__  # type: ignore[method-assign]  # the SDK offers no global hook for new providers


# -- propagation ----------------------------------------------------------------


def _span_context_for(rec: Recorder, handle: SpanHandle) -> Any:
    """The OpenTelemetry context standing for ``handle``: its own, or a synthetic one."""
    state = _state(rec)
    known = state.contexts.get(handle.span_id)
    if known is not None:
        return known
    # A captured OpenTelemetry span is the innermost open span only while it is OpenTelemetry's current one.
    current = _trace.get_current_span().get_span_context()
    if current.is_valid and state.handles.get(current.span_id) is handle:
        return current
    span_id = state.synthetic.get(handle.span_id)
    if span_id is None:
        span_id = random.getrandbits(64) or 1
        state.synthetic[handle.span_id] = span_id
        state.remote[span_id] = handle.span_id
    ctx = SpanContext(
        trace_id=state.trace_id, span_id=span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    state.contexts[handle.span_id] = ctx
    return ctx


def inject(
    carrier: MutableMapping[str, str] | None = None, *, recorder: Recorder | None = None
) -> MutableMapping[str, str]:
    """Write ``traceparent`` and ``baggage`` for the innermost open span into ``carrier``.

    The span may be native or OpenTelemetry; baggage carries
    ``agenttrace.span`` (its id), ``agenttrace.scope`` (the delegation scope),
    ``agenttrace.agent`` and ``agenttrace.trace``.  Outside a recording the
    current OpenTelemetry context is propagated unchanged.  Returns ``carrier``
    (a new dict when none is given), ready to send as HTTP headers.
    """
    _require()
    out: MutableMapping[str, str] = {} if carrier is None else carrier
    ctx = _otel_context.get_current()
    rec = recorder or active_recorder()
    if rec is not None:
        target = resolve_parent(rec)
        if target is not None:
            ctx = _trace.set_span_in_context(NonRecordingSpan(_span_context_for(rec, target)), ctx)
            scope = target.span_id if target.kind == "delegation" else target.scope
            for key, value in (
                (BAGGAGE_SPAN, target.span_id),
                (BAGGAGE_SCOPE, scope),
                (BAGGAGE_AGENT, target.agent),
                (BAGGAGE_TRACE, rec.trace_id),
            ):
                if value:
                    ctx = _baggage.set_baggage(key, str(value), ctx)
    TraceContextTextMapPropagator().inject(out, ctx)
    W3CBaggagePropagator().inject(out, ctx)
    return out


def extract(carrier: Mapping[str, str], context: Context | None = None) -> Context:
    """The OpenTelemetry context (remote parent + baggage) carried by ``carrier``."""
    _require()
    lowered = {k.lower(): v for k, v in carrier.items()}
    ctx = TraceContextTextMapPropagator().extract(lowered, context)
    return W3CBaggagePropagator().extract(lowered, ctx)


def subprocess_env(env: Mapping[str, str] | None = None, *, recorder: Recorder | None = None) -> dict[str, str]:
    """``env`` (default: this process's) plus ``TRACEPARENT``/``BAGGAGE`` for a child process."""
    out = dict(os.environ if env is None else env)
    headers = inject(recorder=recorder)
    for header, var in (("traceparent", "TRACEPARENT"), ("tracestate", "TRACESTATE"), ("baggage", "BAGGAGE")):
        if header in headers:
            out[var] = headers[header]
        else:
            out.pop(var, None)
    return out


def context_from_env(environ: Mapping[str, str] | None = None) -> Context:
    """The context a parent process passed through ``TRACEPARENT``/``BAGGAGE``.

    In the child: ``with tracer.start_as_current_span("agent", context=context_from_env()):``.
    """
    environ = os.environ if environ is None else environ
    carrier = {
        h: environ[v]
        for h, v in (("traceparent", "TRACEPARENT"), ("tracestate", "TRACESTATE"), ("baggage", "BAGGAGE"))
        if v in environ
    }
    return extract(carrier)


class BaggageSpanProcessor(_SpanProcessor):
    """Copies ``agenttrace.*`` baggage onto every span started (for the child process).

    With it, the receiver can place spans under the right delegation even when
    a framework in the child process started a fresh trace.
    """

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        try:
            entries = _baggage.get_all(parent_context)
            for key in _BAGGAGE_KEYS:
                value = entries.get(key)
                if value is not None:
                    span.set_attribute(key, str(value))
        except Exception:  # noqa: BLE001
            log.debug("agenttrace: could not copy baggage onto a span", exc_info=True)

    def on_end(self, span: Any) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


if _IMPORT_ERROR is None:
    register_parent_provider(_current_otel_parent)


# -- OTLP decoding --------------------------------------------------------------


@dataclass(slots=True)
class _Received:
    """One span as it came over OTLP, before placement."""

    span_id: int
    parent_id: int | None
    trace_id: int
    name: str
    start: int
    end: int
    attributes: dict[str, Any]
    status_error: tuple[str, str] | None
    events: list[Any] = field(default_factory=list)
    service: str | None = None


@dataclass(slots=True)
class _Event:
    name: str
    timestamp: int
    attributes: dict[str, Any]


def _any_value_pb(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value_pb(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value_pb(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def _decode_protobuf(body: bytes) -> list[_Received]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest.FromString(body)
    out: list[_Received] = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _any_value_pb(kv.value) for kv in resource_spans.resource.attributes}
        service = resource.get("service.name")
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                attrs = {kv.key: _any_value_pb(kv.value) for kv in s.attributes}
                events = [
                    _Event(e.name, e.time_unix_nano, {kv.key: _any_value_pb(kv.value) for kv in e.attributes})
                    for e in s.events
                ]
                out.append(
                    _Received(
                        span_id=int.from_bytes(s.span_id, "big"),
                        parent_id=int.from_bytes(s.parent_span_id, "big") or None if s.parent_span_id else None,
                        trace_id=int.from_bytes(s.trace_id, "big"),
                        name=s.name,
                        start=s.start_time_unix_nano,
                        end=s.end_time_unix_nano or s.start_time_unix_nano,
                        attributes=attrs,
                        status_error=_received_error(s.status.code == 2, s.status.message, events),
                        events=events,
                        service=str(service) if service is not None else None,
                    )
                )
    return out


def _received_error(is_error: bool, message: str, events: Sequence[_Event]) -> tuple[str, str] | None:
    if not is_error:
        return None
    for event in events:
        if event.name == "exception":
            return (
                str(event.attributes.get("exception.type", "")),
                str(event.attributes.get("exception.message", message)),
            )
    return ("", message)


_HEX = frozenset("0123456789abcdefABCDEF")


def _json_id(value: Any, size: int) -> int:
    if not value:
        return 0
    text = str(value)
    if len(text) == size * 2 and set(text) <= _HEX:
        return int(text, 16)
    import base64

    return int.from_bytes(base64.b64decode(text), "big")


def _any_value_json(value: Mapping[str, Any]) -> Any:
    if not isinstance(value, Mapping) or not value:
        return None
    key, item = next(iter(value.items()))
    if key == "intValue":
        return int(item)
    if key == "doubleValue":
        return float(item)
    if key == "arrayValue":
        return [_any_value_json(v) for v in (item or {}).get("values", [])]
    if key == "kvlistValue":
        return {kv["key"]: _any_value_json(kv.get("value", {})) for kv in (item or {}).get("values", [])}
    return item


def _json_attrs(items: Any) -> dict[str, Any]:
    return {
        kv["key"]: _any_value_json(kv.get("value", {})) for kv in items or () if isinstance(kv, Mapping) and "key" in kv
    }


def _decode_json(body: bytes) -> list[_Received]:
    data = json.loads(body or b"{}")
    out: list[_Received] = []
    for resource_spans in data.get("resourceSpans", []) or []:
        resource = _json_attrs((resource_spans.get("resource") or {}).get("attributes"))
        service = resource.get("service.name")
        for scope_spans in resource_spans.get("scopeSpans", []) or []:
            for s in scope_spans.get("spans", []) or []:
                try:
                    events = [
                        _Event(e.get("name", ""), int(e.get("timeUnixNano", 0)), _json_attrs(e.get("attributes")))
                        for e in s.get("events", []) or []
                    ]
                    status = s.get("status") or {}
                    code = status.get("code")
                    start = int(s.get("startTimeUnixNano", 0))
                    out.append(
                        _Received(
                            span_id=_json_id(s.get("spanId"), 8),
                            parent_id=_json_id(s.get("parentSpanId"), 8) or None,
                            trace_id=_json_id(s.get("traceId"), 16),
                            name=str(s.get("name", "")),
                            start=start,
                            end=int(s.get("endTimeUnixNano", 0)) or start,
                            attributes=_json_attrs(s.get("attributes")),
                            status_error=_received_error(
                                code in (2, "STATUS_CODE_ERROR"), str(status.get("message", "")), events
                            ),
                            events=events,
                            service=str(service) if service is not None else None,
                        )
                    )
                except (TypeError, ValueError, KeyError):
                    log.warning("agenttrace: skipped a malformed span in an OTLP/JSON export", exc_info=True)
    return out


# -- the receiver ---------------------------------------------------------------


class OTLPReceiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1 feeding one recorder.

    Accepts ``POST /v1/traces`` as protobuf (``application/x-protobuf``) or
    JSON (``application/json``), optionally gzip/deflate encoded.  Spans whose
    parent is a span of this recorder (captured, received or handed out by
    :func:`inject`) nest under it; a span whose parent has not arrived yet
    waits for it (exporters send children first); spans still waiting when the
    receiver closes go under the span named by their ``agenttrace.span``
    baggage attribute, else become roots.
    """

    def __init__(self, recorder: Recorder, host: str = "127.0.0.1", port: int = 0) -> None:
        self.recorder = recorder
        self._lock = threading.Lock()
        self._pending: dict[int, list[_Received]] = {}
        self.spans_received = 0
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("agenttrace otlp receiver: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="agenttrace-otlp-receiver", daemon=True)
        self._closed = False

    # -- addresses --
    @property
    def port(self) -> int:
        """The port the OS chose."""
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` (for ``OTEL_EXPORTER_OTLP_ENDPOINT``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_url(self) -> str:
        """``http://127.0.0.1:PORT/v1/traces`` (for ``OTLPSpanExporter(endpoint=...)``)."""
        return f"{self.endpoint}/v1/traces"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a child process: exporter settings plus the current trace context."""
        out = subprocess_env(base, recorder=self.recorder)
        out["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = self.traces_url
        out["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.endpoint
        out["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        out["OTEL_TRACES_EXPORTER"] = "otlp"
        no_proxy = [p for p in out.get("NO_PROXY", "").split(",") if p]
        out["NO_PROXY"] = ",".join([*no_proxy, "127.0.0.1", "localhost"])
        return out

    # -- lifecycle --
    def start(self) -> OTLPReceiver:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and place the spans still waiting for a parent (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self.flush()

    def __enter__(self) -> OTLPReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingestion --
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        content_type = (request.headers.get("Content-Type") or "application/x-protobuf").split(";")[0].strip()
        try:
            length = int(request.headers.get("Content-Length") or 0)
            body = request.rfile.read(length)
            encoding = (request.headers.get("Content-Encoding") or "").lower()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            is_json = content_type == "application/json"
            spans = _decode_json(body) if is_json else _decode_protobuf(body)
        except Exception as exc:  # noqa: BLE001 - a bad request is answered, not raised
            log.warning("agenttrace: OTLP receiver could not decode a request: %s", exc)
            self._reply(request, 400, b'{"error": "bad OTLP request"}', "application/json")
            return
        try:
            self.ingest(spans)
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: OTLP receiver could not record spans", exc_info=True)
        if is_json:
            self._reply(request, 200, b"{}", "application/json")
        else:
            self._reply(request, 200, b"", "application/x-protobuf")

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, code: int, body: bytes, content_type: str) -> None:
        request.send_response(code)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def ingest(self, spans: Sequence[Any]) -> None:
        """Record decoded spans (in start order; children wait for their parents)."""
        rec = self.recorder
        with self._lock:
            self.requests += 1
            if rec.finished:
                log.warning("agenttrace: OTLP spans arrived after the recording of %r finished; dropped", rec.name)
                return
            state = _state(rec)
            for item in sorted(spans, key=lambda s: (s.start, s.end)):
                self.spans_received += 1
                self._place(rec, state, item, final=False)

    def flush(self) -> None:
        """Place every span still waiting for its parent (the parent will not come)."""
        rec = self.recorder
        with self._lock:
            if rec.finished:
                self._pending.clear()
                return
            state = _state(rec)
            waiting = sorted((s for group in self._pending.values() for s in group), key=lambda s: (s.start, s.end))
            self._pending.clear()
            for item in waiting:
                self._place(rec, state, item, final=True)

    def _place(self, rec: Recorder, state: _OtelState, item: _Received, *, final: bool) -> None:
        if item.span_id in state.handles:  # captured in-process already
            return
        parent: SpanHandle | None = None
        if item.parent_id is not None:
            parent = _handle_for_span_id(rec, state, item.parent_id)
            if parent is None and not final:
                self._pending.setdefault(item.parent_id, []).append(item)
                return
        if parent is None:
            hinted = item.attributes.get(BAGGAGE_SPAN)
            parent = rec.handle(str(hinted)) if hinted else None
        handle = rec.start_span(
            "custom",
            item.name,
            parent_id=parent.span_id if parent is not None else None,
            start_ns=epoch_to_recorder_ns(rec, item.start),
        )
        state.handles[item.span_id] = handle
        try:
            attrs = {k: v for k, v in item.attributes.items() if k not in _BAGGAGE_KEYS}
            if handle.agent is None and item.attributes.get(BAGGAGE_AGENT) and not attrs.get("gen_ai.agent.name"):
                handle.agent = str(item.attributes[BAGGAGE_AGENT])
            _apply(rec, handle, item.name, attrs, item.status_error, item.events)
            if item.service:
                handle.attributes.setdefault("service", item.service)
        finally:
            handle.end(end_ns=max(handle.start_ns, epoch_to_recorder_ns(rec, item.end)))
        for child in self._pending.pop(item.span_id, ()):
            self._place(rec, state, child, final=final)


@contextmanager
def otlp_receiver(recorder: Recorder | None = None, *, port: int = 0) -> Iterator[OTLPReceiver]:
    """Run an OTLP/HTTP receiver on 127.0.0.1 for the duration of the block.

    ``recorder`` defaults to the active one.  Point a child process at it with
    ``receiver.env()`` (exporter endpoint and trace context) and its spans
    land in the trace under the span that was current when ``env()`` was called.
    """
    _require()
    rec = recorder or active_recorder()
    if rec is None:
        from ..exceptions import UsageError

        raise UsageError(
            "otlp_receiver() needs a recorder: use it inside a test with the agenttrace fixture, or pass recorder=."
        )
    receiver = OTLPReceiver(rec, port=port).start()
    try:
        yield receiver
    finally:
        receiver.close()
