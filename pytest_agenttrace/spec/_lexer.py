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

import itertools
import math
import re
import reprlib
import sys
import warnings
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
    "as_text",
    "clip",
    "describe",
    "duration_ns",
    "equal",
    "field_getter",
    "format_duration",
    "int_text",
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
    # Each segment with the list index it stands for, if any (no list is longer than 18 digits).
    parts = tuple(
        (part, int(part) if part.isascii() and part.isdigit() and len(part) < 19 else None) for part in rest.split(".")
    )

    def get(span: Span) -> Any:
        value = first(span)
        for part, index in parts:
            if isinstance(value, Mapping):
                value = value.get(part, MISSING)
            elif isinstance(value, list) and index is not None and index < len(value):
                value = value[index]
            else:
                return MISSING
            if value is MISSING:
                return MISSING
        return value

    return get


def _duration(span: Span) -> int:
    return span.end_ns - span.start_ns


def yaml_scalar(text: str) -> Any:
    """Type an unquoted literal the way YAML 1.2's core schema types a plain scalar.

    Raises :class:`ValueError` (with a message for people) for a decimal integer
    with more digits than Python converts (``sys.get_int_max_str_digits()``).
    """
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    if _INT_RE.fullmatch(text):
        try:
            return int(text)
        except ValueError:
            digits = len(text.lstrip("+-"))
            raise ValueError(
                f"the number {text[:12]}... has {digits} digits, more than the {sys.get_int_max_str_digits()} "
                "Python reads; write a smaller number, or quote it to compare with a string"
            ) from None
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
    """``"30s"`` -> ``30_000_000_000``; ``None`` when ``text`` is not a duration literal.

    Raises :class:`ValueError` (with a message for people) when the duration is
    too large to represent (beyond about 1e308 nanoseconds).
    """
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        return None
    return duration_ns(match.group(1), match.group(2))


def duration_ns(number: str, unit: str) -> int:
    """Digits and a unit (``"1.5"``, ``"ms"``) as integer nanoseconds; ``ValueError`` if too large."""
    ns = float(number) * _UNIT_NS[unit]
    if not math.isfinite(ns):
        shown = number if len(number) <= 12 else number[:12] + "..."
        raise ValueError(f"the duration {shown}{unit} is too large; no span lasts that long, write a smaller one")
    return round(ns)


def format_duration(ns: float) -> str:
    """A readable duration: ``42.0s``, ``1.5ms``, ``250ns``."""
    if abs(ns) >= 1e300 or ns != ns:  # no real duration: dividing might overflow, and digits would not help
        try:
            return f"{ns:.3g}ns"
        except OverflowError:  # an int beyond float range
            exponent = _digits(int(ns)) - 1
            if abs(int(ns)) >= 10 ** (exponent + 1):  # _digits can be one short (10**400 has 401 digits)
                exponent += 1
            return f"{'-' if ns < 0 else ''}1e{exponent}ns"
    for unit, size in (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)):
        if abs(ns) >= size:
            text = f"{ns / size:.3f}".rstrip("0")
            return (text + "0" if text.endswith(".") else text) + unit
    return f"{int(ns)}ns"


