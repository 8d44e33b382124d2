"""pytest-agenttrace: record multi-agent runs as span trees, check, diff and bisect them.

Agent code instruments itself with the module-level functions (they record
into the active recorder and cost next to nothing without one)::

    import pytest_agenttrace as at

    with at.agent("coder"):
        with at.tool("edit_file", input={"path": path}) as span:
            span.set_output(edit(path))

Tests get the recorder from the ``agenttrace`` fixture and assert on
``agenttrace.trace`` (see the README for the whole API).
"""

from __future__ import annotations

from .exceptions import (
    AgentTraceError,
    InputError,
    MissingExtraError,
    ScopeViolation,
    SelectorError,
    SpecError,
    TraceFileError,
    UsageError,
    VersionError,
)
from .gateway import ToolGateway
from .model import KINDS, Footprint, Span, Trace
from .recorder import (
    Recorder,
    SpanHandle,
    active_recorder,
    agent,
    current_span,
    delegate,
    guardrail,
    handoff,
    llm,
    memory_read,
    memory_write,
    propagate,
    retrieval,
    span,
    tool,
    traced,
    wait,
)
from .store import load_trace, save_trace
from .versions import config, prompt

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "AgentTraceError",
    "Footprint",
    "InputError",
    "MissingExtraError",
    "Recorder",
    "ScopeViolation",
    "SelectorError",
    "Span",
    "SpanHandle",
    "SpecError",
    "ToolGateway",
    "Trace",
    "TraceFileError",
    "UsageError",
    "VersionError",
    "__version__",
    "active_recorder",
    "agent",
    "config",
    "current_span",
    "delegate",
    "guardrail",
    "handoff",
    "llm",
    "load_trace",
    "memory_read",
    "memory_write",
    "prompt",
    "propagate",
    "retrieval",
    "save_trace",
    "span",
    "tool",
    "traced",
    "wait",
]
