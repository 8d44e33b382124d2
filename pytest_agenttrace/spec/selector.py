"""The selector language: CSS-like queries over a trace's span tree.

Examples::

    tool[name=web_search]                      tool spans named web_search
    delegation[to_agent=external] tool         tools anywhere under a delegation to "external"
    agent[name=coder] > tool:first             the first tool called directly by the coder agent
    llm[usage.input_tokens>=100000], tool[status=error]
    memory_write[valid=false]
    agent:not(:has(llm))                       agents that never called a model
    span[name~="^read_"]                       any kind, name matching a regular expression

Grammar (``S`` is whitespace; ``KIND`` is a span kind, ``span`` or ``*``)::

    selector_list := S* complex ( S* ',' S* complex )* S*
    complex       := compound ( combinator compound )*
    combinator    := S* '>' S*              (child)
                   | S+                     (descendant)
    compound      := ( KIND | '*' ) filter* | filter+
    filter        := attribute | pseudo
    attribute     := '[' S* path S* ( op S* value S* )? ']'
    path          := SEGMENT ( '.' SEGMENT )*          SEGMENT := [A-Za-z0-9_:@-]+
    op            := '=' | '==' | '!=' | '^=' | '$=' | '*=' | '~=' | '<' | '<=' | '>' | '>='
    value         := QUOTED | BARE
    QUOTED        := "'" ... "'" | '"' ... '"'  (backslash escapes)
    BARE          := characters other than S and ']' (brackets inside must balance)
    pseudo        := ':first' | ':last'
                   | ':not(' S* selector_list S* ')'
                   | ':has(' S* relative ( S* ',' S* relative )* S* ')'
    relative      := ( '>' S* )? complex

Semantics:

* A compound is an AND of its parts; ``,`` is an OR; ``A B`` selects the B
  spans with an ancestor matching A; ``A > B`` the B spans whose parent matches A.
* ``span`` and ``*`` match any kind; an unknown kind is an error.
* ``[path]`` holds when the value exists.  ``path`` is looked up as a span
  field first (``name``, ``agent``, ``status``, ``scope``, ``kind``, ...), then
  under ``attributes``; dotted paths reach inside mappings and lists
  (``[usage.input_tokens>100]`` = ``[attributes.usage.input_tokens>100]``);
  ``duration`` is ``end_ns - start_ns``.
* A bare value is typed as in YAML (``true``, ``false``, ``null``, ``1``, ``2.5``,
  else a string); quote it to force a string.  ``=`` compares typed values
  (numbers numerically); a string field also equals the bare text, so
  ``[name=123]`` matches the name ``"123"``.  ``^= $= *=`` test prefix, suffix
  and substring of the text; ``~=`` searches a regular expression;
  ``< <= > >=`` compare two numbers or two strings (a duration literal such as
  ``30s`` or ``1.5ms`` counts as nanoseconds).
* ``[x!=v]`` holds when ``x`` is missing; every other operator fails on a
  missing value.  For a list value, an operator holds when it holds for some
  element (so ``=`` means "contains") and ``!=`` when no element equals ``v``.
* ``:first``/``:last`` keep the first/last span, in start order, of everything
  selected so far: ``agent[name=coder] > tool:last`` is the coder's last direct
  tool call; ``tool:first[name=x]`` is the first tool if it is named ``x``.
* ``:not(L)`` keeps the spans not selected by ``L``; ``:has(R)`` keeps the spans
  with a descendant (``:has(> R)``: a child) matching ``R``, where ``R`` is
  relative to the span (``agent:has(delegation tool)`` needs both the delegation
  and the tool below the agent).  Selectors inside ``:not()`` and ``:has()`` are
  evaluated on the whole trace, so ``:first`` inside them means the first span
  of the trace.

Evaluation is set-based and linear in the number of spans: each compound
starts from an index bucket (kind, name or agent), descendant tests walk up
parents with memoisation, and ``:has()`` is computed once per evaluation by
marking the ancestors of the matching spans.
"""

from __future__ import annotations

import difflib
import functools
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import SelectorError
from ..model import KINDS
from ._lexer import MISSING, Scanner, field_getter, is_number, parse_duration, yaml_scalar

if TYPE_CHECKING:
    from ..model import Span, Trace, TraceIndex

__all__ = ["Selector", "compile_selector", "select"]

ANY_KINDS: Final = ("span", "*")
OPERATORS: Final = ("==", "!=", "^=", "$=", "*=", "~=", "<=", ">=", "=", "<", ">")
PSEUDOS: Final = (":first", ":last", ":has()", ":not()")

