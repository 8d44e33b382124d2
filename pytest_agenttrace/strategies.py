"""Hypothesis strategies that generate valid traces, for property tests.

``traces()`` draws whole traces that satisfy every invariant a recorded trace
has: a forest whose spans are listed in start order, children inside their
parent's interval, ``agent`` inherited from the nearest ``agent`` span,
``scope``/``scope_path`` following the enclosing ``delegation`` spans,
reserved attributes on handoffs/delegations, JSON-ready values.  Every trace
it draws passes the trace-file JSON Schema.

Needs ``hypothesis`` (not a runtime dependency of the plugin)::

    from hypothesis import given
    from pytest_agenttrace.strategies import traces

    @given(traces(max_spans=40))
    def test_my_normaliser_is_idempotent(trace): ...
"""

from __future__ import annotations

from typing import Any, Final

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover
    from .exceptions import MissingExtraError

    raise MissingExtraError("pytest_agenttrace.strategies", "dev", "hypothesis") from exc

from .model import KINDS, Span, Trace
from .sanitize import is_secret_key, redact_text

__all__ = ["AGENT_NAMES", "TOOL_NAMES", "json_values", "span_names", "traces"]

AGENT_NAMES = ("orchestrator", "planner", "researcher", "coder", "tester", "reporter", "summarizer")
TOOL_NAMES = ("web_search", "read_file", "edit_file", "run_tests", "read_customer_db", "send_email")

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    # What redaction would change never reaches a trace.
    st.text(max_size=20).filter(lambda text: redact_text(text) == text),
)


def _clean_text(max_size: int) -> st.SearchStrategy[str]:
    """Non-empty text as a trace can hold it: nothing that redaction would change."""
    return st.text(min_size=1, max_size=max_size).filter(lambda text: redact_text(text) == text)


def _keys(max_size: int) -> st.SearchStrategy[str]:
    """Mapping keys as stored: a key naming a secret (``pwd``, ``token``, ...) only ever holds ``[REDACTED]``."""
    return st.text(min_size=1, max_size=max_size).filter(lambda key: not is_secret_key(key))


#: JSON values as the recorder stores them (string keys, finite floats, secrets redacted).
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_keys(8), children, max_size=4),
    ),
    max_leaves=8,
)


def span_names(kind: str) -> st.SearchStrategy[str]:
    """Plausible names for spans of ``kind``."""
    if kind in ("agent", "handoff", "delegation", "wait"):
        return st.sampled_from(AGENT_NAMES)
    if kind == "tool":
        return st.sampled_from(TOOL_NAMES)
    if kind in ("memory_read", "memory_write"):
        return st.sampled_from(("plan", "notes", "diff", "customer"))
    return st.sampled_from(("call", "step", "check", "fetch")) | _clean_text(10)


_NAME_TABLE = {
    "agent": AGENT_NAMES,
    "handoff": AGENT_NAMES,
    "delegation": AGENT_NAMES,
    "wait": AGENT_NAMES,
    "tool": TOOL_NAMES,
    "memory_read": ("plan", "notes", "diff", "customer"),
    "memory_write": ("plan", "notes", "diff", "customer"),
}
_OTHER_NAMES = ("call", "step", "check", "fetch")
_small_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(_keys(6), children, max_size=3)
    ),
    max_leaves=4,
)


