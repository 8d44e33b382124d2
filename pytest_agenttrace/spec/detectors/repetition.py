"""Detectors of repeated work: ``retry_storm`` and ``tool_loop``.

Both group spans with dicts in one pass; ``tool_loop`` then scans each
agent's call sequence once per candidate period, so the cost is
``O(spans x max_period)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from ...model import Span, Trace
from ._registry import Finding, ParamSpec, agent_name, detector, excerpt, matches_any

__all__ = ["retry_storm", "tool_loop"]

_CALL_KINDS = ("llm", "tool", "retrieval", "memory_read", "memory_write", "custom")


_PLAIN = frozenset({str, int, float})


#: Nesting past which an input's key is built without recursion (a deep input would exhaust the stack).
_MAX_KEY_DEPTH = 100


class _TooDeep(Exception):
    """An input nested deeper than :data:`_MAX_KEY_DEPTH`."""


def _input_key(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value: equal exactly when the values are (key order aside)."""
    if isinstance(value, dict):
        items = value.items()
        # The common flat input ({"path": "a.py"}): string keys, plain str/int/float values stand for
        # themselves, so the key is built without recursing (equal to the general form below).
        if all(type(k) is str and type(v) in _PLAIN for k, v in items):
            return (dict, tuple(sorted(items)))
    elif not isinstance(value, list | tuple):
        return _scalar_key(value)
    try:
        if isinstance(value, dict):
            return (dict, tuple(sorted((str(k), _nested_key(v, 1)) for k, v in value.items())))
        return (list, tuple(_nested_key(v, 1) for v in value))
    except _TooDeep:  # a value's depth is its own, so equal values always take the same form
        return _flat_key(value)


def _nested_key(value: Any, depth: int) -> Hashable:
    if depth > _MAX_KEY_DEPTH:
        raise _TooDeep
    if isinstance(value, dict):
        items = value.items()
        if all(type(k) is str and type(v) in _PLAIN for k, v in items):
            return (dict, tuple(sorted(items)))
        return (dict, tuple(sorted((str(k), _nested_key(v, depth + 1)) for k, v in items)))
    if isinstance(value, list | tuple):
        return (list, tuple(_nested_key(v, depth + 1) for v in value))
    return _scalar_key(value)


def _scalar_key(value: Any) -> Hashable:
    if isinstance(value, bool) or value is None:
        return (bool, value)  # keep true apart from 1
    if isinstance(value, str | int | float):
        return value
    return (type(value).__name__, repr(value))


def _flat_key(value: Any) -> Hashable:
    """:func:`_input_key` of a deeply nested value, without recursion: the values in prefix order."""
    out: list[Hashable] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            pairs = sorted(((str(k), v) for k, v in item.items()), key=lambda pair: pair[0])
            out.append((dict, tuple(k for k, _ in pairs)))
            stack.extend(v for _, v in reversed(pairs))
        elif isinstance(item, list | tuple):
            out.append((list, len(item)))
            stack.extend(reversed(item))
        else:
            out.append(_scalar_key(item))
    return ("deep", tuple(out))


def _spans_of(trace: Trace, kinds: tuple[str, ...], ignore: tuple[str, ...]) -> list[Span]:
    """The spans of ``kinds`` in start order (the index's shared list when nothing is ignored: read only)."""
    spans = trace.index.of_kinds(kinds)
    if ignore:
        spans = [s for s in spans if not matches_any(ignore, s.name)]
    return spans


def _kind_word(kinds: tuple[str, ...]) -> str:
    return kinds[0] if len(kinds) == 1 else "call"


# -- retry_storm --------------------------------------------------------------------


