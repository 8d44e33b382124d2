"""``--traces DIR``: how a folder of recorded traces becomes runs per version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bisect_helpers import BAD_CONTEXT, GOOD_CONTEXT, make_trace
from test_bisect_cli import run_cli

from pytest_agenttrace.store import save_trace


def test_traces_of_different_tests_are_one_run_of_a_version_not_repeated_runs(
    tmp_path: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ci"
    for n in range(1, 9):
        for t in range(5):  # five tests per version; only test 2 regresses, from v4 on, every time
            context = BAD_CONTEXT if (t == 2 and n >= 4) else GOOD_CONTEXT
            trace = make_trace(context, label=f"v{n}", name=f"tests/test_agent.py::test_{t}")
            save_trace(trace, folder / f"v{n}" / f"test_{t}.json")
    argv = ["bisect", "triage", "--traces", str(folder), "--spec", str(spec_file), "--format", "json"]
    code, out, _ = run_cli(capsys, *argv)
    doc = json.loads(out)
    assert (code, doc["status"], doc["first_bad"], doc["last_good"]) == (0, "found", "v4", "v3"), doc
    assert doc["evidence"]["v4"] == {"runs": 1, "passes": 0, "failures": 1, "skips": 0}
    bad_run = next(r for r in doc["runs"] if r["version"] == "v4")
    assert len(bad_run["traces"]) == 5
    assert bad_run["detail"].startswith("tests/test_agent.py::test_2: spec violated")


def test_repeated_traces_of_the_same_tests_are_repeated_runs(
    tmp_path: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ci"
    for n in range(1, 7):
        for attempt in range(3):
            for t in range(2):
                bad = t == 1 and n >= 4 and attempt != 1  # test 1 regresses at v4, passing 1 run in 3
                trace = make_trace(BAD_CONTEXT if bad else GOOD_CONTEXT, label=f"v{n}", name=f"t::test_{t}")
                save_trace(trace, folder / f"v{n}-{attempt}-{t}.json")
    argv = ["bisect", "triage", "--traces", str(folder), "--spec", str(spec_file), "--format", "json"]
    code, out, _ = run_cli(capsys, *argv, "--confidence", "0.8")
    doc = json.loads(out)
    assert (code, doc["strategy"], doc["first_bad"]) == (0, "evidence", "v4"), doc
    assert doc["evidence"]["v4"] == {"runs": 3, "passes": 1, "failures": 2, "skips": 0}


def test_json_files_that_are_not_traces_are_skipped_with_a_note(
    tmp_path: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "artifacts"
    for n in range(1, 6):
        save_trace(make_trace(BAD_CONTEXT if n >= 3 else GOOD_CONTEXT, label=f"v{n}"), folder / f"run-{n}.json")
    (folder / "coverage.json").write_text('{"meta": {"version": "7.4"}, "files": {}}')
    (folder / "nested").mkdir()
    (folder / "nested" / "report.json").write_text("[1, 2, 3]")
    code, out, err = run_cli(capsys, "bisect", "triage", "--traces", str(folder), "--spec", str(spec_file))
    assert code == 0, out + err
    assert "first bad version: triage@v3" in out
    assert "skipped" in err and "coverage.json" in err and "report.json" in err


def test_a_folder_without_any_trace_is_exit_2(
    tmp_path: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "artifacts"
    folder.mkdir()
    (folder / "coverage.json").write_text('{"files": {}}')
    code, out, err = run_cli(capsys, "bisect", "triage", "--traces", str(folder), "--spec", str(spec_file))
    assert (code, out) == (2, "")
    assert "not a pytest-agenttrace trace" in err and "Traceback" not in err


SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_report_shows_no_secret_and_no_terminal_escape_from_the_traces(
    tmp_path: Path, spec_file: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    folder = tmp_path / "ci"
    for n in range(1, 6):
        label = f"v{n}\x1b]0;owned\x07"  # a version stamp holding an OSC escape sequence
        trace = make_trace(BAD_CONTEXT if n >= 3 else GOOD_CONTEXT, label=label, name=f"test_\x1b[2Jagent key={SECRET}")
        save_trace(trace, folder / f"run-{n}.json")
    argv = ["bisect", "triage", "--traces", str(folder), "--spec", str(spec_file), "--format", fmt]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, out + err
    assert SECRET not in out + err
    if fmt == "text":
        assert "\x1b" not in out + err and "\x07" not in out
        assert "first bad version: triage@v3\\x1b]0;owned\\x07" in out
        assert "test_\\x1b[2Jagent key=" in out  # the diff's heading: the test's name, escaped
    else:
        doc = json.loads(out)
        assert doc["first_bad"] == "v3\x1b]0;owned\x07"  # JSON keeps the text (escaped by JSON itself)
        assert any("test_\x1b[2Jagent key=" in line or "agent key=" in line for line in doc["diff"])


def test_labels_in_trace_files_are_ordered_whatever_their_digits(
    tmp_path: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Labels come from the files: a digit run past int()'s limit, a superscript (not a decimal digit).
    huge = "9" * 5000
    labels = ["1", "2", "²", huge]  # in natural order: 1, 2, huge (numbers by value), then ² (text)
    folder = tmp_path / "ci"
    for n, label in enumerate(labels):
        save_trace(make_trace(BAD_CONTEXT if n >= 2 else GOOD_CONTEXT, label=label), folder / f"run-{n}.json")
    argv = ["bisect", "triage", "--traces", str(folder), "--spec", str(spec_file), "--format", "json"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["status"], doc["last_good"], doc["first_bad"]) == ("found", "2", huge), doc
