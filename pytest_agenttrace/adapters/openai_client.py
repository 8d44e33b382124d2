"""Record the ``openai`` client's chat completions (``pip install 'pytest-agenttrace[openai]'``).

``instrument_openai(client)`` wraps ``client.chat.completions.create`` (and
``.parse``, the structured-outputs call, which does not go through ``create``) of an
``openai.OpenAI`` or ``openai.AsyncOpenAI`` client (pointed at OpenAI or at
any OpenAI-compatible endpoint: a local Ollama or vLLM server, a gateway).
While a recorder is active each call is an ``llm`` span named after the
model, under the span open where the call is made:

* ``input``: ``{"messages": [...], "tools": [names]}``, the last 50 messages;
* ``output``: the first choice's message (content and tool calls with their
  arguments decoded);
* ``attributes``: ``model`` (as requested), ``response_model``, ``usage``
  (``input_tokens``/``output_tokens``/``total_tokens``), ``tool_calls``
  (names), ``finish_reason``, ``provider`` and ``base_url``;
* an exception (HTTP error, timeout) is the span's error and reaches the
  caller unchanged.

Streaming calls (``stream=True``, and ``.stream()``, which calls ``create``)
are recorded when the stream is consumed or closed: the deltas of choice 0
are assembled into the same output; a stream the caller stops reading
(``break``, ``close()``, leaving ``with``) ends ok with what came and
``stream_closed_early``.  ``client.responses`` is not recorded.  With no active
recorder the wrapper calls straight through.  The client keeps working
exactly as before; ``client.with_options(...)`` returns a new, unwrapped
client.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ..exceptions import MissingExtraError
from ..recorder import SpanHandle, active_recorder
from ._context import log

if TYPE_CHECKING:
    from ..recorder import Recorder

__all__ = ["instrument_openai"]

C = TypeVar("C")
_MAX_MESSAGES: Final = 50
_MARK: Final = "_agenttrace_wrapped"


def instrument_openai(client: C, *, max_messages: int = _MAX_MESSAGES) -> C:
    """Record every ``client.chat.completions.create`` (and ``.parse``) call as an ``llm`` span.

    Returns the same client (instrumenting twice is harmless).
    """
    try:
        import openai  # noqa: F401 - only to say what to install
    except ImportError as exc:
        raise MissingExtraError("OpenAI client capture", "openai", "openai") from exc
    completions = client.chat.completions  # type: ignore[attr-defined]  # an openai client
    base_url = str(getattr(client, "base_url", "") or "")
    for name in ("create", "parse"):  # parse (structured outputs) does not go through create
        original = getattr(completions, name, None)
        if original is not None and not getattr(original, _MARK, False):
            setattr(completions, name, _wrapped(original, completions, base_url, max_messages))
    return client


def _wrapped(original: Any, completions: Any, base_url: str, max_messages: int) -> Any:
    """``original`` (a bound ``create``/``parse``) recording each call while a recorder is active."""
    # The SDK's decorators hide the coroutine: ask the resource class too.
    if inspect.iscoroutinefunction(original) or type(completions).__name__.startswith("Async"):

        @functools.wraps(original)
        async def acall(*args: Any, **kwargs: Any) -> Any:
            rec = active_recorder()
            if rec is None:
                return await original(*args, **kwargs)
            kwargs = _once_iterables_listed(kwargs)
            handle = _start(rec, kwargs, base_url, max_messages)
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:
                _end(handle, None, exc)
                raise
            if kwargs.get("stream") and _is_stream(result):
                return _recorded_async_stream(result, handle)
            _end(handle, result, None)
            return result

        setattr(acall, _MARK, True)
        return acall

    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        rec = active_recorder()
        if rec is None:
            return original(*args, **kwargs)
        kwargs = _once_iterables_listed(kwargs)
        handle = _start(rec, kwargs, base_url, max_messages)
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            _end(handle, None, exc)
            raise
        if kwargs.get("stream") and _is_stream(result):
            return _recorded_stream(result, handle)
        _end(handle, result, None)
        return result

    setattr(call, _MARK, True)
    return call


def _once_iterables_listed(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``messages`` and ``tools`` given as one-shot iterables (a generator), made lists the call gets too.

    The client accepts any iterable there; recording them must not use them up before the request
    is built (it would then send no messages).  Lists, tuples and anything else are passed as they are.
    """
    changed = None
    for key in ("messages", "tools"):
        value = kwargs.get(key)
        if value is None or _sentinel(value) or isinstance(value, (list, tuple, str, bytes, Mapping)):
            continue
        try:
            once = iter(value) is value  # an iterator: iterating it again would find it empty
        except TypeError:  # not iterable at all: the client says what it thinks of it
            continue
        if once:
            if changed is None:
                changed = dict(kwargs)
            changed[key] = list(value)
    return kwargs if changed is None else changed


