"""Traces recorded elsewhere, turned into agenttrace traces.

:func:`import_trace` reads a file in one of :data:`FORMATS` (or finds out which
with :func:`detect_format`) and returns the trace, or a list when the file
holds several runs.  Each format's reader turns its records into
:class:`Record` objects and hands them to :func:`assemble`, which does what
every format needs the same way:

* ids: duplicates are dropped, a parent that is not in the file makes the span
  a root, parent cycles are broken (each with a warning); agenttrace's own
  exported spans (``exact`` records) keep such a foreign ``parent_id``, as a
  trace file may;
* times: relative to the earliest span (``start_ns`` 0), ``end_ns`` never
  before ``start_ns``;
* order: spans listed in start order, a parent before a child that starts
  with it;
* ``agent``: an ``agent`` span's own name, else the nearest enclosing agent;
  a handoff without ``from_agent`` gets the enclosing agent;
* ``scope``/``scope_path``: the enclosing ``delegation`` spans.

A malformed record logs a warning (logger ``pytest_agenttrace.adapters``),
is noted in ``metadata.import_warnings`` and is skipped; a file that is not
the declared format at all, whose top-level shape is wrong (a reader raises
:class:`ShapeError`) or from which no span could be imported raises
:class:`~pytest_agenttrace.exceptions.TraceFileError`.

Nothing secret gets out, whatever the file claims to be: every value is
sanitised on the way in (secrets redacted, sizes capped), ids too (an id with
a secret in it becomes its redacted text, made distinct with ``~2``, ``~3``
...; the same id always becomes the same output id, so parents and links still
match), and every warning and error message quotes file contents only through
:func:`quote` (cleaned, then shortened) and is redacted as a whole before it
is logged, stored or raised.

Odd but readable input is imported, with a warning, as a trace file
agenttrace accepts (and ``agenttrace show`` reads):

* a span with an empty id gets one (``imported-1``, ...);
* a time outside the years 1 to 9999 (UTC), which no ``started_at`` can
  state, is clamped to that range; a span more than about 146 years from the
  middle of the run (the median start) is clamped to that distance, since a
  trace file holds relative times as 64-bit integers.  The other spans keep
  their times: one absurd timestamp does not move the run;
* a file whose values are nested too deeply to be shown (a reader hit
  Python's recursion limit) is read again with everything deeper than
  :data:`MAX_NESTING` levels cut there.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..exceptions import TraceFileError
from ..model import KINDS, Trace, span_from_values
from ..sanitize import REDACTED, Limits, clean, is_secret_key, redact_text
from .semconv import MappedSpan

try:  # optional speed-up, as in store
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "FORMATS",
    "MAX_NESTING",
    "ImportLog",
    "Record",
    "RecordError",
    "ShapeError",
    "assemble",
    "detect_format",
    "import_trace",
    "iso_from_unix_ns",
    "load_json",
    "quote",
    "text_of",
    "unix_ns_from_iso",
]

logger = logging.getLogger("pytest_agenttrace.adapters")

FORMATS: Final[tuple[str, ...]] = ("otlp", "langfuse", "openai-agents", "messages")
_MAX_NOTED_WARNINGS: Final = 20
_KIND_SET: Final = frozenset(KINDS)
#: Values nested deeper than this in an imported file are cut (deeper ones cannot even be shown).
MAX_NESTING: Final = 200
#: The nesting depth at which the JSON parser gives up (orjson's limit).
_PARSER_NESTING: Final = 1024


class ShapeError(ValueError):
    """A reader found the file's top-level structure is not what its format prescribes."""


class RecordError(ValueError):
    """One record of a file is malformed; the message quotes the file only through :func:`quote`."""


@dataclass(slots=True)
class Record:
    """One span as a foreign format gives it, before the tree is assembled.

    Times are nanoseconds on any common clock (unix, or synthetic); ``agent``,
    ``scope`` and ``scope_path`` left ``None`` are inherited from the tree.
    ``exact`` records (agenttrace's own spans coming back from an export) keep
    ``agent``, ``scope`` and ``scope_path`` exactly as given.
    """

    span_id: str
    parent_id: str | None
    kind: str
    name: str
    start_ns: int
    end_ns: int
    agent: str | None = None
    status: str = "ok"
    error: dict[str, Any] | None = None
    input: Any = None
    output: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] | None = None
    links: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    scope: str | None = None
    scope_path: list[str] | None = None
    exact: bool = False

    @classmethod
    def from_mapped(
        cls,
        mapped: MappedSpan,
        *,
        span_id: str,
        parent_id: str | None,
        start_ns: int,
        end_ns: int,
        events: list[dict[str, Any]] | None = None,
        links: list[str] | None = None,
    ) -> Record:
        """A record from a :class:`~pytest_agenttrace.adapters.semconv.MappedSpan`."""
        return cls(
            span_id=span_id,
            parent_id=parent_id,
            kind=mapped.kind,
            name=mapped.name,
            start_ns=start_ns,
            end_ns=end_ns,
            agent=mapped.agent,
            status="error" if mapped.error is not None else "ok",
            error=mapped.error,
            input=mapped.input,
            output=mapped.output,
            attributes=mapped.attributes,
            versions=mapped.versions,
            context=mapped.context,
            links=links or [],
            events=events or [],
        )


