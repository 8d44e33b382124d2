"""Each rule kind's semantics (design, *Specs*), on small realistic traces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agenttrace.model import Trace
from pytest_agenttrace.spec import Violation, parse_spec
from pytest_agenttrace.spec.rules import _SEQUENCE_MODES

from .spec_helpers import make_trace, node, pipeline_trace


def run(trace: Trace, rule_yaml: str) -> list[Violation]:
    """Violations of a one-rule spec (``rule_yaml`` is the rule's body after ``- id: r``)."""
    spec = parse_spec(f"rules:\n  - id: r\n    {rule_yaml}\n")
    [rule] = spec.rules
    return rule.check(trace) if rule.applies(trace) else []


def span_ids(violations: list[Violation]) -> list[tuple[str, ...]]:
    return [v.spans for v in violations]


# -- handoff -------------------------------------------------------------------------------


def test_handoff_passes_when_every_key_is_handed_over(pipeline: Trace) -> None:
    assert run(pipeline, "handoff: {to: tester, requires: [diff_summary, confidence]}") == []


def test_handoff_one_violation_per_missing_key_per_span(pipeline: Trace) -> None:
    violations = run(pipeline, "handoff: {to: tester, requires: [diff_summary, risk, owner]}")
    assert span_ids(violations) == [("9",), ("9",)]
    assert [v.details["missing_key"] for v in violations] == ["risk", "owner"]
    assert "does not hand over 'risk'" in violations[0].message
    assert violations[0].found == "'risk' is missing; keys handed over: diff_summary, confidence"
    assert violations[0].kind == "handoff" and violations[0].rule == "r"


def test_handoff_covers_delegations_and_null_values() -> None:
    trace = make_trace(
        node(
            "agent",
            "lead",
            node("delegation", "d", from_agent="lead", to_agent="coder", context={"task": None}),
            node("handoff", "h", from_agent="lead", to_agent="coder"),
        )
    )
    violations = run(trace, "handoff: {to: coder, requires: [task]}")
    assert span_ids(violations) == [("2",), ("3",)]
    assert violations[0].found == "'task' is null"
    assert violations[1].found == "no context was handed over"


def test_handoff_globs_on_to_and_from(pipeline: Trace) -> None:
    assert len(run(pipeline, "handoff: {to: 'te*', requires: [nope]}")) == 1
    assert len(run(pipeline, "handoff: {to: '*', requires: [nope]}")) == 2  # the delegation and the handoff
    assert run(pipeline, "handoff: {to: '*', from: planner, requires: [nope]}") == []
    assert len(run(pipeline, "handoff: {to: '*', from: 'orch*', requires: [nope]}")) == 2


def test_handoff_dotted_keys_reach_inside_context() -> None:
    trace = make_trace(node("handoff", "h", to_agent="b", context={"plan": {"steps": [1]}}))
    assert run(trace, "handoff: {to: b, requires: [plan.steps]}") == []
    assert len(run(trace, "handoff: {to: b, requires: [plan.owner]}")) == 1


def test_handoff_a_dotted_key_present_but_null_is_reported_as_null() -> None:
    trace = make_trace(node("handoff", "h", to_agent="b", context={"plan": {"steps": None}}))
    [violation] = run(trace, "handoff: {to: b, requires: [plan.steps]}")
    assert violation.found == "'plan.steps' is null"
    [violation] = run(trace, "handoff: {to: b, requires: [plan.owner]}")
    assert violation.found == "'plan.owner' is missing; keys handed over: plan"


def test_no_matching_handoff_passes_unless_required(pipeline: Trace) -> None:
    assert run(pipeline, "handoff: {to: auditor, requires: [x]}") == []
    [violation] = run(pipeline, "handoff: {to: auditor, requires: [x], required: true}")
    assert "no handoff or delegation to 'auditor'" in violation.message
    assert violation.spans == ()


# -- scope ---------------------------------------------------------------------------------


def test_scope_tool_only_agents(pipeline: Trace) -> None:
    assert run(pipeline, "scope: {tool: run_tests, only_agents: [coder, tester]}") == []
    violations = run(pipeline, "scope: {tool: run_tests, only_agents: [tester]}")
    assert span_ids(violations) == [("7",)]
    assert "called by agent 'coder'" in violations[0].message


def test_scope_tool_glob_and_agent_globs(pipeline: Trace) -> None:
    assert span_ids(run(pipeline, "scope: {tool: '*_file', only_agents: [tester]}")) == [("5",), ("6",)]
    assert run(pipeline, "scope: {tool: '*', only_agents: ['*er']}") == []


def test_scope_unattributed_tool_is_outside_every_agent_list() -> None:
    trace = make_trace(node("tool", "web_search"))
    [violation] = run(trace, "scope: {tool: web_search, only_agents: [researcher]}")
    assert "called by no agent" in violation.message


@pytest.mark.parametrize("patterns", ["['*']", "['*', researcher]", "['?*']"])
def test_scope_tool_span_with_no_agent_fails_even_a_star_list(patterns: str) -> None:
    trace = make_trace(node("tool", "web_search"), node("agent", "researcher", node("tool", "web_search")))
    [violation] = run(trace, f"scope: {{tool: web_search, only_agents: {patterns}}}")
    assert violation.spans == ("1",) and "called by no agent" in violation.message


def test_scope_agent_star_does_not_take_in_a_tool_span_with_no_agent() -> None:
    trace = make_trace(node("tool", "drop_table"), node("agent", "coder", node("tool", "drop_table")))
    assert span_ids(run(trace, "scope: {agent: '*', allow_tools: [read_file]}")) == [("3",)]
    assert run(trace, "scope: {agent: '*', allow_tools: [drop_table]}") == []


def test_scope_agent_allow_tools(pipeline: Trace) -> None:
    assert run(pipeline, "scope: {agent: coder, allow_tools: [read_file, edit_file, run_tests]}") == []
    violations = run(pipeline, "scope: {agent: coder, allow_tools: ['read_*']}")
    assert span_ids(violations) == [("6",), ("7",)]
    assert "may not call 'edit_file'" in violations[0].message
    assert span_ids(run(pipeline, "scope: {agent: '*', allow_tools: [run_tests]}")) == [("5",), ("6",)]
    assert len(run(pipeline, "scope: {agent: tester, allow_tools: []}")) == 1


# -- forbid --------------------------------------------------------------------------------


def test_forbid_each_match_is_a_violation(pipeline: Trace) -> None:
    assert run(pipeline, 'forbid: "tool[name=delete_repo]"') == []
    violations = run(pipeline, 'forbid: "delegation[to_agent=coder] tool"')
    assert span_ids(violations) == [("5",), ("6",), ("7",)]
    assert "matches `delegation[to_agent=coder] tool`" in violations[0].message


# -- order ---------------------------------------------------------------------------------


def test_order_then_after_the_end_of_some_first(pipeline: Trace) -> None:
    assert run(pipeline, 'order: {first: "tool[name=run_tests]", then: "llm[name=report]"}') == []
    violations = run(pipeline, 'order: {first: "tool[name=run_tests]", then: llm}')
    assert span_ids(violations) == [("2",)]  # the plan ran before any tests had run
    assert "ran before any `tool[name=run_tests]` had finished" in violations[0].message


def test_order_then_matching_nothing_passes(pipeline: Trace) -> None:
    assert run(pipeline, 'order: {first: "tool[name=nope]", then: "llm[name=nope]"}') == []


def test_order_first_matching_nothing_fails_every_then(pipeline: Trace) -> None:
    violations = run(pipeline, 'order: {first: "tool[name=lint]", then: "llm[name=report]"}')
    assert span_ids(violations) == [("12",)]
    assert "no span matches `tool[name=lint]` at all" in violations[0].found


def test_order_starting_exactly_at_the_end_is_after() -> None:
    trace = make_trace(
        node("tool", "a", start_ns=0, end_ns=10),
        node("tool", "b", start_ns=10, end_ns=20),
    )
    assert run(trace, 'order: {first: "tool[name=a]", then: "tool[name=b]"}') == []


def test_order_with_an_end_time_beyond_float_range_reports_the_violation() -> None:
    trace = make_trace(
        node("tool", "a", start_ns=0, end_ns=10**400),
        node("tool", "b", start_ns=10, end_ns=20),
    )
    [violation] = run(trace, 'order: {first: "tool[name=a]", then: "tool[name=b]"}')
    assert violation.found.endswith("the earliest `tool[name=a]` ended at 1e400ns")


# -- sequence ------------------------------------------------------------------------------

CODER = '"agent[name=coder] > tool"'  # read_file, edit_file, run_tests

SEQUENCES = [
    ("exact", "[read_file, edit_file, run_tests]", True),
    ("exact", "[read_file, run_tests]", False),
    ("exact", "[read_file, edit_file, run_tests, commit]", False),
    ("exact", "[read_file, edit_file]", False),
    ("in_order", "[read_file, run_tests]", True),
    ("in_order", "[read_file, edit_file, run_tests]", True),
    ("in_order", "[run_tests, read_file]", False),
    ("in_order", "[read_file, commit]", False),
    ("same_set", "[run_tests, edit_file, read_file]", True),
    ("same_set", "[run_tests, edit_file, read_file, read_file]", True),
    ("same_set", "[run_tests, edit_file]", False),
    ("same_set", "[run_tests, edit_file, read_file, commit]", False),
    ("contains", "[run_tests, read_file]", True),
    ("contains", "[commit]", False),
]


@pytest.mark.parametrize(("mode", "steps", "holds"), SEQUENCES)
def test_sequence_modes(pipeline: Trace, mode: str, steps: str, holds: bool) -> None:
    violations = run(pipeline, f"sequence: {{select: {CODER}, mode: {mode}, steps: {steps}}}")
    assert (violations == []) is holds
    if violations:
        assert violations[0].found == "read_file, edit_file, run_tests"
        assert violations[0].details["names"] == ["read_file", "edit_file", "run_tests"]


def test_sequence_default_mode_is_exact(pipeline: Trace) -> None:
    assert run(pipeline, f"sequence: {{select: {CODER}, steps: [read_file, edit_file, run_tests]}}") == []
    assert run(pipeline, f"sequence: {{select: {CODER}, steps: [read_file, run_tests]}}") != []


def test_sequence_messages_point_at_the_divergence(pipeline: Trace) -> None:
    [v] = run(pipeline, f"sequence: {{select: {CODER}, mode: exact, steps: [read_file, run_tests, edit_file]}}")
    assert "step 2 is 'edit_file', expected 'run_tests'" in v.message
    assert v.spans == ("6",)
    [v] = run(pipeline, f"sequence: {{select: {CODER}, mode: in_order, steps: [read_file, run_tests, edit_file]}}")
    assert "step 3 'edit_file' does not appear after 'run_tests'" in v.message
    [v] = run(pipeline, f"sequence: {{select: {CODER}, mode: same_set, steps: [read_file, commit]}}")
    assert "missing commit" in v.message and "unexpected edit_file, run_tests" in v.message
    [v] = run(pipeline, "sequence: {select: 'tool[name=nope]', mode: contains, steps: [a]}")
    assert v.found == "no span matches the selector"


class _CountedNames(list[str]):
    """A list of names that counts how often it is read in full."""

    reads = 0

    def __iter__(self) -> Iterator[str]:
        type(self).reads += 1
        return super().__iter__()


@pytest.mark.parametrize("mode", ["exact", "in_order", "same_set", "contains"])
def test_sequence_modes_read_the_names_a_bounded_number_of_times_whatever_the_steps(mode: str) -> None:
    # O(steps + spans): the names are read a fixed number of times, not once per step.
    names = _CountedNames(["a", "b", "c"] * 10)
    steps = [f"s{i}" for i in range(200)] + ["a", "b", "c"]
    _CountedNames.reads = 0
    _SEQUENCE_MODES[mode](names, steps)
    assert _CountedNames.reads <= 3


# -- expect --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "holds"),
    [
        ("{exactly: 3}", True),
        ("{exactly: 2}", False),
        ("{min: 3}", True),
        ("{min: 4}", False),
        ("{max: 3}", True),
        ("{max: 2}", False),
        ("{min: 1, max: 5}", True),
    ],
)
def test_expect_count(pipeline: Trace, count: str, holds: bool) -> None:
    assert (run(pipeline, f"expect: {{select: llm, count: {count}}}") == []) is holds


