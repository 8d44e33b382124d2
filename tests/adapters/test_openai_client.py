"""The openai client wrapper against a local fake OpenAI-compatible server (real ``openai`` package)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

openai = pytest.importorskip("openai")

from pytest_agenttrace.adapters.openai_client import instrument_openai  # noqa: E402
from pytest_agenttrace.recorder import Recorder  # noqa: E402

TOOL_CALL = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "llama3.2:1b-served",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_w",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
}
TEXT = {
    "id": "chatcmpl-2",
    "object": "chat.completion",
    "created": 1,
    "model": "llama3.2:1b-served",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "It is sunny in Oslo."}}
    ],
    "usage": {"prompt_tokens": 60, "completion_tokens": 6, "total_tokens": 66},
}


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions by the last message: tool call, text, error or a stream."""

    protocol_version = "HTTP/1.1"
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.requests.append(body)
        last = body["messages"][-1]
        if last["role"] == "user" and "fail" in str(last["content"]):
            self._send(
                400, {"error": {"message": "model 'nope' not found", "type": "invalid_request_error", "code": None}}
            )
        elif body.get("stream"):
            self._stream()
        elif last["role"] == "tool":
            self._send(200, TEXT)
        else:
            self._send(200, TOOL_CALL)

    def _send(self, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self) -> None:
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Sun"}}]},
            {"choices": [{"index": 0, "delta": {"content": "ny."}}]},
            {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
            },
        ]
        data = (
            b"".join(
                b"data: "
                + json.dumps(
                    {"id": "s1", "object": "chat.completion.chunk", "created": 1, "model": "m-stream", **c}
                ).encode()
                + b"\n\n"
                for c in chunks
            )
            + b"data: [DONE]\n\n"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": "Weather in Oslo?"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def _conversation(client: Any) -> str:
    first = client.chat.completions.create(model="llama3.2:1b", messages=MESSAGES, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    follow = [
        *MESSAGES,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = client.chat.completions.create(model="llama3.2:1b", messages=follow, tools=TOOLS)
    return str(second.choices[0].message.content)


def _check_conversation(rec: Recorder) -> None:
    first, second = rec.trace.find("llm")
    assert first.name == "llama3.2:1b" and first.agent == "weather"
    assert first.attributes["model"] == "llama3.2:1b" and first.attributes["response_model"] == "llama3.2:1b-served"
    assert first.attributes["usage"] == {"input_tokens": 42, "output_tokens": 7, "total_tokens": 49}
    assert first.attributes["tool_calls"] == ["get_weather"] and first.attributes["finish_reason"] == "tool_calls"
    assert first.attributes["provider"] == "openai-compatible"
    assert first.input["messages"] == MESSAGES and first.input["tools"] == ["get_weather"]
    assert first.output["tool_calls"] == [{"id": "call_w", "name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert second.output["content"] == "It is sunny in Oslo."
    assert second.attributes["usage"]["input_tokens"] == 60


@pytest.fixture
def sync_client(base_url: str) -> Iterator[Callable[..., openai.OpenAI]]:
    """Sync clients of the fake server, closed after the test.

    An unclosed client's sockets are closed by the garbage collector whenever it
    runs, and the ResourceWarning then fails whatever test is running (seen: one
    run in five failed a later test).
    """
    made: list[openai.OpenAI] = []

    def make(api_key: str = "test") -> openai.OpenAI:
        client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_sync_client_records_llm_spans(agenttrace: Recorder, sync_client: Callable[..., openai.OpenAI]) -> None:
    client = instrument_openai(sync_client(api_key="sk-test-not-a-real-key-000000"))
    with agenttrace.agent("weather"):
        assert _conversation(client) == "It is sunny in Oslo."
    _check_conversation(agenttrace)
    assert "sk-test" not in json.dumps(agenttrace.trace.to_dict())


def test_async_client_records_llm_spans(agenttrace: Recorder, base_url: str) -> None:
    client = instrument_openai(openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0))

    async def run() -> str:
        with agenttrace.agent("weather"):
            first = await client.chat.completions.create(model="llama3.2:1b", messages=MESSAGES, tools=TOOLS)
            call = first.choices[0].message.tool_calls[0]
            follow = [
                *MESSAGES,
                first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
            ]
            second = await client.chat.completions.create(model="llama3.2:1b", messages=follow, tools=TOOLS)
        await client.close()
        return str(second.choices[0].message.content)

    assert asyncio.run(run()) == "It is sunny in Oslo."
    _check_conversation(agenttrace)


def test_errors_are_recorded_and_raised_unchanged(
    agenttrace: Recorder, sync_client: Callable[..., openai.OpenAI]
) -> None:
    client = instrument_openai(sync_client())
    with pytest.raises(openai.BadRequestError, match="not found"):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "please fail"}])
    (span,) = agenttrace.trace.find("llm")
    assert span.status == "error" and span.error is not None
    assert span.error["type"] == "openai.BadRequestError" and "not found" in span.error["message"]


def test_streams_are_assembled_sync_and_async(
    agenttrace: Recorder, base_url: str, sync_client: Callable[..., openai.OpenAI]
) -> None:
    client = instrument_openai(sync_client())
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    )
    assert text == "Sunny."
    aclient = instrument_openai(openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0))

    async def consume() -> str:
        out = []
        async for chunk in await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            out.append(chunk.choices[0].delta.content or "")
        await aclient.close()
        return "".join(out)

    assert asyncio.run(consume()) == "Sunny."
    for span in agenttrace.trace.find("llm"):
        assert span.output == {"role": "assistant", "content": "Sunny."}
        assert span.attributes["usage"] == {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}
        assert span.attributes["finish_reason"] == "stop" and span.attributes["response_model"] == "m-stream"


