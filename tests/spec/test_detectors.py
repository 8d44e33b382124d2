"""The ten failure-mode detectors: each fires on a planted failure and stays quiet on its near miss."""

from __future__ import annotations

import functools
import itertools
import json
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from adapters import corpora  # the corpora locations, shared with the importer tests
from hypothesis import given, settings
from hypothesis import strategies as st

import pytest_agenttrace as at
from pytest_agenttrace.exceptions import SpecError
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.spec.detectors import DETECTORS, Finding, detector_param_schema, run_detector
from pytest_agenttrace.spec.detectors._registry import duration_text
from pytest_agenttrace.strategies import traces as dataflow_traces

from . import detector_traces as planted
from .detector_traces import MS, TraceBuilder


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [f.message for f in findings]
    return findings[0]


# -- the registry ---------------------------------------------------------------------


def test_the_ten_detectors_of_the_design_are_registered_in_its_order() -> None:
    assert list(DETECTORS) == [
        "handoff_context_loss",
        "out_of_scope_tool",
        "unattributed_action",
        "retry_storm",
        "tool_loop",
        "deadlock",
        "context_collapse",
        "cascading_error",
        "context_pollution",
        "lost_update",
    ]


@pytest.mark.parametrize(
    ("name", "defaults"),
    [
        ("retry_storm", {"max_repeats": 3}),
        ("tool_loop", {"min_cycles": 3, "max_period": 4}),
        ("cascading_error", {"min_confidence": 0.5}),
        ("context_pollution", {"min_confidence": 0.5}),
        ("context_collapse", {"keys": None}),
    ],
)
def test_contract_defaults(name: str, defaults: dict[str, Any]) -> None:
    info = DETECTORS[name]
    assert {k: info.params[k].default for k in defaults} == defaults


@pytest.mark.parametrize("name", list(DETECTORS))
def test_every_detector_is_quiet_on_an_empty_trace_and_documented(name: str) -> None:
    trace = Trace(trace_id="t", name="empty", started_at="2026-11-21T23:00:00Z")
    assert run_detector(name, trace) == []
    info = DETECTORS[name]
    assert info.description and info.run.__doc__
    assert all(spec.description for spec in info.params.values())


@pytest.mark.parametrize("name", list(DETECTORS))
def test_param_schema_accepts_the_defaults_and_rejects_unknown_keys(name: str) -> None:
    schema = detector_param_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in DETECTORS[name].defaults().items()}
    jsonschema.validate(defaults, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"no_such_param": 1}, schema)


@pytest.mark.parametrize(
    ("name", "params", "fragments"),
    [
        ("retry_storm", {"max_repeat": 3}, ["no parameter 'max_repeat'", "did you mean 'max_repeats'", "match"]),
        ("retry_storm", {"max_repeats": "three"}, ["'max_repeats'", "must be an integer", "'three' (string)"]),
        ("retry_storm", {"max_repeats": True}, ["must be an integer", "True (boolean)"]),
        ("retry_storm", {"max_repeats": 0}, ["must be at least 1"]),
        ("retry_storm", {"max_repeats": None}, ["must be an integer, got null"]),
        ("retry_storm", {"match": ["agent", "nmae"]}, ["does not accept 'nmae'", "did you mean 'name'"]),
        ("retry_storm", {"match": "agent"}, ["must be a list of strings"]),
        ("tool_loop", {"match": []}, ["'match'", "must list at least 1 item(s), got []"]),
        ("tool_loop", {"per": "team"}, ["does not accept 'team'", "agent, scope, trace"]),
        ("cascading_error", {"min_confidence": "low"}, ["must be a number"]),
        ("context_collapse", {"keys": "confidence"}, ["must be a list of strings or null"]),
        ("deadlock", {"timeout": 5}, ["no parameter 'timeout'", "valid parameters: none"]),
        ("lost_update", ["ignore_keys"], ["must be a mapping"]),
        ("retry_strom", {}, ["unknown detector 'retry_strom'", "did you mean 'retry_storm'", "tool_loop"]),
    ],
)
def test_bad_parameters_raise_a_spec_error_naming_them(name: str, params: Any, fragments: list[str]) -> None:
    trace, _ = planted.refactor_pipeline()
    with pytest.raises(SpecError) as info:
        run_detector(name, trace, params)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_int_parameters_accept_floats_only_when_number() -> None:
    trace, _ = planted.refactor_pipeline()
    assert run_detector("cascading_error", trace, {"min_confidence": 1}) == []
    with pytest.raises(SpecError, match="must be an integer"):
        run_detector("tool_loop", trace, {"min_cycles": 2.5})


def test_docs_describe_every_detector_and_parameter() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "detectors.md").read_text(encoding="utf-8")
    sections = dict(part.split("\n", 1) for part in text.split("\n### ")[1:])
    assert list(sections) == list(DETECTORS)
    for name, info in DETECTORS.items():
        for param in info.params:
            assert f"`{param}`" in sections[name], (name, param)


def test_finding_to_dict_is_json_ready() -> None:
    finding = Finding(message="m", spans=("1",), expected="e", found="f", chain=("1", "2"), details={"k": [1]})
    assert finding.to_dict() == {
        "message": "m",
        "spans": ["1"],
        "expected": "e",
        "found": "f",
        "chain": ["1", "2"],
        "details": {"k": [1]},
    }


# -- planted runs fire only their own detector --------------------------------------------

PLANTED = [
    pytest.param(
        lambda: planted.refactor_pipeline(confidence_in_handoff=False), {"handoff_context_loss"}, id="handoff"
    ),
    pytest.param(lambda: planted.external_delegation(), {"out_of_scope_tool"}, id="scope"),
    pytest.param(lambda: planted.orphan_tool(), {"unattributed_action"}, id="unattributed"),
    pytest.param(
        lambda: planted.research_run([("web_search", {"q": "x"})] * 5), {"retry_storm", "tool_loop"}, id="storm"
    ),
    pytest.param(lambda: planted.research_run([("a", 1), ("b", 2)] * 3), {"tool_loop"}, id="loop"),
    pytest.param(lambda: planted.waits(("a", "b", 0, 10), ("b", "a", 5, 20)), {"deadlock"}, id="deadlock"),
    pytest.param(lambda: planted.confidence_chain(truncate=True), {"context_collapse"}, id="collapse"),
    pytest.param(lambda: planted.bad_summary_cascade(), {"cascading_error"}, id="cascade"),
    pytest.param(lambda: planted.shared_memory(), {"context_pollution"}, id="pollution"),
    pytest.param(lambda: planted.concurrent_plan_edits(), {"lost_update"}, id="lost-update"),
]

CLEAN = [
    pytest.param(lambda: planted.refactor_pipeline(), id="handoff"),
    pytest.param(lambda: planted.external_delegation(tool="web_search"), id="scope"),
    pytest.param(lambda: planted.research_run([("web_search", {"q": "x"})] * 2 + [("fetch", {"u": 1})]), id="storm"),
    pytest.param(lambda: planted.research_run([(n, None) for n in "ababxab"]), id="loop"),
    pytest.param(lambda: planted.waits(("a", "b", 0, 10), ("b", "a", 10, 20)), id="deadlock"),
    pytest.param(lambda: planted.confidence_chain(track=False), id="collapse"),
    pytest.param(lambda: planted.confidence_chain(keep_to_reporter=True), id="collapse-kept"),
    pytest.param(lambda: planted.bad_summary_cascade(confidence=0.8), id="cascade"),
    pytest.param(lambda: planted.shared_memory(valid=True), id="pollution"),
    pytest.param(lambda: planted.concurrent_plan_edits(second_base=4), id="lost-update"),
]


@pytest.mark.parametrize(("build", "expected"), PLANTED)
def test_a_planted_failure_fires_its_own_detector_and_no_other(build: Any, expected: set[str]) -> None:
    trace = build()[0]
    fired = {name for name in DETECTORS if run_detector(name, trace)}
    assert fired == expected


@pytest.mark.parametrize("build", CLEAN)
def test_the_clean_near_miss_runs_raise_nothing_at_all(build: Any) -> None:
    trace = build()[0]
    assert {name: run_detector(name, trace) for name in DETECTORS} == {name: [] for name in DETECTORS}


# -- handoff_context_loss ----------------------------------------------------------------


