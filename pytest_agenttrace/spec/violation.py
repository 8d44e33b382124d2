"""Violations of spec rules, and how a person reads them.

A :class:`Violation` is plain data (rule id, message, expected, found, span
ids, chain) so that it crosses process boundaries (xdist, ``--format json``)
unchanged.  :meth:`Violation.format` renders it against the trace it was
found in: for every offending span its path from the root
(``agent:orchestrator > delegation:coder > tool:read_customer_db``), agent,
scope, version stamps and a small excerpt of the tree around it, and for
lineage findings (``cascading_error``, ``context_pollution``) the chain from
the origin to the victims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..model import Span, Trace
from ..report.terminal import terminal_safe

__all__ = ["Violation", "describe_span", "tree_excerpt"]

#: How many offending spans one violation renders in full; the rest are listed by id.
MAX_SPANS_SHOWN: Final = 3
#: Siblings shown on each side of an offending span in a tree excerpt.
SIBLINGS_SHOWN: Final = 2
_VALUE_WIDTH: Final = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """One way a trace breaks one rule.

    ``spans`` are the offending span ids, most relevant first; ``chain`` is,
    for lineage rules, the span ids from the origin to the victims in order.
    ``details`` holds JSON-ready extras (a detector's readers or cycle, a
    sequence's found names, ...).
    """

    rule: str
    message: str
    spans: tuple[str, ...] = ()
    expected: str = ""
    found: str = ""
    description: str | None = None
    kind: str = ""
    chain: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def to_dict(self, trace: Trace | None = None) -> dict[str, Any]:
        """A JSON-ready dict; with ``trace``, also each span's path, agent and scope."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "message": self.message,
            "spans": list(self.spans),
            "expected": self.expected,
            "found": self.found,
            "description": self.description,
            "kind": self.kind,
            "chain": list(self.chain),
            "details": self.details,
            "source": self.source,
        }
        if trace is not None:
            out["locations"] = [_location(trace, span_id) for span_id in dict.fromkeys((*self.spans, *self.chain))]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Violation:
        """The inverse of :meth:`to_dict` (extra keys such as ``locations`` are ignored)."""
        return cls(
            rule=data["rule"],
            message=data["message"],
            spans=tuple(data.get("spans") or ()),
            expected=data.get("expected") or "",
            found=data.get("found") or "",
            description=data.get("description"),
            kind=data.get("kind") or "",
            chain=tuple(data.get("chain") or ()),
            details=dict(data.get("details") or {}),
            source=data.get("source"),
        )

    def format(self, trace: Trace | None = None) -> str:
        """A multi-line report a person can act on (tree excerpts need ``trace``)."""
        head = f"[{self.rule}]"
        if self.description:
            head += f" {self.description}"
        lines = [head, f"  {self.message}"]
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.found:
            lines.append(f"  found:    {self.found}")
        if self.source:
            lines.append(f"  rule at:  {self.source}")
        chain_ids = set(self.chain)
        shown = [s for s in self.spans if s not in chain_ids or len(self.chain) < 2]
        for group in _by_parent(trace, shown[:MAX_SPANS_SHOWN]):
            for span_id in group:
                lines.extend("  " + line for line in _render_span(trace, span_id))
            if trace is not None and group[0] in trace.index.by_id:
                lines.extend("    " + line for line in tree_excerpt(trace, group))
        if len(shown) > MAX_SPANS_SHOWN:
            rest = shown[MAX_SPANS_SHOWN:]
            more = ", ".join(rest[:20]) + (", ..." if len(rest) > 20 else "")
            lines.append(f"  ... and {len(rest)} more spans: {more}")
        if len(self.chain) >= 2:
            lines.append("  chain (origin -> victims):")
            for position, span_id in enumerate(self.chain, 1):
                role = "origin" if position == 1 else "victim"
                lines.append(f"    {position}. {role}: {_one_line(trace, span_id)}")
            if trace is not None and self.chain[0] in trace.index.by_id:
                lines.extend("    " + line for line in tree_excerpt(trace, self.chain[0]))
        return "\n".join(terminal_safe(line) for line in lines)


def describe_span(trace: Trace, span: Span) -> str:
    """``[7] agent:orchestrator > delegation:coder > tool:read_customer_db``."""
    return f"[{span.span_id}] {trace.path_str(span)}"


