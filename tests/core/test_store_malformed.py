"""Malformed trace files the commands read: one clear paragraph and exit 2, never a traceback (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.cli import main
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.store import check_types, load_trace


def _trace() -> dict[str, Any]:
    rec = Recorder("tests/test_x.py::test_y")
    with rec.activate(), rec.agent("a"), rec.tool("t", input={"q": 1}):
        pass
    data = rec.finish().to_dict()
    data["versions"] = {"prompt:planner": "planner@v3#1a2b3c4d"}
    return data


BAD_TOP_VERSIONS = [
    pytest.param({"prompt:planner": 3}, "found 3 for 'prompt:planner'", id="int"),
    pytest.param({"prompt:planner": None}, "found None for 'prompt:planner'", id="null"),
    pytest.param({"prompt:planner": ["a@b"]}, "found list for 'prompt:planner'", id="list"),
]


@pytest.mark.parametrize(("versions", "found"), BAD_TOP_VERSIONS)
def test_top_level_version_stamps_must_be_strings(tmp_path: Path, versions: dict[str, Any], found: str) -> None:
    data = _trace()
    data["versions"] = versions
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match="versions must map names to version stamps") as info:
        load_trace(path)
    assert found in str(info.value) and str(path) in str(info.value)


def test_check_types_refuses_a_built_trace_whose_stamps_are_not_strings() -> None:
    stamps: Any = {1: "x"}
    span = Span(span_id="1", parent_id=None, kind="agent", name="a")
    trace = Trace(trace_id="t", name="n", started_at="s", versions=stamps, spans=(span,))
    with pytest.raises(at.TraceFileError, match="found 'x' for 1"):
        check_types(trace)


def test_check_types_explains_an_unhashable_kind() -> None:
    kind: Any = ["agent"]
    trace = Trace(
        trace_id="t", name="n", started_at="s", spans=(Span(span_id="1", parent_id=None, kind=kind, name="a"),)
    )
    with pytest.raises(at.TraceFileError, match="kind must be one of .*found list"):
        check_types(trace)


MALFORMED = [
    pytest.param(("spans", 0, "kind", ["agent"]), id="kind-list"),
    pytest.param(("spans", 1, "kind", {"tool": 1}), id="kind-dict"),
    pytest.param(("versions", None, "prompt:planner", {"prompt:planner": 3}), id="versions-int"),
    pytest.param(("versions", None, "prompt:planner", None), id="versions-null"),
]
COMMANDS = [
    pytest.param(["diff", "{good}", "{bad}"], id="diff"),
    pytest.param(["diff", "{bad}", "{good}", "--level", "structure", "--format", "json"], id="diff-json"),
    pytest.param(["show", "{bad}"], id="show"),
    pytest.param(["check", "{bad}", "--spec", "{spec}"], id="check"),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("change", MALFORMED)
def test_commands_exit_2_with_one_paragraph_on_a_malformed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, int | None, str, Any], command: list[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_trace()))
    data = _trace()
    top, position, key, value = change
    (data[top] if position is None else data[top][position])[key] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    spec = tmp_path / "spec.yaml"
    spec.write_text("rules:\n  - id: r\n    forbid: '[kind=tool]'\n")
    args = [part.format(good=good, bad=bad, spec=spec) for part in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "the file is corrupt" in err and err.strip().count("\n") == 0


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_exit_2_on_an_unknown_top_level_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # The schema allows no other top-level key; `show` and `check` accepted one (exit 0) while refusing one in a span.
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_trace()))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**_trace(), "extra_field": 1}))
    spec = tmp_path / "spec.yaml"
    spec.write_text("rules:\n  - id: r\n    forbid: '[kind=tool]'\n")
    assert main([part.format(good=good, bad=bad, spec=spec) for part in command]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: unknown top-level key 'extra_field'; the file is corrupt or was written by a newer version" in err
    assert err.strip().count("\n") == 0
