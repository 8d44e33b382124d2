"""A small multi-agent software team, instrumented with pytest-agenttrace.

An orchestrator takes a ticket and delegates: the summarizer condenses it,
the coder fixes the code, the tester runs the tests, the reporter writes the
status update.  Agents share a versioned memory and call tools through a
:class:`~pytest_agenttrace.ToolGateway`; every model call goes to a
deterministic scripted model whose behaviour follows the prompt versions in
``examples/prompts`` (so changing a prompt changes what the agents do).

The instrumentation is the module-level API: it records inside a test and
costs next to nothing in production.
"""

from pathlib import Path

from pytest_agenttrace.versions import configure

from .model import ScriptedModel
from .system import TICKETS, Ticket, TicketResult, run_ticket

# Outside tests (production, the demo script) prompts come from the example's own registry.
configure(prompts=Path(__file__).resolve().parent.parent / "prompts")

__all__ = ["TICKETS", "ScriptedModel", "Ticket", "TicketResult", "run_ticket"]