def quote(value: Any, width: int = 60) -> str:
    """``value`` as a message may show it: cleaned first (secrets redacted), then shortened to ``width``.

    Shortening after redaction matters: a secret cut in half no longer looks
    like one, and would pass any later redaction of the message.
    """
    try:
        text = repr(clean(value))
    except RecursionError:
        text = f"<{type(value).__name__} nested too deeply to show>"
    return text if len(text) <= width else text[: width - 1] + "…"


def id_of(value: Any) -> str:
    """A record's own id as text; a ``null`` id is a malformed record (skipped with a warning, as OTLP does).

    ``text_of(None)`` would make every such record the span ``"None"``.
    """
    if value is None:
        raise RecordError("its id is null")
    return text_of(value)


def text_of(value: Any) -> str:
    """A file's value as text for a name or id: a string as it is, anything else as its cleaned text.

    ``str()`` of a mapping would show the value under ``api_key`` that
    :func:`~pytest_agenttrace.sanitize.clean` redacts (text redaction alone
    cannot see that it is a secret).
    """
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, int | float):
        return str(value)
    return str(clean(value))


def skip_reason(exc: BaseException) -> str:
    """Why a record was skipped: the field a ``KeyError`` names, else :func:`describe`."""
    return f"it has no {quote(exc.args[0])}" if isinstance(exc, KeyError) and exc.args else describe(exc)


