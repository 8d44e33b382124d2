"""Bisect simulation: how often each search finds the right version, and with how many runs.

64 versions, the first bad one drawn at random per trial; a version before
it fails with ``p_good`` and from it on with ``p_bad``.  Every trial is
seeded, so the numbers are reproducible.  Strategies side by side:

* ``linear``      check both ends, then run versions from the good end up; the first failure wins
* ``binary``      plain binary search, one run per step (what ``git bisect`` does)
* ``binary x5``   binary search running every probe 5 times (``--repeat 5``)
* ``sprt``        binary search with a sequential probability ratio test per probe
* ``bayes``       Bayesian change-point search (``--confidence``), at 0.90 and 0.95
* ``known rates`` not a strategy: ``bayes 0.95`` told the true failure rates (what learning them costs)

Goals (issue 7): deterministic <= 8 runs; 10%->90% >= 97% right in <= 20 runs
on average; 20%->80% >= 95% in <= 35; 0%->30% >= 95% in <= 45.  ``--extra``
adds rate pairs without a goal (5%->95%, 0%->50%, 30%->70%, 10%->50%), to check that
nothing is tuned to the four goal settings only.  ``--step-cost`` prints the
CPU time of one step choice of the Bayesian search (posterior + expected
entropy of every candidate) for several numbers of versions instead.

Run: ``python benchmarks/bench_bisect.py [--trials 300] [--versions 64] [--jobs N] [--extra] [--step-cost]``
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_agenttrace.bisect_search import (
    BAD,
    GOOD,
    Outcome,
    RatePrior,
    SearchResult,
    Tally,
    bayesian_search,
    binary_search,
    default_budget,
    next_probe,
    sprt_search,
)

#: (label, p_good, p_bad, goal: least share right, most mean runs)
SETTINGS = [
    ("deterministic", 0.0, 1.0, (1.0, 8.0)),
    ("10% -> 90%", 0.1, 0.9, (0.97, 20.0)),
    ("20% -> 80%", 0.2, 0.8, (0.95, 35.0)),
    ("0% -> 30%", 0.0, 0.3, (0.95, 45.0)),
]
#: Rate pairs without a goal (``--extra``).
EXTRA = [
    ("5% -> 95%", 0.05, 0.95, None),
    ("0% -> 50%", 0.0, 0.5, None),
    ("30% -> 70%", 0.3, 0.7, None),
    ("10% -> 50%", 0.1, 0.5, None),
]


def linear_scan(n: int, evaluate: Callable[[int], Outcome]) -> SearchResult:
    """Both ends, then every version from the good end up until one fails."""
    tally = Tally(n)
    for end in (0, n - 1):
        tally.record(end, evaluate(end))
    first_bad = n - 1
    for index in range(1, n - 1):
        outcome = evaluate(index)
        tally.record(index, outcome)
        if outcome == BAD:
            first_bad = index
            break
    return SearchResult("found", first_bad, first_bad - 1, None, tuple(tally.runs), tally.evidence)


STRATEGIES: dict[str, Callable[[int, Callable[[int], Outcome]], SearchResult]] = {
    "linear": linear_scan,
    "binary": binary_search,
    "binary x5": lambda n, ev: binary_search(n, ev, repeat=5),
    "sprt 0.95": lambda n, ev: sprt_search(n, ev, confidence=0.95),
    "bayes 0.90": lambda n, ev: bayesian_search(n, ev, confidence=0.90),
    "bayes 0.95": lambda n, ev: bayesian_search(n, ev, confidence=0.95),
}
#: Not a strategy: ``bayes 0.95`` told the simulated failure rates, to show what learning them costs.
KNOWN = "known rates"
NAMES = [*STRATEGIES, KNOWN]


def known_rates(p_good: float, p_bad: float) -> Callable[[int, Callable[[int], Outcome]], SearchResult]:
    """The Bayesian search with a two-point rate grid: the true rates (0 and 1 nudged inside)."""
    prior = RatePrior(points=[max(p_good, 1e-6), min(p_bad, 1 - 1e-6)])
    return lambda n, ev: bayesian_search(n, ev, confidence=0.95, prior=prior)


def simulate(job: tuple[str, float, float, int, int]) -> tuple[str, float, float, float, int, float]:
    """Accuracy, mean runs, 95th percentile and most runs, CPU seconds for one strategy and setting."""
    strategy, p_good, p_bad, n, trials = job
    search = known_rates(p_good, p_bad) if strategy == KNOWN else STRATEGIES[strategy]
    right, runs = 0, []
    started = time.process_time()
    for seed in range(trials):
        rng = random.Random(seed)
        first_bad = rng.randint(1, n - 1)

        def evaluate(index: int, rng: random.Random = rng, first_bad: int = first_bad) -> Outcome:
            return BAD if rng.random() < (p_bad if index >= first_bad else p_good) else GOOD

        result = search(n, evaluate)
        right += result.first_bad == first_bad
        runs.append(result.total_runs)
    runs.sort()
    p95 = runs[min(len(runs) - 1, int(0.95 * len(runs)))]
    return strategy, right / trials, sum(runs) / trials, p95, max(runs), time.process_time() - started


def step_cost(repeats: int = 5) -> None:
    """CPU time of one step choice (posterior + expected entropy of every version), best of ``repeats``.

    Two states per size: mid-search (a 20% -> 80% search run for up to 60
    steps) and the worst case for the posterior, every version run once (the
    cost grows with the number of versions that have runs, not with ``n``).
    """
    print(f"bayes step choice (posterior + expected entropy of every candidate), CPU ms, best of {repeats}")
    for n in (32, 64, 128, 256, 512):
        rng = random.Random(n)
        first_bad = rng.randint(1, n - 1)
        mid = Tally(n)

        def evaluate(index: int, rng: random.Random = rng, first_bad: int = first_bad, mid: Tally = mid) -> Outcome:
            outcome = BAD if rng.random() < (0.8 if index >= first_bad else 0.2) else GOOD
            mid.record(index, outcome)
            return outcome

        bayesian_search(n, evaluate, confidence=0.999, max_runs=60)
        spread = Tally(n)
        for index in range(n):
            spread.record(index, BAD if rng.random() < (0.8 if index >= first_bad else 0.2) else GOOD)
        cells = []
        for tally in (mid, spread):
            best = math.inf
            for _ in range(repeats):
                prior = RatePrior()  # a fresh one: nothing cached from the previous repetition
                started = time.process_time()
                next_probe(n, tally, prior)
                best = min(best, time.process_time() - started)
            tested = sum(1 for e in tally.evidence.values() if e.tested)
            cells.append(f"{best * 1000:6.2f} ms ({len(tally.runs):>3} runs on {tested:>3} versions)")
        print(f"  {n:>4} versions: mid-search {cells[0]}, every version run once {cells[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--versions", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--extra", action="store_true", help="also rate pairs without a goal")
    parser.add_argument("--step-cost", action="store_true", help="CPU time of one Bayesian step choice")
    args = parser.parse_args()
    if args.step_cost:
        step_cost()
        return
    n = args.versions
    settings = SETTINGS + (EXTRA if args.extra else [])
    print(
        f"bisect simulation: {n} versions, {args.trials} seeded trials per cell, "
        f"default noisy budget {default_budget(n)} runs"
    )
    jobs = [(s, pg, pb, n, args.trials) for _, pg, pb, _ in settings for s in NAMES]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(simulate, jobs))
    cells = iter(results)
    for label, _, _, goal in settings:
        wanted = f"goal: >= {goal[0]:.0%} right in <= {goal[1]:g} runs on average" if goal else "no goal"
        print(f"\n{label}  ({wanted})")
        print(f"  {'strategy':<11} {'right':>7} {'mean runs':>10} {'p95 runs':>9} {'max':>5} {'cpu s':>7}  goal")
        for _ in NAMES:
            strategy, accuracy, mean, p95, worst, seconds = next(cells)
            met = "-" if goal is None else "met" if accuracy >= goal[0] and mean <= goal[1] else "not met"
            print(f"  {strategy:<11} {accuracy:>7.1%} {mean:>10.1f} {p95:>9.0f} {worst:>5} {seconds:>7.1f}  {met}")


if __name__ == "__main__":
    main()