@detector(
    "retry_storm",
    "More than max_repeats tool calls with the same agent, name and input.",
    max_repeats=ParamSpec(
        type="int", default=3, minimum=1, description="Identical calls allowed; one more is a storm."
    ),
    match=ParamSpec(
        type="list",
        default=("agent", "name", "input"),
        choices=("agent", "name", "input", "scope"),
        minimum=1,
        description="Fields that make two calls identical; drop 'input' to count calls whatever their arguments.",
    ),
    kinds=ParamSpec(type="list", default=("tool",), choices=_CALL_KINDS, minimum=1, description="Span kinds counted."),
    ignore_tools=ParamSpec(
        type="list",
        default=(),
        description="Names never counted, globs allowed (e.g. polling tools that repeat by design).",
    ),
)
def retry_storm(
    trace: Trace,
    *,
    max_repeats: int,
    match: tuple[str, ...],
    kinds: tuple[str, ...],
    ignore_tools: tuple[str, ...],
) -> list[Finding]:
    """One finding per group of identical calls larger than ``max_repeats``."""
    fields = frozenset(match)
    groups: dict[tuple[Hashable, ...], list[Span]] = {}
    for span in _spans_of(trace, kinds, ignore_tools):
        key = (
            span.kind,
            span.agent if "agent" in fields else None,
            span.name if "name" in fields else None,
            span.scope if "scope" in fields else None,
            _input_key(span.input) if "input" in fields else None,
        )
        groups.setdefault(key, []).append(span)
    findings: list[Finding] = []
    for (kind, _agent, _name, _scope, _input), spans in groups.items():
        if len(spans) <= max_repeats:
            continue
        first = spans[0]
        what = f"{kind} {first.name!r}" if "name" in fields else f"{kind} calls"
        who = f" by {agent_name(first.agent)}" if "agent" in fields else ""
        same = " with the same input" if "input" in fields else ""
        findings.append(
            Finding(
                message=f"{what} called {len(spans)} times{who}{same} (max {max_repeats})",
                spans=tuple(s.span_id for s in spans),
                expected=f"at most {max_repeats} identical calls",
                found=f"{len(spans)} identical calls",
                details={
                    "kind": kind,
                    "name": first.name if "name" in fields else None,
                    "agent": first.agent if "agent" in fields else None,
                    "input": excerpt(first.input) if "input" in fields else None,
                    "count": len(spans),
                    "errors": sum(1 for s in spans if s.status == "error"),
                },
            )
        )
    return findings


# -- tool_loop ----------------------------------------------------------------------


def _smallest_period(block: list[Hashable]) -> int:
    size = len(block)
    for period in range(1, size):
        if size % period == 0 and all(block[i] == block[i - period] for i in range(period, size)):
            return period
    return size


def _find_loops(names: list[Hashable], min_cycles: int, max_period: int) -> list[tuple[int, int, int]]:
    """``(start, end, period)`` of maximal runs where ``names`` repeats a block ``min_cycles`` times.

    A run of positions ``i`` with ``names[i] == names[i - p]`` of length ``L``
    starting at ``s`` makes ``names[s - p : s + L]`` ``p``-periodic, i.e. the
    block repeats ``(L + p) // p`` times.  Runs whose block has a smaller
    period are left to that period.  No run can sit inside a run of another
    period: by Fine and Wilf's theorem a stretch of at least two blocks with
    periods ``p`` and ``d`` has period ``gcd(p, d)``, so its block is skipped.
    """
    found: list[tuple[int, int, int]] = []
    count = len(names)
    for period in range(1, max_period + 1):
        i = period
        while i < count:
            if names[i] != names[i - period]:
                i += 1
                continue
            start = i
            while i < count and names[i] == names[i - period]:
                i += 1
            begin, end = start - period, i  # names[begin:end] is period-periodic
            cycles = (end - begin) // period
            if cycles < min_cycles or _smallest_period(names[begin : begin + period]) != period:
                continue
            found.append((begin, end, period))
    return sorted(found)


def _pick(spans: list[Span], positions: list[int]) -> list[Span]:
    return [spans[i] for i in positions]


_Sequence = tuple[str | None, "list[Span] | Callable[[], list[Span]]", list[Hashable]]


