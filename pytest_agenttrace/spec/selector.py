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
  else a string); a quoted value is always a string.  ``=`` is strictly typed:
  a string equals only a string (``[name=123]`` does not match the name
  ``"123"``; write ``[name="123"]``), a boolean only that boolean, ``null``
  only null, and numbers compare numerically (``1`` equals ``1.0``, never
  ``true`` or ``"1"``).  ``^= $= *=`` test prefix, suffix and substring and
  ``~=`` searches a regular expression: they read the value as text and hold
  only for string values.  ``< <= > >=`` compare two numbers or two strings;
  after them a bare duration literal such as ``30s`` or ``1.5ms`` counts as
  nanoseconds, and a bare number followed by letters that is not a duration
  (``1h``, ``30sec``, ``1e3s``) is an error: quote it for a string.  After
  ``=`` and ``!=`` bare values are typed as in YAML (``30s`` is text).
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
marking the ancestors of the matching spans (see :mod:`._selector_tree`).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import SelectorError
from ..model import KINDS
from ._lexer import Scanner, clip, parse_duration
from ._selector_tree import (
    ORDERING,
    Attribute,
    Complex,
    Compound,
    Context,
    Has,
    Not,
    Segment,
    SelectorList,
    SetFilter,
)

if TYPE_CHECKING:
    from ..model import Span, Trace

__all__ = ["Selector", "compile_selector", "select"]

ANY_KINDS: Final = ("span", "*")
OPERATORS: Final = ("==", "!=", "^=", "$=", "*=", "~=", "<=", ">=", "=", "<", ">")
PSEUDOS: Final = (":first", ":last", ":has()", ":not()")

_KIND_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9_:@-]+")
_PSEUDO_RE: Final = re.compile(r"[A-Za-z_-]+")


# -- parser ----------------------------------------------------------------------


class _Parser:
    """Recursive descent over :class:`Scanner`; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.scan = Scanner(text, "selector")

    def parse(self) -> SelectorList:
        scan = self.scan
        scan.skip_blanks()
        if scan.at_end:
            raise scan.error("a selector (a span kind such as 'tool', '*', '[' or ':')")
        result = self.selector_list()
        scan.skip_blanks()
        if not scan.at_end:
            raise scan.error("',' or the end of the selector")
        return result

    def selector_list(self) -> SelectorList:
        scan = self.scan
        alternatives = [self.complex()]
        while True:
            scan.skip_blanks()
            if not scan.startswith(","):
                return SelectorList(tuple(alternatives))
            scan.pos += 1
            scan.skip_blanks()
            alternatives.append(self.complex())

    def complex(self) -> Complex:
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
                return Complex(tuple(compounds), tuple(combinators))
            compounds.append(self.compound())

    def compound(self) -> Compound:
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
        segments: list[Segment] = []
        tests: list[Attribute] = []
        sets: list[SetFilter] = []
        while scan.peek() in ("[", ":") and not scan.at_end:
            if scan.peek() == "[":
                tests.append(self.attribute())
                continue
            name_at = scan.pos
            scan.pos += 1
            name = scan.match(_PSEUDO_RE) or ""
            if name in ("first", "last"):
                segments.append(Segment(tuple(tests), tuple(sets), name))
                tests, sets = [], []
            elif name in ("not", "has") and scan.startswith("("):
                scan.pos += 1
                scan.enter()
                scan.skip_blanks()
                sets.append(Not(self.selector_list()) if name == "not" else self.has_arguments())
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
            segments.append(Segment(tuple(tests), tuple(sets), None))
        return Compound(kind, tuple(segments))

    def has_arguments(self) -> Has:
        scan = self.scan
        alternatives: list[tuple[bool, Complex]] = []
        while True:
            child = scan.startswith(">")
            if child:
                scan.pos += 1
                scan.skip_blanks()
            alternatives.append((child, self.complex()))
            scan.skip_blanks()
            if not scan.startswith(","):
                return Has(tuple(alternatives))
            scan.pos += 1
            scan.skip_blanks()

    def attribute(self) -> Attribute:
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
            return Attribute(path, None, None, "", None)
        op = next((o for o in OPERATORS if scan.startswith(o)), None)
        if op is None:
            raise scan.error("an operator (= != ^= $= *= ~= < <= > >=) or ']'")
        scan.pos += len(op)
        op = "=" if op == "==" else op
        scan.skip_blanks()
        value_at = scan.pos
        quoted = scan.peek() in ("'", '"')
        raw, value = self.value()
        scan.skip_blanks()
        if not scan.startswith("]"):
            raise scan.error("']' (quote a value that contains spaces)")
        scan.pos += 1
        pattern: re.Pattern[str] | None = None
        if op == "~=":
            pattern = scan.regex(raw, value_at, f" in [{path}~=...]")
        elif op in ORDERING and isinstance(value, str) and not quoted:
            try:
                duration = parse_duration(value)
            except ValueError as error:
                raise scan.fail(str(error), value_at) from None
            if duration is not None:
                value = duration
            elif _UNIT_ATTEMPT.fullmatch(value):
                # A unit the grammar lacks: as a string no number is ever ordered with it, so
                # `[duration>1h]` never held.  (Other text, `1.2.3`, stays a string, as in YAML.)
                raise scan.fail(_not_a_number(value), value_at)
        return Attribute(path, op, value, raw, pattern)

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
        return raw, scan.scalar(raw, start)

    @staticmethod
    def _unknown(what: str, word: str, known: Sequence[str], strip: str = "") -> str:
        choices = [k.rstrip(strip) for k in known]
        close = difflib.get_close_matches(word, choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {what} {clip(word, 40)}{hint}; use one of: {', '.join(known)}"


#: A number followed by letters: after an ordering operator, meant as a duration (``1h``, ``30sec``).
_UNIT_ATTEMPT: Final = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[A-Za-z]+")
_UNIT_WORD_RE: Final = re.compile(r"[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?(ns|us|ms|s|m)")


def _not_a_number(value: str) -> str:
    """Why a bare value after ``< <= > >=`` that starts like a number is refused, and what to write."""
    shown = clip(value, 40)
    if _UNIT_WORD_RE.fullmatch(value):
        why = f"a duration is digits and a unit, such as 30s or 1.5ms, not {shown}"
    else:
        why = (
            f"{shown} is neither a number nor a duration: a duration takes one of the units ns, us, ms, s, m "
            "(such as 30s or 1.5ms)"
        )
    return f"{why}; quote it to compare with a string"


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
        return list(self._root.run(Context(trace)))

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


# Selections of the most recently used trace, so that rules calling matches() span by
# span stay linear.  Only one trace is kept alive.
_last_selections: tuple[Trace | None, dict[str, frozenset[str]]] = (None, {})


def _selected_ids(selector: Selector, trace: Trace) -> frozenset[str]:
    global _last_selections
    cached_trace, table = _last_selections
    if cached_trace is not trace:
        table = {}
        _last_selections = (trace, table)
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