def test_messages_are_capped_and_wrapping_is_idempotent(
    agenttrace: Recorder, sync_client: Callable[..., openai.OpenAI]
) -> None:
    client = sync_client()
    assert instrument_openai(instrument_openai(client, max_messages=3)) is client
    many = [{"role": "user", "content": f"m{i}"} for i in range(10)]
    client.chat.completions.create(model="m", messages=many)
    (span,) = agenttrace.trace.find("llm")  # one span: not wrapped twice
    assert span.input["messages"][0] == "…[agenttrace: kept the last 3 of 10 messages]"
    assert [m["content"] for m in span.input["messages"][1:]] == ["m7", "m8", "m9"]


def test_no_recorder_calls_straight_through(sync_client: Callable[..., openai.OpenAI]) -> None:
    client = instrument_openai(sync_client())
    rec = Recorder("idle")
    assert _conversation(client) == "It is sunny in Oslo."
    assert rec.finish().spans == ()


# -- the caller sees exactly what it would unwrapped (an audit of the adapters) -----------------------


def test_messages_and_tools_given_as_generators_are_still_sent(
    agenttrace: Recorder, sync_client: Callable[..., openai.OpenAI]
) -> None:
    client = instrument_openai(sync_client())
    FakeOpenAI.requests.clear()
    client.chat.completions.create(model="m", messages=(m for m in MESSAGES), tools=(t for t in TOOLS))
    (sent,) = FakeOpenAI.requests
    assert sent["messages"] == MESSAGES and len(sent["tools"]) == 1  # before the fix: both empty
    (span,) = agenttrace.trace.find("llm")
    assert span.input == {"messages": MESSAGES, "tools": ["get_weather"]}


def test_streams_are_the_sdks_own_objects_and_close_records_what_came(
    agenttrace: Recorder, base_url: str, sync_client: Callable[..., openai.OpenAI]
) -> None:
    client = instrument_openai(sync_client())
    with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        assert isinstance(stream, openai.Stream)  # before the fix: an agenttrace wrapper class
        first = next(iter(stream))
    assert first.choices[0].delta.content is not None
    aclient = instrument_openai(openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0))

    async def consume() -> bool:
        stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        is_sdk_stream = isinstance(stream, openai.AsyncStream)
        async for _ in stream:
            pass
        await aclient.close()
        return is_sdk_stream

    assert asyncio.run(consume())
    closed_early, consumed = agenttrace.trace.find("llm")
    assert closed_early.end_ns is not None and closed_early.status == "ok"  # ended by close(), not Unfinished
    assert closed_early.attributes["stream_closed_early"] is True  # what came is not the whole answer
    assert consumed.output == {"role": "assistant", "content": "Sunny."}
    assert "stream_closed_early" not in consumed.attributes


