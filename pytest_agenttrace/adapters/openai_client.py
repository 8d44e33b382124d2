"""Record the ``openai`` client's chat completions (``pip install 'pytest-agenttrace[openai]'``).

``instrument_openai(client)`` wraps ``client.chat.completions.create`` of an
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

Streaming calls (``stream=True``) are recorded when the stream is consumed
or closed: the deltas are assembled into the same output.  With no active
recorder the wrapper calls straight through.  The client keeps working
exactly as before; ``client.with_options(...)`` returns a new, unwrapped
client.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Mapping
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
    """Record every ``client.chat.completions.create`` call as an ``llm`` span.

    Returns the same client (instrumenting twice is harmless).
    """
    try:
        import openai  # noqa: F401 - only to say what to install
    except ImportError as exc:
        raise MissingExtraError("OpenAI client capture", "openai", "openai") from exc
    completions = client.chat.completions  # type: ignore[attr-defined]  # an openai client
    original = completions.create
    if getattr(original, _MARK, False):
        return client
    base_url = str(getattr(client, "base_url", "") or "")
    # The SDK's decorators hide the coroutine: ask the resource class too.
    if inspect.iscoroutinefunction(original) or type(completions).__name__.startswith("Async"):

        @functools.wraps(original)
        async def acreate(*args: Any, **kwargs: Any) -> Any:
            rec = active_recorder()
            if rec is None:
                return await original(*args, **kwargs)
            handle = _start(rec, kwargs, base_url, max_messages)
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:
                _end(handle, None, exc)
                raise
            if kwargs.get("stream"):
                return _AsyncStream(result, handle)
            _end(handle, result, None)
            return result

        setattr(acreate, _MARK, True)
        completions.create = acreate
    else:

        @functools.wraps(original)
        def create(*args: Any, **kwargs: Any) -> Any:
            rec = active_recorder()
            if rec is None:
                return original(*args, **kwargs)
            handle = _start(rec, kwargs, base_url, max_messages)
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:
                _end(handle, None, exc)
                raise
            if kwargs.get("stream"):
                return _Stream(result, handle)
            _end(handle, result, None)
            return result

        setattr(create, _MARK, True)
        completions.create = create
    return client


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
        shown: list[Any] = [_plain(m) for m in messages[-max_messages:]]
        if len(messages) > max_messages:
            shown.insert(0, f"…[agenttrace: kept the last {max_messages} of {len(messages)} messages]")
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
            if kwargs.get(key) is not None:
                attributes[key] = _plain(kwargs[key])
        return rec.start_span("llm", model, attributes=attributes, input=payload)
    except Exception:  # noqa: BLE001 - never break the call
        log.warning("agenttrace: could not record an OpenAI chat completion", exc_info=True)
        return None


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    return value


def _end(handle: SpanHandle | None, result: Any, error: BaseException | None) -> None:
    if handle is None or handle.ended:
        return
    try:
        if result is not None:
            _fill(handle, _plain(result))
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
    """Builds a chat completion dict from streamed chunks."""

    def __init__(self) -> None:
        self.content: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.data: dict[str, Any] = {}
        self.finish: str | None = None

    def add(self, chunk: Any) -> None:
        data = _plain(chunk)
        if data.get("model"):
            self.data["model"] = data["model"]
        if data.get("usage"):
            self.data["usage"] = data["usage"]
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.content.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                slot = self.calls.setdefault(
                    int(call.get("index", 0)),
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                if call.get("id"):
                    slot["id"] = call["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def result(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.calls:
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        return {**self.data, "choices": [{"message": message, "finish_reason": self.finish}]}


class _StreamBase:
    """What the sync and async streams share: the span, the chunk assembler, the ending."""

    def __init__(self, stream: Any, handle: SpanHandle | None) -> None:
        self._stream = stream
        self._handle = handle
        self._assembler = _Assembler()

    def _add(self, chunk: Any) -> None:
        try:
            self._assembler.add(chunk)
        except Exception:  # noqa: BLE001
            log.debug("agenttrace: could not read a streamed chunk", exc_info=True)

    def _finish(self, error: BaseException | None) -> None:
        _end(self._handle, None if error else self._assembler.result(), error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Stream(_StreamBase):
    """A sync stream that records its span when consumed or closed."""

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._stream)
        except StopIteration:
            self._finish(None)
            raise
        except Exception as exc:
            self._finish(exc)
            raise
        self._add(chunk)
        return chunk

    def close(self) -> None:
        self._finish(None)
        self._stream.close()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _AsyncStream(_StreamBase):
    """An async stream that records its span when consumed or closed."""

    def __aiter__(self) -> _AsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._finish(None)
            raise
        except Exception as exc:
            self._finish(exc)
            raise
        self._add(chunk)
        return chunk

    async def close(self) -> None:
        self._finish(None)
        await self._stream.close()

    async def __aenter__(self) -> _AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
