"""A tiny span builder shared by the spec, selector and detector benchmarks.

Builds frozen spans directly (no recorder), one millisecond apart, with the
recorder's inheritance rules: ``agent`` from the parent (an ``agent`` span is
its own agent), ``scope``/``scope_path`` from enclosing delegations.
"""

from __future__ import annotations

from typing import Any

from pytest_agenttrace.model import Span

MS = 1_000_000
_INHERIT: Any = object()


class SpanBuilder:
    """Appends spans in start order; ``clock`` is the last start time."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.clock = 0

    def add(self, kind: str, name: str, parent: Span | None, *, agent: Any = _INHERIT, **kw: Any) -> Span:
        """One span under ``parent``; ``start_ns``/``duration`` override the clock, other keywords are fields."""
        self.clock += MS
        if agent is _INHERIT:
            agent = name if kind == "agent" else (parent.agent if parent else None)
        scope_path = list(parent.scope_path) if parent else []
        if parent is not None and parent.kind == "delegation":
            scope_path.append(parent.span_id)
        start = kw.pop("start_ns", self.clock)
        span = Span(
            span_id=str(len(self.spans) + 1),
            parent_id=parent.span_id if parent else None,
            kind=kind,
            name=name,
            agent=agent,
            scope=scope_path[-1] if scope_path else None,
            scope_path=scope_path,
            start_ns=start,
            end_ns=start + kw.pop("duration", MS // 2),
            **kw,
        )
        self.spans.append(span)
        return span
