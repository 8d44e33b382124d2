"""The example team under the plugin: what a user's own agent tests look like."""

from __future__ import annotations

import pytest
from agentsys import TICKETS, ScriptedModel, run_ticket

import pytest_agenttrace as at


def test_healthy_ticket_is_fixed_and_traced(agenttrace: at.Recorder) -> None:
    result = run_ticket("healthy")

    assert result.passed
    trace = agenttrace.trace
    # Who did what, in which scope: one query each.
    assert trace.agents == ["orchestrator", "summarizer", "coder", "tester", "reporter"]
    coder_scope = next(d for d in trace.delegations if d.to_agent == "coder")
    footprint = trace.footprint(coder_scope.span_id)
    assert footprint.tools == ("read_file", "edit_file")
    assert footprint.agents == ("coder",)
    # Every tool ran under the agent and scope that was supposed to run it.
    assert all(s.agent is not None and s.scope is not None for s in trace.find("tool"))
    assert not any(s.attributes.get("out_of_scope") for s in trace.find("tool"))
    # The handoff to the tester carried what the tester needs.
    tester = next(d for d in trace.delegations if d.to_agent == "tester")
    assert set(tester.context or {}) >= {"diff_summary", "confidence"}


def test_every_span_is_stamped_with_the_versions_in_effect(agenttrace: at.Recorder) -> None:
    run_ticket("healthy")

    trace = agenttrace.trace
    assert trace.versions["prompt:coder"].startswith("coder@v2#")
    assert trace.versions["prompt:summarizer"].startswith("summarizer@v3#")
    assert trace.versions["agent:orchestrator"] == "orchestrator@r42"
    assert trace.versions["config:team"].startswith("team#")
    reporter_llm = trace.find("llm", agent="reporter")[0]
    assert reporter_llm.versions["prompt:reporter"].startswith("reporter@v1#")
    assert trace.metadata["nodeid"].endswith("test_every_span_is_stamped_with_the_versions_in_effect")


@pytest.mark.parametrize("label", ["v1", "v2"])
def test_coder_prompt_versions_change_the_handoff(agenttrace: at.Recorder, label: str) -> None:
    agenttrace.version_context.overrides["coder"] = label  # type: ignore[union-attr]

    run_ticket("healthy")

    tester = next(d for d in agenttrace.trace.delegations if d.to_agent == "tester")
    assert agenttrace.trace.versions["prompt:coder"].startswith(f"coder@{label}#")
    # v1 is the terse prompt: the confidence never reaches the tester.
    assert ("confidence" in (tester.context or {})) is (label == "v2")


def test_customer_ticket_makes_the_summarizer_leave_its_scope(agenttrace: at.Recorder) -> None:
    run_ticket("customer")

    (lookup,) = agenttrace.select("tool[name=read_customer_db]") if _has_selectors() else agenttrace.trace.find(
        "tool", name="read_customer_db"
    )
    assert lookup.agent == "summarizer"
    assert lookup.attributes["out_of_scope"] is True
    scope = agenttrace.trace.span(lookup.scope)
    assert scope.attributes["allowed_tools"] == ["web_search"]


def test_enforced_scopes_refuse_the_call_and_still_record_it(agenttrace: at.Recorder) -> None:
    with pytest.raises(at.ScopeViolation, match="read_customer_db"):
        run_ticket("customer", enforce_scopes=True)

    (refused,) = agenttrace.trace.find("tool", name="read_customer_db")
    assert refused.status == "error"
    assert refused.error is not None and refused.error["type"].endswith("ScopeViolation")
    # The crash unwound every span: the trace is complete.
    assert all(s.end_ns >= s.start_ns for s in agenttrace.trace.spans)


def test_search_outage_turns_into_a_retry_storm(agenttrace: at.Recorder) -> None:
    run_ticket("outage")

    searches = agenttrace.trace.find("tool", name="web_search")
    assert len(searches) == 5
    assert {s.status for s in searches} == {"error"}
    assert len({str(s.input) for s in searches}) == 1  # the same query every time


def test_flaky_model_is_reproducible_per_seed(agenttrace: at.Recorder) -> None:
    first = run_ticket(TICKETS["healthy"], model=ScriptedModel(seed=7, flake_rate=0.5))
    second = run_ticket(TICKETS["healthy"], model=ScriptedModel(seed=7, flake_rate=0.5))
    assert first.summary == second.summary


def test_instrumentation_is_inert_without_a_recorder() -> None:
    assert at.active_recorder() is None
    result = run_ticket("healthy")
    assert result.passed


def _has_selectors() -> bool:
    try:
        from pytest_agenttrace.spec import selector  # noqa: F401
    except ImportError:
        return False
    return True
