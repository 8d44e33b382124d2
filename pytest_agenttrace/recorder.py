"""Recording agent runs: the recorder, span handles and context propagation.

A :class:`Recorder` collects the spans of one run.  While it is *active*
(``with recorder.activate():``, or for the whole test body when it comes from
the ``agenttrace`` fixture) the module-level functions (:func:`agent`,
:func:`tool`, :func:`delegate`, ...) record into it; with no active recorder
they return a shared do-nothing handle, so agent code can keep its
instrumentation in production at the cost of a function call.

Parenthood follows one :class:`contextvars.ContextVar` holding the open span:
asyncio tasks inherit it automatically; threads do not, so wrap the callable
with :func:`propagate` (``executor.submit(propagate(fn), ...)``).  A span's
``agent`` is inherited from the nearest enclosing ``agent`` span and its
``scope``/``scope_path`` from the enclosing ``delegation`` spans.

Exceptions raised inside a span are recorded (``status: error`` with type and
message) and re-raised unchanged.  :meth:`Recorder.finish` closes spans left
open by a crash, so a failing run still yields a complete, valid trace.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import inspect
import itertools
import operator
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar, overload

from ._gc import collector_paused
from .exceptions import UsageError
from .model import KINDS, Span, Trace, _SpanSlots, span_from_values
from .sanitize import (
    _CLEAN_SCALARS,
    _LABELS,
    _SAFE_KEYS_SEEN,
    DEFAULT_LIMITS,
    Limits,
    _clean_and_learn,
    _clean_values,
    _is_mock,
    clean,
    encodable,
    encodable_stamps,
    flat_dict,
    label_text,
    redact_label,
    redact_stamps,
)

if TYPE_CHECKING:
    from .versions import VersionContext

__all__ = [
    "COMPLETION_LOCK",
    "Recorder",
    "ReservedHandle",
    "SpanHandle",
    "active_recorder",
    "agent",
    "current_span",
    "delegate",
    "guardrail",
    "handoff",
    "llm",
    "memory_read",
    "memory_write",
    "propagate",
    "register_parent_provider",
    "retrieval",
    "span",
    "tool",
    "traced",
    "wait",
]

F = TypeVar("F", bound=Callable[..., Any])

_perf_ns = time.perf_counter_ns

#: The open span of the current context (its handle), or None.
_CURRENT: contextvars.ContextVar[SpanHandle | None] = contextvars.ContextVar(
    "agenttrace_current_span", default=None
)

_current_get: Final = _CURRENT.get
#: The ``attributes`` of every finished span that has none (finished spans are read-only).
_NO_ATTRIBUTES: Final[dict[str, Any]] = {}
#: What a handle becomes when its recording finishes (its setters refuse with a UsageError).
_FINISHED: Final[type] = Span
_UNSET: Final = object()
_KIND_SET: Final = frozenset(KINDS)
#: The scope path of every span outside any delegation: one shared list, never mutated.
_NO_SCOPE: Final[list[str]] = []
#: The ``links``/``events`` of a span that has none: one shared list, never mutated (the setters replace it).
_NONE: Final[list[Any]] = []
#: Set once a span exits while a span opened inside it is still current (a generator holding a
#: ``with`` open past its caller's): from then on, exits check that the span they put back is open.
_closed_out_of_order = False
#: Bumped by every change to a recorded span's values (setters, stamps): a mid-run
#: ``Recorder.trace`` is rebuilt when it moved (a plain global: the cheapest store there is).
_changes = 0


class _ActiveStack:
    """Process-wide stack of active recorders; the top one receives spans.

    Process-wide rather than a context variable so that threads started by
    agent code (without a copied context) still record, as roots.
    """

    __slots__ = ("lock", "stack")

    def __init__(self) -> None:
        self.stack: list[Recorder] = []
        self.lock = threading.Lock()


_ACTIVE = _ActiveStack()
#: Fast-path mirror of the top of the stack (read without a lock).
_top: Recorder | None = None


def active_recorder() -> Recorder | None:
    """The recorder that module-level instrumentation records into, if any."""
    return _top


def current_span() -> SpanHandle | None:
    """The handle of the span open in this context, if any."""
    current = _CURRENT.get()
    if current is not None and current.end_ns is not None:
        current = _open_ancestor(current)
    return current


def _open_ancestor(handle: SpanHandle) -> SpanHandle | None:
    """The nearest ancestor of ``handle`` (an ended span) still open, or ``None``.

    A context can be left with an ended span current when spans close out of
    order (a generator holding a span open across the ``with`` of its caller):
    a span started after that end nests under what is still open instead.
    """
    rec = handle.recorder
    found: SpanHandle | None = handle
    seen = 0
    while found is not None and found.end_ns is not None and seen < 10_000:
        parent_id = found.parent_id
        found = rec.handle(parent_id) if parent_id is not None else None
        seen += 1  # a corrupt parent chain (a cycle) cannot loop forever
    return found


def _refuse_finished(span: Any, setter: str) -> NoReturn:
    """Refuse a setter of a finished span as :class:`Span` does (a bound method taken before the finish)."""
    getattr(Span, setter)(span)
    raise AssertionError("unreachable: Span refuses every setter")  # pragma: no cover


def _own_attributes(handle: SpanHandle, setter: str) -> dict[str, Any]:
    """The attributes dict a setter may change: refused once the recording finished.

    A setter taken from the handle before the finish is refused once the handle is a
    :class:`Span`, or once the finish gave it the dict every finished span without attributes
    shares (read first, so a finish in another thread cannot slip in between).
    """
    attributes = handle.attributes
    if type(handle) is _FINISHED or attributes is _NO_ATTRIBUTES:
        _refuse_finished(handle, setter)
    return attributes


#: Adapters' "current foreign span" lookups (OpenTelemetry, Agents SDK, LangChain):
#: each returns the recorder's handle of its framework's span open in this context.
_PARENT_PROVIDERS: list[Callable[[Recorder], SpanHandle | None]] = []


def register_parent_provider(provider: Callable[[Recorder], SpanHandle | None]) -> None:
    """Let a framework adapter's current span take part in parenthood (idempotent).

    A native span started without an explicit parent nests under the innermost
    open span: the native current one or a provider's, whichever started last.
    """
    if provider not in _PARENT_PROVIDERS:
        _PARENT_PROVIDERS.append(provider)


def _current_for(rec: Recorder) -> SpanHandle | None:
    """The innermost open span of ``rec`` in this context, native or foreign."""
    parent = _CURRENT.get()
    stale = None
    if parent is not None and parent.recorder is not rec:
        if parent.recorder._finished is not None:
            stale = parent  # returned if nothing nearer: Recorder._new drops a span started under it
        parent = None
    for provider in _PARENT_PROVIDERS:
        try:
            other = provider(rec)
        except Exception:  # noqa: BLE001 - a failing provider has no opinion
            continue
        if other is not None and other.recorder is rec and other.end_ns is None and (parent is None or other.seq > parent.seq):
            parent = other
    return parent if parent is not None else stale


class SpanHandle(_SpanSlots):
    """A span being recorded; also its context manager.

    ``with`` makes it the current span (children nest under it) and ends it on
    exit, recording an exception if one passes through.  The setters return
    the handle, so calls chain.

    When the recording finishes, the handle becomes its frozen
    :class:`~pytest_agenttrace.model.Span` in place (they share one slot
    layout), so a handle kept after :meth:`Recorder.finish` reads like the
    finished span and refuses changes with a :class:`UsageError`.

    Handles are made by the recorder (:meth:`Recorder.start_span`,
    :meth:`Recorder.start_child`, the per-kind context managers), never
    constructed directly.
    """

    __slots__ = ()

    if TYPE_CHECKING:  # the slots of _SpanSlots, typed for the recording side
        recorder: Recorder
        span_id: str
        parent_id: str | None
        kind: str
        name: str
        agent: str | None
        scope: str | None
        scope_path: list[str]
        start_ns: int
        end_ns: int | None
        status: str
        error: dict[str, Any] | None
        input: Any
        output: Any
        attributes: dict[str, Any]
        versions: dict[str, str] | None
        context: dict[str, Any] | None
        links: list[str]
        events: list[dict[str, Any]]
        _token: contextvars.Token[SpanHandle | None] | None
        seq: int

    # -- context manager -----------------------------------------------------
    def __enter__(self) -> SpanHandle:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        token = self._token
        if token is not None:
            if type(self) is SpanHandle:
                self._token = None
            else:  # the recording finished inside this ``with``: the handle is a frozen Span now
                _SET_TOKEN(self, None)
            current = _current_get()
            # Reset unless another recording's span is current here (a generator of a finished test
            # closed now): a span of this recording still current (a generator left open inside
            # this one) is left behind as before, so later spans nest where they did.
            if current is not self and current is not None and current.recorder is self.recorder:
                global _closed_out_of_order
                _closed_out_of_order = True  # that span's own exit may bring this one back: see below
            if current is self or (
                current.recorder is self.recorder if current is not None else self.recorder._finished is None
            ):
                try:
                    _CURRENT.reset(token)
                except ValueError:
                    # Exited in another context than entered (e.g. a task's span ended by another task):
                    # if it is current here, its parent becomes current; else this context is left alone.
                    if current is self:
                        _CURRENT.set(self.recorder.handle(self.parent_id) if self.parent_id else None)
                else:
                    if _closed_out_of_order:
                        restored = token.old_value
                        if (
                            type(restored) is SpanHandle
                            and restored.end_ns is not None
                            and restored.recorder is self.recorder
                        ):
                            # Closed out of order (a generator's span outliving its caller's ``with``): the
                            # span back in place ended meanwhile, so what is still open around it is current.
                            _CURRENT.set(_open_ancestor(restored))
        if self.end_ns is None:
            # What end(exc) does, inlined: this is every span's hot path (a call is ~5% of a span).
            rec = self.recorder
            self.end_ns = _perf_ns() - rec._t0
            if exc is not None and exc_type is not GeneratorExit:  # a generator closed early: not an error
                self.status = "error"
                self.error = _error_dict(exc)
            stamps = rec._stamps
            self.versions = stamps if self.versions is None else {**stamps, **self.versions}
        # Never swallow: returning None lets the exception propagate unchanged.

    # -- setters -------------------------------------------------------------
    # Values are recorded as they are when set (a structural snapshot of containers), and every
    # change invalidates the recorder's cached mid-run trace (_changed).
    def set_output(self, value: Any) -> SpanHandle:
        """Record what the span produced."""
        if type(self) is _FINISHED:  # a method taken from the handle before the recording finished
            _refuse_finished(self, "set_output")
        global _changes
        self.output = value if type(value) in _PLAIN else _snapshot(value, self.recorder.limits)
        _changes += 1
        return self

    def set_input(self, value: Any) -> SpanHandle:
        """Record (or replace) what the span was given."""
        if type(self) is _FINISHED:  # a method taken from the handle before the recording finished
            _refuse_finished(self, "set_input")
        global _changes
        self.input = value if type(value) in _PLAIN else _snapshot(value, self.recorder.limits)
        _changes += 1
        return self

    def set_attribute(self, key: str, value: Any) -> SpanHandle:
        """Set one attribute (semantic context: why, confidence, model, ...)."""
        attributes = _own_attributes(self, "set_attribute")
        global _changes
        attributes[key] = value if type(value) in _PLAIN else _snapshot(value, self.recorder.limits)
        _changes += 1
        return self

    def set_attributes(self, values: Mapping[str, Any]) -> SpanHandle:
        """Set several attributes."""
        attributes = _own_attributes(self, "set_attributes")
        global _changes
        attributes.update(_snapshot_values(dict(values), self.recorder.limits))
        _changes += 1
        return self

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None, **more: int) -> SpanHandle:
        """Record token usage as ``attributes.usage``."""
        attributes = _own_attributes(self, "set_usage")
        global _changes
        usage = attributes.setdefault("usage", {})  # the span's own dict (values are snapshots)
        if input_tokens is not None:
            usage["input_tokens"] = input_tokens
        if output_tokens is not None:
            usage["output_tokens"] = output_tokens
        usage.update(more)
        _changes += 1  # after the change: a snapshot taken meanwhile is rebuilt at the next read
        return self

    def set_confidence(self, confidence: float) -> SpanHandle:
        """Record ``attributes.confidence`` (0..1)."""
        attributes = _own_attributes(self, "set_confidence")
        global _changes
        attributes["confidence"] = confidence
        _changes += 1
        return self

    def set_context(self, context: Mapping[str, Any]) -> SpanHandle:
        """Set the handed-over keys and values (``handoff``/``delegation`` spans)."""
        if type(self) is _FINISHED:  # a method taken from the handle before the recording finished
            _refuse_finished(self, "set_context")
        global _changes
        self.context = _snapshot_values(dict(context), self.recorder.limits)
        _changes += 1
        return self

    def set_version(self, key: str, stamp: str) -> SpanHandle:
        """Stamp this span with one version (e.g. ``agent:coder`` -> ``coder@r7``)."""
        if type(self) is _FINISHED:  # a method taken from the handle before the recording finished
            _refuse_finished(self, "set_version")
        global _changes
        if type(key) is not str:
            key = _name(key, "version key")
        if type(stamp) is not str:
            stamp = _name(stamp, "version stamp")
        if self.versions is None or self.end_ns is not None:
            # An ended span shares the recorder's copy-on-write stamps dict: never write into it.
            self.versions = dict(self.versions or {})
        self.versions[key] = stamp
        _changes += 1
        return self

    def link(self, *sources: SpanHandle | Span | str) -> SpanHandle:
        """Record that this span consumed the outputs of ``sources`` (data lineage)."""
        if type(self) is _FINISHED:  # a method taken from the handle before the recording finished
            _refuse_finished(self, "link")
        global _changes
        if self.links is _NONE:
            self.links = []
        for source in sources:
            sid = source if isinstance(source, str) else source.span_id
            if sid not in self.links:
                self.links.append(sid)
        _changes += 1
        return self

    def add_event(self, name: str, **attributes: Any) -> SpanHandle:
        """Record a timestamped event inside the span (retry, truncation, ...)."""
        if type(self) is _FINISHED:  # a method taken from the handle before the recording finished
            _refuse_finished(self, "add_event")
        global _changes
        if type(name) is not str:
            name = _name(name, "event name")
        if attributes:
            _snapshot_values(attributes, self.recorder.limits)
        if self.events is _NONE:
            self.events = []
        self.events.append(
            {"name": name, "time_ns": _perf_ns() - self.recorder._t0, "attributes": attributes}
        )
        _changes += 1
        return self

    def set_status(self, status: str, error: BaseException | Mapping[str, str] | None = None) -> SpanHandle:
        """Set ``ok``/``error`` explicitly, optionally with the error."""
        if type(self) is _FINISHED:  # a method taken from the handle before the recording finished
            _refuse_finished(self, "set_status")
        if status not in ("ok", "error"):
            raise UsageError(f"status must be 'ok' or 'error', not {status!r}.")
        global _changes
        self.status = status
        if error is not None:
            self.error = _error_dict(error)
        elif status == "ok":
            self.error = None
        _changes += 1
        return self

    # -- ending --------------------------------------------------------------
    def end(self, error: BaseException | None = None, end_ns: int | None = None) -> None:
        """End the span (the ``with`` statement does this for you).

        Ending a span twice is a usage error.
        """
        if self.end_ns is not None:
            raise UsageError(f"span {self.kind}:{self.name} (id {self.span_id}) was already ended; end it only once.")
        rec = self.recorder
        self.end_ns = (_perf_ns() - rec._t0) if end_ns is None else end_ns
        if error is not None:
            self.status = "error"
            self.error = _error_dict(error)
        # Stamps are copy-on-write: every span ended under the same set shares one dict.
        stamps = rec._stamps
        self.versions = stamps if self.versions is None else {**stamps, **self.versions}

    @property
    def ended(self) -> bool:
        """Whether the span has ended."""
        return self.end_ns is not None

    def __repr__(self) -> str:
        return f"<SpanHandle {self.kind}:{self.name} id={self.span_id} agent={self.agent!r}>"


#: Held while reserved handles are filled in and mapped, by every adapter: one lock, so that a
#: completion reading another adapter's reserved span (a parent chain across frameworks) cannot
#: deadlock.  Re-entrant: completing one adapter's span may complete another's in the same
#: thread.  Never held while user code runs (finalizers, cleaning values).
COMPLETION_LOCK: Final = threading.RLock()


class ReservedHandle(SpanHandle):
    """A span an adapter reserved at its start and fills in later (deferred capture).

    A framework's span costs its program least when the adapter only takes
    the span's place in the recording at the start (its ``seq``, id and start
    time, in :attr:`Recorder._order` like any handle) and its end time at the
    end, and does everything else (parent, scope, agent, kind, mapping)
    when the trace is built.  Until then ``recorder``, ``seq``, ``span_id``,
    ``start_ns`` and ``end_ns`` are set, and ``_token`` holds the adapter's
    tuple ``(complete, ..., name)``: ``complete(handle)`` fills in every other field
    and turns the handle into a plain :class:`SpanHandle` (it completes earlier
    reservations first, so parents are complete before their children).

    Nothing outside the adapter ever sees one: :meth:`Recorder.handle` and
    the adapters' parent providers complete a handle before they hand it out,
    and reading a field that is not filled in yet completes it too.
    """

    __slots__ = ()

    def complete(self) -> SpanHandle:
        """Fill in every field now (the adapter's completer); returns the handle, a plain SpanHandle now."""
        info: Any = self._token
        if type(self) is ReservedHandle and type(info) is tuple:
            info[0](self)  # under the adapters' completion lock: a handle another thread fills is waited for
        return self

    def __getattr__(self, name: str) -> Any:
        # Only reached for a slot that was not set when read: complete, then read it again (another
        # thread may have completed the handle since; a failed completion raises).
        if name[:2] == "__":
            raise AttributeError(name)
        ReservedHandle.complete(self)  # not self.complete: another thread may have made it a SpanHandle
        if type(self) is ReservedHandle:
            raise AttributeError(name)
        return object.__getattribute__(self, name)

    def __enter__(self) -> SpanHandle:
        return ReservedHandle.complete(self).__enter__()


_start_key = operator.attrgetter("start_ns", "seq")
_new_handle: Final = object.__new__

#: Span ids "0", "1", "2", ... made once and shared by every recording (every test's span 1 has id "1"):
#: an index is cheaper than ``str(seq)`` on the hot path, and the traces share the strings.
_SPAN_IDS: list[str] = [str(i) for i in range(4096)]
_SPAN_IDS_MAX: Final = 1 << 17  # at most ~8 MB of shared id strings
_SPAN_IDS_LOCK: Final = threading.Lock()


def _span_id(seq: int) -> str:
    """The id of span ``seq`` past the shared table: grow the table (to a bound) or make a string."""
    # One writer at a time, so that entry i is always str(i); never waited for: a signal handler or a
    # finalizer that records a span while this thread grows the table would wait forever.  Whoever
    # does not get the lock makes its own string (equal, just not shared).
    if seq < _SPAN_IDS_MAX and _SPAN_IDS_LOCK.acquire(blocking=False):
        try:
            start = len(_SPAN_IDS)
            _SPAN_IDS.extend([str(i) for i in range(start, min(max(seq + 1, 2 * start), _SPAN_IDS_MAX))])
        finally:
            _SPAN_IDS_LOCK.release()
    if seq < len(_SPAN_IDS):
        return _SPAN_IDS[seq]
    return str(seq)
_SET_TOKEN: Final = _SpanSlots._token.__set__  # type: ignore[attr-defined]


def _shown_stamps(memo: dict[int, tuple[Any, Any]], versions: Any, redact: bool = True) -> Any:
    """``versions`` as a span shows them, once per distinct stamp set (they are shared copy-on-write).

    Without ``redact`` (``Limits(redact=False)``) only lone surrogates are escaped.

    Keyed by identity with the set kept in the entry: a freed set's id may be reused.
    """
    entry = memo.get(id(versions))
    if entry is None or entry[0] is not versions:
        entry = memo[id(versions)] = (versions, redact_stamps(versions) if redact else encodable_stamps(versions))
    return entry[1]


def _shown_label(label: Any, limits: Limits) -> Any:
    """A name or agent name as a finished span shows it (secrets redacted unless the limits say not)."""
    if type(label) is not str:
        return label
    return redact_label(label) if limits.redact else encodable(label)


def _error_dict(error: BaseException | Mapping[str, str]) -> dict[str, Any]:
    if isinstance(error, BaseException):
        kind = type(error)
        name = kind.__qualname__ if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}.{kind.__qualname__}"
        try:
            message = str(error)
        except Exception:  # noqa: BLE001 - a broken __str__ must not replace the user's exception
            message = "<exception str() failed>"
        return {"type": name, "message": message}
    try:
        return {"type": str(error.get("type", "Error")), "message": str(error.get("message", ""))}
    except Exception:  # noqa: BLE001 - as above
        return {"type": "Error", "message": "<error str() failed>"}


