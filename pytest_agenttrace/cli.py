"""The ``agenttrace`` command line.

``agenttrace show|check|diff|query|import|export|report|bisect|lint``; each
sub-command lives with its subsystem and is added by that module's
``register(subparsers)``.  Exit codes (contract): 0 success/pass, 1
violations or differences found, 2 usage or input error, reported as one
paragraph on stderr without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Final

from .exceptions import AgentTraceError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

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


def console_main() -> None:
    """Entry point of the ``agenttrace`` script."""
    raise SystemExit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
