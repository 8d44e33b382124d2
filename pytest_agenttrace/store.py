"""Trace files: write atomically, read with clear errors, validate against the schema.

One trace per file, JSON, in the contract format (``schemas/trace.schema.json``
ships in the package).  Writing goes to a temporary file in the same
directory followed by :func:`os.replace`, so a reader (or a crash, or a
parallel pytest-xdist worker) never sees a torn file; a FIFO, a device or
``/dev/stdout`` given as the output is written into, and a link is followed
(:func:`write_atomic`).  Where an output cannot be written, or would replace
a command's input (:func:`refuse_overwriting`), :class:`OutputError` says so.

Loading checks the structure cheaply (format version, required keys, field
types of every span) and builds the model, with the spans in start order (a
file listing them otherwise is sorted, stably, by ``start_ns``); full JSON Schema validation is
:func:`validate_trace_dict` (used by the tests and ``agenttrace check
--validate``), kept off the hot path because it costs ~100x more.

orjson is used when installed (about 5x faster than the standard library for
large traces); the standard library is the fallback, and reads the files
orjson would not read exactly (integers beyond 64 bits) or at all (lone
surrogate escapes: :func:`_parse`).  Either way the file must be strict JSON:
NaN, Infinity and numbers past a float's range are refused, and written
neither (:func:`dump_bytes`).
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import functools
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any, Final

from ._gc import collector_paused
from .exceptions import InputError, TraceFileError
from .model import (
    _SPAN_VALUES,
    FORMAT_VERSION,
    KINDS,
    SPAN_FIELDS,
    Span,
    Trace,
    repeated_span_id,
    span_from_tuple,
)
from .sanitize import redact_text

try:  # optional speed-up
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "STDOUT",
    "OutputError",
    "check_types",
    "dump_bytes",
    "load_trace",
    "load_trace_dict",
    "refuse_overwriting",
    "save_trace",
    "schema",
    "trace_filename",
    "validate_trace_dict",
    "write_atomic",
    "write_output",
]

_SPAN_KEYS: Final = frozenset(SPAN_FIELDS)
_TOP_KEYS: Final = ("format_version", "trace_id", "name", "started_at", "spans")
#: Every top-level key the schema allows (``additionalProperties: false``): the required ones and these two.
_TOP_ALLOWED: Final = frozenset((*_TOP_KEYS, "metadata", "versions"))
_NEWER: Final = "the file is corrupt or was written by a newer version of pytest-agenttrace"


def dump_bytes(data: Any, *, indent: bool = True) -> bytes:
    """Serialise JSON data (orjson when available) as strict JSON that :func:`load_trace_dict` reads back.

    A non-finite float (NaN, Infinity), which JSON cannot hold, is written as
    null (orjson's way; the standard library is made to agree); an integer
    longer than Python converts to text (:func:`sys.get_int_max_str_digits`)
    as a marker string (:func:`_long_integer_marker`); a lone surrogate as its
    ``\\udXXX`` escape.
    """
    if _orjson is not None:
        option = _orjson.OPT_INDENT_2 if indent else 0
        try:
            return _orjson.dumps(data, option=option | _orjson.OPT_NON_STR_KEYS)
        except TypeError:
            pass  # integers beyond 64 bits, lone surrogates: the standard library copes
    options: dict[str, Any] = {"indent": 2 if indent else None, "ensure_ascii": False, "default": str}
    try:
        text = json.dumps(data, allow_nan=False, **options)
    except ValueError:  # rare, so found only now: a non-finite float, or an integer too long to write
        text = json.dumps(_writable(data), allow_nan=False, **options)
    # Lone surrogates can only be inside strings, where backslashreplace's \udXXX is the JSON escape.
    return text.encode("utf-8", errors="backslashreplace")


def _writable(value: Any) -> Any:
    """A copy of JSON data with what :mod:`json` cannot write replaced (see :func:`dump_bytes`)."""
    if isinstance(value, dict):
        return {_writable_key(key): _writable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_writable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and value.bit_length() > 64:
        try:
            int.__repr__(value)
        except ValueError:
            return _long_integer_marker(value)
    return value


def _writable_key(key: Any) -> Any:
    if isinstance(key, float) and not math.isfinite(key):
        return "null"  # what orjson writes for it
    if isinstance(key, int) and not isinstance(key, bool):
        return _writable(key)
    return key


def _long_integer_marker(value: int) -> str:
    """``…[agenttrace: integer of 5001 digits, 1234567890…]``: its size and first digits.

    Marked as sanitize marks cut text; counted without converting it to text
    (refused past the limit, and slow: quadratic in the digits).
    """
    size = abs(value)
    digits = int((size.bit_length() - 1) * 0.30102999566398120) + 1  # log10(2): exact or one short
    if size >= 10**digits:
        digits += 1
    first = size // 10 ** (digits - 10)
    return f"…[agenttrace: integer of {digits} digits, {'-' if value < 0 else ''}{first}…]"


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that no reader ever sees a torn file; returns ``path``.

    What happens depends on what ``path`` names:

    * a new file or an existing regular file: ``data`` goes to a temporary
      file in the same directory, which then replaces ``path``
      (:func:`os.replace`, atomic).  A replaced file keeps its permission
      bits; a new one gets those :func:`open` would give (``0o666 & ~umask``).
      Missing parent directories are created.
    * a symbolic link to a regular file (or a dangling one): the same, on the
      file the link points to, so the link stays a link.
    * an existing file that is not a regular file (a FIFO, a character device
      such as ``/dev/null``, a socket) or a name for one of this process's
      open file descriptors (``/dev/stdout``, ``/dev/fd/1``,
      ``/proc/self/fd/1``, or a link to one): ``data`` is written into it, as
      :func:`open` would; there is no file to replace.

    A path that is empty, names a directory, or ends with a path separator (a
    directory, even one that does not exist yet), and any failure to create
    or write the file, raise :class:`OutputError` (an :class:`InputError`,
    so exit 2 on the command line, and an :class:`OSError` for callers that
    catch those) naming the path and what to do.
    """
    text = os.fspath(path)
    if not text:
        raise OutputError("the output path is empty; give the name of a file to write.")
    if text.endswith(_SEPARATORS):
        raise OutputError(
            "the path ends with a separator, so it names a directory; give the name of a file in it.", path=text
        )
    descriptor = _own_descriptor(text)
    if descriptor is not None:
        _write_descriptor(descriptor, data, text)
        return Path(text)
    try:
        status: os.stat_result | None = os.stat(text)
    except FileNotFoundError:
        status = None  # a new file, or a link to one
    except NotADirectoryError:
        raise _blocked(Path(text).parent, text) from None
    except OSError as exc:
        raise _output_error(text, exc) from None
    if status is not None and stat.S_ISDIR(status.st_mode):
        raise OutputError("is a directory; give the name of a file (in it, or elsewhere).", path=text)
    if status is not None and not stat.S_ISREG(status.st_mode):
        _write_into(text, data)
        return Path(text)
    # A link is followed to the file it names, so the link survives and that file is what changes.
    target = Path(os.path.realpath(text)) if os.path.islink(text) else Path(text)
    mode = status.st_mode & 0o777 if status is not None else 0o666 & ~_umask()  # no setuid/sticky carried over
    _make_parent(target, text)
    try:
        # A short temporary name: the target's own name may already be near the 255-byte limit.
        fd, tmp = tempfile.mkstemp(prefix=".agenttrace-", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _output_error(text, exc, doing=f"cannot create a file in {target.parent}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; give the file the permissions it had, or those a plain open() would give.
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _output_error(text, exc) from None
        raise
    return Path(text)


class OutputError(InputError, OSError):
    """An output file cannot be written where it was asked for (a directory, an unwritable place, ...).

    An :class:`~pytest_agenttrace.exceptions.InputError` (the command line
    reports it with exit code 2) and an :class:`OSError` (what callers of
    :func:`write_atomic` caught before it explained itself).
    """


_SEPARATORS: Final = tuple({"/", os.sep, os.altsep or "/"})
#: The names a process has for its own open file descriptors.
_DESCRIPTOR_LINK: Final = re.compile(r"/(?:proc/(self|thread-self|[0-9]+)/fd|dev/fd)/([0-9]+)")
_STANDARD_STREAMS: Final = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def _own_descriptor(text: str) -> int | None:
    """The open file descriptor of this process that ``text`` names, following links, if it names one.

    ``/dev/stdout`` is a link to ``/proc/self/fd/1``, itself a link to the
    terminal, pipe or file that descriptor 1 is.  Writing to that descriptor
    (rather than opening what it points to) keeps its offset and append mode,
    as a shell's ``>>`` expects.
    """
    current = os.path.abspath(text)
    for _ in range(40):  # the kernel's own limit on nested links
        if current in _STANDARD_STREAMS:
            number = _STANDARD_STREAMS[current]
            break
        match = _DESCRIPTOR_LINK.fullmatch(current)
        if match is not None:
            pid = match.group(1)
            if pid is not None and pid.isdigit() and int(pid) != os.getpid():
                return None  # another process's descriptor: what it points to is written as any file
            number = int(match.group(2))
            break
        try:
            link = os.readlink(current)
        except OSError:
            return None  # not a link (or not there): no descriptor on the way
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
    else:
        return None
    try:
        os.fstat(number)
    except OSError:
        return None  # not open here: opening the name gives the usual error
    return number


def _write_descriptor(number: int, data: bytes, text: str) -> None:
    import sys

    for stream in (sys.stdout, sys.stderr):  # what was printed before comes first
        with contextlib.suppress(Exception):
            if stream is not None and stream.fileno() == number:
                stream.flush()
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(number, view) :]
    except BrokenPipeError:
        raise  # the reader went away, as with `| head`: not a problem of the path
    except OSError as exc:
        raise _output_error(text, exc) from None


def _write_into(text: str, data: bytes) -> None:
    """Write into an existing special file (FIFO, device): open it for writing, nothing created or truncated."""
    try:
        number = os.open(text, os.O_WRONLY)
    except OSError as exc:
        raise _output_error(text, exc) from None
    try:
        _write_descriptor(number, data, text)
    finally:
        os.close(number)


def _make_parent(target: Path, text: str) -> None:
    """Create the directories above ``target``, explaining what stands in the way."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise _blocked(target.parent, text) from None
    except OSError as exc:
        raise _output_error(text, exc, doing=f"cannot create its directory {target.parent}") from None


def _blocked(folder: Path, text: str) -> OutputError:
    """The error for a path whose directory cannot exist: a file stands where a directory should."""
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
    return OutputError(
        f"cannot create its directory: {blocker} is a file, not a directory; give another path.", path=text
    )


def _output_error(text: str, exc: OSError, *, doing: str = "cannot write the file") -> OutputError:
    reason = exc.strerror or str(exc)
    if isinstance(exc, PermissionError):
        hint = "check the path (a typo?) or write somewhere you have permission to"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "free some space or write somewhere else"
    elif exc.errno == errno.EROFS:
        hint = "write somewhere else"
    else:
        hint = "check the path"
    return OutputError(f"{doing} ({reason}); {hint}.", path=text)


#: The output name that stands for standard output (``-o -``).
STDOUT: Final = "-"


def write_output(output: str | os.PathLike[str], data: bytes) -> Path | None:
    """Write a command's output file: :data:`STDOUT` (``-``) is standard output, anything else :func:`write_atomic`.

    Returns the path written, or ``None`` for standard output (a command then
    says what it wrote on stderr, not after the data).
    """
    if os.fspath(output) != STDOUT:
        return write_atomic(output, data)
    import sys

    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return None


def refuse_overwriting(
    output: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]],
    *,
    read_in_directories: Sequence[str] = (".json",),
) -> None:
    """Raise :class:`OutputError` when writing ``output`` would destroy or pollute the command's ``inputs``.

    Refused: ``output`` is one of the input files (the same file, through
    any link or spelling: :func:`os.path.samefile`), or it would be written
    inside an input directory under a suffix the command reads there
    (``read_in_directories``: trace commands read the ``*.json`` files of a
    directory), so that the next run would take it for an input.  Standard
    output (``-``) is never refused.  Call it before reading the inputs.
    """
    text = os.fspath(output)
    if not text or text == STDOUT:
        return
    spelled = os.path.abspath(text)
    real = os.path.realpath(text)
    suffix = os.path.splitext(text)[1]
    for item in inputs:
        name = os.fspath(item)
        try:
            same = os.path.samefile(text, name)
        except OSError:  # either is missing: an output not yet there cannot be an existing input
            same = False
        if same:
            raise OutputError(
                f"is also an input of this command ({name}); writing it would replace that file. "
                "Give another output path.",
                path=text,
            )
        if suffix in read_in_directories and os.path.isdir(name):
            folders = {os.path.abspath(name), os.path.realpath(name)}
            if any(_inside(place, folder) for place in (spelled, real) for folder in folders):
                kinds = ", ".join(f"*{s}" for s in read_in_directories)
                raise OutputError(
                    f"is inside the input directory {name}, whose {kinds} files this command reads: the next "
                    f"run would read it as an input. Write it outside {name}, or with another suffix.",
                    path=text,
                )


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


@functools.cache
def _umask() -> int:
    # Reading the umask means setting it; do it once, not on every write from many threads.
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Traces up to this many spans are written indented (they get read by people in reviews);
#: larger ones compactly, which halves their size and write/read time.
INDENT_MAX_SPANS: Final = 5000


def save_trace(trace: Trace, path: str | os.PathLike[str], *, indent: bool | None = None) -> Path:
    """Write ``trace`` to ``path`` atomically in the trace-file format.

    ``indent`` None indents traces of up to :data:`INDENT_MAX_SPANS` spans.
    """
    if indent is None:
        indent = len(trace.spans) <= INDENT_MAX_SPANS
    with collector_paused():
        data = _dump_trace_fast(trace, indent) if _orjson is not None else None
        if data is None:
            data = dump_bytes(trace.to_dict(), indent=indent)
    return write_atomic(path, data)


def _dump_trace_fast(trace: Trace, indent: bool) -> bytes | None:
    """orjson serialises the span dataclasses itself, in field (= contract) order: no dict per span."""
    payload = {
        "format_version": FORMAT_VERSION,
        "trace_id": trace.trace_id,
        "name": trace.name,
        "started_at": trace.started_at,
        "metadata": trace.metadata,
        "versions": trace.versions,
        "spans": trace.spans,
    }
    option = (_orjson.OPT_INDENT_2 if indent else 0) | _orjson.OPT_NON_STR_KEYS
    try:
        result: bytes = _orjson.dumps(payload, option=option)
    except TypeError:
        return None  # e.g. integers beyond 64 bits: the caller falls back to the standard library
    return result


_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def trace_filename(nodeid: str, *, unique: str | None = None) -> str:
    """A unique, filesystem-safe file name for a test's trace.

    ``tests/test_x.py::test_y[a]`` -> ``tests_test_x.py__test_y_a-3f2a9c1e.json``: readable,
    and suffixed with a hash of the whole id, because the readable part alone is lossy
    (``a/test_b.py`` and ``a_test_b.py`` would otherwise overwrite each other's trace).
    ``unique`` is hashed instead of ``nodeid`` when given: the plugin passes the redacted
    node id as ``nodeid`` and the raw one as ``unique``, so ids differing only in a secret
    still get two files.
    """
    from .versions import content_hash

    readable = _UNSAFE.sub("_", nodeid.replace("::", "__").replace("/", "_")).strip("_.") or "trace"
    return f"{readable[:150]}-{content_hash(nodeid if unique is None else unique)}.json"


def load_trace_dict(path: str | os.PathLike[str], *, check_spans: bool = True) -> dict[str, Any]:
    """Read and parse a trace file into a dict, checking its structure.

    ``check_spans`` False checks only the top level (the model's constructor
    then catches malformed spans, and :func:`check_structure` explains them).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise TraceFileError("no such trace file; check the path.", path=str(p)) from None
    except OSError as exc:
        raise TraceFileError(f"cannot read the trace file: {exc.strerror}.", path=str(p)) from None
    with collector_paused():  # parsing allocates only acyclic containers: collections would find nothing
        data = _parse(raw, str(p))
    check_structure(data, str(p), spans=check_spans)
    result: dict[str, Any] = data
    return result


#: Maps every digit to ``0`` and every other byte to ``.``: a run of :data:`_LONG_DIGITS` in the
#: result is a run of that many digits in the file.
_DIGITS_TO_ZERO: Final = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x2E for byte in range(256))
#: 19 digits: the shortest integer orjson can read as a float (-9999999999999999999 is below -2**63;
#: any 20-digit one can be above 2**64 - 1).  ``json`` reads every integer exactly.
_LONG_DIGITS: Final = b"0" * 19


def _parse(raw: bytes, where: str) -> Any:
    """Parse a trace file's bytes; :class:`TraceFileError` explains what is wrong with the ones that fail.

    orjson parses when it can do so exactly: it reads integers beyond 64 bits
    as floats, so a file with a run of 19 or more digits anywhere (rare; the
    check costs about a tenth of orjson's parse) is read by :mod:`json`,
    which keeps them exact.  Both read UTF-8 only, as trace files are written.
    """
    if not raw.strip():
        raise TraceFileError("the trace file is empty; it was probably not written completely.", path=where)
    if raw.startswith(b"\xef\xbb\xbf"):  # an editor's addition, which JSON does not allow; the rest may be fine
        raise TraceFileError(
            "starts with a UTF-8 byte-order mark, which a trace file may not have; "
            "remove the mark (save the file as UTF-8 without BOM) and try again.",
            path=where,
        )
    try:
        if _orjson is not None and _LONG_DIGITS not in raw.translate(_DIGITS_TO_ZERO):
            try:
                return _orjson.loads(raw)
            except ValueError:
                pass  # a lone surrogate's escape (valid JSON, which orjson refuses), or an error explained below
        # The same rules as orjson's, but for lone surrogates: no NaN, no Infinity, no number past a float's range.
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise TraceFileError("the JSON is nested too deeply to be a trace file.", path=where) from None
    except _NotFinite:
        raise _not_finite_error(raw, where) from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, Python's limit on integer digits
        pass
    raise _parse_error(raw, where)


class _NotFinite(Exception):
    """A ``NaN``, ``Infinity`` or a number too large for a float: not JSON, though :mod:`json` reads it."""


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf - inf is nan: 1e400 and the like
        raise _NotFinite(text)
    return value


#: What the JSON grammar can hold outside strings, plus the names :mod:`json` reads for non-finite numbers.
_JSON_TOKEN: Final = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"|(-?Infinity|NaN)|(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)'
)


def _not_finite_error(raw: bytes, where: str) -> TraceFileError:
    """Where the first non-finite number of a file is (the parser's hook does not know its place)."""
    text = raw.decode("utf-8")
    line = column = None
    shown = "a number"
    for match in _JSON_TOKEN.finditer(text):
        name, number = match.group(1, 2)
        # An integer (digits only) is read exactly, never as a float: only a fraction or exponent overflows.
        if name is not None or (number is not None and not number.lstrip("-").isdigit() and math.isinf(float(number))):
            token = match.group()
            shown = token if len(token) <= 30 else f"{token[:24]}…({len(token)} characters)"
            line = text.count("\n", 0, match.start()) + 1
            column = match.start() - text.rfind("\n", 0, match.start())
            break
    return TraceFileError(
        f"{shown} is not a finite number: trace files are strict JSON, which has no NaN or Infinity (and a float "
        "holds up to about 1.8e308); the file was not written by pytest-agenttrace: write such a value as a "
        "string, or null.",
        path=where,
        line=line,
        column=column,
    )


def _parse_error(raw: bytes, where: str) -> TraceFileError:
    """What is wrong with bytes that did not parse: the encoding, the JSON, or an integer too long to read."""
    try:
        raw.decode("utf-8")
        bad_byte: int | None = None
    except UnicodeDecodeError as exc:
        bad_byte = exc.start
    text = raw.decode("utf-8", errors="replace")
    try:
        json.loads(text)
    except RecursionError:
        return TraceFileError("the JSON is nested too deeply to be a trace file.", path=where)
    except json.JSONDecodeError as exc:
        # The first problem is reported: the JSON error, or the byte that is not UTF-8 before it.
        if bad_byte is None or exc.pos < len(raw[:bad_byte].decode("utf-8")):
            return _json_error(exc, where)
    except ValueError:  # an integer with more digits than int() reads (sys.get_int_max_str_digits)
        if bad_byte is None:
            return _long_integer_error(raw, where)
    if bad_byte is not None:
        return _encoding_error(raw, bad_byte, where)
    return TraceFileError("not valid JSON; the file is corrupt or not a trace file.", path=where)


def _json_error(exc: json.JSONDecodeError, where: str) -> TraceFileError:
    # A trace file is one JSON object: one that opens but never closes (or fails at its very end)
    # was cut off, most often by a run killed while writing it.  Anything else is not a trace.
    body = exc.doc.strip()
    at_end = body.startswith("{") and (exc.pos >= len(exc.doc.rstrip()) or not body.endswith("}"))
    return TraceFileError(
        f"not valid JSON ({exc.msg}); "
        + (
            "the file ends early: it was probably not written completely (truncated)."
            if at_end
            else "the file is corrupt or not a trace file."
        ),
        path=where,
        line=exc.lineno,
        column=exc.colno,
    )


def _line_column(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column


def _encoding_error(raw: bytes, offset: int, where: str) -> TraceFileError:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw[:4]:
        return TraceFileError(
            "the file is not UTF-8 text (it looks like UTF-16 or UTF-32); trace files are UTF-8 JSON: "
            "re-encode it (e.g. iconv -f utf-16 -t utf-8).",
            path=where,
        )
    line, column = _line_column(raw, offset)
    return TraceFileError(
        f"the file is not UTF-8 text: byte 0x{raw[offset]:02x} at byte offset {offset} is not valid UTF-8; "
        "trace files are UTF-8 JSON: re-encode it (e.g. iconv -f latin1 -t utf-8).",
        path=where,
        line=line,
        column=column,
    )


def _long_integer_error(raw: bytes, where: str) -> TraceFileError:
    import sys

    limit = sys.get_int_max_str_digits()
    line = column = None
    digits = None
    # The first run of too many digits that stands as a number (not inside a longer token or a float).
    for match in re.finditer(rb"[0-9]{%d,}" % (limit + 1), raw):
        before = raw[: match.start()].rstrip(b"-")[-1:]
        after = raw[match.end() : match.end() + 1]
        if before in (b"", b":", b"[", b",", b" ", b"\t", b"\n", b"\r") and after not in (b".", b"e", b"E"):
            line, column = _line_column(raw, match.start())
            digits = match.end() - match.start()
            break
    size = f"of {digits} digits " if digits is not None else ""
    return TraceFileError(
        f"an integer {size}is longer than Python reads ({limit} digits); the file is corrupt, or the value "
        "should be written as a string.",
        path=where,
        line=line,
        column=column,
    )


def check_structure(data: Any, where: str = "<trace>", *, spans: bool = True) -> None:
    """Cheap structural check of a parsed trace file; raises :class:`TraceFileError`."""
    if not isinstance(data, dict):
        raise TraceFileError(
            f"expected a JSON object with 'format_version' and 'spans', found {type(data).__name__}; "
            "is this a trace written by pytest-agenttrace? Use `agenttrace import` for foreign formats.",
            path=where,
        )
    missing = [k for k in _TOP_KEYS if k not in data]
    if missing:
        hint = " Use `agenttrace import` for OTLP, Langfuse or message logs." if "format_version" in missing else ""
        raise TraceFileError(f"not a pytest-agenttrace trace: missing {', '.join(missing)}.{hint}", path=where)
    version = data["format_version"]
    if type(version) is not int:  # not 1.0, not true (a bool is an int to Python, not to the contract)
        raise TraceFileError(
            f"format_version must be the integer {FORMAT_VERSION}, found {_shown(version)}; "
            "the file is corrupt or not a trace file.",
            path=where,
        )
    if version != FORMAT_VERSION:
        raise TraceFileError(
            f"format_version {version!r} is not supported (this pytest-agenttrace reads "
            f"{FORMAT_VERSION}); upgrade pytest-agenttrace or re-record the trace.",
            path=where,
        )
    if not data.keys() <= _TOP_ALLOWED:  # a set test on a handful of keys: nothing to pay on a good file
        unknown = _keys_problem(data.keys() - _TOP_ALLOWED, _TOP_ALLOWED, "top-level key")
        raise TraceFileError(f"{unknown}; {_NEWER}.", path=where)
    span_list = data["spans"]
    if not isinstance(span_list, list):
        raise TraceFileError("'spans' must be a list of span objects.", path=where)
    if not spans:
        return
    for position, span in enumerate(span_list):
        if not isinstance(span, dict) or span.keys() != _SPAN_KEYS:
            if not isinstance(span, dict):
                problem = f"is a {type(span).__name__}, not an object"
            else:
                lacking = _SPAN_KEYS - span.keys()
                extra = span.keys() - _SPAN_KEYS
                problem = "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(map(repr, sorted(lacking)))}" if lacking else "",
                        _keys_problem(extra, _SPAN_KEYS, "key") if extra else "",
                    )
                    if part
                )
            raise TraceFileError(f"span #{position} {problem}; {_NEWER}.", path=where)
        if (
            not isinstance(span["span_id"], str)
            or not isinstance(span["start_ns"], int)
            or not isinstance(span["end_ns"], int)
        ):
            raise TraceFileError(
                f"span #{position}: span_id must be a string and start_ns/end_ns integers.", path=where
            )