def test_handoff_context_loss_fires_on_a_handoff_missing_a_required_key() -> None:
    trace, ids = planted.refactor_pipeline(confidence_in_handoff=False)
    finding = only(run_detector("handoff_context_loss", trace))
    assert finding.spans == (ids["handoff"],)
    assert finding.message == (
        f"handoff 'tester' (span {ids['handoff']}, coder -> tester) is missing required context "
        "'confidence': pass it in the handoff context"
    )
    assert finding.expected == "context keys 'diff_summary', 'confidence'"
    assert finding.found == "missing 'confidence'; present 'diff_summary'"
    assert finding.details["missing"] == ["confidence"]


def test_handoff_context_loss_is_quiet_when_every_required_key_is_handed_over() -> None:
    trace, _ = planted.refactor_pipeline(confidence_in_handoff=True)
    assert run_detector("handoff_context_loss", trace) == []


def test_handoff_context_loss_counts_a_null_value_as_present_unless_told_otherwise() -> None:
    # The design: "keys are not all present in its context"; a key holding null is present.
    b = TraceBuilder()
    with b.agent("planner"):
        handoff = b.handoff("coder", context={"plan": None}, required_context=["plan"])
    trace = b.build()
    assert run_detector("handoff_context_loss", trace) == []
    assert only(run_detector("handoff_context_loss", trace, {"null_is_missing": True})).spans == (handoff["span_id"],)


def test_handoff_context_loss_ignores_handoffs_that_require_nothing() -> None:
    b = TraceBuilder()
    with b.agent("planner"):
        b.handoff("coder", context={})
        with b.delegation("tester", context={}, required_context=[]):
            pass
    assert run_detector("handoff_context_loss", b.build()) == []


# -- out_of_scope_tool -------------------------------------------------------------------


def test_out_of_scope_tool_fires_on_a_tool_the_delegation_does_not_allow() -> None:
    trace, ids = planted.external_delegation()
    finding = only(run_detector("out_of_scope_tool", trace))
    assert finding.spans == (ids["tool"], ids["delegation"])
    assert finding.message == (
        f"tool 'read_customer_db' (span {ids['tool']}) called by external under delegation 'external' "
        f"(span {ids['delegation']}, support -> external), which allows only ['web_search']"
    )
    assert finding.details["refused_by"] == [ids["delegation"]]
    # The support agent's own call outside the delegation is not in any scope.
    assert ids["own_tool"] not in finding.spans


def test_out_of_scope_tool_nested_scopes_narrow_and_never_widen() -> None:
    trace, ids = planted.nested_scopes()
    findings = run_detector("out_of_scope_tool", trace)
    by_tool = {f.spans[0]: f for f in findings}
    # run_tests is allowed by the inner delegation but not by the outer one.
    assert set(by_tool) == {ids["tests"], ids["edit"]}
    assert by_tool[ids["tests"]].spans == (ids["tests"], ids["outer"])
    # edit_file is allowed outside but the inner scope narrowed it away.
    assert by_tool[ids["edit"]].spans == (ids["edit"], ids["inner"])
    assert "which allows only ['read_file', 'run_tests']" in by_tool[ids["edit"]].message


def test_out_of_scope_tool_reports_the_innermost_refusing_scope_first() -> None:
    b = TraceBuilder()
    with b.agent("a"):
        with b.delegation("b", allowed_tools=["x"]) as outer:
            with b.agent("b"):
                with b.delegation("c", allowed_tools=["y"]) as inner:
                    with b.agent("c"):
                        tool = b.tool("z")
    finding = only(run_detector("out_of_scope_tool", b.build()))
    assert finding.spans == (tool["span_id"], inner["span_id"], outer["span_id"])


def test_out_of_scope_tool_ignores_listed_tools_by_glob() -> None:
    trace, _ = planted.external_delegation(tool="read_customer_db")
    assert run_detector("out_of_scope_tool", trace, {"ignore_tools": ["read_*"]}) == []


def test_out_of_scope_tool_is_quiet_inside_the_allowed_set() -> None:
    trace, _ = planted.external_delegation(tool="web_search")
    assert run_detector("out_of_scope_tool", trace) == []


def test_out_of_scope_tool_an_empty_allow_list_allows_nothing() -> None:
    trace, ids = planted.external_delegation(allowed=[])
    assert [f.spans[0] for f in run_detector("out_of_scope_tool", trace)] == [ids["search"], ids["tool"]]


# -- unattributed_action -----------------------------------------------------------------


def test_unattributed_action_fires_on_a_tool_outside_any_agent() -> None:
    trace, ids = planted.orphan_tool()
    finding = only(run_detector("unattributed_action", trace))
    assert finding.spans == (ids["orphan"],)
    assert finding.message.startswith(f"tool 'send_email' (span {ids['orphan']}) ran with no agent")
    assert finding.found == "agent is missing"


def test_unattributed_action_checks_other_kinds_when_asked() -> None:
    b = TraceBuilder()
    write = b.memory_write("plan", ["x"])
    trace = b.build()
    assert run_detector("unattributed_action", trace) == []
    assert only(run_detector("unattributed_action", trace, {"kinds": ["tool", "memory_write"]})).spans == (
        write["span_id"],
    )


def test_unattributed_action_is_quiet_when_every_tool_has_an_agent() -> None:
    trace, _ = planted.refactor_pipeline()
    assert run_detector("unattributed_action", trace) == []


# -- retry_storm -------------------------------------------------------------------------


def test_retry_storm_fires_on_more_than_max_repeats_identical_calls() -> None:
    trace, ids = planted.research_run([("web_search", {"q": "acme ceo"})] * 5)
    finding = only(run_detector("retry_storm", trace))
    assert finding.message == "tool 'web_search' called 5 times by researcher with the same input (max 3)"
    assert finding.spans == tuple(ids)
    assert (finding.expected, finding.found) == ("at most 3 identical calls", "5 identical calls")
    assert finding.details["input"] == '{"q": "acme ceo"}'


def test_retry_storm_allows_exactly_max_repeats() -> None:
    trace, _ = planted.research_run([("web_search", {"q": "acme ceo"})] * 3)
    assert run_detector("retry_storm", trace) == []
    trace, _ = planted.research_run([("web_search", {"q": "acme ceo"})] * 4)
    assert run_detector("retry_storm", trace, {"max_repeats": 4}) == []


def test_retry_storm_compares_inputs_canonically_and_by_value() -> None:
    calls = [("web_search", {"q": "acme", "n": 5}), ("web_search", {"n": 5, "q": "acme"})] * 2
    trace, _ = planted.research_run(calls)
    assert len(only(run_detector("retry_storm", trace)).spans) == 4
    # Same name, different inputs: not a storm unless input is dropped from `match`.
    varied, ids = planted.research_run([("web_search", {"q": f"acme {i}"}) for i in range(5)])
    assert run_detector("retry_storm", varied) == []
    finding = only(run_detector("retry_storm", varied, {"match": ["agent", "name"]}))
    assert finding.spans == tuple(ids)
    assert finding.message == "tool 'web_search' called 5 times by researcher (max 3)"


def test_retry_storm_distinguishes_agents_and_honours_ignore_tools() -> None:
    b = TraceBuilder()
    for agent in ("alice", "bob"):
        with b.agent(agent):
            for _ in range(3):
                b.tool("poll_queue", {"queue": "jobs"})
    trace = b.build()
    assert run_detector("retry_storm", trace) == []
    assert len(only(run_detector("retry_storm", trace, {"match": ["name", "input"]})).spans) == 6
    assert run_detector("retry_storm", trace, {"match": ["name", "input"], "ignore_tools": ["poll_*"]}) == []


# -- tool_loop ---------------------------------------------------------------------------


def test_tool_loop_fires_on_a_period_two_cycle_repeated_three_times() -> None:
    names = ["read_file", "edit_file", "run_tests", "edit_file", "run_tests", "edit_file", "run_tests", "report"]
    trace, ids = planted.research_run([(n, {"step": i}) for i, n in enumerate(names)], agent="coder")
    finding = only(run_detector("tool_loop", trace))
    assert finding.spans == tuple(ids[1:7])
    assert finding.details == {
        "agent": "coder",
        "cycle": ["edit_file", "run_tests"],
        "period": 2,
        "cycles": 3,
        "calls": 6,
    }
    assert finding.message == (
        "coder looped over tool cycle [edit_file -> run_tests] 3 times in a row (6 calls, loop threshold 3 cycles)"
    )


def test_tool_loop_is_quiet_when_the_cycle_is_interrupted() -> None:
    names = ["search", "fetch", "search", "fetch", "summarize", "search", "fetch"]
    trace, _ = planted.research_run([(n, None) for n in names])
    assert run_detector("tool_loop", trace) == []
    assert len(only(run_detector("tool_loop", trace, {"ignore_tools": ["summarize"]})).spans) == 6


