"""--max-runs is a hard cap: no strategy makes more runs than the budget, its end checks included."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from pytest_agenttrace.bisect_search import BAD, GOOD, Outcome, bayesian_search, sprt_search


def flaky_bad_end(n: int, fails_every: int) -> tuple[list[int], Callable[[int], Outcome]]:
    """Versions before the last always pass; the last fails once in ``fails_every`` runs."""
    calls: list[int] = []
    counter = itertools.count()

    def evaluate(index: int) -> Outcome:
        calls.append(index)
        if index < n - 1:
            return GOOD
        return BAD if next(counter) % fails_every == fails_every - 1 else GOOD

    return calls, evaluate


@pytest.mark.parametrize("max_runs", [2, 3, 5, 8])
def test_bayesian_search_end_checks_stay_within_max_runs(max_runs: int) -> None:
    calls, evaluate = flaky_bad_end(8, fails_every=10)  # the bad end would be re-run up to 15 times
    result = bayesian_search(8, evaluate, max_runs=max_runs)
    assert len(calls) <= max_runs
    assert result.status == "inconclusive"  # the bad end was not run often enough to call it passing
    assert "budget" in result.reason


def test_bayesian_search_bad_end_that_never_fails_within_its_end_runs_is_still_not_bracketed() -> None:
    calls, evaluate = flaky_bad_end(8, fails_every=1000)
    result = bayesian_search(8, evaluate, max_runs=100)
    assert result.status == "not_bracketed" and len(calls) == 16  # 15 bad-end runs, 1 good-end run


@pytest.mark.parametrize("max_runs", [2, 3, 5, 7])
def test_sprt_search_end_checks_stay_within_max_runs(max_runs: int) -> None:
    calls, evaluate = flaky_bad_end(8, fails_every=2)
    sprt_search(8, evaluate, max_runs=max_runs)
    assert len(calls) <= max_runs