def _keys_problem(unknown: Iterable[Any], valid: Iterable[str], what: str) -> str:
    """``unknown key 'x' (did you mean 'y'?)``: the unknown keys (redacted, shortened), and for one of them
    the closest ``valid`` key when it looks like a misspelling of one."""
    names = sorted(redact_text(str(key)) for key in unknown)
    shown = [repr(name) if len(name) <= 40 else repr(name[:39] + "…") for name in names[:5]]
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    hint = ""
    if len(names) == 1:
        close = difflib.get_close_matches(names[0], sorted(valid), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what}{'s' if len(names) > 1 else ''} {', '.join(shown)}{more}{hint}"


def load_trace(path: str | os.PathLike[str], *, validate: bool = False) -> Trace:
    """Load a trace file; ``validate`` also runs the full JSON Schema."""
    where = str(path)
    # One pause for parsing and building: re-enabling the collector in between would make it
    # walk every object just parsed (most of which are about to be freed) for nothing.
    with collector_paused():
        data = load_trace_dict(path, check_spans=False)
        if validate:
            validate_trace_dict(data, where=where)
        trace = Trace._with_unique_ids(  # _build_spans refuses a repeated id
            trace_id=data["trace_id"],
            name=data["name"],
            started_at=data["started_at"],
            metadata=data.get("metadata") or {},
            versions=data.get("versions") or {},
            spans=_build_spans(data, where),
        )
        del data  # the parsed span dicts go now, before the collector sees them
    _check_top(trace, where)
    return trace