#: Types whose values cannot change after they are recorded: stored as they are, at no cost.
_PLAIN: Final = frozenset({str, int, float, bool, type(None), bytes, complex})


def _snapshot(value: Any, limits: Limits, depth: int = 0) -> Any:
    """A structural copy of ``value`` as it is now, so later mutation does not reach the recording.

    dicts, lists, tuples and sets are copied (recursively, to ``limits.max_depth`` levels; past
    ``limits.max_items`` entries shallowly, since cleaning keeps no more than that and only counts
    the rest); scalars and strings are shared; any other object is kept as it is (it is cleaned
    to JSON when the recording finishes).  Cleaning a snapshot gives what cleaning the value
    would have given at the time it was recorded.
    """
    kind = type(value)
    if kind in _PLAIN or depth >= limits.max_depth:
        return value
    if kind is not dict and kind is not list and kind is not tuple and _is_mock(kind):
        return value  # a unittest.mock object (a spec may make it claim to be a dict): never asked anything
    try:
        return _copied(value, kind, limits, depth)
    except Exception as exc:  # noqa: BLE001 - a container that cannot be read as one (a Mock(spec=dict))
        # Recording never breaks the agent: say what could not be recorded, without calling the value.
        return f"…[agenttrace: a {kind.__name__} could not be recorded: {type(exc).__name__}]"


