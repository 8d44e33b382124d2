"""The tree index of a trace: built part by part on first use, linear in spans.

:class:`~pytest_agenttrace.model.Trace` creates it on first use; every tree
query and every spec rule reads from it.  Each part (the id map, the
kind/name/agent buckets, the children lists, depths, scope membership,
positions) is computed the first time something reads it, so checking a spec
pays only for the parts its rules use.  Past a few thousand spans the trace no
longer fits in the CPU caches, and every pass over all spans, and every big
dictionary keyed by span-id strings, costs more per span: nothing is built
that no query reads.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, compress, repeat
from operator import attrgetter, eq
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Span

__all__ = ["TraceIndex"]

_span_id = attrgetter("span_id")

#: Passes over the trace :meth:`TraceIndex.positions_of` makes before it builds a map of every span.
_POSITION_PASSES = 2


class TraceIndex:
    """Precomputed structure of a trace; every part is built once, on first use, linear in spans.

    ``by_id``: span id -> span (the last span wins for a repeated id);
    ``order``: span id -> position in the trace; ``by_kind``, ``by_name``,
    ``by_agent``: buckets in trace order; ``children``: parent id (``None`` for
    the roots) -> children in trace order; ``roots``; ``depth``: span id -> depth
    (0 for a root); ``by_scope``: delegation id -> the spans under it at any
    depth.  The mappings and lists are shared: treat them as read-only.
    """

    __slots__ = (
        "_by_agent",
        "_by_id",
        "_by_kind",
        "_by_name",
        "_by_scope",
        "_children",
        "_columns",
        "_depth",
        "_kind_positions",
        "_matching",
        "_merged",
        "_order",
        "_position_passes",
        "_positions",
        "_roots",
        "_unique_ids",
        "spans",
    )

    def __init__(self, spans: Iterable[Span], *, unique_ids: bool = False) -> None:
        self.spans: tuple[Span, ...] = spans if isinstance(spans, tuple) else tuple(spans)
        #: Whether the spans' ids are known to be unique (the recorder and the trace-file loader say so).
        self._unique_ids = unique_ids
        self._by_id: dict[str, Span] | None = None
        self._order: dict[str, int] | None = None
        self._by_kind: dict[str, list[Span]] | None = None
        # Positions as machine integers: no int object per span for the collector to walk.
        self._kind_positions: dict[str, array[int]] = {}
        self._by_name: dict[str, list[Span]] | None = None
        self._by_agent: dict[str | None, list[Span]] | None = None
        self._by_scope: dict[str, list[Span]] | None = None
        self._children: dict[str | None, list[Span]] | None = None
        self._roots: list[Span] = []
        self._depth: dict[str, int] | None = None
        self._merged: dict[tuple[str, ...], tuple[list[Span], array[int]]] = {}
        self._matching: dict[tuple[str, str, str], list[Span]] = {}
        self._columns: dict[tuple[str, str], list[Any]] = {}
        self._positions: dict[int, int] | None = None
        self._position_passes = 0

    def built(self) -> tuple[str, ...]:
        """Names of the parts built so far (``by_kind``, ``by_id``, ...): what the queries so far needed."""
        parts = {
            "by_id": self._by_id,
            "order": self._order,
            "by_kind": self._by_kind,
            "by_name": self._by_name,
            "by_agent": self._by_agent,
            "children": self._children,
            "depth": self._depth,
            "by_scope": self._by_scope,
        }
        return tuple(name for name, part in parts.items() if part is not None)

    # -- id lookups ------------------------------------------------------------------

    @property
    def by_id(self) -> dict[str, Span]:
        """Span id -> span (for a repeated id, the last span)."""
        if self._by_id is None:
            self._by_id = dict(zip(map(_span_id, self.spans), self.spans))
        return self._by_id

    def get(self, span_id: str) -> Span | None:
        """``by_id.get(span_id)``, without building the map of every id where it can.

        The recorder numbers spans "1", "2", ... in the order they start, so in
        a trace whose ids are known to be unique the span with id ``"17"`` is
        usually the 17th: it is taken from there when its id says so.  Any other
        id, or a trace whose spans were reordered, looks the map up (built on
        the first such lookup).  A check reads a few parents and links of a
        large trace, not all of them: building the map of 100k ids cost more
        than all its lookups.
        """
        by_id = self._by_id
        if by_id is None:
            # Under 19 digits: any position there can be, and what int() reads (a 5000-digit id it refuses).
            if self._unique_ids and type(span_id) is str and len(span_id) < 19 and span_id.isdecimal():
                position = int(span_id) - 1
                spans = self.spans
                if 0 <= position < len(spans):
                    span = spans[position]
                    if span.span_id == span_id:  # "007" is not span "7"
                        return span
            by_id = self.by_id
        return by_id.get(span_id)

    @property
    def order(self) -> dict[str, int]:
        """Span id -> position in the trace (start order; for a repeated id, the last position)."""
        if self._order is None:
            self._order = dict(zip(map(_span_id, self.spans), range(len(self.spans))))
        return self._order

    def positions_of(self, spans: Iterable[Span]) -> dict[int, int]:
        """``id(span)`` -> position in the trace for each of ``spans`` (0 for a span not in it).

        By identity, so no span id is hashed: the first few calls make one
        pass over the trace each, which allocates nothing per span; a trace
        asked more often builds the map of every span once and answers from it.
        """
        if self._positions is not None:
            table = self._positions
            return {key: table.get(key, 0) for key in map(id, spans)}
        if self._position_passes >= _POSITION_PASSES:
            self._positions = dict(zip(map(id, self.spans), range(len(self.spans))))
            return self.positions_of(spans)
        self._position_passes += 1
        found = dict.fromkeys(map(id, spans), 0)
        for position, key in enumerate(map(id, self.spans)):
            if key in found:
                found[key] = position
        return found

    # -- buckets ---------------------------------------------------------------------

    @property
    def by_kind(self) -> dict[str, list[Span]]:
        """Kind -> spans of that kind in trace order (kinds in order of first appearance)."""
        if self._by_kind is None:
            by_kind: dict[str, list[Span]] = {}
            positions: dict[str, array[int]] = {}  # published together with by_kind, below
            get = by_kind.get
            for position, span in enumerate(self.spans):
                kind = span.kind
                bucket = get(kind)
                if bucket is None:
                    by_kind[kind] = [span]
                    positions[kind] = array("q", (position,))
                else:
                    bucket.append(span)
                    positions[kind].append(position)
            self._kind_positions = positions
            self._by_kind = by_kind
        return self._by_kind

    @property
    def by_name(self) -> dict[str, list[Span]]:
        """Name -> spans of that name in trace order."""
        if self._by_name is None:
            self._by_name = _group(self.spans, "name")
        return self._by_name

    @property
    def by_agent(self) -> dict[str | None, list[Span]]:
        """Agent (``None`` for none) -> its spans in trace order, agents in order of first appearance."""
        if self._by_agent is None:
            self._by_agent = _group(self.spans, "agent")
        return self._by_agent

    def matching(self, kind: str | None, field: str, value: str) -> list[Span]:
        """The spans of ``kind`` (``None``: any) whose ``field`` (``"name"`` or ``"agent"``) is ``value``.

        In trace order; a shared list: do not modify it.  With a kind, the
        kind's bucket is filtered (and the result kept), so a selector such as
        ``tool[name=x]`` touches only tool spans; without one, :attr:`by_name`
        or :attr:`by_agent` answers.
        """
        if field not in ("name", "agent"):
            raise ValueError(f"matching() looks up 'name' or 'agent', not {field!r}")
        if kind is None:
            buckets: Mapping[Any, list[Span]] = self.by_name if field == "name" else self.by_agent
            return buckets.get(value, [])
        key = (kind, field, value)
        found = self._matching.get(key)
        if found is None:
            built = self._by_name if field == "name" else self._by_agent
            if built is not None:  # the smaller bucket is already at hand
                found = [span for span in built.get(value, ()) if span.kind == kind]
            else:
                bucket = self.by_kind.get(kind, [])
                hits = compress(range(len(bucket)), map(eq, self.column(kind, field), repeat(value)))
                found = list(map(bucket.__getitem__, hits))
            self._matching[key] = found
        return found

    def column(self, kind: str, field: str) -> list[Any]:
        """``field`` of every span of ``kind``, parallel to ``by_kind[kind]`` (a shared list: read only).

        Rules that scan one field of a bucket (tool names, say) read this short
        list instead of every span object, and it is built once for all of them.
        """
        key = (kind, field)
        values = self._columns.get(key)
        if values is None:
            values = self._columns[key] = list(map(attrgetter(field), self.by_kind.get(kind, ())))
        return values

    def of_kinds(self, kinds: Iterable[str]) -> list[Span]:
        """The spans of any of ``kinds`` in trace order (a shared list: do not modify it)."""
        return self.of_kinds_positioned(kinds)[0]

    def of_kinds_positioned(self, kinds: Iterable[str]) -> tuple[list[Span], Sequence[int]]:
        """:meth:`of_kinds` and, in parallel, each span's position in the trace (shared: read only).

        Merges the kind buckets by position: proportional to the spans of those
        kinds, not to the trace.
        """
        by_kind = self.by_kind
        wanted = tuple(dict.fromkeys(kind for kind in kinds if kind in by_kind))
        if not wanted:
            return [], ()
        if len(wanted) == 1:
            return by_kind[wanted[0]], self._kind_positions[wanted[0]]
        cached = self._merged.get(wanted)
        if cached is None:
            merged = sorted(chain.from_iterable(self._kind_positions[kind] for kind in wanted))
            cached = self._merged[wanted] = (list(map(self.spans.__getitem__, merged)), array("q", merged))
        return cached

    # -- tree ------------------------------------------------------------------------

    @property
    def children(self) -> dict[str | None, list[Span]]:
        """Parent id -> children in trace order; ``None`` -> the roots (spans whose parent is unknown)."""
        if self._children is None:
            by_id = self.by_id
            children: dict[str | None, list[Span]] = {}
            roots: list[Span] = []
            get = children.get
            for span in self.spans:
                parent = span.parent_id
                if parent not in by_id:
                    parent = None
                    roots.append(span)
                bucket = get(parent)
                if bucket is None:
                    children[parent] = [span]
                else:
                    bucket.append(span)
            self._roots = roots  # published before the children, which roots reads
            self._children = children
        return self._children

    @property
    def roots(self) -> list[Span]:
        """Spans without a (known) parent, in trace order."""
        self.children  # noqa: B018 - built together with the children lists
        return self._roots

    @property
    def depth(self) -> dict[str, int]:
        """Span id -> depth below its root (0 for a root); spans on a parent cycle have none."""
        if self._depth is None:
            children = self.children
            depth: dict[str, int] = {}
            # Walk down from the roots: iterative, so deep trees do not recurse.
            stack = [(root, 0) for root in reversed(self._roots)]
            while stack:
                span, level = stack.pop()
                depth[span.span_id] = level
                for child in reversed(children.get(span.span_id, ())):
                    if child.span_id not in depth:
                        stack.append((child, level + 1))
            self._depth = depth
        return self._depth

    @property
    def by_scope(self) -> dict[str, list[Span]]:
        """Delegation id -> the spans recorded under it (at any depth of nesting), in trace order."""
        if self._by_scope is None:
            by_scope: dict[str, list[Span]] = {}
            for span in self.spans:
                for scope_id in span.scope_path:
                    by_scope.setdefault(scope_id, []).append(span)
            self._by_scope = by_scope
        return self._by_scope


def _group(spans: Sequence[Span], field: str) -> dict[Any, list[Span]]:
    """Spans bucketed by one field, buckets in trace order."""
    groups: dict[Any, list[Span]] = {}
    get = groups.get
    for span, key in zip(spans, map(attrgetter(field), spans)):
        bucket = get(key)
        if bucket is None:
            groups[key] = [span]
        else:
            bucket.append(span)
    return groups
