"""The syntax tree of compiled selectors and its set-based, linear evaluation.

:mod:`.selector` parses a selector into these nodes; this module evaluates
them on a trace.  Every node works on lists of spans in start order:

* a :class:`Compound` starts from an index bucket (kind, or name/agent for an
  equality test) and filters it; ``:first``/``:last`` split it into segments;
* a :class:`Complex` runs its compounds left to right, passing the previous
  selection as a *relation* (child: parent id in the set; descendant: an upward
  walk with memoisation, so every span is visited a bounded number of times);
  its last compound, when it has no ``:first``/``:last``, runs first and
  alone: if nothing matches it, nothing left of it runs;
* :class:`Has` marks the ancestors (or parents) of its matches in one upward
  pass (a relative selector with ``:first``/``:last`` is first selected left
  to right, as it would be alone, then narrowed from the right); :class:`Not` takes the complement of its selection, testing the
  candidates directly when its argument is a plain compound;
* attribute tests are compiled to closures specialised by operator and literal.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._lexer import MISSING, field_getter, is_number

if TYPE_CHECKING:
    from ..model import Span, Trace, TraceIndex

__all__ = [
    "ORDERING",
    "Attribute",
    "Complex",
    "Compound",
    "Context",
    "Has",
    "Not",
    "Segment",
    "SelectorList",
    "SetFilter",
]

ORDERING: Final = frozenset({"<", "<=", ">", ">="})

Relation = Callable[[list["Span"]], list["Span"]]


# -- evaluation context ----------------------------------------------------------


class Context:
    """One evaluation of a selector on one trace: the index and per-node memos."""

    __slots__ = ("index", "memo", "trace")

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.index: TraceIndex = trace.index
        self.memo: dict[int, frozenset[str]] = {}

    def below(self, ancestor_ids: frozenset[str]) -> Relation:
        """Keep the spans that have a proper ancestor in ``ancestor_ids``."""
        lookup = self.index.get
        # memo[x]: x itself or one of its ancestors is in ancestor_ids
        memo: dict[str, bool] = {}

        def relation(spans: list[Span]) -> list[Span]:
            out: list[Span] = []
            for span in spans:
                pid = span.parent_id
                if pid in ancestor_ids:  # a child of an ancestor: the common case, no walk
                    out.append(span)
                    continue
                path: list[str] = []
                result = False
                while pid is not None:
                    known = memo.get(pid)
                    if known is not None:
                        result = known
                        break
                    if pid in ancestor_ids:
                        result = True
                        break
                    parent = lookup(pid)
                    if parent is None:
                        break
                    memo[pid] = False  # provisional: a corrupt trace with a parent cycle ends here
                    path.append(pid)
                    pid = parent.parent_id
                for visited in path:
                    memo[visited] = result
                if result:
                    out.append(span)
            return out

        return relation

    def with_descendant_in(self, targets: Sequence[Span]) -> frozenset[str]:
        """Ids of the spans having a descendant among ``targets`` (one upward pass)."""
        lookup = self.index.get
        marked: set[str] = set()
        for target in targets:
            pid = target.parent_id
            while pid is not None and pid not in marked:
                parent = lookup(pid)
                if parent is None:
                    break
                marked.add(pid)
                pid = parent.parent_id
        return frozenset(marked)

    def with_child_in(self, targets: Sequence[Span]) -> frozenset[str]:
        """Ids of the spans having a child among ``targets``."""
        # Ids of unknown parents may slip in: they are only ever tested against ids of spans of the trace.
        return frozenset(t.parent_id for t in targets if t.parent_id is not None)


# -- syntax tree -----------------------------------------------------------------


Check = Callable[[Any], bool]


def _equality(value: Any) -> Check:
    """``v = value`` on one (non-list) value, typed strictly as in YAML.

    A string equals only a string, a boolean only the same boolean, null only
    null; numbers compare numerically with each other (``1 = 1.0``) but never
    with a boolean or with the string of their digits.
    """
    if isinstance(value, str):
        return lambda v: isinstance(v, str) and v == value
    if isinstance(value, bool) or value is None:
        return lambda v: v is value
    return lambda v: is_number(v) and bool(v == value)


def _scalar_check(op: str, value: Any, raw: str, pattern: re.Pattern[str] | None) -> Check:
    """``v OP value`` on one (non-list, present) value."""
    if op == "=":
        return _equality(value)
    if op in ORDERING:
        compare = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
        if is_number(value):
            return lambda v: is_number(v) and bool(compare(v, value))
        if isinstance(value, str):
            return lambda v: isinstance(v, str) and bool(compare(v, value))
        return lambda v: False
    # text operators: the operand is read as text and only a string value can hold it
    if op == "~=":
        assert pattern is not None
        search = pattern.search
        return lambda v: isinstance(v, str) and search(v) is not None
    test = {"^=": str.startswith, "$=": str.endswith, "*=": str.__contains__}[op]
    return lambda v: isinstance(v, str) and test(v, raw)


class Attribute:
    """``[path op value]``: a test on one span, compiled to a closure at parse time."""

    __slots__ = ("check", "op", "path", "raw", "value")

    def __init__(self, path: str, op: str | None, value: Any, raw: str, pattern: re.Pattern[str] | None) -> None:
        self.path = path
        self.op = op
        self.value = value
        self.raw = raw
        self.check = self._compile(field_getter(path), op, value, raw, pattern)

    @staticmethod
    def _compile(
        get: Callable[[Span], Any], op: str | None, value: Any, raw: str, pattern: re.Pattern[str] | None
    ) -> Callable[[Span], bool]:
        if op is None:
            return lambda span: get(span) is not MISSING
        if op == "!=":
            equals = _equality(value)

            def differs(span: Span) -> bool:
                found = get(span)
                if found is MISSING:
                    return True
                if isinstance(found, (list, tuple)):
                    return not any(equals(v) for v in found)
                return not equals(found)

            return differs
        check = _scalar_check(op, value, raw, pattern)

        def holds(span: Span) -> bool:
            found = get(span)
            if found is MISSING:
                return False
            if isinstance(found, (list, tuple)):
                return any(check(v) for v in found)
            return check(found)

        return holds


class SetFilter:
    """A filter computed for the whole trace at once (``:not()``, ``:has()``)."""

    negated: bool = False

    def keep(self, ctx: Context, spans: list[Span]) -> list[Span]:
        """The spans of ``spans`` this filter keeps."""
        ids = self.ids(ctx)
        if self.negated:
            return [s for s in spans if s.span_id not in ids]
        return [s for s in spans if s.span_id in ids]

    def ids(self, ctx: Context) -> frozenset[str]:
        """Ids of the spans this filter keeps (``negated``: drops)."""
        cached = ctx.memo.get(id(self))
        if cached is None:
            cached = ctx.memo[id(self)] = self._compute(ctx)
        return cached

    def _compute(self, ctx: Context) -> frozenset[str]:
        raise NotImplementedError


class Not(SetFilter):
    """``:not(LIST)``: the spans the inner selector list does not select."""

    negated = True

    def __init__(self, inner: SelectorList) -> None:
        self.inner = inner
        # :not(A, B) of plain compounds (no combinator, no :first/:last) tests the candidates
        # themselves instead of selecting A and B over the whole trace first.
        self.local: tuple[Compound, ...] | None = None
        plain = (
            len(c.compounds) == 1 and len(c.compounds[0].segments) == 1 and c.compounds[0].segments[0].position is None
            for c in inner.alternatives
        )
        if all(plain):
            self.local = tuple(c.compounds[0] for c in inner.alternatives)

    def keep(self, ctx: Context, spans: list[Span]) -> list[Span]:
        if self.local is None:
            return super().keep(ctx, spans)
        matched: set[int] = set()
        for compound in self.local:
            matched.update(id(s) for s in compound.filter(ctx, spans))
        return [s for s in spans if id(s) not in matched]

    def _compute(self, ctx: Context) -> frozenset[str]:
        return frozenset(s.span_id for s in self.inner.run(ctx))


class Has(SetFilter):
    """``:has(REL, ...)``: the spans with a descendant (``>``: a child) matching a relative selector."""

    def __init__(self, alternatives: tuple[tuple[bool, Complex], ...]) -> None:
        self.alternatives = alternatives  # (child?, relative complex selector)

    def _compute(self, ctx: Context) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for child, complex_ in self.alternatives:
            out |= self._relative(ctx, child, complex_)
        return out

    @staticmethod
    def _relative(ctx: Context, child: bool, complex_: Complex) -> frozenset[str]:
        # :has(c1 > c2 c3) == :has(c1:has(> c2:has(c3))): evaluate from the right so every
        # compound of the relative selector lies below the span being tested.
        compounds, combinators = complex_.compounds, complex_.combinators
        if all(compound.unpositioned for compound in compounds):
            targets = compounds[-1].run(ctx, None)
            for position in range(len(compounds) - 2, -1, -1):
                if not targets:
                    return frozenset()
                holders = (
                    ctx.with_child_in(targets) if combinators[position] == ">" else ctx.with_descendant_in(targets)
                )
                targets = compounds[position].run(ctx, _within(holders))
        else:
            # The relative selector stands alone: ":first"/":last" take the first/last of its whole
            # selection so far (``agent:first tool``: the first agent of the trace), so its compounds
            # are selected left to right as at the top level; then, from the right, only the spans
            # of each stage that lead down to a match of the next stage are kept.
            stages = complex_.stages(ctx)
            targets = stages[-1]
            for position in range(len(compounds) - 2, -1, -1):
                if not targets:
                    return frozenset()
                holders = (
                    ctx.with_child_in(targets) if combinators[position] == ">" else ctx.with_descendant_in(targets)
                )
                targets = [s for s in stages[position] if s.span_id in holders]
        return ctx.with_child_in(targets) if child else ctx.with_descendant_in(targets)


def _within(ids: frozenset[str]) -> Relation:
    """Keep the spans whose id is in ``ids``."""
    return lambda spans: [s for s in spans if s.span_id in ids]


def _child_of(ids: frozenset[str]) -> Relation:
    """Keep the spans whose parent's id is in ``ids``."""
    return lambda spans: [s for s in spans if s.parent_id in ids]


