"""The trace index: every part equals a plain eager build, parts are built only when read."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace.model import KINDS, Span, Trace, TraceIndex
from pytest_agenttrace.spec import check_trace, parse_spec
from pytest_agenttrace.strategies import traces

from .spec_helpers import make_trace, node


def reference_index(spans: tuple[Span, ...]) -> dict[str, Any]:
    """Every part of the index built the plain way, in one eager pass (the semantics to keep)."""
    by_id: dict[str, Span] = {}
    order: dict[str, int] = {}
    by_kind: dict[str, list[Span]] = {}
    by_name: dict[str, list[Span]] = {}
    by_agent: dict[str | None, list[Span]] = {}
    by_scope: dict[str, list[Span]] = {}
    for position, span in enumerate(spans):
        by_id[span.span_id] = span
        order[span.span_id] = position
        by_kind.setdefault(span.kind, []).append(span)
        by_name.setdefault(span.name, []).append(span)
        by_agent.setdefault(span.agent, []).append(span)
        for scope_id in span.scope_path:
            by_scope.setdefault(scope_id, []).append(span)
    children: dict[str | None, list[Span]] = {}
    roots: list[Span] = []
    for span in spans:
        parent = span.parent_id if span.parent_id in by_id else None
        if parent is None:
            roots.append(span)
        children.setdefault(parent, []).append(span)
    depth: dict[str, int] = {}
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        span, level = stack.pop()
        depth[span.span_id] = level
        for child in reversed(children.get(span.span_id, ())):
            if child.span_id not in depth:
                stack.append((child, level + 1))
    return {
        "by_id": by_id,
        "order": order,
        "by_kind": by_kind,
        "by_name": by_name,
        "by_agent": by_agent,
        "by_scope": by_scope,
        "children": children,
        "roots": roots,
        "depth": depth,
    }


def identities(value: Any) -> Any:
    """``value`` with spans replaced by their identity, so that equal-valued spans stay apart."""
    if isinstance(value, dict):
        return {key: identities(item) for key, item in value.items()}
    if isinstance(value, list):
        return [identities(item) for item in value]
    if isinstance(value, Span):
        return id(value)
    return value


@st.composite
def span_lists(draw: st.DrawFn) -> tuple[Span, ...]:
    """Spans of a valid trace, optionally reordered, cut (unknown parents) or with a repeated id."""
    spans = list(draw(traces(max_spans=25)).spans)
    if spans and draw(st.booleans()):
        spans = draw(st.permutations(spans))
    if len(spans) > 2 and draw(st.booleans()):
        del spans[draw(st.integers(0, len(spans) - 1))]
    if len(spans) > 2 and draw(st.booleans()):
        copy_of = spans[draw(st.integers(0, len(spans) - 1))]
        spans.append(copy_of.replace(kind=draw(st.sampled_from(KINDS))))
    return tuple(spans)


@given(span_lists())
def test_every_part_equals_the_eager_build_in_any_order(spans: tuple[Span, ...]) -> None:
    """Built lazily and in any order, each part holds exactly what the one-pass build holds."""
    expected = reference_index(spans)
    forwards, backwards = TraceIndex(spans), TraceIndex(spans)
    for name in expected:
        assert identities(getattr(forwards, name)) == identities(expected[name]), name
    for name in reversed(list(expected)):
        assert identities(getattr(backwards, name)) == identities(expected[name]), name


@given(span_lists(), st.lists(st.sampled_from(KINDS), max_size=4))
def test_of_kinds_is_the_kinds_spans_in_trace_order_with_their_positions(
    spans: tuple[Span, ...], kinds: list[str]
) -> None:
    index = TraceIndex(spans)
    merged, positions = index.of_kinds_positioned(kinds)
    wanted = [position for position, span in enumerate(spans) if span.kind in kinds]
    assert list(positions) == wanted
    assert [id(span) for span in merged] == [id(spans[position]) for position in wanted]
    assert index.of_kinds(kinds) is merged or not merged


@given(span_lists(), st.sampled_from((None, *KINDS)), st.sampled_from(("name", "agent")), st.data())
def test_matching_is_the_filtered_bucket_whatever_was_built_before(
    spans: tuple[Span, ...], kind: str | None, field: str, data: st.DataObject
) -> None:
    values = [getattr(span, field) for span in spans if isinstance(getattr(span, field), str)]
    value = data.draw(st.sampled_from(values)) if values else "nobody"
    wanted = [id(s) for s in spans if (kind is None or s.kind == kind) and getattr(s, field) == value]
    fresh = TraceIndex(spans)
    assert [id(s) for s in fresh.matching(kind, field, value)] == wanted
    prebuilt = TraceIndex(spans)
    prebuilt.by_name  # noqa: B018 - the smaller bucket at hand takes another path
    prebuilt.by_agent  # noqa: B018
    assert [id(s) for s in prebuilt.matching(kind, field, value)] == wanted


def test_parts_are_built_on_first_use_only() -> None:
    trace = make_trace(node("agent", "coder", node("tool", "read_file")))
    index = trace.index
    assert index.built() == ()
    index.by_kind  # noqa: B018
    assert index.built() == ("by_kind",)
    index.roots  # noqa: B018 - the children lists need the id map
    assert set(index.built()) == {"by_kind", "by_id", "children"}


def test_checking_the_failure_modes_builds_no_tree_or_position_maps() -> None:
    """The detectors read kind buckets (and ids for links): no children, depths, scopes or position map."""
    trace = make_trace(
        node(
            "agent",
            "orchestrator",
            node("delegation", "coder", node("agent", "coder", node("tool", "edit_file")), allowed_tools=["edit_file"]),
            node("llm", "plan", links=["3"]),
        )
    )
    result = check_trace(trace, parse_spec("spec: fm\nextends: [failure-modes]\nrules: []\n"))
    assert result.passed
    assert not {"order", "children", "depth", "by_scope", "by_name", "by_agent"} & set(trace.index.built())


def test_a_matching_error_names_the_fields_it_supports() -> None:
    trace = Trace(trace_id="t", name="t", started_at="2026-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="'name' or 'agent'"):
        trace.index.matching("tool", "status", "ok")


@given(span_lists(), st.data())
def test_positions_of_gives_each_spans_place_in_the_trace_on_every_call(
    spans: tuple[Span, ...], data: st.DataObject
) -> None:
    """The first calls scan the trace, later ones read a map of every span: the answers are the same."""
    index = TraceIndex(spans)
    last = {id(span): position for position, span in enumerate(spans)}
    for _ in range(4):
        asked = data.draw(st.lists(st.sampled_from(spans), max_size=6)) if spans else []
        assert index.positions_of(asked) == {id(span): last[id(span)] for span in asked}


@given(span_lists(), st.sampled_from(KINDS), st.sampled_from(("name", "agent", "scope")))
def test_a_column_is_one_field_of_the_kinds_bucket_in_order(spans: tuple[Span, ...], kind: str, field: str) -> None:
    index = TraceIndex(spans)
    assert index.column(kind, field) == [getattr(s, field) for s in spans if s.kind == kind]
    assert index.column(kind, field) is index.column(kind, field)


def _probe_ids(spans: tuple[Span, ...]) -> list[Any]:
    """Every id of ``spans`` and ids that look like one: padded, out of range, other digits, not a string."""
    ids: list[Any] = [span.span_id for span in spans]
    return [*ids, *(f"0{i}" for i in ids), "0", "-1", str(len(spans) + 1), "\u0663", "1_0", " 1", "x", "", None, 3,
            "1" * 5000, "9" * 19]


@given(span_lists())
def test_get_is_the_id_maps_lookup(spans: tuple[Span, ...]) -> None:
    """With or without the hint that ids are unique (given only when they are), as ``by_id.get``."""
    expected = reference_index(spans)["by_id"]
    unique = len({span.span_id for span in spans}) == len(spans)
    for hinted in (False, True) if unique else (False,):
        index = TraceIndex(spans, unique_ids=hinted)
        for span_id in _probe_ids(spans):
            found = index.get(span_id)
            assert found is (expected.get(span_id) if isinstance(span_id, str) else None), span_id


@given(traces(max_spans=25))
def test_get_on_a_numbered_trace_builds_no_id_map(trace: Trace) -> None:
    """The recorder's numbering ("1", "2", ... in start order) is read from the positions."""
    spans = tuple(
        span.replace(span_id=str(n), parent_id=None, scope=None, scope_path=[], links=[])
        for n, span in enumerate(trace.spans, 1)
    )
    index = TraceIndex(spans, unique_ids=True)
    for span in spans:
        assert index.get(span.span_id) is span
    assert "by_id" not in index.built()
    assert index.get(str(len(spans) + 1)) is None


def test_recorded_and_loaded_traces_know_their_ids_are_unique(tmp_path: Any) -> None:
    from pytest_agenttrace.recorder import Recorder
    from pytest_agenttrace.store import load_trace, save_trace

    rec = Recorder("numbered")
    with rec, rec.agent("a"), rec.tool("t"):
        pass
    trace = rec.finish()
    assert trace.get_span("2") is trace.spans[1] and trace.parent(trace.spans[1]) is trace.spans[0]
    assert "by_id" not in trace.index.built()
    loaded = load_trace(save_trace(trace, tmp_path / "t.json"))
    assert loaded.get_span("2") is loaded.spans[1] and "by_id" not in loaded.index.built()


def test_a_trace_replaced_with_other_spans_gets_its_own_index() -> None:
    import dataclasses

    trace = make_trace(node("agent", "coder", node("tool", "read_file")))
    assert trace.get_span("2") is not None
    other = dataclasses.replace(trace, spans=trace.spans[:1])
    assert other.get_span("2") is None and other.index.spans == other.spans