def _is_stream(result: Any) -> bool:
    """The SDK's own stream object (a raw response asked for with ``with_raw_response`` is not one)."""
    import openai

    return isinstance(result, (openai.Stream, openai.AsyncStream)) and hasattr(result, "_iterator")


def _sentinel(value: Any) -> bool:
    """The SDK's "not given" markers (``NOT_GIVEN``, ``omit``): no value was given."""
    return type(value).__name__ in ("NotGiven", "Omit")


def _provider(base_url: str) -> str:
    host = base_url.split("//", 1)[-1].split("/", 1)[0]
    if host.endswith("openai.com"):
        return "openai"
    if host.endswith(":11434"):
        return "ollama"
    return "openai-compatible"


def _start(rec: Recorder, kwargs: Mapping[str, Any], base_url: str, max_messages: int) -> SpanHandle | None:
    try:
        model = str(kwargs.get("model") or "unknown")
        messages = list(kwargs.get("messages") or [])
        # messages[-0:] is the whole list: 0 (or less) keeps none.
        shown: list[Any] = [_plain(m) for m in messages[-max_messages:]] if max_messages > 0 else []
        if len(messages) > max_messages:
            shown.insert(0, f"…[agenttrace: kept the last {max(max_messages, 0)} of {len(messages)} messages]")
        payload: dict[str, Any] = {"messages": shown}
        tools = kwargs.get("tools")
        if tools:
            payload["tools"] = [
                ((t.get("function") or {}).get("name") if isinstance(t, Mapping) else str(t)) for t in tools
            ]
        attributes: dict[str, Any] = {"model": model, "provider": _provider(base_url)}
        if base_url:
            attributes["base_url"] = base_url
        for key in ("temperature", "max_tokens", "max_completion_tokens", "tool_choice"):
            if kwargs.get(key) is not None and not _sentinel(kwargs[key]):
                attributes[key] = _plain(kwargs[key])
        return rec.start_span("llm", model, attributes=attributes, input=payload)
    except Exception:  # noqa: BLE001 - never break the call
        log.warning("agenttrace: could not record an OpenAI chat completion", exc_info=True)
        return None


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            # No serializer warnings: parse()'s completions hold the user's model in a generic field.
            return dump(exclude_none=True, warnings=False)
        except TypeError:  # a model_dump without pydantic 2's ``warnings``
            return dump(exclude_none=True)
    return value


def _end(handle: SpanHandle | None, result: Any, error: BaseException | None, *, early: bool = False) -> None:
    """End ``handle`` with ``result`` (a response, or a stream's chunks so far) or ``error``.

    ``early``: a stream closed before its last chunk (the caller stopped reading, or its own code
    raised inside ``with``): the span records what came and says so in ``stream_closed_early``.
    """
    if handle is None or handle.ended:
        return
    if early:
        handle.attributes["stream_closed_early"] = True
    try:
        data = _plain(result) if result is not None else None
        if isinstance(data, Mapping):  # a raw response (with_raw_response) has no parsed data: no output
            _fill(handle, data)
    except Exception:  # noqa: BLE001 - keep the span, without what could not be read
        log.warning("agenttrace: could not read an OpenAI chat completion response", exc_info=True)
    finally:
        handle.end(error)


