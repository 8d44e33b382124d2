"""The tree index of a trace: built once per trace, linear in spans.

:class:`~pytest_agenttrace.model.Trace` builds it on first use; every tree
query and every spec rule reads from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Span

__all__ = ["TraceIndex"]


class TraceIndex:
    """Precomputed tree structure of a trace; built once, linear in spans."""

    __slots__ = ("by_agent", "by_id", "by_kind", "by_name", "by_scope", "children", "depth", "order", "roots")

    def __init__(self, spans: Iterable[Span]) -> None:
        self.by_id: dict[str, Span] = {}
        self.children: dict[str | None, list[Span]] = {}
        self.roots: list[Span] = []
        self.depth: dict[str, int] = {}
        self.by_kind: dict[str, list[Span]] = {}
        self.by_name: dict[str, list[Span]] = {}
        self.by_agent: dict[str | None, list[Span]] = {}
        self.order: dict[str, int] = {}
        self.by_scope: dict[str, list[Span]] = {}
        ordered = list(spans)
        for position, span in enumerate(ordered):
            self.by_id[span.span_id] = span
            self.order[span.span_id] = position
            self.by_kind.setdefault(span.kind, []).append(span)
            self.by_name.setdefault(span.name, []).append(span)
            self.by_agent.setdefault(span.agent, []).append(span)
            for scope_id in span.scope_path:
                self.by_scope.setdefault(scope_id, []).append(span)
        for span in ordered:
            parent = span.parent_id if span.parent_id in self.by_id else None
            if parent is None:
                self.roots.append(span)
            self.children.setdefault(parent, []).append(span)
        # Depth by walking from the roots: iterative, so deep trees do not recurse.
        stack = [(root, 0) for root in reversed(self.roots)]
        while stack:
            span, depth = stack.pop()
            self.depth[span.span_id] = depth
            for child in reversed(self.children.get(span.span_id, ())):
                if child.span_id not in self.depth:
                    stack.append((child, depth + 1))
