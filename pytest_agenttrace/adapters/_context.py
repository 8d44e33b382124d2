"""What the live-capture adapters share: routing, parenthood across frameworks, safety.

Each adapter hooks its framework once per process (a span processor, a trace
processor, a callback handler) and from then on *routes*: a foreign span
starting while a recorder is active becomes a span of that recorder, and
with no active recorder the hook returns at once.

Parenthood across frameworks.  Native spans live in the recorder's context
variable; OpenTelemetry, the Agents SDK and LangChain each keep their own
"current span".  Every adapter registers a *parent provider*: a function that
returns the recorder's handle of its framework's span current in this
context.  :func:`resolve_parent` picks, among the native current span and
what the providers return, the open span that started last: that is the
innermost one, since every candidate encloses the point of the call.  The
recorder asks the same providers when a native span starts without an
explicit parent (``recorder.register_parent_provider``), so a native span
opened inside a foreign one nests under it, and a foreign span opened inside
a native one nests under that.

Safety.  Adapters run inside someone else's framework: :func:`guarded` wraps
every hook so a mapping failure logs a warning and carries on; it never
reaches the user's agent.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .. import recorder as _recorder_module
from ..recorder import _CURRENT, ReservedHandle, SpanHandle, active_recorder

_RESERVED: Final = ReservedHandle

#: The native span open in this context (the recorder's context variable, read without a wrapper call).
native_current_span: Final = _CURRENT.get

if TYPE_CHECKING:
    from ..recorder import Recorder

__all__ = [
    "COMPLETION_LOCK",
    "SOURCES",
    "ParentProvider",
    "StateCache",
    "adapter_state",
    "complete_all",
    "complete_as_plain_root",
    "complete_reserved",
    "descends",
    "enabled",
    "epoch_to_recorder_ns",
    "fill_in",
    "foreign_parent",
    "get_enabled",
    "guarded",
    "log",
    "register_parent_provider",
    "resolve_parent",
    "route",
    "set_enabled",
    "state_getter",
    "state_peeker",
    "take_ended",
]

log: Final = logging.getLogger("pytest_agenttrace")

#: The sources the pytest plugin can install automatically.
SOURCES: Final[tuple[str, ...]] = ("otel", "openai-agents", "langchain")

ParentProvider = Callable[["Recorder"], "SpanHandle | None"]

F = TypeVar("F", bound=Callable[..., Any])

_providers: list[ParentProvider] = []
#: ``None``: every installed source records (use outside pytest); else only these.
_enabled: frozenset[str] | None = None
_warned: set[str] = set()
_state_lock = threading.Lock()


def set_enabled(sources: Iterable[str] | None) -> None:
    """Record only from ``sources`` (``None``: from every installed source)."""
    global _enabled
    _enabled = None if sources is None else frozenset(sources)


def get_enabled() -> frozenset[str] | None:
    """The sources recording now (``None``: all installed ones)."""
    return _enabled


def enabled(source: str) -> bool:
    """Whether ``source`` may record now."""
    return _enabled is None or source in _enabled


def route(source: str) -> Recorder | None:
    """The recorder a foreign span of ``source`` goes to, or ``None`` to drop it."""
    rec = active_recorder()
    if rec is None or (_enabled is not None and source not in _enabled):
        return None
    return rec


def register_parent_provider(provider: ParentProvider) -> None:
    """Let ``provider`` (a framework's current span, mapped) take part in parenthood.

    Registered once per provider.  The recorder is given one function for all
    of them (:func:`foreign_parent`), so native spans nest under foreign ones.
    A provider is asked only about recorders its adapter holds state for (see
    :func:`state_getter`): a framework that recorded nothing in a recording
    has no open span in it, and asking costs every span start a call.
    """
    if provider in _providers:
        return
    _providers.append(provider)
    hook = getattr(_recorder_module, "register_parent_provider", None)
    if hook is not None:
        hook(foreign_parent)


def foreign_parent(rec: Recorder) -> SpanHandle | None:
    """The innermost open foreign span of ``rec`` in this context (what the recorder asks)."""
    return ask_providers(rec, None, None)


def resolve_parent(rec: Recorder, skip: ParentProvider | None = None) -> SpanHandle | None:
    """The innermost open span of ``rec`` in this context, native or foreign.

    ``skip`` leaves out the caller's own provider (it knows its framework's parent).
    """
    best = native_current_span()
    if best is not None and best.recorder is not rec:
        best = None
    try:
        live: list[ParentProvider] = rec.__dict__[_STATES_ATTRIBUTE][_LIVE_KEY]
    except (AttributeError, KeyError):
        return best
    if len(live) == 1 and live[0] is skip:  # only the caller's own framework recorded here: nothing to ask
        return best
    return ask_providers(rec, best, skip, live)


def ask_providers(
    rec: Recorder,
    best: SpanHandle | None,
    skip: ParentProvider | None,
    live: list[ParentProvider] | None = None,
) -> SpanHandle | None:
    """``best`` or a live provider's open span of ``rec`` that started later (``skip`` not asked).

    What :func:`resolve_parent` does after reading the native current span; an adapter's hot path
    that has read it and the recorder's ``live`` providers itself passes them, and calls this only
    when another provider is live.
    """
    if live is None:
        try:
            live = rec.__dict__[_STATES_ATTRIBUTE][_LIVE_KEY]
        except (AttributeError, KeyError):
            return best
    for provider in live:
        if provider is skip:
            continue
        try:
            other = provider(rec)
        except Exception:  # noqa: BLE001 - a provider failing means "no opinion"
            continue
        if other is None or other.recorder is not rec or other.end_ns is not None:
            continue
        if best is None or other.seq > best.seq:
            best = other
    return best


def descends(rec: Recorder, span: SpanHandle, ancestor: SpanHandle, limit: int = 256) -> bool:
    """Whether ``ancestor`` is on ``span``'s parent chain (bounded walk)."""
    current: SpanHandle | None = span
    for _ in range(limit):
        if current is None or current.parent_id is None:
            return False
        if current.parent_id == ancestor.span_id:
            return True
        current = rec.handle(current.parent_id)
    return False


