"""The demo: the example team on four tickets, three of which go wrong.

Run through ``python examples/run_demo.py`` (not part of the test suite: three
of these tests fail on purpose, to show what a failure looks like).
"""

from __future__ import annotations

import pytest
from agentsys import run_ticket

import pytest_agenttrace as at

SPEC = "team-spec.yaml"


@pytest.mark.agenttrace(spec=SPEC)
def test_healthy_ticket(agenttrace: at.Recorder) -> None:
    assert run_ticket("healthy").passed


@pytest.mark.agenttrace(spec=SPEC)
def test_customer_ticket(agenttrace: at.Recorder) -> None:
    # Passes functionally; the spec catches the summarizer reading customer records.
    assert run_ticket("customer").passed


@pytest.mark.agenttrace(spec=SPEC)
def test_search_outage(agenttrace: at.Recorder) -> None:
    # The search API is down: the summarizer hammers it with the same query.
    assert run_ticket("outage").passed


@pytest.mark.agenttrace(spec=SPEC)
@pytest.mark.agenttrace_versions(coder=["v1", "v2"])
def test_coder_prompt_versions(agenttrace: at.Recorder) -> None:
    # coder v1 is the terse prompt: the tester never gets the coder's confidence.
    assert run_ticket("healthy").passed