def is_number(value: Any) -> bool:
    """An ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def equal(a: Any, b: Any) -> bool:
    """Typed equality: numbers numerically, booleans only with booleans, the same rule inside lists and mappings.

    ``[1, 0]`` does not equal ``[true, false]``, as ``1`` does not equal
    ``true``.  Nested values are walked without recursion (a deeply nested
    value from a trace cannot exhaust the stack).
    """
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if isinstance(x, bool) or isinstance(y, bool):
            if not (isinstance(x, bool) and isinstance(y, bool) and x is y):
                return False
        elif is_number(x) or is_number(y):
            if not (is_number(x) and is_number(y) and x == y):
                return False
        elif isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            if type(x) is not type(y) or len(x) != len(y):
                return False
            pending.extend(zip(x, y))
        elif isinstance(x, Mapping) and isinstance(y, Mapping):
            if len(x) != len(y) or any(key not in y for key in x):
                return False
            pending.extend((x[key], y[key]) for key in x)
        elif isinstance(x, (list, tuple, Mapping)) or isinstance(y, (list, tuple, Mapping)) or x != y:
            return False
    return True


def as_text(value: Any) -> str | None:
    """A string as is, a number as its text (``None`` for anything else, or an integer too long to write)."""
    if isinstance(value, str):
        return value
    if is_number(value):
        try:
            return str(value)
        except ValueError:  # more digits than sys.get_int_max_str_digits()
            return None
    return None


def order(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 for two numbers or two strings; ``None`` when they do not compare."""
    if is_number(a) and is_number(b):
        if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
            return None  # (math.isnan would turn an int too large for a float into an OverflowError)
        return int(a > b) - int(a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    return None


def describe(value: Any, *, limit: int = 80) -> str:
    """A short, JSON-like rendering of a value for messages (at most ``limit`` characters).

    Lists and mappings show their first 10 items; strings are quoted with control
    characters escaped, so that a value from a trace cannot break the line or drive
    the terminal.  The rendering is iterative and stops once ``limit`` is reached, so
    a deeply nested or huge value costs no more than a small one.
    """
    if value is MISSING:
        return "missing"
    out: list[str] = []
    size = 0
    # Pieces still to write, last first: values to render, or literal text (wrapped in _Text).
    stack: list[Any] = [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, _Text):
            piece = item.text
        elif item is MISSING:
            piece = "missing"
        elif isinstance(item, (list, tuple)):
            items: list[Any] = [_Text("["), _Text(", ...]" if len(item) > 10 else "]")]
            for i, element in enumerate(item[:10]):
                items[-1:-1] = [_Text(", "), element] if i else [element]
            stack.extend(reversed(items))
            continue
        elif isinstance(item, Mapping):
            pairs = list(itertools.islice(item.items(), 11))
            items = [_Text("{")]
            for i, (key, element) in enumerate(pairs[:10]):
                name = key if isinstance(key, str) else _scalar_text(key)
                items.extend([_Text((", " if i else "") + _escape(name) + ": "), element])
            items.append(_Text(", ...}" if len(pairs) > 10 else "}"))
            stack.extend(reversed(items))
            continue
        else:
            piece = _scalar_text(item)
        out.append(piece)
        size += len(piece)
    text = "".join(out)
    return text if len(text) <= limit and not stack else text[: limit - 3] + "..."


class _Text:
    """Literal text in :func:`describe`'s work stack (as opposed to a value to render)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_NAMES: Final = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(text: str) -> str:
    """``text`` with newlines, other control characters and bidi overrides written as escapes."""
    return _CONTROL_RE.sub(lambda m: _CONTROL_NAMES.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + _escape(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    if isinstance(value, int):
        return int_text(value)
    if isinstance(value, float):
        return repr(value)
    return _escape(_REPR.repr(value))  # a set, bytes, an object: bounded in depth and length


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel, short.maxother, short.maxstring = 3, 80, 80
    return short


_REPR: Final = _short_repr()


def int_text(value: int) -> str:
    """``str(value)``, or ``"an integer of N digits"`` past the digits Python converts to text."""
    try:
        return str(value)
    except ValueError:  # longer than sys.get_int_max_str_digits()
        return f"{'-' if value < 0 else ''}<an integer of about {_digits(value)} digits>"


def _digits(value: int) -> int:
    """About how many decimal digits ``value`` has (without converting it to text)."""
    return math.floor((abs(value).bit_length() - 1) * math.log10(2)) + 1


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

    def scalar(self, text: str, pos: int) -> Any:
        """:func:`yaml_scalar` of ``text`` (read at ``pos``); a number too long to read fails there."""
        try:
            return yaml_scalar(text)
        except ValueError as error:
            raise self.fail(str(error), pos) from None

    def duration(self, number: str, unit: str, pos: int) -> int:
        """:func:`duration_ns` of a literal read at ``pos``; a duration too large fails there."""
        try:
            return duration_ns(number, unit)
        except ValueError as error:
            raise self.fail(str(error), pos) from None

    def regex(self, raw: str, pos: int, where: str = "") -> re.Pattern[str]:
        """``raw`` compiled as a regular expression (read at ``pos``); ``where`` adds to the message."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "possible nested set" and the like: a spec is not the place
                return re.compile(raw)
        except re.error as exc:
            raise self.fail(f"invalid regular expression {clip(raw)}{where}: {exc}", pos) from None
        except (RecursionError, OverflowError, ValueError) as exc:  # nested too deeply, a{99999999999}
            raise self.fail(f"regular expression {clip(raw)}{where} is too complex ({exc}); simplify it", pos) from None

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
            f"{self.what} {self.source(at)}: expected {expected} at column {at + 1}, found {found}",
            column=at + 1,
        )

    def fail(self, message: str, pos: int | None = None) -> SelectorError:
        """A parse error with a free-form message, located at ``pos`` (default: the cursor)."""
        at = self.pos if pos is None else pos
        return SelectorError(f"{self.what} {self.source(at)}: {message} (column {at + 1})", column=at + 1)

    def source(self, at: int) -> str:
        """The text quoted for a message; a long one as an excerpt around column ``at + 1``."""
        text = self.text
        if len(text) <= _SOURCE_SHOWN:
            return repr(text)
        start = max(0, min(at - _SOURCE_SHOWN // 2, len(text) - _SOURCE_SHOWN))
        shown = text[start : start + _SOURCE_SHOWN]
        return ("..." if start else "") + repr(shown) + ("..." if start + _SOURCE_SHOWN < len(text) else "")


#: Longest selector or expression quoted whole in a message (longer ones: an excerpt around the error).
_SOURCE_SHOWN: Final = 100


def clip(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut to about ``limit`` characters."""
    return repr(text) if len(text) <= limit else repr(text[: limit - 3]) + "..."
