"""Regenerate openai_agents_export.json with the real Agents SDK, offline (scripted models).

Run: python tests/adapters/data/make_openai_agents_export.py tests/adapters/data/openai_agents_export.json
Two runs: triage hands off to billing, whose refund tool fails; a manager uses a
translator agent through Agent.as_tool.
"""
import asyncio
import json
import os
import sys

os.environ.setdefault("OPENAI_API_KEY", "sk-test-offline")
from agents import Agent, Runner, function_tool, set_trace_processors
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.tracing import TracingProcessor

spans = []
class Collect(TracingProcessor):
    def on_trace_start(self, trace): spans.append(trace.export())
    def on_trace_end(self, trace): pass
    def on_span_start(self, span): pass
    def on_span_end(self, span): spans.append(span.export())
    def shutdown(self): pass
    def force_flush(self): pass
set_trace_processors([Collect()])

@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id}: shipped"

@function_tool
def refund(order_id: str) -> str:
    """Refund an order."""
    raise RuntimeError("payment gateway down")

billing = Agent(name="billing", instructions="refunds", tools=[lookup_order, refund],
                model=ScriptedModel(emit_traces=True, steps=[
                    [function_call("lookup_order", {"order_id": "A1"}, call_id="call_1")],
                    [function_call("refund", {"order_id": "A1"}, call_id="call_2")],
                    [assistant_message("Refund failed, sorry.")],
                ]))
triage = Agent(name="triage", instructions="route", handoffs=[billing],
               model=ScriptedModel(emit_traces=True, steps=[[function_call("transfer_to_billing", {}, call_id="call_0")]]))
result = asyncio.run(Runner.run(triage, "refund order A1"))
print(result.final_output, file=sys.stderr)

# Agent.as_tool: a manager delegates translation to a sub-agent run as a tool.
translator = Agent(name="translator", instructions="translate",
                   model=ScriptedModel(emit_traces=True, steps=[[assistant_message("bonjour")]]))
manager = Agent(name="manager", instructions="delegate",
                tools=[translator.as_tool(tool_name="translate", tool_description="Translate text.")],
                model=ScriptedModel(emit_traces=True, steps=[
                    [function_call("translate", {"input": "hello"}, call_id="call_t")],
                    [assistant_message("It is bonjour.")],
                ]))
result = asyncio.run(Runner.run(manager, "say hello in French"))
print(result.final_output, file=sys.stderr)
with open(sys.argv[1], "w") as out:
    json.dump(spans, out, indent=1, default=str)
