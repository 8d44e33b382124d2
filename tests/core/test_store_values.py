"""Values at JSON's edges: non-finite numbers, lone surrogates, integers too long to write.

The trace format is strict JSON, whichever parser reads a file: NaN, Infinity and numbers
beyond a float's range are refused with their place; lone-surrogate escapes (valid JSON) are
read.  Writing gives files that loading reads back: non-finite floats as null, lone surrogates
as their escapes, integers past Python's digit limit as a marker string.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

import pytest_agenttrace as at
from pytest_agenttrace import store
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.store import dump_bytes, load_trace, save_trace

#: 20 digits: the file is read by the standard library, not by orjson (store._LONG_DIGITS).
BIG = "12345678901234567890"


def _file(tmp_path: Path, value: str, *, long_digits: bool) -> tuple[Path, int, int]:
    """A trace file whose span input is the JSON text ``value``; its path and the line and column of the value."""
    span = {
        **dict.fromkeys(("parent_id", "agent", "scope", "error", "input", "output", "context")),
        **{"span_id": "1", "kind": "tool", "name": "t", "scope_path": [], "start_ns": 0, "end_ns": 1},
        **{"status": "ok", "attributes": {}, "versions": {}, "links": [], "events": []},
    }
    span["input"] = "PLACEHOLDER"
    data = {"format_version": 1, "trace_id": "t", "name": "n", "started_at": "s", "metadata": {}, "versions": {}}
    data["spans"] = [span]
    if long_digits:
        data["metadata"] = {"big": "BIG"}
    text = json.dumps(data, indent=2).replace('"PLACEHOLDER"', value).replace('"BIG"', BIG)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"input"' in row)
    column = text.splitlines()[line - 1].index(value) + 1
    path = tmp_path / "t.json"
    path.write_text(text, encoding="utf-8")
    return path, line, column


@pytest.fixture(params=[False, True], ids=["orjson-path", "stdlib-path"])
def long_digits(request: pytest.FixtureRequest) -> bool:
    flag: bool = request.param
    return flag


@pytest.mark.parametrize(
    ("value", "shown", "offset"),
    [
        pytest.param('{"q": NaN, "s": "\\ud800"}', "NaN", 6, id="nan"),
        pytest.param("[1, Infinity]", "Infinity", 4, id="infinity"),
        pytest.param('{"q": -Infinity}', "-Infinity", 6, id="minus-infinity"),
        pytest.param("[1e400]", "1e400", 1, id="1e400"),
        pytest.param("[" + "9" * 400 + ", 1e999]", "1e999", 403, id="after-a-long-integer"),  # an int, not inf
        pytest.param("-1.5E+999", "-1.5E+999", 0, id="-1.5E+999"),
        pytest.param("1" + "0" * 400 + ".0", "100000000000000000000000…(403 characters)", 0, id="403-characters"),
    ],
)
def test_non_finite_numbers_are_refused_with_their_place_by_either_parser(
    tmp_path: Path, long_digits: bool, value: str, shown: str, offset: int
) -> None:
    path, line, column = _file(tmp_path, value, long_digits=long_digits)
    with pytest.raises(at.TraceFileError, match="is not a finite number: trace files are strict JSON") as info:
        load_trace(path)
    assert f": {shown} is not a finite number" in str(info.value)
    assert (info.value.line, info.value.column) == (line, column + offset)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("value", ['"NaN"', '"x Infinity 1e400 \\"NaN"', "1.5e-400", "[0.1, -0.0, 1e308]"])
def test_the_names_in_strings_and_finite_numbers_load_with_either_parser(
    tmp_path: Path, long_digits: bool, value: str
) -> None:
    path, _, _ = _file(tmp_path, value, long_digits=long_digits)
    assert load_trace(path).spans[0].input == json.loads(value)


def test_lone_surrogate_escapes_load_with_either_parser(tmp_path: Path, long_digits: bool) -> None:
    # Valid JSON (older recorders wrote them): orjson refuses them, the standard library reads them.
    path, _, _ = _file(tmp_path, '{"s": "half \\ud83d", "k": "\\udfff"}', long_digits=long_digits)
    assert load_trace(path).spans[0].input == {"s": "half \ud83d", "k": "\udfff"}


def test_without_orjson_non_finite_numbers_are_refused_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_orjson", None)
    path, line, column = _file(tmp_path, "[NaN]", long_digits=False)
    with pytest.raises(at.TraceFileError, match="NaN is not a finite number") as info:
        load_trace(path)
    assert (info.value.line, info.value.column) == (line, column + 1)


def _hand_built(value: Any) -> Trace:
    span = Span(span_id="1", parent_id=None, kind="tool", name="t", input=value)
    return Trace(trace_id="t", name="n", started_at="s", spans=(span,))


VALUES = [
    pytest.param(
        {"q": math.nan, "r": [math.inf, -math.inf], "x": 1.5}, {"q": None, "r": [None, None], "x": 1.5}, id="non-finite"
    ),
    pytest.param({"s": "half \ud83d", "k": "\udfff é"}, {"s": "half \ud83d", "k": "\udfff é"}, id="lone-surrogates"),
    pytest.param(
        {"nan": math.nan, "s": "\ud800", "big": 2**70 + 1},
        {"nan": None, "s": "\ud800", "big": 2**70 + 1},
        id="all-three",
    ),
]


@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "stdlib"])
@pytest.mark.parametrize(("value", "loaded"), VALUES)
def test_a_hand_built_trace_is_written_as_a_file_that_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool, value: Any, loaded: Any
) -> None:
    if not fast:
        monkeypatch.setattr(store, "_orjson", None)
    path = save_trace(_hand_built(value), tmp_path / "t.json")
    path.read_bytes().decode("utf-8")  # strict UTF-8: a lone surrogate is written as its escape
    assert b"NaN" not in path.read_bytes() and b"Infinity" not in path.read_bytes()
    monkeypatch.undo()  # read with the fast parser where there is one
    assert load_trace(path).spans[0].input == loaded


def test_dump_bytes_writes_strict_json_with_either_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"nan": math.nan, "list": [math.inf], "s": "\ud800 é"}
    fast = dump_bytes(data)
    monkeypatch.setattr(store, "_orjson", None)
    slow = dump_bytes(data)
    expected = {"nan": None, "list": [None], "s": "\ud800 é"}
    assert json.loads(fast.decode("utf-8")) == json.loads(slow.decode("utf-8")) == expected


@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "stdlib"])
def test_an_integer_longer_than_python_writes_becomes_a_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    if not fast:
        monkeypatch.setattr(store, "_orjson", None)
    limit = sys.get_int_max_str_digits()
    assert limit, "the test needs Python's limit on integer digits"
    huge = -(1234567890123 * 10 ** (limit + 10))
    value = {"n": huge, "list": [10 ** (limit + 1)], "ok": 2**70 + 1, huge: "key"}
    path = save_trace(_hand_built(value), tmp_path / "t.json")
    loaded = load_trace(path).spans[0].input
    marker = f"…[agenttrace: integer of {limit + 23} digits, -1234567890…]"
    assert loaded == {
        "n": marker,
        "list": [f"…[agenttrace: integer of {limit + 2} digits, 1000000000…]"],
        "ok": 2**70 + 1,
        marker: "key",
    }


@pytest.mark.parametrize("exponent", [0, 1, -1])
def test_the_marker_counts_digits_exactly_at_powers_of_ten(exponent: int) -> None:
    value = 10**1000 + exponent
    with_limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        text = str(value)
    finally:
        sys.set_int_max_str_digits(with_limit)
    assert store._long_integer_marker(value) == f"…[agenttrace: integer of {len(text)} digits, {text[:10]}…]"


def test_a_recorded_integer_too_long_to_write_still_leaves_a_trace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest_agenttrace as at

        def test_run(agenttrace):
            with at.agent("a"), at.tool("x", input={"n": 10**5000}):
                pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--agenttrace-save")
    result.assert_outcomes(passed=1)
    (path,) = (pytester.path / ".agenttrace").glob("*.json")
    trace = load_trace(path)
    assert trace.spans[1].input == {"n": "…[agenttrace: integer of 5001 digits, 1000000000…]"}
