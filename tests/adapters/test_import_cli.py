"""``agenttrace import`` / ``agenttrace export``, format detection and the Agents SDK export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_agenttrace.adapters.importing import FORMATS, detect_format, import_trace
from pytest_agenttrace.cli import main
from pytest_agenttrace.model import Trace
from pytest_agenttrace.store import load_trace, save_trace, validate_trace_dict

from .corpora import LANGFUSE, TAU_RUNS, WHO_AND_WHEN

AGENTS_EXPORT = Path(__file__).parent / "data" / "openai_agents_export.json"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        ({"resourceSpans": []}, "otlp"),
        ([{"resourceSpans": []}], "otlp"),
        ({"trace": {"id": "t"}, "observations": []}, "langfuse"),
        ({"id": "t", "observations": []}, "langfuse"),
        ([{"object": "trace.span", "span_data": {}}], "openai-agents"),
        ({"data": [{"object": "trace", "id": "t"}]}, "openai-agents"),
        ({"history": []}, "messages"),
        ([{"task_id": 1, "traj": []}], "messages"),
        ([{"role": "user", "content": "hi"}], "messages"),
        ({"format_version": 1, "spans": []}, None),
        ([], None),
        ("text", None),
    ],
)
def test_detect_format(data: object, fmt: str | None) -> None:
    assert detect_format(data) == fmt
    assert fmt is None or fmt in FORMATS


def test_import_writes_a_valid_trace_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "adk.json"
    assert (
        main(
            ["import", str(LANGFUSE / "google-adk-2025-08-28.json"), "--from", "langfuse", "-o", str(out), "--validate"]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == str(out)
    trace = load_trace(out, validate=True)
    assert trace.agents == ["hello_agent"]


def test_import_without_output_prints_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(WHO_AND_WHEN / "Hand-Crafted" / "1.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    validate_trace_dict(printed)
    assert printed["metadata"]["labels"]["mistake_agent"] == "WebSurfer"


def test_dash_as_output_is_stdout_for_import_and_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a file named "-" would land here
    source = str(WHO_AND_WHEN / "Hand-Crafted" / "1.json")
    assert main(["import", source]) == 0
    printed = capsys.readouterr().out
    assert main(["import", source, "-o", "-"]) == 0
    assert capsys.readouterr().out == printed
    saved = save_trace(Trace.from_dict(json.loads(printed)), tmp_path / "t.json")
    assert main(["export", str(saved)]) == 0
    exported = capsys.readouterr().out
    assert main(["export", str(saved), "-o", "-"]) == 0
    assert capsys.readouterr().out == exported and json.loads(exported)["resourceSpans"]
    assert main(["import", str(TAU_RUNS), "-o", "-"]) == 2  # many runs: a folder, not one stream
    assert "holds 29 runs; pass -o DIR/" in capsys.readouterr().err
    assert not (tmp_path / "-").exists()


def test_import_of_many_runs_writes_one_file_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(TAU_RUNS), "-o", f"{tmp_path}/runs/"]) == 0
    written = sorted((tmp_path / "runs").glob("*.json"))
    assert len(written) == 29
    assert capsys.readouterr().out.count("\n") == 29
    assert main(["import", str(TAU_RUNS), "-o", str(tmp_path / "tau.json")]) == 0
    assert (tmp_path / "tau.1.json").exists() and (tmp_path / "tau.29.json").exists()
    assert main(["import", str(TAU_RUNS)]) == 2
    assert "holds 29 runs; pass -o DIR/" in capsys.readouterr().err


def test_export_then_import_on_the_command_line_gives_the_same_file(tmp_path: Path) -> None:
    original = tmp_path / "lg.json"
    assert main(["import", str(LANGFUSE / "langgraph-2025-08-22.json"), "-o", str(original)]) == 0
    assert main(["export", str(original), "--to", "otlp", "-o", str(tmp_path / "otlp.json")]) == 0
    document = json.loads((tmp_path / "otlp.json").read_text())
    assert len(document["resourceSpans"]) == 1
    assert main(["import", str(tmp_path / "otlp.json"), "--from", "otlp", "-o", str(tmp_path / "back.json")]) == 0
    assert (tmp_path / "back.json").read_bytes() == original.read_bytes()


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""), ("utf-16-be", b"\xfe\xff"), ("utf-32", b"")],
)
def test_import_reads_a_byte_order_mark_and_utf_16(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    original = tmp_path / "lg.json"
    assert main(["import", str(LANGFUSE / "langgraph-2025-08-22.json"), "-o", str(original)]) == 0
    assert main(["export", str(original), "--to", "otlp", "-o", str(tmp_path / "otlp.json")]) == 0
    text = (tmp_path / "otlp.json").read_text(encoding="utf-8")
    windows = tmp_path / "windows.json"
    windows.write_bytes(prefix + text.encode(encoding))  # "utf-16" writes its own byte-order mark
    assert main(["import", str(windows), "-o", str(tmp_path / "back.json")]) == 0
    assert (tmp_path / "back.json").read_bytes() == original.read_bytes()


def test_export_of_several_traces_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = []
    for stem in ("agno-2025-06-11", "koog-2025-08-26"):
        trace = import_trace(LANGFUSE / f"{stem}.json")
        assert isinstance(trace, Trace)
        paths.append(str(save_trace(trace, tmp_path / f"{stem}.json")))
    capsys.readouterr()
    assert main(["export", *paths]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["resourceSpans"]) == 2


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ('{"a": 1}', [], "is not a trace format agenttrace can import"),
        ("{oops", ["--from", "langfuse"], "is not JSON"),
        ('{"history": []}', ["--from", "otlp"], "it looks like 'messages'"),
        ('{"spans": []}', ["--from", "messages"], "it matches no known format"),
        ('{"format_version": 1, "spans": []}', [], "is already a pytest-agenttrace trace file"),
        ('{"format_version": 1, "spans": []}', ["--from", "messages"], "`agenttrace show FILE`"),
        (b'{"history": ["caf\xe9"]}', [], "is not UTF-8 text (byte 0xe9 at offset 17 does not decode)"),
        ("[" * 1100 + "]" * 1100, [], "is nested too deeply to read (over 1024 levels)"),
    ],
)
def test_import_errors_exit_2_with_one_paragraph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, args: list[str], message: str
) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["import", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_an_output_that_cannot_be_written_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    source = str(WHO_AND_WHEN / "Hand-Crafted" / "1.json")
    for args in (
        ["import", source, "-o", f"{in_the_way}/out.json"],
        ["import", source, "-o", f"{in_the_way}/"],
        ["import", str(TAU_RUNS), "-o", f"{in_the_way}/sub/"],
    ):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "cannot write the output" in err or "a-file is a file, not a directory" in err
        assert "Traceback" not in err and err.count("\n") == 1
        # Said once: the store's own explanation is not wrapped in a second one.
        assert err.count("another path") == 1
    assert main(["import", source, "-o", str(tmp_path / "t.json")]) == 0
    assert main(["export", str(tmp_path / "t.json"), "-o", f"{in_the_way}/x.json"]) == 2
    err = capsys.readouterr().err
    assert "a-file is a file, not a directory" in err and err.count("another path") == 1
    assert main(["import", source, "-o", source]) == 2
    err = capsys.readouterr().err
    assert "is also an input" in err and "cannot write the output" not in err


def test_import_of_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(tmp_path / "nope.json")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_export_of_a_foreign_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(LANGFUSE / "agno-2025-06-11.json")]) == 2
    assert "agenttrace import" in capsys.readouterr().err


def test_openai_agents_export_handoff_and_failing_tool() -> None:
    result = import_trace(AGENTS_EXPORT, "openai-agents")
    assert isinstance(result, list)
    handoff_run, _ = result
    validate_trace_dict(handoff_run.to_dict())
    assert handoff_run.name == "Agent workflow"
    assert handoff_run.agents == ["triage", "billing"]
    [handoff] = handoff_run.find("handoff")
    assert (handoff.agent, handoff.attributes["from_agent"], handoff.attributes["to_agent"]) == (
        "triage",
        "triage",
        "billing",
    )
    refund = handoff_run.find("tool", name="refund")[0]
    assert (refund.status, refund.agent, refund.input) == ("error", "billing", {"order_id": "A1"})
    assert refund.error is not None and refund.error["message"].startswith("Error running tool")
    # turn spans are folded into the agent span.
    assert {handoff_run.parent(s).kind for s in handoff_run.find("llm")} == {"agent"}


def test_openai_agents_export_as_tool_becomes_a_delegation() -> None:
    result = import_trace(AGENTS_EXPORT)
    assert isinstance(result, list)
    trace = result[1]
    validate_trace_dict(trace.to_dict())
    [delegation] = trace.delegations
    assert trace.parent(delegation).name == "translate"
    assert (delegation.attributes["from_agent"], delegation.attributes["to_agent"]) == ("manager", "translator")
    translator = trace.find("agent", name="translator")[0]
    assert translator.scope == delegation.span_id
    assert all(s.scope_path == [delegation.span_id] for s in trace.descendants(delegation))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"history": "x"}', "'history' must be a list of messages"),
        ('{"messages": {"a": 1}}', "'messages' must be a list of messages"),
        ('{"trace": null, "observations": null}', "'observations' must be a list"),
        ('{"resourceSpans": "x"}', "'resourceSpans' must be a list"),
        ('{"resourceSpans": [5]}', "each 'resourceSpans' item must be an object"),
        ('{"resourceSpans": []}', "holds no span that could be imported"),
        ('{"resourceSpans": [{"resource": {}, "scopeSpans": []}]}', "holds no span that could be imported"),
        ('{"resourceSpans": [{"scopeSpans": {"spans": []}}]}', "'scopeSpans' must be a list"),
        ('[{"object": "trace.span", "span_data": null}]', "holds no span that could be imported"),
        (
            '{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": 5, "startTimeUnixNano": "abc"}]}]}]}',
            "holds no span that could be imported (span 5 skipped",
        ),
        (
            '{"trace": {"id": "t"}, "observations": [{"id": 1, "type": "SPAN", "startTime": "notatime"}]}',
            "holds no span that could be imported",
        ),
    ],
)
def test_import_of_a_wrong_shape_or_no_span_exits_2_naming_the_file_and_the_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "in.json"
    path.write_text(content)
    assert main(["import", str(path), "-o", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "expected" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.json").exists()


def test_import_keeps_the_good_records_of_a_file_with_one_bad_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "in.json"
    path.write_text(
        json.dumps({"history": [{"role": "user", "content": "hi"}, 5, {"role": "assistant", "content": "ok"}]})
    )
    assert main(["import", str(path), "-o", str(tmp_path / "out.json")]) == 0
    trace = load_trace(tmp_path / "out.json")
    assert len(trace.spans) >= 2
    assert any("message 1 has no role" in note for note in trace.metadata["import_warnings"])


SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"


def _unclean_trace_dict() -> dict[str, object]:
    span = {
        "span_id": "1", "parent_id": None, "kind": "tool", "name": f"call {SECRET}", "agent": "a",
        "scope": None, "scope_path": [], "start_ns": 0, "end_ns": 5, "status": "error",
        "error": {"type": "E", "message": f"Bearer {SECRET}"}, "input": {"api_key": "hunter2-long-value"},
        "output": f"token={SECRET}", "attributes": {"why": SECRET}, "versions": {}, "context": None,
        "links": [], "events": [{"name": "retry", "time_ns": 1, "attributes": {"password": "pw-123456789"}}],
    }  # fmt: skip
    return {
        "format_version": 1, "trace_id": "t1", "name": f"test[{SECRET}]", "started_at": "2026-11-21T23:00:00Z",
        "metadata": {"nodeid": f"t.py::test[{SECRET}]"}, "versions": {}, "spans": [span],
    }  # fmt: skip


def test_import_sanitises_a_file_that_claims_to_be_an_agenttrace_export(tmp_path: Path) -> None:
    from pytest_agenttrace.adapters.otlp import to_otlp

    document = to_otlp(Trace.from_dict(_unclean_trace_dict()))  # to_otlp copies as given: not clean
    assert SECRET in json.dumps(document)
    path = tmp_path / "claims-native.json"
    path.write_text(json.dumps(document))
    trace = import_trace(path, "otlp")
    assert isinstance(trace, Trace)
    text = json.dumps(trace.to_dict())
    assert SECRET not in text and "hunter2" not in text and "pw-123456789" not in text
    assert trace.spans[0].input == {"api_key": "[REDACTED]"}


def test_export_sanitises_a_trace_file_that_is_not_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dirty.json"
    path.write_text(json.dumps(_unclean_trace_dict()))
    assert main(["export", str(path)]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out and "hunter2" not in out and "pw-123456789" not in out
    assert "[REDACTED]" in out


def _otlp_run(trace_hex: str, name: str = "planner") -> dict[str, object]:
    span = {
        "traceId": trace_hex,
        "spanId": "00f067aa0ba902b7",
        "name": name,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000000000100",
    }
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def test_import_into_a_directory_never_replaces_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    written = []
    for position, trace_hex in enumerate(["1" * 32, "2" * 32, "2" * 32], 1):
        source = tmp_path / f"run{position}.otlp.json"
        source.write_text(json.dumps(_otlp_run(trace_hex)))
        assert main(["import", str(source), "-o", f"{out}/"]) == 0
        [line] = capsys.readouterr().out.splitlines()
        written.append(Path(line))
    # Same root span name, other trace id: another name; the same run again: a copy beside it.
    assert len(set(written)) == 3 and sorted(out.iterdir()) == sorted(written)
    assert [load_trace(path).trace_id for path in written] == ["1" * 32, "2" * 32, "2" * 32]
    assert written[2].name == written[1].name.removesuffix(".json") + ".2.json"


def test_a_json_lines_file_with_a_cut_line_imports_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    good = [json.dumps(_otlp_run(digit * 32, f"run{digit}")) for digit in "123"]
    source = tmp_path / "spans.jsonl"
    source.write_text("\n".join([*good, good[0][:40]]) + "\n")  # what a killed exporter leaves
    assert main(["import", str(source), "-o", f"{tmp_path}/out/"]) == 0
    paths = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(load_trace(path).name for path in paths) == ["run1", "run2", "run3"]
    for path in paths:
        [warning] = load_trace(path).metadata["import_warnings"]
        assert warning.startswith("line 4 is not JSON (") and "line 1" not in warning
    assert "line 4 is not JSON" in caplog.text
    # A pretty-printed document cut short is still one broken document, not JSON Lines.
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(_otlp_run("1" * 32), indent=2)[:-20])
    assert main(["import", str(cut)]) == 2
    assert "is not JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("wrapped", "fmt"),
    [
        ({"data": [_otlp_run("1" * 32)]}, "otlp"),
        ({"data": [{"history": [{"role": "Coder", "content": "hi"}]}]}, "messages"),
        (
            {
                "data": [
                    {
                        "id": "t1",
                        "name": "run",
                        "observations": [{"id": "a", "type": "SPAN", "name": "a", "startTime": "2025-01-01T00:00:00Z"}],
                    }
                ]
            },
            "langfuse",
        ),
    ],
)
def test_an_api_list_under_data_is_read_as_the_format_it_holds(
    wrapped: dict[str, object], fmt: str, tmp_path: Path
) -> None:
    source = tmp_path / "list.json"
    source.write_text(json.dumps(wrapped))
    assert detect_format(wrapped) == fmt
    for given in (None, fmt):
        trace = import_trace(source, given)
        assert isinstance(trace, Trace) and len(trace.spans) == 1
        validate_trace_dict(trace.to_dict())


def test_a_closed_stdout_does_not_stop_the_files_being_written(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "tau"
    command = [sys.executable, "-c", "from pytest_agenttrace.cli import main; raise SystemExit(main())"]
    run = subprocess.run(
        f"{' '.join(command[:2])} '{command[2]}' import '{TAU_RUNS}' -o '{out}/' | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 1 and run.stderr == ""
    assert len(list(out.iterdir())) == 29


def test_export_of_a_run_and_its_reimport_then_import_gives_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The user's walkthrough: run.json and back.json (run.json exported and imported again) are the same trace.
    run = tmp_path / "run.json"
    assert main(["import", str(WHO_AND_WHEN / "Hand-Crafted" / "1.json"), "-o", str(run)]) == 0
    assert main(["export", str(run), "-o", str(tmp_path / "run.otlp.json")]) == 0
    assert main(["import", str(tmp_path / "run.otlp.json"), "-o", str(tmp_path / "back.json")]) == 0
    assert main(["export", str(run), str(tmp_path / "back.json"), "-o", str(tmp_path / "both.otlp.json")]) == 0
    assert main(["import", str(tmp_path / "both.otlp.json"), "-o", str(tmp_path / "both.json")]) == 0
    out, err = capsys.readouterr()
    assert "appears twice" not in err
    written = [tmp_path / "both.1.json", tmp_path / "both.2.json"]
    assert out.split()[-2:] == [str(path) for path in written]
    original = json.loads(run.read_text())
    assert [json.loads(path.read_text()) for path in written] == [original, original]
