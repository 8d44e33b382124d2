"""The public API is exactly what __init__ promises."""

from __future__ import annotations

import pytest_agenttrace


def test_all_is_sorted_and_complete() -> None:
    expected = {
        "KINDS", "AgentTraceError", "Footprint", "InputError", "MissingExtraError", "Recorder", "ScopeViolation",
        "SelectorError", "Span", "SpanHandle", "SpecError", "ToolGateway", "Trace", "TraceFileError", "UsageError",
        "VersionError", "__version__", "active_recorder", "agent", "config", "current_span", "delegate", "guardrail",
        "handoff", "llm", "load_trace", "memory_read", "memory_write", "prompt", "propagate", "retrieval",
        "save_trace", "span", "tool", "traced", "wait",
    }  # fmt: skip
    assert set(pytest_agenttrace.__all__) == expected
    assert pytest_agenttrace.__all__ == sorted(pytest_agenttrace.__all__, key=lambda n: (not n.isupper(), n))
    for name in pytest_agenttrace.__all__:
        assert getattr(pytest_agenttrace, name) is not None
        if callable(getattr(pytest_agenttrace, name)) and name != "__version__":
            assert getattr(pytest_agenttrace, name).__doc__, name
