"""Golden traces of the example team: a prompt change shows up as a reviewed diff of behaviour."""

from __future__ import annotations

from agentsys import run_ticket

import pytest_agenttrace as at


def test_healthy_ticket_matches_its_golden_trace(agenttrace: at.Recorder, agenttrace_snapshot: object) -> None:
    run_ticket("healthy")
    # The golden (examples/tests/__snapshots__/) is the normalised tree: kinds, names, agents,
    # scopes, inputs/outputs, the version stamps in its header. Refresh with --snapshot-update.
    assert agenttrace.trace == agenttrace_snapshot


def test_outage_golden_shows_the_retry_storm(agenttrace: at.Recorder, agenttrace_snapshot: object) -> None:
    run_ticket("outage")
    assert agenttrace.trace == agenttrace_snapshot
