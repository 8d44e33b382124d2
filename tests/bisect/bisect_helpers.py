"""Shared helpers of the bisect tests: a trace builder, a spec and git commits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_agenttrace.model import Trace

SPEC = """\
spec: billing
rules:
  - id: billing-gets-tier
    handoff: {to: billing, requires: [ticket_id, customer_tier]}
"""


def make_trace(context: dict[str, Any], *, name: str = "tests/test_agent.py::test_triage", label: str = "v1") -> Trace:
    """A triage run: one delegation to billing handing over ``context``."""
    stamp = f"triage@{label}#0000abcd"
    return Trace.from_dict(
        {
            "trace_id": f"t-{label}",
            "name": name,
            "started_at": "2026-11-21T23:00:00Z",
            "metadata": {},
            "versions": {"prompt:triage": stamp},
            "spans": [
                {
                    "span_id": "1",
                    "parent_id": None,
                    "kind": "agent",
                    "name": "triage",
                    "agent": "triage",
                    "start_ns": 0,
                    "end_ns": 100,
                    "versions": {"prompt:triage": stamp},
                },
                {
                    "span_id": "2",
                    "parent_id": "1",
                    "kind": "delegation",
                    "name": "billing",
                    "agent": "triage",
                    "start_ns": 10,
                    "end_ns": 90,
                    "context": context,
                    "attributes": {"from_agent": "triage", "to_agent": "billing"},
                },
            ],
        }
    )


GOOD_CONTEXT = {"ticket_id": "T-1", "customer_tier": "gold"}
BAD_CONTEXT = {"ticket_id": "T-1"}


def commit_file(git: Callable[..., str], repo: Path, path: str, text: str, message: str) -> str:
    """Write ``path`` and commit it; returns the short (10) sha used as the label."""
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git("add", "-A")
    git("commit", "-q", "-m", message)
    return git("rev-parse", "HEAD")[:10]