def _build_spans(data: dict[str, Any], where: str) -> tuple[Span, ...]:
    """Build and type-check every span of a parsed trace file in one pass.

    The hot loop of loading: each span's 18 values are read once into locals,
    checked there (the common case is one boolean expression), and stored
    straight into the span's slots.  Anything unusual is handed to the slow,
    explaining checks (:func:`check_structure`, :func:`_span_problem`).
    """
    out: list[Span] = []
    append = out.append
    # Empty lists and equal stamp sets are shared, as in a recorded trace (the parser makes a new object
    # for every occurrence): a smaller trace is faster to check.  Every step here is paid per span at
    # load, so names, kinds and ids are left as parsed (sharing parent ids through a dict of every id
    # cost 25 ms per 100k spans, a fifth of building them).
    seen: set[str] = set()
    stamp_sets: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    last_stamps: dict[str, str] = _EMPTY_STAMPS
    forward: list[int] = []  # positions of spans whose parent is not listed before them
    previous_start = -(1 << 63)
    in_order = True  # spans listed in start order, as the format requires; else sorted after the loop
    kinds = _KIND_SET
    n_fields = len(SPAN_FIELDS)
    values_of = _SPAN_VALUES
    for item in data["spans"]:
        if type(item) is not dict or len(item) != n_fields:
            check_structure(data, where)  # raises, naming the span and what is wrong
        try:
            values = values_of(item)
        except KeyError:
            check_structure(data, where)
            raise  # pragma: no cover - check_structure always raises here
        (span_id, parent_id, kind, name, agent, scope, scope_path, start_ns, end_ns, status, error,
         value_in, value_out, attributes, versions, context, links, events) = values  # fmt: skip
        if not (
            type(span_id) is str
            and span_id
            and type(kind) is str  # before the set lookup: an unhashable kind (a list) would raise there
            and kind in kinds
            and type(name) is str
            and type(start_ns) is int
            and type(end_ns) is int
            and type(attributes) is dict
            and type(versions) is dict
            and type(scope_path) is list
            and type(links) is list
            and type(events) is list
            and (parent_id is None or type(parent_id) is str)
            and (agent is None or type(agent) is str)
            and (scope is None or type(scope) is str)
            and (context is None or type(context) is dict)
            and (status == "ok" or status == "error")
            and (error is None or (type(error) is dict and type(error.get("type")) is str
                                   and type(error.get("message")) is str))
            and (not links or all(type(x) is str for x in links))
            and (not scope_path or all(type(x) is str for x in scope_path))
            and (not events or all(type(e) is dict and type(e.get("name")) is str for e in events))
            and (not versions or all(type(v) is str for v in versions.values()))
        ):  # fmt: skip
            problem = _span_problem(Span(**item))
            raise TraceFileError(
                f"span #{len(out)} (id {_shown(span_id)}): {problem}; the file is corrupt.", path=where
            )
        if start_ns < previous_start:
            in_order = False
        previous_start = start_ns
        if parent_id is not None and parent_id not in seen:
            forward.append(len(out))  # its parent is listed later, or nowhere: checked after the loop
        seen.add(span_id)
        if not scope_path:
            # Empty lists become the one shared empty list, as in recorded spans: a third of the
            # objects a loaded trace would otherwise keep (and the garbage collector walk).
            scope_path = _EMPTY
        if not versions:
            versions = _EMPTY_STAMPS
        elif versions == last_stamps and list(versions) == list(last_stamps):
            versions = last_stamps  # most spans carry the stamps of the span before them (in the same order)
        else:
            stamps = tuple(versions.items())
            shared_stamps = stamp_sets.get(stamps)
            if shared_stamps is None:
                shared_stamps = stamp_sets[stamps] = versions
            versions = last_stamps = shared_stamps
        append(
            span_from_tuple(
                (span_id, parent_id, kind, name, agent, scope, scope_path, start_ns, end_ns, status, error,
                 value_in, value_out, attributes, versions, context, links or _EMPTY, events or _EMPTY)
            )
        )  # fmt: skip
    if len(seen) != len(out):  # some id came twice: name the first repeat and where the id came first
        raise _duplicate_id_error(out, where)
    if forward:
        _check_parents(out, forward, where)
    if not in_order:
        # Spans are listed in start order (:first/:last, sequence and the detectors rely on it); a file
        # written otherwise by another tool is put in that order, stably (equal starts keep file order).
        out.sort(key=_start_ns)
    return tuple(out)


