"""A tiny span builder shared by the spec, selector and detector benchmarks.

Builds frozen spans directly (no recorder), one millisecond apart, with the
recorder's inheritance rules: ``agent`` from the parent (an ``agent`` span is
its own agent), ``scope``/``scope_path`` from enclosing delegations.
"""

from __future__ import annotations

from typing import Any

from pytest_agenttrace.model import Span

MS = 1_000_000
_INHERIT: Any = object()


class SpanBuilder:
    """Appends spans in start order; ``clock`` is the last start time."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.clock = 0

    def add(self, kind: str, name: str, parent: Span | None, *, agent: Any = _INHERIT, **kw: Any) -> Span:
        """One span under ``parent``; ``start_ns``/``duration`` override the clock, other keywords are fields."""
        self.clock += MS
        if agent is _INHERIT:
            agent = name if kind == "agent" else (parent.agent if parent else None)
        scope_path = list(parent.scope_path) if parent else []
        if parent is not None and parent.kind == "delegation":
            scope_path.append(parent.span_id)
        start = kw.pop("start_ns", self.clock)
        span = Span(
            span_id=str(len(self.spans) + 1),
            parent_id=parent.span_id if parent else None,
            kind=kind,
            name=name,
            agent=agent,
            scope=scope_path[-1] if scope_path else None,
            scope_path=scope_path,
            start_ns=start,
            end_ns=start + kw.pop("duration", MS // 2),
            **kw,
        )
        self.spans.append(span)
        return span


class RecordingBuilder:
    """:class:`SpanBuilder`'s interface, recording through a real :class:`Recorder` instead.

    The spans come out of ``Recorder.finish()``, laid out in memory as a test's
    trace is (empty lists and version stamps shared, attributes cleaned), not as
    one fresh object per field: what ``agenttrace.check`` reads in a test.
    ``add`` returns the span's handle; :meth:`finish` gives the trace.
    """

    def __init__(self, name: str = "bench", *, limit: int | None = None) -> None:
        from pytest_agenttrace.recorder import Recorder

        self.recorder = Recorder(name, trace_id="bench")
        self.limit = limit
        self.spans: list[Any] = []
        self.clock = 0

    def add(self, kind: str, name: str, parent: Any, **kw: Any) -> Any:
        """One span under ``parent`` (a handle), started on the builder's clock and ended at once.

        Past ``limit`` spans nothing is recorded and ``None`` is returned.
        """
        if self.limit is not None and len(self.spans) >= self.limit:
            return None
        self.clock += MS
        start = kw.pop("start_ns", self.clock)
        duration = kw.pop("duration", MS // 2)
        links = kw.pop("links", ())
        handle = self.recorder.start_span(
            kind, name, parent_id=parent.span_id if parent is not None else None, start_ns=start, **kw
        )
        if links:
            handle.link(*links)
        handle.end(end_ns=start + duration)
        self.spans.append(handle)
        return handle

    def finish(self) -> Any:
        return self.recorder.finish()