def tree_excerpt(trace: Trace, span_ids: str | Sequence[str]) -> list[str]:
    """The parent, nearby siblings and the spans (marked ``>``), which share one parent."""
    index = trace.index
    marked = [span_ids] if isinstance(span_ids, str) else list(span_ids)
    span = index.by_id[marked[0]]
    parent = index.by_id.get(span.parent_id) if span.parent_id is not None else None
    siblings = index.children.get(parent.span_id if parent is not None else None, [span])
    wanted = set(marked)
    positions = [i for i, s in enumerate(siblings) if s.span_id in wanted] or [0]
    window = sorted(
        {j for i in positions for j in range(i - SIBLINGS_SHOWN, i + SIBLINGS_SHOWN + 1) if 0 <= j < len(siblings)}
    )
    out = ["tree:"]
    if parent is not None:
        out.append(f"  {_label(parent)}")
    previous = -1
    for i in window:
        if i - previous > 1:
            gap = i - previous - 1
            out.append(f"      ... {gap} {'earlier ' if previous < 0 else ''}sibling{'s' if gap != 1 else ''}")
        previous = i
        sibling = siblings[i]
        if sibling.span_id not in wanted:
            out.append(f"      {_label(sibling)}")
            continue
        line = f"    > {_label(sibling)}"
        children = len(index.children.get(sibling.span_id, ()))
        if children:
            line += f"  (+{children} child span{'s' if children != 1 else ''})"
        out.append(line + "   <-- here")
    if previous < len(siblings) - 1:
        later = len(siblings) - 1 - previous
        out.append(f"      ... {later} later sibling{'s' if later != 1 else ''}")
    return out


def _by_parent(trace: Trace | None, span_ids: Sequence[str]) -> list[list[str]]:
    """Consecutive runs of ``span_ids`` that share a parent (one tree excerpt each)."""
    groups: list[list[str]] = []
    last: object = object()
    for span_id in span_ids:
        span = trace.index.by_id.get(span_id) if trace is not None else None
        parent = span.parent_id if span is not None else object()
        if groups and parent == last and span is not None:
            groups[-1].append(span_id)
        else:
            groups.append([span_id])
        last = parent
    return groups


def _render_span(trace: Trace | None, span_id: str) -> list[str]:
    if trace is None or span_id not in trace.index.by_id:
        return [f"span {span_id}"]
    span = trace.index.by_id[span_id]
    lines = [f"span {describe_span(trace, span)}"]
    facts = [f"agent: {span.agent or '(none)'}", f"scope: {_scope_text(trace, span)}"]
    if span.status != "ok":
        facts.append(f"status: {span.status}{_error_text(span)}")
    lines.append("  " + "   ".join(facts))
    if isinstance(span.versions, Mapping) and span.versions:
        stamps = ", ".join(f"{k}={v}" for k, v in sorted(span.versions.items()))
        lines.append(f"  versions: {_cap(stamps, 160)}")
    return lines


def _one_line(trace: Trace | None, span_id: str) -> str:
    if trace is None or span_id not in trace.index.by_id:
        return f"span {span_id}"
    span = trace.index.by_id[span_id]
    text = f"{describe_span(trace, span)}   agent: {span.agent or '(none)'}"
    if span.status != "ok":
        text += f"   status: {span.status}{_error_text(span)}"
    confidence = span.attributes.get("confidence") if isinstance(span.attributes, Mapping) else None
    if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
        text += f"   confidence: {confidence:g}"
    return text


def _label(span: Span) -> str:
    text = f"{span.kind}:{span.name} [{span.span_id}]"
    if span.agent and span.kind != "agent":
        text += f" agent={span.agent}"
    if span.kind in ("delegation", "handoff") and (span.from_agent or span.to_agent):
        text += f" {span.from_agent or '?'} -> {span.to_agent or '?'}"
    if span.status != "ok":
        text += f" status={span.status}"
    return text


def _scope_text(trace: Trace, span: Span) -> str:
    if span.scope is None:
        return "(none)"
    scope_span = trace.index.by_id.get(span.scope)
    if scope_span is None:
        return span.scope
    return f"{span.scope} ({scope_span.kind}:{scope_span.name} {scope_span.from_agent or '?'} -> {scope_span.to_agent or '?'})"


def _error_text(span: Span) -> str:
    if not span.error:
        return ""
    if not isinstance(span.error, Mapping):
        return f" ({_cap(str(span.error), _VALUE_WIDTH)})"
    kind = span.error.get("type") or "error"
    message = span.error.get("message") or ""
    return f" ({_cap(f'{kind}: {message}' if message else str(kind), _VALUE_WIDTH)})"


def _location(trace: Trace, span_id: str) -> dict[str, Any]:
    span = trace.index.by_id.get(span_id)
    if span is None:
        return {"span_id": span_id, "path": None, "agent": None, "scope": None}
    return {
        "span_id": span_id,
        "path": trace.path_str(span),
        "kind": span.kind,
        "name": span.name,
        "agent": span.agent,
        "scope": span.scope,
        "versions": span.versions,
    }


def _cap(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