def _copied(value: Any, kind: type, limits: Limits, depth: int) -> Any:
    if isinstance(value, dict):
        out = dict(value)  # order and size kept: cleaning counts keys past the cap
        deep = limits.max_items
        for key, item in out.items():
            if deep <= 0:
                break
            deep -= 1
            if type(item) not in _PLAIN:
                out[key] = _snapshot(item, limits, depth + 1)
        return out
    if isinstance(value, list):
        items = list(value)
        for i in range(min(len(items), limits.max_items)):
            item = items[i]
            if type(item) not in _PLAIN:
                items[i] = _snapshot(item, limits, depth + 1)
        return items
    if isinstance(value, tuple):
        copied = [item if type(item) in _PLAIN else _snapshot(item, limits, depth + 1) for item in value[: limits.max_items]]
        if all(map(operator.is_, copied, value)):
            return value  # nothing mutable inside: the tuple itself (a named tuple stays one)
        return (*copied, *value[limits.max_items :])
    if isinstance(value, (set, frozenset)):
        return value if kind is frozenset else value.copy()  # set items are hashable: nothing mutable inside
    return value


def _snapshot_values(values: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """Snapshot every value of ``values`` in place (a dict the span owns); returns it."""
    for key, item in values.items():
        if type(item) not in _PLAIN:
            values[key] = _snapshot(item, limits)
    return values


def _name(value: Any, what: str) -> str:
    """``value`` as a span name (or agent): a str; ``None`` is a usage error (never raised on the hot path)."""
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (an enum member) as its plain text
    if value is None:
        raise UsageError(f"a span's {what} must be a string, not None.")
    try:
        return str(value)
    except Exception as exc:  # reported as misuse
        raise UsageError(f"a span's {what} must be a string; str() of the {type(value).__name__} given failed.") from exc


class _DroppedSpan(UsageError):
    """A span whose parent belongs to another, finished recording: it goes into no trace."""


class _NoopHandle:
    """What instrumentation returns when nothing records: accepts everything, does nothing."""

    __slots__ = ()
    span_id = None
    kind = None
    name = None
    ended = True

    def __enter__(self) -> _NoopHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _noop(self, *args: Any, **kwargs: Any) -> _NoopHandle:
        return self

    set_output = set_input = set_attribute = set_attributes = set_usage = set_confidence = _noop
    set_context = set_version = link = add_event = set_status = _noop

    def end(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __bool__(self) -> bool:
        return False


NOOP: Final = _NoopHandle()


class Recorder:
    """Collects the spans of one agent run and produces its :class:`Trace`.

    ``name`` names the trace (the test node id under pytest); ``metadata`` is
    copied into the trace; ``versions`` is a :class:`~pytest_agenttrace.versions.VersionContext`
    (prompt registry and per-run overrides) used by :func:`~pytest_agenttrace.prompt`.
    """

    def __init__(
        self,
        name: str = "run",
        *,
        metadata: Mapping[str, Any] | None = None,
        versions: VersionContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        trace_id: str | None = None,
    ) -> None:
        self.name = name
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.trace_id = trace_id or os.urandom(8).hex()
        self.limits = limits
        self.results: dict[str, Any] = {}
        self.version_context = versions
        self._t0 = _perf_ns()
        self._started_at = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        #: Every handle in creation order.  Span ids are "1", "2", ... so handle ``i`` usually has id
        #: ``str(i + 1)`` (threads starting spans at the same moment may append in swapped order).
        self._order: list[SpanHandle] = []
        self._ids = itertools.count(1)
        self._stamps: dict[str, str] = {}
        self._delegation_tools: dict[str, list[str] | None] = {}
        self._finished: Trace | None = None
        #: Set when finish() starts: adapters stop reserving spans (a late one is recorded at once).
        self._closing = False
        self._snapshot: tuple[tuple[int, int, int], Trace] | None = None
        self._activations: list[SpanHandle | None] = []
        #: Per-adapter state (framework capture keeps its span maps here, freed with the recorder).
        self._agenttrace_adapter_states: dict[str, Any] = {}
        self._finalizers: list[Callable[[], None]] = []

    # -- activation ----------------------------------------------------------
    def activate(self) -> Recorder:
        """Make this the recorder module-level instrumentation writes into.

        Use as ``with recorder.activate(): ...``; activations nest.
        """
        return self

    def __enter__(self) -> Recorder:
        global _top
        if self._finished is not None:
            raise UsageError(f"recorder {self.name!r} has finished; create a new Recorder for a new run.")
        with _ACTIVE.lock:
            _ACTIVE.stack.append(self)
            _top = self
        # Spans of this recorder must not nest under another recorder's open span.
        current = _CURRENT.get()
        self._activations.append(current)
        if current is not None and current.recorder is not self:
            _CURRENT.set(None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def deactivate(self) -> None:
        """Stop receiving module-level instrumentation (idempotent)."""
        global _top
        with _ACTIVE.lock:
            for i in range(len(_ACTIVE.stack) - 1, -1, -1):
                if _ACTIVE.stack[i] is self:
                    del _ACTIVE.stack[i]
                    break
            _top = _ACTIVE.stack[-1] if _ACTIVE.stack else None
        if self._activations:
            previous = self._activations.pop()
            if previous is not None and previous.recorder is not self and previous.recorder._finished is None:
                _CURRENT.set(previous)  # (a finished recording's span, left open, is not brought back)

    @property
    def active(self) -> bool:
        """Whether this recorder is on the active stack."""
        return self in _ACTIVE.stack

    # -- low-level span API ---------------------------------------------------
    def start_span(
        self,
        kind: str,
        name: str,
        *,
        parent_id: Any = _UNSET,
        agent: Any = _UNSET,
        attributes: Mapping[str, Any] | None = None,
        input: Any = None,
        context: Mapping[str, Any] | None = None,
        start_ns: int | None = None,
    ) -> SpanHandle:
        """Start a span without making it current (adapters use this).

        ``parent_id`` defaults to the current span; ``agent`` to the parent's
        agent (or ``name`` for an ``agent`` span).  End it with :meth:`SpanHandle.end`.
        """
        if kind not in _KIND_SET:
            raise UsageError(f"unknown span kind {kind!r}; use one of {', '.join(KINDS)}.")
        if parent_id is _UNSET:
            parent = _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self)
            foreign = None
        else:
            parent = self.handle(parent_id) if parent_id is not None else None
            foreign = parent_id if parent is None and isinstance(parent_id, str) else None
        if agent is not _UNSET and agent is not None and type(agent) is not str:
            agent = _name(agent, "agent")
        handle = self._new(
            kind, name, parent, dict(attributes) if attributes else {}, input, start_ns, foreign
        )
        if agent is not _UNSET:
            handle.agent = agent
        if context is not None:
            handle.context = _snapshot_values(dict(context), self.limits)
        if kind == "tool" and handle.scope_path:
            self._mark_out_of_scope(handle)  # as tool() does: adapters record their tools through here
        return handle

    def start_child(
        self, kind: str, name: str, parent: SpanHandle | None, attributes: dict[str, Any] | None = None
    ) -> SpanHandle:
        """Start a span under ``parent`` (a handle of this recorder, or ``None`` for a root), not current.

        The lean entry point for framework adapters, which have already found
        the parent: no id lookup, no current-span search.  ``attributes`` is
        kept as the span's own dict, not copied; ``agent`` is inherited as in
        :meth:`start_span`.  End the span with :meth:`SpanHandle.end`.
        """
        if kind not in _KIND_SET:
            raise UsageError(f"unknown span kind {kind!r}; use one of {', '.join(KINDS)}.")
        return self._new(kind, name, parent, attributes if attributes is not None else {})

    def _new(
        self,
        kind: str,
        name: str,
        parent: SpanHandle | None,
        attributes: dict[str, Any],
        input: Any = None,
        start_ns: int | None = None,
        foreign_parent: str | None = None,
    ) -> SpanHandle:
        """Create and register a handle; ``attributes`` is owned by the span from now on.

        The hot path of every context manager: plain slot stores, no
        validation beyond what a caller cannot guarantee.
        """
        if self._finished is not None:
            raise UsageError(
                f"cannot record {kind}:{name}: the trace of {self.name!r} has finished; record spans inside the test."
            )
        if type(name) is not str:
            name = _name(name, "name")
        if input is not None and type(input) not in _PLAIN:
            input = _snapshot(input, self.limits)  # as it is now: later mutation must not reach the span
        # Keyword attributes are kept as given: checking them for containers cost every span about a
        # fifth of its recording (README: pass what changes later as input= or through a setter).
        if parent is not None and parent.recorder is not self:
            stale = parent.recorder
            if stale._finished is not None and _top is self and stale._t0 < self._t0:
                # Started under a span of a finished recording that began before this one (a thread
                # or task an earlier test left running) and routed to the active recording: it
                # belongs to no other test's trace.  (A recording begun inside this one and finished
                # inside its own span leaves its span current: what follows is this one's, a root.
                # A recorder used directly, not active, records it as a root too.)
                raise _DroppedSpan(
                    f"cannot record {kind}:{name}: its parent span belongs to the finished recording of "
                    f"{parent.recorder.name!r}; record spans inside the test."
                )
            parent = None  # another recording's span, still going: a root here
        seq = next(self._ids)  # atomic under the GIL: threads never share an id
        h = _new_handle(SpanHandle)
        if parent is not None:
            h.parent_id = parent.span_id
            if parent.kind == "delegation":
                h.scope = parent.span_id
                h.scope_path = [*parent.scope_path, parent.span_id]
            else:
                h.scope = parent.scope
                h.scope_path = parent.scope_path
            h.agent = name if kind == "agent" else parent.agent
        else:
            h.parent_id = foreign_parent
            h.scope = None
            h.scope_path = _NO_SCOPE
            h.agent = name if kind == "agent" else None
        h.recorder = self
        h.span_id = _SPAN_IDS[seq] if seq < len(_SPAN_IDS) else _span_id(seq)
        h.kind = kind
        h.name = name
        h.start_ns = (_perf_ns() - self._t0) if start_ns is None else start_ns
        h.end_ns = None
        h.status = "ok"
        h.error = None
        h.input = input
        h.output = None
        h.attributes = attributes
        h.versions = None
        h.context = None
        h.links = _NONE
        h.events = _NONE
        h._token = None
        h.seq = seq
        self._order.append(h)
        return h

    def current_span_id(self) -> str | None:
        """Id of this recorder's span open in the current context, if any."""
        current = _current_for(self)
        return current.span_id if current is not None and current.recorder is self else None

    def handle(self, span_id: str) -> SpanHandle | None:
        """The handle of a span of this recorder (open or ended), or ``None``."""
        if type(span_id) is str and span_id.isdigit():
            position = int(span_id) - 1
            order = self._order
            if 0 <= position < len(order):
                found = order[position]
                if found.span_id == span_id:  # "007" is not "7"
                    return ReservedHandle.complete(found) if type(found) is ReservedHandle else found
                for found in order:  # appended out of id order by racing threads: rare, look it up
                    if found.span_id == span_id:
                        return ReservedHandle.complete(found) if type(found) is ReservedHandle else found
        return None

    # -- version stamps ------------------------------------------------------
    def stamp(self, key: str, value: str) -> None:
        """Put a version stamp in effect for the rest of the run (``prompt:NAME`` -> ``NAME@v3#1a2b3c4d``)."""
        global _changes
        if self._stamps.get(key) != value:
            stamps = dict(self._stamps)
            stamps[key] = value
            self._stamps = stamps
            _changes += 1

    @property
    def stamps(self) -> dict[str, str]:
        """Version stamps in effect now."""
        return dict(self._stamps)

    # -- context managers per kind --------------------------------------------
    def span(self, kind: str, name: str, **attributes: Any) -> SpanHandle:
        """A span of any kind; keyword arguments become attributes."""
        if kind not in _KIND_SET:
            raise UsageError(f"unknown span kind {kind!r}; use one of {', '.join(KINDS)}.")
        return self._new(kind, name, _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self), attributes)

    def agent(self, name: str, *, revision: str | None = None, **attributes: Any) -> SpanHandle:
        """An agent acting; spans inside inherit ``agent = name``.

        ``revision`` stamps the agent's code revision as ``agent:NAME``.
        """
        if type(name) is not str:
            name = _name(name, "name")
        handle = self._new("agent", name, _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self), attributes)
        if revision is not None:
            self.stamp(f"agent:{name}", f"{name}@{revision}")
        return handle

    def llm(
        self,
        name: str = "llm",
        *,
        model: str | None = None,
        input: Any = None,
        prompt: str | None = None,
        **attributes: Any,
    ) -> SpanHandle:
        """A model call; ``model`` goes to ``attributes.model``, ``prompt`` names the prompt used."""
        if model is not None:
            attributes["model"] = model
        if prompt is not None:
            attributes["prompt"] = prompt
        return self._new("llm", name, _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self), attributes, input)

    def tool(self, name: str, *, input: Any = None, **attributes: Any) -> SpanHandle:
        """A tool call with its arguments in ``input``."""
        handle = self._new("tool", name, _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self), attributes, input)
        if handle.scope_path:
            self._mark_out_of_scope(handle)
        return handle

    def retrieval(self, name: str = "retrieval", *, query: Any = None, source: str | None = None, **attributes: Any) -> SpanHandle:
        """A retrieval from a data source (``attributes.source``)."""
        if source is not None:
            attributes["source"] = source
        parent = _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self)
        return self._new("retrieval", name, parent, attributes, query)

    def guardrail(self, name: str, **attributes: Any) -> SpanHandle:
        """A guardrail check."""
        return self._new("guardrail", name, _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self), attributes)

    def delegate(
        self,
        to: str,
        *,
        objective: str | None = None,
        allowed_tools: Iterable[str] | None = None,
        context: Mapping[str, Any] | None = None,
        required_context: Iterable[str] | None = None,
        from_agent: str | None = None,
        critical_keys: Iterable[str] | None = None,
        **attributes: Any,
    ) -> SpanHandle:
        """A delegation from the current agent to ``to``; everything inside runs under its scope."""
        if type(to) is not str:
            to = _name(to, "delegate target (to)")
        parent = _current_for(self)
        attributes["from_agent"] = _name(from_agent, "from_agent") if from_agent is not None else (parent.agent if parent else None)
        attributes["to_agent"] = to
        if objective is not None:
            attributes["objective"] = objective
        tools = list(allowed_tools) if allowed_tools is not None else None
        if tools is not None:
            attributes["allowed_tools"] = tools
        if required_context is not None:
            attributes["required_context"] = list(required_context)
        if critical_keys is not None:
            attributes["critical_keys"] = list(critical_keys)
        handle = self.start_span("delegation", to, attributes=attributes, context=context if context is not None else {})
        self._delegation_tools[handle.span_id] = tools
        return handle

    def handoff(
        self,
        to: str,
        *,
        context: Mapping[str, Any] | None = None,
        from_agent: str | None = None,
        required_context: Iterable[str] | None = None,
        critical_keys: Iterable[str] | None = None,
        **attributes: Any,
    ) -> SpanHandle:
        """A handoff of control (and ``context``) from the current agent to ``to``."""
        if type(to) is not str:
            to = _name(to, "handoff target (to)")
        parent = _current_for(self)
        attributes["from_agent"] = _name(from_agent, "from_agent") if from_agent is not None else (parent.agent if parent else None)
        attributes["to_agent"] = to
        if required_context is not None:
            attributes["required_context"] = list(required_context)
        if critical_keys is not None:
            attributes["critical_keys"] = list(critical_keys)
        return self.start_span("handoff", to, attributes=attributes, context=context if context is not None else {})

    def memory_read(self, key: str, *, version: Any = None, value: Any = None, **attributes: Any) -> SpanHandle:
        """A read of shared memory ``key`` (the value read goes to ``output``)."""
        if type(key) is not str:
            key = _name(key, "memory key")
        attributes["key"] = key
        if version is not None:
            attributes["version"] = version
        handle = self._new("memory_read", key, _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self), attributes)
        if value is not None:
            handle.output = value if type(value) in _PLAIN else _snapshot(value, self.limits)
        return handle

    def memory_write(
        self,
        key: str,
        value: Any = None,
        *,
        version: Any = None,
        based_on_version: Any = None,
        valid: bool | None = None,
        confidence: float | None = None,
        **attributes: Any,
    ) -> SpanHandle:
        """A write of ``value`` to shared memory ``key``."""
        if type(key) is not str:
            key = _name(key, "memory key")
        attributes["key"] = key
        if version is not None:
            attributes["version"] = version
        if based_on_version is not None:
            attributes["based_on_version"] = based_on_version
        if valid is not None:
            attributes["valid"] = valid
        if confidence is not None:
            attributes["confidence"] = confidence
        parent = _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self)
        return self._new("memory_write", key, parent, attributes, value)

    def wait(self, on: str, **attributes: Any) -> SpanHandle:
        """Waiting on another agent (``attributes.waiting_on``)."""
        if type(on) is not str:
            on = _name(on, "wait target (on)")
        attributes["waiting_on"] = on
        return self._new("wait", on, _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(self), attributes)

    # -- scope ---------------------------------------------------------------
    def allowed_tools(self, scope_path: Iterable[str]) -> list[list[str]]:
        """The ``allowed_tools`` lists of the delegations on ``scope_path`` that declare one."""
        out = []
        for sid in scope_path:
            tools = self._delegation_tools.get(sid)
            if tools is not None:
                out.append(tools)
        return out

    def _mark_out_of_scope(self, handle: SpanHandle) -> None:
        for tools in self.allowed_tools(handle.scope_path):
            if handle.name not in tools:
                handle.attributes["out_of_scope"] = True
                return

    # -- results -------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Whether :meth:`finish` has run."""
        return self._finished is not None

    @property
    def trace(self) -> Trace:
        """The trace: final once finished, else a snapshot of what is recorded so far."""
        if self._finished is not None:
            return self._finished
        # Read before building: a change made while the snapshot is taken makes the next read rebuild.
        key = (_changes, len(self._order), sum(1 for h in self._order if h.end_ns is None))
        if self._snapshot is not None and self._snapshot[0] == key:
            return self._snapshot[1]
        snap = self._build(final=False)
        self._snapshot = (key, snap)
        return snap

    def finish(self) -> Trace:
        """End the recording and return the final trace (idempotent).

        Spans still open (a crash, a thread still running) are closed now with
        ``status: error`` and an ``Unfinished`` error, so the trace stays valid.
        """
        if self._finished is None:
            self._closing = True
            self.deactivate()
            with collector_paused():  # the finalizers map, the build cleans and freezes: no cycles made
                self._finished = self._build(final=True)
        return self._finished

    def add_finalizer(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` before every build of the trace (adapters finish deferred mapping there)."""
        if callback not in self._finalizers:
            self._finalizers.append(callback)

    def run_finalizers(self) -> None:
        """Run the adapters' finalizers now (deferred mapping of framework spans); :meth:`finish` does this."""
        for callback in self._finalizers:
            try:
                callback()
            except Exception:
                import logging

                logging.getLogger("pytest_agenttrace").warning("agenttrace: a trace finalizer failed", exc_info=True)

    def _build(self, *, final: bool) -> Trace:
        # No lock held here: finalizers are user code too, and may wait for threads that need to
        # complete a reserved span.  A reserved span met below is completed under the adapters' lock.
        self.run_finalizers()
        now = _perf_ns() - self._t0
        spans = self._finish_in_place(now) if final else self._snapshot_spans(now)
        all_stamps: dict[str, str] = {}
        last: dict[str, str] | None = None
        for s in spans:
            if s.versions is not last:  # stamps are shared copy-on-write: merge each distinct set once
                last = s.versions
                all_stamps.update(last)
        all_stamps.update(self._stamps)
        trace = Trace._with_unique_ids(  # one id per sequence number
            trace_id=self.trace_id,
            name=_shown_label(self.name, self.limits),  # a test id is data too (parametrized with a key)
            started_at=self._started_at,
            metadata=clean(self.metadata, self.limits),
            versions=dict(
                sorted((redact_stamps(all_stamps) if self.limits.redact else encodable_stamps(all_stamps)).items())
            ),
            spans=tuple(spans),
        )
        if self.limits.redact:  # cleaned and redacted as it was built: a snapshot need not do it again
            object.__setattr__(trace, "_redacted", True)
        return trace

    def _finish_in_place(self, now: int) -> list[Span]:
        """Close, clean and freeze every handle: each becomes its :class:`Span` (same slot layout, no copy)."""
        limits = self.limits
        stamps = self._stamps
        previous_start = -(2**63)
        disordered = False
        span_class = Span
        default_limits = limits is DEFAULT_LIMITS
        safe_keys, clean_scalars = _SAFE_KEYS_SEEN, _CLEAN_SCALARS
        redact = limits.redact
        labels = _LABELS
        short = min(7, limits.max_string)  # text up to this length, if ASCII, leaves clean() unchanged
        # Stamp sets are shared copy-on-write among spans: each distinct one is redacted once.
        stamp_sets: dict[int, tuple[Any, Any]] = {}
        last_stamps: Any = None
        last_shown: Any = None
        for h in self._order:
            if type(h) is ReservedHandle:  # reserved after the finalizers ran (a thread still going)
                ReservedHandle.complete(h)
            token: Any = h._token
            if type(token) is tuple:  # an adapter's reservation facts (a ``with`` keeps its own token)
                h._token = None
            start = h.start_ns
            if h.end_ns is None:  # still open: closed now (an ended span has its versions already)
                h.end_ns = max(now, start)
                h.status = "error"
                h.error = {"type": "Unfinished", "message": "span was still open when the recording finished"}
                h.versions = stamps if h.versions is None else {**stamps, **h.versions}
            elif h.versions is None:  # ended by an adapter while this build ran: its end's stamps never came
                h.versions = stamps
            if redact:  # names and stamps are data too (a tool named after a URL with its key)
                # Under 8 characters no secret fits, but a lone surrogate must still be escaped.
                label: Any = h.name
                if type(label) is str:
                    if (len(label) >= 8 or not label.isascii()) and labels.get(label) != label:
                        h.name = redact_label(label)  # a miss, or a redacted one (its secret remembered again)
                else:  # a framework's span named by a number, bytes or None: the trace file wants text
                    h.name = redact_label(label_text(label))
                label = h.agent
                if type(label) is str:
                    if (len(label) >= 8 or not label.isascii()) and labels.get(label) != label:
                        h.agent = redact_label(label)
                elif label is not None:
                    h.agent = redact_label(label_text(label))
                raw_stamps = h.versions
                if raw_stamps:  # consecutive spans nearly always share one set: its redaction is reused
                    if raw_stamps is not last_stamps:
                        last_stamps, last_shown = raw_stamps, _shown_stamps(stamp_sets, raw_stamps)
                    h.versions = last_shown
            else:  # nothing redacted, but a lone surrogate is still escaped: a file takes only UTF-8
                label = h.name
                if type(label) is str:
                    if not label.isascii():
                        h.name = encodable(label)
                else:
                    h.name = encodable(label_text(label))
                label = h.agent
                if type(label) is str:
                    if not label.isascii():
                        h.agent = encodable(label)
                elif label is not None:
                    h.agent = encodable(label_text(label))
                raw_stamps = h.versions
                if raw_stamps:
                    if raw_stamps is not last_stamps:
                        last_stamps, last_shown = raw_stamps, _shown_stamps(stamp_sets, raw_stamps, False)
                    h.versions = last_shown
            if start < previous_start:
                disordered = True
            previous_start = start
            # Clean values only where there are any; store only what cleaning changed.
            value = h.attributes
            if value:
                try:  # the sets hash each key and value again: a __hash__ or __eq__ may raise (or be a Mock's)
                    known_keys = default_limits and safe_keys.issuperset(value)
                except Exception:  # noqa: BLE001 - the full pass takes any key
                    known_keys = False
                if known_keys:
                    try:  # already clean (values seen unchanged before): kept as it is
                        known_clean = clean_scalars.issuperset(value.values())
                    except Exception:  # noqa: BLE001 - an unhashable value, or a __hash__ that raises
                        known_clean = False
                    if not known_clean:  # harmless keys: only the values need a look (a new call id...)
                        h.attributes = _clean_values(value)
                else:
                    h.attributes = _clean_and_learn(value, limits)
            else:  # one shared empty dict, as for links and events: a smaller trace to walk
                h.attributes = _NO_ATTRIBUTES
            # Short ASCII text is what cleaning returns unchanged (no secret fits, no cap cuts): not passed;
            # a flat dict of learned keys (a tool call's arguments) takes clean()'s own first look directly.
            value = h.input
            if value is not None:
                if type(value) is dict and default_limits:
                    flat = flat_dict(value)
                    h.input = flat if flat is not None else clean(value, limits)
                elif type(value) is not str or len(value) > short or not value.isascii():
                    h.input = clean(value, limits)
            value = h.output
            if value is not None:
                if type(value) is dict and default_limits:
                    flat = flat_dict(value)
                    h.output = flat if flat is not None else clean(value, limits)
                elif type(value) is not str or len(value) > short or not value.isascii():
                    h.output = clean(value, limits)
            if h.error is not None:
                h.error = clean(h.error, limits)
            if h.context is not None:
                h.context = clean(h.context, limits)
            if h.events:
                h.events = clean(h.events, limits)
            h.__class__ = span_class  # type: ignore[assignment]
        order: list[Any] = self._order
        frozen = len(order)
        while frozen and type(order[frozen - 1]) is not span_class:
            frozen -= 1  # started by a thread after the loop above ended: in no trace
        spans = order[:frozen]  # the handles *are* the spans now (a copy: threads may still append)
        if disordered:
            # Threads or explicit start times can append out of order; a stable sort restores start order.
            spans = sorted(spans, key=_start_key)
        return spans

    def _snapshot_spans(self, now: int) -> list[Span]:
        """Copies of the spans recorded so far; the handles go on recording."""
        limits = self.limits
        handles = sorted(self._order, key=_start_key)
        spans = []
        stamp_sets: dict[int, tuple[Any, Any]] = {}
        stamps: Any = _shown_stamps(stamp_sets, self._stamps, limits.redact)
        for h in handles:
            end_ns, status, error = h.end_ns, h.status, h.error
            if end_ns is None:
                end_ns = max(now, h.start_ns)
            spans.append(
                span_from_values(
                    h.span_id, h.parent_id, h.kind, _shown_label(h.name, limits), _shown_label(h.agent, limits),
                    h.scope, h.scope_path, h.start_ns,
                    end_ns, status,
                    clean(error, limits) if error is not None else None,
                    clean(h.input, limits) if h.input is not None else None,
                    clean(h.output, limits) if h.output is not None else None,
                    clean(h.attributes, limits) if h.attributes else {},
                    dict(_shown_stamps(stamp_sets, h.versions, limits.redact)) if h.versions is not None else stamps,
                    clean(h.context, limits) if h.context is not None else None,
                    list(h.links), clean(h.events, limits) if h.events else [],
                )
            )  # fmt: skip
        return spans

    # -- test-facing conveniences -------------------------------------------
    def select(self, selector: str) -> list[Span]:
        """Spans of the trace matching ``selector``."""
        return self.trace.select(selector)

    def check(self, spec: Any) -> None:
        """Check the trace against a spec (path, list of paths or loaded spec).

        Raises ``AssertionError`` listing every violation.
        """
        __tracebackhide__ = True  # a failing test shows its own line and the violations
        from .spec import check

        check(self.trace, spec, recorder=self)

    def otlp_receiver(self, *, port: int = 0) -> Any:
        """An OTLP/HTTP receiver on 127.0.0.1 feeding this recorder (a context manager; needs ``[otel]``).

        See :func:`pytest_agenttrace.adapters.otel.otlp_receiver`.
        """
        from .adapters.otel import otlp_receiver

        return otlp_receiver(self, port=port)

    def gateway(self, tools: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]], *, enforce: bool = False) -> Any:
        """A :class:`~pytest_agenttrace.gateway.ToolGateway` over ``tools``."""
        from .gateway import ToolGateway

        return ToolGateway(tools, enforce=enforce)

    def prompt(self, name: str, label: str | None = None) -> str:
        """Resolve prompt ``name`` (see :func:`pytest_agenttrace.versions.prompt`)."""
        from .versions import prompt

        return prompt(name, label, recorder=self)

    def config(self, name: str, mapping: Mapping[str, Any] | None = None) -> Any:
        """Stamp a config (see :func:`pytest_agenttrace.versions.config`)."""
        from .versions import config

        return config(name, mapping, recorder=self)

    def __repr__(self) -> str:
        state = "finished" if self._finished is not None else ("active" if self.active else "idle")
        return f"<Recorder {self.name!r} {state} spans={len(self._order)}>"


# -- module-level instrumentation ---------------------------------------------
# Each function checks the fast-path global first so that, with nothing
# recording, instrumentation costs one call and one global read.


def span(kind: str, name: str, **attributes: Any) -> SpanHandle | _NoopHandle:
    """Record a span of any kind into the active recorder (no-op without one)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.span(kind, name, **attributes)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def agent(name: str, **kwargs: Any) -> SpanHandle | _NoopHandle:
    """Record an agent span (see :meth:`Recorder.agent`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.agent(name, **kwargs)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def llm(name: str = "llm", **kwargs: Any) -> SpanHandle | _NoopHandle:
    """Record a model call (see :meth:`Recorder.llm`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.llm(name, **kwargs)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def tool(name: str, *, input: Any = None, **attributes: Any) -> SpanHandle | _NoopHandle:
    """Record a tool call (see :meth:`Recorder.tool`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        # Recorder.tool's body, without packing the keyword arguments a second time.
        handle = rec._new("tool", name, _CURRENT.get() if not _PARENT_PROVIDERS else _current_for(rec), attributes, input)
        if handle.scope_path:
            rec._mark_out_of_scope(handle)
        return handle
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def retrieval(name: str = "retrieval", **kwargs: Any) -> SpanHandle | _NoopHandle:
    """Record a retrieval (see :meth:`Recorder.retrieval`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.retrieval(name, **kwargs)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def guardrail(name: str, **kwargs: Any) -> SpanHandle | _NoopHandle:
    """Record a guardrail check (see :meth:`Recorder.guardrail`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.guardrail(name, **kwargs)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def delegate(to: str, **kwargs: Any) -> SpanHandle | _NoopHandle:
    """Record a delegation (see :meth:`Recorder.delegate`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.delegate(to, **kwargs)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def handoff(to: str, **kwargs: Any) -> SpanHandle | _NoopHandle:
    """Record a handoff (see :meth:`Recorder.handoff`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.handoff(to, **kwargs)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def memory_read(key: str, **kwargs: Any) -> SpanHandle | _NoopHandle:
    """Record a shared-memory read (see :meth:`Recorder.memory_read`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.memory_read(key, **kwargs)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def memory_write(key: str, value: Any = None, **kwargs: Any) -> SpanHandle | _NoopHandle:
    """Record a shared-memory write (see :meth:`Recorder.memory_write`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.memory_write(key, value, **kwargs)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def wait(on: str, **kwargs: Any) -> SpanHandle | _NoopHandle:
    """Record waiting on another agent (see :meth:`Recorder.wait`)."""
    rec = _top
    if rec is None:
        return NOOP
    try:
        return rec.wait(on, **kwargs)
    except Exception:  # noqa: BLE001 - instrumentation never raises because of recording
        return _recording_failed()


def _recording_failed() -> _NoopHandle:
    if isinstance(sys.exc_info()[1], _DroppedSpan):
        return NOOP  # under a finished recording's span: recorded nowhere, as when nothing records
    import logging

    logging.getLogger("pytest_agenttrace").warning("agenttrace: could not record a span", exc_info=True)
    return NOOP


def propagate(fn: F) -> F:
    """Wrap ``fn`` to run in a copy of the current context (threads, executors).

    ``executor.submit(propagate(work), arg)`` makes spans recorded by ``work``
    nest under the span open where ``propagate`` was called.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return ctx.copy().run(fn, *args, **kwargs)

    return run  # type: ignore[return-value]  # same signature as fn


@overload
def traced(fn: F, /) -> F: ...
@overload
def traced(*, kind: str = "custom", name: str | None = None, capture: bool = True) -> Callable[[F], F]: ...


def traced(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    kind: str = "custom",
    name: str | None = None,
    capture: bool = True,
) -> Any:
    """Record every call of the decorated function as a span of ``kind``.

    Sync and async functions are supported (async ones get an async wrapper,
    so the span measures the awaited work), and so are generator and async
    generator functions (a streamed answer): their span lasts from the first
    item to the last (or to ``close()``), and it is the current span only
    while the generator itself runs, so spans the consumer records between
    items are not put under it.  With ``capture`` the bound arguments become
    ``input`` and the return value ``output`` (a generator's return value, if
    any).  For ``kind="agent"`` the span's name (default: the function name)
    is the agent.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown span kind {kind!r}; use one of {', '.join(KINDS)}.")

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        # A partial or a callable object has no __name__ of its own: its function's, or its class's.
        span_name = name or getattr(func, "__name__", None) or getattr(getattr(func, "func", None), "__name__", None)
        if not isinstance(span_name, str):
            span_name = type(func).__name__
        try:
            signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            signature = None

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> SpanHandle | _NoopHandle:
            rec = _top
            if rec is None:
                return NOOP
            try:
                handle = rec.span(kind, span_name)
            except Exception:  # noqa: BLE001 - recording never breaks the agent
                return NOOP
            try:  # the span is open now: whatever happens below, it records the call
                if capture:  # the arguments as they are now (the function may change them)
                    handle.input = _snapshot_values(_bind(signature, args, kwargs), rec.limits)
            except Exception as exc:  # noqa: BLE001 - arguments that cannot be read: the call is still recorded
                handle.input = f"…[agenttrace: the arguments could not be recorded: {type(exc).__name__}]"
            try:
                if kind == "tool" and handle.scope_path:
                    rec._mark_out_of_scope(handle)
            except Exception:  # noqa: BLE001
                pass
            return handle

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def async_gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                # An async generator has no "yield from": the steps are run here, sends, throws and
                # close() passed on by hand, with the span current only while ``inner`` runs.
                inner = func(*args, **kwargs)  # first: bad arguments raise before any span opens
                started = start(args, kwargs)
                handle = started if type(started) is SpanHandle else None
                current: SpanHandle | None = handle
                sent: Any = None
                thrown: BaseException | None = None
                first = True
                try:
                    while True:
                        token = _CURRENT.set(current) if handle is not None else None
                        try:
                            if first:
                                # Only this wrapper is the event loop's to finalize (at shutdown it closes
                                # the generators it tracks all at once: ``inner`` twice, else).  Its first
                                # step registers it; no other generator can start in between.
                                first = False
                                hooks = sys.get_asyncgen_hooks()
                                sys.set_asyncgen_hooks(firstiter=None, finalizer=hooks.finalizer)
                                try:
                                    step = inner.asend(sent)
                                finally:
                                    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=hooks.finalizer)
                                value = await step
                            else:
                                value = await (inner.asend(sent) if thrown is None else inner.athrow(thrown))
                        except StopAsyncIteration:
                            break
                        finally:
                            thrown = None
                            if token is not None:
                                current = _CURRENT.get()  # a span the generator opened stays its current one
                                _reset_quietly(token)
                        try:
                            sent = yield value
                        except GeneratorExit:
                            token = _CURRENT.set(current) if handle is not None else None
                            try:
                                if not inner.ag_running:  # the event loop may be closing it at shutdown
                                    await inner.aclose()
                            except RuntimeError as exc:
                                # "already running": the loop's own close goes on.  Any other error of
                                # the generator's close (its cleanup failed) is the consumer's to see.
                                if "already running" not in str(exc):
                                    raise
                            finally:
                                if token is not None:
                                    _reset_quietly(token)
                            raise
                        except BaseException as exc:  # noqa: BLE001 - thrown in by the consumer: passed on
                            thrown, sent = exc, None
                except GeneratorExit:
                    if handle is not None:
                        _end_quietly(handle, None)  # the consumer stopped early: not an error
                    raise
                except BaseException as exc:
                    if handle is not None:
                        _end_quietly(handle, exc)
                    raise
                if handle is not None:
                    _end_quietly(handle, None)

            return async_gen_wrapper

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                inner = func(*args, **kwargs)  # first: bad arguments raise before any span opens
                handle = start(args, kwargs)
                if type(handle) is not SpanHandle:
                    return (yield from inner)
                return (yield from _stepped(handle, inner, capture))

            return gen_wrapper

        if inspect.iscoroutinefunction(func) or (
            not inspect.isroutine(func) and inspect.iscoroutinefunction(getattr(type(func), "__call__", None))  # noqa: B004
        ):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                __tracebackhide__ = True  # pytest shows the function's frames, not this one
                if _top is None:  # outside a recording: the function alone
                    return await func(*args, **kwargs)
                with start(args, kwargs) as handle:
                    result = await func(*args, **kwargs)
                    if capture:
                        _output_quietly(handle, result)
                    return result

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True  # pytest shows the function's frames, not this one
            if _top is None:  # outside a recording: the function alone
                return func(*args, **kwargs)
            with start(args, kwargs) as handle:
                result = func(*args, **kwargs)
                if capture:
                    _output_quietly(handle, result)
                return result

        return wrapper

    if fn is not None:
        return decorate(fn)
    return decorate


def _output_quietly(handle: SpanHandle | _NoopHandle, result: Any) -> None:
    """Record a call's result; never raises (the recording may have finished while the call ran)."""
    try:
        handle.set_output(result)
    except Exception:  # noqa: BLE001 - recording never breaks the agent: the late output goes into no trace
        pass


def _reset_quietly(token: contextvars.Token[SpanHandle | None]) -> None:
    """Reset the current span; a step resumed in another context (a custom scheduler) has nothing to reset."""
    try:
        _CURRENT.reset(token)
    except ValueError:
        pass


def _end_quietly(handle: SpanHandle, error: BaseException | None) -> None:
    """End a generator's span; never raises (the recording may have finished meanwhile)."""
    try:
        if handle.end_ns is None:
            handle.end(error)
    except Exception:  # noqa: BLE001 - recording never breaks the agent
        pass


def _stepped(handle: SpanHandle, inner: Any, capture: bool) -> Any:
    """``yield from inner``, with ``handle`` (then whatever span ``inner`` left open) current during its steps.

    Between steps the consumer's own context is back: what it records there is not
    under the generator's span.  Sends, throws and close() reach ``inner`` as with
    ``yield from``; the span ends when ``inner`` does, with its error if it raised.
    """
    __tracebackhide__ = True  # pytest shows the generator's frames, not this one
    current: SpanHandle | None = handle
    sent: Any = None
    thrown: BaseException | None = None
    try:
        while True:
            token = _CURRENT.set(current)
            try:
                value = inner.send(sent) if thrown is None else inner.throw(thrown)
            except StopIteration as stop:
                result = stop.value
                break
            finally:
                thrown = None
                current = _CURRENT.get()  # a span the generator opened stays its current one
                _CURRENT.reset(token)
            try:
                sent = yield value
            except GeneratorExit:
                token = _CURRENT.set(current)
                try:
                    inner.close()
                finally:
                    _CURRENT.reset(token)
                raise
            except BaseException as exc:  # noqa: BLE001 - thrown in by the consumer: passed on, as yield from does
                thrown, sent = exc, None
    except GeneratorExit:
        _end_quietly(handle, None)  # the consumer stopped early: not an error
        raise
    except BaseException as exc:
        _end_quietly(handle, exc)
        raise
    if capture and result is not None:
        try:
            handle.set_output(result)
        except Exception:  # noqa: BLE001 - recording never breaks the agent
            pass
    _end_quietly(handle, None)
    return result


def _bind(signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if signature is None:
        return {"args": list(args), "kwargs": kwargs}
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return {"args": list(args), "kwargs": kwargs}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