def test_tool_loop_reports_the_smallest_period_once() -> None:
    trace, ids = planted.research_run([("poll", {"i": i}) for i in range(8)])
    finding = only(run_detector("tool_loop", trace))
    assert finding.details["cycle"] == ["poll"]
    assert finding.details["cycles"] == 8
    assert finding.spans == tuple(ids)


def test_tool_loop_can_tell_calls_apart_by_input() -> None:
    trace, ids = planted.research_run([("read_file", {"path": f"m{i}.py"}) for i in range(4)])
    assert only(run_detector("tool_loop", trace)).spans == tuple(ids)
    assert run_detector("tool_loop", trace, {"match": ["name", "input"]}) == []
    polling, _ = planted.research_run([("search", {"q": "x"}), ("fetch", {"url": "u"})] * 3)
    assert only(run_detector("tool_loop", polling, {"match": ["name", "input"]})).details["period"] == 2


def test_tool_loop_respects_max_period_and_min_cycles() -> None:
    cycle = ["plan", "search", "read", "write", "check"]
    trace, _ = planted.research_run([(n, None) for n in cycle * 3])
    assert run_detector("tool_loop", trace) == []  # period 5 > max_period 4
    assert only(run_detector("tool_loop", trace, {"max_period": 5})).details["period"] == 5
    short, _ = planted.research_run([(n, None) for n in ["a", "b"] * 2])
    assert run_detector("tool_loop", short) == []
    assert only(run_detector("tool_loop", short, {"min_cycles": 2})).details["cycles"] == 2


def test_tool_loop_counts_and_lists_only_complete_cycles() -> None:
    trace, ids = planted.research_run([(n, None) for n in "ababa"])
    finding = only(run_detector("tool_loop", trace, {"min_cycles": 2}))
    assert finding.spans == tuple(ids[:4])  # the trailing 'a' starts a cycle it does not finish
    assert finding.details["cycles"] == 2 and finding.details["calls"] == 4
    assert finding.message == (
        "researcher looped over tool cycle [a -> b] 2 times in a row (4 calls, loop threshold 2 cycles)"
    )


def test_tool_loop_looks_at_each_agent_separately() -> None:
    # Interleaved, the trace reads a x b y a x b y ...; per agent there is no cycle either way.
    trace = two_agents = planted.two_agents_interleaved(["a", "b", "c", "a", "b", "c"], ["x", "y", "x", "z", "x", "y"])
    assert run_detector("tool_loop", two_agents) == []
    # Alice's own sequence loops: a b a b a b.
    looping = planted.two_agents_interleaved(["a", "b"] * 3, ["x", "y", "z", "w", "v", "u"])
    finding = only(run_detector("tool_loop", looping))
    assert finding.details["agent"] == "alice"
    assert run_detector("tool_loop", trace, {"per": "trace"}) == []


# -- deadlock ----------------------------------------------------------------------------


def test_deadlock_fires_on_two_agents_waiting_on_each_other() -> None:
    trace, ids = planted.waits(("planner", "coder", 10, 50), ("coder", "planner", 20, 60))
    finding = only(run_detector("deadlock", trace))
    assert finding.spans == (ids[0], ids[1])
    assert finding.found == "wait cycle planner -> coder -> planner"
    assert finding.details == {"cycle": ["planner", "coder", "planner"], "overlap_ns": [20 * MS, 50 * MS]}
    assert finding.message == (
        f"deadlock: planner waits on coder (span {ids[0]}); coder waits on planner (span {ids[1]}), "
        "all at once from 20ms to 50ms; break the cycle or add a timeout"
    )


def test_deadlock_message_gives_short_overlaps_in_a_readable_unit() -> None:
    b = TraceBuilder()
    b.wait("coder", agent="planner", start_ns=0, end_ns=150_000)
    b.wait("planner", agent="coder", start_ns=50_000, end_ns=100_000)
    finding = only(run_detector("deadlock", b.build()))
    assert "all at once from 50us to 100us;" in finding.message
    assert finding.details["overlap_ns"] == [50_000, 100_000]


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0ns"),
        (999, "999ns"),
        (100_000, "100us"),
        (20_000_000, "20ms"),
        (10_000_000_000, "10s"),
        (1_000, "1us"),
        (50_000, "50us"),
        (99_999, "100us"),
        (999_999, "1ms"),
        (1_200_000, "1.2ms"),
        (12_345_678, "12.3ms"),
        (3_400_000_000, "3.4s"),
        (59_900_000_000, "59.9s"),
        (59_999_999_999, "1m00s"),
        (125_000_000_000, "2m05s"),
        (-5_000, "-5us"),
    ],
)
def test_duration_text_keeps_three_significant_figures_and_rolls_units_over(ns: int, text: str) -> None:
    assert duration_text(ns) == text


def test_deadlock_finds_a_three_agent_cycle_among_other_waits() -> None:
    trace, ids = planted.waits(
        ("a", "b", 0, 100),
        ("d", "a", 5, 15),  # d waits on a, but nobody waits on d
        ("b", "c", 10, 100),
        ("c", "a", 50, 100),
    )
    finding = only(run_detector("deadlock", trace))
    assert finding.details["cycle"] == ["a", "b", "c", "a"]
    assert finding.spans == (ids[0], ids[2], ids[3])


@pytest.mark.parametrize(
    "edges",
    [
        pytest.param([("planner", "coder", 10, 20), ("coder", "planner", 30, 40)], id="one-after-the-other"),
        pytest.param([("planner", "coder", 10, 20), ("coder", "planner", 20, 40)], id="touching"),
        pytest.param([("a", "b", 0, 100), ("b", "c", 0, 100)], id="chain-without-cycle"),
        pytest.param([("a", "b", 0, 30), ("b", "c", 10, 40), ("c", "a", 35, 50)], id="cycle-never-all-at-once"),
    ],
)
def test_deadlock_is_quiet_without_a_simultaneous_cycle(edges: list[tuple[str, str, int, int]]) -> None:
    trace, _ = planted.waits(*edges)
    assert run_detector("deadlock", trace) == []


def test_deadlock_reports_a_recurring_cycle_each_time() -> None:
    trace, ids = planted.waits(("a", "b", 0, 10), ("b", "a", 5, 15), ("a", "b", 100, 110), ("b", "a", 105, 115))
    assert [set(f.spans) for f in run_detector("deadlock", trace)] == [{ids[0], ids[1]}, {ids[2], ids[3]}]


_AGENTS = st.sampled_from("abcdef")


@given(st.lists(st.tuples(_AGENTS, _AGENTS, st.booleans()), max_size=40), _AGENTS, _AGENTS)
def test_property_the_two_sided_search_answers_as_the_depth_first_one(
    steps: list[tuple[str, str, bool]], source: str, goal: str
) -> None:
    # deadlock's wait graph asks reachable() before its depth-first search; they must agree on
    # any sequence of waits starting and ending (the depth-first answer is the reference).
    from pytest_agenttrace.spec.detectors.deadlock import _WaitGraph

    graph = _WaitGraph()
    active: list[tuple[str, str, Span]] = []
    for number, (waiter, target, start) in enumerate(steps):
        if start or not active:
            span = Span(span_id=str(number), parent_id=None, kind="wait", name="w", agent=waiter)
            graph.add(waiter, target, span)
            active.append((waiter, target, span))
        else:
            graph.remove(*active.pop(number % len(active)))
        for a, b in itertools.product("abcdef", repeat=2):
            reference = _depth_first(graph, a, b)
            assert graph.reachable(a, b) == reference, (a, b)
    assert (graph.path(source, goal) is not None) == _depth_first(graph, source, goal)


def _depth_first(graph: Any, source: str, goal: str) -> bool:
    seen, stack = {source}, [source]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in graph.targets.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def test_deadlock_in_a_long_chain_of_waits_begun_from_its_far_end_is_found() -> None:
    # The audit's worst case: waits a_i -> a_(i+1) started from the far end, all overlapping, closed
    # by a_n -> a_0.  Every new waiter has no one waiting on it yet, so each search stops at once
    # (16,000 waits took 31 s; now the check is linear here).
    n = 400
    edges = [(f"a{i}", f"a{i + 1}", n - i, 10_000) for i in range(n)]
    trace, _ = planted.waits(*edges, (f"a{n}", "a0", n + 1, 10_000))
    finding = only(run_detector("deadlock", trace))
    ring = [f"a{i}" for i in range(n + 1)]
    assert finding.details["cycle"] == [*ring[n - 1 :], *ring[: n - 1], ring[n - 1]]  # from the first wait begun


