"""The span tree for a terminal: one line per span, coloured when asked.

Each line shows the span's kind and name, then what a reader needs to follow
the run: the acting agent, the delegation scope, the duration, the status and
a few key attributes (model and token usage of ``llm`` spans, confidence, a
short summary of a tool's input, the handoff direction), with errors spelled
out.  Spans named by violations are marked with the rule ids, so a failing
check points at the lines that matter.

Compact mode is for wide or long traces: narrower indentation guides, no
attribute details, and runs of identical sibling leaves (a retry storm, a
fan-out of the same tool) folded into one ``×N`` line.

Everything here is plain text plus ANSI escape codes; trace content is
printed with control characters replaced, so a model's output cannot move
the cursor or recolour the terminal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any, Final

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

# Terminal controls, the bidirectional controls that can reorder what a reader sees, and the invisible
# characters that make two different names look the same (zero-width spaces and joiners, marks, BOM).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_NAMED_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def terminal_safe(text: str) -> str:
    """``text`` from a trace made inert for a terminal: every control character shown as an escape.

    C0 controls (newline and tab included: inside trace data they could forge
    lines), DEL, C1 controls and ESC (so no escape sequence starts) become
    ``\\n``, ``\\t``, ``\\x1b``, ...; line and paragraph separators, bidi
    controls and invisible characters (zero-width spaces and joiners, the
    byte-order mark) become ``\\u2028``, ``\\u200b``, ...  Apply it to each line of trace data,
    never to the layout around it.
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
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


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
    """One line of untrusted text: control characters shown escaped (:func:`terminal_safe`), capped."""
    text = terminal_safe(text)
    if len(text) > limit:
        # Never end on half an escape ("\\x9" of "\\x9b"): cut before it.
        return _PARTIAL_ESCAPE.sub("", text[: max(limit - 1, 0)]) + "…"
    return text


_PARTIAL_ESCAPE: Final = re.compile(r"\\(?:x[0-9a-f]?|u[0-9a-f]{0,3})?\Z")


def _short_value(value: Any, limit: int = 40) -> str:
    if isinstance(value, str):
        return _clean(repr(value) if len(value) <= limit else repr(value[:limit]) + "…", limit + 3)
    try:
        text = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    return _clean(text, limit)


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
        return f"({_clean(inner, limit)})"
    return f"({_short_value(value, limit)})"


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
            out.append(
                f"tok {tokens_in if tokens_in is not None else '?'}→{tokens_out if tokens_out is not None else '?'}"
            )
    confidence = attrs.get("confidence")
    if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
        out.append(f"conf={confidence:.2g}")
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
    changed = [f"{_clean(v, 40)}" for k, v in span.versions.items() if parent_versions.get(k) != v]
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