def test_expect_count_max_points_at_the_extra_spans(pipeline: Trace) -> None:
    [v] = run(pipeline, "expect: {select: llm, count: {max: 1}}")
    assert v.spans == ("8", "12")
    assert v.message == "3 spans match `llm`; expected at most 1"


def test_expect_all_every_span_every_expression(pipeline: Trace) -> None:
    assert (
        run(pipeline, "expect: {select: llm, all: ['duration < 30s', 'attributes.usage.input_tokens < 100000']}") == []
    )
    violations = run(pipeline, "expect: {select: llm, all: ['attributes.usage.input_tokens < 1000']}")
    assert span_ids(violations) == [("8",)]
    assert "1200" in violations[0].found


def test_expect_missing_value_is_false_and_says_missing(pipeline: Trace) -> None:
    violations = run(pipeline, "expect: {select: tool, all: ['attributes.latency_ms < 100']}")
    assert len(violations) == 4
    assert all("missing" in v.found for v in violations)


def test_expect_any_needs_one_span_satisfying_all_its_expressions(pipeline: Trace) -> None:
    assert (
        run(pipeline, "expect: {select: llm, any: ['name == \"report\"', 'attributes.usage.output_tokens > 200']}")
        == []
    )
    [v] = run(pipeline, "expect: {select: llm, any: ['name == \"report\"', 'attributes.usage.output_tokens > 500']}")
    assert "no span matching `llm` satisfies" in v.message