# -- context_collapse --------------------------------------------------------------------


def test_context_collapse_fires_when_a_critical_key_is_not_passed_on() -> None:
    trace, ids = planted.confidence_chain(keep_in_handoff=False)
    finding = run_detector("context_collapse", trace)[0]
    assert finding.spans == (ids["handoff"], ids["delegation"])
    assert finding.chain == (ids["delegation"], ids["handoff"])
    assert finding.message == (
        f"context key 'confidence' handed to coder by delegation 'coder' (span {ids['delegation']}) is missing "
        f"from handoff 'tester' (span {ids['handoff']}, coder -> tester): pass it on"
    )
    assert finding.details == {"key": "confidence", "agent": "coder", "origin": ids["delegation"], "truncated": False}


def test_context_collapse_fires_when_a_truncated_llm_call_drops_a_critical_key() -> None:
    trace, ids = planted.confidence_chain(truncate=True, keep_to_reporter=True)
    finding = only(run_detector("context_collapse", trace))
    assert finding.spans == (ids["llm"], ids["delegation"])
    assert finding.chain == (ids["delegation"], ids["llm"])
    assert finding.details["truncated"] is True
    assert "was dropped when llm 'summarize'" in finding.message


def test_context_collapse_follows_the_chain_transitively() -> None:
    # tester received confidence from coder, so tester's handoff to reporter must carry it too.
    trace, ids = planted.confidence_chain(keep_in_handoff=True)
    finding = only(run_detector("context_collapse", trace))
    assert finding.spans == (ids["to_reporter"], ids["delegation"])
    assert finding.chain == (ids["delegation"], ids["handoff"], ids["to_reporter"])
    assert finding.message.endswith(
        f"is missing from handoff 'reporter' (span {ids['to_reporter']}, tester -> reporter), "
        "further down the chain: pass it on"
    )


def test_context_collapse_reports_every_handoff_down_the_chain_that_lacks_the_key() -> None:
    # The chain is followed whether or not a link carried the key: tester's handoff lacks it as well.
    trace, ids = planted.confidence_chain(keep_in_handoff=False)
    findings = run_detector("context_collapse", trace)
    assert [f.spans for f in findings] == [
        (ids["handoff"], ids["delegation"]),
        (ids["to_reporter"], ids["delegation"]),
    ]
    assert findings[1].chain == (ids["delegation"], ids["handoff"], ids["to_reporter"])


def test_context_collapse_review_scenario_flags_every_loss_down_the_chain() -> None:
    # hAB (A->B, critical k); hBC, hCD (further down, via C), B's truncated llm and hBE all lose k.
    trace = planted.review_collapse_chain()
    findings = run_detector("context_collapse", trace)
    assert [f.spans[0] for f in findings] == ["3", "4", "5", "6"]
    assert all(f.spans[1] == "2" and f.details["key"] == "k" for f in findings)
    assert [f.chain for f in findings] == [("2", "3"), ("2", "3", "4"), ("2", "5"), ("2", "6")]
    assert [f.details["truncated"] for f in findings] == [False, False, True, False]


def test_context_collapse_tracks_nothing_without_keys_or_critical_keys() -> None:
    trace, ids = planted.confidence_chain(keep_in_handoff=False, track=False)
    assert run_detector("context_collapse", trace) == []
    findings = run_detector("context_collapse", trace, {"keys": ["confidence"]})
    assert [f.spans for f in findings] == [
        (ids["handoff"], ids["delegation"]),
        (ids["to_reporter"], ids["delegation"]),
    ]


def test_context_collapse_reports_a_span_once_per_key_crediting_the_earliest_origin() -> None:
    # With keys given every handoff is an origin: planner -> coder -> tester all carry k, so the
    # reporter handoff lacking it is in both chains; it is reported once, from the first origin.
    b = TraceBuilder()
    with b.agent("planner"):
        first = b.handoff("coder", context={"k": 1, "j": 2})
    with b.agent("coder"):
        b.handoff("tester", context={"k": 1, "j": 2})
    with b.agent("tester"):
        last = b.handoff("reporter", context={})
    findings = run_detector("context_collapse", b.build(), {"keys": ["k", "j"]})
    assert [(f.spans, f.details["key"]) for f in findings] == [
        ((last["span_id"], first["span_id"]), "j"),
        ((last["span_id"], first["span_id"]), "k"),
    ]


def test_context_collapse_ignores_keys_the_origin_never_had_and_earlier_handoffs() -> None:
    b = TraceBuilder()
    with b.agent("tester"):
        b.handoff("reporter", context={})  # before coder ever received the key
    with b.agent("orchestrator"):
        b.handoff("coder", context={"other": 1}, critical_keys=["confidence"])
    with b.agent("coder"):
        b.handoff("tester", context={})
    assert run_detector("context_collapse", b.build()) == []


def test_context_collapse_follows_an_agent_only_from_when_it_was_reached() -> None:
    b = TraceBuilder()
    with b.agent("planner"):
        origin = b.handoff("coder", context={"k": 1}, critical_keys=["k"])
    with b.agent("tester"):
        early = b.handoff("reporter", context={})  # tester is not in the chain yet
    with b.agent("coder"):
        middle = b.handoff("tester", context={"k": 1})
    with b.agent("tester"):
        late = b.handoff("reporter", context={})
    chains = [f.chain for f in run_detector("context_collapse", b.build())]
    assert chains == [(origin["span_id"], middle["span_id"], late["span_id"])]
    assert early["span_id"] not in chains[0]


def test_context_collapse_counts_a_null_value_as_present() -> None:
    b = TraceBuilder()
    with b.agent("orchestrator"):
        b.handoff("coder", context={"flag": None}, critical_keys=["flag"])
    with b.agent("coder"):
        kept = b.handoff("tester", context={"flag": None})
        lost = b.handoff("reviewer", context={})
    findings = run_detector("context_collapse", b.build())
    assert [f.spans[0] for f in findings] == [lost["span_id"]]
    assert kept["span_id"] not in findings[0].chain


def test_context_collapse_checks_truncation_only_in_the_receiving_agent_after_the_handoff() -> None:
    b = TraceBuilder()
    with b.agent("coder"):
        b.llm("before", truncated=True, dropped_keys=["k"])  # coder had not received k yet
    with b.agent("planner"):
        origin = b.handoff("coder", context={"k": 1}, critical_keys=["k"])
    with b.agent("coder"):
        dropped = b.llm("after", truncated=True, dropped_keys=["k", "other"])
        b.llm("kept", truncated=True, dropped_keys=["other"])
        b.llm("whole", truncated=False, dropped_keys=["k"])
        b.handoff("tester", context={"k": 1})
    with b.agent("tester"):
        # the design names the receiving agent's llm spans; tester's own handoff would need critical_keys
        b.llm("downstream", truncated=True, dropped_keys=["k"])
    finding = only(run_detector("context_collapse", b.build()))
    assert finding.spans == (dropped["span_id"], origin["span_id"])


# -- cascading_error ---------------------------------------------------------------------


def test_cascading_error_shows_the_chain_from_a_low_confidence_origin() -> None:
    trace, ids = planted.bad_summary_cascade(confidence=0.2)
    finding = only(run_detector("cascading_error", trace))
    assert finding.chain == (ids["origin"], ids["draft"], ids["publish"])
    assert finding.spans == (ids["origin"], ids["draft"], ids["publish"])
    assert finding.message == (
        f"llm 'summarize_sources' (span {ids['origin']}) had confidence 0.2 (below 0.5), yet llm 'draft' "
        f"(span {ids['draft']}) consumed its output and reported success; 1 more successful span(s) downstream"
    )
    assert finding.details["consumers"] == [ids["draft"]]
    assert finding.details["victims"] == [ids["draft"], ids["publish"]]
    assert finding.details["confidence"] == 0.2


def test_cascading_error_starts_from_a_failed_span_and_keeps_failed_links_in_the_chain() -> None:
    trace, ids = planted.bad_summary_cascade(confidence=0.9, writer_status="error")
    finding = only(run_detector("cascading_error", trace))
    assert finding.chain == (ids["draft"], ids["publish"])
    assert finding.spans == (ids["draft"], ids["publish"])
    assert "failed with error" in finding.message
    assert run_detector("cascading_error", trace, {"include_errors": False}) == []


@pytest.mark.parametrize("confidence", [0.9, 0.5, None])
def test_cascading_error_is_quiet_on_confident_or_unscored_origins(confidence: float | None) -> None:
    trace, _ = planted.bad_summary_cascade(confidence=confidence)
    assert run_detector("cascading_error", trace) == []