def _fill(handle: SpanHandle, data: Mapping[str, Any]) -> None:
    choices = data.get("choices") or []
    message = dict((choices[0] or {}).get("message") or {}) if choices else {}
    calls = message.get("tool_calls") or []
    if calls:
        message["tool_calls"] = [_tool_call(c) for c in calls]
        handle.attributes["tool_calls"] = [c["name"] for c in message["tool_calls"]]
    if message:
        handle.output = message
    if choices and choices[0].get("finish_reason"):
        handle.attributes["finish_reason"] = choices[0]["finish_reason"]
    if data.get("model"):
        handle.attributes["response_model"] = data["model"]
    usage = data.get("usage") or {}
    mapped = {
        ours: usage[theirs]
        for ours, theirs in (
            ("input_tokens", "prompt_tokens"),
            ("output_tokens", "completion_tokens"),
            ("total_tokens", "total_tokens"),
        )
        if isinstance(usage.get(theirs), int)
    }
    if mapped:
        handle.attributes["usage"] = mapped


def _tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments else arguments
    except ValueError:
        parsed = arguments
    return {"id": call.get("id"), "name": function.get("name"), "arguments": parsed}


class _Assembler:
    """Builds a chat completion dict from streamed chunks: choice 0 only, as recorded unstreamed."""

    def __init__(self) -> None:
        self.content: list[str] = []
        #: Tool calls in the order they began.
        self.calls: list[dict[str, Any]] = []
        #: Streamed ``index`` -> position in ``calls`` of the call being streamed at that index.
        self.at: dict[int, int] = {}
        self.data: dict[str, Any] = {}
        self.finish: str | None = None
        #: Whether the stream ran to its end (not closed while chunks may still have come).
        self.done = False

    def add(self, chunk: Any) -> None:
        data = _plain(chunk)
        if data.get("model"):
            self.data["model"] = data["model"]
        if data.get("usage"):
            self.data["usage"] = data["usage"]
        for choice in data.get("choices") or []:
            if (choice.get("index") or 0) != 0:  # n > 1: the other choices are not recorded
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.content.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                self._add_call(call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def _add_call(self, call: Mapping[str, Any]) -> None:
        index = int(call.get("index") or 0)
        position = self.at.get(index)
        call_id = call.get("id")
        # A different id at a used index is a new call: Ollama sends every call at index 0.
        if position is None or (call_id and self.calls[position]["id"] not in (None, call_id)):
            self.calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
            position = self.at[index] = len(self.calls) - 1
        slot = self.calls[position]
        if call_id:
            slot["id"] = call_id
        function = call.get("function") or {}
        slot["function"]["name"] += function.get("name") or ""
        slot["function"]["arguments"] += function.get("arguments") or ""

    def result(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.calls:
            message["tool_calls"] = list(self.calls)
        return {**self.data, "choices": [{"message": message, "finish_reason": self.finish}]}


def _recorded_stream(stream: Any, handle: SpanHandle | None) -> Any:
    """The SDK's own stream, its chunks recorded as they pass: the caller gets the very object it would.

    Its iterator is replaced in place (``Stream`` reads ``_iterator``).  The span ends with the last
    chunk or an error, or when the caller stops early, which ends it ok with what came and
    ``stream_closed_early``: leaving a ``for`` loop over it (``break``), closing the response
    (``close()``, ``with``, the ``.stream()`` manager's exit), or the stream being collected.  A
    caller that reads on after leaving a loop (a peek, a second loop) reopens the span until the
    real end (see :class:`_StreamSpan`).
    """
    span = _StreamSpan(handle)
    assembler = span.assembler
    inner = stream._iterator

    def chunks() -> Any:
        try:
            for chunk in inner:
                _add_chunk(assembler, chunk)
                yield chunk
        except GeneratorExit:
            span.end(early=True)
            raise
        except BaseException as exc:
            span.end(exc)
            raise
        assembler.done = True
        span.end()

    source = chunks()

    def stopped() -> None:
        # While ``source`` runs, the close comes from the SDK's own end of stream (or an error):
        # ``chunks`` ends the span itself.
        if not source.gi_running:
            span.end(early=not assembler.done)

    stream._iterator = _Chunks(source, span.left_loop)
    response = stream.response
    original_close = response.close

    def close() -> None:
        stopped()
        original_close()

    response.close = close
    return stream


class _StreamSpan:
    """A recorded stream's span and what came so far; ends it, again if the caller read on.

    Leaving a ``for`` loop over the stream (``break``) ends the span at once, ok, with what came and
    ``stream_closed_early``: usually the caller stopped reading.  If it reads on after all (a peek
    with ``next(iter(stream))``, or a second loop), the span is open again until the stream's real
    end, which then ends it with everything that came.
    """

    __slots__ = ("assembler", "handle", "left")

    def __init__(self, handle: SpanHandle | None) -> None:
        self.handle = handle
        self.assembler = _Assembler()
        self.left = False  # ended when the caller left a loop: ends again if it reads on

    def end(self, error: BaseException | None = None, *, early: bool = False) -> None:
        handle = self.handle
        if handle is None:
            return
        if handle.ended:
            if not self.left or handle.recorder._closing:  # a finished trace's spans are frozen
                return
            handle.end_ns = None  # reopened: its end comes now, with what came since
            handle.attributes.pop("stream_closed_early", None)
        self.left = False
        _end(handle, self.assembler.result() if error is None else None, error, early=early)

    def left_loop(self) -> None:
        if self.handle is not None and not self.handle.ended:
            self.end(early=True)
            self.left = True


class _Chunks:
    """A recorded stream's ``_iterator``: ``next()`` reads on; each ``for`` loop gets its own iterator.

    ``Stream.__iter__`` loops over ``_iterator``; a caller's ``break`` drops that loop's iterator
    (never the stream's): a sign the caller stopped reading (see :class:`_StreamSpan`).
    """

    __slots__ = ("_source", "_stopped")

    def __init__(self, source: Any, stopped: Callable[[], None]) -> None:
        self._source = source
        self._stopped = stopped

    def __next__(self) -> Any:
        return next(self._source)

    def __iter__(self) -> Iterator[Any]:
        return self._loop()

    def _loop(self) -> Iterator[Any]:
        try:
            for item in self._source:  # noqa: UP028 - yield from would close the source with this loop
                yield item
        except GeneratorExit:
            self._stopped()
            raise


def _recorded_async_stream(stream: Any, handle: SpanHandle | None) -> Any:
    """:func:`_recorded_stream` for the async client's stream.

    After ``break`` the span ends once the event loop finalises the loop's async iterator (at
    once on the loop's next turn under asyncio).
    """
    span = _StreamSpan(handle)
    assembler = span.assembler
    inner = stream._iterator

    async def chunks() -> Any:
        try:
            async for chunk in inner:
                _add_chunk(assembler, chunk)
                yield chunk
        except GeneratorExit:
            span.end(early=True)
            raise
        except BaseException as exc:
            span.end(exc)
            raise
        assembler.done = True
        span.end()

    source = chunks()

    def stopped() -> None:
        if not source.ag_running:
            span.end(early=not assembler.done)

    stream._iterator = _AsyncChunks(source, span.left_loop)
    response = stream.response
    original_aclose = response.aclose

    async def aclose() -> None:
        stopped()
        await original_aclose()

    response.aclose = aclose
    return stream


class _AsyncChunks:
    """:class:`_Chunks` for the async client's stream."""

    __slots__ = ("_source", "_stopped")

    def __init__(self, source: Any, stopped: Callable[[], None]) -> None:
        self._source = source
        self._stopped = stopped

    def __anext__(self) -> Any:
        return self._source.__anext__()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._loop()

    async def _loop(self) -> AsyncIterator[Any]:
        try:
            async for item in self._source:
                yield item
        except GeneratorExit:
            self._stopped()
            raise


def _add_chunk(assembler: _Assembler, chunk: Any) -> None:
    try:
        assembler.add(chunk)
    except Exception:  # noqa: BLE001 - a chunk that cannot be read is passed on all the same
        log.debug("agenttrace: could not read a streamed chunk", exc_info=True)
