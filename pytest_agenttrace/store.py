"""Trace files: write atomically, read with clear errors, validate against the schema.

One trace per file, JSON, in the contract format (``schemas/trace.schema.json``
ships in the package).  Writing goes to a temporary file in the same
directory followed by :func:`os.replace`, so a reader (or a crash, or a
parallel pytest-xdist worker) never sees a torn file.

Loading checks the structure cheaply (format version, required keys, field
types of every span) and builds the model; full JSON Schema validation is
:func:`validate_trace_dict` (used by the tests and ``agenttrace check
--validate``), kept off the hot path because it costs ~100x more.

orjson is used when installed (about 5x faster than the standard library for
large traces); the standard library is the fallback.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .exceptions import TraceFileError
from .model import _SPAN_VALUES, FORMAT_VERSION, KINDS, SPAN_FIELDS, Span, Trace, span_from_tuple

try:  # optional speed-up
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "check_types",
    "dump_bytes",
    "load_trace",
    "load_trace_dict",
    "save_trace",
    "schema",
    "trace_filename",
    "validate_trace_dict",
    "write_atomic",
]

_SPAN_KEYS: Final = frozenset(SPAN_FIELDS)
_TOP_KEYS: Final = ("format_version", "trace_id", "name", "started_at", "spans")


def dump_bytes(data: Any, *, indent: bool = True) -> bytes:
    """Serialise JSON data (orjson when available)."""
    if _orjson is not None:
        option = _orjson.OPT_INDENT_2 if indent else 0
        try:
            return _orjson.dumps(data, option=option | _orjson.OPT_NON_STR_KEYS)
        except TypeError:
            pass  # e.g. integers beyond 64 bits: the standard library copes
    text = json.dumps(data, indent=2 if indent else None, ensure_ascii=False, default=str)
    return text.encode("utf-8")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + rename); creates parent dirs."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A short temporary name: the target's own name may already be near the 255-byte limit.
    fd, tmp = tempfile.mkstemp(prefix=".agenttrace-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would (0666 & ~umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target


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
    with gc_paused():
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
    with gc_paused():  # parsing allocates only acyclic containers: collections would find nothing
        data = _parse(raw, str(p))
    check_structure(data, str(p), spans=check_spans)
    result: dict[str, Any] = data
    return result


def _parse(raw: bytes, where: str) -> Any:
    if not raw.strip():
        raise TraceFileError("the trace file is empty; it was probably not written completely.", path=where)
    try:
        if _orjson is not None:
            return _orjson.loads(raw)
        return json.loads(raw)
    except RecursionError:
        raise TraceFileError("the JSON is nested too deeply to be a trace file.", path=where) from None
    except (ValueError, UnicodeDecodeError):
        # Re-parse with the standard library for a line/column to report.
        try:
            json.loads(raw.decode("utf-8", errors="replace"))
        except RecursionError:
            raise TraceFileError("the JSON is nested too deeply to be a trace file.", path=where) from None
        except json.JSONDecodeError as exc:
            # A trace file is one JSON object: one that opens but never closes (or fails at its very end)
            # was cut off, most often by a run killed while writing it.  Anything else is not a trace.
            body = exc.doc.strip()
            at_end = body.startswith("{") and (exc.pos >= len(exc.doc.rstrip()) or not body.endswith("}"))
            raise TraceFileError(
                f"not valid JSON ({exc.msg}); "
                + (
                    "the file ends early: it was probably not written completely (truncated)."
                    if at_end
                    else "the file is corrupt or not a trace file."
                ),
                path=where,
                line=exc.lineno,
                column=exc.colno,
            ) from None
        raise TraceFileError("not valid JSON; the file is corrupt or not a trace file.", path=where) from None


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
    if data["format_version"] != FORMAT_VERSION:
        raise TraceFileError(
            f"format_version {data['format_version']!r} is not supported (this pytest-agenttrace reads "
            f"{FORMAT_VERSION}); upgrade pytest-agenttrace or re-record the trace.",
            path=where,
        )
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
                lacking = sorted(_SPAN_KEYS - span.keys())
                extra = sorted(span.keys() - _SPAN_KEYS)
                problem = "; ".join(
                    part
                    for part in (f"missing {', '.join(lacking)}" if lacking else "", f"unknown {', '.join(extra)}" if extra else "")
                    if part
                )
            raise TraceFileError(f"span #{position} {problem}; the file is corrupt or from another tool.", path=where)
        if not isinstance(span["span_id"], str) or not isinstance(span["start_ns"], int) or not isinstance(span["end_ns"], int):
            raise TraceFileError(
                f"span #{position}: span_id must be a string and start_ns/end_ns integers.", path=where
            )


def load_trace(path: str | os.PathLike[str], *, validate: bool = False) -> Trace:
    """Load a trace file; ``validate`` also runs the full JSON Schema."""
    where = str(path)
    # One pause for parsing and building: re-enabling the collector in between would make it
    # walk every object just parsed (most of which are about to be freed) for nothing.
    with gc_paused():
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
    # Each repeated value is kept once, as in a recorded trace: the parser makes a new string for every
    # occurrence of a kind, name or id.  One object per value makes the trace smaller, and lets
    # lookups by id and comparisons of kinds and names succeed on identity instead of comparing text.
    seen: dict[str, str] = {}  # span id -> that id's one string object
    seen_get = seen.get
    labels: dict[str, str] = {}
    label = labels.setdefault
    paths: dict[tuple[str, ...], list[str]] = {}
    stamp_sets: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    forward: list[int] = []  # positions of spans whose parent is not listed before them
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
                f"span #{len(out)} (id {span_id!r}): {problem}; the file is corrupt.", path=where
            )
        if parent_id is not None:
            known = seen_get(parent_id)
            if known is None:
                forward.append(len(out))  # its parent is listed later, or nowhere: checked after the loop
            else:
                parent_id = known
        seen[span_id] = span_id
        if scope_path:
            key = tuple(scope_path)
            shared_path = paths.get(key)
            if shared_path is None:
                shared_path = paths[key] = [seen_get(x) or x for x in scope_path]
            scope_path = shared_path
            scope = shared_path[-1] if scope == shared_path[-1] else scope
        else:
            # Empty lists become the one shared empty list, as in recorded spans: a third of the
            # objects a loaded trace would otherwise keep (and the garbage collector walk).
            scope_path = _EMPTY
        if versions:
            stamps = tuple(versions.items())
            shared_stamps = stamp_sets.get(stamps)
            if shared_stamps is None:
                shared_stamps = stamp_sets[stamps] = versions
            versions = shared_stamps
        else:
            versions = _EMPTY_STAMPS
        append(
            span_from_tuple(
                (span_id, parent_id, _KINDS_BY_NAME[kind], label(name, name),
                 label(agent, agent) if agent is not None else None, scope, scope_path, start_ns, end_ns,
                 "ok" if status == "ok" else "error", error, value_in, value_out, attributes, versions, context,
                 [seen_get(x) or x for x in links] if links else _EMPTY, events or _EMPTY)
            )
        )  # fmt: skip
    if len(seen) != len(out):  # some id came twice: find the first repeat for the message
        first: set[str] = set()
        for position, span in enumerate(out):
            if span.span_id in first:
                raise TraceFileError(
                    f"span #{position}: duplicate span_id {span.span_id!r}; span ids must be unique.", path=where
                )
            first.add(span.span_id)
    if forward:
        _check_parents(out, forward, where)
    return tuple(out)


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
                    f"span #{position} (id {spans[position].span_id!r}): following parent_id goes round in a "
                    f"cycle ({' -> '.join(repr(x) for x in [*cycle, node])}); the file is corrupt.",
                    path=where,
                )
            on_walk.add(node)
            walk.append(node)
            node = parent_of.get(node)
        reaches_root.update(walk)


_KIND_SET: Final = frozenset(KINDS)
#: Shared by every loaded span whose scope_path, links or events is empty (spans are read-only).
_EMPTY: Final[list[Any]] = []
#: The ``versions`` of a loaded span that has none: one shared dict, as the recorder shares its stamps.
_EMPTY_STAMPS: Final[dict[str, str]] = {}
#: Each kind's one string object.
_KINDS_BY_NAME: Final[dict[str, str]] = {kind: kind for kind in KINDS}
_OPT_STR: Final = (str, type(None))


def _span_problem(span: Span) -> str | None:
    """What is wrong with one span's field types (the schema's rules, checked in Python)."""
    checks: tuple[tuple[str, bool, str], ...] = (
        ("span_id", type(span.span_id) is str and bool(span.span_id), "a non-empty string"),
        ("parent_id", isinstance(span.parent_id, _OPT_STR), "a string or null"),
        ("kind", span.kind in _KIND_SET, f"one of {', '.join(KINDS)}"),
        ("name", type(span.name) is str, "a string"),
        ("agent", isinstance(span.agent, _OPT_STR), "a string or null"),
        ("scope", isinstance(span.scope, _OPT_STR), "a string or null"),
        ("scope_path", type(span.scope_path) is list and all(type(x) is str for x in span.scope_path), "a list of strings"),
        ("start_ns", type(span.start_ns) is int, "an integer"),
        ("end_ns", type(span.end_ns) is int, "an integer"),
        ("status", span.status in ("ok", "error"), "'ok' or 'error'"),
        (
            "error",
            span.error is None
            or (type(span.error) is dict and type(span.error.get("type")) is str and type(span.error.get("message")) is str),
            'null or {"type": string, "message": string}',
        ),
        ("attributes", type(span.attributes) is dict, "an object"),
        ("versions", type(span.versions) is dict and all(type(v) is str for v in span.versions.values()), "an object of strings"),
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
    """A found value for a message: a short scalar as itself (``'banana'``), anything else by its type."""
    if value is None or type(value) in (str, int, float, bool):
        text = repr(value)
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
            raise TraceFileError(f"span #{position} (id {span.span_id!r}): {problem}; the file is corrupt.", path=where)
        if span.span_id in seen:
            raise TraceFileError(f"span #{position}: duplicate span_id {span.span_id!r}; span ids must be unique.", path=where)
        if span.parent_id is not None and span.parent_id not in seen:
            forward.append(position)
        seen.add(span.span_id)
    if forward:
        _check_parents(trace.spans, forward, where)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects that form no cycles.

    Building 100k spans otherwise triggers dozens of full collections that find nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
        location = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise TraceFileError(f"does not match the trace schema at {location}: {error.message}.", path=where)


def span_from_dict(data: Mapping[str, Any]) -> Span:
    """Build one span, with a clear error for a malformed dict."""
    try:
        return Span(**data)
    except TypeError as exc:
        raise TraceFileError(f"malformed span: {exc}.") from None
