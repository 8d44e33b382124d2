"""The tool gateway: every tool call recorded with its agent and delegation scope.

Agents call tools through a :class:`ToolGateway` instead of calling them
directly.  Each call becomes a ``tool`` span (arguments in ``input``, result in
``output``) under the current agent and delegation scope.  In *enforce* mode a
call that some enclosing delegation's ``allowed_tools`` does not permit is
refused with :class:`~pytest_agenttrace.exceptions.ScopeViolation`, and the
refused call is still recorded (``status: error``, ``attributes.out_of_scope``).

Scopes narrow, never widen: a tool must be allowed by *every* enclosing
delegation that declares ``allowed_tools``.

An async tool (``async def``, an object with an async ``__call__``, a partial of
either) gets an async wrapper.  A plain callable that *returns* a coroutine (a
lambda, a function handing on another's coroutine) is only known as one once it
returned: the span it started stays open, the coroutine is handed back wrapped,
and the span ends when that coroutine does, with its result or exception.
"""

from __future__ import annotations

import functools
import inspect
import logging
import reprlib
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import CoroutineType
from typing import Any, cast

from . import recorder as _rec
from .exceptions import ScopeViolation, UsageError
from .sanitize import clean

__all__ = ["ToolGateway"]

log = logging.getLogger("pytest_agenttrace")


