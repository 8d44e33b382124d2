"""Cleaning values that fight back: mocks, proxies, raising ``__getattr__``/``__hash__``/``__class__``.

Cleaning never raises and never calls into a mock (its ``mock_calls`` are the user's assertions);
what it cannot read it records as text, secrets still redacted.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any
from unittest import mock

import pytest

import pytest_agenttrace as at
from pytest_agenttrace import sanitize
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.sanitize import DEFAULT_LIMITS, REDACTED, Limits, clean

SECRET = "sk-proj-abcdefghijklmnopqrstuvwx"


class UnboundProxy:
    """Like werkzeug's LocalProxy outside its context: every attribute it does not have raises RuntimeError."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("Working outside of application context.")

    def __repr__(self) -> str:
        return f"<UnboundProxy key={SECRET}>"


class LyingClass:
    """An object whose ``__class__`` cannot be read (a proxy whose target is gone)."""

    @property
    def __class__(self) -> type:
        raise RuntimeError("target gone")

    def __repr__(self) -> str:
        return "<LyingClass>"


class UnreadableMapping(dict[str, Any]):
    """A mapping whose items cannot be read; its repr would show a secret under a secret key."""

    def items(self) -> Any:
        raise RuntimeError("closed")


class BadHash:
    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __repr__(self) -> str:
        return "BadHash"


class RehashFails:
    """A key whose hash works once (when it is put in the dict) and raises after."""

    def __init__(self) -> None:
        self.hashed = 0

    def __hash__(self) -> int:
        self.hashed += 1
        if self.hashed > 1:
            raise RuntimeError("hash")
        return 1

    def __eq__(self, other: object) -> bool:
        return other is self

    def __str__(self) -> str:
        return "rehash"


# -- 4. mocks are never asked anything ------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [mock.Mock, mock.MagicMock, mock.NonCallableMock, mock.NonCallableMagicMock, mock.AsyncMock],
)
def test_a_mock_is_recorded_by_its_repr_and_not_called(make: Any) -> None:
    value = make(name="client")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an AsyncMock called and never awaited would warn
        assert clean(value) == f"<{make.__name__} name='client'>"  # no id: it changes every run
        assert clean({"client": value, "nested": [value]}) == {
            "client": f"<{make.__name__} name='client'>",
            "nested": [f"<{make.__name__} name='client'>"],
        }
        gc.collect()
    assert value.mock_calls == [] and value.method_calls == []


@pytest.mark.parametrize("spec", [dict, list, str, int])
def test_a_mock_with_a_spec_is_not_read_as_what_it_claims_to_be(spec: type) -> None:
    value = mock.MagicMock(spec=spec)
    assert isinstance(value, spec)  # what the mock claims
    text = clean(value)
    assert text == f"<MagicMock spec='{spec.__name__}'>"
    assert clean(value, Limits(max_depth=0)).endswith(text)  # past the depth limit too
    assert value.mock_calls == []


def test_a_mock_as_a_key_is_not_asked_for_its_str() -> None:
    key, text_key = mock.MagicMock(), mock.MagicMock(spec=str)
    value = {key: 1, text_key: 2}  # (putting a MagicMock in a dict records its __hash__)
    calls = [list(key.mock_calls), list(text_key.mock_calls)]
    out = clean(value)
    assert len(out) == 2 and all(k.startswith("<MagicMock") for k in out)
    assert [key.mock_calls, text_key.mock_calls] == calls


def test_recording_a_mock_leaves_its_calls_as_the_agent_made_them() -> None:
    @at.traced(kind="tool")
    def search(client: Any, q: str) -> Any:
        return client.search(q)

    client = mock.Mock()
    rec = Recorder("t")
    with rec:
        search(client, "x")
        assert len(rec.trace.spans) == 1  # a mid-run read cleans the recorded values
    rec.finish()
    assert client.mock_calls == [mock.call.search("x")]


def test_model_dump_is_called_only_when_the_class_defines_it() -> None:
    asked: list[str] = []

    class Dynamic:
        """Answers every attribute with a method, as a mock or an RPC stub does."""

        def __getattr__(self, name: str) -> Any:
            asked.append(name)
            return lambda: {"password": "x"}

        def __repr__(self) -> str:
            return "<Dynamic>"

    class Dumps:
        def model_dump(self) -> dict[str, Any]:
            return {"a": 1, "password": "hunter2"}

    class DumpsToo(Dumps):
        pass

    assert clean(Dynamic()) == "<Dynamic>" and asked == []
    assert clean(DumpsToo()) == {"a": 1, "password": REDACTED}


def test_pydantic_models_are_still_recorded_as_their_data() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Settings(pydantic.BaseModel):
        model: str
        api_key: str

    assert clean({"settings": Settings(model="m", api_key=SECRET)}) == {"settings": {"model": "m", "api_key": REDACTED}}


# -- 5. values whose own code raises -------------------------------------------------------------


def test_an_object_whose_getattr_raises_is_recorded_as_its_repr_redacted() -> None:
    assert clean(UnboundProxy()) == f"<UnboundProxy key={REDACTED}>"
    assert clean({"req": [UnboundProxy()]}) == {"req": [f"<UnboundProxy key={REDACTED}>"]}


def test_recording_an_unbound_proxy_never_raises() -> None:
    @at.traced(kind="tool")
    def handle(req: Any) -> str:
        return "done"

    rec = Recorder("t")
    with rec:
        assert handle(UnboundProxy()) == "done"
        assert len(rec.trace.spans) == 1
    (span,) = rec.finish().spans
    assert span.input == {"req": f"<UnboundProxy key={REDACTED}>"}


def test_an_object_whose_class_cannot_be_read_is_recorded_as_text() -> None:
    assert clean(LyingClass()) == "<unrepresentable LyingClass>"
    assert clean({LyingClass(): 1}) == {"<LyingClass>": 1}
    assert clean([LyingClass()], Limits(max_depth=1)) == [
        "…[agenttrace: nested deeper than 1] <unrepresentable LyingClass>"
    ]


def test_a_mapping_that_cannot_be_read_shows_no_secret() -> None:
    value = UnreadableMapping(password=SECRET, api_key=SECRET)
    out = clean({"conn": value})
    assert out == {"conn": "<unrepresentable UnreadableMapping>"}
    assert SECRET not in repr(out)


def test_a_key_whose_str_fails_and_class_lies_is_recorded() -> None:
    class Key:
        @property
        def __class__(self) -> type:
            return str  # claims to be text...

        def __str__(self) -> str:
            raise RuntimeError("no text")  # ...but has none

        def __repr__(self) -> str:
            return "<Key>"

    assert clean({Key(): 1}) == {"<unrepresentable Key>": 1}


def test_values_whose_hash_raises_are_cleaned() -> None:
    assert clean({"model": BadHash()}) == {"model": "BadHash"}
    assert sanitize._clean_values({"model": BadHash()}) == {"model": "BadHash"}
    assert sanitize._clean_and_learn({"model": BadHash()}, DEFAULT_LIMITS) == {"model": "BadHash"}


def test_a_key_whose_hash_fails_when_asked_again_is_cleaned() -> None:
    key = RehashFails()
    assert sanitize._clean_and_learn({key: 1}, DEFAULT_LIMITS) == {"rehash": 1}
    assert clean({RehashFails(): [1]}) == {"rehash": [1]}