def _duplicate_id_error(spans: Sequence[Span], where: str) -> TraceFileError:
    """The error for spans whose ids are not all unique: the first repeat, and where its id came first."""
    repeated = repeated_span_id(spans)
    assert repeated is not None, "called only when some id repeats"
    first, again = repeated
    return TraceFileError(
        f"span #{again}: duplicate span_id {_shown(spans[again].span_id)} (first at span #{first}); "
        "span ids must be unique, so the file is corrupt.",
        path=where,
    )


def _check_parents(spans: Sequence[Span], forward: Iterable[int], where: str) -> None:
    """Following ``parent_id`` from any span ends at a root, never going round in a cycle.

    ``forward``: the positions of the spans whose parent is not listed before
    them (the others cannot be on a cycle: every step up goes to an earlier
    span).  Only those are followed, so a trace in start order costs nothing
    here.  A parent that is not in the trace at all (a span recorded under a
    foreign parent, ``Recorder.start_span(parent_id=...)``) ends the walk: the
    span is a root of this trace.
    """
    parent_of = {span.span_id: span.parent_id for span in spans}
    reaches_root: set[str] = set()
    for position in forward:
        walk: list[str] = []
        on_walk: set[str] = set()
        node: str | None = spans[position].span_id
        while node is not None and node not in reaches_root:
            if node in on_walk:
                cycle = walk[walk.index(node) :]
                raise TraceFileError(
                    f"span #{position} (id {_shown(spans[position].span_id)}): following parent_id goes round "
                    f"in a cycle ({' -> '.join(_shown(x) for x in [*cycle, node])}); the file is corrupt.",
                    path=where,
                )
            on_walk.add(node)
            walk.append(node)
            node = parent_of.get(node)
        reaches_root.update(walk)


