"""Search algorithms for ``agenttrace bisect``: where in an ordered list did it break?

The versions are indices ``0 .. n-1``; ``0`` is the known-good end and
``n-1`` the known-bad end.  An *evaluation* runs one version once and returns
``"good"``, ``"bad"`` or ``"skip"`` (the version cannot be tested, like
``git bisect skip``).  The answer is the *first bad* index ``k`` (``1 <= k <= n-1``):
versions before ``k`` behave like the good end, ``k`` and later like the bad end.

Three strategies, one result type (:class:`SearchResult`):

``binary_search``
    Deterministic bisection, what ``git bisect`` does: both ends are checked
    once, then the midpoint of the open interval is run.  At most
    ``ceil(log2(n - 1)) + 2`` evaluations when nothing is skipped.  A skipped
    midpoint is replaced by the nearest untested version inside the interval;
    when everything inside is skipped the result is ``ambiguous`` and names the
    candidates.  With ``repeat > 1`` every probe is run ``repeat`` times; the
    good end must pass at least once and the bad end fail at least once, and a
    version in between is bad when its failure fraction is nearer the bad
    end's than the good end's.

``bayesian_search`` (the default for flaky agents)
    A change-point model over the ordered versions.  Hypothesis ``k`` says the
    failure rate is ``p_good`` before ``k`` and ``p_bad`` from ``k`` on, with
    ``p_good < p_bad``; both rates are unknown and integrated out exactly on a
    grid (:class:`RatePrior`: Beta(½, 3) for ``p_good`` -- good versions rarely
    fail --, Beta(½, ½) for ``p_bad``), so every run of every version left of
    ``k`` pools into ``p_good`` and every run right of it into ``p_bad``;
    hypothesis ``none`` says all versions share one rate (the ends do not
    bracket a regression, prior 0.02).  After each run the posterior over the
    hypotheses is updated exactly; the next version to run is the one whose
    outcome has the largest expected reduction of the entropy of the
    change-point posterior (re-running an end is allowed: it sharpens the
    failure-rate estimates).  It stops when one hypothesis (or a group of
    hypotheses that only skipped versions separate) reaches the requested
    posterior probability, or when the run budget is spent (``inconclusive``,
    with the best guess and the confidence reached).

``sprt_search``
    Bisection in which every probe is decided by a sequential probability
    ratio test between the good and the bad end's failure rates (estimated
    from re-runs of both ends).  Simpler, usually needs more runs.

All strategies take an ``evaluate(index) -> Outcome`` callable and never call
it for a version they already know to be untestable.  :func:`next_probe` is
one step choice of the Bayesian search on its own (the benchmark times it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "BAD",
    "GOOD",
    "SKIP",
    "Evidence",
    "Outcome",
    "Posterior",
    "RatePrior",
    "SearchResult",
    "Status",
    "Tally",
    "bayesian_search",
    "binary_search",
    "default_budget",
    "from_evidence",
    "next_probe",
    "posterior",
    "sprt_search",
]

Outcome = Literal["good", "bad", "skip"]
Status = Literal["found", "not_bracketed", "ambiguous", "inconclusive"]
GOOD: Final[Outcome] = "good"
BAD: Final[Outcome] = "bad"
SKIP: Final[Outcome] = "skip"

Evaluate = Callable[[int], Outcome]

#: Prior probability that the ends do not bracket a regression at all.
DEFAULT_NULL_PRIOR: Final = 0.02


@dataclass
class Evidence:
    """What the runs of one version showed."""

    runs: int = 0
    passes: int = 0
    failures: int = 0
    skips: int = 0

    @property
    def tested(self) -> int:
        """Runs with a pass/fail outcome."""
        return self.passes + self.failures

    def add(self, outcome: Outcome) -> None:
        """Count one more run."""
        self.runs += 1
        if outcome == GOOD:
            self.passes += 1
        elif outcome == BAD:
            self.failures += 1
        else:
            self.skips += 1


@dataclass
class Tally:
    """Every run so far, in order, with per-version evidence."""

    n: int
    runs: list[tuple[int, Outcome]] = field(default_factory=list)
    evidence: dict[int, Evidence] = field(default_factory=dict)

    def record(self, index: int, outcome: Outcome) -> None:
        """Record one run of version ``index``."""
        self.runs.append((index, outcome))
        self.evidence.setdefault(index, Evidence()).add(outcome)

    def of(self, index: int) -> Evidence:
        """The evidence for ``index`` (empty if never run)."""
        return self.evidence.get(index, Evidence())

    def skipped(self, index: int) -> bool:
        """A version that skipped once is treated as untestable from then on."""
        return self.of(index).skips > 0


@dataclass(frozen=True)
class SearchResult:
    """The outcome of a search.

    ``status``:
      ``found``         ``first_bad`` is the first bad version, ``last_good`` the one before it;
      ``not_bracketed`` the good end fails or the bad end passes (``reason`` says which);
      ``ambiguous``     skipped versions hide the answer: it is one of ``candidates``;
      ``inconclusive``  the run budget ran out; ``first_bad`` is the best guess.
    ``confidence`` is the posterior probability of the answer (``None`` for the
    deterministic single-run search, which assumes the test is not flaky).
    """

    status: Status
    first_bad: int | None
    last_good: int | None
    confidence: float | None
    runs: tuple[tuple[int, Outcome], ...]
    evidence: dict[int, Evidence]
    candidates: tuple[int, ...] = ()
    reason: str = ""
    good_end_fails: bool = False
    bad_end_passes: bool = False

    @property
    def total_runs(self) -> int:
        """How many evaluations the search made."""
        return len(self.runs)


def default_budget(n: int, strategy: str = "bayes") -> int:
    """The default run budget for ``n`` versions (documented in docs/bisect.md).

    ``binary``: ``ceil(log2(n - 1)) + 2``; the noisy strategies:
    ``25 * ceil(log2(n - 1)) + 10`` (160 runs for 64 versions).
    """
    steps = max(1, math.ceil(math.log2(max(2, n - 1))))
    if strategy == "binary":
        return steps + 2
    return 25 * steps + 10


# --------------------------------------------------------------------------- binary


def binary_search(n: int, evaluate: Evaluate, *, repeat: int = 1) -> SearchResult:
    """Deterministic bisection with endpoint checks (see the module docstring)."""
    _check_n(n)
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    tally = Tally(n)

    def probe(index: int) -> Outcome:
        for _ in range(repeat):
            outcome = evaluate(index)
            tally.record(index, outcome)
            if outcome == SKIP:
                return SKIP
        return _classify(tally, index, repeat)

    good_end, bad_end = probe(0), probe(n - 1)
    if SKIP in (good_end, bad_end):
        which = "good end" if good_end == SKIP else "bad end"
        return _result(tally, "not_bracketed", None, None, None, reason=f"the {which} could not be tested")
    if good_end == BAD or bad_end == GOOD:
        return _not_bracketed(tally, good_end == BAD, bad_end == GOOD, None)
    lo, hi = 0, n - 1  # lo is known good, hi known bad
    known: dict[int, Outcome] = {}
    while True:
        inner = [i for i in range(lo + 1, hi) if not tally.skipped(i)]
        if not inner:
            break
        mid = (lo + hi) // 2
        pick = min(inner, key=lambda i: (abs(i - mid), i))
        known[pick] = probe(pick)
        if known[pick] == GOOD:
            lo = pick
        elif known[pick] == BAD:
            hi = pick
    confidence = posterior(n, tally).group_mass(lo + 1, hi) if repeat > 1 else None
    if hi - lo > 1:
        return _result(
            tally,
            "ambiguous",
            None,
            lo,
            confidence,
            candidates=tuple(range(lo + 1, hi + 1)),
            reason="every version between the last good and the first bad one could not be tested",
        )
    return _result(tally, "found", hi, lo, confidence)


def _classify(tally: Tally, index: int, repeat: int) -> Outcome:
    """Good or bad for a probe of ``repeat`` runs."""
    ev = tally.of(index)
    if repeat == 1:
        return BAD if ev.failures else GOOD
    # A flaky end still brackets a regression: the good end must pass at least once, the bad end fail once.
    if index == 0:
        return GOOD if ev.passes else BAD
    if index == tally.n - 1:
        return BAD if ev.failures else GOOD
    good, bad = tally.of(0), tally.of(tally.n - 1)
    rate = ev.failures / max(1, ev.tested)
    p_good = good.failures / max(1, good.tested)
    p_bad = bad.failures / max(1, bad.tested)
    return BAD if rate > (p_good + p_bad) / 2 else GOOD


# --------------------------------------------------------------------------- posterior


class RatePrior:
    """The prior over the two failure rates, on a grid, with ``p_good < p_bad`` enforced.

    The grid has ``size`` points per rate, the midpoints of equal-mass bins
    of the arcsine (Beta(½, ½)) distribution, so it is dense near 0 and 1
    where flaky tests live (the smallest point is about 0.001 for 24 points).
    The prior of the good rate is Beta(``good``), of the bad rate Beta(``bad``),
    restricted to pairs with ``p_bad > p_good + min_gap`` and renormalised;
    "no regression" uses Beta(``shared``) for its one rate.  The default
    Beta(½, 3) for the good rate says that a version without the regression
    rarely fails: the good end's passes quickly make every failure strong
    evidence of badness (the "good never fails, bad fails 30%" case).

    ``points`` replaces the grid (increasing rates in (0, 1)); two points
    ``(p_good, p_bad)`` tell the search the true rates, which is how the
    benchmark measures what learning the rates costs.

    Every likelihood is exact on the grid; the rates are integrated out
    (summed over the grid), so all runs of all versions left of a change point
    pool into one estimate of ``p_good`` and all runs right of it into one of
    ``p_bad``.
    """

    def __init__(
        self,
        good: tuple[float, float] = (0.5, 3.0),
        bad: tuple[float, float] = (0.5, 0.5),
        shared: tuple[float, float] = (0.5, 0.5),
        *,
        size: int = 24,
        min_gap: float = 0.0,
        points: Sequence[float] | None = None,
    ) -> None:
        if points is None:
            if size < 2:
                raise ValueError("the rate grid needs at least 2 points")
            points = [math.sin(math.pi / 2 * (i + 0.5) / size) ** 2 for i in range(size)]
        elif len(points) < 2 or any(not 0 < x < 1 for x in points) or list(points) != sorted(set(points)):
            raise ValueError("rate grid points must be at least 2 increasing rates strictly between 0 and 1")
        size = len(points)
        self.points = list(points)
        self._log_p = [math.log(x) for x in self.points]
        self._log_q = [math.log1p(-x) for x in self.points]
        self._w_good = self._weights(good)
        self._w_bad = self._weights(bad)
        self._w_shared = self._weights(shared)
        # Pairs allowed for bad rate index m: good rate index i < limit[m].
        self._limit = [sum(1 for x in self.points if x < pm - min_gap) for pm in self.points]
        cum = [0.0]
        for w in self._w_good:
            cum.append(cum[-1] + w)
        norm = sum(self._w_bad[m] * cum[self._limit[m]] for m in range(size))
        if norm <= 0:
            raise ValueError("min_gap leaves no pair of rates with p_good < p_bad")
        self._log_norm = math.log(norm)
        self._cache: dict[tuple[int, int], tuple[float, list[float]]] = {}

    def _weights(self, shape: tuple[float, float]) -> list[float]:
        a, b = shape
        if a <= 0 or b <= 0:
            raise ValueError("Beta prior parameters must be positive")
        # Each grid point stands for an equal-mass bin of Beta(1/2, 1/2): reweight to Beta(a, b).
        raw = [x ** (a - 0.5) * (1 - x) ** (b - 0.5) for x in self.points]
        total = sum(raw)
        return [w / total for w in raw]

    def _scaled(self, failures: int, passes: int) -> tuple[float, list[float]]:
        """``log`` of the largest grid likelihood and every likelihood divided by it."""
        key = (failures, passes)
        got = self._cache.get(key)
        if got is None:
            logs = [failures * lp + passes * lq for lp, lq in zip(self._log_p, self._log_q)]
            top = max(logs)
            got = (top, [math.exp(x - top) for x in logs])
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = got
        return got

    def split(self, good: tuple[int, int], bad: tuple[int, int]) -> tuple[float, float, float]:
        """Log marginal likelihood of (failures, passes) before and from a change point.

        Also returns the predictive failure rates of one more good and one more
        bad run (the posterior means of ``p_good`` and ``p_bad``).
        """
        top_g, lik_g = self._scaled(*good)
        top_b, lik_b = self._scaled(*bad)
        points, w_good, w_bad, limit = self.points, self._w_good, self._w_bad, self._limit
        cum, cum_rate = [0.0], [0.0]
        for i, p in enumerate(points):
            x = w_good[i] * lik_g[i]
            cum.append(cum[-1] + x)
            cum_rate.append(cum_rate[-1] + x * p)
        total = mean_good = mean_bad = 0.0
        for m, p in enumerate(points):
            y = w_bad[m] * lik_b[m]
            c = y * cum[limit[m]]
            total += c
            mean_bad += c * p
            mean_good += y * cum_rate[limit[m]]
        return top_g + top_b + math.log(total) - self._log_norm, mean_good / total, mean_bad / total

    def single(self, failures: int, passes: int) -> tuple[float, float]:
        """Log marginal likelihood of all runs sharing one rate, and its predictive rate."""
        top, lik = self._scaled(failures, passes)
        total = sum(w * x for w, x in zip(self._w_shared, lik))
        rate = sum(w * x * p for w, x, p in zip(self._w_shared, lik, self.points)) / total
        return top + math.log(total), rate


DEFAULT_RATE_PRIOR: Final = RatePrior()


@dataclass(frozen=True)
class Posterior:
    """Posterior over the change point.

    ``probs[k]`` for ``k`` in ``1 .. n-1`` is P(first bad = k); ``probs[0]`` is
    P(no regression between the ends).  ``rate_good[k]`` / ``rate_bad[k]`` are
    the predictive failure rates under hypothesis ``k`` (``[0]``: the shared rate).
    """

    probs: tuple[float, ...]
    rate_good: tuple[float, ...]
    rate_bad: tuple[float, ...]

    @property
    def null(self) -> float:
        """P(the ends do not bracket a regression)."""
        return self.probs[0]

    def group_mass(self, first: int, last: int) -> float:
        """P(first bad in ``first .. last``)."""
        return sum(self.probs[first : last + 1])

    def best(self) -> int:
        """The most probable first-bad index."""
        return max(range(1, len(self.probs)), key=lambda k: (self.probs[k], -k))


def posterior(
    n: int,
    tally: Tally,
    prior: RatePrior | None = None,
    null_prior: float = DEFAULT_NULL_PRIOR,
) -> Posterior:
    """The change-point posterior given every run in ``tally`` (exact on the rate grid).

    Hypotheses ``k`` with the same run counts on each side (no run between
    them) share one likelihood, so the cost grows with the number of tested
    versions, not with ``n``.
    """
    rates = DEFAULT_RATE_PRIOR if prior is None else prior
    pf = [0] * (n + 1)
    pp = [0] * (n + 1)
    for i in range(n):
        ev = tally.of(i)
        pf[i + 1] = pf[i] + ev.failures
        pp[i + 1] = pp[i] + ev.passes
    tf, tp = pf[n], pp[n]
    logs = [0.0] * n
    rate_good = [0.0] * n
    rate_bad = [0.0] * n
    log_null, shared = rates.single(tf, tp)
    logs[0] = math.log(null_prior) + log_null
    rate_good[0] = rate_bad[0] = shared
    log_h = math.log((1 - null_prior) / (n - 1))
    seen: dict[tuple[int, int, int, int], tuple[float, float, float]] = {}
    for k in range(1, n):
        key = (pf[k], pp[k], tf - pf[k], tp - pp[k])
        got = seen.get(key)
        if got is None:
            got = seen[key] = rates.split((key[0], key[1]), (key[2], key[3]))
        logs[k] = log_h + got[0]
        rate_good[k], rate_bad[k] = got[1], got[2]
    top = max(logs)
    weights = [math.exp(x - top) for x in logs]
    total = sum(weights)
    return Posterior(tuple(w / total for w in weights), tuple(rate_good), tuple(rate_bad))


def _xlogx(x: float) -> float:
    return x * math.log(x) if x > 0 else 0.0


def _expected_entropy(post: Posterior, n: int, testable: Sequence[int]) -> dict[int, float]:
    """Expected posterior entropy after one more run of each testable version.

    Under hypothesis ``k``, version ``j`` fails with ``rate_bad[k]`` if
    ``j >= k`` else ``rate_good[k]``; prefix/suffix sums make this O(n).
    """
    p = post.probs
    # For outcome "fail" (o=1) and "pass" (o=0): weights A_k (j >= k) and B_k (j < k).
    sums = {}
    for o in (1, 0):
        a_w = [p[k] * (post.rate_bad[k] if o else 1 - post.rate_bad[k]) for k in range(n)]
        b_w = [p[k] * (post.rate_good[k] if o else 1 - post.rate_good[k]) for k in range(n)]
        a_w[0] = b_w[0] = 0.0
        pre_a = [0.0] * (n + 1)
        pre_al = [0.0] * (n + 1)
        suf_b = [0.0] * (n + 2)
        suf_bl = [0.0] * (n + 2)
        for k in range(1, n):
            pre_a[k + 1] = pre_a[k] + a_w[k]
            pre_al[k + 1] = pre_al[k] + _xlogx(a_w[k])
        for k in range(n - 1, 0, -1):
            suf_b[k] = suf_b[k + 1] + b_w[k]
            suf_bl[k] = suf_bl[k + 1] + _xlogx(b_w[k])
        null_w = p[0] * (post.rate_good[0] if o else 1 - post.rate_good[0])
        sums[o] = (pre_a, pre_al, suf_b, suf_bl, null_w)
    out: dict[int, float] = {}
    for j in testable:
        expected = 0.0
        for o in (1, 0):
            pre_a, pre_al, suf_b, suf_bl, null_w = sums[o]
            # hypotheses k <= j see version j as bad; k > j as good
            z = pre_a[j + 1] + suf_b[j + 1] + null_w
            s = pre_al[j + 1] + suf_bl[j + 1] + _xlogx(null_w)
            if z > 0:
                expected += z * math.log(z) - s  # = z * H(posterior | o)
        out[j] = expected
    return out


def _groups(n: int, tally: Tally) -> list[tuple[int, int]]:
    """Hypotheses ``k .. m`` that only skipped versions tell apart, as ranges."""
    groups: list[tuple[int, int]] = []
    start = 1
    for k in range(1, n):
        # k and k+1 differ only in whether version k is good or bad.
        if k == n - 1 or not tally.skipped(k):
            groups.append((start, k))
            start = k + 1
    return groups


# --------------------------------------------------------------------------- bayes


def bayesian_search(
    n: int,
    evaluate: Evaluate,
    *,
    confidence: float = 0.95,
    max_runs: int | None = None,
    prior: RatePrior | None = None,
    null_prior: float = DEFAULT_NULL_PRIOR,
    end_runs: int = 15,
) -> SearchResult:
    """Bayesian change-point search (see the module docstring).

    The ends are checked first: the bad end is run until it fails and the good
    end until it passes, each at most ``end_runs`` times; an end that never
    does is reported (``not_bracketed``) without searching.  ``prior`` is the
    prior over the two failure rates (default :class:`RatePrior` ``()``),
    ``null_prior`` the prior probability of "no regression between the ends";
    ``max_runs`` caps the runs (default :func:`default_budget`), so a search
    always ends, ``inconclusive`` with the confidence reached if need be.
    """
    _check_n(n)
    if not 0.5 <= confidence < 1:
        raise ValueError("confidence must be in [0.5, 1)")
    budget = default_budget(n) if max_runs is None else max_runs
    tally = Tally(n)
    # Sanity of the ends first: the bad end must fail and the good end pass at least once.
    while len(tally.runs) < budget:
        good, bad = tally.of(0), tally.of(n - 1)
        if bad.failures == 0 and bad.tested < end_runs and not bad.skips:
            end = n - 1
        elif good.passes == 0 and good.tested < end_runs and not good.skips:
            end = 0
        else:
            break
        tally.record(end, evaluate(end))
    for end, which in ((0, "good end"), (n - 1, "bad end")):
        if tally.skipped(end):
            return _result(tally, "not_bracketed", None, None, None, reason=f"the {which} could not be tested")
    good, bad = tally.of(0), tally.of(n - 1)
    if good.passes == 0 or bad.failures == 0:
        # The budget may end the end checks early: an end not yet run (or run less than end_runs times
        # without the outcome sought) is not known to be wrong, so the answer is inconclusive.
        if len(tally.runs) >= budget and (
            (good.passes == 0 and good.tested < end_runs) or (bad.failures == 0 and bad.tested < end_runs)
        ):
            return _result(
                tally,
                "inconclusive",
                None,
                None,
                None,
                reason=(
                    f"the run budget ({budget}) ran out while checking the ends (good end: {good.passes} of "
                    f"{good.tested} runs passed; bad end: {bad.failures} of {bad.tested} runs failed)"
                ),
            )
        return _not_bracketed(tally, good.passes == 0, bad.failures == 0, None)
    while True:
        post = posterior(n, tally, prior, null_prior)
        groups = _groups(n, tally)
        mass, (first, last) = max((post.group_mass(g[0], g[1]), g) for g in groups)
        if post.null >= confidence:
            return _null_result(tally, post)
        if mass >= confidence:
            return _group_result(tally, first, last, mass)
        if len(tally.runs) >= budget:
            if post.null > mass:
                return _null_result(tally, post, inconclusive=True)
            return _group_result(tally, first, last, mass, inconclusive=True)
        pick = next_probe(n, tally, post=post)
        tally.record(pick, evaluate(pick))


def next_probe(
    n: int,
    tally: Tally,
    prior: RatePrior | None = None,
    null_prior: float = DEFAULT_NULL_PRIOR,
    *,
    post: Posterior | None = None,
) -> int:
    """The version the Bayesian search runs next, given the runs in ``tally``.

    It is the testable version whose outcome is expected to reduce the entropy
    of the change-point posterior most (ties: the one nearest the most probable
    first-bad version).  ``post`` is the posterior of ``tally`` if already
    computed.  Costs O(n) plus the posterior (see :func:`posterior`).
    """
    _check_n(n)
    if post is None:
        post = posterior(n, tally, prior, null_prior)
    testable = [j for j in range(n) if not tally.skipped(j)]
    if not testable:
        raise ValueError("every version is untestable")
    scores = _expected_entropy(post, n, testable)
    guess = post.best()
    return min(testable, key=lambda j: (round(scores[j], 12), abs(j - guess), j))


def from_evidence(n: int, tally: Tally, *, confidence: float = 0.95) -> SearchResult:
    """Judge evidence gathered elsewhere (recorded traces): no new runs.

    A version whose every run was a skip (or that has none: record one skip
    for it) counts as untestable.
    """
    _check_n(n)
    for end, which in ((0, "good end"), (n - 1, "bad end")):
        if tally.of(end).tested == 0:
            return _result(tally, "not_bracketed", None, None, None, reason=f"the {which} has no usable run")
    good, bad = tally.of(0), tally.of(n - 1)
    if good.passes == 0 or bad.failures == 0:
        return _not_bracketed(tally, good.passes == 0, bad.failures == 0, None)
    post = posterior(n, tally)
    mass, (first, last) = max((post.group_mass(g[0], g[1]), g) for g in _groups(n, tally))
    if post.null >= max(mass, confidence):
        return _null_result(tally, post)
    if mass >= confidence:
        return _group_result(tally, first, last, mass)
    return _group_result(
        tally, first, last, mass, inconclusive=True, reason="the recorded runs are not enough to reach the confidence"
    )


def _group_result(
    tally: Tally, first: int, last: int, mass: float, *, inconclusive: bool = False, reason: str = ""
) -> SearchResult:
    last_good = _last_tested_before(tally, first)
    if inconclusive:
        return _result(
            tally,
            "inconclusive",
            last if first == last else None,
            last_good,
            mass,
            candidates=tuple(range(first, last + 1)),
            reason=reason
            or f"the run budget ({len(tally.runs)} runs) ran out before reaching the confidence asked for",
        )
    if first == last:
        return _result(tally, "found", first, first - 1, mass)
    return _result(
        tally,
        "ambiguous",
        None,
        last_good,
        mass,
        candidates=tuple(range(first, last + 1)),
        reason="the versions that would decide it could not be tested",
    )


def _last_tested_before(tally: Tally, index: int) -> int:
    i = index - 1
    while i > 0 and tally.skipped(i):
        i -= 1
    return i


def _null_result(tally: Tally, post: Posterior, *, inconclusive: bool = False) -> SearchResult:
    good, bad = tally.of(0), tally.of(tally.n - 1)
    rate_good = (good.failures + 0.5) / (good.tested + 1)
    rate_bad = (bad.failures + 0.5) / (bad.tested + 1)
    # Name the end that looks wrong: the bad end when it hardly fails, else the good end.
    bad_passes = rate_bad <= 0.5 or rate_bad <= rate_good
    good_fails = rate_good >= 0.5 or not bad_passes
    return _not_bracketed(tally, good_fails, bad_passes, post.null, inconclusive=inconclusive)


def _not_bracketed(
    tally: Tally,
    good_fails: bool,
    bad_passes: bool,
    confidence: float | None,
    *,
    inconclusive: bool = False,
) -> SearchResult:
    good, bad = tally.of(0), tally.of(tally.n - 1)
    parts = []
    if good_fails:
        parts.append(f"the good end fails ({good.failures} of {good.tested} runs failed)")
    if bad_passes:
        parts.append(f"the bad end passes ({bad.passes} of {bad.tested} runs passed)")
    reason = " and ".join(parts) or "the ends behave alike"
    return _result(
        tally,
        "inconclusive" if inconclusive else "not_bracketed",
        None,
        None,
        confidence,
        reason=reason,
        good_end_fails=good_fails,
        bad_end_passes=bad_passes,
    )


# --------------------------------------------------------------------------- sprt


def sprt_search(
    n: int,
    evaluate: Evaluate,
    *,
    confidence: float = 0.95,
    max_runs: int | None = None,
    end_runs: int = 4,
) -> SearchResult:
    """Bisection with a sequential probability ratio test per probe.

    Both ends are run ``end_runs`` times first (the bad end until it has failed
    at least once, within the budget); the failure rates of the ends are
    re-estimated as the search goes, and an end is re-run whenever a probe has
    more runs than it.  Each probe's test uses error rates
    ``(1 - confidence) / steps`` so the whole search reaches ``confidence``.
    """
    _check_n(n)
    budget = default_budget(n) if max_runs is None else max_runs
    tally = Tally(n)
    steps = max(1, math.ceil(math.log2(max(2, n - 1))))
    alpha = (1 - confidence) / steps
    upper, lower = math.log((1 - alpha) / alpha), math.log(alpha / (1 - alpha))

    def run(index: int) -> Outcome:
        outcome = evaluate(index)
        tally.record(index, outcome)
        return outcome

    for _ in range(end_runs):
        for end in (0, n - 1):
            if len(tally.runs) >= budget:
                break
            if run(end) == SKIP:
                which = "good end" if end == 0 else "bad end"
                return _result(tally, "not_bracketed", None, None, None, reason=f"the {which} could not be tested")
    while tally.of(n - 1).failures == 0 and len(tally.runs) < budget // 3:
        run(n - 1)

    def rates() -> tuple[float, float]:
        good, bad = tally.of(0), tally.of(n - 1)
        return (good.failures + 0.5) / (good.tested + 1), (bad.failures + 0.5) / (bad.tested + 1)

    p_good, p_bad = rates()
    if p_bad <= p_good:
        return _not_bracketed(tally, p_good >= 0.5, True, None)
    lo, hi = 0, n - 1
    while True:
        inner = [i for i in range(lo + 1, hi) if not tally.skipped(i)]
        if not inner or len(tally.runs) >= budget:
            break
        mid = (lo + hi) // 2
        pick = min(inner, key=lambda i: (abs(i - mid), i))
        decision: Outcome | None = None
        while decision is None and len(tally.runs) < budget:
            if run(pick) == SKIP:
                break
            for end in (0, n - 1):
                if tally.of(end).tested < tally.of(pick).tested and len(tally.runs) < budget:
                    run(end)
            p_good, p_bad = rates()
            if p_bad <= p_good:
                continue
            ev = tally.of(pick)
            llr = ev.failures * math.log(p_bad / p_good) + ev.passes * math.log((1 - p_bad) / (1 - p_good))
            if llr >= upper:
                decision = BAD
            elif llr <= lower:
                decision = GOOD
        if decision == GOOD:
            lo = pick
        elif decision == BAD:
            hi = pick
    post = posterior(n, tally)
    mass = post.group_mass(lo + 1, hi)
    if len(tally.runs) >= budget and hi - lo > 1 and any(not tally.skipped(i) for i in range(lo + 1, hi)):
        guess = post.best()
        return _result(
            tally,
            "inconclusive",
            guess,
            guess - 1,
            post.probs[guess],
            candidates=tuple(range(lo + 1, hi + 1)),
            reason=f"the run budget ({len(tally.runs)} runs) ran out before reaching the confidence asked for",
        )
    if hi - lo > 1:
        return _result(
            tally,
            "ambiguous",
            None,
            lo,
            mass,
            candidates=tuple(range(lo + 1, hi + 1)),
            reason="every version between the last good and the first bad one could not be tested",
        )
    return _result(tally, "found", hi, lo, mass)


# --------------------------------------------------------------------------- helpers


def _check_n(n: int) -> None:
    if n < 2:
        raise ValueError("a bisect needs at least two versions (the good and the bad end)")


def _result(
    tally: Tally,
    status: Status,
    first_bad: int | None,
    last_good: int | None,
    confidence: float | None,
    *,
    candidates: tuple[int, ...] = (),
    reason: str = "",
    good_end_fails: bool = False,
    bad_end_passes: bool = False,
) -> SearchResult:
    return SearchResult(
        status=status,
        first_bad=first_bad,
        last_good=last_good,
        confidence=confidence,
        runs=tuple(tally.runs),
        evidence={i: tally.evidence[i] for i in sorted(tally.evidence)},
        candidates=candidates,
        reason=reason,
        good_end_fails=good_end_fails,
        bad_end_passes=bad_end_passes,
    )
