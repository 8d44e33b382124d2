"""A trace made safe to copy into an output: every value passed through :mod:`pytest_agenttrace.sanitize`.

Traces written by the recorder are clean already, but a trace file may come
from anywhere (hand-edited, another tool, an old version): ``agenttrace
export`` and the HTML report pass what they copy through :func:`sanitized`
so that a secret in such a file does not leak into what they write.  A clean
trace comes back equal.

Span ids are text too (``"id-sk-proj-..."``), and they tie the tree together:
a :class:`RedactedIds` gives each id of a trace one redacted text, used for
the span's own id, every parent id, scope, scope path entry and link naming
it, and for the span ids a violation or selection names, so the tree stays
intact.  Two ids that redact alike (``"a-sk-..1"`` and ``"a-sk-..2"`` both
read ``"a-[REDACTED]"``) are told apart by a suffix (``"a-[REDACTED]~2"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..model import Span, Trace
from ..sanitize import DEFAULT_LIMITS, Limits, clean, redact_text

__all__ = ["RedactedIds", "redacted_strings", "sanitized", "sanitized_span"]


def _text(value: Any) -> Any:
    return redact_text(value) if isinstance(value, str) else value


class RedactedIds:
    """Span ids with secrets redacted: one text per id, and different ids stay different.

    Built from the ids of a trace's spans; ids that need no redaction keep
    themselves (the common case costs one scan per id), the others get their
    redacted text, with ``~2``, ``~3``... added when that text is taken.  Ids
    that are not a span's (a dangling link, a violation naming a span of
    another trace) are mapped the same way when first asked for.  The result
    depends only on the ids and the order they come in.
    """

    __slots__ = ("_changed", "_given", "_kept", "_taken")

    def __init__(self, ids: Iterable[Any] = ()) -> None:
        #: The ids whose text changes, with their text (a clean id is its own text: not stored).
        self._changed: dict[str, str] = {}
        #: The texts given to changed ids.
        self._given: set[str] = set()
        #: Ids known to keep their text (clean span ids, and clean ids asked for since).
        self._kept: set[str] = set()
        #: Every text some id has: the span ids as given, and the texts given to changed ids.
        self._taken: set[str] = set()
        texts = [ident if type(ident) is str else str(ident) for ident in ids]
        self._taken.update(texts)
        joined = "\n".join(texts)
        if redact_text(joined) == joined:  # one scan for the common case: no id holds a secret
            self._kept.update(texts)
            return
        dirty: list[str] = []
        for text in texts:
            if redact_text(text) != text:
                dirty.append(text)
            else:
                self._kept.add(text)
        for text in dirty:
            self._assign(text, redact_text(text))

    def _assign(self, text: str, base: str) -> str:
        candidate, number = base, 2
        while candidate in self._taken:  # the redacted text is another id's (or was given already): renamed
            candidate = f"{base}~{number}"
            number += 1
        self._changed[text] = candidate
        self._given.add(candidate)
        self._taken.add(candidate)
        return candidate

    @property
    def changed(self) -> bool:
        """Whether any id was redacted (else every id is its own text)."""
        return bool(self._changed)

    def known(self, text: str) -> str | None:
        """The text of ``text`` when it is an id that was redacted, else ``None``."""
        return self._changed.get(text)

    def __call__(self, ident: Any) -> Any:
        """The text ``ident`` is shown as (``None`` stays ``None``)."""
        if type(ident) is str and ident in self._kept:  # the common case first: a clean span id
            return ident
        if ident is None:
            return None
        text = ident if isinstance(ident, str) else str(ident)
        out = self._changed.get(text)
        if out is not None:
            return out
        if text in self._kept:
            return text
        base = redact_text(text)
        if base == text and text not in self._given:  # clean, and no redacted id reads like it
            self._taken.add(text)
            self._kept.add(text)
            return text
        return self._assign(text, base)

    def many(self, idents: list[Any]) -> list[Any]:
        """:meth:`__call__` for each of ``idents`` (``idents`` itself when every one keeps its text)."""
        try:
            if self._kept.issuperset(idents):  # the common case, checked at C speed
                return idents
        except TypeError:  # an id that is not even hashable (a hand-made file): each is made text below
            pass
        return [self(ident) for ident in idents]


def redacted_strings(value: Any, _depth: int = 0, *, ids: RedactedIds | None = None) -> Any:
    """``value`` with every string redacted, at any depth (keys such as ``session_id`` are ids here, kept).

    With ``ids``, a string that is a redacted span id reads as that span's
    redacted id (a violation's details name spans as the tree shows them).
    """
    if isinstance(value, str):
        if ids is not None and (known := ids.known(value)) is not None:
            return known
        return redact_text(value)
    if _depth > 64:
        return "…[agenttrace: nested too deep]"
    if isinstance(value, Mapping):
        return {_text(key): redacted_strings(item, _depth + 1, ids=ids) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted_strings(item, _depth + 1, ids=ids) for item in value]
    return value


def sanitized_span(span: Span, ids: RedactedIds | None = None, limits: Limits = DEFAULT_LIMITS) -> Span:
    """``span`` with names and ids redacted and its payloads cleaned (secrets redacted, sizes capped).

    Pass the trace's :class:`RedactedIds` so that ids redact alike across spans
    (:func:`sanitized` does); without it the span's own ids are mapped alone.
    ``limits``: the caps of :func:`~pytest_agenttrace.sanitize.clean` (its defaults, as recording uses).
    """
    if ids is None:
        ids = RedactedIds([span.span_id])
    return span.replace(
        span_id=ids(span.span_id),
        parent_id=ids(span.parent_id),
        kind=_text(span.kind),
        name=_text(span.name),
        agent=_text(span.agent),
        scope=ids(span.scope),
        scope_path=ids.many(span.scope_path),
        status=_text(span.status),
        error=clean(span.error, limits) if span.error is not None else None,
        input=clean(span.input, limits) if span.input is not None else None,
        output=clean(span.output, limits) if span.output is not None else None,
        attributes=clean(span.attributes, limits),
        versions=redacted_strings(span.versions),
        context=clean(span.context, limits) if span.context is not None else None,
        links=ids.many(span.links),
        events=clean(span.events, limits),
    )


def sanitized(trace: Trace, limits: Limits = DEFAULT_LIMITS) -> Trace:
    """``trace`` with every span sanitised and its name, ids, start time and metadata redacted.

    ``limits``: the caps for payloads (the recorder's defaults unless given).
    """
    ids = RedactedIds(span.span_id for span in trace.spans)
    return Trace(
        trace_id=_text(trace.trace_id),
        name=_text(trace.name),
        started_at=_text(trace.started_at),
        metadata=redacted_strings(trace.metadata),
        versions=redacted_strings(trace.versions),
        spans=tuple(sanitized_span(span, ids, limits) for span in trace.spans),
    )
