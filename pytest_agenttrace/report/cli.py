"""``agenttrace show`` and ``agenttrace report``.

* ``show TRACE.json [--compact] [--color auto|yes|no] [--spec SPEC.yaml]...
  [--select SELECTOR]... [--max-spans N] [--width COLUMNS]`` prints the span
  tree; the spans that specs flag or selectors match are marked (violations
  are listed under the tree).  Exit 0, or 1 when a spec is violated.
* ``report TRACE.json... -o report.html [--spec SPEC.yaml]... [--select
  SELECTOR]...`` writes the HTML report of the traces (directories stand for
  the ``*.json`` files in them, e.g. a CI artifact folder).  With specs, each
  trace is checked and shown as passed or failed with its violations; exit 1
  when any is violated (the report is written either way).  Selectors are
  evaluated here and offered as filters in the page.

Bad input (an unreadable trace, a broken spec) is exit 2 with a one-paragraph
message, through :func:`pytest_agenttrace.cli.main`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..cli import positive_int, trace_paths
from ..model import Trace
from ..store import STDOUT, write_output
from .html import ReportEntry, render_html, write_html
from .terminal import render_tree, terminal_safe, use_color

__all__ = ["register", "run_report", "run_show"]


def register(subparsers: Any) -> None:
    """Add the ``show`` and ``report`` sub-commands."""
    show = subparsers.add_parser(
        "show",
        help="print a trace as a tree in the terminal",
        description="Print the span tree of a trace. Exit 0; 1 when a --spec is violated; 2 on bad input.",
    )
    show.add_argument("trace", metavar="TRACE.json", help="a trace file")
    show.add_argument(
        "--compact", action="store_true", help="narrow indentation, no attribute details, repeated calls folded"
    )
    show.add_argument(
        "--color", choices=("auto", "yes", "no"), default="auto", help="colour output (auto: when stdout is a terminal)"
    )
    show.add_argument(
        "--spec",
        action="append",
        default=[],
        dest="specs",
        metavar="SPEC.yaml",
        help="mark what a spec flags (repeatable)",
    )
    show.add_argument(
        "--select",
        action="append",
        default=[],
        dest="selectors",
        metavar="SELECTOR",
        help="mark the spans a selector matches, e.g. 'tool[name=web_search]' (repeatable)",
    )
    show.add_argument(
        "--max-spans",
        type=positive_int,
        default=None,
        metavar="N",
        help="show an excerpt of at most N spans (flagged ones first)",
    )
    show.add_argument(
        "--width", type=positive_int, default=None, metavar="COLUMNS", help="cut lines to this width (default: the terminal's)"
    )
    show.set_defaults(handler=run_show)

    report = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report of trace files",
        description="Write one HTML file with the tree, timeline and findings of each trace. "
        "Exit 0; 1 when a --spec is violated (the report is written anyway); 2 on bad input.",
    )
    report.add_argument("traces", nargs="+", metavar="TRACE.json", help="trace files (or directories of them)")
    report.add_argument("-o", "--output", required=True, metavar="REPORT.html", help="the HTML file to write (- for stdout)")
    report.add_argument(
        "--spec", action="append", default=[], dest="specs", metavar="SPEC.yaml", help="check each trace (repeatable)"
    )
    report.add_argument(
        "--select",
        action="append",
        default=[],
        dest="selectors",
        metavar="SELECTOR",
        help="offer a selector as a filter in the page, e.g. 'delegation[to_agent=coder] tool' (repeatable)",
    )
    report.add_argument("--title", default="agenttrace report", help="the page title")
    report.set_defaults(handler=run_report)


def _load(path: Path) -> Trace:
    from ..store import load_trace

    return load_trace(path)


def _check(traces: Sequence[Trace], specs: Sequence[str]) -> list[list[Any]] | None:
    """Violations per trace, or ``None`` without specs."""
    if not specs:
        return None
    from ..spec import check_trace, load_spec

    spec = load_spec(list(specs))
    return [list(check_trace(trace, spec).violations) for trace in traces]


def _selections(trace: Trace, selectors: Sequence[str]) -> dict[str, list[str]]:
    """Span ids per selector (a bad selector is an input error: exit 2)."""
    return {text: [span.span_id for span in trace.select(text)] for text in selectors}


def run_show(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``agenttrace show``."""
    out = out or sys.stdout
    from ..cli import load_clean_trace

    trace = load_clean_trace(args.trace)  # a trace file need not be clean: nothing secret is printed
    checked = _check([trace], args.specs)
    violations = checked[0] if checked is not None else []
    highlight: dict[str, list[str]] = {}
    marks: list[tuple[str, Sequence[str]]] = [(v.rule, (*v.spans, *v.chain)) for v in violations]
    marks += [(f"select {text}", ids) for text, ids in _selections(trace, args.selectors).items()]
    for label, span_ids in marks:
        for span_id in span_ids:
            labels = highlight.setdefault(span_id, [])
            if label not in labels:
                labels.append(label)
    color = use_color(args.color, out)
    width = args.width
    if width is None and getattr(out, "isatty", lambda: False)():
        width = shutil.get_terminal_size().columns
    out.write(
        render_tree(
            trace, color=color, compact=args.compact, highlight=highlight, width=width, max_spans=args.max_spans
        )
        + "\n"
    )
    if checked is None:
        return 0
    if not violations:
        out.write("no violations\n")
        return 0
    red, reset = ("\x1b[31m", "\x1b[0m") if color else ("", "")
    out.write(f"\n{red}{len(violations)} violation{'s' if len(violations) != 1 else ''}{reset}\n")
    for violation in violations:
        out.write(f"{red}✗ [{terminal_safe(violation.rule)}]{reset} {terminal_safe(violation.message)}\n")
    return 1


def run_report(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``agenttrace report``."""
    out = out or sys.stdout
    from ..store import refuse_overwriting

    refuse_overwriting(args.output, args.traces)
    paths = trace_paths(args.traces)
    traces = [_load(path) for path in paths]
    checked = _check(traces, args.specs)
    entries = []
    failed = 0
    for number, (path, trace) in enumerate(zip(paths, traces)):
        violations = checked[number] if checked is not None else []
        outcome = "unknown" if checked is None else ("failed" if violations else "passed")
        failed += outcome == "failed"
        entry = ReportEntry.from_trace(
            trace,
            name=trace.name or str(path),
            outcome=outcome,
            violations=violations,
            selections=_selections(trace, args.selectors),
        )
        entries.append(entry)
    if args.output == STDOUT:  # the page on stdout (a pipe), what was written said on stderr
        write_output(STDOUT, render_html(entries, title=args.title).encode("utf-8"))
        target, out = "the report to stdout", sys.stderr
    else:
        target = str(write_html(args.output, entries, title=args.title))
    summary = f"wrote {target} ({len(entries)} trace{'s' if len(entries) != 1 else ''}"
    if checked is not None:
        summary += f", {failed} with violations"
    out.write(summary + ")\n")
    return 1 if failed else 0
