"""``agenttrace check``, ``lint`` and ``query``: output, JSON shape and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_agenttrace.cli import main
from pytest_agenttrace.store import save_trace

from .spec_helpers import make_trace, node, pipeline_trace

SPEC = """
spec: pipeline
extends: [failure-modes]
rules:
  - id: coder-tools
    scope: {agent: coder, allow_tools: [read_file, edit_file, run_tests]}
  - id: tests-before-report
    order: {first: "tool[name=run_tests]", then: "llm[name=report]"}
"""


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return save_trace(pipeline_trace(), tmp_path / "clean.json")


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    """The coder calls a tool it may not (span 5), and the report comes before any test run."""
    trace = make_trace(
        node(
            "agent",
            "orchestrator",
            node("llm", "report"),
            node(
                "delegation",
                "coder",
                node("agent", "coder", node("tool", "drop_table"), node("tool", "run_tests")),
                from_agent="orchestrator",
                to_agent="coder",
            ),
        )
    )
    return save_trace(trace, tmp_path / "dirty.json")


@pytest.fixture
def spec(write_spec: Callable[..., Path]) -> Path:
    return write_spec(SPEC, "pipeline.yaml")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- check ---------------------------------------------------------------------------------


def test_check_passes_with_exit_0(capsys: pytest.CaptureFixture[str], clean: Path, spec: Path) -> None:
    code, out, _ = run_cli(capsys, "check", clean, "--spec", spec)
    assert code == 0
    assert f"PASS {clean} (12 rules)" in out
    assert "the trace satisfies 'pipeline'" in out


def test_check_fails_with_exit_1_and_the_report(capsys: pytest.CaptureFixture[str], dirty: Path, spec: Path) -> None:
    code, out, _ = run_cli(capsys, "check", dirty, "--spec", spec)
    assert code == 1
    assert f"FAIL {dirty}" in out
    assert "[coder-tools]" in out and "[tests-before-report]" in out
    assert "agent:orchestrator > delegation:coder > agent:coder > tool:drop_table" in out
    assert "the trace violates 'pipeline': 2 violations" in out


def test_check_json_shape(capsys: pytest.CaptureFixture[str], dirty: Path, spec: Path) -> None:
    code, out, _ = run_cli(capsys, "check", dirty, "--spec", spec, "--format", "json")
    assert code == 1
    payload = json.loads(out)
    assert set(payload) == {"passed", "violations"}
    assert payload["passed"] is False
    rules = [(v["rule"], v["spans"]) for v in payload["violations"]]
    assert rules == [("coder-tools", ["5"]), ("tests-before-report", ["2"])]
    for violation in payload["violations"]:
        assert isinstance(violation["message"], str) and violation["message"]
        assert "trace" not in violation


def test_check_json_passing(capsys: pytest.CaptureFixture[str], clean: Path, spec: Path) -> None:
    code, out, _ = run_cli(capsys, "check", clean, "--spec", spec, "--format", "json")
    assert (code, json.loads(out)) == (0, {"passed": True, "violations": []})


def test_check_several_traces_names_the_trace(
    capsys: pytest.CaptureFixture[str], clean: Path, dirty: Path, spec: Path
) -> None:
    code, out, _ = run_cli(capsys, "check", clean, dirty, "--spec", spec, "--format", "json")
    assert code == 1
    assert {v["trace"] for v in json.loads(out)["violations"]} == {str(dirty)}


def test_check_a_directory_of_traces(capsys: pytest.CaptureFixture[str], clean: Path, dirty: Path, spec: Path) -> None:
    code, out, _ = run_cli(capsys, "check", clean.parent, "--spec", spec)
    assert code == 1
    assert "1 of 2 traces violate" in out


def test_check_repeatable_spec(
    capsys: pytest.CaptureFixture[str], dirty: Path, spec: Path, write_spec: Callable[..., Path]
) -> None:
    extra = write_spec("rules: [{id: no-drop, forbid: 'tool[name=drop_table]'}]\n", "extra.yaml")
    code, out, _ = run_cli(capsys, "check", dirty, "--spec", spec, "--spec", extra, "--format", "json")
    assert code == 1
    assert "no-drop" in {v["rule"] for v in json.loads(out)["violations"]}


@pytest.mark.parametrize(
    ("spec_text", "fragment"),
    [
        (
            "rules:\n  - id: a\n    forbidd: tool\n",
            "pipeline.yaml:3:5: rule 'a': unknown key 'forbidd'; did you mean 'forbid'?",
        ),
        ("rules: [\n", "invalid YAML"),
        ("rules:\n  - id: a\n    detect: nope\n", "unknown detector 'nope'"),
    ],
)
def test_check_bad_spec_exits_2_without_traceback(
    capsys: pytest.CaptureFixture[str], clean: Path, write_spec: Callable[..., Path], spec_text: str, fragment: str
) -> None:
    bad = write_spec(spec_text, "pipeline.yaml")
    code, out, err = run_cli(capsys, "check", clean, "--spec", bad)
    assert code == 2
    assert out == ""
    assert fragment in err
    assert "Traceback" not in err


def test_check_bad_trace_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    code, _, err = run_cli(capsys, "check", broken, "--spec", spec)
    assert code == 2 and "broken.json" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "check", tmp_path / "missing.json", "--spec", spec)
    assert code == 2 and "missing.json" in err


def test_check_trace_with_a_parent_cycle_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, clean: Path, spec: Path
) -> None:
    data = json.loads(clean.read_text(encoding="utf-8"))
    data["spans"][0]["parent_id"] = data["spans"][1]["span_id"]  # the root under its own child
    looped = tmp_path / "looped.json"
    looped.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run_cli(capsys, "check", looped, "--spec", spec)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "looped.json" in err and "following parent_id goes round in a cycle ('1' -> '2' -> '1')" in err


def test_check_without_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str], clean: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check", str(clean)])
    assert info.value.code == 2


# -- lint ----------------------------------------------------------------------------------


def test_lint_valid(capsys: pytest.CaptureFixture[str], spec: Path) -> None:
    code, out, _ = run_cli(capsys, "lint", spec)
    assert code == 0
    assert out == f"OK   {spec} (12 rules)\n"


def test_lint_lists_every_problem(
    capsys: pytest.CaptureFixture[str], spec: Path, write_spec: Callable[..., Path]
) -> None:
    bad = write_spec(
        "rules:\n  - id: a\n    forbidd: tool\n  - id: b\n    expect: {select: 'llm[', count: {max: 1}}\n", "bad.yaml"
    )
    code, out, _ = run_cli(capsys, "lint", spec, bad)
    assert code == 2
    assert f"OK   {spec}" in out
    assert f"FAIL {bad}: 2 problems" in out
    assert f"{bad}:3:5: rule 'a': unknown key 'forbidd'; did you mean 'forbid'?" in out
    assert f"{bad}:5:" in out and "bad selector in `expect.select`" in out


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            "expect: {select: tool, count: {max: 0.0}}",
            "bad.yaml:3:41: rule 'a': expect.count.max must be a whole number",
        ),
        ("expect: {select: tool, count: {exactly: 1.0}}", "bad.yaml:3:45: rule 'a': expect.count.exactly must be"),
        ("detect: retry_storm\n    with: {max_repeats: 3.0}", "bad.yaml:4:25: rule 'a': with.max_repeats must be"),
    ],
)
def test_a_float_where_an_integer_is_required_fails_lint_and_check_with_exit_2(
    capsys: pytest.CaptureFixture[str], clean: Path, write_spec: Callable[..., Path], body: str, fragment: str
) -> None:
    bad = write_spec(f"rules:\n  - id: a\n    {body}\n", "bad.yaml")
    code, out, _ = run_cli(capsys, "lint", bad)
    assert code == 2 and fragment in out
    code, out, err = run_cli(capsys, "check", clean, "--spec", bad)
    assert code == 2 and out == "" and fragment in err and "Traceback" not in err


def test_lint_json(capsys: pytest.CaptureFixture[str], write_spec: Callable[..., Path]) -> None:
    bad = write_spec("rules:\n  - id: a\n    forbidd: tool\n", "bad.yaml")
    code, out, _ = run_cli(capsys, "lint", bad, "--format", "json")
    payload = json.loads(out)
    assert code == 2 and payload["valid"] is False
    [problem] = payload["specs"][0]["problems"]
    assert (problem["line"], problem["column"]) == (3, 5)


def test_lint_shipped_packs(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_agenttrace.spec.loader import available_packs, pack_path

    code, out, _ = run_cli(capsys, "lint", *[pack_path(p) for p in available_packs()])
    assert code == 0, out


# -- query ---------------------------------------------------------------------------------


def test_query_select(capsys: pytest.CaptureFixture[str], clean: Path) -> None:
    code, out, _ = run_cli(capsys, "query", clean, "--select", "tool[name=run_tests]")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "2 spans match `tool[name=run_tests]`"
    assert lines[1].startswith("[7] agent:orchestrator > delegation:delegate_coder > agent:coder > tool:run_tests")
    assert "agent=coder" in lines[1] and "scope=3" in lines[1]
    assert lines[2].startswith("[11] agent:orchestrator > agent:tester > tool:run_tests")


def test_query_select_json(capsys: pytest.CaptureFixture[str], clean: Path) -> None:
    code, out, _ = run_cli(capsys, "query", clean, "--select", "llm", "--format", "json")
    payload = json.loads(out)
    assert code == 0 and payload["count"] == 3
    assert [s["span_id"] for s in payload["spans"]] == ["2", "8", "12"]
    assert payload["spans"][1]["path"] == "agent:orchestrator > delegation:delegate_coder > agent:coder > llm:summarize"


def test_query_scope_actions_and_footprint(capsys: pytest.CaptureFixture[str], clean: Path) -> None:
    code, out, _ = run_cli(capsys, "query", clean, "--scope", "3")
    assert code == 0
    assert out.startswith("scope 3: delegation:delegate_coder orchestrator -> coder\n")
    assert "objective: refactor app.py" in out
    assert "allowed tools: read_file, edit_file, run_tests" in out
    assert "actions (5 spans):" in out
    assert "  [4] agent:coder  agent=coder" in out
    assert "    [5] tool:read_file  agent=coder" in out
    assert "tools:               read_file, edit_file, run_tests" in out
    assert "llm calls:           1" in out


def test_query_scope_json(capsys: pytest.CaptureFixture[str], clean: Path) -> None:
    code, out, _ = run_cli(capsys, "query", clean, "--scope", "3", "--format", "json")
    payload = json.loads(out)
    assert code == 0
    assert payload["scope"] == "3"
    assert payload["delegation"]["to_agent"] == "coder"
    assert [a["span_id"] for a in payload["actions"]] == ["4", "5", "6", "7", "8"]
    assert payload["footprint"]["tools"] == ["read_file", "edit_file", "run_tests"]


def test_query_scope_marks_the_tools_the_delegation_does_not_allow(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = make_trace(
        node(
            "agent",
            "orchestrator",
            node(
                "delegation",
                "summarizer",
                node("agent", "summarizer", node("tool", "web_search"), node("tool", "read_customer_db")),
                from_agent="orchestrator",
                to_agent="summarizer",
                allowed_tools=["web_search"],
            ),
        )
    )
    path = save_trace(trace, tmp_path / "leak.json")
    code, out, _ = run_cli(capsys, "query", path, "--scope", "summarizer")
    assert code == 0
    assert "[4] tool:web_search  agent=summarizer\n" in out
    assert "[5] tool:read_customer_db  agent=summarizer  (not in allowed tools)\n" in out
    assert "tools:               web_search, read_customer_db (not allowed)\n" in out
    code, out, _ = run_cli(capsys, "query", path, "--scope", "summarizer", "--format", "json")
    assert json.loads(out)["outside_allowed_tools"] == ["read_customer_db"]
    code, out, _ = run_cli(capsys, "query", save_trace(pipeline_trace(), tmp_path / "ok.json"), "--scope", "3")
    assert "not in allowed tools" not in out and "(not allowed)" not in out


def test_query_scope_with_select_narrows(capsys: pytest.CaptureFixture[str], clean: Path) -> None:
    code, out, _ = run_cli(capsys, "query", clean, "--scope", "3", "--select", "tool", "--format", "json")
    assert code == 0
    assert [a["span_id"] for a in json.loads(out)["actions"]] == ["5", "6", "7"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--scope", "99"], "no delegation scope '99' in this trace; its scopes are: 3 (orchestrator -> coder)"),
        (["--select", "tool[name="], "expected a value"),
        ([], "--select SELECTOR"),
    ],
)
def test_query_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], clean: Path, args: list[str], fragment: str
) -> None:
    code, _, err = run_cli(capsys, "query", clean, *args)
    assert code == 2
    assert fragment in err and "Traceback" not in err


def test_console_script_end_to_end(dirty: Path, spec: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest_agenttrace.cli", "check", str(dirty), "--spec", str(spec), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["passed"] is False


def test_query_scope_by_delegated_agent_name(capsys: pytest.CaptureFixture[str], clean: Path, tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "query", clean, "--scope", "coder", "--format", "json")
    assert code == 0 and json.loads(out)["scope"] == "3"
    twice = make_trace(
        node("agent", "lead", node("delegation", "w", to_agent="worker"), node("delegation", "w", to_agent="worker"))
    )
    code, _, err = run_cli(capsys, "query", save_trace(twice, tmp_path / "twice.json"), "--scope", "worker")
    assert code == 2 and "2 delegations went to 'worker' (scopes 2, 3)" in err


# -- terminal safety -------------------------------------------------------------------

HOSTILE = "t\nFAKE LINE\x1b]0;pwned\x07\r\x9b2J"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    trace = make_trace(
        node("agent", "A\x1b[31mRED", node("tool", HOSTILE, status="error", error={"type": "E", "message": "\x1b[1mb"}))
    )
    return save_trace(trace, tmp_path / "hostile.json")


def _no_controls(text: str) -> None:
    assert not any(c in text for c in "\x1b\x07\r\x9b"), repr(text)
    assert "\nFAKE LINE" not in text  # a newline inside a name cannot forge a line


def test_check_text_output_shows_controls_in_trace_data_escaped(
    capsys: pytest.CaptureFixture[str], hostile: Path, write_spec: Callable[..., Path]
) -> None:
    spec = write_spec("rules:\n  - id: f\n    forbid: tool\n", "f.yaml")
    code, out, _ = run_cli(capsys, "check", "--spec", spec, hostile)
    assert code == 1
    _no_controls(out)
    assert "tool:t\\nFAKE LINE\\x1b]0;pwned\\x07\\r\\x9b2J [2]" in out
    assert "A\\x1b[31mRED" in out


def test_query_text_output_shows_controls_in_trace_data_escaped(
    capsys: pytest.CaptureFixture[str], hostile: Path
) -> None:
    code, out, _ = run_cli(capsys, "query", hostile, "--select", "tool")
    assert code == 0
    _no_controls(out)
    assert "t\\nFAKE LINE" in out


def test_query_scope_text_output_shows_controls_in_trace_data_escaped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = make_trace(
        node(
            "agent",
            "o",
            node("delegation", "d", node("tool", HOSTILE), from_agent="o", to_agent="c\x1b]0;x\x07",
                 objective="obj\nFAKE LINE"),
        )
    )  # fmt: skip
    path = save_trace(trace, tmp_path / "scope.json")
    code, out, _ = run_cli(capsys, "query", path, "--scope", "2")
    assert code == 0
    _no_controls(out)
    assert "objective: obj\\nFAKE LINE" in out


# -- shipped packs by name, directories ----------------------------------------------------


def test_check_takes_a_shipped_pack_by_name(
    capsys: pytest.CaptureFixture[str], clean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check", clean, "--spec", "failure-modes", "--spec", "delegation-hygiene")
    assert err == ""
    assert code in (0, 1) and "failure-modes + delegation-hygiene" in out


def test_a_file_named_like_a_pack_wins_over_the_pack(
    capsys: pytest.CaptureFixture[str], clean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "failure-modes").write_text("spec: mine\nrules:\n  - {id: a, forbid: 'tool[name=nope]'}\n")
    code, out, _ = run_cli(capsys, "check", clean, "--spec", "failure-modes")
    assert code == 0 and out.endswith("the trace satisfies 'mine'\n")
    assert "(1 rule)" in out


def test_a_misspelt_pack_name_is_not_found_with_a_hint(
    capsys: pytest.CaptureFixture[str], clean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "check", clean, "--spec", "failure-mode")
    assert code == 2 and out == ""
    assert err == (
        "agenttrace check: error: failure-mode: spec file not found; check the path; "
        "did you mean the shipped pack 'failure-modes'?\n"
    )
    code, out, _ = run_cli(capsys, "lint", "failure-mode")
    assert code == 2 and "did you mean the shipped pack 'failure-modes'?" in out


def test_lint_takes_a_shipped_pack_by_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "lint", "failure-modes", "memory-safety")
    assert code == 0
    assert out.startswith("OK   failure-modes (10 rules)\nOK   memory-safety (")


def test_lint_of_a_directory_lints_each_spec_file(
    capsys: pytest.CaptureFixture[str], clean: Path, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    good = write_spec("rules:\n  - {id: a, forbid: 'tool[name=nope]'}\n", "specs/a.yaml")
    bad = write_spec("rules:\n  - id: b\n    forbidd: tool\n", "specs/b.yml")
    (tmp_path / "specs" / "notes.txt").write_text("not a spec")
    code, out, _ = run_cli(capsys, "lint", tmp_path / "specs")
    assert code == 2
    assert out.splitlines() == [
        f"OK   {good} (1 rule)",
        f"FAIL {bad}: 1 problem",
        f"  {bad}:3:5: rule 'b': unknown key 'forbidd'; did you mean 'forbid'?",
    ]
    bad.unlink()
    code, out, _ = run_cli(capsys, "lint", tmp_path / "specs", "--format", "json")
    assert code == 0 and [s["path"] for s in json.loads(out)["specs"]] == [str(good)]
    code, out, _ = run_cli(capsys, "check", clean, "--spec", tmp_path / "specs")
    assert code == 0 and "(1 rule)" in out


def test_lint_of_a_directory_without_specs_is_a_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, out, _ = run_cli(capsys, "lint", tmp_path / "empty")
    assert code == 2 and "empty: directory holds no *.yaml spec files" in out