COMPLETION_LOCK: Final = _recorder_module.COMPLETION_LOCK


def complete_all(rec: Recorder) -> None:
    """Fill in every adapter's reserved handles for ``rec`` (each adapter's in its start order).

    An adapter's build-time mapping may change a span's agent (an OpenTelemetry
    tool span naming its own agent): every reserved span of every adapter must
    have taken its parent's agent as at its start before any adapter maps.
    """
    states = rec.__dict__.get(_STATES_ATTRIBUTE)
    if not states:
        return
    with COMPLETION_LOCK:
        for state in list(states.values()):
            if getattr(state, "reserved", None):
                try:
                    state.complete(None)
                except Exception:  # one adapter's failure must not stop the others' mapping
                    log.warning("agenttrace: could not fill in reserved spans of %r", state, exc_info=True)


def complete_reserved(
    rec: Recorder,
    state: Any,
    fill: Callable[[Recorder, Any, ReservedHandle], None],
    target: SpanHandle | None = None,
    *,
    what: str,
) -> None:
    """Fill in an adapter's reserved handles in the order it reserved them: all, or up to ``target``.

    ``state.reserved`` is a deque of the adapter's
    :class:`~pytest_agenttrace.recorder.ReservedHandle` objects in the order
    their spans started (a span's parent always before it: a handle is
    queued before anything else can see it); ``fill(rec, state, handle)``
    fills in one and turns it into a plain handle last.  Under
    :data:`COMPLETION_LOCK`, in order, so every parent is complete before its
    children, in a loop (no recursion however deep the nesting) and never
    twice, whichever threads ask.  Appending stays lock-free.  A fill that
    raises logs a warning and leaves the span a ``custom`` root with its
    name, so the trace can always be built.
    """
    reserved = state.reserved
    with COMPLETION_LOCK:
        # ``while True``: on CPython 3.11 only a plain backward jump warms a function's bytecode up
        # (a ``while <test>:`` loop ends in a conditional one); called once per build, this loop
        # would otherwise run unspecialized (no inline caches) whatever its length.
        while True:
            if target is not None and type(target) is not _RESERVED:
                return
            try:
                handle = reserved.popleft()
            except IndexError:
                return
            if type(handle) is not _RESERVED:
                continue
            info: Any = handle._token
            try:
                fill(rec, state, handle)
            except Exception:
                name = str(info[-1])
                log.warning("agenttrace: could not map %s %r", what, name, exc_info=True)
                complete_as_plain_root(handle, name)