def test_expect_none_no_span_satisfies_any_expression(pipeline: Trace) -> None:
    assert run(pipeline, "expect: {select: tool, none: ['status == \"error\"']}") == []
    violations = run(pipeline, "expect: {select: tool, none: ['name == \"run_tests\"', 'name == \"read_file\"']}")
    assert span_ids(violations) == [("5",), ("7",), ("11",)]


def test_expect_on_an_empty_selection(pipeline: Trace) -> None:
    # all/none hold on an empty selection, any does not; count is explicit.
    assert run(pipeline, "expect: {select: retrieval, all: ['duration > 100m']}") == []
    assert run(pipeline, "expect: {select: retrieval, none: ['duration > 0ns']}") == []
    [v] = run(pipeline, "expect: {select: retrieval, any: ['duration > 0ns']}")
    assert v.found == "no span matches `retrieval`"
    [v] = run(pipeline, "expect: {select: retrieval, count: {min: 1}}")
    assert v.message == "0 spans match `retrieval`; expected at least 1"


# -- when ----------------------------------------------------------------------------------


def test_when_guard_skips_the_rule_when_it_selects_nothing(pipeline: Trace) -> None:
    assert run(pipeline, "when: retrieval\n    expect: {select: llm, count: {max: 0}}") == []
    assert len(run(pipeline, "when: 'agent[name=coder]'\n    expect: {select: llm, count: {max: 0}}")) == 1


