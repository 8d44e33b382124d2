"""The ``cascading_error`` detector: a bad output consumed as trusted input.

Lineage runs through ``links`` (the span ids whose outputs a span consumed).
One pass over the spans that take part in lineage, in end order (a consumer
ends after what it consumed, which also covers a parent consuming its
child's output), tags every span with the origins it descends from.  Equal
end times are ordered as a depth-first walk of the tree finishes the spans: a
parent after its children (it ends when they have ended), an earlier branch
before a later one.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from operator import attrgetter

from ...model import Span, Trace
from ._registry import Finding, ParamSpec, confidence_of, detector, is_low_confidence, label

__all__ = ["cascading_error"]

_NO_ORIGINS: frozenset[str] = frozenset()
_end_ns = attrgetter("end_ns")


def _listing(spans: list[Span]) -> str:
    shown = ", ".join(label(s) for s in spans[:3])
    return shown + (f" and {len(spans) - 3} more" if len(spans) > 3 else "")


def _any_bad(spans: Iterable[Span | None], min_confidence: float, include_errors: bool) -> bool:
    """Whether :func:`_why_bad` has a reason for any of ``spans`` (``None``: a link to no span)."""
    try:
        for span in spans:
            if span is not None and (
                (include_errors and span.status == "error") or is_low_confidence(span, min_confidence)
            ):
                return True
    except (AttributeError, TypeError):  # a malformed span: the full pass meets it as it always did
        return True
    return False


def _why_bad(span: Span, min_confidence: float, include_errors: bool) -> str | None:
    if include_errors and span.status == "error":
        error = span.error or {}
        kind = error.get("type") or "error"
        text = error.get("message")
        return f"failed with {kind}" + (f": {text}" if text else "")
    if is_low_confidence(span, min_confidence):
        return f"had confidence {confidence_of(span):g} (below {min_confidence:g})"
    return None


@detector(
    "cascading_error",
    "A failed or low-confidence span whose output a later successful span consumed (via links).",
    min_confidence=ParamSpec(
        type="number",
        default=0.5,
        description="attributes.confidence below this is low; spans without a confidence are not low.",
    ),
    include_errors=ParamSpec(type="bool", default=True, description="Spans with status 'error' are origins too."),
)
def cascading_error(trace: Trace, *, min_confidence: float, include_errors: bool) -> list[Finding]:
    """One finding per origin whose output reached at least one successful span.

    ``chain`` lists the origin, then every span downstream of it in lineage
    order (failed intermediates included, so the path stays visible); ``spans``
    puts the origin first, then the successful victims.
    """
    consumers = list(filter(attrgetter("links"), trace.spans))
    if not consumers:
        return []
    links = [link for span in consumers for link in span.links]
    producers = list(map(trace.index.get, links))
    if not _any_bad(chain(consumers, producers), min_confidence, include_errors):
        return []  # no origin (the common case): nothing to order or follow
    involved: dict[str, Span] = {s.span_id: s for s in consumers}
    for link, producer in zip(links, producers):
        if producer is not None:
            involved.setdefault(link, producer)
    ordered = sorted(involved.values(), key=_end_ns)
    if len(set(map(_end_ns, ordered))) < len(ordered):
        # Equal end times: a parent ends when its children have ended, so it comes after them; most
        # runs have no ties, and then the tree is not walked.
        finished = _finish_order(trace)
        ordered.sort(key=lambda s: (s.end_ns, finished[id(s)]))
    rank = {s.span_id: i for i, s in enumerate(ordered)}

    origins_of: dict[str, frozenset[str]] = {}
    reasons: dict[str, str] = {}
    downstream: dict[str, list[Span]] = {}
    for span in ordered:
        inherited = _NO_ORIGINS
        for link in span.links:
            if link == span.span_id or rank.get(link, len(rank)) >= rank[span.span_id]:
                continue  # only what ended before can have been consumed
            upstream = origins_of.get(link, _NO_ORIGINS)
            if upstream:
                inherited = upstream if not inherited else inherited | upstream
        for origin_id in inherited:
            downstream[origin_id].append(span)
        reason = None if inherited else _why_bad(span, min_confidence, include_errors)
        if reason is not None:
            # A bad span with no bad ancestry starts a lineage of its own.
            reasons[span.span_id] = reason
            downstream[span.span_id] = []
            inherited = frozenset((span.span_id,))
        if inherited:
            origins_of[span.span_id] = inherited

    findings: list[Finding] = []
    for origin_id, reached in downstream.items():
        victims = [s for s in reached if s.status == "ok"]
        if not victims:
            continue
        origin = involved[origin_id]
        # Name the spans that read the bad output themselves; the rest of the chain is counted.
        direct = [v for v in victims if origin_id in v.links]
        named = direct or victims[:1]
        further = len(victims) - len(named)
        how = "consumed its output" if direct else "built on it through failed spans"
        findings.append(
            Finding(
                message=(
                    f"{label(origin)} {reasons[origin_id]}, yet {_listing(named)} {how} and reported success"
                    + (f"; {further} more successful span(s) downstream" if further else "")
                ),
                spans=(origin_id, *(v.span_id for v in named), *(v.span_id for v in victims if v not in named)),
                expected="no successful span built on a failed or low-confidence output",
                found=f"{len(victims)} successful span(s) downstream of span {origin_id}",
                chain=(origin_id, *(s.span_id for s in reached)),
                details={
                    "origin": origin_id,
                    "reason": reasons[origin_id],
                    "confidence": confidence_of(origin),
                    "consumers": [v.span_id for v in direct],
                    "victims": [v.span_id for v in victims],
                },
            )
        )
    if len(findings) > 1:
        at = _positions(trace, [involved[f.spans[0]] for f in findings])
        findings.sort(key=lambda f: at[id(involved[f.spans[0]])])
    return findings


def _finish_order(trace: Trace) -> dict[int, int]:
    """``id(span)`` -> when a depth-first walk of the tree finishes the span (children in start order).

    A span comes after its descendants, and a branch started earlier before one started later.
    Spans the walk from the roots does not reach (on a parent cycle) follow, in trace order.
    """
    index = trace.index
    children = index.children
    finished: dict[int, int] = {}
    seen: set[int] = set()
    stack = [(root, False) for root in reversed(index.roots)]
    while stack:
        span, done = stack.pop()
        if done:
            finished[id(span)] = len(finished)
            continue
        if id(span) in seen:  # a repeated span id can lead back to a span already walked
            continue
        seen.add(id(span))
        stack.append((span, True))
        stack.extend((child, False) for child in reversed(children.get(span.span_id, ())))
    for span in trace.spans:
        finished.setdefault(id(span), len(finished))
    return finished


def _positions(trace: Trace, spans: list[Span]) -> dict[int, int]:
    """``id(span)`` -> position in the trace for ``spans`` (no map of every span id is built)."""
    return trace.index.positions_of(spans)
