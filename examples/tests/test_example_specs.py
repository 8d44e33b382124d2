"""The example team held to its spec (examples/specs/team.yaml) and the failure-mode detectors.

* A healthy run satisfies the team spec (checked by the marker at the end of the test).
* Each failure planted in the team (an out-of-scope tool call, a retry storm,
  a terse prompt that loses a handoff key, an unsure coder) is caught by
  exactly the rules meant for it.
* Each of the ten detectors fires on a realistic run of the team's agents and
  stays quiet on the clean run next to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from agentsys import run_ticket
from agentsys.tools import RateLimited, SharedMemory, Workspace

import pytest_agenttrace as at
from pytest_agenttrace.spec import check_trace, load_spec

TEAM_SPEC = Path(__file__).resolve().parent.parent / "specs" / "team.yaml"


@pytest.mark.agenttrace(spec="../specs/team.yaml")
def test_healthy_ticket_meets_the_team_spec(agenttrace: at.Recorder) -> None:
    assert run_ticket("healthy").passed


@pytest.mark.agenttrace(spec="../specs/team.yaml")
@pytest.mark.agenttrace_versions(coder=["v2"])
def test_team_spec_under_the_production_coder_prompt(agenttrace: at.Recorder) -> None:
    assert run_ticket("healthy").passed


PLANTED = [
    pytest.param(
        "customer",
        "v2",
        {"customer-data-stays-with-account-team", "summarizer-tools", "out_of_scope_tool"},
        id="summarizer-reads-customer-db",
    ),
    pytest.param(
        "outage",
        "v2",
        {"retry_storm", "tool_loop", "search-errors-are-bounded"},
        id="search-outage-retry-storm",
    ),
    pytest.param(
        "healthy",
        "v1",
        {"tester-gets-confidence", "handoff_context_loss", "confident-fix"},
        id="terse-coder-prompt-drops-confidence",
    ),
    pytest.param("hard", "v2", {"confident-fix"}, id="unsure-coder-hands-over-anyway"),
]


@pytest.mark.parametrize(("ticket", "coder", "expected"), PLANTED)
def test_team_spec_catches_each_planted_failure(
    agenttrace: at.Recorder, ticket: str, coder: str, expected: set[str]
) -> None:
    assert agenttrace.version_context is not None
    agenttrace.version_context.overrides["coder"] = coder

    run_ticket(ticket)

    result = check_trace(agenttrace.trace, load_spec(TEAM_SPEC))
    assert {v.rule for v in result.violations} == expected
    # What a failing test shows: every violation, with where it happened.
    with pytest.raises(AssertionError) as failure:
        agenttrace.check(TEAM_SPEC)
    for rule in expected:
        assert f"[{rule}]" in str(failure.value)
    assert "agent:orchestrator > delegation:" in str(failure.value)


def test_customer_violation_points_at_the_call_and_its_scope(agenttrace: at.Recorder) -> None:
    run_ticket("customer")

    result = check_trace(agenttrace.trace, load_spec(TEAM_SPEC))
    forbidden = next(v for v in result.violations if v.rule == "customer-data-stays-with-account-team")
    [span_id] = forbidden.spans
    lookup = agenttrace.trace.span(span_id)
    assert (lookup.name, lookup.agent) == ("read_customer_db", "summarizer")
    text = forbidden.format(agenttrace.trace)
    assert "agent:orchestrator > delegation:summarizer > agent:summarizer > tool:read_customer_db" in text
    assert "scope: " + str(lookup.scope) + " (delegation:summarizer orchestrator -> summarizer)" in text
    assert "> tool:read_customer_db" in text and "<-- here" in text
    # The forensic question: what did the summarizer's delegation touch?
    footprint = agenttrace.trace.footprint(str(lookup.scope))
    assert "read_customer_db" in footprint.tools


# -- the ten detectors on realistic runs -----------------------------------------------------
#
# Each scenario is a short run of the team's agents, tools and memory; ``bad=True``
# plants the failure the detector is for, ``bad=False`` is the clean run next to it.


def handoff_scenario(bad: bool) -> None:
    with at.agent("orchestrator"):
        context = {"diff_summary": "fixed add()"} if bad else {"diff_summary": "fixed add()", "confidence": 0.8}
        with at.delegate("tester", context=context, required_context=["diff_summary", "confidence"]):
            with at.agent("tester"), at.tool("run_tests", input={"suite": "unit"}):
                pass


def scope_scenario(bad: bool) -> None:
    tools = Workspace().tools()
    with at.agent("orchestrator"), at.delegate("summarizer", allowed_tools=["web_search", "read_file"]):
        with at.agent("summarizer"):
            tools.call("web_search", query="calc add")
            if bad:
                tools.call("read_customer_db", customer="ACME-1729")
            else:
                tools.call("read_file", path="calc/ops.py")


def unattributed_scenario(bad: bool) -> None:
    tools = Workspace().tools()
    if bad:
        tools.call("read_file", path="calc/ops.py")  # a cache warm-up outside any agent
    with at.agent("coder"):
        tools.call("read_file", path="calc/ops.py")


def retry_scenario(bad: bool) -> None:
    tools = Workspace(search_failures=10 if bad else 1).tools()
    with at.agent("summarizer"):
        for _ in range(5):
            try:
                tools.call("web_search", query="calc-ext add")
                break
            except RateLimited:
                continue


def loop_scenario(bad: bool) -> None:
    tools = Workspace().tools()
    with at.agent("coder"):
        rounds = 3 if bad else 1
        for attempt in range(rounds):
            tools.call("read_file", path="calc/ops.py")
            tools.call("edit_file", path="calc/ops.py", patch=f"- return a - b\n+ return a + b  # try {attempt}")
        tools.call("run_tests", suite="unit")


def deadlock_scenario(bad: bool) -> None:
    """The coder waits for test results while the tester waits for the coder's diff."""
    both_waiting = threading.Barrier(2, timeout=5)

    def coder() -> None:
        with at.agent("coder"), at.wait("tester"):
            both_waiting.wait()

    def tester() -> None:
        with at.agent("tester"), at.wait("coder" if bad else "ci"):
            both_waiting.wait()

    with at.agent("orchestrator"):
        threads = [threading.Thread(target=at.propagate(fn)) for fn in (coder, tester)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def collapse_scenario(bad: bool) -> None:
    with at.agent("orchestrator"):
        with at.delegate("coder", context={"summary": "add() subtracts", "ticket": "T-1"}, critical_keys=["summary"]):
            with at.agent("coder"):
                onward = {"ticket": "T-1"} if bad else {"ticket": "T-1", "summary": "add() subtracts"}
                with at.handoff("tester", context=onward), at.agent("tester"):
                    pass


def cascade_scenario(bad: bool) -> None:
    tools = Workspace(search_failures=1 if bad else 0).tools()
    with at.agent("summarizer"):
        with at.tool("web_search", input={"query": "calc add"}) as search:
            try:
                tools.call("web_search", query="calc add")
            except RateLimited as error:
                search.set_status("error", error)
        with at.llm("summarizer.complete") as summary:
            summary.link(search)
            summary.set_confidence(0.9)
    with at.agent("coder"), at.tool("edit_file") as edit:
        edit.link(summary)


def pollution_scenario(bad: bool) -> None:
    memory = SharedMemory()
    with at.agent("summarizer"):
        memory.write("summary", "add() is fine", based_on=0, confidence=0.2 if bad else 0.9)
    with at.agent("coder"):
        memory.read("summary")


def lost_update_scenario(bad: bool) -> None:
    memory = SharedMemory()
    with at.agent("orchestrator"):
        with at.agent("summarizer"):
            version, _ = memory.read("notes")
        with at.agent("coder"):
            coder_version, _ = memory.read("notes")
            memory.write("notes", "coder notes", based_on=coder_version)
        with at.agent("summarizer"):
            if not bad:
                version, _ = memory.read("notes")  # re-read before writing
            memory.write("notes", "summary notes", based_on=version)


SCENARIOS: dict[str, Callable[[bool], None]] = {
    "handoff_context_loss": handoff_scenario,
    "out_of_scope_tool": scope_scenario,
    "unattributed_action": unattributed_scenario,
    "retry_storm": retry_scenario,
    "tool_loop": loop_scenario,
    "deadlock": deadlock_scenario,
    "context_collapse": collapse_scenario,
    "cascading_error": cascade_scenario,
    "context_pollution": pollution_scenario,
    "lost_update": lost_update_scenario,
}


def test_every_detector_has_a_scenario() -> None:
    from pytest_agenttrace.spec.detectors import DETECTORS

    assert set(SCENARIOS) == set(DETECTORS)


@pytest.mark.parametrize("detector", list(SCENARIOS))
def test_detector_fires_on_the_planted_run(agenttrace: at.Recorder, detector: str) -> None:
    SCENARIOS[detector](True)

    result = check_trace(agenttrace.trace, load_spec({"extends": ["failure-modes"]}))
    assert detector in {v.rule for v in result.violations}, result.format()


@pytest.mark.parametrize("detector", list(SCENARIOS))
def test_detector_stays_quiet_on_the_clean_run(agenttrace: at.Recorder, detector: str) -> None:
    SCENARIOS[detector](False)

    agenttrace.check({"extends": ["failure-modes"]})
