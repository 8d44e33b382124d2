"""The ``agenttrace`` command line.

``agenttrace show|check|diff|query|import|export|report|bisect|lint``; each
sub-command lives with its subsystem and is added by that module's
``register(subparsers)``.  Exit codes (contract): 0 success/pass, 1
violations or differences found, 2 usage or input error, reported as one
paragraph on stderr without a traceback.

What the sub-commands share lives here: :func:`load_clean_trace` (every
command that reads a trace file prints or checks it sanitised),
:func:`trace_paths` (what a directory given as a trace stands for) and the
argparse types for numeric options.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .exceptions import AgentTraceError, TraceFileError
from .sanitize import Limits

if TYPE_CHECKING:
    from .model import Trace

__all__ = [
    "COMMAND_MODULES",
    "build_parser",
    "load_clean_trace",
    "main",
    "non_negative_float",
    "non_negative_int",
    "positive_int",
    "trace_paths",
]

#: Modules whose ``register(subparsers)`` adds sub-commands, in help order.
COMMAND_MODULES: Final = (
    "pytest_agenttrace.report.cli",  # show, report
    "pytest_agenttrace.spec.cli",  # check, lint, query
    "pytest_agenttrace.diff",  # diff
    "pytest_agenttrace.adapters.cli",  # import, export
    "pytest_agenttrace.bisect",  # bisect
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one paragraph, exit 2 (as the contract says).
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available sub-command."""
    from . import __version__

    parser = _Parser(
        prog="agenttrace",
        description="Inspect, check, diff and bisect recorded agent runs (pytest-agenttrace).",
    )
    parser.add_argument("--version", action="version", version=f"pytest-agenttrace {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args))
    except AgentTraceError as exc:  # InputError and the rest: one paragraph, exit 2
        # Messages can quote trace data (span names, ids): never let control characters through.
        from .report.terminal import terminal_safe

        sys.stderr.write(f"agenttrace {args.command}: error: {terminal_safe(str(exc))}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("agenttrace: interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. `agenttrace show big.json | head`
        return 0


# -- shared by the sub-commands ----------------------------------------------------------


#: What a command judges a loaded trace by: secrets redacted, sizes not capped (a trace recorded with
#: larger limits keeps all of its text, so a verdict or a diff on the command line is the one a test
#: gets); the depth cap is the recorder's, which a recorded trace never exceeds.
JUDGING_LIMITS: Final = Limits(max_string=sys.maxsize, max_items=sys.maxsize)


def load_clean_trace(path: str | os.PathLike[str]) -> Trace:
    """Load a trace file for a command to check, compare or print: secrets redacted, nothing cut.

    A trace file need not be clean (hand-made, written by another tool or an
    old version): what a command prints, writes or quotes in a violation
    comes from the sanitised trace (:func:`pytest_agenttrace.report._clean.sanitized`),
    with :data:`JUDGING_LIMITS`: values are not shortened, so a rule or a diff
    sees the text past 4,000 characters that a trace recorded with larger
    limits holds.  A clean trace comes back equal.
    """
    from .report._clean import sanitized
    from .store import load_trace

    return sanitized(load_trace(path), JUDGING_LIMITS)


#: The key every trace file has, near its start when pytest-agenttrace wrote it.
_TRACE_KEY: Final = b'"format_version"'


def _is_trace_file(path: Path) -> bool:
    """Whether a file in a directory looks like a trace: it has a ``"format_version"`` key."""
    try:
        with open(path, "rb") as file:
            head = file.read(4096)
            if _TRACE_KEY in head:
                return True
            start = head.lstrip()[:1]
            if start and start != b"{":
                return False  # an HTML page, a list, YAML: not a trace (whatever its name says)
            return _TRACE_KEY in head[-len(_TRACE_KEY) :] + file.read()
    except OSError:
        return True  # unreadable: loading it says why


def trace_paths(items: Sequence[str]) -> list[Path]:
    """The trace files that command-line arguments name.

    A file stands for itself (whatever it holds: loading it says what is
    wrong).  A directory stands for the ``*.json`` files under it, at any
    depth, in sorted order, that are trace files: a ``*.json`` file without a
    ``"format_version"`` key (an HTML report saved as ``.json``, an OTLP
    export, a tool's settings) is skipped with a note on stderr, so that a CI
    artifact folder can be given as it is.  A file that has the key but is
    broken (cut off, corrupt) is not skipped: it is an error when loaded.  A
    directory with no trace file is an input error.
    """
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if not path.is_dir():
            paths.append(path)
            continue
        found = sorted(p for p in path.rglob("*.json") if p.is_file())
        traces: list[Path] = []
        others: list[Path] = []
        for p in found:
            (traces if _is_trace_file(p) else others).append(p)
        if not traces:
            why = (
                f"none of its {len(found)} *.json files is a pytest-agenttrace trace (no format_version key)"
                if len(found) > 1
                else "its one *.json file is not a pytest-agenttrace trace (no format_version key)"
                if found
                else "no *.json files"
            )
            raise TraceFileError(f"directory holds no *.json trace files: {why}.", path=str(path))
        from .report.terminal import terminal_safe  # a file name can hold control characters

        for skipped in others:
            sys.stderr.write(
                f"agenttrace: note: skipped {terminal_safe(str(skipped))}: "
                "not a pytest-agenttrace trace (no format_version key)\n"
            )
        paths.extend(traces)
    return paths


def non_negative_int(text: str) -> int:
    """An argparse ``type=``: an integer of 0 or more (``--max-lines 0`` = no limit)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
    return value


def positive_int(text: str) -> int:
    """An argparse ``type=``: an integer of 1 or more."""
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 is not allowed here; give 1 or more")
    return value


def non_negative_float(text: str) -> float:
    """An argparse ``type=``: a finite number of 0 or more (not ``nan``, not ``inf``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give 0 or more")
    return value


def console_main() -> None:
    """Entry point of the ``agenttrace`` script."""
    raise SystemExit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