def fill_in(
    rec: Recorder | None, handle: SpanHandle, parent: SpanHandle | None, kind: str, attributes: dict[str, Any]
) -> None:
    """The fields a reserved handle takes from its parent and kind, as ``Recorder._new`` fills a new one.

    Parent id, scope and agent from ``parent`` (a span of ``rec``, else none: a
    root), ``kind`` and ``attributes``, and the defaults of everything else a
    completion writes.  Never the name, ``end_ns``, ``versions`` or ``_token``:
    those belong to the reservation and the span's end.  The caller turns the
    handle into a plain ``SpanHandle`` last.
    """
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
        handle.scope_path = _recorder_module._NO_SCOPE
        handle.agent = None
    handle.kind = kind
    handle.status = "ok"
    handle.error = None
    handle.input = None
    handle.output = None
    handle.attributes = attributes
    handle.context = None
    handle.links = _recorder_module._NONE
    handle.events = _recorder_module._NONE


def take_ended(state: Any, what: str) -> list[Any]:
    """The reserved spans queued in ``state.ended``, in end order, flat: handle, its start facts, ...

    The common end queues a reserved handle in ``state.ended``; at the build
    its mapping needs the start facts kept in ``_token``.  Each handle's
    ``_token`` is read once, here, and dropped, so a thread that later runs
    ``with`` on the handle cannot change what the caller maps.  A handle
    reserved after the completion loop ran (another thread) is completed
    first; one whose facts a ``with`` replaced before this is left out, with a
    warning.  A flat list, not a generator of pairs: no frame to resume and no
    tuple to build per span.
    """
    ended = state.ended
    taken: list[Any] = []
    keep = taken.append
    while True:  # not ``while ended:``: see complete_reserved (a plain backward jump warms it up)
        try:
            handle = ended.popleft()
        except IndexError:
            break
        if type(handle) is _RESERVED:
            ReservedHandle.complete(handle)
        info: Any = handle._token
        if type(info) is not tuple:
            log.warning("agenttrace: %s %r lost its start facts; not mapped", what, handle.name)
            continue
        handle._token = None
        keep(handle)
        keep(info)
    return taken


def complete_as_plain_root(handle: SpanHandle, name: str) -> None:
    """Every field a reserved handle lacks, as a root ``custom`` span named ``name`` (its class last)."""
    fill_in(None, handle, None, "custom", {})
    handle.name = name
    handle.__class__ = SpanHandle


def epoch_to_recorder_ns(rec: Recorder, epoch_ns: int) -> int:
    """A wall-clock timestamp (ns since the epoch) on the recorder's clock.

    The recorder measures from its start with ``perf_counter_ns``; a foreign
    span that arrives with wall-clock times (an OTLP export from another
    process) is shifted by the offset between the two clocks, never below 0.
    """
    offset = adapter_state(rec, "clock", lambda: _clock_offset(rec))
    return max(0, epoch_ns - offset)


def _clock_offset(rec: Recorder) -> int:
    # wall time at the recorder's t0 = now_wall - (now_perf - t0)
    return time.time_ns() - (time.perf_counter_ns() - rec._t0)