# -- detect --------------------------------------------------------------------------------


def retry_trace(calls: int) -> Trace:
    return make_trace(
        node("agent", "researcher", *[node("tool", "web_search", input={"q": "prices"}) for _ in range(calls)])
    )


def test_detect_turns_findings_into_violations() -> None:
    assert run(retry_trace(3), "detect: retry_storm") == []
    [v] = run(retry_trace(5), "detect: retry_storm")
    assert v.kind == "detect" and v.details["detector"] == "retry_storm"
    assert set(v.spans) <= {"2", "3", "4", "5", "6"} and v.spans
    assert v.expected and v.found and v.message


def test_detect_with_parameters() -> None:
    assert run(retry_trace(5), "detect: retry_storm\n    with: {max_repeats: 5}") == []


def test_detect_chain_is_carried_over() -> None:
    trace = make_trace(
        node(
            "agent",
            "orchestrator",
            node("tool", "fetch", status="error", error={"type": "Timeout", "message": "slow"}),
            node("llm", "analyze", links=["2"]),
        )
    )
    [v] = run(trace, "detect: cascading_error")
    assert v.chain[0] == "2" and "3" in v.chain


# -- to_dict -------------------------------------------------------------------------------


def test_rule_to_dict_shows_the_rule_as_written() -> None:
    spec = parse_spec(
        "rules:\n  - id: r\n    description: d\n    when: llm\n    detect: retry_storm\n    with: {max_repeats: 4}\n"
    )
    out: dict[str, Any] = spec.rule("r").to_dict()
    assert out == {
        "id": "r",
        "kind": "detect",
        "description": "d",
        "when": "llm",
        "detect": "retry_storm",
        "with": {"max_repeats": 4},
    }