def test_cascading_error_needs_a_successful_consumer() -> None:
    b = TraceBuilder()
    with b.agent("a"):
        origin = b.llm("guess", confidence=0.1)
        b.tool("apply", links=[origin["span_id"]], status="error")
        b.tool("unlinked")
    assert run_detector("cascading_error", b.build()) == []


def test_cascading_error_sees_a_parent_consuming_its_childs_output() -> None:
    b = TraceBuilder()
    with b.agent("writer") as parent:
        child = b.llm("draft", confidence=0.3)
        parent["links"] = [child["span_id"]]
    finding = only(run_detector("cascading_error", b.build()))
    assert finding.chain == (child["span_id"], parent["span_id"])


def test_cascading_error_sees_a_parent_consuming_its_childs_output_when_both_end_together() -> None:
    # A parent ends when its children have ended: at equal end times it comes after them.
    b = TraceBuilder()
    with b.span("agent", "p", start_ns=0, end_ns=10) as parent:
        child = b.tool("fetch", status="error", start_ns=5, end_ns=10)
        parent["links"] = [child["span_id"]]
    finding = only(run_detector("cascading_error", b.build()))
    assert finding.chain == (child["span_id"], parent["span_id"])


def test_cascading_error_equal_end_times_follow_the_tree_walk_order() -> None:
    b = TraceBuilder()
    with b.span("agent", "top", start_ns=0, end_ns=10) as top:
        with b.span("agent", "middle", start_ns=1, end_ns=10):
            origin = b.tool("fetch", status="error", start_ns=2, end_ns=10)
        later = b.tool("use", links=[origin["span_id"]], start_ns=3, end_ns=10)  # a later branch
        top["links"] = [origin["span_id"]]  # a grandparent
    finding = only(run_detector("cascading_error", b.build()))
    assert finding.chain == (origin["span_id"], later["span_id"], top["span_id"])
    # A child does not consume its parent's output when both end together: the parent has not ended first.
    b = TraceBuilder()
    with b.span("agent", "p", start_ns=0, end_ns=10, status="error") as parent:
        b.tool("fetch", links=[parent["span_id"]], start_ns=5, end_ns=10)
    assert run_detector("cascading_error", b.build()) == []


def test_cascading_error_through_a_failed_link_names_the_first_successful_span() -> None:
    b = TraceBuilder()
    with b.agent("a"):
        origin = b.llm("guess", confidence=0.1)
        failed = b.tool("apply", links=[origin["span_id"]], status="error")
        after = b.tool("report", links=[failed["span_id"]])
    finding = only(run_detector("cascading_error", b.build()))
    assert finding.chain == (origin["span_id"], failed["span_id"], after["span_id"])
    assert finding.spans == (origin["span_id"], after["span_id"])
    assert finding.details["consumers"] == []
    assert "tool 'report' (span 4) built on it through failed spans and reported success" in finding.message


# -- context_pollution -------------------------------------------------------------------


def test_context_pollution_lists_the_other_agents_reading_an_invalid_write() -> None:
    trace, ids = planted.shared_memory(valid=False)
    finding = only(run_detector("context_pollution", trace))
    assert finding.chain == (ids["write"], ids["read"], ids["analyst_read"])
    assert finding.spans[0] == ids["write"]
    assert [r["agent"] for r in finding.details["readers"]] == ["writer", "analyst"]
    assert finding.message == (
        f"memory key 'facts' written by researcher in memory_write 'facts' (span {ids['write']}) "
        "failed validation (valid: false) and was then read by 'writer', 'analyst'"
    )


def test_context_pollution_is_quiet_when_only_the_writer_reads_it() -> None:
    b = TraceBuilder()
    with b.agent("researcher"):
        b.memory_write("scratch", {"guess": 1}, confidence=0.1)
        b.memory_read("scratch")
    trace = b.build()
    assert run_detector("context_pollution", trace) == []
    assert len(only(run_detector("context_pollution", trace, {"include_same_agent": True})).spans) == 2


def test_context_pollution_low_confidence_and_threshold() -> None:
    trace, _ = planted.shared_memory(valid=True, confidence=0.3)
    assert len(only(run_detector("context_pollution", trace)).details["readers"]) == 2
    assert run_detector("context_pollution", trace, {"min_confidence": 0.2}) == []
    clean, _ = planted.shared_memory(valid=True)
    assert run_detector("context_pollution", clean) == []


def test_context_pollution_reports_every_later_read_even_after_a_good_write_by_default() -> None:
    # The design: a bad write "followed by memory_reads of the same key by other agents that start
    # after the write ended" -- all of them, a good write in between notwithstanding.
    trace, ids = planted.shared_memory(valid=False, overwrite=True)
    finding = only(run_detector("context_pollution", trace))
    assert finding.chain == (ids["write"], ids["read"], ids["analyst_read"])


def test_context_pollution_ends_when_a_good_write_replaces_the_bad_value_with_stop_at_rewrite() -> None:
    trace, _ = planted.shared_memory(valid=False, overwrite=True)
    assert run_detector("context_pollution", trace, {"stop_at_rewrite": True}) == []
    clean, _ = planted.shared_memory(valid=False)
    assert len(only(run_detector("context_pollution", clean, {"stop_at_rewrite": True})).details["readers"]) == 2


def test_context_pollution_good_write_between_then_read() -> None:
    b = TraceBuilder()
    bad = b.memory_write("a", "bad", valid=False, agent="w", start_ns=0, end_ns=5)
    b.memory_write("a", "good", agent="w", start_ns=6, end_ns=7)
    read = b.memory_read("a", agent="b", start_ns=8, end_ns=9)
    trace = b.build()
    assert only(run_detector("context_pollution", trace)).chain == (bad["span_id"], read["span_id"])
    assert run_detector("context_pollution", trace, {"stop_at_rewrite": True}) == []


def test_context_pollution_ignores_reads_that_started_before_the_write_ended() -> None:
    b = TraceBuilder()
    b.memory_write("facts", "bad", valid=False, agent="researcher", start_ns=10 * MS, end_ns=20 * MS)
    b.memory_read("facts", agent="writer", start_ns=15 * MS, end_ns=16 * MS)
    assert run_detector("context_pollution", b.build()) == []


def test_context_pollution_uses_versions_when_reads_carry_them_with_stop_at_rewrite() -> None:
    b = TraceBuilder()
    bad = b.memory_write("facts", "bad", valid=False, version=1, agent="researcher")
    b.memory_write("facts", "good", version=2, agent="checker")
    stale = b.memory_read("facts", version=1, agent="writer")  # read the old version from a cache
    fresh = b.memory_read("facts", version=2, agent="analyst")
    trace = b.build()
    finding = only(run_detector("context_pollution", trace, {"stop_at_rewrite": True}))
    assert finding.chain == (bad["span_id"], stale["span_id"])
    assert only(run_detector("context_pollution", trace)).chain == (bad["span_id"], stale["span_id"], fresh["span_id"])


# -- lost_update -------------------------------------------------------------------------


def test_lost_update_fires_on_two_agents_writing_from_the_same_version() -> None:
    trace, ids = planted.concurrent_plan_edits()
    finding = only(run_detector("lost_update", trace))
    assert finding.spans == (ids["first"], ids["second"])
    assert finding.message == (
        f"memory key 'plan' was written by planner (span {ids['first']}) and coder (span {ids['second']}), "
        "all based on version 3: one update overwrote the other; re-read before writing or merge"
    )
    assert finding.details == {"key": "plan", "based_on_version": 3, "agents": ["planner", "coder"]}


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"second_base": 4}, id="different-versions"),
        pytest.param({"second_agent": "planner"}, id="same-agent"),
    ],
)
def test_lost_update_is_quiet_on_sequential_or_single_agent_writes(kwargs: dict[str, Any]) -> None:
    trace, _ = planted.concurrent_plan_edits(**kwargs)
    assert run_detector("lost_update", trace) == []


def test_lost_update_ignores_listed_keys() -> None:
    trace, _ = planted.concurrent_plan_edits()
    assert run_detector("lost_update", trace, {"ignore_keys": ["pl*"]}) == []


# -- properties over arbitrary traces -------------------------------------------------------

