"""Shared scanning and value semantics of the selector and expression languages.

Both little languages are parsed by hand-written recursive-descent parsers
(:mod:`.selector`, :mod:`.expression`) on top of :class:`Scanner`, a cursor over
the source text that knows how to skip blanks, read quoted strings and raise a
:class:`~pytest_agenttrace.exceptions.SelectorError` naming the column.

The value helpers define what the operators mean, once for both languages:

* :func:`yaml_scalar` types an unquoted literal as YAML 1.2 (core schema) does:
  ``null``/``~``, ``true``/``false``, integers, floats; anything else is a string.
* :func:`equal` compares numbers numerically (``1 == 1.0``) but never a boolean
  with a number (``true`` is not ``1``); everything else compares by ``==``.
* :func:`order` compares two numbers, or two strings, and returns ``None`` for
  any other pair (which makes every ordering comparison false).
* :func:`parse_duration` reads ``30s``, ``1.5ms``, ``250us``, ``10ns``, ``2m``
  into integer nanoseconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import SelectorError
from ..model import SPAN_FIELDS

if TYPE_CHECKING:
    from ..model import Span

__all__ = [
    "MAX_NESTING",
    "MISSING",
    "Scanner",
    "describe",
    "equal",
    "field_getter",
    "format_duration",
    "is_number",
    "order",
    "parse_duration",
    "yaml_scalar",
]


class _Missing:
    """The value of a path that does not exist on a span (distinct from ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

#: Deepest nesting of ``:not()``/``:has()`` or of ``not``/parentheses a parser accepts, so that
#: hostile input fails with a SelectorError instead of exhausting the interpreter's stack.
MAX_NESTING: Final = 64

_DURATION_RE: Final = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|ms|s|m)")
_UNIT_NS: Final[dict[str, int]] = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
}
_INT_RE: Final = re.compile(r"[-+]?[0-9]+")
_FLOAT_RE: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NULLS: Final = frozenset({"null", "Null", "NULL", "~"})
_TRUES: Final = frozenset({"true", "True", "TRUE"})
_FALSES: Final = frozenset({"false", "False", "FALSE"})


def field_getter(path: str) -> Callable[[Span], Any]:
    """A fast ``lambda span: span.get(path, MISSING)`` (same lookup rules as :meth:`Span.get`).

    A span field first (``duration`` is ``end_ns - start_ns``), then a key of
    ``attributes``; further segments index mappings and lists.
    """
    head, _, rest = path.partition(".")
    first: Callable[[Span], Any]
    if head == "duration":
        first = _duration
    elif head in SPAN_FIELDS:
        first = attrgetter(head)
    else:
        first = lambda span: span.attributes.get(head, MISSING)  # noqa: E731
    if not rest:
        return first
    parts = tuple(rest.split("."))

    def get(span: Span) -> Any:
        value = first(span)
        for part in parts:
            if isinstance(value, Mapping):
                value = value.get(part, MISSING)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return MISSING
            if value is MISSING:
                return MISSING
        return value

    return get


def _duration(span: Span) -> int:
    return span.end_ns - span.start_ns


def yaml_scalar(text: str) -> Any:
    """Type an unquoted literal the way YAML 1.2's core schema types a plain scalar."""
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    if _INT_RE.fullmatch(text):
        return int(text)
    if text.startswith(("0x", "0o")) and len(text) > 2:
        try:
            return int(text[2:], 16 if text[1] == "x" else 8)
        except ValueError:
            return text
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    lowered = text.lower()
    if lowered in {".inf", "+.inf"}:
        return math.inf
    if lowered == "-.inf":
        return -math.inf
    if lowered == ".nan":
        return math.nan
    return text


def parse_duration(text: str) -> int | None:
    """``"30s"`` -> ``30_000_000_000``; ``None`` when ``text`` is not a duration literal."""
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        return None
    return round(float(match.group(1)) * _UNIT_NS[match.group(2)])


def format_duration(ns: float) -> str:
    """A readable duration: ``42.0s``, ``1.5ms``, ``250ns``."""
    for unit, size in (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)):
        if abs(ns) >= size:
            text = f"{ns / size:.3f}".rstrip("0")
            return (text + "0" if text.endswith(".") else text) + unit
    return f"{int(ns)}ns"


