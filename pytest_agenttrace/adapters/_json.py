"""JSON text decoded exactly as :func:`json.loads` reads it, by orjson where the result is the same.

Framework payloads (tool arguments, OpenInference ``input.value``) arrive as
JSON text, decoded once per captured span.  orjson (the ``fast`` extra) is
several times faster, but differs from the standard library in two ways: it
refuses ``NaN``, ``Infinity``, lone surrogates and huge exponents (then the
standard library decides), and it reads an integer past 64 bits as a float
(so a text holding 19 or more digits in a row goes to the standard library).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

try:  # optional speed-up
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None  # type: ignore[assignment]

__all__ = ["fast_loads", "find_long_digit_run", "has_long_digit_run", "loads"]

#: 19 ASCII digits in a row (only ASCII digits make a JSON number).  The regex costs about 11 ns
#: per character (5 us for a 500-character argument); past 40 characters the bytes are translated
#: instead (digits to "0", all else to "."), about 0.3 us at any length up to a few hundred.
_LONG_DIGITS: Final = re.compile(r"[0-9]{19}")
_DIGITS_TO_ZERO: Final = bytes(48 if 48 <= byte <= 57 else 46 for byte in range(256))
_LONG_RUN: Final = b"0" * 19

#: For a caller's inlined hot path: orjson's ``loads`` (``None`` without orjson), and the regex search
#: :func:`has_long_digit_run` uses under 40 characters.  :func:`loads` says when they agree with ``json``.
fast_loads: Final = _orjson.loads if _orjson is not None else None
find_long_digit_run: Final = _LONG_DIGITS.search


def has_long_digit_run(text: str) -> bool:
    """Whether ``text`` holds 19 or more ASCII digits in a row (an integer orjson would read as a float)."""
    if len(text) < 19:
        return False
    if len(text) < 40:
        return _LONG_DIGITS.search(text) is not None
    # surrogatepass: a lone surrogate becomes bytes that are no digit (orjson then refuses the text).
    return _LONG_RUN in text.encode("utf-8", "surrogatepass").translate(_DIGITS_TO_ZERO)


def loads(text: str) -> Any:
    """``json.loads(text)``, by orjson when its result is certain to be the same; ``ValueError`` if not JSON."""
    if _orjson is not None and type(text) is str and (len(text) < 19 or not has_long_digit_run(text)):
        try:
            return _orjson.loads(text)
        except ValueError:  # orjson.JSONDecodeError is a ValueError: the standard library decides
            pass
    return json.loads(text)
