"""Repeated spans are told apart by their whole subtree: one inserted copy is one added subtree."""

from __future__ import annotations

from typing import Any

from pytest_agenttrace.diff import diff_normalized


def _coder(path: str, plan: str) -> dict[str, Any]:
    return {
        "kind": "agent",
        "name": "coder",
        "agent": "coder",
        "children": [
            {"kind": "tool", "name": "read", "agent": "coder", "input": {"path": path}},
            {"kind": "llm", "name": "plan", "agent": "coder", "output": plan},
        ],
    }


def _run(*coders: dict[str, Any]) -> dict[str, Any]:
    root = {"kind": "agent", "name": "orchestrator", "agent": "orchestrator", "children": list(coders)}
    return {"format": 1, "level": "io", "versions": {}, "spans": [root]}


def test_a_repeated_agent_inserted_before_its_twin_is_one_added_subtree() -> None:
    old = _run(_coder("b.py", "fix b"))
    new = _run(_coder("a.py", "fix a"), _coder("b.py", "fix b"))
    result = diff_normalized(old, new)
    assert [(c.op, c.path) for c in result.changes] == [("added", "agent:orchestrator > agent:coder[1]")]
    added = result.changes[0].node
    assert added is not None and added["children"][0]["input"] == {"path": "a.py"}
    assert diff_normalized(new, old) == result.mirror()


def test_a_repeated_agent_appended_after_its_twin_is_one_added_subtree() -> None:
    old = _run(_coder("a.py", "fix a"))
    new = _run(_coder("a.py", "fix a"), _coder("b.py", "fix b"))
    result = diff_normalized(old, new)
    assert [(c.op, c.path) for c in result.changes] == [("added", "agent:orchestrator > agent:coder[2]")]
    assert diff_normalized(new, old) == result.mirror()


def test_a_changed_repeated_agent_is_still_paired_and_changed_inside() -> None:
    old = _run(_coder("a.py", "fix a"), _coder("b.py", "fix b"))
    new = _run(_coder("a.py", "fix a"), _coder("b.py", "fix b twice"))
    result = diff_normalized(old, new)
    assert [(c.op, c.path, c.field) for c in result.changes] == [
        ("changed", "agent:orchestrator > agent:coder[2] > llm:plan", "output")
    ]
    assert diff_normalized(new, old) == result.mirror()
