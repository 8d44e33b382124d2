"""The span tree for a terminal: one line per span, coloured when asked.

Each line shows the span's kind and name, then what a reader needs to follow
the run: the acting agent, the delegation scope, the duration, the status and
a few key attributes (model and token usage of ``llm`` spans, confidence, a
short summary of a tool's input, the handoff direction), with errors spelled
out.  Spans named by violations are marked with the rule ids, so a failing
check points at the lines that matter.

Compact mode is for wide or long traces: narrower indentation guides, no
attribute details, and runs of identical sibling leaves (a retry storm, a
fan-out of the same tool) folded into one ``×N`` line.  A trace longer than
``max_spans`` is shown as an excerpt: the flagged spans, then the failed
ones, with their ancestors (a failing test's tree shows the span that
failed, however many spans came before it), identical leaves folded there too.

Everything here is plain text plus ANSI escape codes; trace content is
printed with control and invisible characters escaped (:func:`terminal_safe`),
so a model's output cannot move the cursor, recolour the terminal, forge a
line or make two different names look the same, and the text is always UTF-8
(a lone surrogate of a trace file is shown as ``\\ud83d``).  With a ``width``,
every line fits it (counted in terminal columns: wide characters take two).
"""

from __future__ import annotations

import functools
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any, Final, TypeAlias

from ..model import Span, Trace

__all__ = ["format_duration", "render_tree", "terminal_safe", "use_color"]

_RESET: Final = "\x1b[0m"
_BOLD: Final = "\x1b[1m"
_DIM: Final = "\x1b[2m"
_RED: Final = "\x1b[31m"
_RED_BG: Final = "\x1b[41;97m"
_YELLOW: Final = "\x1b[33m"

_KIND_STYLE: Final[Mapping[str, str]] = {
    "agent": "\x1b[1;35m",
    "llm": "\x1b[34m",
    "tool": "\x1b[32m",
    "retrieval": "\x1b[36m",
    "handoff": "\x1b[1;33m",
    "delegation": "\x1b[1;33m",
    "memory_read": "\x1b[96m",
    "memory_write": "\x1b[95m",
    "guardrail": "\x1b[94m",
    "wait": "\x1b[90m",
    "custom": "\x1b[37m",
}

# Short labels keep the name column aligned without hiding the kind.
_KIND_LABEL: Final[Mapping[str, str]] = {
    "agent": "agent",
    "llm": "llm",
    "tool": "tool",
    "retrieval": "retr",
    "handoff": "handoff",
    "delegation": "deleg",
    "memory_read": "mem.r",
    "memory_write": "mem.w",
    "guardrail": "guard",
    "wait": "wait",
    "custom": "span",
}