def describe(exc: BaseException) -> str:
    """Why a malformed record was skipped: a :class:`RecordError`'s message, else ``TypeName: message``.

    Redacted and shortened: Python's own messages may quote the file
    (``invalid literal for int() with base 10: '...'``).
    """
    if isinstance(exc, RecordError):
        text = redact_text(str(exc))
    else:
        text = redact_text(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return text if len(text) <= 200 else text[:199] + "…"


class ImportLog:
    """Warnings about one file: logged once each, the first few kept for ``metadata``.

    Messages (and the source label, which may hold a trace id from the file)
    are redacted here, before they are logged or kept: readers quote file
    contents with :func:`quote`, and this is the last line.
    """

    def __init__(self, source: str) -> None:
        self.source = redact_text(source)
        self.notes: list[str] = []
        self.count = 0

    def warn(self, message: str) -> None:
        """Log ``message`` about this file and remember it."""
        self.count += 1
        if len(self.notes) < _MAX_NOTED_WARNINGS:
            message = redact_text(message)
            self.notes.append(message)
            logger.warning("%s: %s", self.source, message)

    def into(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """``metadata`` with ``import_warnings`` added when there were any."""
        if self.count:
            metadata["import_warnings"] = list(self.notes)
            if self.count > len(self.notes):
                metadata["import_warnings"].append(f"... and {self.count - len(self.notes)} more")
        return metadata


def assemble(
    records: Iterable[Record],
    *,
    trace_id: str,
    name: str,
    metadata: Mapping[str, Any],
    log: ImportLog,
    started_at: str | None = None,
    base: int | None = None,
    versions: Mapping[str, str] | None = None,
) -> Trace:
    """Build a :class:`~pytest_agenttrace.model.Trace` from records (see the module docstring).

    ``base`` is the time that becomes ``start_ns`` 0 (default: the earliest
    record's start); ``started_at`` defaults to ``base`` read as unix
    nanoseconds; ``versions`` defaults to every span's stamps.  Names and
    payloads always pass through :func:`pytest_agenttrace.sanitize.clean`
    (secrets redacted, sizes capped): a file that claims to be agenttrace's
    own export is not trusted to be clean (a clean one comes back unchanged).
    """
    records = records if isinstance(records, list) else list(records)
    _fix_ids(records, log)
    by_id: dict[str, Record] = {}
    order: list[Record] = []
    low, high = _MIN_NS, _MAX_NS
    for record in records:
        if record.span_id in by_id:
            log.warn(f"span {record.span_id!r} appears twice; the second copy is ignored")
            continue
        if record.kind not in _KIND_SET:
            log.warn(f"span {record.span_id!r} has unknown kind {quote(record.kind)}; recorded as custom")
            record.kind = "custom"
        # No trace file can state such a time as started_at (and no datetime can hold it).
        _clamp_times(record, low, high, "outside the years 1 to 9999 (UTC)", "that range", log)
        by_id[record.span_id] = record
        order.append(record)

    children: dict[str | None, list[Record]] = {}
    for record in order:
        if record.parent_id is not None and record.parent_id not in by_id:
            if record.exact:
                # Our own span under a foreign parent (another process's span): a root that keeps its parent_id.
                children.setdefault(None, []).append(record)
                continue
            log.warn(
                f"span {record.span_id!r} names parent {record.parent_id!r}, which is not in the file; made a root"
            )
            record.parent_id = None
        children.setdefault(record.parent_id, []).append(record)

    depth: dict[str, int] = {}
    _walk(children, children.get(None, []), depth, by_id)
    for record in order:  # what the walk missed sits on a parent cycle
        if record.span_id not in depth:
            log.warn(f"span {record.span_id!r} is on a parent cycle; made a root")
            children[record.parent_id].remove(record)
            record.parent_id = None
            children.setdefault(None, []).append(record)
            _walk(children, [record], depth, by_id)

    base = _fit_times(order, base, log)
    started_at = iso_from_unix_ns(base) if started_at is None else _text(started_at)
    # Ties in start time: a parent before its child; exact records keep the file's order.
    keyed = [(r.start_ns, 0 if r.exact else depth[r.span_id], i) for i, r in enumerate(order)]
    keyed.sort()
    order = [order[i] for _, _, i in keyed]

    prepare = clean
    spans = []
    all_versions: dict[str, str] = {}
    bad_times = 0
    # Names and agents repeat from span to span: each distinct one is cleaned once (per import).
    texts: dict[str, str] = {}
    text = texts.get
    for record in order:
        start = record.start_ns - base
        end = record.end_ns - base
        if end < start:
            bad_times += 1
            end = start
        versions = record.versions
        if versions and isinstance(versions, Mapping):
            all_versions.update(versions)
        span_name = record.name
        clean_name = text(span_name) if type(span_name) is str else None
        if clean_name is None:
            clean_name = _text(span_name)
            if type(span_name) is str and len(texts) < _TEXT_CACHE_SIZE:
                texts[span_name] = clean_name
        agent = record.agent
        if agent is not None:
            clean_agent = text(agent) if type(agent) is str else None
            if clean_agent is None:
                clean_agent = _text(agent)
                if type(agent) is str and len(texts) < _TEXT_CACHE_SIZE:
                    texts[agent] = clean_agent
            agent = clean_agent
        status = record.status
        error = record.error
        links = record.links
        spans.append(
            _span(
                record.span_id,
                record.parent_id,
                record.kind,
                clean_name,
                agent,
                record.scope,
                record.scope_path or [],
                start,
                end,
                status if status == "ok" or status == "error" else "error",
                None if error is None else _error(error),
                prepare(record.input) if record.input is not None else None,
                prepare(record.output) if record.output is not None else None,
                _mapping(record.attributes),
                _versions(versions) if versions else {},
                _mapping(record.context) if record.context is not None else None,
                links if record.exact else [link for link in links if link in by_id] if links else [],
                _events(record, base, prepare) if record.events else [],
            )
        )
    if bad_times:
        log.warn(f"{bad_times} span(s) ended before they started; their end was set to their start")
    return Trace(
        trace_id=_text(trace_id) or "trace",
        name=_text(name),
        started_at=started_at,
        metadata=log.into(_metadata(metadata)),
        versions=_versions(versions) if versions is not None else dict(sorted(_versions(all_versions).items())),
        spans=tuple(spans),
    )


def _fix_ids(records: list[Record], log: ImportLog) -> None:
    """Give every record an id a trace file accepts and that shows no secret (see the module docstring).

    Ids are usually plain (short, nothing secret-looking): then nothing
    changes.  Otherwise each distinct id is replaced by its cleaned text, made
    distinct from every other id of the file, the same way wherever it occurs
    (span id, parent, link, scope); an empty span id gets a new id, an empty
    reference means none.
    """
    verdicts: dict[str, bool] = {}

    def plain(value: Any) -> bool:
        if type(value) is not str:
            return False
        verdict = verdicts.get(value)
        if verdict is None:
            # Lowercase hex (OTLP ids) cannot look like any secret clean() knows: no need to ask it.
            hexadecimal = not value.strip(_LOWER_HEX) and len(value) <= _ID_CHARS
            verdict = verdicts[value] = bool(value) and (hexadecimal or clean(value) == value)
        return verdict

    dirty = False
    for record in records:
        if not (
            plain(record.span_id)
            and (record.parent_id is None or plain(record.parent_id))
            and (record.scope is None or plain(record.scope))
            and (not record.links or all(plain(link) for link in record.links))
            and (not record.scope_path or all(plain(item) for item in record.scope_path))
        ):
            dirty = True
            plain(record.parent_id)  # every plain id of the file must be known before any is renamed
            plain(record.scope)
            for item in (*record.links, *(record.scope_path or ())):
                plain(item)
    if not dirty:
        return
    taken = {value for value, verdict in verdicts.items() if verdict}
    renamed: dict[str, str] = {}

    def fresh(text: str) -> str:
        candidate, number = text, 1
        while candidate in taken:
            number += 1
            candidate = f"{text}~{number}"
        taken.add(candidate)
        return candidate

    def rename(value: Any) -> str | None:
        """The output id of a reference (parent, link, scope); ``None`` for an empty one."""
        text = value if type(value) is str else text_of(value)
        if plain(text):
            taken.add(text)  # known already unless it was not a string in the file
            return text
        if not text:
            return None
        new = renamed.get(text)
        if new is None:
            new = renamed[text] = fresh(_text(text) or "id")
        return new

    generated = 0
    for position, record in enumerate(records):
        if type(record.span_id) is str and not record.span_id:
            generated += 1
            record.span_id = fresh(f"imported-{generated}")
            log.warn(
                f"span #{position} (kind {quote(record.kind, 30)}, name {quote(record.name, 40)}) has an empty id; "
                f"it was given the id {record.span_id!r}"
            )
        else:
            record.span_id = rename(record.span_id) or fresh("id")
        record.parent_id = None if record.parent_id is None else rename(record.parent_id)
        record.scope = None if record.scope is None else rename(record.scope)
        if record.links:
            record.links = [new for new in map(rename, record.links) if new is not None]
        if record.scope_path:
            record.scope_path = [new for new in map(rename, record.scope_path) if new is not None]
    if renamed:
        log.warn(
            f"{len(renamed)} id(s) looked like secrets or were too long: written redacted or shortened, "
            f"e.g. {next(iter(renamed.values()))!r}"
        )


_LOWER_HEX: Final = "0123456789abcdef"
#: Longer ids are cut by clean() like any text.
_ID_CHARS: Final = 4000


def _fit_times(order: list[Record], base: int | None, log: ImportLog) -> int:
    """The time that becomes ``start_ns`` 0 (``base``, else the earliest start), span times made to fit it.

    A trace file holds span times relative to that as 64-bit integers: a span
    more than :data:`_HALF_WINDOW` from the middle of the run (``base`` when
    given, else the median start: a few absurd times cannot move it) is
    clamped to that window, with a warning.
    """
    if not order:
        return 0 if base is None else base
    if base is None:
        low = min(r.start_ns for r in order)
        if max(max(r.start_ns, r.end_ns) for r in order) - min(low, min(r.end_ns for r in order)) <= _INT64_MAX:
            return low
        starts = sorted(r.start_ns for r in order)
        centre = starts[len(starts) // 2]
        window = (centre - _HALF_WINDOW, centre + _HALF_WINDOW)
    else:
        window = (base - _INT64_MAX, base + _INT64_MAX)
    first, last = window
    for record in order:
        _clamp_times(record, first, last, "over 146 years away from the rest of the run", "that distance", log)
    return min(r.start_ns for r in order) if base is None else base


#: Span times relative to the run's start are 64-bit integers in a trace file (what JSON readers keep exact).
_INT64_MAX: Final = 2**63 - 1
#: Half of that: how far from the middle of a run a span's times may be (about 146 years).
_HALF_WINDOW: Final = 2**62 - 1


#: At most this many distinct names and agents are remembered per import (file contents decide how many).
_TEXT_CACHE_SIZE: Final = 65536


#: The span constructor for bulk building: the values here are checked and cleaned already.
_span: Final = span_from_values


def _clamp_times(record: Record, low: int, high: int, where: str, to: str, log: ImportLog) -> None:
    """Clamp a record's start and end into ``[low, high]``, with a warning saying ``where`` they were."""
    start, end = record.start_ns, record.end_ns
    if not (low <= start <= high and low <= end <= high):
        log.warn(f"span {record.span_id!r} starts or ends {where}; its times were clamped to {to}")
        record.start_ns = min(max(start, low), high)
        record.end_ns = min(max(end, low), high)


def _text(value: Any) -> str:
    """A name or id as a clean string (secrets redacted, length capped)."""
    result: str = clean(value if isinstance(value, str) else text_of(value))
    return result


def _mapping(value: Any) -> dict[str, Any]:
    """A clean JSON object; anything that is not a mapping becomes ``{"value": ...}``."""
    if isinstance(value, Mapping):
        result: dict[str, Any] = clean(value)
        return result
    return {"value": clean(value)}


def _metadata(value: Any) -> dict[str, Any]:
    """Run metadata with secret-looking text redacted (keys such as ``session_id`` are ids here, kept)."""
    if not isinstance(value, Mapping):
        return {}
    result: dict[str, Any] = _redact_values(clean(value, _METADATA_LIMITS))
    return result


_METADATA_LIMITS: Final = Limits(redact=False)


def _redact_values(value: Any) -> Any:
    """``value`` (clean JSON data, so bounded in depth) with secrets redacted, ids kept.

    :func:`redact_text` is applied to every string, and the value under a key
    that names a secret is replaced, except under the keys of ids (``session_id``).
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            redact_text(key): (
                REDACTED
                if item is not None and is_secret_key(key) and not _ID_KEY.search(key)
                else _redact_values(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact_values(item) for item in value]
    return value


#: Metadata keys that name ids, not secrets, though they look like secret keys (``session_id``).
_ID_KEY: Final = re.compile(r"(?i)session[_\-.]?id$")


def _versions(value: Any) -> dict[str, str]:
    """Version stamps as clean strings; a stamp map that is not a mapping is dropped."""
    if not isinstance(value, Mapping):
        return {}
    return {_text(key): _text(stamp) for key, stamp in value.items()}


def _event_fields(event: dict[str, Any]) -> dict[str, Any]:
    """A clean event with the fields a trace file requires: a string ``name``, an integer ``time_ns``."""
    name = event.get("name")
    if type(name) is not str:
        event["name"] = "event" if name is None else _text(name)
    time_ns = event.get("time_ns", 0)
    if type(time_ns) is not int:
        del event["time_ns"]
    elif not -_INT64_MAX <= time_ns <= _INT64_MAX:
        event["time_ns"] = min(max(time_ns, -_INT64_MAX), _INT64_MAX)
    attributes = event.get("attributes", {})
    if type(attributes) is not dict:
        event["attributes"] = {"value": attributes}
    return event


def _error(value: Any) -> dict[str, Any] | None:
    """``{"type", "message"}`` from whatever the file gave as the error."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        result = _mapping(value)
        result["type"] = _text(result.get("type") or "")
        result["message"] = _text(result.get("message") or "")
        return result
    return {"type": "", "message": _text(value)}


def _events(record: Record, base: int, prepare: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """Event times made relative like the span's (exact records have relative times already)."""
    if not isinstance(record.events, list):
        return []
    if not record.events:
        return []
    if record.exact:
        exact: list[dict[str, Any]] = [
            _event_fields(clean(event)) if isinstance(event, Mapping) else {"name": "event", "value": clean(event)}
            for event in record.events
        ]
        return exact
    shifted = []
    for event in record.events:
        if not isinstance(event, Mapping):
            event = {"name": "event", "value": event}
        time_ns = event.get("time_ns")
        shifted.append({**event, "time_ns": time_ns - base} if type(time_ns) is int else event)
    result: list[dict[str, Any]] = [_event_fields(event) for event in prepare(shifted)]
    return result


def _walk(
    children: dict[str | None, list[Record]],
    roots: list[Record],
    depth: dict[str, int],
    by_id: dict[str, Record],
) -> None:
    """Depth, inherited agent and delegation scope, parents first (iterative)."""
    stack = [(r, 0) for r in reversed(roots)]
    while stack:
        record, level = stack.pop()
        depth[record.span_id] = level
        parent = by_id.get(record.parent_id) if record.parent_id is not None else None
        if not record.exact:
            if record.kind == "agent" and record.agent is None:
                record.agent = record.name
            elif record.agent is None and parent is not None:
                record.agent = parent.agent
            if record.kind in ("handoff", "delegation") and record.attributes.get("from_agent") is None:
                inherited = parent.agent if parent is not None else None
                if inherited is not None:
                    record.attributes["from_agent"] = inherited
            if parent is None:
                record.scope, record.scope_path = None, []
            elif parent.kind == "delegation":
                record.scope = parent.span_id
                record.scope_path = [*(parent.scope_path or []), parent.span_id]
            else:
                record.scope, record.scope_path = parent.scope, list(parent.scope_path or [])
        for child in reversed(children.get(record.span_id, ())):
            if child.span_id not in depth:
                stack.append((child, level + 1))


# -- times -------------------------------------------------------------------

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
#: Unix nanoseconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z: the times a trace file can state.
_MIN_NS: Final = -62_135_596_800 * 10**9
_MAX_NS: Final = 253_402_300_800 * 10**9 - 1


def unix_ns_from_iso(text: Any) -> int | None:
    """Unix nanoseconds of an ISO 8601 time (``Z`` or an offset; naive means UTC), else ``None``.

    Exact to the microsecond; digits past the microsecond are kept too.
    """
    if not isinstance(text, str) or not text:
        return None
    value = text.strip()
    extra_ns = 0
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python before 3.11 and odd writers: keep at most 6 fraction digits, carry the rest.
    dot = value.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(value) and value[end].isdigit():
            end += 1
        digits = value[dot + 1 : end]
        if len(digits) > 6:
            extra_ns = int(digits[6:9].ljust(3, "0"))
            value = value[: dot + 7] + value[end:]
    try:
        moment = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return (moment - _EPOCH) // _dt.timedelta(microseconds=1) * 1000 + extra_ns


def iso_from_unix_ns(ns: int) -> str:
    """``2026-11-21T23:00:00.123456Z`` for unix nanoseconds (the recorder's format).

    A time before the year 1 or after 9999 is given as the nearest one that
    is not (:func:`assemble` warns about spans that have such times).
    """
    ns = min(max(ns, _MIN_NS), _MAX_NS)
    moment = _EPOCH + _dt.timedelta(microseconds=ns // 1000)
    # Not strftime: its %Y does not pad years before 1000 to four digits everywhere.
    return f"{moment.year:04d}-{moment.strftime('%m-%dT%H:%M:%S.%f')}Z"


# -- files and formats -------------------------------------------------------


def load_json(path: Path, expected: str, notes: list[str] | None = None) -> Any:
    """The JSON document in ``path``, or JSON Lines as a list; ``TraceFileError`` if neither.

    JSON Lines: a file of several lines whose first line is a JSON object.  A
    line that is not JSON (the last one cut off by a killed exporter, ...) is
    skipped, and a warning naming its line number is appended to ``notes``;
    without ``notes`` (or when no line is JSON) it is an error naming that line.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TraceFileError(f"cannot read the file ({exc.strerror or exc}); check the path.", path=str(path)) from None
    # Exports saved by some Windows tools carry a byte-order mark, or are UTF-16: read them as they are.
    if raw[:3] == b"\xef\xbb\xbf":
        raw = raw[3:]
    elif raw[:2] in (b"\xff\xfe", b"\xfe\xff") or raw[:4] == b"\x00\x00\xfe\xff":
        wide = "utf-32" if raw[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff") else "utf-16"
        try:
            raw = raw.decode(wide).encode("utf-8")
        except UnicodeError:
            raise TraceFileError(
                f"starts like {wide.upper()} text but cannot be decoded as such; save it as UTF-8 and import it again.",
                path=str(path),
            ) from None
    try:
        return _loads(raw)
    except (ValueError, RecursionError) as first:
        lines = _json_lines(raw, path, notes)
        if lines is not None:
            return lines
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TraceFileError(
                f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start} does not decode); "
                "save it as UTF-8 and import it again.",
                path=str(path),
            ) from None
        if isinstance(first, RecursionError) or "depth limit" in str(first) or "recursion" in str(first).lower():
            raise TraceFileError(
                f"is nested too deeply to read (over {_PARSER_NESTING} levels); expected {expected}.", path=str(path)
            ) from None
        raise TraceFileError(f"is not JSON ({first}); expected {expected}.", path=str(path)) from None


def _json_lines(raw: bytes, path: Path, notes: list[str] | None) -> list[Any] | None:
    """The documents of a JSON Lines file, or ``None`` if ``raw`` is not one (see :func:`load_json`)."""
    numbered = [(number, line) for number, line in enumerate(raw.splitlines(), 1) if line.strip()]
    if len(numbered) < 2:
        return None
    try:
        first = _loads(numbered[0][1])
    except (ValueError, RecursionError):
        return None  # a pretty-printed document that is broken somewhere, not JSON Lines
    if not isinstance(first, Mapping):
        return None
    documents = [first]
    for number, line in numbered[1:]:
        try:
            documents.append(_loads(line))
        except (ValueError, RecursionError) as exc:
            # The parser counts within the line: "line 1 column 41" would point at the file's first line.
            why = "nested too deeply" if isinstance(exc, RecursionError) else _IN_LINE.sub(r"column \1", str(exc))
            if notes is None:
                raise TraceFileError(
                    f"line {number} is not JSON ({why}); fix or delete that line and import the file again.",
                    path=str(path),
                ) from None
            notes.append(f"line {number} is not JSON ({why}); skipped, the other lines were imported")
    return documents


_IN_LINE: Final = re.compile(r"line 1 column (\d+) \(char \d+\)")


def _loads(raw: bytes | str) -> Any:
    if _orjson is None:  # pragma: no cover - orjson is optional
        return json.loads(raw)
    try:
        return _orjson.loads(raw)
    except _orjson.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None


def loads_text(text: str) -> Any:
    """Parse JSON text (orjson when installed); ``ValueError`` if it is not JSON."""
    return _loads(text)


def detect_format(data: Any) -> str | None:
    """Which of :data:`FORMATS` parsed JSON ``data`` looks like, or ``None``."""
    if isinstance(data, Mapping):
        if "resourceSpans" in data:
            return "otlp"
        if "observations" in data and ("trace" in data or "id" in data):
            return "langfuse"
        if "history" in data or "messages" in data or "traj" in data:
            return "messages"
        if isinstance(data.get("data"), list):
            return detect_format(data["data"])
        return None
    if isinstance(data, list) and data:
        first = next((item for item in data if isinstance(item, Mapping)), None)
        if first is None:
            return None
        if "resourceSpans" in first:
            return "otlp"
        if first.get("object") in ("trace.span", "trace") or "span_data" in first:
            return "openai-agents"
        if "observations" in first and ("trace" in first or "id" in first):
            return "langfuse"
        if "history" in first or "traj" in first or "messages" in first or "role" in first:
            return "messages"
    return None


_EXPECTED: Final[dict[str, str]] = {
    "otlp": "an OTLP JSON export ({'resourceSpans': [...]}, or one such object per line)",
    "langfuse": "a Langfuse trace export ({'trace': {...}, 'observations': [...]})",
    "openai-agents": "a JSON list of exported OpenAI Agents SDK spans ({'object': 'trace.span', 'span_data': ...})",
    "messages": "a multi-agent message log (Who&When {'history': [...]}, or OpenAI chat messages / tau-bench runs)",
}


def _reader(fmt: str) -> Callable[[Any, str], list[Trace]]:
    if fmt == "otlp":
        from .otlp import read_otlp

        return read_otlp
    if fmt == "langfuse":
        from .langfuse import read_langfuse

        return read_langfuse
    if fmt == "openai-agents":
        from .agents_export import read_agents_export

        return read_agents_export
    from .messages import read_messages

    return read_messages


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic objects.

    Parsing a large file allocates a container per span and attribute; each
    allocation burst would trigger full collections that rescan everything
    built so far, which made a 100k-span import several times slower.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_trace(path: str | os.PathLike[str], fmt: str | None = None) -> Trace | list[Trace]:
    """Read a foreign trace file as a trace (or a list of them, one per run in the file).

    ``fmt`` is one of :data:`FORMATS`; ``None`` or ``"auto"`` detects it.
    Raises :class:`~pytest_agenttrace.exceptions.TraceFileError` when the file
    is not that format (or no known format at all); its message is redacted
    like the warnings.
    """
    try:
        return _import_trace(Path(path), fmt)
    except TraceFileError as exc:
        raise TraceFileError(redact_text(exc.message), path=exc.path) from None


def _import_trace(file: Path, fmt: str | None) -> Trace | list[Trace]:
    if fmt not in (None, "auto", *FORMATS):
        raise TraceFileError(f"unknown import format {fmt!r}; choose one of {', '.join(FORMATS)}.", path=str(file))
    with _no_gc():
        notes: list[str] = []
        if fmt in (None, "auto"):
            data = load_json(file, "one of: " + ", ".join(FORMATS), notes)
            fmt = detect_format(data)
            if fmt is None:
                if _is_trace_file(data):
                    raise TraceFileError(_ALREADY_A_TRACE, path=str(file))
                raise TraceFileError(
                    "is not a trace format agenttrace can import; expected one of: "
                    + "; ".join(_EXPECTED.values())
                    + ". If it is one of these, pass --from to see what does not fit.",
                    path=str(file),
                )
        else:
            data = load_json(file, _EXPECTED[fmt], notes)
            found = detect_format(data)
            if found != fmt:
                if found is None and _is_trace_file(data):
                    raise TraceFileError(_ALREADY_A_TRACE, path=str(file))
                seen = f"it looks like {found!r}" if found else "it matches no known format"
                raise TraceFileError(f"is not {_EXPECTED[fmt]}: {seen}.", path=str(file))
        data = _unwrapped(data)
        reader = _reader(fmt)
        try:
            try:
                traces = reader(data, file.name)
            except RecursionError:
                # Some value is nested deeper than names and reprs can go: cut such values and read again.
                cut = _cut_deep_values(data, MAX_NESTING)
                if not cut:
                    raise
                traces = reader(data, file.name)
                note = (
                    f"{len(cut)} value(s) nested deeper than {MAX_NESTING} levels were cut there "
                    f"(the first at {cut[0]})"
                )
                notes.append(note)
        except ShapeError as exc:
            raise TraceFileError(f"has the wrong shape: {exc}; expected {_EXPECTED[fmt]}.", path=str(file)) from None
        except RecursionError:
            raise TraceFileError(
                f"holds values nested too deeply to import (over {MAX_NESTING} levels); expected {_EXPECTED[fmt]}.",
                path=str(file),
            ) from None
        except (AttributeError, TypeError, KeyError, ValueError, ArithmeticError) as exc:
            raise TraceFileError(
                f"has an unexpected structure ({describe(exc)}); expected {_EXPECTED[fmt]}.", path=str(file)
            ) from None
        del data  # freed while the collector still sleeps: it never scans the parsed document
    for note in notes:  # what concerns the whole file: logged once, noted in every trace
        logger.warning("%s: %s", redact_text(file.name), redact_text(note))
    for trace in traces:
        if notes:
            noted = trace.metadata.get("import_warnings")
            noted = noted if isinstance(noted, list) else [] if noted is None else [noted]
            trace.metadata["import_warnings"] = [*(redact_text(note) for note in notes), *noted]
    if not any(trace.spans for trace in traces) and not _empty_own_export(traces):
        notes = [
            str(note)
            for trace in traces
            if isinstance(trace.metadata.get("import_warnings"), list)
            for note in trace.metadata["import_warnings"]
        ]
        why = f" ({'; '.join(notes[:3])})" if notes else ""
        raise TraceFileError(f"holds no span that could be imported{why}; expected {_EXPECTED[fmt]}.", path=str(file))
    return traces[0] if len(traces) == 1 else traces


_ALREADY_A_TRACE: Final = (
    "is already a pytest-agenttrace trace file: there is nothing to import; "
    "`agenttrace show FILE` (and check, diff, query) read it as it is."
)


def _unwrapped(data: Any) -> Any:
    """The list under ``{"data": [...]}`` (an API's list response), which :func:`detect_format` looked into."""
    if (
        isinstance(data, Mapping)
        and isinstance(data.get("data"), list)
        and detect_format({key: value for key, value in data.items() if key != "data"}) is None
    ):
        return data["data"]
    return data


def _is_trace_file(data: Any) -> bool:
    """Whether parsed ``data`` is agenttrace's own trace file (which ``import`` does not take)."""
    return isinstance(data, Mapping) and "format_version" in data and "spans" in data


def _cut_deep_values(data: Any, limit: int) -> list[str]:
    """Replace every list or object nested deeper than ``limit`` in ``data`` by a marker; where they were.

    Iterative, so any depth the parser accepted is walked; runs only after a
    reader hit the recursion limit.
    """
    cut: list[str] = []
    marker = f"…[agenttrace: nested deeper than {limit} levels; cut on import]"
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(data, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            continue
        for key, item in items:
            if isinstance(item, dict | list):
                # Only the first keys of a path are shown: longer paths are not kept.
                where = (*path, key) if len(path) < _PATH_SHOWN else path
                if depth + 1 >= limit:
                    value[key] = marker
                    cut.append(_json_path(where, depth + 1))
                else:
                    stack.append((item, depth + 1, where))
    return cut


_PATH_SHOWN: Final = 6


def _json_path(path: tuple[Any, ...], depth: int) -> str:
    """``observations[0].input.a.a…(200 levels)``: where a value sits in the file, its keys cleaned."""
    parts = []
    for key in path:
        parts.append(f"[{key}]" if isinstance(key, int) else "." + quote(str(key), 24).strip("'\""))
    more = f"…({depth} levels down)" if depth > len(path) else ""
    return ("".join(parts) + more).lstrip(".") or "(top level)"


def _empty_own_export(traces: list[Trace]) -> bool:
    """Whether ``traces`` are agenttrace's own exports of traces that had no spans (a valid round trip)."""
    return bool(traces) and all(
        trace.metadata.get("imported_from") is None and not trace.metadata.get("import_warnings") for trace in traces
    )