def test_a_stream_left_by_an_error_in_the_callers_with_says_it_was_closed_early(
    agenttrace: Recorder, sync_client: Callable[..., openai.OpenAI]
) -> None:
    client = instrument_openai(sync_client())
    with pytest.raises(KeyError, match="caller"):  # the caller's own error passes through unchanged
        with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
            next(iter(stream))
            raise KeyError("caller")
    with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            pass  # read to the end, then closed by with: not early
    interrupted, whole = agenttrace.trace.find("llm")
    assert interrupted.status == "ok" and interrupted.attributes["stream_closed_early"] is True
    assert whole.output == {"role": "assistant", "content": "Sunny."}
    assert "stream_closed_early" not in whole.attributes


def test_raw_responses_are_passed_through_and_their_spans_end(
    agenttrace: Recorder, sync_client: Callable[..., openai.OpenAI], caplog: pytest.LogCaptureFixture
) -> None:
    client = instrument_openai(sync_client())
    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.parse().choices[0].finish_reason == "tool_calls"
    raw_stream = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True)
    assert type(raw_stream).__name__ == "LegacyAPIResponse"  # before the fix: an agenttrace stream wrapper
    assert "".join(c.choices[0].delta.content or "" for c in raw_stream.parse()) == "Sunny."
    spans = agenttrace.trace.find("llm")
    assert len(spans) == 2 and all(s.end_ns is not None and s.status == "ok" for s in spans)
    assert "could not read" not in caplog.text  # before the fix: a warning with a traceback per call


def test_not_given_markers_are_not_recorded_as_values(
    agenttrace: Recorder, sync_client: Callable[..., openai.OpenAI]
) -> None:
    client = instrument_openai(sync_client())
    client.chat.completions.create(model="m", messages=MESSAGES, temperature=openai.NOT_GIVEN, max_tokens=5)
    client.chat.completions.create(model="m", messages=MESSAGES, tools=openai.NOT_GIVEN)  # `tools or NOT_GIVEN`
    client.chat.completions.create(model="m", messages=MESSAGES, tools=openai.omit)
    span, *_ = agenttrace.trace.find("llm")
    assert "temperature" not in span.attributes and span.attributes["max_tokens"] == 5


# -- offline through httpx.MockTransport: streams stopped early, n > 1, Ollama's tool calls, parse --------


def _chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m-mock", "choices": choices}


def _sse(chunks: list[dict[str, Any]]) -> bytes:
    return ("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()


def _stream_of(chunks: list[dict[str, Any]]) -> Callable[[Any], Any]:
    import httpx

    return lambda request: httpx.Response(200, content=_sse(chunks), headers={"content-type": "text/event-stream"})


WORDS = [_chunk([{"index": 0, "delta": {"content": f"w{i} "}}]) for i in range(5)] + [
    _chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
]


@pytest.fixture
def mock_client() -> Iterator[Callable[..., Any]]:
    """Clients over ``httpx.MockTransport`` answering with ``respond(request)``, closed after the test."""
    import httpx

    made: list[Any] = []

    def make(
        respond: Callable[[Any], Any],
        *,
        asynchronous: bool = False,
        base_url: str = "http://fake.local/v1",
        max_messages: int = 50,
    ) -> Any:
        if asynchronous:
            client: Any = openai.AsyncOpenAI(
                api_key="test",
                base_url=base_url,
                max_retries=0,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(respond)),
            )
        else:
            client = openai.OpenAI(
                api_key="test",
                base_url=base_url,
                max_retries=0,
                http_client=httpx.Client(transport=httpx.MockTransport(respond)),
            )
            made.append(client)
        return instrument_openai(client, max_messages=max_messages)

    yield make
    for client in made:
        client.close()


