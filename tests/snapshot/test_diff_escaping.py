"""Trace data in a text diff is escaped once: a backslash shows as JSON writes it, controls stay inert."""

from __future__ import annotations

from typing import Any

from pytest_agenttrace.diff import diff_normalized


def _run(value: str, name: str = "read") -> dict[str, Any]:
    node = {"kind": "tool", "name": name, "input": {"path": value}}
    return {"format": 1, "level": "io", "versions": {}, "spans": [node]}


def test_a_changed_value_with_backslashes_is_shown_as_json_writes_it() -> None:
    text = "\n".join(diff_normalized(_run("C:\\tmp\\x"), _run("C:\\tmp\\y")).render())
    assert '"C:\\\\tmp\\\\x" -> "C:\\\\tmp\\\\y"' in text  # one backslash of the data is two on screen
    assert "\\\\\\\\" not in text


def test_an_added_subtree_with_backslashes_is_shown_as_json_writes_it() -> None:
    old = _run("C:\\tmp\\x")
    new = _run("C:\\tmp\\x")
    new["spans"].append({"kind": "tool", "name": "a\\b", "input": {"path": "D:\\new"}})
    text = "\n".join(diff_normalized(old, new).render())
    assert '- tool "a\\\\b" {"input": {"path": "D:\\\\new"}}' in text
    assert "\\\\\\\\" not in text


def test_controls_json_leaves_are_escaped_and_a_backslash_before_them_stays_single() -> None:
    text = "\n".join(diff_normalized(_run("a\\\x7f\u202eb"), _run("c")).render())
    assert "\x7f" not in text and "\u202e" not in text
    assert '"a\\\\\\x7f\\u202eb" -> "c"' in text