_KIND_SET: Final = frozenset(KINDS)
_start_ns: Final = attrgetter("start_ns")
#: Shared by every loaded span whose scope_path, links or events is empty (spans are read-only).
_EMPTY: Final[list[Any]] = []
#: The ``versions`` of a loaded span that has none: one shared dict, as the recorder shares its stamps.
_EMPTY_STAMPS: Final[dict[str, str]] = {}
_OPT_STR: Final = (str, type(None))


def _span_problem(span: Span) -> str | None:
    """What is wrong with one span's field types (the schema's rules, checked in Python)."""
    checks: tuple[tuple[str, bool, str], ...] = (
        ("span_id", type(span.span_id) is str and bool(span.span_id), "a non-empty string"),
        ("parent_id", isinstance(span.parent_id, _OPT_STR), "a string or null"),
        ("kind", type(span.kind) is str and span.kind in _KIND_SET, f"one of {', '.join(KINDS)}"),
        ("name", type(span.name) is str, "a string"),
        ("agent", isinstance(span.agent, _OPT_STR), "a string or null"),
        ("scope", isinstance(span.scope, _OPT_STR), "a string or null"),
        (
            "scope_path",
            type(span.scope_path) is list and all(type(x) is str for x in span.scope_path),
            "a list of strings",
        ),
        ("start_ns", type(span.start_ns) is int, "an integer"),
        ("end_ns", type(span.end_ns) is int, "an integer"),
        ("status", span.status in ("ok", "error"), "'ok' or 'error'"),
        (
            "error",
            span.error is None
            or (
                type(span.error) is dict
                and type(span.error.get("type")) is str
                and type(span.error.get("message")) is str
            ),
            'null or {"type": string, "message": string}',
        ),
        ("attributes", type(span.attributes) is dict, "an object"),
        (
            "versions",
            type(span.versions) is dict and all(type(v) is str for v in span.versions.values()),
            "an object of strings",
        ),
        ("context", span.context is None or type(span.context) is dict, "an object or null"),
        ("links", type(span.links) is list and all(type(x) is str for x in span.links), "a list of span ids"),
        (
            "events",
            type(span.events) is list and all(type(e) is dict and type(e.get("name")) is str for e in span.events),
            'a list of {"name": string, ...} objects',
        ),
    )
    for field, ok, expected in checks:
        if not ok:
            return f"{field} must be {expected}, found {_shown(getattr(span, field))}"
    return None