def test_break_out_of_a_stream_ends_the_span_ok_with_what_came(
    agenttrace: Recorder, mock_client: Callable[..., Any]
) -> None:
    client = mock_client(_stream_of(WORDS))

    def agent_step() -> str:
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        seen = []
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
            if len(seen) == 2:
                break
        return "".join(seen)

    assert agent_step() == "w0 w1 "
    with client.chat.completions.stream(model="m", messages=MESSAGES) as events:  # the SDK's stream manager
        for _ in events:
            break
    aclient = mock_client(_stream_of(WORDS), asynchronous=True)

    async def abreak() -> None:
        async for _ in await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            break
        for _ in range(3):  # asyncio finalises the abandoned loop iterator on its next turns
            await asyncio.sleep(0)
        assert agenttrace.trace.find("llm")[-1].end_ns is not None  # ended while the loop still runs
        await aclient.close()

    asyncio.run(abreak())
    spans = agenttrace.trace.find("llm")
    assert len(spans) == 3
    for span in spans:  # before the fix: still open, then "Unfinished" errors without output
        assert span.end_ns is not None and span.status == "ok", span
        assert span.attributes["stream_closed_early"] is True
    assert spans[0].output == {"role": "assistant", "content": "w0 w1 "}
    assert spans[2].output == {"role": "assistant", "content": "w0 "}


def test_a_stream_peeked_at_or_left_and_read_on_is_recorded_whole(
    agenttrace: Recorder, mock_client: Callable[..., Any]
) -> None:
    """Leaving a loop is no end: the caller may read on (found by a review: it was cut short)."""
    client = mock_client(_stream_of(WORDS))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    first = next(iter(stream))  # peek
    rest = [chunk.choices[0].delta.content for chunk in stream]
    assert [first.choices[0].delta.content, *rest][:5] == ["w0 ", "w1 ", "w2 ", "w3 ", "w4 "]
    again = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    for _ in again:
        break
    for _ in again:  # read on after a break
        pass
    aclient = mock_client(_stream_of(WORDS), asynchronous=True)

    async def peek_then_read() -> None:
        astream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for _ in astream:
            break
        for _ in range(5):  # asyncio finalises the left loop's iterator meanwhile
            await asyncio.sleep(0)
        assert len([chunk async for chunk in astream]) >= 4
        await aclient.close()

    asyncio.run(peek_then_read())
    spans = agenttrace.trace.find("llm")
    assert len(spans) == 3
    for span in spans:
        assert span.status == "ok" and "stream_closed_early" not in span.attributes, span
        assert span.output == {"role": "assistant", "content": "w0 w1 w2 w3 w4 "}


def test_a_stream_left_and_kept_unread_stays_ended_when_it_was_left(mock_client: Callable[..., Any]) -> None:
    import time

    client = mock_client(_stream_of(WORDS))
    rec = Recorder("t")
    with rec.activate():
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        for _ in stream:
            break
        left = rec._order[-1]
        assert left.ended and left.attributes["stream_closed_early"] is True
        ended_at = left.end_ns
        time.sleep(0.01)  # the stream object is still alive, unread
    trace = rec.finish()
    (span,) = trace.find("llm")
    assert span.status == "ok" and span.attributes["stream_closed_early"] is True
    assert span.output == {"role": "assistant", "content": "w0 "} and span.end_ns == ended_at
    del stream


def test_a_stream_read_to_the_end_through_the_manager_is_not_closed_early(
    agenttrace: Recorder, mock_client: Callable[..., Any]
) -> None:
    client = mock_client(_stream_of(WORDS))
    with client.chat.completions.stream(model="m", messages=MESSAGES) as events:
        final = events.get_final_completion()
    assert final.choices[0].message.content == "w0 w1 w2 w3 w4 "
    (span,) = agenttrace.trace.find("llm")
    assert span.output == {"role": "assistant", "content": "w0 w1 w2 w3 w4 "} and span.status == "ok"
    assert "stream_closed_early" not in span.attributes and span.attributes["finish_reason"] == "stop"