AGENTS = st.sampled_from(["alice", "bob", "carol", None])
NAMES = st.sampled_from(["search", "fetch", "edit", "plan"])
KEYS = st.sampled_from(["plan", "facts"])
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 5),
    st.text(max_size=3),
    st.lists(st.text(max_size=2), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
# Reserved attributes with sensible values; the junk variant mixes in wrong types.
SENSIBLE = {
    "from_agent": AGENTS,
    "to_agent": AGENTS,
    "required_context": st.lists(KEYS, max_size=2),
    "critical_keys": st.lists(KEYS, max_size=2),
    "allowed_tools": st.lists(NAMES, max_size=3),
    "key": KEYS,
    "version": st.integers(0, 3),
    "based_on_version": st.integers(0, 3),
    "valid": st.booleans(),
    "waiting_on": AGENTS,
    "truncated": st.booleans(),
    "dropped_keys": st.lists(KEYS, max_size=2),
    "confidence": st.floats(0, 1),
}
ATTRIBUTES = {
    junk: st.fixed_dictionaries({}, optional={k: st.one_of(v, JUNK) if junk else v for k, v in SENSIBLE.items()})
    for junk in (False, True)
}
ALL_KINDS = ("tool", "tool", "llm", "handoff", "delegation", "memory_read", "memory_write", "wait", "agent")


@functools.cache
def span_shapes(junk: bool, kinds: tuple[str, ...]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(
        st.sampled_from(kinds),
        NAMES,
        AGENTS,
        st.integers(0, 100),
        st.integers(0, 30),
        st.sampled_from(["ok", "ok", "error"]),
        st.sampled_from([None, {"q": 1}, {"q": 2}, "x"]),
        ATTRIBUTES[junk],
        st.one_of(st.none(), st.dictionaries(KEYS, st.one_of(st.none(), st.integers(0, 2)), max_size=2)),
        st.lists(st.integers(0, 10**6), max_size=2),  # links, scope path, parent: picked among earlier spans
        st.lists(st.integers(0, 10**6), max_size=2),
        st.integers(-1, 10**6),
    )


@st.composite
def traces(draw: st.DrawFn, *, junk: bool = True, kinds: tuple[str, ...] = ALL_KINDS, max_spans: int = 25) -> Trace:
    """Random traces of ``kinds``: reserved attributes with sensible (or junk) values, links back."""
    shapes = draw(st.lists(span_shapes(junk, kinds), max_size=max_spans))
    spans = []
    for i, (kind, name, agent, start, length, status, input, attributes, context, links, scopes, parent) in enumerate(
        shapes
    ):

        def earlier(picks: list[int], i: int = i) -> list[str]:
            return [str(p % i + 1) for p in picks] if i else []

        spans.append(
            Span(
                span_id=str(i + 1),
                parent_id=str(parent % i + 1) if i and parent >= 0 else None,
                kind=kind,
                name=name,
                agent=agent,
                scope_path=list(dict.fromkeys(earlier(scopes))),
                start_ns=start * MS,
                end_ns=(start + length) * MS,
                status=status,
                input=input,
                attributes=attributes,
                context=context,
                links=earlier(links),
            )
        )
    spans.sort(key=lambda s: s.start_ns)
    return Trace(trace_id="random", name="random", started_at="2026-11-21T23:00:00Z", spans=tuple(spans))


@settings(max_examples=100, deadline=None)
@given(traces())
def test_property_no_detector_raises_on_any_trace_and_findings_name_real_spans(trace: Trace) -> None:
    ids = {s.span_id for s in trace}
    for name in DETECTORS:
        for finding in run_detector(name, trace):
            assert finding.spans and set(finding.spans) <= ids
            assert set(finding.chain) <= ids
            assert finding.message and finding.expected and finding.found
            json.dumps(finding.to_dict())


@settings(max_examples=100, deadline=None)
@given(traces(kinds=("tool", "llm")), st.integers(0, 200))
def test_property_a_span_with_a_fresh_name_never_removes_a_retry_storm_finding(trace: Trace, start: int) -> None:
    before = {f.spans for f in run_detector("retry_storm", trace, {"max_repeats": 1})}
    extra = Span(
        span_id="fresh",
        parent_id=None,
        kind="tool",
        name="never_seen_before",
        agent="alice",
        start_ns=start * MS,
        end_ns=start * MS,
    )
    grown = Trace(
        trace_id="t", name="t", started_at="x", spans=tuple(sorted((*trace.spans, extra), key=lambda s: s.start_ns))
    )
    after = {f.spans for f in run_detector("retry_storm", grown, {"max_repeats": 1})}
    assert before <= after


@settings(max_examples=100, deadline=None)
@given(traces(junk=False, kinds=("tool", "delegation")))
def test_property_out_of_scope_tool_never_fires_without_allowed_tools(trace: Trace) -> None:
    stripped = Trace(
        trace_id="t",
        name="t",
        started_at="x",
        spans=tuple(
            s.replace(attributes={k: v for k, v in s.attributes.items() if k != "allowed_tools"}) for s in trace
        ),
    )
    assert run_detector("out_of_scope_tool", stripped) == []


@settings(max_examples=100, deadline=None)
@given(traces(junk=False, kinds=("tool",)), st.integers(2, 4), st.integers(1, 4))
def test_property_tool_loop_findings_are_consecutive_periodic_calls_of_one_agent(
    trace: Trace, cycles: int, period: int
) -> None:
    sequences: dict[str | None, list[str]] = {}
    for span in trace.index.by_kind.get("tool", ()):
        sequences.setdefault(span.agent, []).append(span.span_id)
    for finding in run_detector("tool_loop", trace, {"min_cycles": cycles, "max_period": period}):
        sequence = sequences[finding.details["agent"]]
        begin = sequence.index(finding.spans[0])
        assert list(finding.spans) == sequence[begin : begin + len(finding.spans)]
        names = [trace.span(i).name for i in finding.spans]
        p = finding.details["period"]
        assert p <= period and finding.details["cycles"] >= cycles
        assert len(names) == p * finding.details["cycles"] == finding.details["calls"]  # complete cycles only
        assert all(names[i] == names[i - p] for i in range(p, len(names)))
        assert names[:p] == finding.details["cycle"]


@settings(max_examples=100, deadline=None)
@given(traces(junk=False, kinds=("wait",)))
def test_property_deadlock_waits_all_overlap_and_close_a_cycle(trace: Trace) -> None:
    for finding in run_detector("deadlock", trace):
        waits = [trace.span(i) for i in finding.spans]
        assert max(w.start_ns for w in waits) < min(w.end_ns for w in waits)
        cycle = finding.details["cycle"]
        assert cycle[0] == cycle[-1]
        assert [(w.agent, w.attributes["waiting_on"]) for w in waits] == list(itertools.pairwise(cycle))


@settings(max_examples=100, deadline=None)
@given(traces(junk=False, kinds=("memory_read", "memory_write")))
def test_property_memory_findings_hold_their_definitions(trace: Trace) -> None:
    def key(span: Span) -> Any:
        return span.attributes.get("key", span.name)  # the span name stands in for a missing key

    for finding in run_detector("lost_update", trace):
        writes = [trace.span(i) for i in finding.spans]
        assert len({w.agent for w in writes}) >= 2
        assert len({(key(w), w.attributes["based_on_version"]) for w in writes}) == 1
    for finding in run_detector("context_pollution", trace):
        write, *reads = (trace.span(i) for i in finding.chain)
        assert reads and all(r.start_ns >= write.end_ns and r.agent != write.agent for r in reads)
        assert all(key(r) == key(write) for r in reads)


@settings(max_examples=200, deadline=None)
@given(traces(junk=False, kinds=("memory_read", "memory_write")), st.booleans())
def test_property_context_pollution_lists_every_later_read_of_another_agent_per_bad_write(
    trace: Trace, include_same_agent: bool
) -> None:
    def key(span: Span) -> Any:
        value = span.attributes.get("key", span.name)
        return value if isinstance(value, str) else str(value)

    def bad(write: Span) -> bool:
        confidence = write.attributes.get("confidence")
        low = isinstance(confidence, int | float) and not isinstance(confidence, bool) and confidence < 0.5
        return write.attributes.get("valid") is False or write.status == "error" or low

    expected = []
    for write in trace.spans:
        if write.kind != "memory_write" or not bad(write):
            continue
        reads = [
            r.span_id
            for r in trace.spans
            if r.kind == "memory_read"
            and key(r) == key(write)
            and r.start_ns >= write.end_ns
            and (include_same_agent or r.agent != write.agent)
        ]
        if reads:
            expected.append((write.span_id, *reads))
    findings = run_detector("context_pollution", trace, {"include_same_agent": include_same_agent})
    assert [f.chain for f in findings] == expected


@settings(max_examples=100, deadline=None)
@given(traces(junk=False))
def test_property_cascading_error_chains_follow_links_from_a_bad_origin(trace: Trace) -> None:
    for finding in run_detector("cascading_error", trace):
        origin, *rest = (trace.span(i) for i in finding.chain)
        assert origin.status == "error" or origin.attributes["confidence"] < 0.5
        seen = {origin.span_id}
        for span in rest:
            assert seen & set(span.links)
            seen.add(span.span_id)
        assert all(trace.span(i).status == "ok" for i in finding.spans[1:])


@settings(max_examples=100, deadline=None)
@given(traces(junk=False, kinds=("handoff", "delegation", "llm")), st.booleans())
def test_property_context_collapse_loses_only_keys_the_origin_carried(trace: Trace, explicit: bool) -> None:
    params = {"keys": ["plan", "facts"]} if explicit else {}
    for finding in run_detector("context_collapse", trace, params):
        key = finding.details["key"]
        origin, victim = trace.span(finding.chain[0]), trace.span(finding.spans[0])
        assert key in (origin.context or {})
        assert origin.start_ns <= victim.start_ns
        if victim.kind == "llm":
            assert victim.attributes["truncated"] is True and key in victim.attributes["dropped_keys"]
            assert victim.agent == origin.to_agent
        else:
            assert key not in (victim.context or {})
        for sender, receiver in itertools.pairwise(trace.span(i) for i in finding.chain):
            if receiver.kind != "llm":
                assert receiver.from_agent == sender.to_agent
                assert trace.index.order[receiver.span_id] > trace.index.order[sender.span_id]


def _collapse_reference(trace: Trace, keys: list[str] | None) -> dict[tuple[str, str], str]:
    """(victim, key) pairs straight from the design text, by fixpoint over every origin (quadratic).

    Each pair maps to the origin credited with it: the earliest in the trace.
    """
    spans = list(trace.spans)
    handoffs = [(i, s) for i, s in enumerate(spans) if s.kind in ("handoff", "delegation")]
    out: dict[tuple[str, str], str] = {}
    for where, origin in handoffs:
        tracked = keys if keys is not None else origin.attributes.get("critical_keys", [])
        carried = [k for k in tracked if k in (origin.context or {})]
        if not carried or origin.to_agent is None:
            continue
        chain: dict[str, tuple[int, Span]] = {}
        frontier = [(where, origin)]
        while frontier:
            after, sender = frontier.pop()
            if sender.to_agent is None:
                continue
            for i, span in handoffs:
                if i > after and span.from_agent == sender.to_agent and span.span_id not in chain:
                    chain[span.span_id] = (i, span)
                    frontier.append((i, span))
        for _, span in chain.values():
            for k in carried:
                if k not in (span.context or {}):
                    out.setdefault((span.span_id, k), origin.span_id)
        for i, span in enumerate(spans):
            if span.kind == "llm" and i > where and span.agent == origin.to_agent and span.attributes.get("truncated"):
                for k in carried:
                    if k in span.attributes.get("dropped_keys", []):
                        out.setdefault((span.span_id, k), origin.span_id)
    return out


@settings(max_examples=200, deadline=None)
@given(traces(junk=False, kinds=("handoff", "delegation", "handoff", "llm")), st.booleans())
def test_property_context_collapse_equals_a_brute_force_reading_of_the_design(trace: Trace, explicit: bool) -> None:
    keys = ["plan", "facts"] if explicit else None
    findings = run_detector("context_collapse", trace, {"keys": keys})
    found = [(f.spans[0], f.details["key"]) for f in findings]
    assert len(found) == len(set(found))  # one finding per (span, key)
    reference = _collapse_reference(trace, keys)
    assert set(found) == set(reference)
    assert {(f.spans[0], f.details["key"]): f.details["origin"] for f in findings} == reference


def _shared_downstream_chain(n: int, *, tail_keeps_the_key: bool) -> Trace:
    """n origins O_j -> R_j carrying the tracked key, each R_j -> C, then n handoffs C -> C.

    Every origin reaches C and its whole tail: walked once per origin, this was quadratic.
    """
    spans: list[Span] = []

    def handoff(sender: str, receiver: str, keep: bool = True, **attributes: Any) -> None:
        at = len(spans)
        spans.append(
            Span(
                span_id=str(at + 1),
                parent_id=None,
                kind="handoff",
                name="h",
                agent=sender,
                start_ns=at,
                end_ns=at + 1,
                attributes={"from_agent": sender, "to_agent": receiver, **attributes},
                context={"k": 1} if keep else {},
            )
        )

    for j in range(n):
        handoff(f"O{j}", f"R{j}", critical_keys=["k"])
    for j in range(n):
        handoff(f"R{j}", "C")
    for _ in range(n):
        handoff("C", "C", keep=tail_keeps_the_key)
    return Trace(trace_id="cc", name="cc", started_at="2026-11-21T23:00:00Z", spans=tuple(spans))


def test_context_collapse_origins_sharing_a_downstream_chain_12k_spans() -> None:
    assert run_detector("context_collapse", _shared_downstream_chain(4000, tail_keeps_the_key=True)) == []
    findings = run_detector("context_collapse", _shared_downstream_chain(4000, tail_keeps_the_key=False))
    # Every tail handoff loses the key once, credited to the first origin, reached through R0 -> C.
    assert [f.spans for f in findings] == [(str(i), "1") for i in range(8001, 12001)]
    assert findings[0].chain == ("1", "4001", "8001")
    assert findings[-1].chain == ("1", "4001", "12000")


@pytest.mark.parametrize("keys", [None, ["k"], ["k", "j"]])
def test_context_collapse_walks_visit_each_handoff_a_bounded_number_of_times_per_key(
    monkeypatch: pytest.MonkeyPatch, keys: list[str] | None
) -> None:
    # Linear, not quadratic: counted in handoffs visited by all the chain walks together, not in time.
    from pytest_agenttrace.spec.detectors import delegation

    visited = [0]
    walk = delegation._chain

    def counting(*args: Any) -> Any:
        result = walk(*args)
        visited[0] += len(result[0])
        return result

    monkeypatch.setattr(delegation, "_chain", counting)
    trace = _shared_downstream_chain(300, tail_keeps_the_key=True)
    run_detector("context_collapse", trace, {"keys": keys})
    assert visited[0] <= 2 * len(trace.spans) * len(keys or ["k"])


def _has_simultaneous_cycle(trace: Trace) -> bool:
    """Reference: at each wait's start, build the wait-for graph of the active waits and look for a cycle."""
    waits = [
        w for w in trace.index.by_kind.get("wait", ()) if w.agent and isinstance(w.attributes.get("waiting_on"), str)
    ]
    for instant in {w.start_ns for w in waits}:
        graph: dict[str, set[str]] = {}
        for w in waits:
            if w.start_ns <= instant < w.end_ns:
                graph.setdefault(str(w.agent), set()).add(w.attributes["waiting_on"])
        for agent in graph:
            seen, todo = set(), list(graph[agent])
            while todo:
                node = todo.pop()
                if node == agent:
                    return True
                if node not in seen:
                    seen.add(node)
                    todo.extend(graph.get(node, ()))
    return False


@settings(max_examples=200, deadline=None)
@given(traces(junk=False, kinds=("wait",)))
def test_property_deadlock_fires_exactly_when_a_brute_force_search_finds_a_cycle(trace: Trace) -> None:
    assert bool(run_detector("deadlock", trace)) == _has_simultaneous_cycle(trace)


# -- a run recorded through the public API ---------------------------------------------------


def test_detectors_on_a_run_recorded_with_the_recorder_gateway_and_threads() -> None:
    """The recorder's reserved attributes are what the detectors read: a real recording, five planted failures."""
    recorder = Recorder()
    both_waiting = threading.Barrier(2, timeout=5)

    def wait_for(me: str, other: str) -> None:
        with at.agent(me), at.wait(other):
            both_waiting.wait()  # both waits are open at this instant

    with recorder:
        tools = recorder.gateway(
            {"web_search": lambda q: f"results for {q}", "read_customer_db": lambda cid: {"id": cid}}
        )
        with at.agent("support"):
            with at.delegate("external", allowed_tools=["web_search"], context={"order": 1234}):
                with at.agent("external"):
                    for _ in range(4):
                        tools["web_search"]("order 1234")
                    tools["read_customer_db"](1234)
            with at.llm("estimate") as estimate:
                estimate.set_confidence(0.2)
            with at.memory_write("eta", "tomorrow", version=1, confidence=0.2):
                pass
        with at.agent("writer"):
            with at.memory_read("eta", version=1):
                pass
            with at.llm("reply") as reply:
                reply.link(estimate)
        threads = [threading.Thread(target=at.propagate(wait_for), args=pair) for pair in (("a", "b"), ("b", "a"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    trace = recorder.finish()

    fired = {name: run_detector(name, trace) for name in DETECTORS}
    assert {name for name, findings in fired.items() if findings} == {
        "out_of_scope_tool",
        "retry_storm",
        "tool_loop",
        "deadlock",
        "cascading_error",
        "context_pollution",
    }
    assert trace.span(fired["out_of_scope_tool"][0].spans[0]).name == "read_customer_db"
    assert fired["deadlock"][0].details["cycle"] in (["a", "b", "a"], ["b", "a", "b"])
    assert [trace.span(i).name for i in fired["cascading_error"][0].chain] == ["estimate", "reply"]
    assert fired["context_pollution"][0].details["readers"][0]["agent"] == "writer"


# -- real runs recorded by other people's systems (../shared/corpora) ------------------------


def _imported(path: Path) -> list[Trace]:
    from pytest_agenttrace.adapters.importing import import_trace

    result = import_trace(path)
    return result if isinstance(result, list) else [result]


def test_real_framework_demo_runs_raise_no_false_alarm() -> None:
    """The 13 Langfuse framework demos are clean single runs: every detector stays quiet on them."""
    traces = [t for path in corpora.files(corpora.LANGFUSE) for t in _imported(path)]
    assert len(traces) == 13 and sum(len(t) for t in traces) > 50
    assert {(t.name, name): run_detector(name, t) for t in traces for name in DETECTORS if run_detector(name, t)} == {}


def test_real_magentic_one_run_websurfer_retry_storm_matches_the_human_label() -> None:
    """Who&When hand-crafted run 2: WebSurfer pages down 9 times; humans blamed WebSurfer."""
    (trace,) = _imported(corpora.WHO_AND_WHEN / "Hand-Crafted" / "2.json")
    storm = only(run_detector("retry_storm", trace))
    assert storm.message == "tool 'page_down' called 9 times by WebSurfer with the same input (max 3)"
    assert storm.details["agent"] == trace.metadata["labels"]["mistake_agent"] == "WebSurfer"
    loops = run_detector("tool_loop", trace)
    assert [f.details["cycles"] for f in loops] == [3, 4]
    assert {s for f in loops for s in f.spans} <= set(storm.spans)


def test_real_ag2_run_cascade_starts_at_the_failed_execution_and_names_the_labelled_agent() -> None:
    """Who&When algorithm-generated run 8: a failed terminal run feeds AlgorithmDesign_Expert, the labelled culprit."""
    (trace,) = _imported(corpora.WHO_AND_WHEN / "Algorithm-Generated" / "8.json")
    finding = only(run_detector("cascading_error", trace))
    origin = trace.span(finding.chain[0])
    assert (origin.kind, origin.name, origin.status) == ("tool", "Computer_terminal", "error")
    consumer = trace.span(finding.details["consumers"][0])
    assert consumer.agent == trace.metadata["labels"]["mistake_agent"] == "AlgorithmDesign_Expert"
    assert list(finding.chain) == [s.span_id for s in trace.spans[1:9]]  # the conversation carries it to the end


def test_real_tau_bench_run_fan_out_is_a_loop_by_name_but_not_by_name_and_input() -> None:
    """tau-bench task 2: get_order_details on five different orders; `match: [name, input]` tells fan-out from a loop."""
    runs = {t.name: t for t in _imported(corpora.TAU_RUNS)}
    trace = runs["tau-bench:tau_dataset_failed:task-2"]
    finding = only(run_detector("tool_loop", trace))
    assert finding.details["cycle"] == ["get_order_details"] and finding.details["cycles"] == 5
    assert len({json.dumps(trace.span(i).input, sort_keys=True) for i in finding.spans}) == 5
    assert run_detector("tool_loop", trace, {"match": ["name", "input"]}) == []
    assert run_detector("retry_storm", trace) == []


@settings(max_examples=200, deadline=None)
@given(dataflow_traces(dataflow=True), st.sampled_from((0.5, 0.9)), st.booleans())
def test_cascading_error_returning_early_finds_what_the_full_pass_finds(
    trace: Trace, min_confidence: float, include_errors: bool
) -> None:
    """Without an origin it returns before ordering the lineage: the full pass would find nothing either."""
    from pytest_agenttrace.spec.detectors import lineage

    params = {"min_confidence": min_confidence, "include_errors": include_errors}
    found = lineage.cascading_error(trace, **params)
    original = lineage._any_bad
    lineage._any_bad = lambda *args: True  # type: ignore[assignment]  # always take the full pass
    try:
        assert lineage.cascading_error(trace, **params) == found
    finally:
        lineage._any_bad = original


# -- integers beyond float range (a trace file may hold 10**400) ---------------------------------


@pytest.mark.parametrize(("confidence", "fires"), [(10**400, False), (-(10**400), True)], ids=["high", "low"])
def test_cascading_error_reads_a_confidence_beyond_float_range(confidence: int, fires: bool) -> None:
    trace, ids = planted.bad_summary_cascade(confidence=confidence)
    findings = run_detector("cascading_error", trace)
    assert [f.spans[0] for f in findings] == ([ids["origin"]] if fires else [])
    if fires:
        assert "had confidence -inf (below 0.5)" in findings[0].message


@pytest.mark.parametrize(("confidence", "fires"), [(10**400, False), (-(10**400), True)], ids=["high", "low"])
def test_context_pollution_reads_a_confidence_beyond_float_range(confidence: int, fires: bool) -> None:
    trace, ids = planted.shared_memory(valid=True, confidence=confidence)
    findings = run_detector("context_pollution", trace)
    assert [f.spans[0] for f in findings] == ([ids["write"]] if fires else [])


def test_deadlock_with_an_end_time_beyond_float_range_is_reported() -> None:
    b = TraceBuilder()
    b.wait("b", agent="a", start_ns=200, end_ns=10**400)
    b.wait("a", agent="b", start_ns=201, end_ns=10**400)
    finding = only(run_detector("deadlock", b.build()))
    assert "all at once from 201ns to 1e400ns;" in finding.message


@pytest.mark.parametrize(
    ("ns", "text"),
    [(10**400, "1e400ns"), (-(10**400), "-1e400ns"), (int(1e300), "1e+300ns")],
    ids=["pos", "neg", "1e300"],
)
def test_duration_text_of_an_integer_beyond_float_range_is_a_power_of_ten(ns: int, text: str) -> None:
    assert duration_text(ns) == text


# -- typed and deeply nested values ------------------------------------------------------------


def test_lost_update_keeps_version_true_apart_from_version_1() -> None:
    b = TraceBuilder()
    with b.agent("planner"):
        b.memory_write("plan", ["a"], version=2, based_on_version=1)
    with b.agent("coder"):
        b.memory_write("plan", ["b"], version=2, based_on_version=True)
    assert run_detector("lost_update", b.build()) == []
    trace, ids = planted.concurrent_plan_edits(second_base=3)
    assert only(run_detector("lost_update", trace)).spans == (ids["first"], ids["second"])


def _deep(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"q": [value]}
    return value


def test_retry_storm_and_tool_loop_read_inputs_nested_past_the_recursion_limit() -> None:
    calls = [("search", _deep(5000, "x"))] * 4 + [("search", _deep(5000, "y"))]
    trace, ids = planted.research_run(calls)
    finding = only(run_detector("retry_storm", trace))
    assert finding.spans == tuple(ids[:4])
    loops = run_detector("tool_loop", trace, {"match": ["name", "input"], "min_cycles": 4, "max_period": 1})
    assert only(loops).spans[:4] == tuple(ids[:4])


@pytest.mark.parametrize("depth", [99, 100, 101, 102, 150])
def test_property_input_keys_are_equal_exactly_when_inputs_are_at_any_depth(depth: int) -> None:
    from pytest_agenttrace.spec.detectors.repetition import _input_key

    assert _input_key(_deep(depth, 1)) == _input_key(_deep(depth, 1.0))
    assert _input_key(_deep(depth, 1)) != _input_key(_deep(depth, True))
    assert _input_key(_deep(depth, {"a": 1, "b": 2})) == _input_key(_deep(depth, {"b": 2, "a": 1}))
    assert _input_key(_deep(depth, [1, 2])) != _input_key(_deep(depth, [2, 1]))
    assert _input_key(_deep(depth, 1)) != _input_key(_deep(depth + 1, 1))
