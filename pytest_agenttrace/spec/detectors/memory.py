"""Detectors of shared memory: ``context_pollution`` and ``lost_update``.

Memory spans are grouped by ``attributes.key`` (the span name when there is
no key) in one pass; each key's reads and writes are then swept in time order.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import pairwise
from operator import attrgetter
from typing import Any

from ...model import Span, Trace
from ._registry import (
    Finding,
    ParamSpec,
    agent_name,
    confidence_of,
    detector,
    is_low_confidence,
    label,
    matches_any,
    quoted,
)

__all__ = ["context_pollution", "lost_update"]


def _key(span: Span) -> str:
    value = span.attributes.get("key", span.name)
    return value if isinstance(value, str) else str(value)


def _version(span: Span) -> Any:
    value = span.attributes.get("version")
    return value if isinstance(value, str | int | float) and not isinstance(value, bool) else None


def _group(spans: Any) -> dict[str, list[Span]]:
    groups: dict[str, list[Span]] = {}
    for span in spans:
        groups.setdefault(_key(span), []).append(span)
    return groups


# -- context_pollution ------------------------------------------------------------


def _why_polluted(write: Span, min_confidence: float) -> str | None:
    if write.attributes.get("valid") is False:
        return "failed validation (valid: false)"
    if write.status == "error":
        return "ended with status error"
    if is_low_confidence(write, min_confidence):
        return f"has confidence {confidence_of(write):g} (below {min_confidence:g})"
    return None


@detector(
    "context_pollution",
    "A memory write with valid: false, status error or low confidence, read afterwards by other agents.",
    min_confidence=ParamSpec(
        type="number",
        default=0.5,
        description="attributes.confidence below this is low; writes without a confidence are not low.",
    ),
    include_same_agent=ParamSpec(
        type="bool", default=False, description="Also count reads by the agent that wrote the value."
    ),
    stop_at_rewrite=ParamSpec(
        type="bool",
        default=False,
        description=(
            "Credit each read to the write it saw (its version, else the latest write ended before it), "
            "so a later good write of the key ends the pollution."
        ),
    ),
)
def context_pollution(
    trace: Trace, *, min_confidence: float, include_same_agent: bool, stop_at_rewrite: bool
) -> list[Finding]:
    """One finding per bad write that other agents read.

    By default every read of the key by another agent that starts after the
    bad write ended is listed, whatever was written in between (the bad value
    may have been copied, cached or acted on).  With ``stop_at_rewrite`` a read
    is attributed to the write it saw: the write of that ``version`` when both
    carry ``attributes.version``, else the latest write of the key that ended
    before the read started; a good write in between then ends the pollution.
    """
    index = trace.index
    all_writes, write_positions = index.of_kinds_positioned(("memory_write",))
    # Only keys with a bad write can be polluted: a run without one costs a pass over its writes.
    bad_keys = {_key(w) for w in all_writes if _why_polluted(w, min_confidence) is not None}
    if not bad_keys:
        return []
    writes_by_key = _group(w for w in all_writes if _key(w) in bad_keys)
    reads_by_key = _group(r for r in index.by_kind.get("memory_read", ()) if _key(r) in bad_keys)
    found: list[tuple[Span, Finding]] = []
    for key, writes in writes_by_key.items():
        reasons = {w.span_id: r for w in writes if (r := _why_polluted(w, min_confidence)) is not None}
        reads = reads_by_key.get(key)
        if not reasons or not reads:
            continue
        if stop_at_rewrite:
            readers = _readers_of_what_they_saw(writes, reads, reasons, include_same_agent)
        else:
            readers = _readers_after(writes, reads, reasons, include_same_agent)
        for write_id, (write, victims) in readers.items():
            agents = list(dict.fromkeys(agent_name(r.agent) for r in victims))
            found.append(
                (
                    write,
                    Finding(
                        message=(
                            f"memory key {key!r} written by {agent_name(write.agent)} in {label(write)} "
                            f"{reasons[write_id]} and was then read by {quoted(agents)}"
                        ),
                        spans=(write_id, *(r.span_id for r in victims)),
                        expected=f"no other agent reads a bad value of {key!r}",
                        found=f"{len(victims)} read(s) by {len(agents)} agent(s) after the bad write",
                        chain=(write_id, *(r.span_id for r in victims)),
                        details={
                            "key": key,
                            "writer": write.agent,
                            "reason": reasons[write_id],
                            "readers": [{"span": r.span_id, "agent": r.agent} for r in victims],
                        },
                    ),
                )
            )
    if len(found) > 1:
        position = {id(w): at for w, at in zip(all_writes, write_positions)}
        found.sort(key=lambda item: position[id(item[0])])
    return [finding for _, finding in found]


def _readers_after(
    writes: list[Span], reads: list[Span], reasons: dict[str, str], include_same_agent: bool
) -> dict[str, tuple[Span, list[Span]]]:
    """Every read (of another agent) starting at or after each bad write's end, per bad write.

    Reads are in start order; a bad write's readers are a suffix of them, found by bisection, and
    runs of reads by the writer's own agent are skipped whole, so the cost follows the output.
    """
    if any(a.start_ns > b.start_ns for a, b in pairwise(reads)):
        reads = sorted(reads, key=attrgetter("start_ns"))
    starts = [r.start_ns for r in reads]
    # run_end[i]: the index just past the run of consecutive reads by reads[i]'s agent
    run_end = [0] * len(reads)
    for i in range(len(reads) - 1, -1, -1):
        run_end[i] = run_end[i + 1] if i + 1 < len(reads) and reads[i + 1].agent == reads[i].agent else i + 1
    readers: dict[str, tuple[Span, list[Span]]] = {}
    for write in writes:
        if write.span_id not in reasons:
            continue
        victims: list[Span] = []
        at = bisect_left(starts, write.end_ns)
        while at < len(reads):
            read = reads[at]
            if read.agent == write.agent and not include_same_agent:
                at = run_end[at]
                continue
            victims.append(read)
            at += 1
        if victims:
            readers[write.span_id] = (write, victims)
    return readers


def _readers_of_what_they_saw(
    writes: list[Span], reads: list[Span], reasons: dict[str, str], include_same_agent: bool
) -> dict[str, tuple[Span, list[Span]]]:
    """Each read credited to the write of its version, else the latest write ended before it."""
    by_version = {v: w for w in writes if (v := _version(w)) is not None}
    ended = sorted(writes, key=attrgetter("end_ns"))  # stable: trace order breaks ties
    readers: dict[str, tuple[Span, list[Span]]] = {}
    cursor, latest = 0, None
    for read in reads:  # in start order, as the trace lists them
        while cursor < len(ended) and ended[cursor].end_ns <= read.start_ns:
            latest = ended[cursor]
            cursor += 1
        version = _version(read)
        source = by_version.get(version) if version is not None and version in by_version else latest
        if source is None or source.span_id not in reasons or source.end_ns > read.start_ns:
            continue
        if read.agent == source.agent and not include_same_agent:
            continue
        readers.setdefault(source.span_id, (source, []))[1].append(read)
    return readers


# -- lost_update ------------------------------------------------------------------


@detector(
    "lost_update",
    "Two memory writes of one key, by different agents, based on the same version.",
    ignore_keys=ParamSpec(
        type="list",
        default=(),
        description="Keys where concurrent writes are expected (globs allowed), e.g. append-only logs.",
    ),
)
def lost_update(trace: Trace, *, ignore_keys: tuple[str, ...]) -> list[Finding]:
    """One finding per (key, based_on_version) written by two or more agents."""
    groups: dict[tuple[str, bool, Any], list[Span]] = {}
    for write in trace.index.by_kind.get("memory_write", ()):
        base = write.attributes.get("based_on_version")
        if base is None or isinstance(base, dict | list):
            continue
        key = _key(write)
        if ignore_keys and matches_any(ignore_keys, key):
            continue
        # Typed as everywhere in specs: version true is not version 1.
        groups.setdefault((key, type(base) is bool, base), []).append(write)
    findings: list[Finding] = []
    for (key, _, base), writes in groups.items():
        if len(writes) < 2:  # one write cannot lose another
            continue
        agents = list(dict.fromkeys(w.agent for w in writes))
        if len(agents) < 2:
            continue
        who = " and ".join(f"{agent_name(w.agent)} (span {w.span_id})" for w in writes)
        findings.append(
            Finding(
                message=(
                    f"memory key {key!r} was written by {who}, all based on version {base!r}: "
                    "one update overwrote the other; re-read before writing or merge"
                ),
                spans=tuple(w.span_id for w in writes),
                expected=f"one write per version of {key!r}",
                found=f"{len(writes)} writes by {len(agents)} agents based on version {base!r}",
                details={"key": key, "based_on_version": base, "agents": agents},
            )
        )
    return findings
