"""A deterministic scripted language model for the example team.

It reads the agent's prompt the way a real model would "read" instructions:
lines of the form ``behaviour: NAME`` switch scripted behaviours on, so a new
prompt version really changes what the agents do.  ``flake_rate`` makes the
model occasionally (seeded) skip an instruction, like a flaky LLM.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Completion:
    """What one model call returns."""

    text: str
    confidence: float
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


def behaviours(prompt: str) -> set[str]:
    """The ``behaviour: NAME`` switches in a prompt."""
    return {m.group(1).strip() for m in re.finditer(r"^behaviour:\s*(\S+)\s*$", prompt, re.MULTILINE)}


class ScriptedModel:
    """Answers each agent deterministically from its prompt and task."""

    name = "scripted-1"

    def __init__(self, *, seed: int = 0, flake_rate: float = 0.0) -> None:
        self.random = random.Random(seed)
        self.flake_rate = flake_rate
        self.calls = 0

    def _flaky(self) -> bool:
        return self.flake_rate > 0 and self.random.random() < self.flake_rate

    def complete(self, agent: str, prompt: str, task: dict[str, Any]) -> Completion:
        """One model call by ``agent`` under ``prompt`` for ``task``."""
        self.calls += 1
        switches = behaviours(prompt)
        if self._flaky() and switches:
            switches = set()  # a flaky model ignores the special instruction this time
        tokens_in = len(prompt.split()) + sum(len(str(v).split()) for v in task.values())
        handler = getattr(self, f"_{agent}")
        completion: Completion = handler(switches, task)
        completion.input_tokens = tokens_in
        completion.output_tokens = len(completion.text.split())
        return completion

    def _orchestrator(self, switches: set[str], task: dict[str, Any]) -> Completion:
        return Completion(text="plan: summarize, fix, test, report", confidence=0.9)

    def _summarizer(self, switches: set[str], task: dict[str, Any]) -> Completion:
        ticket = task["ticket"]
        calls: list[tuple[str, dict[str, Any]]] = []
        if "search-first" in switches or "unknown library" in ticket.lower():
            calls.append(("web_search", {"query": ticket.split(":")[0]}))
        if "customer" in ticket.lower():
            # The model decides the customer's record would help: the delegation never allowed that.
            calls.append(("read_customer_db", {"customer": "ACME-1729"}))
        files = re.findall(r"[\w/]+\.py", ticket)
        return Completion(
            text=f"Bug: {ticket.split(':')[-1].strip()} Files: {', '.join(files) or 'unknown'}",
            confidence=0.85,
            tool_calls=calls,
        )

    def _coder(self, switches: set[str], task: dict[str, Any]) -> Completion:
        files = task.get("files") or []
        calls = [("read_file", {"path": f}) for f in files]
        calls += [("edit_file", {"path": f, "patch": "- return a - b\n+ return a + b"}) for f in files]
        confidence = 0.4 if task.get("hard") else 0.8
        text = "terse" if "terse-handoff" in switches else "full"
        return Completion(text=text, confidence=confidence, tool_calls=calls)

    def _tester(self, switches: set[str], task: dict[str, Any]) -> Completion:
        return Completion(text="run the suite", confidence=0.9, tool_calls=[("run_tests", {"suite": "unit"})])

    def _reporter(self, switches: set[str], task: dict[str, Any]) -> Completion:
        verdict = "fixed" if task.get("passed") else "still failing"
        return Completion(text=f"Ticket {task['ticket_id']}: {verdict}.", confidence=0.95)