_KIND_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9_:@-]+")
_PSEUDO_RE: Final = re.compile(r"[A-Za-z_-]+")
_ORDERING: Final = frozenset({"<", "<=", ">", ">="})

Relation = Callable[[list["Span"]], list["Span"]]


# -- evaluation context ----------------------------------------------------------


class _Context:
    """One evaluation of a selector on one trace: the index and per-node memos."""

    __slots__ = ("index", "memo", "parent_of", "trace")

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.index: TraceIndex = trace.index
        self.memo: dict[int, frozenset[str]] = {}
        self.parent_of = _cache_for(trace).parents()

    def below(self, ancestor_ids: frozenset[str]) -> Relation:
        """Keep the spans that have a proper ancestor in ``ancestor_ids``."""
        parent_of = self.parent_of
        # memo[x]: x itself or one of its ancestors is in ancestor_ids
        memo: dict[str, bool] = {}

        def relation(spans: list[Span]) -> list[Span]:
            out: list[Span] = []
            for span in spans:
                pid = parent_of.get(span.span_id)
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
                    memo[pid] = False  # provisional: a corrupt trace with a parent cycle ends here
                    path.append(pid)
                    pid = parent_of.get(pid)
                for visited in path:
                    memo[visited] = result
                if result:
                    out.append(span)
            return out

        return relation

    def with_descendant_in(self, targets: Sequence[Span]) -> frozenset[str]:
        """Ids of the spans having a descendant among ``targets`` (one upward pass)."""
        parent_of = self.parent_of
        marked: set[str] = set()
        for target in targets:
            pid = parent_of.get(target.span_id)
            while pid is not None and pid not in marked:
                marked.add(pid)
                pid = parent_of.get(pid)
        return frozenset(marked)

    def with_child_in(self, targets: Sequence[Span]) -> frozenset[str]:
        """Ids of the spans having a child among ``targets``."""
        parent_of = self.parent_of
        return frozenset(p for t in targets if (p := parent_of.get(t.span_id)) is not None)


class _TraceCache:
    """What selectors remember about the most recently used trace (only one trace is kept alive).

    ``parents`` maps each span id to its parent's id when that parent is in the trace (else
    ``None``), so upward walks cost one dict lookup per step; ``selections`` makes
    :meth:`Selector.matches` linear when a rule calls it span by span.
    """

    __slots__ = ("_parents", "selections", "trace")

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.selections: dict[str, frozenset[str]] = {}
        self._parents: dict[str, str | None] | None = None

    def parents(self) -> dict[str, str | None]:
        if self._parents is None:
            by_id = self.trace.index.by_id
            self._parents = {
                s.span_id: (s.parent_id if s.parent_id is not None and s.parent_id in by_id else None)
                for s in self.trace.spans
            }
        return self._parents


_last_trace: list[_TraceCache] = []


def _cache_for(trace: Trace) -> _TraceCache:
    cached = _last_trace[0] if _last_trace else None
    if cached is None or cached.trace is not trace:
        cached = _TraceCache(trace)
        _last_trace[:] = [cached]
    return cached


# -- syntax tree -----------------------------------------------------------------


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if is_number(value):
        return str(value)
    return None


Check = Callable[[Any], bool]


def _equality(value: Any, raw: str) -> Check:
    """``v = value`` on one (non-list) value, specialised by the literal's type."""
    if isinstance(value, str):
        return lambda v: bool(v == value)
    if isinstance(value, bool) or value is None:
        return lambda v: v is value or (isinstance(v, str) and v == raw)
    # a number: numerically equal numbers, or a string field holding the same text
    return lambda v: (is_number(v) and bool(v == value)) or (isinstance(v, str) and v == raw)


def _scalar_check(op: str, value: Any, raw: str, pattern: re.Pattern[str] | None) -> Check:
    """``v OP value`` on one (non-list, present) value."""
    if op == "=":
        return _equality(value, raw)
    if op in _ORDERING:
        compare = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
        if is_number(value):
            return lambda v: is_number(v) and bool(compare(v, value))
        if isinstance(value, str):
            return lambda v: isinstance(v, str) and bool(compare(v, value))
        return lambda v: False
    if op == "~=":
        assert pattern is not None
        search = pattern.search
        return lambda v: (text := _as_text(v)) is not None and search(text) is not None
    test = {"^=": str.startswith, "$=": str.endswith, "*=": str.__contains__}[op]
    return lambda v: (text := _as_text(v)) is not None and test(text, raw)