# Characters shown as escapes: terminal controls (C0, DEL, C1), line and paragraph separators,
# the bidirectional controls that can reorder what a reader sees, the Unicode format characters
# and Default_Ignorable_Code_Points that show as nothing (zero-width spaces and joiners, soft
# hyphen, fillers, variation selectors, tags, BOM) so that two different names cannot look the
# same, and surrogates, which are not UTF-8 (a trace file may hold a lone one).  The HTML
# report's visible() escapes the same set.  Egyptian hieroglyph format controls show as nothing
# too; the prepended concatenation marks (U+0600-U+0605 and others) are format characters that
# are drawn, and are kept.
_UNSAFE_CLASS: Final = (
    "\x00-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u2028\u2029\u202a-\u202e\u2060-\u206f\u3164\ud800-\udfff\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_UNSAFE_CHAR: Final = re.compile(f"[{_UNSAFE_CLASS}]")
# ... and a backslash that an escape could be mistaken for: one followed by a backslash, by a
# letter that starts an escape, or by a character that becomes an escape.
_UNSAFE: Final = re.compile(rf"\\(?=[\\xuUnrt{_UNSAFE_CLASS}])|[{_UNSAFE_CLASS}]")
_NAMED_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def terminal_safe(text: str) -> str:
    """``text`` from a trace made inert for a terminal: every unsafe character shown as an escape.

    C0 controls (newline and tab included: inside trace data they could forge
    lines), DEL, C1 controls and ESC (so no escape sequence starts) become
    ``\\n``, ``\\t``, ``\\x1b``, ...; line and paragraph separators, bidi
    controls, characters that show as nothing (zero-width spaces and joiners,
    soft hyphen, Hangul fillers, variation selectors, tag characters, the
    byte-order mark: Unicode's format characters and Default_Ignorable_Code_Points)
    and surrogates become ``\\u2028``, ``\\u200b``, ``\\ud83d``, ``\\U000e0041``.
    The result is always UTF-8 encodable.

    Different texts never give the same result: a backslash is doubled where
    it could be read as the start of an escape (before another backslash,
    before ``x``, ``u``, ``U``, ``n``, ``r`` or ``t``, or before a character
    that is escaped), so the six characters ``\\u200b`` show as ``\\\\u200b``
    and U+200B as ``\\u200b``; any other backslash (``C:\\Program Files``) is
    left alone.  That also means the function is not idempotent: apply it
    once, to each line of trace data, never to the layout around it.
    """
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _escape_chars(text: str) -> str:
    """Unsafe characters escaped, backslashes left alone: for ``repr`` and JSON text, which escape their own."""
    return _UNSAFE_CHAR.sub(_escape_char, text)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def use_color(choice: str, stream: IO[str] | None = None) -> bool:
    """Resolve ``--color auto|yes|no``: ``auto`` colours a tty unless ``NO_COLOR`` is set."""
    if choice == "yes":
        return True
    if choice == "no":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def format_duration(ns: int) -> str:
    """``1.25s``, ``340ms``, ``12µs``, ``800ns``, ``2m05s``: three significant figures at most."""
    if ns < 0:
        return "-" + format_duration(-ns)
    if ns < 1_000:
        return f"{ns}ns"
    # Round first, then pick the unit, so 999_999ns is "1ms", never "1e+03µs".
    for unit, scale in (("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)):
        value = float(f"{ns / scale:.3g}")
        if value < 1000 or unit == "s":
            if unit != "s" or value < 60:
                return f"{value:g}{unit}"
            break
    seconds = ns / 1_000_000_000
    minutes, rest = divmod(int(seconds + 0.5), 60)  # halves up, as the HTML report's Math.round
    return f"{minutes}m{rest:02d}s"


def _clean(text: str, limit: int) -> str:
    """One line of untrusted text: unsafe characters shown escaped (:func:`terminal_safe`), capped."""
    return _cut(terminal_safe(text), limit)


def _cut(safe: str, limit: int) -> str:
    """Text already made safe, cut to ``limit`` characters with ``…``, never inside an escape."""
    if len(safe) <= limit:
        return safe
    return _drop_partial_escape(safe[: max(limit - 1, 0)]) + "…"


# Backslashes at the end of a cut, with what may follow the start of an escape there.
_ESCAPE_TAIL: Final = re.compile(r"(\\+)(?:x[0-9a-f]?|u[0-9a-f]{0,3}|U[0-9a-f]{0,7})?\Z")


def _drop_partial_escape(head: str) -> str:
    """``head`` without an escape cut in half at its end ("\\x9" of "\\x9b", one "\\" of "\\\\")."""
    match = _ESCAPE_TAIL.search(head)
    if match is None or len(match.group(1)) % 2 == 0:  # pairs of backslashes are whole escapes
        return head
    return head[: match.end(1) - 1]


def _short_value(value: Any, limit: int = 40) -> str:
    # repr and JSON escape their own backslashes: only the characters they leave are escaped here.
    if isinstance(value, str):
        return _cut(_escape_chars(repr(value) if len(value) <= limit else repr(value[:limit]) + "…"), limit + 3)
    try:
        text = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        try:
            text = _int_text(value, limit) if isinstance(value, int) else repr(value)
        except ValueError:  # a container holding an int past sys.get_int_max_str_digits()
            text = f"<{type(value).__name__}>"
    return _cut(_escape_chars(text), limit)


def _int_text(value: int, limit: int = 12) -> str:
    """``str(value)``, or ``~1e4000`` when that is longer than ``limit`` (or past ``sys.get_int_max_str_digits``)."""
    try:
        text = str(value)
    except ValueError:  # more digits than Python converts: estimate them from the bits
        digits = int(abs(value).bit_length() * 0.30103) + 1
    else:
        if len(text) <= limit:
            return text
        digits = len(text.lstrip("-"))
    return f"{'-' if value < 0 else ''}~1e{digits - 1}"


def _input_summary(value: Any, limit: int = 60) -> str:
    """``(path='a.py', line=3)`` for a tool's arguments."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        parts = []
        for key, item in value.items():
            parts.append(f"{_clean(str(key), 20)}={_short_value(item, 24)}")
            if sum(len(p) + 2 for p in parts) > limit:
                break
        inner = ", ".join(parts)
        if len(parts) < len(value):
            inner += ", …"
        return f"({_cut(inner, limit)})"
    return f"({_short_value(value, limit)})"


def _token_count(value: Any) -> str:
    """A token count as recorded: a number, or whatever else the usage held, shown safely."""
    if value is None:
        return "?"
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_text(value)
    return _short_value(value, 12)


def _details(span: Span, parent_versions: Mapping[str, str]) -> list[str]:
    """Key attributes of a span, most useful first."""
    attrs = span.attributes
    out: list[str] = []
    if span.kind in ("delegation", "handoff"):
        src, dst = span.from_agent, span.to_agent
        if src or dst:
            out.append(f"{_clean(src or '?', 30)}→{_clean(dst or '?', 30)}")
        if span.context:
            out.append("ctx[" + _clean(",".join(str(k) for k in span.context), 50) + "]")
        if "objective" in attrs:
            out.append(f"objective={_short_value(attrs['objective'], 40)}")
    model = attrs.get("model")
    if model is not None:
        out.append(_clean(str(model), 30))
    usage = attrs.get("usage")
    if isinstance(usage, Mapping):
        tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        if tokens_in is not None or tokens_out is not None:
            out.append(f"tok {_token_count(tokens_in)}→{_token_count(tokens_out)}")
    confidence = attrs.get("confidence")
    if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
        try:
            out.append(f"conf={confidence:.2g}")
        except OverflowError:  # an int past the float range
            out.append(f"conf={_int_text(int(confidence))}")
    if attrs.get("truncated") is True:
        dropped = attrs.get("dropped_keys")
        out.append("truncated" + (f" dropped={_short_value(dropped, 30)}" if dropped else ""))
    if span.kind in ("memory_read", "memory_write"):
        if "key" in attrs:
            out.append(f"key={_short_value(attrs['key'], 30)}")
        if "version" in attrs:
            out.append(f"v={_short_value(attrs['version'], 12)}")
        if attrs.get("valid") is False:
            out.append("INVALID")
    if span.kind == "wait" and "waiting_on" in attrs:
        out.append(f"waiting on {_short_value(attrs['waiting_on'], 30)}")
    changed = [_clean(str(v), 40) for k, v in span.versions.items() if parent_versions.get(k) != v]
    if changed:
        out.append("⟨" + ", ".join(changed[:3]) + (", …" if len(changed) > 3 else "") + "⟩")
    return out


class _Painter:
    """ANSI styling that disappears when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str) -> str:
        if not self.color or not style or not text:
            return text
        return f"{style}{text}{_RESET}"


def _width(text: str) -> int:
    """Terminal columns of ``text`` without its escape codes: wide characters take two, combining marks none."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if text.isascii():
        return len(text)
    return len(text) + sum(_char_width(char) - 1 for char in _NOT_NARROW.findall(text))


# Characters that may not take exactly one column; the tree guides and the layout's signs all do.
_NOT_NARROW: Final = re.compile("[^\x00-\u02ff\u2500-\u257f…→⋯✗◀⟨⟩]")


@functools.lru_cache(maxsize=4096)
def _char_width(char: str) -> int:
    if char < "\u0300":
        return 1
    if unicodedata.category(char) in ("Mn", "Me"):
        return 0
    # Ambiguous-width characters (the tree guides, "…", "→") count one column, as outside CJK locales.
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _fit(text: str, columns: int) -> str:
    """The longest start of ``text`` (no escape codes) that takes at most ``columns`` columns."""
    if text.isascii():
        return text[: max(columns, 0)]
    used = 0
    for position, char in enumerate(text):
        used += _char_width(char)
        if used > columns:
            return text[:position]
    return text


def _truncate_ansi(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` columns ending in ``…``, keeping escape codes balanced."""
    if _width(text) <= width:
        return text
    out: list[str] = []
    room = max(width - 1, 0)
    shown = 0
    # Odd pieces are our escape codes (trace text cannot hold ESC: it is escaped), even ones text.
    for number, piece in enumerate(_ANSI_SPLIT.split(text)):
        if number % 2:
            out.append(piece)
            continue
        columns = _width(piece)
        if shown + columns <= room:
            out.append(piece)
            shown += columns
            continue
        out.append(_drop_partial_escape(_fit(piece, room - shown)))
        break
    line = "".join(out) + "…"
    return line + _RESET if "\x1b[" in line else line


_ANSI_SPLIT: Final = re.compile(r"(\x1b\[[0-9;]*m)")


def _same_leaf(a: Span, b: Span, trace: Trace, marks: Mapping[str, list[str]]) -> bool:
    return (
        a.kind == b.kind
        and a.name == b.name
        and a.agent == b.agent
        and a.status == b.status
        and marks.get(a.span_id) == marks.get(b.span_id)
        and not trace.index.children.get(a.span_id)
        and not trace.index.children.get(b.span_id)
    )


def _same_line(a: Span, b: Span, trace: Trace, marks: Mapping[str, list[str]]) -> bool:
    """Leaves whose full lines read the same but for the duration: every field a line shows is equal."""
    return (
        _same_leaf(a, b, trace, marks)
        and a.input == b.input
        and a.attributes == b.attributes
        and a.error == b.error
        and a.versions == b.versions
        and a.scope == b.scope
        and a.context == b.context
    )


_Same: TypeAlias = Callable[[Span, Span], bool]


def _run_length(siblings: Sequence[Span], position: int, same: _Same) -> int:
    """How many siblings from ``position`` one line shows: a run of three or more alike, else one."""
    span = siblings[position]
    run = 1
    while position + run < len(siblings) and same(span, siblings[position + run]):
        run += 1
    return run if run >= 3 else 1


def _marks(highlight: Mapping[str, Iterable[str]] | Iterable[str] | None) -> dict[str, list[str]]:
    if highlight is None:
        return {}
    if isinstance(highlight, Mapping):
        return {str(k): [str(r) for r in v] for k, v in highlight.items()}
    return {str(k): [] for k in highlight}


def _excerpt(trace: Trace, marks: Mapping[str, list[str]], max_spans: int, same: _Same) -> set[str]:
    """The spans to show when a trace is too long.

    The flagged spans, then the failed ones (status other than ``ok``), each
    with its ancestors, as many as ``max_spans`` allows; with neither, the
    spans of the first ``max_spans`` lines.  Failures are taken the latest
    first: the one that failed a test ends last, after any retries before it.
    """
    keep: set[str] = set()
    by_id = trace.index.by_id
    flagged = [s.span_id for s in trace.spans if s.span_id in marks]
    failed = sorted((s for s in trace.spans if s.status != "ok" and s.span_id not in marks), key=lambda s: -s.end_ns)
    for span_id in flagged + [s.span_id for s in failed]:
        chain = []
        current = by_id.get(span_id)
        while current is not None and current.span_id not in keep:
            chain.append(current.span_id)
            current = by_id.get(current.parent_id) if current.parent_id is not None else None
        if len(keep) + len(chain) > max_spans and keep:
            break
        keep.update(chain)
    if keep:
        return keep
    children = trace.index.children
    stack: list[tuple[Sequence[Span], int]] = [(trace.index.roots, 0)]
    lines = 0
    while stack and lines < max_spans:
        siblings, position = stack.pop()
        if position >= len(siblings):
            continue
        run = _run_length(siblings, position, same)
        stack.append((siblings, position + run))
        keep.update(s.span_id for s in siblings[position : position + run])
        lines += 1
        kids = children.get(siblings[position].span_id)
        if kids and run == 1:
            stack.append((kids, 0))
    return keep


def _subtree_sizes(trace: Trace) -> dict[str, int]:
    """Spans in each subtree (the span included), from one pass in reverse depth-first order."""
    order = [span for span, _depth in trace.walk()]
    sizes = dict.fromkeys((s.span_id for s in order), 1)
    for span in reversed(order):
        if span.parent_id is not None and span.parent_id in sizes:
            sizes[span.parent_id] += sizes[span.span_id]
    return sizes


def render_tree(
    trace: Trace,
    *,
    color: bool = False,
    compact: bool = False,
    highlight: Mapping[str, Iterable[str]] | Iterable[str] | None = None,
    width: int | None = None,
    header: bool = True,
    max_spans: int | None = None,
) -> str:
    """The trace as an indented tree, one line per span (see the module docstring).

    ``highlight`` marks spans: a mapping from span id to the rule ids that
    flag it (shown at the end of the line), or just span ids.  In compact
    mode and in an excerpt, runs of three or more sibling leaves that print
    alike (same kind, name, agent, status and marks; outside compact mode
    also the same input, attributes, error, versions, scope and context) are
    folded into one ``×N`` line.

    ``width`` cuts long lines to that many terminal columns (``None`` leaves
    them whole), so no line is wider: the text is cut first (it keeps 20
    columns), then the rule names; the guides of a span nested deeper than
    half the width show its outer levels as a count (``⋯185 levels⋯``).

    With ``max_spans``, a longer trace is shown as an excerpt: the flagged
    spans, then the failed ones, with their ancestors (or, with neither, the
    first ``max_spans`` lines), the rest folded into ``… N more`` lines; a
    run of alike leaves is one line even where the excerpt left some out.
    """
    paint = _Painter(color)
    marks = _marks(highlight)
    excerpt = max_spans is not None and len(trace.spans) > max_spans
    fold = compact or excerpt  # in full, a tree shows every span on its own line
    pick = _same_leaf if compact else _same_line

    def same(a: Span, b: Span) -> bool:
        return fold and pick(a, b, trace, marks)

    keep = _excerpt(trace, marks, max_spans, same) if max_spans is not None and excerpt else None
    sizes = _subtree_sizes(trace) if keep is not None else {}
    children = trace.index.children
    guide_mid, guide_last, guide_pipe, guide_blank = ("├", "└", "│", " ") if compact else ("├─ ", "└─ ", "│  ", "   ")
    unit = len(guide_pipe)
    guides_budget = max(width // 2, 12) if width is not None else None

    def guides(prefix: str) -> str:
        """The tree guides, with the outer levels of a very deep span counted instead of drawn."""
        if guides_budget is None or len(prefix) <= guides_budget:
            return prefix
        kept = max((guides_budget - 8) // unit, 1)
        return f"⋯{len(prefix) // unit - kept} levels⋯ " + prefix[len(prefix) - kept * unit :]

    def fitted(line: str) -> str:
        return _truncate_ansi(line, width) if width is not None else line

    # Iterative walk: deep traces must not hit the recursion limit.
    lines: list[str] = []
    stack: list[tuple[Sequence[Span], int, str, Span | None]] = [(trace.index.roots, 0, "", None)]
    shown = 0
    while stack:
        siblings, position, prefix, parent = stack.pop()
        if position >= len(siblings):
            continue
        span = siblings[position]
        # A run of alike leaves is one line, shown whole if the excerpt picked any of its spans.
        run = _run_length(siblings, position, same)
        if keep is not None and not any(s.span_id in keep for s in siblings[position : position + run]):
            while position + run < len(siblings):
                more = _run_length(siblings, position + run, same)
                if any(s.span_id in keep for s in siblings[position + run : position + run + more]):
                    break
                run += more
            stack.append((siblings, position + run, prefix, parent))
            connector = guide_last if position + run >= len(siblings) else guide_mid
            hidden = sum(sizes[s.span_id] for s in siblings[position : position + run])
            text = f"… {run} more span{'s' if run != 1 else ''}"
            if hidden > run:
                text += f" ({hidden} with their subtrees)"
            lines.append(fitted(paint(f"{guides(prefix)}{connector}{text}", _DIM)))
            continue
        stack.append((siblings, position + run, prefix, parent))
        is_last = position + run >= len(siblings)
        connector = guide_last if is_last else guide_mid
        lines.append(
            _line(
                span,
                siblings[position : position + run],
                prefix=paint(guides(prefix) + connector, _DIM),
                paint=paint,
                compact=compact,
                marks=marks.get(span.span_id),
                parent=parent,
                trace=trace,
                width=width,
            )
        )
        kids = children.get(span.span_id)
        if kids and run == 1:
            child_prefix = prefix + (guide_blank if is_last else guide_pipe)
            stack.append((kids, 0, child_prefix, span))
        shown += run
    if keep is None and shown < len(trace.spans):
        lost = len(trace.spans) - shown
        text = f"({lost} span{'s' if lost != 1 else ''} not shown: their parent ids form a cycle)"
        lines.append(fitted(paint(text, _RED)))
    if not header:
        return "\n".join(lines)
    top: list[str] = []
    total = max((s.end_ns for s in trace.spans), default=0)
    count = len(trace.spans)
    title = f"trace {_clean(trace.name, 120)}  ({count} span{'s' if count != 1 else ''}, {format_duration(total)})"
    top.append(paint(title, _BOLD))
    if trace.versions and not compact:
        stamps = ", ".join(_clean(str(v), 50) for v in trace.versions.values())
        top.append(paint(f"versions: {_cut(stamps, 400)}", _DIM))
    if marks:
        top.append(paint(f"{len(marks)} span(s) marked", _RED))
    if keep is not None and shown < count:
        top.append(paint(f"excerpt: {shown} of {count} spans shown", _DIM))
    return "\n".join([fitted(line) for line in top] + lines)


def _line(
    span: Span,
    run: Sequence[Span],
    *,
    prefix: str,
    paint: _Painter,
    compact: bool,
    marks: list[str] | None,
    parent: Span | None,
    trace: Trace,
    width: int | None,
) -> str:
    kind_style = _KIND_STYLE.get(span.kind, _KIND_STYLE["custom"])
    label = _KIND_LABEL.get(span.kind, _clean(span.kind, 12))
    name = _clean(span.name, 60 if compact else 80)
    parts = [paint(label, kind_style), paint(name, _BOLD if span.kind == "agent" else "")]
    if span.kind == "tool" and not compact:  # a folded run in full mode has one input: it is shown too
        summary = _input_summary(span.input)
        if summary:
            parts.append(paint(summary, _DIM))
    if len(run) > 1:
        total = sum(s.duration_ns for s in run)
        parts.append(paint(f"×{len(run)}", _YELLOW) + paint(f" ({format_duration(total)} total)", _DIM))
    meta: list[str] = []
    # Agent and scope are inherited down the tree: repeat them only where they change.
    parent_agent = parent.agent if parent is not None else None
    if span.agent and span.kind != "agent" and (not compact or span.agent != parent_agent):
        meta.append(f"@{_clean(span.agent, 30)}")
    parent_scope = parent.scope if parent is not None else None
    if span.scope and span.scope != parent_scope and not compact:
        owner = trace.get_span(span.scope)
        meta.append(f"scope={_clean(owner.name, 20) + '#' if owner is not None else ''}{_clean(span.scope, 20)}")
    if len(run) == 1:
        meta.append(format_duration(span.duration_ns))
    if meta:
        parts.append(paint(" ".join(meta), _DIM))
    if not compact:
        details = _details(span, parent.versions if parent is not None else {})
        if details:
            parts.append(" ".join(details))
    if span.status != "ok":
        error = span.error if isinstance(span.error, Mapping) else {}
        what = _clean(str(error.get("type") or span.status), 40)
        message = error.get("message")
        text = f"✗ {what}" + (f": {_clean(str(message), 120 if not compact else 60)}" if message else "")
        parts.append(paint(text, _RED))
    body = " ".join(p for p in parts if p)
    flag = ""
    if marks is not None:
        rules = "◀ " + (", ".join(_clean(m, 40) for m in dict.fromkeys(marks)) or "flagged")
        if width is not None:  # the rule names are kept whole unless the text would get fewer than 20 columns
            rules = _truncate_ansi(rules, max(width - _width(prefix) - 1 - _MIN_TEXT, 10))
        flag = " " + paint(rules, _RED + _BOLD)
        body = paint(_ANSI.sub("", body), _RED_BG) if paint.color else "!! " + body
    if width is None:
        return prefix + body + flag
    body = _truncate_ansi(body, max(width - _width(prefix) - _width(flag), _MIN_TEXT))
    return _truncate_ansi(prefix + body + flag, width)  # only a very deep, flagged line in a narrow width


_MIN_TEXT: Final = 20  # columns a cut line keeps for its text, however deep or flagged
