"""An integer too long for Python to write is a marker in the golden, as in a trace file, not a crash."""

from __future__ import annotations

import sys

import pytest

from pytest_agenttrace.snapfile import dumps, loads


def _tree(value: object) -> dict[str, object]:
    return {"format": 1, "level": "io", "versions": {}, "spans": [{"kind": "tool", "name": "t", "output": value}]}


@pytest.mark.parametrize("sign", [1, -1])
def test_an_integer_past_the_digit_limit_is_written_as_a_marker(sign: int) -> None:
    digits = sys.get_int_max_str_digits() + 1
    text = dumps(_tree({"n": sign * 10 ** (digits - 1), "small": 7, "flag": True}))
    minus = "-" if sign < 0 else ""
    node = loads(text)["spans"][0]
    assert node["output"] == {
        "n": f"…[agenttrace: integer of {digits} digits, {minus}1000000000…]",
        "small": 7,
        "flag": True,
    }


def test_an_integer_at_the_limit_is_written_as_it_is() -> None:
    value = 10 ** (sys.get_int_max_str_digits() - 1)
    assert loads(dumps(_tree([value])))["spans"][0]["output"] == [value]


def test_a_cycle_is_cut_not_looped_over() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    assert "nested deeper than" in dumps(_tree(cycle))


LONG = """
from pytest_agenttrace import Span, Trace


def test_long(agenttrace_snapshot):
    span = Span(span_id="1", parent_id=None, kind="tool", name="calc", output={"n": 10 ** 5000})
    assert Trace(trace_id="1", name="x", started_at="t", spans=(span,)) == agenttrace_snapshot
"""


def test_a_trace_holding_a_long_integer_is_snapshotted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_long=LONG)
    pytester.runpytest("--snapshot-update", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize("options", [{"parallel": ("agent[name=team]",)}, {"overlap_parallel": True}])
def test_order_insensitive_siblings_holding_a_long_integer_are_normalised(options: dict[str, object]) -> None:
    # The siblings' sort signature is JSON text too: it crashed with ValueError where the golden
    # file already wrote the marker.
    from pytest_agenttrace import Recorder
    from pytest_agenttrace.normalize import NormalizeOptions, normalize

    big = 10 ** sys.get_int_max_str_digits()
    with Recorder("t") as rec, rec.agent("team"):
        for name in ("b", "a"):
            with rec.tool(name) as tool:
                tool.set_attribute("big", big)
    tree = normalize(rec.finish(), NormalizeOptions(**options))  # type: ignore[arg-type]
    (team,) = tree["spans"]
    names = [child["name"] for child in team["children"]]
    assert names == (["a", "b"] if "parallel" in options else ["b", "a"])  # these tools ran one after the other
    assert "integer of" in dumps(tree)
