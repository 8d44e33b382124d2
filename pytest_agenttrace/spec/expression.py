"""The expression language of ``expect`` rules: a boolean test on one span.

Examples::

    duration < 30s
    attributes.usage.input_tokens < 100000
    status == "ok" and not attributes.truncated
    name in ["read_file", "edit_file"] or (kind = "llm" and confidence >= 0.5)
    input.path contains ".py"
    model matches "^gpt-4"

Grammar (tokens may be separated by whitespace)::

    expression := or_expr
    or_expr    := and_expr ( 'or' and_expr )*
    and_expr   := not_expr ( 'and' not_expr )*
    not_expr   := 'not' not_expr | '(' expression ')' | test
    test       := operand ( COMPARE operand
                          | 'in' operand | 'not' 'in' operand
                          | 'contains' operand | 'matches' STRING )?
    COMPARE    := '==' | '=' | '!=' | '<' | '<=' | '>' | '>='
    operand    := literal | PATH
    literal    := NUMBER | DURATION | STRING | 'true' | 'false' | 'null'
                | '[' ( literal ( ',' literal )* ','? )? ']'
    NUMBER     := '-'? digits ( '.' digits )? ( ('e'|'E') ('+'|'-')? digits )?
    DURATION   := digits ( '.' digits )? ( 'ns' | 'us' | 'ms' | 's' | 'm' )
    STRING     := '"' ... '"' | "'" ... "'"   (backslash escapes)
    PATH       := NAME ( '.' SEGMENT )*     NAME := [A-Za-z_][A-Za-z0-9_:@-]*   SEGMENT := [A-Za-z0-9_:@-]+

Semantics:

* A ``PATH`` is looked up on the span as a field first (``name``, ``agent``,
  ``status``, ``kind``, ``start_ns``, ...), then under ``attributes``; dotted
  paths reach inside mappings and lists.  ``duration`` is ``end_ns - start_ns``
  in nanoseconds and a ``DURATION`` literal is nanoseconds (``30s`` = 30e9).
* Bare words are paths, never strings: write ``name == "coder"``.
* ``==`` (or ``=``) compares numbers numerically and never equates a boolean
  with a number, inside lists and mappings too; ``< <= > >=`` compare two numbers or two strings, any other
  pair is false.  ``a in b``: ``b`` a list containing ``a``, a string containing
  the substring ``a``, or a mapping with key ``a``; ``a contains b`` is
  ``b in a``.  ``matches`` searches a regular expression.
* A test on a missing value is false (``!=`` and ``not in`` included) and
  :meth:`Expression.explain` says which value is missing.  A bare operand is
  true when it exists and is truthy.

Parse errors raise :class:`~pytest_agenttrace.exceptions.SelectorError` naming
the column and what was expected.  Nothing is ever evaluated as Python.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import SelectorError
from ._lexer import (
    MISSING,
    Scanner,
    as_text,
    describe,
    equal,
    field_getter,
    format_duration,
    is_number,
    order,
    yaml_scalar,
)

if TYPE_CHECKING:
    from ..model import Span

__all__ = ["Expression", "compile_expression"]

_NUMBER_RE: Final = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_UNIT_RE: Final = re.compile(r"(?:ns|us|ms|s|m)(?![A-Za-z0-9_])")
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_:@-]*")
_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9_:@-]+")
_COMPARE: Final = ("==", "!=", "<=", ">=", "=", "<", ">")
_ORDERS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "contains", "matches"})
_CONSTANTS: Final = frozenset({"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"})


# -- syntax tree -----------------------------------------------------------------


class _Path:
    """A field path; ``get(span)`` is the value or ``MISSING``."""

    __slots__ = ("get", "path", "text")

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.get: Callable[[Span], Any] = field_getter(path)


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any
    text: str
    duration: bool = False

    def get(self, span: Span) -> Any:
        return self.value


_Operand = _Path | _Literal


def _show(operand: _Operand, value: Any, duration: bool) -> str:
    if (duration or (isinstance(operand, _Path) and operand.path == "duration")) and is_number(value):
        return format_duration(value)
    return describe(value)


class _Node:
    """A boolean node of the expression tree."""

    text: str

    def evaluate(self, span: Span) -> bool:
        raise NotImplementedError

    def compile(self) -> Callable[[Span], bool]:
        """A closure equivalent to :meth:`evaluate`, specialised for speed."""
        return self.evaluate

    def explain(self, span: Span) -> str:
        """Why the node is false on ``span`` (call only when it is)."""
        raise NotImplementedError

    def values(self, span: Span) -> list[str]:
        """``path is value`` for each path the node reads."""
        raise NotImplementedError

    def missing(self, span: Span) -> list[str]:
        """The paths the node reads that are missing on ``span``."""
        raise NotImplementedError


class _Test(_Node):
    """``left OP right``, or a bare operand (``op`` is ``None``)."""

    __slots__ = ("left", "op", "pattern", "right", "text")

    def __init__(
        self,
        left: _Operand,
        op: str | None,
        right: _Operand | None,
        text: str,
        pattern: re.Pattern[str] | None = None,
    ) -> None:
        self.left = left
        self.op = op
        self.right = right
        self.text = text
        self.pattern = pattern

    def _operands(self) -> list[_Operand]:
        return [self.left] if self.right is None else [self.left, self.right]

    def evaluate(self, span: Span) -> bool:
        a = self.left.get(span)
        if a is MISSING:
            return False
        op = self.op
        if op is None:
            return bool(a)
        assert self.right is not None
        b = self.right.get(span)
        if b is MISSING:
            return False
        if op == "==":
            return equal(a, b)
        if op == "!=":
            return not equal(a, b)
        if op == "in":
            return _contains(b, a)
        if op == "not in":
            return not _contains(b, a)
        if op == "contains":
            return _contains(a, b)
        if op == "matches":
            assert self.pattern is not None
            text = as_text(a)
            return text is not None and self.pattern.search(text) is not None
        sign = order(a, b)
        if sign is None:
            return False
        if op == "<":
            return sign < 0
        if op == "<=":
            return sign <= 0
        if op == ">":
            return sign > 0
        return sign >= 0

    def compile(self) -> Callable[[Span], bool]:
        # The common shapes (a path against a literal) get a closure without the generic dispatch;
        # everything else falls back to evaluate().  Both must agree: the tests run both.
        if not isinstance(self.left, _Path):
            return self.evaluate
        get = self.left.get
        if self.op is None:
            return lambda span: bool(get(span))  # MISSING is falsy
        if not isinstance(self.right, _Literal):
            return self.evaluate
        value, op = self.right.value, self.op
        if op in _ORDERS:
            compare = _ORDERS[op]
            if is_number(value):
                return lambda span: is_number(v := get(span)) and bool(compare(v, value))
            if isinstance(value, str):
                return lambda span: isinstance(v := get(span), str) and bool(compare(v, value))
            return lambda span: False
        if op == "in" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            members = frozenset(value)
            return lambda span: isinstance(v := get(span), str) and v in members
        if op == "contains" and isinstance(value, str):

            def contains(span: Span) -> bool:
                found = get(span)
                if isinstance(found, str):
                    return value in found
                return found is not MISSING and _contains(found, value)

            return contains
        if isinstance(value, str) and op in ("==", "!="):
            if op == "==":
                return lambda span: bool(get(span) == value)  # MISSING equals nothing
            return lambda span: (v := get(span)) is not MISSING and bool(v != value)
        return self.evaluate

    def missing(self, span: Span) -> list[str]:
        return [o.text for o in self._operands() if isinstance(o, _Path) and o.get(span) is MISSING]

    def values(self, span: Span) -> list[str]:
        duration = any(isinstance(o, _Literal) and o.duration for o in self._operands())
        out = []
        for operand in self._operands():
            if isinstance(operand, _Path):
                value = operand.get(span)
                shown = "missing" if value is MISSING else _show(operand, value, duration)
                out.append(f"{operand.text} is {shown}")
        return out

    def explain(self, span: Span) -> str:
        missing = self.missing(span)
        if missing:
            name = missing[0]
            hint = ""
            if self.right is not None and isinstance(self.right, _Path) and self.right.text == name and "." not in name:
                hint = f' (to compare with the string, quote it: "{name}")'
            return f"{name} is missing{hint}"
        if self.op is None:
            if isinstance(self.left, _Path):
                return f"{self.values(span)[0]}, expected a true value"
            return f"{self.left.text} is always false"
        assert self.right is not None
        if isinstance(self.left, _Path) and isinstance(self.right, _Literal):
            left_value = self.left.get(span)
            note = ""
            if self.op in ("<", "<=", ">", ">=") and order(left_value, self.right.value) is None:
                note = f" ({_kind_of(left_value)} does not compare with {_kind_of(self.right.value)})"
            shown = _show(self.left, left_value, self.right.duration)
            return f"{self.left.text} is {shown}, expected {self.op} {self.right.text}{note}"
        found = ", ".join(self.values(span))
        return f"{found}, expected {self.text}" if found else f"{self.text} is false"


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, (list, tuple)):
        return any(equal(element, item) for element in container)
    if isinstance(container, Mapping):
        try:
            return item in container
        except TypeError:  # an unhashable item is no key
            return False
    return False


class _Not(_Node):
    __slots__ = ("inner", "text")

    def __init__(self, inner: _Node, text: str) -> None:
        self.inner = inner
        self.text = text

    def evaluate(self, span: Span) -> bool:
        return not self.inner.evaluate(span)

    def compile(self) -> Callable[[Span], bool]:
        inner = self.inner.compile()
        return lambda span: not inner(span)

    def explain(self, span: Span) -> str:
        found = "; ".join(self.inner.values(span))
        return f"expected not ({self.inner.text}), but " + (found or "it holds")

    def values(self, span: Span) -> list[str]:
        return self.inner.values(span)

    def missing(self, span: Span) -> list[str]:
        return self.inner.missing(span)


class _Junction(_Node):
    """``and`` (``every`` true) or ``or`` (``every`` false)."""

    __slots__ = ("every", "parts", "text")

    def __init__(self, parts: list[_Node], every: bool, text: str) -> None:
        self.parts = parts
        self.every = every
        self.text = text

    def evaluate(self, span: Span) -> bool:
        if self.every:
            return all(p.evaluate(span) for p in self.parts)
        return any(p.evaluate(span) for p in self.parts)

    def compile(self) -> Callable[[Span], bool]:
        parts = [p.compile() for p in self.parts]
        if len(parts) == 2:
            first, second = parts
            if self.every:
                return lambda span: first(span) and second(span)
            return lambda span: first(span) or second(span)
        if self.every:
            return lambda span: all(p(span) for p in parts)
        return lambda span: any(p(span) for p in parts)

    def explain(self, span: Span) -> str:
        if self.every:
            return next(p.explain(span) for p in self.parts if not p.evaluate(span))
        return "; ".join(p.explain(span) for p in self.parts)

    def values(self, span: Span) -> list[str]:
        return list(dict.fromkeys(v for p in self.parts for v in p.values(span)))

    def missing(self, span: Span) -> list[str]:
        return list(dict.fromkeys(m for p in self.parts for m in p.missing(span)))


# -- parser ----------------------------------------------------------------------


class _Parser:
    """Recursive descent over :class:`Scanner`; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.scan = Scanner(text, "expression")

    def parse(self) -> _Node:
        scan = self.scan
        scan.skip_blanks()
        if scan.at_end:
            raise scan.error("an expression (such as 'duration < 30s')")
        node = self.or_expr()
        scan.skip_blanks()
        if not scan.at_end:
            raise scan.error("an operator, 'and', 'or' or the end of the expression")
        return node

    def _keyword(self, word: str) -> bool:
        """Consume keyword ``word`` if it stands at the cursor (after blanks)."""
        scan = self.scan
        scan.skip_blanks()
        if scan.startswith(word):
            after = scan.pos + len(word)
            if after >= len(scan.text) or not (scan.text[after].isalnum() or scan.text[after] in "_:@-."):
                scan.pos = after
                return True
        return False

    def _source(self, start: int) -> str:
        return self.scan.text[start : self.scan.pos].strip()

    def or_expr(self) -> _Node:
        start = self._start()
        parts = [self.and_expr()]
        while self._keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _Junction(parts, False, self._source(start))

    def and_expr(self) -> _Node:
        start = self._start()
        parts = [self.not_expr()]
        while self._keyword("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else _Junction(parts, True, self._source(start))

    def not_expr(self) -> _Node:
        start = self._start()
        scan = self.scan
        if self._keyword("not"):
            scan.enter()
            inner = self.not_expr()
            scan.leave()
            return _Not(inner, self._source(start))
        if scan.startswith("("):
            scan.pos += 1
            scan.enter()
            node = self.or_expr()
            scan.skip_blanks()
            scan.expect(")", "')' or an operator")
            scan.leave()
            return node
        return self.test()

    def _start(self) -> int:
        self.scan.skip_blanks()
        return self.scan.pos

    def test(self) -> _Node:
        scan = self.scan
        start = self._start()
        left = self.operand()
        mark = scan.pos
        scan.skip_blanks()
        op = next((o for o in _COMPARE if scan.startswith(o)), None)
        if op is not None:
            scan.pos += len(op)
            op = "==" if op == "=" else op
        elif self._keyword("in"):
            op = "in"
        elif self._keyword("contains"):
            op = "contains"
        elif self._keyword("matches"):
            scan.skip_blanks()
            at = scan.pos
            if scan.peek() not in ("'", '"') or scan.at_end:
                raise scan.error("a quoted regular expression after 'matches'")
            raw = scan.read_quoted()
            pattern = scan.regex(raw, at)
            return _Test(left, "matches", _Literal(raw, scan.text[at : scan.pos]), self._source(start), pattern)
        else:
            not_at = scan.pos
            if self._keyword("not"):
                if self._keyword("in"):
                    op = "not in"
                else:
                    raise scan.error("'in' after 'not'")
            else:
                scan.pos = not_at
        if op is None:
            scan.pos = mark
            return _Test(left, None, None, self._source(start))
        scan.skip_blanks()
        right = self.operand()
        return _Test(left, op, right, self._source(start))

    def operand(self) -> _Operand:
        scan = self.scan
        scan.skip_blanks()
        start = scan.pos
        char = scan.peek()
        if char in ("'", '"') and char:
            value = scan.read_quoted()
            return _Literal(value, scan.text[start : scan.pos])
        if char == "[":
            scan.enter()
            literal = self.list_literal()
            scan.leave()
            return literal
        number = scan.match(_NUMBER_RE)
        if number is not None:
            unit = scan.match(_UNIT_RE)
            if unit is not None:
                if "e" in number.lower() or number.startswith("-"):
                    raise scan.fail(f"a duration is digits and a unit, such as 30s or 1.5ms, not {number}{unit}", start)
                return _Literal(scan.duration(number, unit, start), scan.text[start : scan.pos], True)
            if not scan.at_end and (scan.peek().isalpha() or scan.peek() == "_"):
                unit_at = scan.pos
                word = scan.match(_SEGMENT_RE) or ""
                raise scan.fail(
                    f"{number}{word!s} is neither a number nor a duration: "
                    "a duration takes one of the units ns, us, ms, s, m (such as 30s or 1.5ms)",
                    unit_at,
                )
            return _Literal(scan.scalar(number, start), number)
        name = scan.match(_NAME_RE)
        if name is None:
            raise scan.error("a value (a number, a duration, a quoted string, true/false/null, a list or a field path)")
        if name in _KEYWORDS:
            raise scan.fail(f"'{name}' is a keyword, expected a value or a field path", start)
        if name in _CONSTANTS:
            return _Literal(yaml_scalar(name), name)
        parts = [name]
        while scan.startswith("."):
            scan.pos += 1
            segment = scan.match(_SEGMENT_RE)
            if segment is None:
                raise scan.error("a field name after '.'")
            parts.append(segment)
        return _Path(".".join(parts), scan.text[start : scan.pos])

    def list_literal(self) -> _Literal:
        scan = self.scan
        start = scan.pos
        scan.pos += 1
        items: list[Any] = []
        while True:
            scan.skip_blanks()
            if scan.startswith("]"):
                scan.pos += 1
                return _Literal(items, scan.text[start : scan.pos])
            item_at = scan.pos
            item = self.operand()
            if not isinstance(item, _Literal):
                raise scan.fail(f"a list holds literals only; quote {item.text!r} to make it a string", item_at)
            items.append(item.value)
            scan.skip_blanks()
            if scan.startswith(","):
                scan.pos += 1
            elif not scan.startswith("]"):
                raise scan.error("',' or ']'")


# -- public API ------------------------------------------------------------------


class Expression:
    """A compiled expression: immutable, reusable, evaluated on one span at a time."""

    __slots__ = ("_evaluate", "_root", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._root = _Parser(text).parse()
        self._evaluate = self._root.compile()

    def evaluate(self, span: Span) -> bool:
        """Whether the expression holds on ``span``."""
        return self._evaluate(span)

    def explain(self, span: Span) -> str:
        """Why the expression is false on ``span``.

        ``"duration is 42.0s, expected < 30s"``,
        ``"attributes.usage.input_tokens is missing"``; when it holds:
        ``"<text> holds"``.
        """
        if self._root.evaluate(span):
            return f"{self.text.strip()} holds"
        return self._root.explain(span)

    def missing(self, span: Span) -> list[str]:
        """The field paths the expression reads that are missing on ``span``."""
        return self._root.missing(span)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.text == self.text

    def __hash__(self) -> int:
        return hash(("Expression", self.text))


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Expression:
    return Expression(text)


def compile_expression(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression` (cached by text).

    Raises :class:`~pytest_agenttrace.exceptions.SelectorError` with the column
    and what was expected when ``text`` does not parse.
    """
    if not isinstance(text, str):
        raise SelectorError(f"an expression must be a string, got {type(text).__name__}: {text!r}")
    return _compile(text)