class _Attribute:
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
            equals = _equality(value, raw)

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


class _SetFilter:
    """A filter computed for the whole trace at once (``:not()``, ``:has()``)."""

    negated: bool = False

    def ids(self, ctx: _Context) -> frozenset[str]:
        """Ids of the spans this filter keeps (``negated``: drops)."""
        cached = ctx.memo.get(id(self))
        if cached is None:
            cached = ctx.memo[id(self)] = self._compute(ctx)
        return cached

    def _compute(self, ctx: _Context) -> frozenset[str]:
        raise NotImplementedError


class _Not(_SetFilter):
    negated = True

    def __init__(self, inner: _List) -> None:
        self.inner = inner

    def _compute(self, ctx: _Context) -> frozenset[str]:
        return frozenset(s.span_id for s in self.inner.run(ctx))


class _Has(_SetFilter):
    def __init__(self, alternatives: tuple[tuple[bool, _Complex], ...]) -> None:
        self.alternatives = alternatives  # (child?, relative complex selector)

    def _compute(self, ctx: _Context) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for child, complex_ in self.alternatives:
            out |= self._relative(ctx, child, complex_)
        return out

    @staticmethod
    def _relative(ctx: _Context, child: bool, complex_: _Complex) -> frozenset[str]:
        # :has(c1 > c2 c3) == :has(c1:has(> c2:has(c3))): evaluate from the right so every
        # compound of the relative selector lies below the span being tested.
        compounds, combinators = complex_.compounds, complex_.combinators
        targets = compounds[-1].run(ctx, None)
        for position in range(len(compounds) - 2, -1, -1):
            if not targets:
                return frozenset()
            holders = ctx.with_child_in(targets) if combinators[position] == ">" else ctx.with_descendant_in(targets)
            targets = compounds[position].run(ctx, _within(holders))
        return ctx.with_child_in(targets) if child else ctx.with_descendant_in(targets)


def _within(ids: frozenset[str]) -> Relation:
    """Keep the spans whose id is in ``ids``."""
    return lambda spans: [s for s in spans if s.span_id in ids]


def _child_of(ids: frozenset[str]) -> Relation:
    """Keep the spans whose parent's id is in ``ids``."""
    return lambda spans: [s for s in spans if s.parent_id in ids]


@dataclass(frozen=True, slots=True)
class _Segment:
    """The filters of a compound up to (and including) one ``:first``/``:last``."""

    tests: tuple[_Attribute, ...]
    sets: tuple[_SetFilter, ...]
    position: str | None  # "first", "last" or None


@dataclass(frozen=True, slots=True)
class _Compound:
    kind: str | None
    segments: tuple[_Segment, ...]

    def run(self, ctx: _Context, relation: Relation | None) -> list[Span]:
        """The matching spans in start order; ``relation`` is applied before any ``:first``/``:last``."""
        spans = self._candidates(ctx)
        for number, segment in enumerate(self.segments):
            for test in segment.tests:
                check = test.check
                spans = [s for s in spans if check(s)]
            if number == 0 and relation is not None:
                spans = relation(spans)
            for node in segment.sets:
                ids = node.ids(ctx)
                if node.negated:
                    spans = [s for s in spans if s.span_id not in ids]
                else:
                    spans = [s for s in spans if s.span_id in ids]
            if segment.position == "first":
                spans = spans[:1]
            elif segment.position == "last":
                spans = spans[-1:]
        return spans

    def _candidates(self, ctx: _Context) -> list[Span]:
        index = ctx.index
        best: list[Span] = list(ctx.trace.spans) if self.kind is None else index.by_kind.get(self.kind, [])
        narrowed = False
        # An equality on name or agent before any :first/:last picks a smaller index bucket.
        for test in self.segments[0].tests:
            if test.op in ("=", "==") and isinstance(test.value, str):
                if test.path == "name":
                    bucket = index.by_name.get(test.value, [])
                elif test.path == "agent":
                    bucket = index.by_agent.get(test.value, [])
                else:
                    continue
                if len(bucket) < len(best):
                    best, narrowed = bucket, True
        if narrowed and self.kind is not None:
            kind = self.kind
            return [s for s in best if s.kind == kind]
        return best


