"""The read-only trace model: finished spans, traces and the tree index.

A :class:`Trace` is one agent run; its :class:`Span` objects form a forest
through ``parent_id``.  Both are frozen, slotted, keyword-only dataclasses: the
mutable recording side lives in :mod:`pytest_agenttrace.recorder`.  Field names
and meanings are the trace-file contract (``docs``: design, *Data model*).

Mapping fields (``attributes``, ``versions``, ``context``, ...) are plain dicts
and lists for speed; treat them as read-only (spans may share them, e.g. the
empty ``links`` list or the ``versions`` dict of spans ended under the same
stamps).

Speed: a recorded span costs a couple of microseconds, so a finished span is
not copied out of its recording handle.  :class:`Span` and the recorder's
:class:`~pytest_agenttrace.recorder.SpanHandle` share one slot layout
(:class:`_SpanSlots`), and :meth:`Recorder.finish` turns each handle into its
frozen span in place, after redacting and capping its values.  Spans built from
files use the same layout through :func:`span_from_values`, which skips the
per-field ``object.__setattr__`` of a frozen dataclass ``__init__``.

Tree queries are answered from an index built once per trace on first use
(children lists, depth, kind/name/agent buckets, scope membership), so every
query is linear or better in the number of spans.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ._index import TraceIndex
from .exceptions import TraceFileError, UsageError
from .sanitize import redact_text

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "Footprint",
    "Span",
    "SpanKind",
    "Trace",
    "TraceIndex",
]

FORMAT_VERSION: Final = 1

SpanKind = Literal[
    "agent",
    "llm",
    "tool",
    "retrieval",
    "handoff",
    "delegation",
    "memory_read",
    "memory_write",
    "guardrail",
    "wait",
    "custom",
]

KINDS: Final[tuple[str, ...]] = (
    "agent",
    "llm",
    "tool",
    "retrieval",
    "handoff",
    "delegation",
    "memory_read",
    "memory_write",
    "guardrail",
    "wait",
    "custom",
)

SPAN_FIELDS: Final[tuple[str, ...]] = (
    "span_id",
    "parent_id",
    "kind",
    "name",
    "agent",
    "scope",
    "scope_path",
    "start_ns",
    "end_ns",
    "status",
    "error",
    "input",
    "output",
    "attributes",
    "versions",
    "context",
    "links",
    "events",
)


#: Names a recording handle has and a finished span does not: using one on a finished span is misuse.
_HANDLE_ONLY: Final = frozenset(
    {
        "set_output", "set_input", "set_attribute", "set_attributes", "set_usage", "set_confidence",
        "set_context", "set_version", "link", "add_event", "set_status", "end",
    }
)  # fmt: skip


class _SpanSlots:
    """The memory layout shared by :class:`Span` and the recorder's ``SpanHandle``.

    The three slots after the contract fields belong to the recording side
    (its recorder, start sequence number and context token); they stay unset
    on spans built from files.
    """

    __slots__ = (*SPAN_FIELDS, "recorder", "seq", "_token")


@dataclass(frozen=True, slots=True, kw_only=True)
class Span(_SpanSlots):
    """One finished unit of work in an agent run.

    ``error`` is ``None`` or ``{"type": ..., "message": ...}``; ``events`` are
    ``{"name": ..., "time_ns": ..., "attributes": {...}}`` dicts.
    """

    span_id: str
    parent_id: str | None
    kind: str
    name: str
    agent: str | None = None
    scope: str | None = None
    scope_path: list[str] = field(default_factory=list)
    start_ns: int = 0
    end_ns: int = 0
    status: str = "ok"
    error: dict[str, Any] | None = None
    input: Any = None
    output: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] | None = None
    links: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        """``end_ns - start_ns``."""
        return self.end_ns - self.start_ns

    @property
    def ended(self) -> bool:
        """Always true: a finished span has ended (recording handles answer the same question)."""
        return True

    @property
    def from_agent(self) -> str | None:
        """``attributes.from_agent`` of a handoff or delegation span."""
        value = self.attributes.get("from_agent")
        return value if isinstance(value, str) else None

    @property
    def to_agent(self) -> str | None:
        """``attributes.to_agent`` of a handoff or delegation span."""
        value = self.attributes.get("to_agent")
        return value if isinstance(value, str) else None

    def get(self, path: str, default: Any = None) -> Any:
        """Look ``path`` up as a span field first, then under ``attributes``.

        Dotted paths reach inside mappings (``usage.input_tokens``,
        ``attributes.usage.input_tokens``, ``context.diff_summary``).
        ``duration`` is ``end_ns - start_ns``.
        """
        head, _, rest = path.partition(".")
        if head == "duration":
            value: Any = self.duration_ns
        elif head in SPAN_FIELDS:
            value = getattr(self, head)
        elif head in self.attributes:
            value = self.attributes[head]
        else:
            return default
        if not rest:
            return value
        for part in rest.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdecimal() and len(part) < 19 and int(part) < len(value):
                # isdecimal: what int() reads ("²" is a digit it refuses); under 19 digits: any list index
                value = value[int(part)]
            else:
                return default
        return value

    def to_dict(self) -> dict[str, Any]:
        """The span as a JSON-ready dict in contract field order."""
        return {
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "kind": self.kind,
            "name": self.name,
            "agent": self.agent,
            "scope": self.scope,
            "scope_path": self.scope_path,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "status": self.status,
            "error": self.error,
            "input": self.input,
            "output": self.output,
            "attributes": self.attributes,
            "versions": self.versions,
            "context": self.context,
            "links": self.links,
            "events": self.events,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Span:
        """Build a span from a contract dict (unknown keys are an error)."""
        return cls(**data)

    def replace(self, **changes: Any) -> Span:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


_SPAN_VALUES: Final = operator.itemgetter(*SPAN_FIELDS)


def _span_from_mapping(data: Mapping[str, Any]) -> Span:
    """``Span(**data)``, fast when ``data`` has exactly the contract fields (as in a trace file)."""
    if type(data) is dict and len(data) == len(SPAN_FIELDS):
        try:
            values = _SPAN_VALUES(data)
        except KeyError:
            pass  # an unknown key instead of a field: the constructor names it
        else:
            return span_from_tuple(values)
    return Span(**data)


def repeated_span_id(spans: Sequence[Span]) -> tuple[int, int] | None:
    """``(first, again)``: the positions of the first span whose id an earlier span has; ``None`` if all differ.

    One pass building a set when the ids are unique (the common case); the positions are
    looked for only when they are not.
    """
    if len({span.span_id for span in spans}) == len(spans):
        return None
    first: dict[Any, int] = {}
    for position, span in enumerate(spans):
        earlier = first.setdefault(span.span_id, position)
        if earlier != position:
            return earlier, position
    raise AssertionError("unreachable: a set smaller than the list means a repeat")  # pragma: no cover


def _refusal(name: str) -> Any:
    def refuse(self: Span, *args: Any, **kwargs: Any) -> Any:
        raise UsageError(
            f"span {self.kind}:{self.name} (id {self.span_id}) belongs to a finished trace and can no longer "
            f"be changed ({name}); record and change spans before the recording finishes."
        )

    refuse.__name__ = refuse.__qualname__ = name
    refuse.__doc__ = "Refused with a UsageError: a finished span cannot change (its recording handle could)."
    return refuse


# A handle kept after the recording finished *is* its Span (see the module docstring): its setters
# refuse with a clear message.  Real methods, not a ``__getattr__``, which every ``getattr`` probe
# of a span (orjson asks each one for ``__dict__``) would pay for.
for _name in sorted(_HANDLE_ONLY):
    setattr(Span, _name, _refusal(_name))
del _name


class _SpanBuilder(_SpanSlots):
    """Fills the shared layout with plain slot stores, then becomes a :class:`Span`."""

    __slots__ = ()


def span_from_values(
    span_id: str,
    parent_id: str | None,
    kind: str,
    name: str,
    agent: str | None,
    scope: str | None,
    scope_path: list[str],
    start_ns: int,
    end_ns: int,
    status: str,
    error: dict[str, Any] | None,
    input: Any,
    output: Any,
    attributes: dict[str, Any],
    versions: dict[str, str],
    context: dict[str, Any] | None,
    links: list[str],
    events: list[dict[str, Any]],
) -> Span:
    """A :class:`Span` from every field in contract order, without the frozen ``__init__``'s cost.

    For bulk builders that have already checked their values (the trace-file
    loader, importers): about 4x faster than ``Span(**fields)``.
    """
    return span_from_tuple(
        (span_id, parent_id, kind, name, agent, scope, scope_path, start_ns, end_ns, status, error,
         input, output, attributes, versions, context, links, events)
    )  # fmt: skip


def span_from_tuple(values: tuple[Any, ...]) -> Span:
    """:func:`span_from_values` taking the 18 values as one tuple (as ``operator.itemgetter`` gives them)."""
    b: Any = _SpanBuilder()  # slots come from the shared layout, which mypy cannot see
    (b.span_id, b.parent_id, b.kind, b.name, b.agent, b.scope, b.scope_path, b.start_ns, b.end_ns, b.status,
     b.error, b.input, b.output, b.attributes, b.versions, b.context, b.links, b.events) = values  # fmt: skip
    b.__class__ = Span  # same slot layout: the builder becomes the frozen span
    span: Span = b
    return span


@dataclass(frozen=True, slots=True)
class Footprint:
    """What one delegation scope touched: the forensic answer for a scope."""

    scope: str
    spans: tuple[Span, ...]
    agents: tuple[str, ...]
    tools: tuple[str, ...]
    memory_keys_read: tuple[str, ...]
    memory_keys_written: tuple[str, ...]
    data_sources: tuple[str, ...]
    llm_calls: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (span ids instead of spans)."""
        return {
            "scope": self.scope,
            "spans": [s.span_id for s in self.spans],
            "agents": list(self.agents),
            "tools": list(self.tools),
            "memory_keys_read": list(self.memory_keys_read),
            "memory_keys_written": list(self.memory_keys_written),
            "data_sources": list(self.data_sources),
            "llm_calls": self.llm_calls,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """One recorded agent run: metadata, version stamps and spans in start order."""

    trace_id: str
    name: str
    started_at: str
    metadata: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    spans: tuple[Span, ...] = ()
    # Not an argument: ``dataclasses.replace(trace, spans=...)`` must not carry the old spans' index along.
    _index: list[TraceIndex] = field(default_factory=list, init=False, repr=False, compare=False)
    #: Set by the recorder on the traces it builds with redaction on: their values are cleaned and
    #: their secrets redacted already, so a snapshot need not sanitise them again.  Not an argument
    #: either: a replaced or hand-built trace is not known clean.
    _redacted: bool = field(default=False, init=False, repr=False, compare=False)

    # -- index ---------------------------------------------------------------
    @classmethod
    def _with_unique_ids(cls, **fields: Any) -> Trace:
        """A trace whose span ids its maker guarantees unique (the recorder, the trace-file loader).

        Its index then finds spans by id without the map of every id where it can (:meth:`TraceIndex.get`).
        """
        trace = cls(**fields)
        trace._index.append(TraceIndex(trace.spans, unique_ids=True))
        return trace

    @property
    def index(self) -> TraceIndex:
        """The tree index, built on first use."""
        if not self._index:
            self._index.append(TraceIndex(self.spans))
        return self._index[0]

    def __len__(self) -> int:
        return len(self.spans)

    def __iter__(self) -> Iterator[Span]:
        return iter(self.spans)

    # -- navigation ----------------------------------------------------------
    def span(self, span_id: str) -> Span:
        """The span with ``span_id``; ``KeyError`` if there is none."""
        return self.index.by_id[span_id]

    def get_span(self, span_id: str | None) -> Span | None:
        """The span with ``span_id`` or ``None``."""
        if span_id is None:
            return None
        return self.index.get(span_id)

    @property
    def roots(self) -> list[Span]:
        """Spans without a (known) parent, in start order."""
        return list(self.index.roots)

    def children(self, span: Span | str | None) -> list[Span]:
        """Direct children in start order; ``None`` gives the roots."""
        key = span.span_id if isinstance(span, Span) else span
        return list(self.index.children.get(key, ()))

    def parent(self, span: Span | str) -> Span | None:
        """The parent span, or ``None`` for a root."""
        s = self._resolve(span)
        return self.index.get(s.parent_id) if s.parent_id is not None else None

    def ancestors(self, span: Span | str) -> list[Span]:
        """Ancestors from the parent up to the root."""
        out: list[Span] = []
        current = self.parent(span)
        seen: set[str] = set()
        while current is not None and current.span_id not in seen:
            seen.add(current.span_id)
            out.append(current)
            current = self.parent(current)
        return out

    def path(self, span: Span | str) -> list[Span]:
        """Spans from the root down to ``span`` (inclusive)."""
        s = self._resolve(span)
        return [*reversed(self.ancestors(s)), s]

    def path_str(self, span: Span | str) -> str:
        """``agent:orchestrator > delegation:coder > tool:edit_file``."""
        return " > ".join(f"{s.kind}:{s.name}" for s in self.path(span))

    def depth(self, span: Span | str) -> int:
        """0 for a root."""
        return self.index.depth.get(self._resolve(span).span_id, 0)

    def descendants(self, span: Span | str) -> list[Span]:
        """Every span below ``span`` in depth-first start order."""
        out: list[Span] = []
        stack = list(reversed(self.children(self._resolve(span))))
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self.index.children.get(current.span_id, ())))
        return out

    def walk(self) -> Iterator[tuple[Span, int]]:
        """Depth-first ``(span, depth)`` pairs over the whole forest."""
        children = self.index.children
        stack = [(root, 0) for root in reversed(self.index.roots)]
        while stack:
            span, depth = stack.pop()
            yield span, depth
            stack.extend((c, depth + 1) for c in reversed(children.get(span.span_id, ())))

    # -- queries -------------------------------------------------------------
    def find(
        self,
        kind: str | None = None,
        *,
        name: str | None = None,
        agent: str | None = None,
    ) -> list[Span]:
        """Spans matching every given criterion, in start order."""
        idx = self.index
        candidates: list[Span] | None = None
        for bucket in (
            idx.by_kind.get(kind, []) if kind is not None else None,
            idx.by_name.get(name, []) if name is not None else None,
            idx.by_agent.get(agent, []) if agent is not None else None,
        ):
            if bucket is not None and (candidates is None or len(bucket) < len(candidates)):
                candidates = bucket
        if candidates is None:
            return list(self.spans)
        return [
            s
            for s in candidates
            if (kind is None or s.kind == kind)
            and (name is None or s.name == name)
            and (agent is None or s.agent == agent)
        ]

    def select(self, selector: str) -> list[Span]:
        """Spans matching a selector (see :mod:`pytest_agenttrace.spec.selector`)."""
        from .spec.selector import select

        return select(self, selector)

    @property
    def agents(self) -> list[str]:
        """Agent names in order of first appearance."""
        return [a for a in self.index.by_agent if a is not None]

    @property
    def delegations(self) -> list[Span]:
        """Every ``delegation`` span in start order."""
        return list(self.index.by_kind.get("delegation", ()))

    def under_scope(self, scope_id: str) -> list[Span]:
        """Spans recorded under delegation ``scope_id`` (at any depth of nesting)."""
        return list(self.index.by_scope.get(scope_id, ()))

    def footprint(self, scope_id: str) -> Footprint:
        """Tools, memory keys, data sources and agents touched under ``scope_id``."""
        spans = self.under_scope(scope_id)

        def uniq(values: Iterable[Any]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(str(v) for v in values if v is not None))

        return Footprint(
            scope=scope_id,
            spans=tuple(spans),
            agents=uniq(s.agent for s in spans),
            tools=uniq(s.name for s in spans if s.kind == "tool"),
            memory_keys_read=uniq(s.attributes.get("key", s.name) for s in spans if s.kind == "memory_read"),
            memory_keys_written=uniq(s.attributes.get("key", s.name) for s in spans if s.kind == "memory_write"),
            data_sources=uniq(
                s.attributes.get("source", s.name)
                for s in spans
                if s.kind == "retrieval" or (s.kind == "tool" and "source" in s.attributes)
            ),
            llm_calls=sum(1 for s in spans if s.kind == "llm"),
        )

    # -- conversion ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The trace as a JSON-ready dict in the trace-file format."""
        return {
            "format_version": FORMAT_VERSION,
            "trace_id": self.trace_id,
            "name": self.name,
            "started_at": self.started_at,
            "metadata": self.metadata,
            "versions": self.versions,
            "spans": [s.to_dict() for s in self.spans],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        """Build a trace from a trace-file dict (no schema validation; see :mod:`store`).

        Span ids must be unique (every lookup by id relies on it): a repeated one raises
        :class:`~pytest_agenttrace.exceptions.TraceFileError` naming both spans.
        """
        spans = tuple(map(_span_from_mapping, data["spans"]))
        repeated = repeated_span_id(spans)
        if repeated is not None:
            first, again = repeated
            shown = spans[again].span_id
            raise TraceFileError(
                f"span #{again}: duplicate span_id {redact_text(shown)!r} (first at span #{first}); "
                "span ids must be unique in a trace."
                if type(shown) is str
                else f"span #{again}: duplicate span_id (first at span #{first}); span ids must be unique in a trace."
            )
        return cls._with_unique_ids(
            trace_id=data["trace_id"],
            name=data["name"],
            started_at=data["started_at"],
            metadata=dict(data.get("metadata") or {}),
            versions=dict(data.get("versions") or {}),
            spans=spans,
        )

    def _resolve(self, span: Span | str) -> Span:
        return span if isinstance(span, Span) else self.index.by_id[span]