def _is_async(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` makes a coroutine: an ``async def`` function, or an object whose ``__call__`` is one.

    A :func:`functools.partial` is looked through (``inspect`` does so for a function, not
    for an object with an async ``__call__``).  What only a call can tell (a plain function
    or a lambda returning a coroutine) is handled by the sync wrapper, once the call returned one.
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = inspect.getattr_static(type(fn), "__call__", None)
    return not inspect.isroutine(fn) and not isinstance(fn, type) and inspect.iscoroutinefunction(call)


def _restricting_open(recorder: Any) -> bool:
    """Whether a delegation that restricts tools is open in ``recorder`` (so some context has a scope)."""
    for scope_id in list(recorder._delegation_tools):  # a copy: other threads may open delegations meanwhile
        delegation = recorder.handle(scope_id)
        if delegation is not None and not delegation.ended:
            return True
    return False


def _describe(scope: str | None) -> str | None:
    """``delegation 'coder' (span 3, boss -> coder)`` for the delegation span ``scope`` of the active recording."""
    try:
        recorder = _rec.active_recorder()
        delegation = recorder.handle(scope) if recorder is not None and scope is not None else None
        if delegation is None:
            return None
        attributes = delegation.attributes
        return (
            f"delegation {delegation.name!r} (span {delegation.span_id}, "
            f"{attributes.get('from_agent') or '?'} -> {attributes.get('to_agent') or '?'})"
        )
    except Exception:  # noqa: BLE001 - the refusal stands without its description (recorded values are data)
        return None


def _not_recorded(handle: Any, what: str) -> None:
    """After recording ``what`` of a tool call failed: say so, unless its recording finished meanwhile.

    A span whose recording finished while the tool ran is a finished span now and refuses
    changes: what it would have recorded goes into no trace, silently (the README's promise
    for a thread that outlives its test).  Any other failure is logged, as a span that could
    not be recorded is.  Never raises: the tool's result or exception is the agent's.
    """
    if type(handle) is _rec.SpanHandle:
        log.warning("agenttrace: could not record the %s of a tool call", what, exc_info=True)


def _record_cleaned_input(handle: Any, tool_name: str, arguments: Any) -> None:
    """After the arguments could not be recorded as they are: record their cleaned form (never raises)."""
    if type(handle) is not _rec.SpanHandle:
        return  # the recording finished meanwhile
    log.warning(
        "agenttrace: could not record the arguments of tool %r as they are; their cleaned form is recorded",
        tool_name,
        exc_info=True,
    )
    try:
        handle.set_input(clean(arguments, handle.recorder.limits))
    except Exception:  # noqa: BLE001 - finished meanwhile: recorded nowhere
        pass


def _detach(handle: Any) -> None:
    """Put back the caller's current span without ending ``handle``: its work runs when awaited, maybe elsewhere."""
    token = handle._token
    handle._token = None
    if token is not None:
        _rec._reset_quietly(token)


def _close_if_unawaited(handle: Any, coro: CoroutineType[Any, Any, Any]) -> None:
    """After the covering coroutine of ``coro`` went away: if it never started, neither did the call.

    ``coro`` is closed, so that only the covering coroutine (named as ``coro``) warns that it was
    never awaited, as ``coro`` alone would have; and the call's span ends as a call that never ran.
    Never raises: this runs whenever the garbage collector gets to it.
    """
    try:
        if inspect.getcoroutinestate(coro) != inspect.CORO_CREATED:
            return
        coro.close()
        if type(handle) is _rec.SpanHandle and handle.end_ns is None:
            handle.end(RuntimeError(f"coroutine {coro.__qualname__!r} was never awaited"))
    except Exception:  # noqa: BLE001 - the recording finished meanwhile: recorded nowhere
        pass


#: What ``ToolGateway(tools)`` takes, for its usage errors.
_ACCEPTED = (
    "ToolGateway takes a mapping of tool name to callable ({'web_search': web_search}) "
    "or an iterable of named callables ([web_search, fetch])"
)


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother = 40, 60


def _short(value: object) -> str:
    """``value``'s repr, cut short for a message."""
    return _REPR.repr(value)


def _a(value: object) -> str:
    """``a list`` / ``an int``: the type of ``value`` with its article."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _not_tools(tools: object) -> UsageError:
    """The usage error for a ``tools`` argument that is neither a mapping nor an iterable of callables."""
    if isinstance(tools, (str, bytes, bytearray)):
        kind = "string" if isinstance(tools, str) else type(tools).__name__
        got = f"the {kind} {_short(tools)}"
        hint = "pass the tool itself, e.g. ToolGateway([web_search])"
    elif inspect.isroutine(tools):
        name = getattr(tools, "__name__", None) or "tool"
        got = f"the function {name!r}"
        hint = f"to register one tool, pass it in a list: ToolGateway([{name}])"
    elif callable(tools):
        got = f"the callable {_short(tools)}"
        hint = "to register one tool, name it in a mapping: ToolGateway({'name': tool})"
    else:
        got = f"{_a(tools)} object"
        methods = [n for n, v in vars(type(tools)).items() if not n.startswith("_") and inspect.isfunction(v)]
        if methods:
            listed = ", ".join(f"obj.{n}" for n in methods[:3])
            hint = f"for an object's methods, list them: ToolGateway([{listed}])"
        else:
            hint = "pass e.g. ToolGateway([web_search])"
    return UsageError(f"{_ACCEPTED}, got {got}; {hint}.")


def _tool_items(tools: object) -> list[tuple[str | None, Any]]:
    """``(name, callable)`` pairs of a ``tools`` argument (name ``None``: the callable's own), or a usage error."""
    if isinstance(tools, Mapping):
        items: list[tuple[str | None, Any]] = []
        for name, fn in tools.items():
            if not isinstance(name, str) or not name:
                raise UsageError(f"tool names are strings, got {_short(name)} ({type(name).__name__}); {_ACCEPTED}.")
            items.append((name, fn))
        return items
    if isinstance(tools, (str, bytes, bytearray)):  # iterable, but of characters
        raise _not_tools(tools)
    try:
        iterator = iter(tools)  # type: ignore[call-overload]  # checked here: any object may come in
    except TypeError:
        raise _not_tools(tools) from None
    return [(None, fn) for fn in iterator]


class ToolGateway:
    """A set of named tools whose calls are recorded (and optionally scope-checked).

    ``tools`` is a mapping of name to callable, or an iterable of callables
    named by their ``__name__``; anything else (an object whose methods are
    the tools, a single function, a string, a value that is not callable, a
    callable without ``__name__`` outside a mapping) is a
    :class:`~pytest_agenttrace.exceptions.UsageError` at construction.
    Tools are reached as attributes
    (``gateway.web_search(q)``), by :meth:`call`, or as wrapped callables from
    :meth:`wrap` / item access (``gateway["web_search"]``).
    """

    def __init__(
        self,
        tools: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]] = (),
        *,
        enforce: bool = False,
    ) -> None:
        self.enforce = enforce
        self._tools: dict[str, Callable[..., Any]] = {}
        self._wrapped: dict[str, Callable[..., Any]] = {}
        for name, fn in _tool_items(tools):
            self.register(fn, name=name)

    def register(self, fn: Callable[..., Any], *, name: str | None = None) -> Callable[..., Any]:
        """Add a tool; returns its recorded wrapper (a :class:`UsageError` if ``fn`` is not callable or unnamed)."""
        if not callable(fn):
            what = f"tool {name!r}" if name else f"{_short(fn)} ({_a(fn)})"
            got = f" (got {type(fn).__name__} {_short(fn)})" if name else ""
            raise UsageError(
                f"{what} is not callable{got}, so it cannot be a tool; register the function that does the tool's work."
            )
        tool_name = name or getattr(fn, "__name__", None)
        if not isinstance(tool_name, str) or not tool_name:
            raise UsageError(
                f"tool {_short(fn)} has no __name__; name it in a mapping, ToolGateway({{'name': tool}}), "
                "or pass name= to register()."
            )
        self._tools[tool_name] = fn
        wrapped = self._make_wrapper(tool_name, fn)
        self._wrapped[tool_name] = wrapped
        return wrapped

    def wrap(self, fn: Callable[..., Any], *, name: str | None = None) -> Callable[..., Any]:
        """Alias of :meth:`register`, reading better at a call site."""
        return self.register(fn, name=name)

    @property
    def names(self) -> list[str]:
        """Names of the registered tools."""
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __getitem__(self, name: str) -> Callable[..., Any]:
        try:
            return self._wrapped[name]
        except KeyError:
            raise KeyError(f"no tool {name!r} in this gateway; registered: {sorted(self._tools)}") from None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        wrapped = self.__dict__.get("_wrapped", {})
        if name in wrapped:
            return wrapped[name]  # type: ignore[no-any-return]
        raise AttributeError(f"no tool {name!r} in this gateway; registered: {sorted(wrapped)}")

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call tool ``name`` with the given arguments."""
        return self[name](*args, **kwargs)

    def check_scope(self, name: str) -> tuple[bool, list[str], str | None]:
        """Whether tool ``name`` is allowed in the current scope: ``(allowed, allowed_tools, scope)``."""
        recorder = _rec.active_recorder()
        current = _rec.current_span()
        if recorder is None or current is None or current.recorder is not recorder:
            if self.enforce and recorder is not None and current is None and _restricting_open(recorder):
                self._warn_unscoped(recorder, name)
            return True, [], None
        path = list(current.scope_path)
        if current.kind == "delegation":
            path.append(current.span_id)
        scope = path[-1] if path else None
        allowed_sets = recorder.allowed_tools(path)
        for tools in allowed_sets:
            if name not in tools:
                narrowest = sorted(set.intersection(*(set(t) for t in allowed_sets)))
                return False, narrowest, scope
        return True, [], scope

    def _warn_unscoped(self, recorder: Any, name: str) -> None:
        """Say once per recording and tool that a call came from a context that knows no scope.

        A thread or task started without :func:`~pytest_agenttrace.propagate`
        has no current span, so no delegation applies to its calls and an
        enforcing gateway lets them through.  A log record, not a warning: a
        ``filterwarnings = error`` setting must not turn it into an exception
        inside the agent's tool call.
        """
        warned: set[str] = recorder.__dict__.setdefault("_agenttrace_unscoped_calls", set())
        if name in warned:
            return
        warned.add(name)
        log.warning(
            "agenttrace: tool %r was called through an enforcing gateway from a context with no current span "
            "(a thread or task started without agenttrace.propagate), so no delegation scope applied and the "
            "call was allowed; wrap the callable with agenttrace.propagate(...) so it runs in the caller's scope.",
            name,
        )

    def _make_wrapper(self, tool_name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        try:
            signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None
        gateway = self
        active_recorder = _rec.active_recorder
        exit_span = _rec.SpanHandle.__exit__  # as a ``with`` would; also for a handle finished meanwhile

        def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ScopeViolation | None]:
            """The call's span (entered, or the no-op handle) and its refusal, if its scope refuses it.

            The scope is decided from the delegations open here whatever happens to recording: a
            call whose span or arguments could not be recorded is refused all the same.
            """
            handle = _rec.tool(tool_name, via="gateway")
            if handle:
                arguments = _rec._bind(signature, args, kwargs)
                try:
                    handle.set_input(arguments)
                except Exception:  # noqa: BLE001 - logged; the span keeps its arguments, cleaned
                    _record_cleaned_input(handle, tool_name, arguments)
            allowed, narrowest, scope = gateway.check_scope(tool_name)
            refusal = None
            if not allowed:
                if gateway.enforce:
                    # The span's agent; unrecorded, the agent of the span the call was made in.
                    agent = getattr(handle if handle else _rec.current_span(), "agent", None)
                    refusal = ScopeViolation(tool_name, agent, scope, narrowest, where=_describe(scope))
                if handle:
                    marks = {"out_of_scope": True, "refused": True} if refusal is not None else {"out_of_scope": True}
                    try:
                        handle.set_attributes(marks)
                    except Exception:  # noqa: BLE001 - logged by _not_recorded (or finished meanwhile)
                        _not_recorded(handle, "scope")
            if handle:
                try:
                    handle.__enter__()
                except Exception:  # noqa: BLE001 - finished meanwhile (a Span is no context manager)
                    handle = _rec.NOOP  # the call goes into no trace
            return handle, refusal

        def end(handle: Any, exc: BaseException | None) -> None:
            """Leave the call's span as a ``with`` would; never raises (the recording may have finished)."""
            try:
                if exc is None:
                    exit_span(handle, None, None, None)
                else:
                    exit_span(handle, type(exc), exc, exc.__traceback__)
            except Exception:  # noqa: BLE001 - logged by _not_recorded (or finished meanwhile)
                _not_recorded(handle, "end")

        def returned(handle: Any, result: Any) -> None:
            """Record the call's result and leave its span; never raises."""
            try:
                handle.set_output(result)
            except Exception:  # noqa: BLE001 - logged by _not_recorded (or finished meanwhile)
                _not_recorded(handle, "output")
            end(handle, None)

        if _is_async(fn):

            @functools.wraps(fn)
            async def async_call(*args: Any, **kwargs: Any) -> Any:
                if active_recorder() is None:  # nothing records, so no delegation scope applies either
                    return await fn(*args, **kwargs)
                handle, refusal = begin(args, kwargs)
                if refusal is not None:
                    if handle:
                        end(handle, refusal)
                    raise refusal
                if not handle:
                    return await fn(*args, **kwargs)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    end(handle, exc)
                    raise
                returned(handle, result)
                return result

            return async_call

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            if active_recorder() is None:  # nothing records, so no delegation scope applies either
                return fn(*args, **kwargs)
            handle, refusal = begin(args, kwargs)
            if refusal is not None:
                if handle:
                    end(handle, refusal)
                raise refusal
            if not handle:
                return fn(*args, **kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                end(handle, exc)
                raise
            if isinstance(result, CoroutineType) and type(handle) is _rec.SpanHandle:
                return awaited(handle, result)  # the tool's work is the coroutine's: its span covers the await
            returned(handle, result)
            return result

        def awaited(handle: Any, coro: CoroutineType[Any, Any, Any]) -> CoroutineType[Any, Any, Any]:
            """A coroutine awaiting ``coro`` with the call's span current, then ending it with the outcome.

            Still a coroutine (``create_task`` and ``asyncio.run`` take only those), named as ``coro``
            for the never-awaited warning, and awaitable once, as ``coro`` is.  The span keeps the
            start of the call; its sync part ran under it, what runs when awaited runs under it too.
            """
            _detach(handle)

            async def covering() -> Any:
                __tracebackhide__ = True  # pytest shows the tool's frames, not this one
                try:
                    handle.__enter__()
                except Exception:  # noqa: BLE001 - finished meanwhile: the call goes into no trace
                    return await coro
                try:
                    result = await coro
                except BaseException as exc:
                    end(handle, exc)
                    raise
                returned(handle, result)
                return result

            wrapper = cast("CoroutineType[Any, Any, Any]", covering())  # what calling an async def makes
            wrapper.__name__, wrapper.__qualname__ = coro.__name__, coro.__qualname__
            weakref.finalize(wrapper, _close_if_unawaited, handle, coro).atexit = False  # exit closes nothing
            return wrapper

        return call

    def __repr__(self) -> str:
        mode = "enforce" if self.enforce else "observe"
        return f"<ToolGateway {mode} tools={sorted(self._tools)}>"