def _shown(value: Any) -> str:
    """A found value for a message: a short scalar as itself (``'banana'``), anything else by its type.

    Secrets in it are redacted: trace files may come from anywhere, and messages end up in CI logs.
    """
    if value is None or type(value) in (str, int, float, bool):
        text = repr(redact_text(value) if type(value) is str else value)
        if len(text) <= 60:
            return text
    return type(value).__name__


def _check_top(trace: Trace, where: str) -> None:
    if not (
        type(trace.trace_id) is str
        and type(trace.name) is str
        and type(trace.started_at) is str
        and type(trace.metadata) is dict
        and type(trace.versions) is dict
    ):
        raise TraceFileError(
            "trace_id, name and started_at must be strings, metadata and versions objects; the file is corrupt.",
            path=where,
        )
    # The trace's stamps are few (one per prompt, config, agent): checked here, once, not per span.
    for key, stamp in trace.versions.items():
        if type(key) is not str or type(stamp) is not str:
            raise TraceFileError(
                f"versions must map names to version stamps (strings), found {_shown(stamp)} for {_shown(key)}; "
                "the file is corrupt.",
                path=where,
            )


def check_types(trace: Trace, where: str = "<trace>") -> None:
    """Check the field types of a built trace (what consumers rely on); :class:`TraceFileError` if wrong.

    Loading a file checks the same rules in its build loop (:func:`_build_spans`); this is for
    traces built some other way.
    """
    _check_top(trace, where)
    seen: set[str] = set()
    forward: list[int] = []
    for position, span in enumerate(trace.spans):
        problem = _span_problem(span)
        if problem is not None:
            raise TraceFileError(
                f"span #{position} (id {_shown(span.span_id)}): {problem}; the file is corrupt.", path=where
            )
        if span.span_id in seen:
            raise _duplicate_id_error(trace.spans, where)
        if span.parent_id is not None and span.parent_id not in seen:
            forward.append(position)
        seen.add(span.span_id)
    if forward:
        _check_parents(trace.spans, forward, where)


@functools.cache
def schema() -> dict[str, Any]:
    """The trace-file JSON Schema shipped in the package."""
    text = (Path(__file__).parent / "schemas" / "trace.schema.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


@functools.cache
def _validator() -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    return cls(schema())


def validate_trace_dict(data: Mapping[str, Any], *, where: str = "<trace>") -> None:
    """Validate a trace dict against the JSON Schema; :class:`TraceFileError` on the first error."""
    error = next(iter(_validator().iter_errors(data)), None)
    if error is not None:
        location = "/".join(redact_text(str(p)) for p in error.absolute_path) or "(top level)"
        raise TraceFileError(
            f"does not match the trace schema at {location}: {redact_text(error.message)}.", path=where
        )


def span_from_dict(data: Mapping[str, Any]) -> Span:
    """Build one span, with a clear error for a malformed dict."""
    try:
        return Span(**data)
    except TypeError as exc:
        raise TraceFileError(f"malformed span: {redact_text(str(exc))}.") from None