#: Where a recorder keeps its adapters' state (on the recorder itself, so it lives and dies with it).
_STATES_ATTRIBUTE: Final = "_agenttrace_adapter_states"
#: Among a recorder's adapter states: the parent providers to ask about it.
_LIVE_KEY: Final = "agenttrace.live_providers"
#: The two names above, for adapters' hot paths that read a recorder's states without a call:
#: ``rec.__dict__[STATES_ATTRIBUTE]`` is key -> state, and under ``LIVE_KEY`` the providers to ask.
STATES_ATTRIBUTE: Final = _STATES_ATTRIBUTE
LIVE_KEY: Final = _LIVE_KEY

T = TypeVar("T")


def state_getter(
    key: str, factory: Callable[[Recorder], Any], provider: ParentProvider | None = None
) -> Callable[[Recorder], Any]:
    """A fast ``rec -> state`` for an adapter's hot path: :func:`adapter_state` with ``factory``.

    Spans arrive for the same recorder again and again: after the first one
    this is one attribute read and one dictionary lookup in a plain function
    (no cache of its own, so it keeps nothing alive).  When the state is
    created, ``provider`` (the adapter's parent provider) starts being asked
    about ``rec``; the provider itself must read the state with
    :func:`state_peeker`, which never creates it.
    """

    def state(rec: Any) -> Any:
        try:
            return rec.__dict__[_STATES_ATTRIBUTE][key]
        except (AttributeError, KeyError):
            if provider is not None:  # first, so that whoever sees the state sees the provider asked
                _make_live(rec, provider)
            return adapter_state(rec, key, lambda: factory(rec))

    return state


def state_peeker(key: str) -> Callable[[Recorder], Any]:
    """``rec -> state`` or ``None`` when the adapter holds no state for ``rec`` (never creates it)."""

    def peek(rec: Any) -> Any:
        try:
            return rec.__dict__[_STATES_ATTRIBUTE][key]
        except (AttributeError, KeyError):
            return None

    return peek


def _make_live(rec: Recorder, provider: ParentProvider) -> None:
    with _state_lock:
        states: dict[str, Any] | None = getattr(rec, _STATES_ATTRIBUTE, None)
        if states is None:
            states = {}
            setattr(rec, _STATES_ATTRIBUTE, states)
        live = states.get(_LIVE_KEY) or []
        if provider not in live:
            # Copy on write: resolve_parent may be iterating the list in another thread.
            states[_LIVE_KEY] = [*live, provider]


#: The former name of :func:`state_getter` (a class then), kept for existing callers.
StateCache = state_getter


def adapter_state(rec: Recorder, key: str, factory: Callable[[], T]) -> T:
    """Per-recorder state of an adapter (id maps), created on first use.

    Kept on the recorder itself: a module-level map from recorders to states
    would keep every recorder alive (each state refers back to it through its
    span handles), and with it every span ever recorded in the session.
    """
    states: dict[str, Any] | None = getattr(rec, _STATES_ATTRIBUTE, None)
    if states is None:
        with _state_lock:
            states = getattr(rec, _STATES_ATTRIBUTE, None)
            if states is None:
                states = {}
                setattr(rec, _STATES_ATTRIBUTE, states)
    value = states.get(key)
    if value is None:
        with _state_lock:
            value = states.get(key)
            if value is None:
                value = factory()
                states[key] = value
    return value


def guarded(what: str) -> Callable[[F], F]:
    """Decorate an adapter hook: exceptions are logged (once per hook) and swallowed."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception:
                if what not in _warned:
                    _warned.add(what)
                    log.warning("agenttrace: %s failed; the span is recorded as far as possible", what, exc_info=True)
                else:
                    log.debug("agenttrace: %s failed", what, exc_info=True)
                return None

        return wrapper  # type: ignore[return-value]  # same signature as fn

    return decorate
