"""``agenttrace show`` and ``agenttrace report``: output, exit codes, bad input."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pytest_agenttrace.cli import main
from pytest_agenttrace.model import Span
from pytest_agenttrace.report._samples import EXAMPLE_SPEC, example_failure, generated_trace, injection_trace
from pytest_agenttrace.store import save_trace

from .helpers import entries_by_name


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {
        "example": save_trace(example_failure(), tmp_path / "traces" / "example.json"),
        "injection": save_trace(injection_trace(), tmp_path / "traces" / "injection.json"),
        "spec": tmp_path / "spec.yaml",
        "clean_spec": tmp_path / "clean.yaml",
    }
    out["spec"].write_text(EXAMPLE_SPEC)
    out["clean_spec"].write_text("spec: clean\nrules:\n  - id: no-shell\n    forbid: 'tool[name=shell]'\n")
    return out


def test_show_prints_the_tree(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(files["example"]), "--color", "no"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("trace tests/test_refactor.py::test_rename_pipeline  (27 spans, 9.2s)\n")
    assert "└─ agent orchestrator" in out
    assert "\x1b[" not in out and "!!" not in out


def test_show_colours_when_asked(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(files["example"]), "--color", "yes", "--compact"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[1;35magent\x1b[0m" in out
    assert "├─" not in out  # compact guides


def test_show_with_spec_marks_violations_and_exits_1(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(files["example"]), "--spec", str(files["spec"]), "--color", "no"]) == 1
    out = capsys.readouterr().out
    storm = [line for line in out.splitlines() if "tool web_search (query='parse_config" in line]
    assert len(storm) == 4 and all(line.endswith("◀ retry_storm, tool_loop") for line in storm)
    assert "!! handoff tester" in out
    assert "\n8 violations\n" in out
    assert (
        "✗ [tester-gets-confidence] handoff:tester [21] (orchestrator -> tester) does not hand over 'confidence'" in out
    )


def test_show_with_a_passing_spec_exits_0(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(files["example"]), "--spec", str(files["clean_spec"])]) == 0
    assert capsys.readouterr().out.endswith("no violations\n")


def test_show_marks_what_a_selector_matches(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(files["example"]), "--select", "delegation[to_agent=coder] tool", "--color", "no"]) == 0
    marked = [line for line in capsys.readouterr().out.splitlines() if "!!" in line]
    assert [line.split("!! tool ")[1].split()[0] for line in marked] == [
        "read_file",
        "edit_file",
        "web_search",
        "run_tests",
    ]
    assert all(line.endswith("◀ select delegation[to_agent=coder] tool") for line in marked)


def test_show_excerpt_and_width(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save_trace(generated_trace(3000), tmp_path / "big.json")
    assert main(["show", str(path), "--max-spans", "40", "--width", "70", "--color", "no"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = int(lines[2].split("excerpt: ")[1].split(" of 3000")[0])
    assert 30 <= shown <= 40  # the failed spans with their ancestors first, within --max-spans
    assert sum("✗" in line for line in lines) >= 10
    assert len(lines) < 90 and all(len(line) <= 70 for line in lines)


def test_report_writes_one_page_for_many_traces(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "report.html"
    assert main(["report", str(files["example"]), str(files["injection"]), "-o", str(target)]) == 0
    assert capsys.readouterr().out == f"wrote {target} (2 traces)\n"
    entries = entries_by_name(target)
    assert sorted(entries) == sorted([example_failure().name, injection_trace().name])
    assert {e["outcome"] for e in entries.values()} == {"unknown"}  # no spec: traces, not verdicts


def test_report_with_spec_marks_failures_and_exits_1(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.html"
    code = main(
        ["report", str(files["example"].parent), "-o", str(target), "--spec", str(files["clean_spec"]), "--title", "CI"]
    )
    assert code == 0
    assert "(2 traces, 0 with violations)" in capsys.readouterr().out
    assert main(["report", str(files["example"]), "-o", str(target), "--spec", str(files["spec"])]) == 1
    entry = entries_by_name(target)[example_failure().name]
    assert entry["outcome"] == "failed"
    assert len(entry["data"]["violations"]) == 8
    assert "<title>agenttrace report</title>" in target.read_text()


def test_report_embeds_selector_results_as_filters(files: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    argv = ["report", str(files["example"]), "-o", str(target), "--select", "tool[name=web_search]", "--select", "wait"]
    assert main(argv) == 0
    data = entries_by_name(target)[example_failure().name]["data"]
    assert data["selections"] == [
        {"selector": "tool[name=web_search]", "spans": ["6", "8", "10", "12", "18"]},
        {"selector": "wait", "spans": ["24"]},
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "missing.json"], "no such trace file"),
        (["report", "missing.json", "-o", "r.html"], "no such trace file"),
        (["show", "{example}", "--spec", "missing.yaml"], "spec file not found"),
        (["show", "{broken}"], "not valid JSON"),
        (["show", "{example}", "--select", "tool["], "selector 'tool[': expected an attribute name"),
        (["report", "{example}", "-o", "r.html", "--select", "tool[name="], "expected a value"),
    ],
)
def test_bad_input_exits_2_with_one_paragraph(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    monkey = [a.format(example=files["example"], broken=broken) for a in argv]
    assert main(monkey) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_report_requires_an_output(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", str(files["example"])])
    assert exc.value.code == 2
    assert "-o/--output" in capsys.readouterr().err


def test_report_to_stdout_with_dash(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a file named "-" would land here
    written = tmp_path / "report.html"
    assert main(["report", str(files["example"]), "--spec", str(files["spec"]), "-o", str(written)]) == 1
    capsys.readouterr()
    assert main(["report", str(files["example"]), "--spec", str(files["spec"]), "-o", "-"]) == 1
    captured = capsys.readouterr()

    def same_second(html: str) -> str:  # the two reports may be made on either side of a second
        return re.sub(r'"generated_at":"[^"]*"', '"generated_at":"T"', html)

    assert '"generated_at":"' in captured.out
    assert same_second(captured.out) == same_second(written.read_text(encoding="utf-8"))
    assert captured.err == "wrote the report to stdout (1 trace, 1 with violations)\n"
    assert not (tmp_path / "-").exists()


SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"


def test_report_of_a_trace_file_that_is_not_clean_writes_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    span = _span_dict(
        "1",
        None,
        f"call {SECRET}",
        input={"api_key": "hunter2-long-value"},
        output=f"token={SECRET}",
        attributes={"why": SECRET},
        versions={"prompt:a": f"a@{SECRET}"},
    )
    dirty = tmp_path / "dirty.json"
    dirty.write_text(
        json.dumps(
            {
                "format_version": 1,
                "trace_id": "t",
                "name": f"test[{SECRET}]",
                "started_at": "2026-11-21T23:00:00Z",
                "metadata": {"nodeid": f"t.py::test[{SECRET}]", "session_id": "s1"},
                "versions": {},
                "spans": [span],
            }
        )
    )
    out = tmp_path / "r.html"
    assert main(["report", str(dirty), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert SECRET not in text and "hunter2" not in text
    (entry,) = entries_by_name(out).values()
    trace = entry["data"]["trace"]
    assert trace["spans"][0]["input"] == {"api_key": "[REDACTED]"}
    assert trace["metadata"]["session_id"] == "s1"  # an id, not a secret: kept


def test_show_prints_violation_messages_without_terminal_controls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_agenttrace.model import Trace

    hostile = "t\nFAKE LINE\x1b]0;pwned\x07\r"
    trace = Trace.from_dict(
        {
            "format_version": 1,
            "trace_id": "t",
            "name": "t",
            "started_at": "2026-11-21T23:00:00Z",
            "spans": [
                {
                    "span_id": "1",
                    "parent_id": None,
                    "kind": "tool",
                    "name": hostile,
                    "agent": None,
                    "start_ns": 0,
                    "end_ns": 1,
                }
            ],
        }
    )
    path = save_trace(trace, tmp_path / "t.json")
    spec = tmp_path / "s.yaml"
    spec.write_text("rules:\n  - id: f\n    forbid: tool\n")
    assert main(["show", str(path), "--spec", str(spec), "--color", "no"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "\nFAKE LINE" not in out
    assert "t\\nFAKE LINE\\x1b]0;pwned\\x07\\r" in out


LEAK = "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"


def _span_dict(span_id: str, parent: str | None, name: str, **fields: Any) -> dict[str, Any]:
    """A tool span of agent ``a`` as a trace file holds it (``fields`` override)."""
    span = Span(span_id=span_id, parent_id=parent, kind="tool", name=name, agent="a", start_ns=0, end_ns=5)
    return {**span.to_dict(), **fields}


def _trace_file(path: Path, spans: list[dict[str, object]], **top: object) -> Path:
    import json

    document = {"format_version": 1, "trace_id": "t", "name": "t", "started_at": "2026-11-21T23:00:00Z"}
    path.write_text(json.dumps({**document, "metadata": {}, "versions": {}, **top, "spans": spans}))
    return path


def test_report_with_spec_redacts_violations_and_span_ids_of_a_trace_file_that_is_not_clean(tmp_path: Path) -> None:
    leaky = f"id-{LEAK}"
    spans = [
        _span_dict("1", None, "root", kind="agent"),
        _span_dict(leaky, "1", f"leak_{LEAK}", kind="delegation"),
        _span_dict("2", leaky, f"leak_two {LEAK}", scope=leaky, scope_path=[leaky], links=[leaky]),
    ]
    dirty = _trace_file(tmp_path / "dirty.json", spans, started_at=f"2026-11-21T23:00:00Z {LEAK}")
    spec = tmp_path / "spec.yaml"
    spec.write_text('rules: [{id: no-leak, forbid: "[name^=leak]"}]\n')
    out = tmp_path / "r.html"
    assert main(["report", str(dirty), "-o", str(out), "--spec", str(spec), "--select", "[name^=leak]"]) == 1
    text = out.read_text(encoding="utf-8")
    assert LEAK not in text and LEAK[8:30] not in text
    (entry,) = entries_by_name(out).values()
    data = entry["data"]
    shown = data["trace"]["spans"][1]["span_id"]
    assert shown == "id-[REDACTED]"
    child = data["trace"]["spans"][2]
    assert child["parent_id"] == child["scope"] == shown and child["scope_path"] == child["links"] == [shown]
    assert data["trace"]["started_at"] == "2026-11-21T23:00:00Z [REDACTED]"
    assert [v["spans"] for v in data["violations"]] == [[shown], ["2"]]  # the ids the tree shows
    assert "leak_[REDACTED]" in data["violations"][0]["message"]
    assert data["violations"][0]["found"] is not None and "[REDACTED]" in data["violations"][0]["found"]
    assert data["selections"] == [{"selector": "[name^=leak]", "spans": [shown, "2"]}]


@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "stdlib"])
def test_report_of_a_trace_file_with_a_lone_surrogate_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fast: bool
) -> None:
    from pytest_agenttrace import store
    from pytest_agenttrace.report import html

    monkeypatch.setattr(store, "_orjson", None)  # orjson refuses to load it; the standard library reads it
    if not fast:
        monkeypatch.setattr(html, "_orjson", None)
    span = _span_dict("1", None, "half \ud83d emoji", agent="a\udfff", output={"text": "\ud83d"})
    path = _trace_file(tmp_path / "surrogate.json", [span], name="t\ud83d")  # written as "\\ud83d" escapes
    assert "\\ud83d" in path.read_text(encoding="ascii")
    out = tmp_path / "r.html"
    assert main(["report", str(path), "-o", str(out), "--title", "title \ud83d"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    raw = out.read_bytes()
    raw.decode("utf-8")  # valid UTF-8
    assert b"<title>title \\ud83d</title>" in raw
    (entry,) = entries_by_name(out).values()
    # Sanitising the loaded trace writes each lone surrogate as its escape text, as the recorder does.
    assert entry["name"] == "t\\ud83d"
    span = entry["data"]["trace"]["spans"][0]
    assert (span["name"], span["agent"], span["output"]) == ("half \\ud83d emoji", "a\\udfff", {"text": "\\ud83d"})
