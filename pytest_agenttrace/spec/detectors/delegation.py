"""Detectors of the space between agents: handoffs, delegation scopes, attribution.

``handoff_context_loss``, ``out_of_scope_tool``, ``unattributed_action`` and
``context_collapse``.  All read the reserved attributes of ``handoff`` and
``delegation`` spans (``from_agent``, ``to_agent``, ``allowed_tools``,
``required_context``, ``critical_keys``) and their ``context``.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Sequence
from typing import Any

from ...model import KINDS, Span, Trace
from ._registry import (
    Finding,
    ParamSpec,
    agent_name,
    detector,
    label,
    matches_any,
    quoted,
    str_list,
)

__all__ = ["context_collapse", "handoff_context_loss", "out_of_scope_tool", "unattributed_action"]

_HANDOFF_KINDS = ("handoff", "delegation")


def _has_value(context: dict[str, Any] | None, key: str, null_is_missing: bool = False) -> bool:
    """Whether ``key`` is in ``context``; a null value counts as present unless ``null_is_missing``."""
    if not context or key not in context:
        return False
    return not (null_is_missing and context[key] is None)


def _route(span: Span) -> str:
    return f"{agent_name(span.from_agent)} -> {agent_name(span.to_agent)}"


# -- handoff_context_loss ---------------------------------------------------------


@detector(
    "handoff_context_loss",
    "A handoff or delegation whose attributes.required_context keys are not all in its context.",
    null_is_missing=ParamSpec(
        type="bool",
        default=False,
        description="A required key whose value is null counts as missing (by default a key "
        "present with null is present).",
    ),
)
def handoff_context_loss(trace: Trace, *, null_is_missing: bool) -> list[Finding]:
    """One finding per handoff/delegation span listing its missing required keys."""
    findings: list[Finding] = []
    for span in trace.index.of_kinds(_HANDOFF_KINDS):
        declared = span.attributes.get("required_context")
        if declared is None:  # the common case for handoffs: nothing required
            continue
        required = str_list(declared)
        missing = [k for k in required if not _has_value(span.context, k, null_is_missing)]
        if not missing:
            continue
        present = [k for k in required if k not in missing]
        findings.append(
            Finding(
                message=(
                    f"{label(span, _route(span))} is missing required context "
                    f"{quoted(missing)}: pass {'it' if len(missing) == 1 else 'them'} in the handoff context"
                ),
                spans=(span.span_id,),
                expected=f"context keys {quoted(required)}",
                found=f"missing {quoted(missing)}" + (f"; present {quoted(present)}" if present else ""),
                details={"missing": missing, "required": required, "present": present},
            )
        )
    return findings


# -- out_of_scope_tool ------------------------------------------------------------


@detector(
    "out_of_scope_tool",
    "A tool span not allowed by every enclosing delegation that declares allowed_tools.",
    ignore_tools=ParamSpec(
        type="list",
        default=(),
        description="Tool names never reported (globs allowed), e.g. harmless read-only helpers.",
    ),
)
def out_of_scope_tool(trace: Trace, *, ignore_tools: tuple[str, ...]) -> list[Finding]:
    """A tool span whose name some enclosing delegation's ``allowed_tools`` leaves out.

    Scopes narrow, never widen: every delegation on the span's ``scope_path``
    that declares ``allowed_tools`` list it by name (as the tool gateway
    checks); ``ignore_tools`` takes globs.
    """
    index = trace.index
    delegations = index.by_kind.get("delegation", [])
    sets: dict[tuple[str, ...], frozenset[str]] = {}  # equal allowed_tools lists share one set
    per_delegation: list[frozenset[str] | None] = []  # None: it declares no allowed_tools
    for delegation in delegations:
        value = delegation.attributes.get("allowed_tools")
        if isinstance(value, list | tuple):
            names = tuple(str_list(value))
            shared = sets.get(names)
            if shared is None:
                shared = sets[names] = frozenset(names)
            per_delegation.append(shared)
        else:
            per_delegation.append(None)
    if not sets:
        return []
    # A name every declaring delegation allows cannot be refused: most tool calls stop here, and the
    # map of delegations by id is only built for the others.
    always = frozenset.intersection(*sets.values())
    allowed_by: dict[str, frozenset[str] | None] | None = None
    findings: list[Finding] = []
    tools = index.by_kind.get("tool", [])
    for position, name in enumerate(index.column("tool", "name")):
        if name in always:
            continue
        span = tools[position]
        path = span.scope_path or ([span.scope] if span.scope else [])
        if span.scope and span.scope not in path:
            path = [*path, span.scope]
        if not path:  # under no delegation: nothing can refuse it
            continue
        if allowed_by is None:
            allowed_by = {delegation.span_id: names for delegation, names in zip(delegations, per_delegation)}
        refusing = [d for d in path if (allowed := allowed_by.get(d)) is not None and span.name not in allowed]
        if not refusing or matches_any(ignore_tools, span.name):
            continue
        refusing.reverse()  # innermost first: the narrowest scope is the one to look at
        inner = index.by_id[refusing[0]]
        narrowest = sorted(allowed_by[inner.span_id] or ())
        findings.append(
            Finding(
                message=(
                    f"{label(span)} called by {agent_name(span.agent)} under {label(inner, _route(inner))}, "
                    f"which allows only [{quoted(narrowest)}]"
                ),
                spans=(span.span_id, *refusing),
                expected=f"a tool in allowed_tools [{quoted(narrowest)}] of every enclosing delegation",
                found=f"tool {span.name!r} refused by {len(refusing)} delegation(s): {', '.join(refusing)}",
                details={
                    "tool": span.name,
                    "agent": span.agent,
                    "scope": span.scope,
                    "refused_by": refusing,
                    "allowed_tools": {d: sorted(allowed_by[d] or ()) for d in refusing},
                },
            )
        )
    return findings


# -- unattributed_action ----------------------------------------------------------


@detector(
    "unattributed_action",
    "A tool span (or a span of the listed kinds) recorded with no agent.",
    kinds=ParamSpec(
        type="list",
        default=("tool",),
        description="Span kinds that must name their agent.",
        minimum=1,
        choices=tuple(kind for kind in KINDS if kind != "agent"),
    ),
)
def unattributed_action(trace: Trace, *, kinds: tuple[str, ...]) -> list[Finding]:
    """One finding per span of ``kinds`` whose ``agent`` is missing or empty."""
    index = trace.index
    if len(kinds) == 1:  # the default: read the kind's agent column, not every span
        bucket = index.by_kind.get(kinds[0], [])
        spans = [bucket[i] for i, agent in enumerate(index.column(kinds[0], "agent")) if not agent]
    else:
        spans = [s for s in index.of_kinds(kinds) if not s.agent]
    return [
        Finding(
            message=(
                f"{label(span)} ran with no agent: record it inside an agent span "
                "or call it through the tool gateway with the agent set"
            ),
            spans=(span.span_id,),
            expected="an agent for every action",
            found="agent is missing",
            details={"kind": span.kind, "name": span.name, "scope": span.scope},
        )
        for span in spans
    ]


# -- context_collapse -------------------------------------------------------------


@detector(
    "context_collapse",
    "A tracked context key handed to an agent that is lost further down the handoff chain "
    "(missing from a later handoff's context, or dropped by a truncated llm call).",
    keys=ParamSpec(
        type="list",
        default=None,
        nullable=True,
        description="Keys tracked on every handoff/delegation; null tracks each span's "
        "attributes.critical_keys instead.",
    ),
)
def context_collapse(trace: Trace, *, keys: tuple[str, ...] | None) -> list[Finding]:
    """Follow tracked keys down each handoff chain and report every span that lost one.

    For each origin (a handoff/delegation carrying tracked keys in its
    ``context``), every handoff/delegation further down its chain (it starts
    after the origin, its ``from_agent`` is the origin's ``to_agent``, followed
    transitively through the ``to_agent`` of each such span) that lacks one of
    those keys is a finding; so is a truncated ``llm`` span of the receiving
    agent, started after the origin, whose ``dropped_keys`` name one.  One
    finding per (span, key), credited to the earliest origin.

    Linear per tracked key (with a heap and bisections: n log n): handoffs
    are indexed by ``from_agent`` in start order; a chain is walked once per
    origin and key set, and an origin handing a key to an agent that an
    earlier walk for the key entered no later is skipped for that key.  Inside
    a walk, an agent's handoffs after the point where earlier walks entered it
    for every key walked are not visited again (their part of the chain was
    walked then), so each handoff is visited at most once per key, however
    many origins share a downstream chain.  Truncated llm
    calls are scanned once per (receiving agent, key): the earliest origin
    handing the key to the agent claims all of them.
    """
    handoffs, handoff_positions = trace.index.of_kinds_positioned(_HANDOFF_KINDS)
    if not handoffs:
        return []
    # Built on first use: most traces carry no tracked keys, and then neither is needed.
    senders: _Senders | None = None
    truncated: dict[str, tuple[list[Span], list[int]]] | None = None

    # key -> agent -> earliest position some walk for that key entered the agent: an origin handing
    # the key to an agent entered at or before it has a chain inside that walk's, so adds nothing.
    reached: dict[str, dict[str, int]] = {}
    reported: set[tuple[str, str]] = set()  # (handoff id, key)
    scanned: set[tuple[str, str]] = set()  # (receiver, key) whose truncated llm calls were checked
    found: list[tuple[int, str, Finding]] = []  # (position of the span, key, finding)
    for origin, start in zip(handoffs, handoff_positions):
        if keys is None:
            critical = origin.attributes.get("critical_keys")
            if critical is None:  # the common case: nothing tracked
                continue
            tracked: tuple[str, ...] = tuple(str_list(critical))
        else:
            tracked = keys
        receiver = origin.to_agent
        if receiver is None:
            continue
        carried = [k for k in dict.fromkeys(tracked) if _has_value(origin.context, k)]
        if not carried:
            continue
        # A truncated llm of the receiver is a victim of the earliest origin handing it the key, so
        # each (receiver, key) scans the receiver's truncated calls once.
        dropping = [k for k in carried if (receiver, k) not in scanned]
        if dropping:
            scanned.update((receiver, k) for k in dropping)
            if truncated is None:
                truncated = _truncated_llms(trace)
            llms, llm_starts = truncated.get(receiver, _NO_SPANS)
            first = bisect.bisect_right(llm_starts, start)
            for llm, at in zip(llms[first:], llm_starts[first:]):
                for key in dict.fromkeys(str_list(llm.attributes.get("dropped_keys"))):
                    if key in dropping:
                        found.append((at, key, _collapse_finding(trace, llm, key, (origin.span_id, llm.span_id))))
        fresh = [k for k in carried if reached.get(k, {}).get(receiver, start + 1) > start]
        if not fresh:
            continue
        if senders is None:
            senders = _senders(handoffs, handoff_positions)
        chain, came_from, entered = _chain(origin, start, senders, _limits(reached, fresh))
        for key in fresh:
            known = reached.setdefault(key, {})
            for agent, at in entered.items():
                if at < known.get(agent, at + 1):
                    known[agent] = at
        for span, at in chain:
            for key in fresh:
                if not _has_value(span.context, key) and (span.span_id, key) not in reported:
                    reported.add((span.span_id, key))
                    path = _path(origin.span_id, span.span_id, came_from)
                    found.append((at, key, _collapse_finding(trace, span, key, path)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [finding for _, _, finding in found]


#: Handoffs by ``from_agent``: the spans and, in parallel, their positions in the trace.
_Senders = dict[str, tuple[list[Span], list[int]]]
_NO_SPANS: tuple[list[Span], list[int]] = ([], [])


def _senders(handoffs: list[Span], positions: Sequence[int]) -> _Senders:
    by_sender: _Senders = {}
    for span, at in zip(handoffs, positions):
        sender = span.from_agent
        if sender is not None:
            spans, starts = by_sender.setdefault(sender, ([], []))
            spans.append(span)
            starts.append(at)
    return by_sender


def _truncated_llms(trace: Trace) -> dict[str, tuple[list[Span], list[int]]]:
    """Truncated ``llm`` spans by agent, with their positions in the trace."""
    llms, positions = trace.index.of_kinds_positioned(("llm",))
    by_agent: dict[str, tuple[list[Span], list[int]]] = {}
    for span, at in zip(llms, positions):
        if span.agent is not None and span.attributes.get("truncated") is True:
            spans, starts = by_agent.setdefault(span.agent, ([], []))
            spans.append(span)
            starts.append(at)
    return by_agent


def _limits(reached: dict[str, dict[str, int]], keys: list[str]) -> Callable[[str], int | None]:
    """For an agent: the latest position a walk for ``keys`` still needs to scan, ``None`` for no limit.

    An earlier walk for a key that entered the agent at position ``p`` visited every handoff it
    sent after ``p``, and everything downstream of those; a later walk needs only the handoffs up
    to ``p`` for that key, so up to the latest such ``p`` over ``keys``.
    """
    tables = [reached.get(key, {}) for key in keys]

    def limit(agent: str) -> int | None:
        latest = -1
        for table in tables:
            at = table.get(agent)
            if at is None:
                return None
            latest = max(latest, at)
        return latest

    return limit


def _chain(
    origin: Span, origin_at: int, senders: _Senders, limit: Callable[[str], int | None]
) -> tuple[list[tuple[Span, int]], dict[str, str], dict[str, int]]:
    """The handoffs further down ``origin``'s chain in visiting order (with positions), how each was reached, and when.

    The first mapping gives, for each of them, the chain handoff that brought
    its ``from_agent`` in (absent: the origin did); :func:`_path` follows it
    back.  The second gives each agent entered and the earliest position.
    An agent is reached at the earliest position a chain handoff to it starts
    (earlier reach covers more of its handoffs), so a Dijkstra-like sweep in
    position order finalises every agent once and visits every handoff once.
    An agent's handoffs after ``limit(agent)`` were visited for every tracked
    key by earlier walks (and so was what lies downstream of them): they are
    not visited again, which keeps all the walks together linear per key.
    """
    reach: list[tuple[int, str, str]] = [(origin_at, str(origin.to_agent), "")]
    done: dict[str, int] = {}
    came_from: dict[str, str] = {}
    out: list[tuple[Span, int]] = []
    while reach:
        after, agent, via = heapq.heappop(reach)
        if agent in done:
            continue
        done[agent] = after
        sent = senders.get(agent)
        if sent is None:
            continue
        spans, starts = sent
        first = bisect.bisect_right(starts, after)
        stop = limit(agent)
        last = len(starts) if stop is None else bisect.bisect_right(starts, stop, first)
        for span, at in zip(spans[first:last], starts[first:last]):
            out.append((span, at))
            if via:
                came_from[span.span_id] = via
            target = span.to_agent
            if target is not None and target not in done:
                heapq.heappush(reach, (at, target, span.span_id))
    return out, came_from, done


def _path(origin_id: str, span_id: str, came_from: dict[str, str]) -> tuple[str, ...]:
    """Ids from the origin through the chain handoffs to ``span_id``."""
    path = [span_id]
    while (previous := came_from.get(path[-1])) is not None:
        path.append(previous)
    path.append(origin_id)
    return tuple(reversed(path))


def _collapse_finding(trace: Trace, span: Span, key: str, chain: tuple[str, ...]) -> Finding:
    origin_id = chain[0]
    origin = trace.index.by_id[origin_id]
    receiver = agent_name(origin.to_agent)
    truncated = span.kind == "llm"
    if truncated:
        message = (
            f"context key {key!r} handed to {receiver} by {label(origin)} was dropped "
            f"when {label(span)} truncated its context"
        )
        found = f"{key!r} in dropped_keys of a truncated llm call"
        holder = span.agent
    else:
        further = "" if span.from_agent == origin.to_agent else ", further down the chain"
        message = (
            f"context key {key!r} handed to {receiver} by {label(origin)} is missing from "
            f"{label(span, _route(span))}{further}: pass it on"
        )
        found = f"{key!r} missing from the context of span {span.span_id}"
        holder = span.from_agent
    return Finding(
        message=message,
        spans=(span.span_id, origin_id),
        expected=f"{key!r} kept along the handoff chain from span {origin_id}",
        found=found,
        chain=chain,
        details={"key": key, "agent": holder, "origin": origin_id, "truncated": truncated},
    )