@st.composite
def traces(
    draw: st.DrawFn,
    *,
    min_spans: int = 0,
    max_spans: int = 30,
    kinds: tuple[str, ...] = KINDS,
    dataflow: bool = False,
) -> Trace:
    """A valid trace of ``min_spans`` to ``max_spans`` spans drawn from ``kinds``.

    Shrinks towards flat forests of few spans.  Few primitive draws per span,
    so a 30-span trace costs milliseconds, not a tenth of a second.  A kind
    outside the trace format's kinds is a ``ValueError`` (its traces would not
    be valid).

    ``dataflow=True`` also draws what the lineage, memory and deadlock
    detectors read: ``links`` to spans that ended before a span started,
    memory keys with read and written versions (``key``, ``version``,
    ``based_on_version``, sometimes ``valid: false``), ``waiting_on`` on
    ``wait`` spans, and low ``confidence`` now and then.
    """
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"traces(kinds=...) takes span kinds of the trace format ({', '.join(KINDS)}), got {unknown or 'none'}")
    count = draw(st.integers(min_value=min_spans, max_value=max_spans))
    # Structure: a parent index per span (0 = a root); only earlier spans can be parents.
    raw_parents = draw(st.lists(st.integers(min_value=0, max_value=max(count, 1)), min_size=count, max_size=count))
    parents: list[int | None] = [None if i == 0 or r == 0 else (r - 1) % i for i, r in enumerate(raw_parents)]
    children: dict[int | None, list[int]] = {}
    for i, p in enumerate(parents):
        children.setdefault(p, []).append(i)
    kinds_of = draw(st.lists(st.sampled_from(kinds), min_size=count, max_size=count))
    name_picks = draw(st.lists(st.integers(min_value=0, max_value=7), min_size=count, max_size=count))
    odd_name = draw(_clean_text(10))
    names = []
    for kind, pick in zip(kinds_of, name_picks):
        table = _NAME_TABLE.get(kind, _OTHER_NAMES)
        names.append(odd_name if pick == 7 and kind not in _NAME_TABLE else table[pick % len(table)])

    # Times by depth-first walk: a span starts after its previous sibling ends and
    # ends after its last child; spans are then listed in start order.
    start: dict[int, int] = {}
    end: dict[int, int] = {}
    gaps = iter(draw(st.lists(st.integers(min_value=0, max_value=1000), min_size=2 * count, max_size=2 * count)))
    clock = 0
    stack: list[tuple[int, bool]] = [(root, False) for root in reversed(children.get(None, []))]
    while stack:
        i, leaving = stack.pop()
        clock += next(gaps)
        if leaving:
            end[i] = clock
            continue
        start[i] = clock
        stack.append((i, True))
        stack.extend((c, False) for c in reversed(children.get(i, [])))
    order = sorted(range(count), key=lambda i: (start[i], i))
    ids = {i: str(pos + 1) for pos, i in enumerate(order)}

    agent_of: dict[int, str | None] = {}
    scope_path_of: dict[int, list[str]] = {}
    for i in order:
        p = parents[i]
        inherited = agent_of[p] if p is not None else None
        agent_of[i] = names[i] if kinds_of[i] == "agent" else inherited
        if p is None:
            scope_path_of[i] = []
        elif kinds_of[p] == "delegation":
            scope_path_of[i] = [*scope_path_of[p], ids[p]]
        else:
            scope_path_of[i] = list(scope_path_of[p])

    stamps = draw(
        st.dictionaries(
            st.sampled_from(("prompt:planner", "prompt:coder", "config:tools")),
            st.sampled_from(("planner@v1#1a2b3c4d", "coder@v3#deadbeef", "tools#a1b2c3d4")),
            max_size=2,
        )
    )
    attribute_sets = draw(
        st.lists(
            st.dictionaries(st.sampled_from(("why", "confidence", "retries", "note")), _scalars, max_size=2),
            min_size=count,
            max_size=count,
        )
    )
    failures = draw(st.lists(st.integers(min_value=0, max_value=9), min_size=count, max_size=count))
    spans = []
    for i in order:
        kind = kinds_of[i]
        attributes: dict[str, Any] = dict(attribute_sets[i])
        context: dict[str, Any] | None = None
        if kind in ("handoff", "delegation"):
            attributes["from_agent"] = agent_of[i]
            attributes["to_agent"] = names[i]
            context = draw(
                st.dictionaries(st.sampled_from(("diff_summary", "confidence", "plan", "ticket")), _scalars, max_size=3)
            )
            if kind == "delegation" and failures[i] % 2 == 0:
                attributes["allowed_tools"] = draw(st.lists(st.sampled_from(TOOL_NAMES), unique=True, max_size=3))
        if kind == "llm":
            attributes["model"] = "fake-model"
        links: list[str] = []
        if dataflow:
            links, extra = _dataflow(draw, kind, start[i], [(ids[j], end[j]) for j in order], names)
            attributes.update(extra)
        failed = failures[i] == 9
        path = scope_path_of[i]
        parent = parents[i]
        spans.append(
            Span(
                span_id=ids[i],
                parent_id=ids[parent] if parent is not None else None,
                kind=kind,
                name=names[i],
                agent=agent_of[i],
                scope=path[-1] if path else None,
                scope_path=path,
                start_ns=start[i],
                end_ns=end[i],
                status="error" if failed else "ok",
                error={"type": "ValueError", "message": "boom"} if failed else None,
                input=draw(_small_json) if kind in ("tool", "llm") else None,
                output=draw(_small_json) if kind in ("tool", "llm") else None,
                attributes=attributes,
                versions=dict(stamps),
                context=context,
                links=links,
                events=[],
            )
        )
    return Trace(
        trace_id=draw(st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)),
        name="generated",
        started_at="2026-11-21T23:00:00Z",
        metadata={"generated": True},
        versions=dict(stamps),
        spans=tuple(spans),
    )


_MEMORY_KEYS: Final = ("notes", "plan", "summary")


def _dataflow(
    draw: st.DrawFn, kind: str, starts_at: int, ended: list[tuple[str, int]], names: list[str]
) -> tuple[list[str], dict[str, Any]]:
    """``(links, attributes)`` of one span for ``traces(dataflow=True)``."""
    earlier = [span_id for span_id, end_ns in ended if end_ns < starts_at]
    links = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
    attributes: dict[str, Any] = {}
    if kind in ("memory_read", "memory_write"):
        attributes["key"] = draw(st.sampled_from(_MEMORY_KEYS))
        attributes["version"] = draw(st.integers(min_value=0, max_value=3))
        if kind == "memory_write":
            attributes["based_on_version"] = draw(st.integers(min_value=0, max_value=3))
            if draw(st.integers(min_value=0, max_value=4)) == 0:
                attributes["valid"] = False
    elif kind == "wait":
        attributes["waiting_on"] = draw(st.sampled_from([*AGENT_NAMES[:3], *names[:2]]))
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        attributes["confidence"] = draw(st.sampled_from((0.1, 0.4, 0.9)))
    return links, attributes
