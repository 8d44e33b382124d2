"""The tree-aligned diff: alignment, leaf changes, counts, versions and its properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agenttrace.diff import MISSING, VersionChange, diff_normalized, diff_traces, version_changes
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.normalize import NormalizeOptions, normalize
from pytest_agenttrace.strategies import traces

from .helpers import insert_span, mutate, pipeline, span


def ops(result: Any) -> list[tuple[str, str]]:
    return [(c.op, c.path) for c in result.changes]


def test_identical_traces_have_an_empty_diff() -> None:
    result = diff_traces(pipeline(), pipeline())
    assert result.same and not result
    assert result.changes == () and result.counts == ()
    assert result.render() == ["no version stamp changed", "the span trees are the same"]


def test_one_changed_attribute_is_one_change_with_path_old_and_new() -> None:
    new = pipeline()
    new["spans"][4]["attributes"]["usage"]["input_tokens"] = 12
    result = diff_traces(pipeline(), new)
    assert [(c.op, c.path, c.field, c.old, c.new) for c in result.changes] == [
        (
            "changed",
            "agent:orchestrator > delegation:coder > agent:coder > llm:plan",
            "attributes.usage.input_tokens",
            10,
            12,
        )
    ]
    assert (
        "~ agent:orchestrator > delegation:coder > agent:coder > llm:plan: attributes.usage.input_tokens: 10 -> 12"
        in (result.render())
    )


def test_an_inserted_span_is_one_added_subtree_and_nothing_after_it_differs() -> None:
    new = pipeline()
    new["spans"].insert(4, span(9, 3, "tool", "read_file", "coder", scope="2", input={"path": "a.py"}))
    new["spans"].insert(5, span(10, 9, "custom", "parse", "coder", scope="2"))
    result = diff_traces(pipeline(), new)
    assert ops(result) == [("added", "agent:orchestrator > delegation:coder > agent:coder > tool:read_file")]
    assert result.changes[0].node is not None
    assert [c["name"] for c in result.changes[0].node["children"]] == ["parse"]
    lines = result.render()
    assert "+ agent:orchestrator > delegation:coder > agent:coder > tool:read_file" in lines
    assert '+   - tool read_file {"agent": "coder", "input": {"path": "a.py"}}' in lines
    assert '+     - custom parse {"agent": "coder"}' in lines


def test_a_removed_subtree_is_one_removal() -> None:
    new = pipeline()
    del new["spans"][1:5]  # the delegation with everything under it
    result = diff_traces(pipeline(), new)
    assert ops(result) == [("removed", "agent:orchestrator > delegation:coder")]


def test_repeated_tool_calls_are_added_spans_and_a_count_change() -> None:
    new = pipeline()
    for n in (11, 12):
        new["spans"].insert(4, span(n, 3, "tool", "web_search", "coder", scope="2", input={"q": f"bug {n}"}))
    result = diff_traces(pipeline(), new)
    assert [c.op for c in result.changes] == ["added", "added"]
    assert [c.describe() for c in result.counts] == ["tool web_search: 1 -> 3 calls under coder"]
    assert result.render()[1] == "tool web_search: 1 -> 3 calls under coder"


def test_reordered_siblings_are_moves() -> None:
    new = pipeline()
    new["spans"][3], new["spans"][4] = new["spans"][4], new["spans"][3]
    result = diff_traces(pipeline(), new)
    moved = [c for c in result.changes if c.op == "moved"]
    assert len(moved) == 1
    assert {c.op for c in result.changes} <= {"moved", "changed"}
    assert (moved[0].old_position, moved[0].new_position) in {(1, 2), (2, 1)}
    assert "moved from position" in "\n".join(result.render())


def test_a_renamed_span_is_a_removal_and_an_addition() -> None:
    new = pipeline()
    new["spans"][3]["name"] = "web_fetch"
    result = diff_traces(pipeline(), new)
    assert sorted(c.op for c in result.changes if c.op != "changed") == ["added", "removed"]


def test_missing_fields_are_reported_as_missing() -> None:
    new = pipeline()
    del new["spans"][4]["attributes"]["confidence"]
    new["spans"][5]["status"] = "error"
    new["spans"][5]["error"] = {"type": "Timeout", "message": "slow"}
    result = diff_traces(pipeline(), new)
    fields = {(c.field, c.old is MISSING, c.new is MISSING) for c in result.changes}
    assert ("attributes.confidence", False, True) in fields
    assert ("status", True, False) in fields
    assert "attributes.confidence: 0.8 -> (missing)" in "\n".join(result.render())
    as_json = result.to_dict(include_trees=False)
    removed = next(c for c in as_json["changes"] if c.get("field") == "attributes.confidence")
    assert "new" not in removed and removed["old"] == 0.8
    json.dumps(as_json)


def test_float_tolerance() -> None:
    new = pipeline()
    new["spans"][4]["attributes"]["confidence"] = 0.8000001
    assert not diff_traces(pipeline(), new).same
    assert diff_traces(pipeline(), new, float_tolerance=1e-3).same
    new["spans"][4]["attributes"]["confidence"] = 0.9
    assert not diff_traces(pipeline(), new, float_tolerance=1e-3).same


def test_version_changes_read_like_the_issue() -> None:
    old = {"prompt:summarizer": "summarizer@v3#1a2b3c4d", "config:tools": "tools#a1b2c3d4"}
    new = {
        "prompt:summarizer": "summarizer@v4#77aa00bb",
        "config:tools": "tools#9f8e7d6c",
        "prompt:planner": "planner@v1#00000000",
    }
    described = [v.describe() for v in version_changes(old, new)]
    assert described == [
        "config tools a1b2c3d4 -> 9f8e7d6c",
        "prompt planner (none) -> v1",
        "prompt summarizer v3 -> v4",
    ]
    same_label = VersionChange("prompt:summarizer", "summarizer@v3#1a2b3c4d", "summarizer@v3#99999999")
    assert same_label.describe() == "prompt summarizer summarizer@v3#1a2b3c4d -> summarizer@v3#99999999"


def test_versions_are_shown_first_but_do_not_make_a_difference() -> None:
    new = mutate(pipeline(), versions={"prompt:summarizer": "summarizer@v4#1a2b3c4d", "config:tools": "tools#a1b2c3d4"})
    result = diff_traces(pipeline(), new)
    assert result.same
    assert result.render()[0] == "prompt summarizer v3 -> v4"


def test_render_cuts_huge_diffs() -> None:
    new = pipeline()
    for n in range(20, 60):
        new["spans"].append(span(n, 6, "tool", f"t{n}", "reporter"))
    lines = diff_traces(pipeline(), new).render(max_lines=10)
    assert len(lines) == 11
    assert "more lines of diff" in lines[-1] and "agenttrace_diff_max_lines" in lines[-1]


def test_structured_diff_is_json_ready_and_carries_both_trees() -> None:
    new = pipeline()
    new["spans"][3]["output"] = {"hits": 3}
    d = diff_traces(pipeline(), new).to_dict(test="t::x")
    assert d["test"] == "t::x" and d["golden"]["spans"] and d["actual"]["spans"]
    assert d["changes"][0]["field"] == "output.hits"
    assert json.loads(json.dumps(d)) == d


def test_deep_chains_do_not_recurse() -> None:
    depth = 1500
    spans = [
        Span(span_id=str(i), parent_id=str(i - 1) if i else None, kind="custom", name="step") for i in range(depth)
    ]
    old = Trace(trace_id="a", name="a", started_at="x", spans=tuple(spans))
    changed = [*spans[:-1], spans[-1].replace(output="new")]
    new = Trace(trace_id="a", name="a", started_at="x", spans=tuple(changed))
    result = diff_traces(old, new)
    assert [(c.op, c.field) for c in result.changes] == [("changed", "output")]


# -- properties ------------------------------------------------------------------

def _one_value(value: Any) -> dict[str, Any]:
    """A normalised trace of one span whose attribute ``v`` is ``value``."""
    return {"level": "io", "versions": {}, "spans": [{"kind": "llm", "name": "x", "attributes": {"v": value}}]}


@pytest.mark.parametrize(
    ("old", "new", "tolerance", "same"),
    [
        (10, 10.5, 1, True),
        (10.5, 10, 1, True),
        (10, 11.0, 2, True),
        (1, 0.995, 0.01, True),
        (1, 0.98, 0.01, False),
        ([1, 2.0], [1.2, 2], 0.5, True),
        (True, 1.005, 0.01, False),  # a bool is not a number
        (True, 1, 0.0, False),  # nor equal to one: Python's True == 1 must not hide the change
        (0, False, 0.5, False),
        (1, 1.0, 0.0, True),  # an int and a float of one value
        (1715000000123456789, 1715000000123456700.0, 0.0, False),  # not rounded to one float
        (1715000000123456789, 1715000000123456700.0, 10.0, False),
        (1715000000123456789, 1715000000123456700.0, 100.0, True),
        (1.005, True, 0.01, False),
        (10**400, 1.0, 1.0, False),  # an int no float can hold
    ],
)
def test_float_tolerance_compares_an_int_and_a_float_by_value(old: Any, new: Any, tolerance: float, same: bool) -> None:
    result = diff_normalized(_one_value(old), _one_value(new), float_tolerance=tolerance)
    assert result.same is same
    if not same:
        assert [(c.field, c.old, c.new) for c in result.changes] == [("attributes.v", old, new)]


def test_a_bool_against_a_number_inside_a_list_is_a_change() -> None:
    # DeepDiff hashes list items, and hash(True) == hash(1): it called [True, 2] and [1, 2] the same.
    result = diff_normalized(_one_value([True, 2]), _one_value([1, 2]))
    assert [(c.field, c.old, c.new) for c in result.changes] == [("attributes.v[0]", True, 1)]
    reverse = diff_normalized(_one_value([1, 2]), _one_value([True, 2]))
    assert [(c.field, c.old, c.new) for c in reverse.changes] == [("attributes.v[0]", 1, True)]
    assert diff_normalized(_one_value([{"ok": False}]), _one_value([{"ok": 0}])).changes[0].old is False


_NUMBER = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(_NUMBER, _NUMBER, st.floats(0.0, 100.0).filter(bool))
def test_property_numbers_within_the_tolerance_are_the_same_int_or_float_and_the_diff_is_symmetric(
    a: float, b: float, tolerance: float
) -> None:
    forward = diff_normalized(_one_value(a), _one_value(b), float_tolerance=tolerance)
    backward = diff_normalized(_one_value(b), _one_value(a), float_tolerance=tolerance)
    assert backward == forward.mirror()
    if abs(a - b) <= tolerance:
        assert forward.same, (a, b, tolerance)
    elif abs(a - b) > tolerance * (1 + 1e-9) + 1e-9:  # clear of the rounding at the boundary
        assert not forward.same, (a, b, tolerance)


LEVELS = st.sampled_from(["structure", "io", "full"])


@settings(max_examples=30, deadline=None)
@given(traces(max_spans=20), LEVELS)
def test_property_diff_of_a_trace_with_itself_is_empty(trace: Trace, level: str) -> None:
    options = NormalizeOptions.build(level=level)
    result = diff_normalized(normalize(trace, options), normalize(trace, options))
    assert result.same and result.changes == () and result.counts == ()


@settings(max_examples=40, deadline=None)
@given(traces(max_spans=15), traces(max_spans=15))
def test_property_diff_a_b_mirrors_diff_b_a(a: Trace, b: Trace) -> None:
    na, nb = normalize(a), normalize(b)
    forward, backward = diff_normalized(na, nb), diff_normalized(nb, na)
    assert backward == forward.mirror()
    assert backward.mirror() == forward


@settings(max_examples=40, deadline=None)
@given(traces(max_spans=20), st.data())
def test_property_diff_mirrors_for_small_edits(trace: Trace, data: st.DataObject) -> None:
    spans = list(trace.spans)
    if spans:
        victim = data.draw(st.integers(0, len(spans) - 1))
        if data.draw(st.booleans()):
            spans[victim] = spans[victim].replace(output={"edited": True})
        else:
            spans.pop(victim)  # its children become roots
    if len(spans) > 2 and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(spans) - 2))
        spans[i], spans[i + 1] = spans[i + 1], spans[i]
    other = Trace(trace_id="b", name="b", started_at="x", spans=tuple(spans))
    na, nb = normalize(trace), normalize(other)
    assert diff_normalized(nb, na) == diff_normalized(na, nb).mirror()


@settings(max_examples=40, deadline=None)
@given(traces(max_spans=20), st.data())
def test_property_one_inserted_span_is_exactly_one_added_subtree(trace: Trace, data: st.DataObject) -> None:
    parents = [None, *(s.span_id for s in trace.spans)]
    parent = data.draw(st.sampled_from(parents))
    position = data.draw(st.integers(0, len(trace.children(parent))))
    unique = data.draw(st.booleans())
    kind = data.draw(st.sampled_from(["tool", "llm", "agent", "memory_read"]))
    name = "inserted-span" if unique else data.draw(st.sampled_from(["web_search", "plan", "coder", "orchestrator"]))
    new_span = Span(span_id="new-span", parent_id=parent, kind=kind, name=name, output={"x": 1})
    inserted = insert_span(trace, parent, position, new_span)
    result = diff_traces(trace, inserted)
    added = [c for c in result.changes if c.op == "added"]
    assert len(added) == 1
    assert added[0].node is not None and added[0].node["name"] == name
    others = [c for c in result.changes if c.op != "added"]
    if unique:
        assert others == []
    else:
        # Only references may shift: the N-th span of the same kind and name is now the (N+1)-th.
        assert all(
            c.op == "changed" and c.field and c.field.split(".")[0].split("[")[0] in ("links", "scope") for c in others
        ), others


@pytest.mark.parametrize("level", ["structure", "io", "full"])
def test_level_changes_what_counts_as_a_difference(level: str) -> None:
    new = pipeline()
    new["spans"][3]["output"] = {"hits": 99}
    result = diff_traces(pipeline(), new, NormalizeOptions.build(level=level))
    assert result.same is (level == "structure")


def _trace(*spans: Span) -> Trace:
    return Trace(trace_id="t", name="t", started_at="x", spans=spans)


def test_a_copy_of_a_repeated_call_inserted_before_it_is_one_added_span() -> None:
    # Found by the property above: the key alone paired the new call with the old one (a change
    # to its output and a lost child) and reported the old one as added.
    old = _trace(
        Span(span_id="1", parent_id=None, kind="tool", name="web_search"),
        Span(span_id="2", parent_id="1", kind="agent", name="orchestrator", agent="orchestrator"),
    )
    new = _trace(
        Span(span_id="0", parent_id=None, kind="tool", name="web_search", output={"x": 1}),
        Span(span_id="1", parent_id=None, kind="tool", name="web_search"),
        Span(span_id="2", parent_id="1", kind="agent", name="orchestrator", agent="orchestrator"),
    )
    result = diff_traces(old, new)
    assert [(c.op, c.new_path) for c in result.changes] == [("added", "tool:web_search[1]")]
    assert diff_traces(new, old).changes == result.mirror().changes


def test_one_of_several_repeated_calls_changed_is_one_change_not_an_add_and_a_remove() -> None:
    calls = [Span(span_id=str(n), parent_id=None, kind="tool", name="web_search", output=n) for n in range(4)]
    edited = [*calls[:2], calls[2].replace(output="edited"), calls[3]]
    result = diff_traces(_trace(*calls), _trace(*edited))
    assert [(c.op, c.old_path, c.field, c.old, c.new) for c in result.changes] == [
        ("changed", "tool:web_search[3]", "output", 2, "edited")
    ]


def _tools(*items: tuple[str, Any]) -> Trace:
    return _trace(
        *(
            Span(span_id=str(n), parent_id=None, kind="tool", name=name, output=out)
            for n, (name, out) in enumerate(items)
        )
    )


def _ops(result: Any) -> list[tuple[str, Any, Any]]:
    return [(c.op, c.old_path, c.field) for c in result.changes]


def test_a_reordered_and_changed_unique_span_is_a_move_and_a_change() -> None:
    result = diff_traces(_tools(("t", 1), ("u", 1)), _tools(("u", 1), ("t", 2)))
    assert sorted(_ops(result)) == [("changed", "tool:t", "output"), ("moved", "tool:u", None)]


def test_a_changed_repeated_span_that_moved_across_an_anchor_is_still_paired() -> None:
    result = diff_traces(_tools(("t", 1), ("u", 0), ("t", 2)), _tools(("u", 0), ("t", 11), ("t", 2)))
    ops = _ops(result)
    assert ("changed", "tool:t[1]", "output") in ops
    assert not any(op in ("added", "removed") for op, _, _ in ops), ops


def test_repeated_spans_with_keys_json_cannot_sort_fall_back_to_the_keys() -> None:
    same = Span(span_id="1", parent_id=None, kind="tool", name="t", output={1: "a", "b": 2})
    twin = same.replace(span_id="2")
    old = _trace(same, twin, Span(span_id="3", parent_id=None, kind="llm", name="x", output=1))
    new = _trace(same, twin, Span(span_id="3", parent_id=None, kind="llm", name="x", output=2))
    assert _ops(diff_traces(old, new)) == [("changed", "llm:x", "output")]


def test_fields_deepdiff_cannot_walk_are_reported_whole_not_raised() -> None:
    mixed_keys = _tools(("t", {1: "a", "b": 2}))
    changed = _tools(("t", {1: "a", "b": 3}))
    assert _ops(diff_traces(mixed_keys, changed)) == [("changed", "tool:t", "output")]
    deep_a: Any = "a"
    deep_b: Any = "b"
    for _ in range(5000):
        deep_a, deep_b = [deep_a], [deep_b]
    assert _ops(diff_traces(_tools(("t", deep_a)), _tools(("t", deep_b)))) == [("changed", "tool:t", "output")]


def test_a_span_that_keeps_its_position_is_not_reported_as_moved() -> None:
    result = diff_traces(_tools(("s", 1), ("u", 0), ("s", 2)), _tools(("s", 2), ("u", 0), ("s", 1)))
    assert not any(c.op == "moved" and c.old_position == c.new_position for c in result.changes)
    assert ("moved", "tool:u", None) not in _ops(result)


def test_long_sibling_lists_are_aligned_on_keys_alone_and_still_exact() -> None:
    calls = [("t", n) for n in range(3000)]
    edited = [*calls[:1500], ("t", "edited"), *calls[1501:]]
    assert _ops(diff_traces(_tools(*calls), _tools(*edited))) == [("changed", "tool:t[1501]", "output")]
