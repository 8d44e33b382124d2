"""The HTML report: one self-contained file a person opens to see a run.

The page is a single HTML document with its script and stylesheet inlined
from ``report/assets`` (no network, no CDN), and the data as JSON in
``<script type="application/json">`` blocks: one small index of the tests and
one block per recorded trace, parsed only when that test is opened.

Safety: trace content is untrusted model output.  The JSON is escaped so
that ``<``, ``>``, ``&``, U+2028 and U+2029 never appear literally (a
``</script>`` inside a trace cannot end the block), the page script builds
its DOM with ``textContent`` only, and a Content-Security-Policy allows
nothing but the page's own script and style (by hash) and no network at all.

A report is built from :class:`ReportEntry` objects; the heavy part, the
trace with its violations and snapshot diffs, is encoded once by
:func:`encode_record` (on an xdist worker, if there is one) and carried as a
JSON string until the page is written.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import html as _html
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from ..model import KINDS, Span, Trace
from ..sanitize import clean, encodable, redact_label, redact_text
from ..store import write_atomic
from ._clean import RedactedIds, redacted_strings

__all__ = ["ReportEntry", "encode_record", "normalize_violation", "render_html", "write_html"]

_orjson: ModuleType | None
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the optional "fast" extra
    _orjson = None

#: Outcomes the page knows how to colour; anything else shows as ``unknown``.
OUTCOMES: Final = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "unknown")

_ESCAPES: Final = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _escape_json(text: str) -> str:
    """Make JSON text safe inside ``<script>`` and encodable: the escaped characters only occur in strings."""
    for raw, escaped in _ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return encodable(text)


def _dumps(value: Any) -> str:
    if _orjson is not None:  # the "fast" extra: several times quicker on big traces
        try:
            return str(_orjson.dumps(value, default=str, option=_orjson.OPT_NON_STR_KEYS).decode("utf-8"))
        except TypeError:
            pass  # e.g. integers beyond 64 bits: the standard library copes
    # orjson refuses lone surrogates (a trace file may hold one: "\\ud83d" is valid JSON); the standard
    # library keeps them, and they are written as escapes.
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:  # NaN or infinity somewhere: JSON.parse would reject the page's data
        text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"), default=str)
    return encodable(text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _span_ids(value: Any, ids: RedactedIds | None = None) -> list[str]:
    """Span ids from a list of ids or of span-like dicts (``span_id`` / ``id``), as ``ids`` shows them."""
    if value is None:
        return []
    if isinstance(value, (str, int)):
        value = [value]
    out: list[str] = []
    for item in value:
        if isinstance(item, Mapping):
            ident = item.get("span_id", item.get("id"))
        elif hasattr(item, "span_id"):
            ident = item.span_id
        else:
            ident = item
        if ident is not None:
            out.append(str(ident) if ids is None else ids(str(ident)))
    return out


def _text(value: Any) -> str | None:
    """A violation field as redacted text (``None`` stays ``None``)."""
    if value is None:
        return None
    return redact_text(value if isinstance(value, str) else _dumps(value))


def _violation_data(violation: Any) -> Mapping[str, Any]:
    if isinstance(violation, Mapping):
        return violation
    if hasattr(violation, "to_dict"):
        data: Mapping[str, Any] = violation.to_dict()
        return data
    return {"rule": type(violation).__name__, "message": str(violation)}


def normalize_violation(violation: Any, *, ids: RedactedIds | None = None) -> dict[str, Any]:
    """A violation (spec ``Violation`` or its ``to_dict()``) as the page reads it.

    ``detector`` names the failure-mode detector behind a ``detect`` rule
    (``None`` for other rules), so the page can mark detector findings.
    Every text is redacted (a violation quotes the trace, and a trace file
    need not be clean); span ids read as ``ids`` (the trace's
    :class:`~pytest_agenttrace.report._clean.RedactedIds`) shows them.
    """
    data = _violation_data(violation)
    if ids is None:
        ids = RedactedIds()
    rule = redact_text(str(data.get("rule") or "violation"))
    details = data.get("details")
    details = dict(details) if isinstance(details, Mapping) else {}
    detector = data.get("detector") or details.get("detector")
    if not isinstance(detector, str):
        detector = rule if data.get("kind") == "detect" or detector is True else None
    else:
        detector = redact_text(detector)
    shown = {k: v for k, v in details.items() if k != "detector"}
    return {
        "rule": rule,
        "message": redact_text(str(data.get("message") or "")),
        "description": _text(data.get("description")),
        "spans": _span_ids(data.get("spans"), ids),
        "chain": _span_ids(data.get("chain"), ids),
        "expected": _text(data.get("expected")) or None,
        "found": _text(data.get("found")) or None,
        "detector": detector,
        "kind": _text(data.get("kind")) or None,
        "source": _text(data.get("source")),
        "details": clean(redacted_strings(shown, ids=ids)),
    }


#: Violations of one rule whose texts a record keeps; past it, only the rule and the span ids (so the
#: page still counts and flags every one).  40,000 violations of four rules made a 25 MB page of which
#: 20 MB were violation texts, nearly all alike.
MAX_VIOLATION_TEXTS: Final = 1000


def _encode_violations(violations: Iterable[Any], ids: RedactedIds) -> list[dict[str, Any]]:
    """Each violation normalised, the texts of each rule's first :data:`MAX_VIOLATION_TEXTS` only.

    The rest read ``{"rule": ..., "spans": [...], "chain": [...], "cut": true}``
    (``chain`` when not empty).
    """
    out: list[dict[str, Any]] = []
    per_rule: dict[str, int] = {}
    for violation in violations:
        data = _violation_data(violation)
        rule = redact_text(str(data.get("rule") or "violation"))
        seen = per_rule[rule] = per_rule.get(rule, 0) + 1
        if seen <= MAX_VIOLATION_TEXTS:
            out.append(normalize_violation(data, ids=ids))
            continue
        short: dict[str, Any] = {"rule": rule, "spans": _span_ids(data.get("spans"), ids)}
        chain = _span_ids(data.get("chain"), ids)
        if chain:
            short["chain"] = chain
        short["cut"] = True
        out.append(short)
    return out


def _label(value: Any) -> Any:
    """A name, agent, kind or status, redacted (labels repeat from span to span: cached)."""
    return redact_label(value) if type(value) is str else value


_KINDS: Final = frozenset(KINDS)


def _span_payload(span: Span, ids: RedactedIds) -> dict[str, Any]:
    """A span's contract dict without the fields that hold their default (the page restores them).

    Names are redacted, ids read as ``ids`` shows them and payloads pass through
    :func:`~pytest_agenttrace.sanitize.clean` (a no-op on what the recorder wrote,
    a safeguard for trace files from elsewhere).
    """
    kind = span.kind
    out: dict[str, Any] = {
        "span_id": ids(span.span_id),
        "kind": kind if kind in _KINDS else _label(kind),
        "name": _label(span.name),
    }
    if span.parent_id is not None:
        out["parent_id"] = ids(span.parent_id)
    if span.agent is not None:
        out["agent"] = _label(span.agent)
    if span.scope is not None:
        out["scope"] = ids(span.scope)
    if span.scope_path:
        out["scope_path"] = ids.many(span.scope_path)
    out["start_ns"] = span.start_ns
    out["end_ns"] = span.end_ns
    if span.status != "ok":
        out["status"] = _label(span.status)
    for key in ("error", "input", "output", "context"):
        value = getattr(span, key)
        if value is not None:
            out[key] = clean(value)
    if span.attributes:
        out["attributes"] = clean(span.attributes)
    if span.versions:
        out["versions"] = redacted_strings(span.versions)
    if span.links:
        out["links"] = ids.many(span.links)
    if span.events:
        out["events"] = clean(span.events)
    return out


def _trace_payload(trace: Trace | Mapping[str, Any], ids: RedactedIds | None = None) -> dict[str, Any]:
    """The trace-file dict with default span fields left out."""
    if not isinstance(trace, Trace):
        trace = Trace.from_dict(trace)
    if ids is None:
        ids = RedactedIds(span.span_id for span in trace.spans)
    # A trace file need not be clean: names and ids are redacted and payloads cleaned so nothing secret
    # reaches the page.
    return {
        "trace_id": redact_text(trace.trace_id),
        "name": redact_text(trace.name),
        "started_at": _text(trace.started_at),
        "metadata": redacted_strings(trace.metadata),
        "versions": redacted_strings(trace.versions),
        "spans": [_span_payload(span, ids) for span in trace.spans],
    }


def encode_record(
    trace: Trace | Mapping[str, Any],
    *,
    violations: Iterable[Any] = (),
    snapshot_diffs: Iterable[Mapping[str, Any]] = (),
    selections: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Encode one trace with its findings for the page.

    ``selections`` maps selector texts to the span ids they matched
    (computed in Python: the page filters by them but cannot evaluate
    selectors itself).  Violations beyond :data:`MAX_VIOLATION_TEXTS` of one
    rule keep only their rule and span ids.  Returns a small JSON-ready dict
    ``{"summary": {...}, "json": "..."}``: the summary feeds the test list,
    the JSON string is embedded as it is.  Both survive pytest-xdist's report
    serialisation.
    """
    if not isinstance(trace, Trace):
        trace = Trace.from_dict(trace)
    ids = RedactedIds(span.span_id for span in trace.spans)
    payload = _trace_payload(trace, ids)
    found = _encode_violations(violations, ids)
    diffs = [redacted_strings(d) for d in snapshot_diffs]
    spans = payload["spans"]
    summary = {
        "spans": len(spans),
        "agents": len({s.get("agent") for s in spans if s.get("agent") is not None}),
        "errors": sum(1 for s in spans if s.get("status", "ok") != "ok"),
        "violations": len(found),
        "snapshot_diffs": len(diffs),
        "trace_name": payload.get("name"),
    }
    chosen = [
        {"selector": redact_text(str(text)), "spans": _span_ids(matched, ids)}
        for text, matched in (selections or {}).items()
    ]
    text = _dumps({"trace": payload, "violations": found, "snapshot_diffs": diffs, "selections": chosen})
    return {"summary": summary, "json": text}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportEntry:
    """One row of the report: a test (or a trace file) and what it recorded.

    ``record`` is :func:`encode_record`'s result, or ``None`` for a test that
    recorded nothing; ``message`` is the failure message shown under the test
    and ``output`` the full failure output (traceback and all), folded away.
    """

    name: str
    outcome: str = "unknown"
    duration: float | None = None
    message: str | None = None
    output: str | None = None
    record: Mapping[str, Any] | None = None

    @classmethod
    def from_trace(
        cls,
        trace: Trace,
        *,
        name: str | None = None,
        outcome: str = "unknown",
        violations: Iterable[Any] = (),
        snapshot_diffs: Iterable[Mapping[str, Any]] = (),
        selections: Mapping[str, Iterable[str]] | None = None,
        duration: float | None = None,
        message: str | None = None,
    ) -> ReportEntry:
        """An entry for ``trace`` (named after the trace unless ``name`` is given)."""
        record = encode_record(trace, violations=violations, snapshot_diffs=snapshot_diffs, selections=selections)
        return cls(name=name or trace.name, outcome=outcome, duration=duration, message=message, record=record)


