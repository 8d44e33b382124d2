"""A tiny triage agent driven by a seeded fake model whose behaviour depends on the prompt text.

The agent reads prompt ``triage`` from the registry, asks the model where a
ticket goes and which ticket fields to hand over, then delegates to that
team's agent.  The fake model passes ``customer_tier`` on only when the
prompt tells it to ("... and the customer tier"); prompt version v7 dropped
those words, so from v7 on the billing agent gets no tier and the spec
``triage.yaml`` (rule ``billing-gets-tier``) fails.

``FakeModel(seed=..., flake=...)`` is the flaky variant: even with a good
prompt it forgets the tier with probability ``flake``, and with a bad prompt
it still passes the tier now and then (``recall``), like a real model.
"""

from __future__ import annotations

import random
from typing import Any

import pytest_agenttrace as at

__all__ = ["TICKET", "FakeModel", "run_triage"]

TICKET: dict[str, Any] = {
    "ticket_id": "T-1042",
    "customer_tier": "gold",
    "text": "My invoice for March charges me twice.",
}


class FakeModel:
    """Deterministic without a seed; with one, it flakes like a sampled LLM."""

    name = "fake-triage-1"

    def __init__(self, seed: int | None = None, *, flake: float = 0.1, recall: float = 0.2) -> None:
        self.rng = random.Random(seed) if seed is not None else None
        self.flake = flake
        self.recall = recall

    def plan(self, prompt: str, ticket: dict[str, Any]) -> dict[str, Any]:
        """Route the ticket and choose the fields to hand over, as the prompt says."""
        text = ticket["text"].lower()
        route = "billing" if "invoice" in text or "charge" in text else "technical"
        told = "customer tier" in prompt.lower()
        keep_tier = told
        if self.rng is not None:
            keep_tier = self.rng.random() >= self.flake if told else self.rng.random() < self.recall
        keys = ["ticket_id", "customer_tier"] if keep_tier else ["ticket_id"]
        return {"route": route, "pass": keys, "priority": "high" if "priority" in prompt else "normal"}


def run_triage(ticket: dict[str, Any], prompt: str, model: FakeModel) -> dict[str, Any]:
    """Triage one ticket, recording the run; returns the team's answer."""
    with at.agent("triage"):
        with at.llm("route", model=model.name, prompt="triage", input={"ticket": ticket["ticket_id"]}) as call:
            plan = model.plan(prompt, ticket)
            call.set_output(plan)
            call.set_usage(input_tokens=len(prompt.split()) + 12, output_tokens=9)
        context = {key: ticket[key] for key in plan["pass"]}
        with at.delegate(to=plan["route"], objective="resolve the ticket", context=context):
            with at.agent(plan["route"]):
                with at.tool("lookup_invoice", input={"ticket_id": context["ticket_id"]}) as lookup:
                    lookup.set_output({"duplicate_charge": True})
                tier = context.get("customer_tier", "standard")
                with at.tool("issue_credit", input={"ticket_id": context["ticket_id"], "tier": tier}) as credit:
                    answer = {"credited": True, "express": tier == "gold"}
                    credit.set_output(answer)
    return answer