@dataclass(frozen=True, slots=True)
class _Complex:
    compounds: tuple[_Compound, ...]
    combinators: tuple[str, ...]  # " " or ">" between compounds

    def run(self, ctx: _Context) -> list[Span]:
        spans = self.compounds[0].run(ctx, None)
        for combinator, compound in zip(self.combinators, self.compounds[1:]):
            if not spans:
                return []
            ids = frozenset(s.span_id for s in spans)
            if combinator == ">":
                spans = compound.run(ctx, _child_of(ids))
            else:
                spans = compound.run(ctx, ctx.below(ids))
        return spans


@dataclass(frozen=True, slots=True)
class _List:
    alternatives: tuple[_Complex, ...]

    def run(self, ctx: _Context) -> list[Span]:
        if len(self.alternatives) == 1:
            return self.alternatives[0].run(ctx)
        seen: set[int] = set()
        merged: list[Span] = []
        for alternative in self.alternatives:
            for span in alternative.run(ctx):
                if id(span) not in seen:
                    seen.add(id(span))
                    merged.append(span)
        position = ctx.index.order
        merged.sort(key=lambda s: position.get(s.span_id, 0))
        return merged


# -- parser ----------------------------------------------------------------------


class _Parser:
    """Recursive descent over :class:`Scanner`; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.scan = Scanner(text, "selector")

    def parse(self) -> _List:
        scan = self.scan
        scan.skip_blanks()
        if scan.at_end:
            raise scan.error("a selector (a span kind such as 'tool', '*', '[' or ':')")
        result = self.selector_list()
        scan.skip_blanks()
        if not scan.at_end:
            raise scan.error("',' or the end of the selector")
        return result

    def selector_list(self) -> _List:
        scan = self.scan
        alternatives = [self.complex()]
        while True:
            scan.skip_blanks()
            if not scan.startswith(","):
                return _List(tuple(alternatives))
            scan.pos += 1
            scan.skip_blanks()
            alternatives.append(self.complex())

    def complex(self) -> _Complex:
        scan = self.scan
        compounds = [self.compound()]
        combinators: list[str] = []
        while True:
            mark = scan.pos
            blanks = scan.skip_blanks()
            if scan.startswith(">"):
                scan.pos += 1
                scan.skip_blanks()
                combinators.append(">")
            elif blanks and not scan.at_end and scan.peek() not in ",)":
                combinators.append(" ")
            else:
                if not blanks and not scan.at_end and scan.peek() not in ",)":
                    raise scan.error("'[', ':', a combinator (' ' or '>') or ','")
                scan.pos = mark
                return _Complex(tuple(compounds), tuple(combinators))
            compounds.append(self.compound())

    def compound(self) -> _Compound:
        scan = self.scan
        start = scan.pos
        kind: str | None = None
        if scan.startswith("*"):
            scan.pos += 1
        else:
            word = scan.match(_KIND_RE)
            if word is not None:
                if word not in KINDS and word not in ANY_KINDS:
                    raise scan.fail(self._unknown("span kind", word, (*KINDS, *ANY_KINDS)), start)
                kind = None if word in ANY_KINDS else word
        segments: list[_Segment] = []
        tests: list[_Attribute] = []
        sets: list[_SetFilter] = []
        while scan.peek() in ("[", ":") and not scan.at_end:
            if scan.peek() == "[":
                tests.append(self.attribute())
                continue
            name_at = scan.pos
            scan.pos += 1
            name = scan.match(_PSEUDO_RE) or ""
            if name in ("first", "last"):
                segments.append(_Segment(tuple(tests), tuple(sets), name))
                tests, sets = [], []
            elif name in ("not", "has") and scan.startswith("("):
                scan.pos += 1
                scan.enter()
                scan.skip_blanks()
                sets.append(_Not(self.selector_list()) if name == "not" else self.has_arguments())
                scan.skip_blanks()
                scan.expect(")", "')' to close :" + name + "(")
                scan.leave()
            elif name in ("not", "has"):
                raise scan.error(f"'(' after :{name}")
            else:
                raise scan.fail(self._unknown("pseudo-class", ":" + name, PSEUDOS, strip="()"), name_at)
        if scan.pos == start:
            raise scan.error("a span kind (such as 'tool'), '*', '[' or ':'")
        if tests or sets or not segments:
            segments.append(_Segment(tuple(tests), tuple(sets), None))
        return _Compound(kind, tuple(segments))

    def has_arguments(self) -> _Has:
        scan = self.scan
        alternatives: list[tuple[bool, _Complex]] = []
        while True:
            child = scan.startswith(">")
            if child:
                scan.pos += 1
                scan.skip_blanks()
            alternatives.append((child, self.complex()))
            scan.skip_blanks()
            if not scan.startswith(","):
                return _Has(tuple(alternatives))
            scan.pos += 1
            scan.skip_blanks()

    def attribute(self) -> _Attribute:
        scan = self.scan
        scan.pos += 1  # '['
        scan.skip_blanks()
        segments = [scan.match(_SEGMENT_RE)]
        while segments[-1] is not None and scan.startswith("."):
            scan.pos += 1
            segments.append(scan.match(_SEGMENT_RE))
        if segments[-1] is None:
            raise scan.error("an attribute name (such as 'name' or 'usage.input_tokens')")
        path = ".".join(s for s in segments if s is not None)
        scan.skip_blanks()
        if scan.startswith("]"):
            scan.pos += 1
            return _Attribute(path, None, None, "", None)
        op = next((o for o in OPERATORS if scan.startswith(o)), None)
        if op is None:
            raise scan.error("an operator (= != ^= $= *= ~= < <= > >=) or ']'")
        scan.pos += len(op)
        op = "=" if op == "==" else op
        scan.skip_blanks()
        value_at = scan.pos
        raw, value = self.value()
        scan.skip_blanks()
        if not scan.startswith("]"):
            raise scan.error("']' (quote a value that contains spaces)")
        scan.pos += 1
        pattern: re.Pattern[str] | None = None
        if op == "~=":
            try:
                pattern = re.compile(raw)
            except re.error as exc:
                raise scan.fail(f"invalid regular expression {raw!r} in [{path}~=...]: {exc}", value_at) from None
        elif op in _ORDERING and isinstance(value, str):
            duration = parse_duration(value)
            if duration is not None:
                value = duration
        return _Attribute(path, op, value, raw, pattern)

    def value(self) -> tuple[str, Any]:
        """``(text, typed value)``: quoted values stay strings, bare ones are typed as YAML."""
        scan = self.scan
        if scan.peek() in ("'", '"') and not scan.at_end:
            text = scan.read_quoted()
            return text, text
        start = scan.pos
        depth = 0
        source = scan.text
        while scan.pos < len(source):
            char = source[scan.pos]
            if char.isspace() and depth == 0:
                break
            if char == "[":
                depth += 1
            elif char == "]":
                if depth == 0:
                    break
                depth -= 1
            scan.pos += 1
        if scan.pos == start:
            raise scan.error("a value")
        raw = source[start : scan.pos]
        return raw, yaml_scalar(raw)

    @staticmethod
    def _unknown(what: str, word: str, known: Sequence[str], strip: str = "") -> str:
        choices = [k.rstrip(strip) for k in known]
        close = difflib.get_close_matches(word, choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {what} {word!r}{hint}; use one of: {', '.join(known)}"


# -- public API ------------------------------------------------------------------


class Selector:
    """A compiled selector: immutable and reusable across traces.

    Build one with :func:`compile_selector` (cached).  ``text`` is the source.
    """

    __slots__ = ("_root", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._root = _Parser(text).parse()

    def select(self, trace: Trace) -> list[Span]:
        """The spans of ``trace`` matching the selector, in start order, without duplicates."""
        return list(self._root.run(_Context(trace)))

    def matches(self, trace: Trace, span: Span) -> bool:
        """Whether ``span`` is in the selection on ``trace``.

        ``:first``/``:last`` make this relative to the whole selection, so the
        selection is computed once per trace and remembered for the most
        recently used trace.
        """
        return span.span_id in _selected_ids(self, trace)

    def __repr__(self) -> str:
        return f"Selector({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Selector) and other.text == self.text

    def __hash__(self) -> int:
        return hash(("Selector", self.text))


def _selected_ids(selector: Selector, trace: Trace) -> frozenset[str]:
    table = _cache_for(trace).selections
    ids = table.get(selector.text)
    if ids is None:
        ids = table[selector.text] = frozenset(s.span_id for s in selector.select(trace))
    return ids


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Selector:
    return Selector(text)


def compile_selector(text: str) -> Selector:
    """Parse ``text`` into a :class:`Selector` (cached by text).

    Raises :class:`~pytest_agenttrace.exceptions.SelectorError` with the column
    and what was expected when ``text`` does not parse.
    """
    if not isinstance(text, str):
        raise SelectorError(f"a selector must be a string, got {type(text).__name__}: {text!r}")
    return _compile(text)


def select(trace: Trace, text: str) -> list[Span]:
    """The spans of ``trace`` matching selector ``text`` (see the module docstring)."""
    return compile_selector(text).select(trace)
