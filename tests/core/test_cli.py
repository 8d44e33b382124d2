"""The agenttrace command: dispatch and the exit-code contract."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_agenttrace.cli import (
    COMMAND_MODULES,
    build_parser,
    load_clean_trace,
    main,
    non_negative_float,
    non_negative_int,
    positive_int,
    trace_paths,
)
from pytest_agenttrace.recorder import Recorder


def test_every_contract_command_is_registered() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"show", "check", "diff", "query", "import", "export", "report", "bisect", "lint"} <= set(sub.choices)  # type: ignore[arg-type]
    assert len(COMMAND_MODULES) == 5


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_input_error_is_one_paragraph_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = subprocess.run(
        [sys.executable, "-m", "pytest_agenttrace.cli", "show", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(bad) in result.stderr and "not valid JSON" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert "pytest-agenttrace" in capsys.readouterr().out


# -- what every trace-reading command shares ------------------------------------------------

S = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj"
_MARK = "PLACEHOLDER-FOR-THE-SECRET"


def hand_made_trace(tmp_path: Path, name: str = "hand.json") -> Path:
    """A trace file written by hand (not by the recorder): S in names, inputs, attributes, a context, an objective."""
    from pytest_agenttrace.recorder import Recorder

    rec = Recorder(f"run {_MARK}")
    with rec.activate(), rec.agent("boss", note=_MARK):
        delegation = rec.delegate(
            "worker", objective=_MARK, context={"creds": _MARK, "key": f"token {_MARK}"}, allowed_tools=["search"]
        )
        with delegation:
            with rec.agent("worker"), rec.tool("search", input={"q": _MARK}, why=_MARK) as tool:
                tool.set_output({"echo": _MARK})
            with rec.agent("worker"), rec.tool(f"drop_table {_MARK}", input={"q": _MARK}):
                pass
    path = tmp_path / name
    path.write_text(json.dumps(rec.finish().to_dict()).replace(_MARK, S), encoding="utf-8")
    assert path.read_text(encoding="utf-8").count(S) >= 8
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "{trace}", "--spec", "{spec}"],
        ["check", "{trace}", "--spec", "{spec}", "--format", "json"],
        ["check", "{dir}", "{trace}", "--spec", "{spec}"],
        ["query", "{trace}", "--select", "span"],
        ["query", "{trace}", "--select", "span", "--format", "json"],
        ["query", "{trace}", "--scope", "worker"],
        ["query", "{trace}", "--scope", "worker", "--format", "json"],
        ["diff", "{other}", "{trace}"],
        ["diff", "{other}", "{trace}", "--format", "json"],
        ["diff", "{trace}", "{other}", "--level", "full", "--format", "json"],
        ["show", "{trace}"],
        ["show", "{trace}", "--spec", "{spec}", "--select", "span"],
    ],
    ids=" ".join,
)
def test_commands_print_no_secret_of_a_hand_made_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    trace = hand_made_trace(tmp_path)
    other = tmp_path / "other.json"
    other.write_text(trace.read_text(encoding="utf-8").replace(S, "nothing secret"), encoding="utf-8")
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "copy.json").write_bytes(trace.read_bytes())
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "spec: s\nextends: [failure-modes]\nrules:\n"
        "  - id: every-span\n    expect: {select: span, none: ['name contains \"search\"']}\n",
        encoding="utf-8",
    )
    names = {"trace": str(trace), "other": str(other), "dir": str(folder), "spec": str(spec)}
    code = main([a.format(**names) for a in argv])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    assert out.strip()
    assert S not in out and S not in err
    assert "[REDACTED]" in out  # what held the secret is shown, redacted


def test_load_clean_trace_redacts_what_load_trace_keeps(tmp_path: Path) -> None:
    from pytest_agenttrace.store import load_trace

    path = hand_made_trace(tmp_path)
    raw, clean = load_trace(path), load_clean_trace(path)
    assert S in raw.name and S not in clean.name
    assert S not in json.dumps(clean.to_dict()) and len(clean.spans) == len(raw.spans)
    recorded = tmp_path / "recorded.json"
    recorded.write_text(path.read_text(encoding="utf-8").replace(S, "plain"), encoding="utf-8")
    assert load_clean_trace(recorded) == load_trace(recorded)  # a clean trace comes back equal


def _big_integer_trace(tmp_path: Path) -> Path:
    path = hand_made_trace(tmp_path, "big.json")
    data = path.read_text(encoding="utf-8").replace('"output": null', '"output": ' + "9" * 5000, 1)
    path.write_text(data, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "{trace}"],
        ["check", "{trace}", "--spec", "{spec}"],
        ["query", "{trace}", "--select", "span"],
        ["diff", "{trace}", "{trace}"],
        ["report", "{trace}", "-o", "{out}"],
        ["export", "{trace}"],
        ["bisect", "--traces", "{dir}", "--spec", "{spec}"],
    ],
    ids=lambda argv: argv[0],
)
def test_an_integer_too_long_for_python_is_exit_2_in_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    trace = _big_integer_trace(tmp_path)
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "run@v1.json").write_bytes(trace.read_bytes())
    spec = tmp_path / "spec.yaml"
    spec.write_text("spec: s\nextends: [failure-modes]\n", encoding="utf-8")
    names = {"trace": str(trace), "dir": str(folder), "spec": str(spec), "out": str(tmp_path / "r.html")}
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "an integer of 5000 digits is longer than Python reads" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_directory_stands_for_its_trace_files_and_notes_the_other_json_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "artifacts"
    (folder / "nested").mkdir(parents=True)
    trace = hand_made_trace(folder / "nested", "run.json")
    (folder / "report.json").write_text("<!doctype html><html>a report saved as .json</html>", encoding="utf-8")
    (folder / "otlp.json").write_text('{"resourceSpans": []}', encoding="utf-8")
    (folder / "notes.txt").write_text("not json at all", encoding="utf-8")
    assert trace_paths([str(folder)]) == [trace]
    err = capsys.readouterr().err
    assert f"skipped {folder / 'otlp.json'}: not a pytest-agenttrace trace" in err
    assert f"skipped {folder / 'report.json'}: not a pytest-agenttrace trace" in err
    assert "notes.txt" not in err
    # Named directly, a file is what the user asked for: loading it says what is wrong.
    assert trace_paths([str(folder / "report.json")]) == [folder / "report.json"]
    # A trace that is broken is not skipped (it is an error when loaded), nor is one with its key last.
    (folder / "cut.json").write_text('{"format_version": 1, "trace_id": "x", "spa', encoding="utf-8")
    late = folder / "late.json"
    late.write_text(" " * 5000 + '{"spans": [], "format_version": 1}', encoding="utf-8")
    assert trace_paths([str(folder)]) == [folder / "cut.json", late, trace]


def test_a_directory_without_traces_is_an_input_error_saying_why(tmp_path: Path) -> None:
    from pytest_agenttrace.exceptions import TraceFileError

    with pytest.raises(TraceFileError, match="directory holds no \\*.json trace files: no \\*.json files"):
        trace_paths([str(tmp_path)])
    (tmp_path / "report.json").write_text("<html></html>", encoding="utf-8")
    with pytest.raises(TraceFileError, match="its one \\*.json file is not a pytest-agenttrace trace"):
        trace_paths([str(tmp_path)])


def test_check_of_a_folder_with_an_html_report_in_it_checks_the_traces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "traces"
    folder.mkdir()
    hand_made_trace(folder, "run.json")
    (folder / "report.json").write_text("<!doctype html>", encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text("spec: s\nrules:\n  - id: any\n    forbid: 'tool[name=nothing]'\n", encoding="utf-8")
    assert main(["check", str(folder), "--spec", str(spec)]) == 0
    out, err = capsys.readouterr()
    assert "PASS" in out and "skipped" in err and "report.json" in err


@pytest.mark.parametrize(
    ("convert", "text", "message"),
    [
        (non_negative_int, "-5", "-5 is negative; give 0 or more"),
        (non_negative_int, "1.5", "'1.5' is not a whole number"),
        (positive_int, "0", "0 is not allowed here"),
        (non_negative_float, "-1", "-1 is negative"),
        (non_negative_float, "nan", "'nan' is not a finite number"),
        (non_negative_float, "inf", "'inf' is not a finite number"),
        (non_negative_float, "x", "'x' is not a number"),
    ],
)
def test_numeric_option_types_refuse_nonsense(convert: Callable[[str], object], text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        convert(text)


def test_numeric_option_types_accept_what_makes_sense() -> None:
    assert non_negative_int("0") == 0 and positive_int("3") == 3 and non_negative_float("0.5") == 0.5


@pytest.mark.parametrize(
    "command", [["report", "-o"], ["report", "--title", "t", "-o"], ["export", "-o"]], ids=" ".join
)
def test_commands_refuse_to_write_over_their_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    trace = hand_made_trace(tmp_path)
    before = trace.read_bytes()
    assert main([command[0], str(trace), *command[1:], str(trace)]) == 2
    assert trace.read_bytes() == before
    assert str(trace) in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--max-spans", "--width"])
@pytest.mark.parametrize("value", ["0", "-5", "x"])
def test_show_refuses_nonsense_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["show", str(hand_made_trace(tmp_path)), option, value])
    assert exited.value.code == 2 and option in capsys.readouterr().err


def test_import_refuses_to_write_over_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text('{"history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}')
    before = chat.read_bytes()
    assert main(["import", str(chat), "-o", str(tmp_path / "out.json")]) == 0  # the file is importable
    capsys.readouterr()
    assert main(["import", str(chat), "-o", str(chat)]) == 2
    assert chat.read_bytes() == before and str(chat) in capsys.readouterr().err


def _long_output_trace(path: Path, ending: str) -> Path:
    from pytest_agenttrace.sanitize import Limits
    from pytest_agenttrace.store import save_trace

    rec = Recorder("long", limits=Limits(max_string=20000))
    with rec.activate(), rec.tool("build") as build:
        build.set_output("x" * 5000 + ending)
    return save_trace(rec.finish(), path)


def test_check_judges_text_past_the_default_cap_as_a_test_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A trace recorded with larger limits: the command line must not judge a shortened copy of it.
    trace = _long_output_trace(tmp_path / "t.json", "BUILD OK")
    spec = tmp_path / "s.yaml"
    spec.write_text("spec: s\nrules:\n  - id: ok\n    expect: {select: tool, all: ['output contains \"BUILD OK\"']}\n")
    assert main(["check", str(trace), "--spec", str(spec)]) == 0, capsys.readouterr()


def test_diff_sees_a_difference_past_the_default_cap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = _long_output_trace(tmp_path / "a.json", "RESULT=1")
    two = _long_output_trace(tmp_path / "b.json", "RESULT=2")
    assert main(["diff", str(one), str(two), "--level", "io"]) == 1
    assert "output" in capsys.readouterr().out


def test_a_link_to_an_id_of_5000_digits_is_no_span(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_agenttrace.store import load_trace, save_trace

    rec = Recorder("links")
    with rec.activate(), rec.tool("fetch") as fetch:
        fetch.set_status("error")
        fetch.link("1" * 5000)
    trace = load_trace(save_trace(rec.finish(), tmp_path / "t.json"))
    assert trace.get_span("1" * 5000) is None
    spec = tmp_path / "s.yaml"
    spec.write_text("spec: s\nextends: [failure-modes]\n")
    assert main(["check", str(tmp_path / "t.json"), "--spec", str(spec)]) in (0, 1), capsys.readouterr()
