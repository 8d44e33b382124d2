"""The orchestrated pipeline: ticket -> summary -> fix -> tests -> report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest_agenttrace as at

from .model import ScriptedModel
from .tools import RateLimited, SharedMemory, Workspace


@dataclass(frozen=True)
class Ticket:
    """A bug report and the situation around it."""

    id: str
    text: str
    hard: bool = False  # the coder is unsure of its fix
    search_outage: int = 0  # the search API rate-limits this many calls


TICKETS: dict[str, Ticket] = {
    "healthy": Ticket("T-100", "calc: add() subtracts instead of adding in calc/ops.py"),
    "customer": Ticket("T-101", "calc: customer ACME reports add() subtracts in calc/ops.py"),
    "outage": Ticket(
        "T-102", "unknown library calc-ext: add() subtracts in calc/ops.py", search_outage=10
    ),
    "hard": Ticket("T-103", "calc: add() subtracts in calc/ops.py", hard=True),
}


@dataclass
class TicketResult:
    """What the team produced for one ticket."""

    ticket: Ticket
    summary: str
    passed: bool
    report: str
    events: list[str] = field(default_factory=list)


def _llm(model: ScriptedModel, agent: str, prompt: str, task: dict[str, Any]) -> Any:
    with at.llm(f"{agent}.complete", model=model.name, input=task) as span:
        completion = model.complete(agent, prompt, task)
        span.set_usage(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens)
        span.set_confidence(completion.confidence)
        span.set_output(completion.text)
    return completion


def summarize(ticket: Ticket, model: ScriptedModel, tools: at.ToolGateway, memory: SharedMemory) -> str:
    """The summarizer: one sentence plus the files named, maybe a web search."""
    with at.agent("summarizer"):
        prompt = at.prompt("summarizer")
        completion = _llm(model, "summarizer", prompt, {"ticket": ticket.text})
        for name, args in completion.tool_calls:
            if name == "web_search":
                # A naive retry loop: the same query again and again while the API says 429.
                for attempt in range(1, 6):
                    try:
                        tools.call(name, **args)
                        break
                    except RateLimited:
                        time.sleep(0)  # a real agent would back off here; this one does not
                        if attempt == 5:
                            break
            else:
                tools.call(name, **args)
        version, _ = memory.read("summary")
        memory.write("summary", completion.text, based_on=version, confidence=completion.confidence)
        return str(completion.text)


def fix(summary: str, ticket: Ticket, model: ScriptedModel, tools: at.ToolGateway) -> dict[str, Any]:
    """The coder: read, edit, and prepare the handoff for the tester."""
    with at.agent("coder"):
        prompt = at.prompt("coder")
        files = [f.strip() for f in summary.split("Files:")[-1].split(",") if f.strip().endswith(".py")]
        completion = _llm(model, "coder", prompt, {"summary": summary, "files": files, "hard": ticket.hard})
        for name, args in completion.tool_calls:
            tools.call(name, **args)
        handoff: dict[str, Any] = {"diff_summary": f"fixed add() in {', '.join(files)}"}
        if completion.text != "terse":
            handoff["confidence"] = completion.confidence
        return handoff


def verify(handoff: dict[str, Any], model: ScriptedModel, tools: at.ToolGateway) -> bool:
    """The tester: run the suite against the handed-over diff."""
    with at.agent("tester"):
        prompt = at.prompt("tester")
        completion = _llm(model, "tester", prompt, handoff)
        results = [tools.call(name, **args) for name, args in completion.tool_calls]
        return all(r["failed"] == 0 for r in results)


def run_ticket(
    ticket: Ticket | str,
    *,
    model: ScriptedModel | None = None,
    workspace: Workspace | None = None,
    enforce_scopes: bool = False,
) -> TicketResult:
    """Run the whole team on ``ticket`` (a :class:`Ticket` or a key of :data:`TICKETS`)."""
    if isinstance(ticket, str):
        ticket = TICKETS[ticket]
    model = model or ScriptedModel()
    workspace = workspace or Workspace(search_failures=ticket.search_outage)
    tools = workspace.tools()
    tools.enforce = enforce_scopes
    memory = SharedMemory()
    at.config("team", {"model": model.name, "max_retries": 5, "tester_suite": "unit"})
    with at.agent("orchestrator", revision="r42"):
        _llm(model, "orchestrator", at.prompt("orchestrator"), {"ticket": ticket.text})
        with at.delegate(
            to="summarizer",
            objective="condense the ticket",
            allowed_tools=["web_search"],
            context={"ticket": ticket.text},
            required_context=["ticket"],
        ):
            summary = summarize(ticket, model, tools, memory)
        with at.delegate(
            to="coder",
            objective="fix the bug",
            allowed_tools=["read_file", "edit_file"],
            context={"summary": summary},
            required_context=["summary"],
            critical_keys=["summary"],
        ):
            handoff = fix(summary, ticket, model, tools)
        with at.delegate(
            to="tester",
            objective="verify the fix",
            allowed_tools=["run_tests"],
            context=handoff,
            required_context=["diff_summary", "confidence"],
        ):
            passed = verify(handoff, model, tools)
        with at.handoff(to="reporter", context={"passed": passed, "ticket_id": ticket.id}):
            with at.agent("reporter"):
                completion = _llm(
                    model, "reporter", at.prompt("reporter"), {"passed": passed, "ticket_id": ticket.id}
                )
    return TicketResult(ticket=ticket, summary=summary, passed=passed, report=completion.text)
