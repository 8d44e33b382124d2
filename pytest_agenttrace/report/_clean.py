"""A trace made safe to copy into an output: every value passed through :mod:`pytest_agenttrace.sanitize`.

Traces written by the recorder are clean already, but a trace file may come
from anywhere (hand-edited, another tool, an old version): ``agenttrace
export`` and the HTML report pass what they copy through :func:`sanitized`
so that a secret in such a file does not leak into what they write.  A clean
trace comes back equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import Span, Trace
from ..sanitize import clean, redact_text

__all__ = ["redacted_strings", "sanitized", "sanitized_span"]


def _text(value: Any) -> Any:
    return redact_text(value) if isinstance(value, str) else value


def redacted_strings(value: Any, _depth: int = 0) -> Any:
    """``value`` with every string redacted, at any depth (keys such as ``session_id`` are ids here, kept)."""
    if isinstance(value, str):
        return redact_text(value)
    if _depth > 64:
        return "…[agenttrace: nested too deep]"
    if isinstance(value, Mapping):
        return {_text(key): redacted_strings(item, _depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted_strings(item, _depth + 1) for item in value]
    return value


def sanitized_span(span: Span) -> Span:
    """``span`` with names redacted and its payloads cleaned (secrets redacted, sizes capped)."""
    return span.replace(
        name=_text(span.name),
        agent=_text(span.agent),
        error=clean(span.error) if span.error is not None else None,
        input=clean(span.input) if span.input is not None else None,
        output=clean(span.output) if span.output is not None else None,
        attributes=clean(span.attributes),
        versions=redacted_strings(span.versions),
        context=clean(span.context) if span.context is not None else None,
        events=clean(span.events),
    )


def sanitized(trace: Trace) -> Trace:
    """``trace`` with every span sanitised and its name and metadata redacted."""
    return Trace(
        trace_id=_text(trace.trace_id),
        name=_text(trace.name),
        started_at=trace.started_at,
        metadata=redacted_strings(trace.metadata),
        versions=redacted_strings(trace.versions),
        spans=tuple(sanitized_span(span) for span in trace.spans),
    )