@dataclass(frozen=True, slots=True)
class Segment:
    """The filters of a compound up to (and including) one ``:first``/``:last``."""

    tests: tuple[Attribute, ...]
    sets: tuple[SetFilter, ...]
    position: str | None  # "first", "last" or None


@dataclass(frozen=True, slots=True)
class Compound:
    """A kind (``None``: any) and its filters, split into segments at ``:first``/``:last``."""

    kind: str | None
    segments: tuple[Segment, ...]

    @property
    def unpositioned(self) -> bool:
        """No ``:first``/``:last``: every filter keeps or drops each span on its own."""
        return all(segment.position is None for segment in self.segments)

    def run(self, ctx: Context, relation: Relation | None) -> list[Span]:
        """The matching spans in start order; ``relation`` is applied before any ``:first``/``:last``."""
        spans = self._candidates(ctx)
        for number, segment in enumerate(self.segments):
            for test in segment.tests:
                check = test.check
                spans = [s for s in spans if check(s)]
            if number == 0 and relation is not None:
                spans = relation(spans)
            for node in segment.sets:
                spans = node.keep(ctx, spans)
            if segment.position == "first":
                spans = spans[:1]
            elif segment.position == "last":
                spans = spans[-1:]
        return spans

    def filter(self, ctx: Context, spans: list[Span]) -> list[Span]:
        """The spans of ``spans`` matching this compound (which has no ``:first``/``:last``)."""
        if self.kind is not None:
            kind = self.kind
            spans = [s for s in spans if s.kind == kind]
        segment = self.segments[0]
        for test in segment.tests:
            check = test.check
            spans = [s for s in spans if check(s)]
        for node in segment.sets:
            spans = node.keep(ctx, spans)
        return spans

    def _candidates(self, ctx: Context) -> list[Span]:
        index = ctx.index
        # An equality on name or agent before any :first/:last picks the smaller index bucket: of
        # the kind filtered by that value (every test is applied again by run()).
        for test in self.segments[0].tests:
            if test.op == "=" and isinstance(test.value, str) and test.path in ("name", "agent"):
                return index.matching(self.kind, test.path, test.value)
        return list(ctx.trace.spans) if self.kind is None else index.by_kind.get(self.kind, [])