def test_pipeline_trace_is_clean_against_every_pack() -> None:
    spec = parse_spec("extends: [failure-modes, delegation-hygiene, memory-safety]\n")
    trace = pipeline_trace()
    violations = [v for rule in spec.rules if rule.applies(trace) for v in rule.check(trace)]
    assert violations == []


# -- properties ----------------------------------------------------------------------------

_NAMES = st.sampled_from(["a", "b", "c", "d"])


def _tools_trace(names: list[str]) -> Trace:
    return make_trace(node("agent", "worker", *[node("tool", n) for n in names]))


def _is_subsequence(steps: list[str], names: list[str]) -> bool:
    it = iter(names)
    return all(step in it for step in steps)


@settings(max_examples=150, deadline=None)
@given(names=st.lists(_NAMES, max_size=8), steps=st.lists(_NAMES, min_size=1, max_size=4))
def test_property_sequence_modes_match_their_definitions(names: list[str], steps: list[str]) -> None:
    trace = _tools_trace(names)
    reference = {
        "exact": names == steps,
        "in_order": _is_subsequence(steps, names),
        "same_set": set(names) == set(steps),
        "contains": set(steps) <= set(names),
    }
    for mode, holds in reference.items():
        violations = run(trace, f"sequence: {{select: 'agent > tool', mode: {mode}, steps: [{', '.join(steps)}]}}")
        assert (violations == []) is holds, (mode, names, steps)


@settings(max_examples=150, deadline=None)
@given(
    intervals=st.lists(
        st.tuples(st.sampled_from(["first", "then", "other"]), st.integers(0, 50), st.integers(0, 20)),
        max_size=10,
    )
)
def test_property_order_flags_exactly_the_then_spans_without_an_earlier_first(
    intervals: list[tuple[str, int, int]],
) -> None:
    nodes = [node("tool", name, start_ns=start, end_ns=start + length) for name, start, length in intervals]
    trace = make_trace(*nodes)
    firsts = [s for s in trace.spans if s.name == "first"]
    expected = [
        (s.span_id,) for s in trace.spans if s.name == "then" and not any(f.end_ns <= s.start_ns for f in firsts)
    ]
    assert span_ids(run(trace, "order: {first: 'tool[name=first]', then: 'tool[name=then]'}")) == expected


@settings(max_examples=100, deadline=None)
@given(durations=st.lists(st.integers(1, 100), max_size=8), limit=st.integers(1, 100))
def test_property_expect_all_any_none_match_their_definitions(durations: list[int], limit: int) -> None:
    trace = make_trace(
        *[node("llm", "call", start_ns=10_000 * i, end_ns=10_000 * i + d) for i, d in enumerate(durations)]
    )
    fast = [d < limit for d in durations]
    expr = f"duration < {limit}ns"
    assert (run(trace, f"expect: {{select: llm, all: ['{expr}']}}") == []) is all(fast)
    assert (run(trace, f"expect: {{select: llm, any: ['{expr}']}}") == []) is any(fast)
    assert (run(trace, f"expect: {{select: llm, none: ['{expr}']}}") == []) is (not any(fast))
    assert len(run(trace, f"expect: {{select: llm, all: ['{expr}']}}")) == fast.count(False)
