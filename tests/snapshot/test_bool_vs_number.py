"""The snapshot assertion and `agenttrace diff` agree on what is a change: `true` against `1` is one."""

from __future__ import annotations

import pytest

TEST = """
import os
from pytest_agenttrace import Span, Trace


def test_flag(agenttrace_snapshot):
    value = {"true": True, "one": 1, "float": 1.0}[os.environ["FLAG"]]
    span = Span(span_id="1", parent_id=None, kind="tool", name="check", output={"valid": value})
    assert Trace(trace_id="1", name="x", started_at="t", spans=(span,)) == agenttrace_snapshot
"""


def test_a_golden_true_does_not_match_a_recorded_1(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_flag=TEST)
    monkeypatch.setenv("FLAG", "true")
    pytester.runpytest("--snapshot-update", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    monkeypatch.setenv("FLAG", "one")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*output.valid: true -> 1*"])


def test_a_golden_1_matches_a_recorded_1_0(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same number written two ways is the same, for the assertion as for `agenttrace diff`.
    pytester.makepyfile(test_flag=TEST)
    monkeypatch.setenv("FLAG", "one")
    pytester.runpytest("--snapshot-update", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    monkeypatch.setenv("FLAG", "float")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