@dataclass(frozen=True, slots=True)
class Complex:
    """Compounds joined by combinators: ``A B`` (descendant) and ``A > B`` (child)."""

    compounds: tuple[Compound, ...]
    combinators: tuple[str, ...]  # " " or ">" between compounds

    def run(self, ctx: Context) -> list[Span]:
        compounds = self.compounds
        ending: list[Span] | None = None
        if len(compounds) > 1 and compounds[-1].unpositioned:
            # Every match is a match of the last compound: when nothing matches it (a forbid rule on a
            # clean trace), the compounds before it and their ancestor walks are never computed.  With
            # no :first/:last, applying the relation after the compound's filters selects the same spans.
            ending = compounds[-1].run(ctx, None)
            if not ending:
                return []
        spans = compounds[0].run(ctx, None)
        final = len(compounds) - 1
        for number, (combinator, compound) in enumerate(zip(self.combinators, compounds[1:]), 1):
            if not spans:
                return []
            ids = frozenset(s.span_id for s in spans)
            relation = _child_of(ids) if combinator == ">" else ctx.below(ids)
            spans = relation(ending) if number == final and ending is not None else compound.run(ctx, relation)
        return spans

    def stages(self, ctx: Context) -> list[list[Span]]:
        """The selection after each compound, left to right (empty from the first empty one on)."""
        spans = self.compounds[0].run(ctx, None)
        stages = [spans]
        for combinator, compound in zip(self.combinators, self.compounds[1:]):
            if spans:
                ids = frozenset(s.span_id for s in spans)
                spans = compound.run(ctx, _child_of(ids) if combinator == ">" else ctx.below(ids))
            stages.append(spans)
        return stages


@dataclass(frozen=True, slots=True)
class SelectorList:
    """Complex selectors joined by ``,``: their union in start order."""

    alternatives: tuple[Complex, ...]

    def run(self, ctx: Context) -> list[Span]:
        if len(self.alternatives) == 1:
            return self.alternatives[0].run(ctx)
        seen: set[int] = set()
        merged: list[Span] = []
        for alternative in self.alternatives:
            for span in alternative.run(ctx):
                if id(span) not in seen:
                    seen.add(id(span))
                    merged.append(span)
        if len(merged) > 1:
            position = ctx.index.positions_of(merged)
            merged.sort(key=lambda s: position[id(s)])
        return merged