def _visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def _truncate_ansi(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` visible characters, keeping escape codes balanced."""
    if _visible_len(text) <= width:
        return text
    out: list[str] = []
    shown = 0
    pos = 0
    for match in _ANSI.finditer(text):
        chunk = text[pos : match.start()]
        room = width - 1 - shown
        if len(chunk) > room:
            out.append(chunk[: max(room, 0)])
            shown = width - 1
            break
        out.append(chunk)
        shown += len(chunk)
        out.append(match.group(0))
        pos = match.end()
    else:
        chunk = text[pos:]
        out.append(chunk[: max(width - 1 - shown, 0)])
    line = "".join(out) + "…"
    return line + _RESET if "\x1b[" in line else line


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


def _marks(highlight: Mapping[str, Iterable[str]] | Iterable[str] | None) -> dict[str, list[str]]:
    if highlight is None:
        return {}
    if isinstance(highlight, Mapping):
        return {str(k): [str(r) for r in v] for k, v in highlight.items()}
    return {str(k): [] for k in highlight}


def _excerpt(trace: Trace, marks: Mapping[str, list[str]], max_spans: int) -> set[str]:
    """The spans to show when a trace is too long: flagged spans and their ancestors, else a prefix."""
    keep: set[str] = set()
    by_id = trace.index.by_id
    for span_id in (s.span_id for s in trace.spans if s.span_id in marks):
        chain = []
        current = by_id.get(span_id)
        while current is not None and current.span_id not in keep:
            chain.append(current.span_id)
            current = by_id.get(current.parent_id) if current.parent_id is not None else None
        if len(keep) + len(chain) > max_spans and keep:
            break
        keep.update(chain)
    if not keep:
        for span, _depth in trace.walk():
            if len(keep) >= max_spans:
                break
            keep.add(span.span_id)
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
    flag it (shown at the end of the line), or just span ids.  ``width``
    cuts long lines (``None`` leaves them whole).  With ``max_spans``, a
    longer trace is shown as an excerpt: the flagged spans with their
    ancestors (or, with nothing flagged, the first ``max_spans`` spans), the
    rest folded into ``… N more`` lines.
    """
    paint = _Painter(color)
    marks = _marks(highlight)
    keep = _excerpt(trace, marks, max_spans) if max_spans is not None and len(trace.spans) > max_spans else None
    sizes = _subtree_sizes(trace) if keep is not None else {}
    lines: list[str] = []
    if header:
        total = max((s.end_ns for s in trace.spans), default=0)
        count = len(trace.spans)
        title = f"trace {_clean(trace.name, 120)}  ({count} span{'s' if count != 1 else ''}, {format_duration(total)})"
        lines.append(paint(title, _BOLD))
        if trace.versions and not compact:
            stamps = ", ".join(_clean(v, 50) for v in trace.versions.values())
            lines.append(paint(f"versions: {_clean(stamps, 400)}", _DIM))
        if marks:
            lines.append(paint(f"{len(marks)} span(s) marked", _RED))
        if keep is not None:
            lines.append(paint(f"excerpt: {len(keep)} of {len(trace.spans)} spans shown", _DIM))
        if width is not None:
            lines = [_truncate_ansi(line, width) for line in lines]
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

    # Iterative walk: deep traces must not hit the recursion limit.
    stack: list[tuple[list[Span], int, str, Span | None]] = [(list(trace.index.roots), 0, "", None)]
    shown = 0
    while stack:
        siblings, position, prefix, parent = stack.pop()
        if position >= len(siblings):
            continue
        span = siblings[position]
        if keep is not None and span.span_id not in keep:
            run = 1
            while position + run < len(siblings) and siblings[position + run].span_id not in keep:
                run += 1
            stack.append((siblings, position + run, prefix, parent))
            connector = guide_last if position + run >= len(siblings) else guide_mid
            hidden = sum(sizes[s.span_id] for s in siblings[position : position + run])
            text = f"… {run} more span{'s' if run != 1 else ''}"
            if hidden > run:
                text += f" ({hidden} with their subtrees)"
            lines.append(paint(f"{guides(prefix)}{connector}{text}", _DIM))
            continue
        run = 1
        if compact:
            while position + run < len(siblings) and _same_leaf(span, siblings[position + run], trace, marks):
                run += 1
            if run < 3:
                run = 1
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
            stack.append((list(kids), 0, child_prefix, span))
        shown += run
    if keep is None and shown < len(trace.spans):
        lost = len(trace.spans) - shown
        lines.append(paint(f"({lost} span{'s' if lost != 1 else ''} not shown: their parent ids form a cycle)", _RED))
    return "\n".join(lines)


def _line(
    span: Span,
    run: list[Span],
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
    if len(run) > 1:
        total = sum(s.duration_ns for s in run)
        parts.append(paint(f"×{len(run)}", _YELLOW) + paint(f" ({format_duration(total)} total)", _DIM))
    elif span.kind == "tool" and not compact:
        summary = _input_summary(span.input)
        if summary:
            parts.append(paint(summary, _DIM))
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
        error = span.error or {}
        what = _clean(str(error.get("type") or span.status), 40)
        message = error.get("message")
        text = f"✗ {what}" + (f": {_clean(str(message), 120 if not compact else 60)}" if message else "")
        parts.append(paint(text, _RED))
    body = " ".join(p for p in parts if p)
    flag = ""
    if marks is not None:
        rules = ", ".join(_clean(m, 40) for m in dict.fromkeys(marks))
        flag = " " + paint("◀ " + (rules or "flagged"), _RED + _BOLD)
        body = paint(_ANSI.sub("", body), _RED_BG) if paint.color else "!! " + body
    if width is not None:
        room = max(width - _visible_len(prefix) - _visible_len(flag), 20)
        body = _truncate_ansi(body, room)
    return prefix + body + flag
