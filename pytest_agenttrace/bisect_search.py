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
    failure rate is ``p_good`` before ``k`` and ``p_bad`` from ``k`` on, both
    unknown with weak Beta priors and integrated out (Beta-Bernoulli), with
    ``p_good < p_bad``; hypothesis ``none`` says all versions share one rate (the
    ends do not bracket a regression).  After each run the posterior over the
    hypotheses is updated exactly; the next version to run is the one whose
    outcome has the largest expected reduction of the posterior entropy
    (re-running an end is allowed: it sharpens the failure-rate estimates).  It
    stops when one hypothesis (or a group of hypotheses that only skipped
    versions separate) reaches the requested posterior probability, or when the
    run budget is spent (``inconclusive``, with the best guess and the
    confidence reached).

``sprt_search``
    Bisection in which every probe is decided by a sequential probability
    ratio test between the good and the bad end's failure rates (estimated
    from re-runs of both ends).  Simpler, usually needs more runs.

All strategies take an ``evaluate(index) -> Outcome`` callable and never call
it for a version they already know to be untestable.
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
    "SearchResult",
    "Status",
    "Tally",
    "bayesian_search",
    "binary_search",
    "default_budget",
    "from_evidence",
    "posterior",
    "sprt_search",
]

Outcome = Literal["good", "bad", "skip"]
Status = Literal["found", "not_bracketed", "ambiguous", "inconclusive"]
GOOD: Final[Outcome] = "good"
BAD: Final[Outcome] = "bad"
SKIP: Final[Outcome] = "skip"

Evaluate = Callable[[int], Outcome]

#: Weak Beta(a, b) prior on each failure rate.
DEFAULT_PRIOR: Final = (0.5, 0.5)
#: Prior probability that the ends do not bracket a regression at all.
DEFAULT_NULL_PRIOR: Final = 0.1


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


def _lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _prob_less(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X < Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2) (normal approximation)."""
    m1, m2 = a1 / (a1 + b1), a2 / (a2 + b2)
    v1 = a1 * b1 / ((a1 + b1) ** 2 * (a1 + b1 + 1))
    v2 = a2 * b2 / ((a2 + b2) ** 2 * (a2 + b2 + 1))
    z = (m2 - m1) / math.sqrt(v1 + v2)
    return 0.5 * math.erfc(-z / math.sqrt(2))


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
    prior: tuple[float, float] = DEFAULT_PRIOR,
    null_prior: float = DEFAULT_NULL_PRIOR,
) -> Posterior:
    """The exact change-point posterior given every run in ``tally``."""
    a, b = prior
    fails = [tally.of(i).failures for i in range(n)]
    passes = [tally.of(i).passes for i in range(n)]
    pf = [0] * (n + 1)
    pp = [0] * (n + 1)
    for i in range(n):
        pf[i + 1] = pf[i] + fails[i]
        pp[i + 1] = pp[i] + passes[i]
    base = _lbeta(a, b)
    logs = [0.0] * n
    rate_good = [0.0] * n
    rate_bad = [0.0] * n
    tf, tp = pf[n], pp[n]
    logs[0] = math.log(null_prior) + _lbeta(a + tf, b + tp) - base
    rate_good[0] = rate_bad[0] = (a + tf) / (a + b + tf + tp)
    log_h = math.log((1 - null_prior) / (n - 1))
    for k in range(1, n):
        fg, sg = pf[k], pp[k]
        fb, sb = tf - fg, tp - sg
        ag, bg, ab, bb = a + fg, b + sg, a + fb, b + sb
        order = _prob_less(ag, bg, ab, bb)
        # Divide by the prior probability of the order (1/2 for equal priors).
        logs[k] = log_h + _lbeta(ag, bg) + _lbeta(ab, bb) - 2 * base + math.log(max(order, 1e-300) * 2)
        rate_good[k] = ag / (ag + bg)
        rate_bad[k] = ab / (ab + bb)
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
    prior: tuple[float, float] = DEFAULT_PRIOR,
    null_prior: float = DEFAULT_NULL_PRIOR,
    end_runs: int = 15,
) -> SearchResult:
    """Bayesian change-point search (see the module docstring).

    The ends are checked first: the bad end is run until it fails and the good
    end until it passes, each at most ``end_runs`` times; an end that never
    does is reported (``not_bracketed``) without searching.
    """
    _check_n(n)
    if not 0.5 <= confidence < 1:
        raise ValueError("confidence must be in [0.5, 1)")
    budget = default_budget(n) if max_runs is None else max_runs
    tally = Tally(n)
    # Sanity of the ends first: the bad end must fail and the good end pass at least once.
    while True:
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
        testable = [j for j in range(n) if not tally.skipped(j)]
        scores = _expected_entropy(post, n, testable)
        # Lowest expected entropy; ties go to the version nearest the best guess.
        guess = post.best()
        pick = min(testable, key=lambda j: (round(scores[j], 12), abs(j - guess), j))
        tally.record(pick, evaluate(pick))


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
                if tally.of(end).tested < tally.of(pick).tested:
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
