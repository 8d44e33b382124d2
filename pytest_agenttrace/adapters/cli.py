"""``agenttrace import`` and ``agenttrace export``: foreign traces in, OTLP JSON out.

::

    agenttrace import FILE [--from otlp|langfuse|openai-agents|messages] [-o OUT.json] [--validate]
    agenttrace export TRACE [TRACE ...] --to otlp [-o OUT.json]

``import`` detects the format when ``--from`` is not given.  A file holding
several runs (an OTLP file with several trace ids, a tau-bench dump) gives
several traces: with ``-o DIR/`` (an existing directory or a path ending in
``/``) each is written there under a name made from the trace name and a hash
of its name and trace id, never over a file already there (``NAME.2.json``
then), else as ``OUT.1.json``, ``OUT.2.json``, ...  Without ``-o`` a single
trace is printed.  The paths written are listed on stdout; a closed stdout
(``| head``) stops the list, not the writing.
Exit codes: 0 written, 2 unreadable or foreign input, or an output that cannot be written.

Odd records do not stop an import: each is fixed or skipped with a warning on
stderr, kept in ``metadata.import_warnings`` (a time outside the years 1 to
9999 is clamped, an empty span id replaced, a secret in an id redacted; see
:mod:`pytest_agenttrace.adapters.importing`), and what is written is always a
trace file agenttrace reads.  Nothing the command prints or writes shows a
secret from the file: warnings and errors are redacted like the trace.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..exceptions import InputError, TraceFileError
from ..model import Trace
from .importing import FORMATS

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``import`` and ``export`` to the ``agenttrace`` command line."""
    importer = subparsers.add_parser(
        "import",
        help="convert a foreign trace (OTLP JSON, Langfuse, OpenAI Agents SDK, message log) to a trace file",
        description=(
            "Read a trace recorded elsewhere and write it as a pytest-agenttrace trace file. "
            "Exit 0 when written, 2 when the file cannot be read as the format."
        ),
    )
    importer.add_argument("file", help="the file to import")
    importer.add_argument(
        "--from",
        dest="fmt",
        choices=(*FORMATS, "auto"),
        default="auto",
        help="the file's format (default: detect it)",
    )
    importer.add_argument(
        "-o", "--output", default=None, metavar="OUT.json", help="where to write (default or -: print one trace)"
    )
    importer.add_argument(
        "--validate", action="store_true", help="also check every trace against the trace-file JSON Schema"
    )
    importer.set_defaults(handler=_run_import)

    exporter = subparsers.add_parser(
        "export",
        help="write trace files as OTLP JSON (for Jaeger, Phoenix, Langfuse)",
        description=(
            "Write one or more trace files as one OTLP JSON document (ExportTraceServiceRequest). "
            "`agenttrace import` reads it back to the same traces. Exit 0 when written, 2 on bad input."
        ),
    )
    exporter.add_argument("traces", nargs="+", metavar="TRACE", help="trace files to export")
    exporter.add_argument("--to", dest="target", choices=("otlp",), default="otlp", help="output format")
    exporter.add_argument(
        "-o", "--output", default=None, metavar="OUT.json", help="where to write (default or -: stdout)"
    )
    exporter.set_defaults(handler=_run_export)


def _run_import(args: argparse.Namespace) -> int:
    from ..sanitize import redact_text
    from ..store import (
        STDOUT,
        dump_bytes,
        refuse_overwriting,
        save_trace,
        trace_filename,
        validate_trace_dict,
        write_output,
    )
    from .importing import import_trace

    result = import_trace(args.file, None if args.fmt == "auto" else args.fmt)
    traces = result if isinstance(result, list) else [result]
    if args.validate:
        for trace in traces:
            try:
                validate_trace_dict(trace.to_dict(), where=f"{args.file} ({trace.name})")
            except TraceFileError as exc:  # the schema's message quotes the value it rejects
                raise TraceFileError(redact_text(exc.message), path=exc.path) from None
    if args.output is None or args.output == STDOUT:
        if len(traces) > 1:
            raise TraceFileError(
                f"holds {len(traces)} runs; pass -o DIR/ to write one trace file per run.", path=args.file
            )
        write_output(STDOUT, dump_bytes(traces[0].to_dict()) + b"\n")
        return 0
    with _writing(args.output):
        targets = _targets(args.output, traces, trace_filename)
        for path in targets:
            refuse_overwriting(path[0], [args.file])  # before anything is written
    listing = True
    for path in targets:
        with _writing(str(path[0])):
            save_trace(path[1], path[0])
        if listing:
            # A reader that stopped listening (`| head`) does not stop the files being written.
            listing = _announce(path[0])
    return 0


def _announce(path: Path) -> bool:
    """Print a written path; ``False`` once standard output is closed (the rest is not printed)."""
    try:
        sys.stdout.write(f"{path}\n")
        sys.stdout.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # what is still buffered would fail again at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            finally:
                os.close(devnull)
        return False
    return True


@contextlib.contextmanager
def _writing(target: str) -> Iterator[None]:
    """An output that cannot be written (a file where a folder must be, no permission) is an input error.

    An :class:`~pytest_agenttrace.store.OutputError` already says so and passes unchanged; a closed
    pipe (``-o /dev/stdout | head``) is not the path's fault and goes to the command's own handling.
    """
    from ..store import OutputError

    try:
        yield
    except (OutputError, BrokenPipeError):
        raise
    except OSError as exc:
        raise InputError(
            f"cannot write the output ({exc.strerror or exc}); choose another path with -o.", path=target
        ) from None


def _targets(output: str, traces: list[Trace], trace_filename: Any) -> list[tuple[Path, Trace]]:
    out = Path(output)
    if len(traces) == 1 and not output.endswith(("/", os.sep)) and not out.is_dir():
        return [(out, traces[0])]
    if output.endswith(("/", os.sep)) or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        targets = []
        for trace in traces:
            # The trace id is hashed too: runs of one name (an OTLP root span, "Agent workflow") differ by it.
            name = trace_filename(trace.name, unique=f"{trace.name}\n{trace.trace_id}")
            stem = name.removesuffix(".json")
            copy = 1
            while name in taken or os.path.lexists(out / name):  # never replace a run already written there
                copy += 1
                name = f"{stem}.{copy}.json"
            taken.add(name)
            targets.append((out / name, trace))
        return targets
    return [
        (out.with_name(f"{out.stem}.{position}{out.suffix or '.json'}"), trace)
        for position, trace in enumerate(traces, 1)
    ]


def _run_export(args: argparse.Namespace) -> int:
    from ..report._clean import sanitized
    from ..store import STDOUT, dump_bytes, load_trace, refuse_overwriting, write_atomic, write_output
    from .otlp import to_otlp

    # A trace file need not be clean (hand-made, another tool): nothing secret is exported.
    traces = [sanitized(load_trace(path)) for path in args.traces]
    data = dump_bytes(to_otlp(traces), indent=False)
    if args.output is None or args.output == STDOUT:
        write_output(STDOUT, data + b"\n")
    else:
        refuse_overwriting(args.output, args.traces)
        with _writing(args.output):
            write_atomic(args.output, data)
        sys.stdout.write(f"{args.output}\n")
    return 0
