"""``agenttrace diff``: exit codes, text and JSON output, options, snapshot files as input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_agenttrace.cli import main
from pytest_agenttrace.model import Trace
from pytest_agenttrace.normalize import NormalizeOptions, normalize
from pytest_agenttrace.snapfile import dumps

from .helpers import pipeline, span


def write(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(Trace.from_dict(data).to_dict()), encoding="utf-8")
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    old = pipeline()
    new = pipeline(**{"prompt:summarizer": "summarizer@v4#1a2b3c4d", "config:tools": "tools#a1b2c3d4"})
    for n in (11, 12):
        new["spans"].insert(4, span(n, 3, "tool", "web_search", "coder", scope="2", input={"q": n}))
    return write(tmp_path / "old.json", old), write(tmp_path / "new.json", new)


def test_same_traces_exit_0(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", files[0], files[0]]) == 0
    assert "the span trees are the same" in capsys.readouterr().out


def test_different_traces_exit_1_with_the_diff(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", *files]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "prompt summarizer v3 -> v4"
    assert out[1] == "tool web_search: 1 -> 3 calls under coder"
    assert out[2] == "+ agent:orchestrator > delegation:coder > agent:coder > tool:web_search[2]"


def test_json_format(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", *files, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["same"] is False
    assert [c["op"] for c in data["changes"]] == ["added", "added"]
    assert data["version_changes"][0]["text"] == "prompt summarizer v3 -> v4"
    assert "golden" not in data


def test_level_and_exclude_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = pipeline()
    new["spans"][3]["output"] = {"hits": 7}
    old_path, new_path = write(tmp_path / "a.json", pipeline()), write(tmp_path / "b.json", new)
    assert main(["diff", old_path, new_path]) == 1
    assert main(["diff", old_path, new_path, "--level", "structure"]) == 0
    assert main(["diff", old_path, new_path, "--exclude", "tool:output"]) == 0
    assert main(["diff", old_path, new_path, "--exclude", "llm:output"]) == 1
    capsys.readouterr()


def test_a_golden_snapshot_file_can_be_one_side(files: tuple[str, str], tmp_path: Path) -> None:
    golden = tmp_path / "test_pipeline.agenttrace"
    golden.write_text(dumps(normalize(pipeline())), encoding="utf-8")
    assert main(["diff", str(golden), files[0]]) == 0
    assert main(["diff", str(golden), files[1]]) == 1
    structure = tmp_path / "structure.agenttrace"
    structure.write_text(dumps(normalize(pipeline(), NormalizeOptions(level="structure"))), encoding="utf-8")
    assert main(["diff", str(structure), files[0], "--level", "structure"]) == 0


def test_a_level_mismatch_names_the_level_to_pass(
    files: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    io_golden = tmp_path / "io.agenttrace"
    io_golden.write_text(dumps(normalize(pipeline())), encoding="utf-8")
    structure = tmp_path / "structure.agenttrace"
    structure.write_text(dumps(normalize(pipeline(), NormalizeOptions(level="structure"))), encoding="utf-8")
    assert main(["diff", str(io_golden), files[0], "--level", "structure"]) == 2
    err = capsys.readouterr().err
    assert f"{io_golden} is a snapshot at level io; pass --level io to compare the trace with it." in err
    assert main(["diff", str(io_golden), str(structure)]) == 2
    err = capsys.readouterr().err
    assert "compare snapshots written at the same level" in err and "--level" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ('{"hello": 1}', ""),
        ("format 1\nspans\n- agent a {]\n", "snapshot file is malformed"),
    ],
)
def test_bad_input_exits_2_with_one_paragraph(
    files: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    assert main(["diff", str(bad), files[0]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agenttrace diff: error: ") and str(bad) in err and message in err
    assert "Traceback" not in err


def test_a_trace_is_compared_at_the_level_of_the_snapshot_on_the_other_side(
    tmp_path: Path, files: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "g.agenttrace"
    golden.write_text(dumps(normalize(pipeline(), NormalizeOptions(level="structure"))), encoding="utf-8")
    assert main(["diff", str(golden), files[0]]) == 0  # the trace normalised at structure, as the golden
    assert main(["diff", files[1], str(golden)]) == 1  # either side
    assert "tool web_search" in capsys.readouterr().out
    # An explicit --level that is not the golden's cannot be compared.
    assert main(["diff", str(golden), files[0], "--level", "io"]) == 2
    assert "pass --level structure" in capsys.readouterr().err


def test_each_file_is_read_once(
    tmp_path: Path, files: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_agenttrace import cli

    golden = tmp_path / "g.agenttrace"
    golden.write_text(dumps(normalize(pipeline(), NormalizeOptions(level="structure"))), encoding="utf-8")
    loaded: list[str] = []
    real = cli.load_clean_trace
    monkeypatch.setattr(cli, "load_clean_trace", lambda path: loaded.append(str(path)) or real(path))
    assert main(["diff", files[1], str(golden)]) == 1  # at the golden's level, without a first pass at io
    assert main(["diff", *files]) == 1
    assert loaded == [files[1], *files]


def test_bad_option_values_exit_2(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", *files, "--exclude", "a..b"]) == 2
    assert "dotted path" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["diff", *files, "--level", "everything"])
    assert info.value.code == 2


def test_text_diff_shows_controls_in_trace_data_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = pipeline()
    new = pipeline()
    new["spans"].insert(4, span(11, 3, "tool", "t\nFAKE LINE\x1b]0;pwned\x07\r", "coder", scope="2"))
    a, b = write(tmp_path / "old.json", old), write(tmp_path / "new.json", new)
    assert main(["diff", a, b]) == 1
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\r")
    assert "\nFAKE LINE" not in out
    assert "t\\nFAKE LINE\\x1b]0;pwned\\x07\\r" in out


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--float-tolerance", "-1", "-1 is negative"),
        ("--float-tolerance", "nan", "'nan' is not a finite number"),
        ("--float-tolerance", "inf", "'inf' is not a finite number"),
        ("--max-lines", "-5", "-5 is negative"),
        ("--max-lines", "many", "'many' is not a whole number"),
    ],
)
def test_nonsense_numeric_options_exit_2_with_a_message(
    files: tuple[str, str], capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["diff", *files, f"{option}={value}"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {message}" in err and "Traceback" not in err


def test_a_hand_made_snapshot_file_shows_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj"
    changed = pipeline()
    changed["spans"][3]["output"] = {"key": f"the key is {secret}"}
    golden = tmp_path / "g.agenttrace"
    golden.write_text(dumps(normalize(changed, NormalizeOptions(level="io"))), encoding="utf-8")
    assert secret in golden.read_text(encoding="utf-8")
    trace = write(tmp_path / "t.json", pipeline())
    for argv in (["diff", str(golden), trace], ["diff", str(golden), trace, "--format", "json"]):
        assert main(argv) == 1
        out = capsys.readouterr().out
        assert secret not in out and "the key is [REDACTED]" in out