def _sequences(
    trace: Trace, per: str, kinds: tuple[str, ...], ignore: tuple[str, ...], with_name: bool, with_input: bool
) -> Iterator[_Sequence]:
    """``(owner, spans, steps)`` per owner in order of first appearance; ``steps`` is what a cycle compares.

    Names are compared as they are when only names matter (no tuple per call).
    For one kind with nothing ignored, owners and names come from the index's
    columns, so the spans themselves are read only for an owner with a loop
    (``spans`` is then a function that lists them).
    """
    index = trace.index
    if not with_input and not ignore and len(set(kinds)) == 1:
        kind = kinds[0]
        bucket = index.by_kind.get(kind, [])
        names = index.column(kind, "name")
        positions: dict[str | None, list[int]] = {}
        if per == "trace":
            if bucket:
                positions[None] = list(range(len(bucket)))
        else:
            for position, owner in enumerate(index.column(kind, per)):
                positions.setdefault(owner, []).append(position)
        for owner, members in positions.items():
            yield owner, functools.partial(_pick, bucket, members), [names[i] for i in members]
        return
    sequences: dict[str | None, list[Span]] = {}
    for span in _spans_of(trace, kinds, ignore):
        owner = span.agent if per == "agent" else span.scope if per == "scope" else None
        sequences.setdefault(owner, []).append(span)
    for owner, spans in sequences.items():
        steps: list[Hashable]
        if not with_input:
            steps = [s.name for s in spans]
        elif with_name:
            steps = [(s.name, _input_key(s.input)) for s in spans]
        else:
            steps = [_input_key(s.input) for s in spans]
        yield owner, spans, steps


@detector(
    "tool_loop",
    "In one agent's tool calls, a cycle of 1 to max_period names repeated min_cycles times in a row.",
    min_cycles=ParamSpec(
        type="int", default=3, minimum=2, description="Consecutive repetitions of the cycle that make a loop."
    ),
    max_period=ParamSpec(type="int", default=4, minimum=1, description="Longest cycle looked for, in calls."),
    per=ParamSpec(
        type="string",
        default="agent",
        choices=("agent", "scope", "trace"),
        description="Whose call sequence is scanned: each agent's, each delegation scope's, or the whole trace's.",
    ),
    match=ParamSpec(
        type="list",
        default=("name",),
        choices=("name", "input"),
        minimum=1,
        description="What makes two calls the same step of a cycle; add 'input' so that, e.g., "
        "reading three different files in a row is not a loop.",
    ),
    kinds=ParamSpec(
        type="list", default=("tool",), choices=_CALL_KINDS, minimum=1, description="Span kinds in the sequence."
    ),
    ignore_tools=ParamSpec(
        type="list",
        default=(),
        description="Names left out of the sequence, globs allowed (they neither form nor break a cycle).",
    ),
)
def tool_loop(
    trace: Trace,
    *,
    min_cycles: int,
    max_period: int,
    per: str,
    match: tuple[str, ...],
    kinds: tuple[str, ...],
    ignore_tools: tuple[str, ...],
) -> list[Finding]:
    """One finding per maximal looping stretch of an agent's call sequence."""
    with_input = "input" in match
    with_name = "name" in match
    findings: list[Finding] = []
    word = _kind_word(kinds)
    for owner, spans, steps in _sequences(trace, per, kinds, ignore_tools, with_name, with_input):
        for begin, end, period in _find_loops(steps, min_cycles, max_period):
            if not isinstance(spans, list):
                spans = spans()
            cycle = [s.name for s in spans[begin : begin + period]]
            cycles = (end - begin) // period
            looping = spans[begin : begin + cycles * period]  # complete cycles only, no trailing partial
            who = (
                agent_name(owner)
                if per == "agent"
                else (f"scope {owner}" if owner else "(no scope)")
                if per == "scope"
                else "the trace"
            )
            findings.append(
                Finding(
                    message=(
                        f"{who} looped over {word} cycle [{' -> '.join(cycle)}] {cycles} times in a row "
                        f"({len(looping)} calls, loop threshold {min_cycles} cycles)"
                    ),
                    spans=tuple(s.span_id for s in looping),
                    expected=f"no cycle of up to {max_period} {word}s repeated {min_cycles} times in a row",
                    found=f"cycle [{', '.join(cycle)}] repeated {cycles} times",
                    details={
                        per: owner,
                        "cycle": cycle,
                        "period": period,
                        "cycles": cycles,
                        "calls": len(looping),
                    },
                )
            )
    return findings