def _check_asset(name: str, text: str) -> str:
    if "</" in text:  # an inlined asset must not be able to close its own element
        raise RuntimeError(f"report asset {name} contains '</'; write '<\\/' instead")
    return text


@functools.cache
def _style() -> str:
    return _check_asset("report.css", resources.files(__package__).joinpath("assets", "report.css").read_text("utf-8"))


@functools.cache
def _script() -> str:
    """The page script: ``assets/report-*.js`` in name order, in one strict-mode function."""
    folder = resources.files(__package__).joinpath("assets")
    parts = sorted(
        (f for f in folder.iterdir() if f.name.startswith("report-") and f.name.endswith(".js")), key=lambda f: f.name
    )
    body = "\n".join(_check_asset(f.name, f.read_text("utf-8")) for f in parts)
    return "(function () {\n  'use strict';\n\n" + body + "})();\n"


@functools.cache
def _package_version() -> str:
    try:
        return metadata.version("pytest-agenttrace")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def render_html(
    entries: Iterable[ReportEntry],
    *,
    title: str = "agenttrace report",
    generated_at: str | None = None,
) -> str:
    """The report page for ``entries`` as one self-contained HTML string."""
    script, style = _script(), _style()
    index: list[dict[str, Any]] = []
    blocks: list[str] = []
    for number, entry in enumerate(entries):
        outcome = entry.outcome if entry.outcome in OUTCOMES else "unknown"
        item: dict[str, Any] = {  # test ids and pytest's failure text may hold secrets too
            "name": redact_text(entry.name),
            "outcome": outcome,
            "duration": entry.duration,
            "message": None if entry.message is None else redact_text(entry.message),
            "output": None if entry.output is None else redact_text(entry.output),
            "summary": None,
        }
        if entry.record is not None:
            item["summary"] = dict(entry.record.get("summary") or {})
            item["record"] = number
            blocks.append(
                f'<script type="application/json" id="agenttrace-record-{number}">'
                f"{_escape_json(str(entry.record['json']))}</script>"
            )
        index.append(item)
    meta = {
        "title": title,
        "generated_at": generated_at or _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": f"pytest-agenttrace {_package_version()}",
        "entries": index,
    }
    csp = (
        "default-src 'none'; "
        f"script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_html.escape(encodable(title))}</title>",
        f"<style>{style}</style></head>\n<body>",
        '<div id="app"><noscript>This report needs JavaScript to draw the traces.</noscript></div>\n',
        f'<script type="application/json" id="agenttrace-index">{_escape_json(_dumps(meta))}</script>\n',
        "\n".join(blocks),
        f"\n<script>{script}</script>\n</body></html>\n",
    ]
    return "".join(parts)


def write_html(
    path: str | os.PathLike[str],
    entries: Iterable[ReportEntry],
    *,
    title: str = "agenttrace report",
) -> Path:
    """Render the report and write it to ``path`` atomically; returns the path."""
    return write_atomic(path, render_html(entries, title=title).encode("utf-8"))