def test_streamed_choices_past_the_first_are_not_merged_into_it(
    agenttrace: Recorder, mock_client: Callable[..., Any]
) -> None:
    chunks = [
        _chunk([{"index": 0, "delta": {"content": "Hello "}}, {"index": 1, "delta": {"content": "Bonjour "}}]),
        _chunk([{"index": 0, "delta": {"content": "world"}, "finish_reason": "stop"}]),
        _chunk([{"index": 1, "delta": {"content": "monde"}, "finish_reason": "length"}]),
    ]
    client = mock_client(_stream_of(chunks))
    for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True, n=2):
        pass
    (span,) = agenttrace.trace.find("llm")
    assert span.output == {"role": "assistant", "content": "Hello world"}  # before: "Hello Bonjour worldmonde"
    assert span.attributes["finish_reason"] == "stop"


def test_streamed_tool_calls_sharing_an_index_with_different_ids_stay_apart(
    agenttrace: Recorder, mock_client: Callable[..., Any]
) -> None:
    def call(call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
        function: dict[str, Any] = {"arguments": arguments}
        if name:
            function["name"] = name
        return {"index": 0, **({"id": call_id, "type": "function"} if call_id else {}), "function": function}

    chunks = [  # Ollama: every call whole at index 0; then an OpenAI-style call split over chunks
        _chunk([{"index": 0, "delta": {"tool_calls": [call("call_a", "get_weather", '{"city": "Oslo"}')]}}]),
        _chunk([{"index": 0, "delta": {"tool_calls": [call("call_b", "get_time", '{"tz": ')]}}]),
        _chunk([{"index": 0, "delta": {"tool_calls": [call(None, None, '"CET"}')]}}]),
        _chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
    ]
    client = mock_client(_stream_of(chunks))
    for _ in client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, stream=True):
        pass
    (span,) = agenttrace.trace.find("llm")
    assert span.attributes["tool_calls"] == ["get_weather", "get_time"]  # before: ["get_weatherget_time"]
    assert span.output["tool_calls"] == [
        {"id": "call_a", "name": "get_weather", "arguments": {"city": "Oslo"}},
        {"id": "call_b", "name": "get_time", "arguments": {"tz": "CET"}},
    ]


def test_max_messages_zero_records_no_message(agenttrace: Recorder, mock_client: Callable[..., Any]) -> None:
    import httpx

    client = mock_client(lambda request: httpx.Response(200, json=TEXT), max_messages=0)
    client.chat.completions.create(model="m", messages=MESSAGES)
    (span,) = agenttrace.trace.find("llm")
    assert span.input == {"messages": ["…[agenttrace: kept the last 0 of 2 messages]"]}  # before: both messages


def test_parse_is_recorded_as_a_chat_completion(agenttrace: Recorder, mock_client: Callable[..., Any]) -> None:
    import httpx
    from pydantic import BaseModel

    class City(BaseModel):
        city: str

    reply = {
        **TEXT,
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": '{"city": "Oslo"}'}}
        ],
    }
    client = mock_client(lambda request: httpx.Response(200, json=reply))
    parsed = client.chat.completions.parse(model="m", messages=MESSAGES, response_format=City)
    assert parsed.choices[0].message.parsed == City(city="Oslo")
    aclient = mock_client(lambda request: httpx.Response(200, json=reply), asynchronous=True)

    async def aparse() -> Any:
        result = await aclient.chat.completions.parse(model="m", messages=MESSAGES, response_format=City)
        await aclient.close()
        return result.choices[0].message.parsed

    assert asyncio.run(aparse()) == City(city="Oslo")
    spans = agenttrace.trace.find("llm")
    assert len(spans) == 2  # before the fix: none
    for span in spans:
        assert span.status == "ok" and span.input["messages"] == MESSAGES
        assert span.output["content"] == '{"city": "Oslo"}' and span.output["parsed"] == {"city": "Oslo"}
        assert span.attributes["usage"]["input_tokens"] == 60


def test_secrets_in_the_base_url_query_are_redacted(agenttrace: Recorder, mock_client: Callable[..., Any]) -> None:
    import httpx

    for query in ("api-key=azure-SECRET-value-123", "access_token=oauth-SECRET-value-123"):
        client = mock_client(lambda request: httpx.Response(200, json=TEXT), base_url=f"http://gw.local/v1?{query}")
        client.chat.completions.create(model="m", messages=MESSAGES)
    for span in agenttrace.trace.find("llm"):
        assert "SECRET" not in span.attributes["base_url"] and "[REDACTED]" in span.attributes["base_url"]