def is_number(value: Any) -> bool:
    """An ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def equal(a: Any, b: Any) -> bool:
    """Typed equality: numbers numerically, booleans only with booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if is_number(a) or is_number(b):
        return False
    return bool(a == b)


def order(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 for two numbers or two strings; ``None`` when they do not compare."""
    if is_number(a) and is_number(b):
        if math.isnan(a) or math.isnan(b):
            return None
        return int(a > b) - int(a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    return None


def describe(value: Any, *, limit: int = 80) -> str:
    """A short, JSON-like rendering of a value for messages."""
    if value is MISSING:
        return "missing"
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(describe(v, limit=limit) for v in value[:10]) + (", ...]" if len(value) > 10 else "]")
    elif isinstance(value, dict):
        items = list(value.items())
        inner = ", ".join(f"{k}: {describe(v, limit=limit)}" for k, v in items[:10])
        text = "{" + inner + (", ...}" if len(items) > 10 else "}")
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_ESCAPES: Final[dict[str, str]] = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


class Scanner:
    """A cursor over the source of a selector or expression.

    ``what`` names the language in error messages (``"selector"``,
    ``"expression"``); columns in messages are 1-based.
    """

    __slots__ = ("depth", "pos", "text", "what")

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.pos = 0
        self.what = what
        self.depth = 0

    def enter(self) -> None:
        """Count one more level of nesting; fail past :data:`MAX_NESTING`."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(f"nested more than {MAX_NESTING} levels deep; simplify it")

    def leave(self) -> None:
        """Close one level of nesting."""
        self.depth -= 1

    @property
    def at_end(self) -> bool:
        """Whether the whole text has been consumed."""
        return self.pos >= len(self.text)

    def peek(self, size: int = 1) -> str:
        """The next ``size`` characters (fewer at the end), without consuming them."""
        return self.text[self.pos : self.pos + size]

    def startswith(self, prefix: str) -> bool:
        """Whether the unconsumed text starts with ``prefix``."""
        return self.text.startswith(prefix, self.pos)

    def skip_blanks(self) -> bool:
        """Skip whitespace; tell whether there was any."""
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos].isspace():
            self.pos += 1
        return self.pos > start

    def match(self, pattern: re.Pattern[str]) -> str | None:
        """Consume and return the text matching ``pattern`` here, if it matches."""
        found = pattern.match(self.text, self.pos)
        if found is None or found.end() == self.pos:
            return None
        self.pos = found.end()
        return found.group()

    def expect(self, literal: str, what: str | None = None) -> None:
        """Consume ``literal`` or fail naming it (or ``what``) as expected."""
        if not self.startswith(literal):
            raise self.error(what or f"'{literal}'")
        self.pos += len(literal)

    def read_quoted(self) -> str:
        """Read a ``'...'`` or ``"..."`` string at the cursor (backslash escapes)."""
        quote = self.text[self.pos]
        start = self.pos
        self.pos += 1
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(out)
            if char == "\\" and self.pos + 1 < len(text):
                nxt = text[self.pos + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                self.pos += 2
                continue
            out.append(char)
            self.pos += 1
        raise self.fail(f"unclosed string: add a closing {quote}", start)

    def found(self) -> str:
        """What stands at the cursor, for messages."""
        if self.at_end:
            return f"end of {self.what}"
        return repr(self.text[self.pos])

    def error(self, expected: str, pos: int | None = None) -> SelectorError:
        """``selector 'tool[name=': expected a value at column 11, found end of selector``."""
        at = self.pos if pos is None else pos
        saved, self.pos = self.pos, at
        found = self.found()
        self.pos = saved
        return SelectorError(
            f"{self.what} {self.text!r}: expected {expected} at column {at + 1}, found {found}",
            column=at + 1,
        )

    def fail(self, message: str, pos: int | None = None) -> SelectorError:
        """A parse error with a free-form message, located at ``pos`` (default: the cursor)."""
        at = self.pos if pos is None else pos
        return SelectorError(f"{self.what} {self.text!r}: {message} (column {at + 1})", column=at + 1)
