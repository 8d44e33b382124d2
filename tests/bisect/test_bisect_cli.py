"""``agenttrace bisect`` from the command line: registry, git-file and traces modes, bad input."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from bisect_helpers import BAD_CONTEXT, GOOD_CONTEXT, commit_file, make_trace

from pytest_agenttrace.cli import build_parser, main
from pytest_agenttrace.store import save_trace

# Fewer plugins in the child pytest runs: same answers, less start-up time.
FAST = ["-p", "no:hypothesispytest", "-p", "no:langsmith_plugin", "-p", "no:xdist", "-q"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with prompts/triage/v1..v5.txt; v4 on drops the customer tier."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "prompts" / "triage"
    folder.mkdir(parents=True)
    for n in range(1, 6):
        tier = "" if n >= 4 else " and the customer tier"
        (folder / f"v{n}.txt").write_text(f"Hand billing tickets over with the ticket id{tier}. (rev {n})\n")
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bisect", "--good", "v1", "--bad", "v5"], "name the prompt or config to bisect"),
        (["bisect", "triage", "--good", "v0"], "--good v0: prompt 'triage' in prompts has no such version"),
        (["bisect", "triage", "--good", "v4", "--bad", "v2"], "does not come before --bad v2"),
        (["bisect", "triage", "--registry", "nowhere"], "registry nowhere does not exist"),
        (["bisect", "nope"], "no prompt 'nope' in registry prompts"),
        (["bisect", "triage", "--confidence", "1.5"], "--confidence 1.5: must be at least 0.5"),
        (["bisect", "triage", "--repeat", "0"], "--repeat 0: must be at least 1"),
        (["bisect", "triage", "--repeat", "3", "--confidence", "0.9"], "--repeat works with the binary strategy"),
        (["bisect", "triage", "--strategy", "binary", "--confidence", "0.9"], "--confidence needs a noisy strategy"),
        (["bisect", "triage", "--versions", "v1,v2,v1"], "listed twice"),
        (["bisect", "--traces", "traces"], "--traces needs a predicate"),
        (["bisect", "--traces", "missing", "--spec", "s.yaml"], "--traces missing: no such directory"),
        (["bisect", "triage", "--spec", "missing.yaml"], "missing.yaml"),
        (["bisect", "triage"], "name the tests to run for each version after --"),
        (["bisect", "triage", "--"], "`-- .` runs every test"),
    ],
)
def test_bad_input_is_exit_2_with_one_paragraph(
    registry: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (registry / "traces").mkdir()
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert err.count("\n") == 1  # one paragraph
    assert out == ""


def test_a_selection_pytest_cannot_run_is_bad_input_not_a_verdict(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "bisect", "triage", "--no-cache", "--", "tests/nosuch.py")
    assert code == 2 and out == ""
    assert "pytest could not run the selection after -- for any version tried" in err
    assert "file or directory not found: tests/nosuch.py" in err


def test_pytest_arguments_need_the_double_dash(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "bisect", "triage", "tests/test_x.py")
    assert code == 2
    assert "unrecognized arguments: tests/test_x.py" in err


def test_the_seed_help_says_the_environment_variable_is_what_each_run_receives(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_cli(capsys, "bisect", "--help")
    assert code == 0
    expected = (
        "--seed N base of the per-run seeds (default: 0); each run gets its own seed in env AGENTTRACE_BISECT_SEED"
    )
    assert expected in " ".join(out.split())
    # The variable is an output of bisect, not an input: setting it does not change the base seed.
    monkeypatch.setenv("AGENTTRACE_BISECT_SEED", "99")
    assert build_parser().parse_args(["bisect", "triage", "--", "."]).seed == 0
    assert build_parser().parse_args(["bisect", "triage", "--seed", "99", "--", "."]).seed == 99


# --------------------------------------------------------------------------- traces mode


@pytest.fixture
def trace_folder(tmp_path: Path) -> Path:
    """Recorded traces of versions v1..v10 (filenames say nothing); v7 on lose the tier."""
    folder = tmp_path / "artifacts"
    for n in range(1, 11):
        context = BAD_CONTEXT if n >= 7 else GOOD_CONTEXT
        save_trace(make_trace(context, label=f"v{n}"), folder / f"run-{n:02d}.json")
    return folder


def test_traces_mode_finds_the_first_bad_version_without_running_anything(
    trace_folder: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "bisect", "triage", "--traces", str(trace_folder), "--spec", str(spec_file))
    assert code == 0
    assert "first bad version: triage@v7" in out
    assert "last good version: triage@v6" in out
    assert "prompt triage v6 -> v7" in out  # the trace diff, versions first
    assert "context.customer_tier" in out


def test_traces_mode_json(trace_folder: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "bisect", "triage", "--traces", str(trace_folder), "--spec", str(spec_file), "--format", "json"
    )
    doc = json.loads(out)
    assert code == 0
    assert (doc["first_bad"], doc["last_good"], doc["status"]) == ("v7", "v6", "found")
    assert doc["versions"] == [f"v{n}" for n in range(1, 11)]
    assert all({"version", "outcome", "stamp", "seed", "trace_hash"} <= set(r) for r in doc["runs"])
    assert doc["evidence"]["v7"] == {"runs": 1, "passes": 0, "failures": 1, "skips": 0}
    assert doc["total_runs"] <= 6  # binary search over 10 versions, ends included


def test_traces_mode_bad_end_passing_is_exit_1(
    trace_folder: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys, "bisect", "triage", "--traces", str(trace_folder), "--spec", str(spec_file), "--bad", "v5"
    )
    assert code == 1
    assert "the ends do not bracket a regression: the bad end passes" in out


def test_traces_mode_with_several_runs_per_version_reports_confidence(
    tmp_path: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "flaky"
    pattern = {1: "gggg", 2: "gggb", 3: "gggg", 4: "bbgb", 5: "bbbb", 6: "bbbg"}
    for version, outcomes in pattern.items():
        for i, o in enumerate(outcomes):
            context = GOOD_CONTEXT if o == "g" else BAD_CONTEXT
            save_trace(make_trace(context, label=f"v{version}"), folder / f"triage@v{version}-{i}.json")
    code, out, _ = run_cli(
        capsys,
        "bisect",
        "triage",
        "--traces",
        str(folder),
        "--spec",
        str(spec_file),
        "--confidence",
        "0.8",
        "--format",
        "json",
    )
    doc = json.loads(out)
    assert code == 0, doc
    assert (doc["first_bad"], doc["strategy"]) == ("v4", "evidence")
    assert doc["confidence"] >= 0.8
    assert doc["evidence"]["v4"]["failures"] == 3


def test_traces_mode_reads_versions_from_file_names_and_skips_missing_ones(
    tmp_path: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def record(missing: int) -> Path:
        folder = tmp_path / f"named-{missing}"
        for n in sorted({1, 2, 3, 4, 5, 6} - {missing}):
            trace = make_trace(BAD_CONTEXT if n >= 4 else GOOD_CONTEXT, label=f"v{n}")
            save_trace(trace.__class__.from_dict({**trace.to_dict(), "versions": {}}), folder / f"v{n}.json")
        return folder

    argv = ["--spec", str(spec_file), "--versions", "v1,v2,v3,v4,v5,v6"]
    code, out, _ = run_cli(capsys, "bisect", "--traces", str(record(missing=2)), *argv)
    assert code == 0
    assert "first bad version: v4" in out
    # Without v3 nothing tells v3 from v4 apart: both are named, exit 1.
    code, out, _ = run_cli(capsys, "bisect", "--traces", str(record(missing=3)), *argv)
    assert code == 1
    assert "the first bad version is one of: v3, v4" in out
    assert "v3: no recorded trace for this version" in out


@pytest.mark.parametrize("where", ["env", "option"])
def test_traces_mode_reads_the_order_from_the_registry_in_agenttrace_prompts_as_registry_mode_does(
    tmp_path: Path,
    spec_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    # The ORDER puts v3 last: v3 is the only bad version, so with the ORDER it is the first bad one
    # right after v5; in natural order v3 sits between good versions and the search goes astray.
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "elsewhere" / "prompts" / "triage"
    folder.mkdir(parents=True)
    for n in range(1, 6):
        (folder / f"v{n}.txt").write_text(f"rev {n}\n")
    (folder / "ORDER").write_text("v1\nv2\nv4\nv5\nv3\n")
    traces = tmp_path / "traces"
    for n in range(1, 6):
        save_trace(make_trace(BAD_CONTEXT if n == 3 else GOOD_CONTEXT, label=f"v{n}"), traces / f"run-{n}.json")
    argv = ["bisect", "triage", "--traces", str(traces), "--spec", str(spec_file), "--format", "json"]
    if where == "env":
        monkeypatch.setenv("AGENTTRACE_PROMPTS", str(folder.parent))
    else:
        argv += ["--registry", str(folder.parent)]
    code, out, _ = run_cli(capsys, *argv)
    doc = json.loads(out)
    assert doc["versions"] == ["v1", "v2", "v4", "v5", "v3"]
    assert (code, doc["first_bad"], doc["last_good"]) == (0, "v3", "v5")


# --------------------------------------------------------------------------- registry mode (runs pytest)

AGENT_TEST = textwrap.dedent(
    """
    def test_triage(agenttrace):
        text = agenttrace.prompt("triage")
        with agenttrace.agent("triage"):
            with agenttrace.delegate(to="billing", context={"ticket_id": "T-1"}) as d:
                if "customer tier" in text:
                    d.set_context({"ticket_id": "T-1", "customer_tier": "gold"})
        assert "customer tier" in text, "the prompt lost the customer tier"
    """
)


@pytest.mark.slow
def test_registry_bisect_end_to_end_then_resumes_from_the_cache(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (registry / "test_agent.py").write_text(AGENT_TEST)
    argv = ["bisect", "triage", "--good", "v1", "--bad", "v5", "--format", "json", "--", "test_agent.py", *FAST]
    code, out, _ = run_cli(capsys, *argv)
    doc = json.loads(out)
    assert code == 0, doc
    assert (doc["first_bad"], doc["last_good"]) == ("v4", "v3")
    assert doc["total_runs"] <= 5 and doc["cached_runs"] == 0
    assert any("prompt triage v3 -> v4" in line for line in doc["diff"])
    assert list((registry / ".pytest_cache" / "v" / "agenttrace" / "bisect").glob("*.jsonl"))
    # Run again: every run comes from the log, nothing is re-run.
    code, out, err = run_cli(capsys, *argv[: -len(FAST) - 2], "--format", "text", "--", "test_agent.py", *FAST)
    assert code == 0
    assert "first bad version: triage@v4" in out
    assert f"{doc['total_runs']} from the cache" in out
    assert "(cached)" in err


INLINE_CONFIG_TEST = textwrap.dedent(
    """
    import os
    import pytest_agenttrace as at

    VARIANTS = {"a": {"k": 5}, "b": {"k": 5}, "c": {"k": 50}, "d": {"k": 50}}

    def test_cfg(agenttrace):
        pins = dict(x.split("=") for x in os.environ.get("AGENTTRACE_VERSIONS", "").split(",") if x)
        cfg = at.config("team", VARIANTS[pins.get("team", "a")])
        assert cfg["k"] < 10
    """
)


@pytest.mark.slow
def test_versions_bisect_of_a_config_defined_in_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No configs/ registry: the test picks the mapping from the pinned label, as docs/bisect.md says.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTTRACE_VERSIONS", raising=False)
    (tmp_path / "test_cfg.py").write_text(INLINE_CONFIG_TEST)
    argv = ["bisect", "team", "--versions", "a,b,c,d", "--no-cache", "--format", "json", "--", "test_cfg.py", *FAST]
    code, out, _ = run_cli(capsys, *argv)
    doc = json.loads(out)
    assert (code, doc["status"], doc["first_bad"], doc["last_good"]) == (0, "found", "c", "b"), doc
    assert "  config team b -> c" in doc["diff"]  # the stamps carry the pinned labels


PLANNER_TEST = textwrap.dedent(
    """
    import pytest_agenttrace as at

    def run_team(rec):
        text = rec.prompt("planner")
        with rec.agent("planner"):
            with rec.llm("plan", model="m1") as call:
                call.set_usage(input_tokens=10, output_tokens=5)
                call.set_output({"text": "ok"})
            for i in range(3 if "bad" in text else 1):
                with rec.tool("search", input={"q": f"q{i}"}):
                    pass

    def test_team(agenttrace, agenttrace_snapshot):
        run_team(agenttrace)
        assert agenttrace.trace == agenttrace_snapshot

    def test_plain(agenttrace):
        run_team(agenttrace)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["pytest.ini", "pyproject.toml", "flag"])
def test_snapshot_bisect_compares_with_the_options_the_golden_was_written_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTTRACE_VERSIONS", raising=False)
    folder = tmp_path / "prompts" / "planner"
    folder.mkdir(parents=True)
    for n in range(1, 5):
        (folder / f"v{n}.txt").write_text("plan badly\n" if n >= 3 else f"plan well ({n})\n")
    (tmp_path / "test_agents.py").write_text(PLANNER_TEST)
    write = ["--snapshot-update"]
    if where == "pytest.ini":
        (tmp_path / "pytest.ini").write_text("[pytest]\nagenttrace_snapshot_exclude =\n    attributes.usage\n")
    elif where == "pyproject.toml":
        (tmp_path / "pyproject.toml").write_text(
            '[tool.pytest.ini_options]\nagenttrace_snapshot_exclude = ["attributes.usage"]\n'
        )
    else:  # the golden came from elsewhere: the bisect is told how it was written
        write += ["-o", "agenttrace_snapshot_exclude=attributes.usage"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "test_agents.py", "-k", "test_team", *FAST, *write],
        env={**os.environ, "AGENTTRACE_VERSIONS": "planner=v1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    golden = tmp_path / "__snapshots__" / "test_agents" / "test_team.agenttrace"
    assert "usage" not in golden.read_text(encoding="utf-8")
    flags = ["--exclude", "attributes.usage"] if where == "flag" else []
    argv = ["bisect", "planner", "--snapshot", str(golden), *flags, "--no-cache", "--format", "json"]
    code, out, _ = run_cli(capsys, *argv, "--", "test_agents.py", "-k", "test_plain", *FAST)
    doc = json.loads(out)
    assert (code, doc["status"], doc["first_bad"], doc["last_good"]) == (0, "found", "v3", "v2"), doc
    assert doc["runs"][0]["detail"] == "same as the snapshot"


@pytest.mark.slow
def test_runs_in_which_pytest_ran_nothing_are_not_replayed(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bisect", "triage", "--good", "v1", "--bad", "v5", "--", "test_agent.py", *FAST]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and "file or directory not found: test_agent.py" in err
    (registry / "test_agent.py").write_text(AGENT_TEST)  # the selection fixed: the same command again
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, out + err
    assert "first bad version: triage@v4" in out and "(cached)" not in err


@pytest.mark.slow
def test_git_file_bisect_applies_only_the_prompt_file(
    git: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    test = "from pathlib import Path\n\ndef test_prompt():\n    assert 'tier' in Path('prompt.txt').read_text()\n"
    commit_file(git, repo, "test_prompt.py", test, "test")
    shas = [commit_file(git, repo, "prompt.txt", f"pass the tier (rev {n})\n", f"r{n}") for n in (1, 2)]
    shas += [commit_file(git, repo, "prompt.txt", f"pass the id only (rev {n})\n", f"r{n}") for n in (3, 4)]
    monkeypatch.chdir(repo)
    code, out, _ = run_cli(capsys, "bisect", "--git-file", "prompt.txt", "--no-cache", "--", *FAST)
    assert code == 0, out
    assert f"first bad version: prompt.txt@{shas[2]}" in out
    assert f"last good version: prompt.txt@{shas[1]}" in out
    assert (repo / "prompt.txt").read_text() == "pass the id only (rev 4)\n"  # untouched


@pytest.mark.slow
def test_git_file_bisect_checks_the_traces_of_runs_in_a_copy_of_the_tree(
    git: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each version runs in a temporary copy of the tree: the traces it saves must outlive the copy
    # (they were once written into it, so --spec found no trace at any version).
    repo = tmp_path / "repo"
    test = textwrap.dedent(
        """
        from pathlib import Path

        def test_prompt(agenttrace):
            with agenttrace.agent("triage"):
                if "tier" in Path("prompt.txt").read_text():
                    with agenttrace.tool("lookup_tier"):
                        pass
        """
    )
    spec = "rules:\n  - id: looks-up-tier\n    expect: {select: 'tool[name=lookup_tier]', count: {min: 1}}\n"
    commit_file(git, repo, "test_prompt.py", test, "test")
    commit_file(git, repo, "tier.yaml", spec, "spec")
    shas = [commit_file(git, repo, "prompt.txt", f"pass the tier (rev {n})\n", f"r{n}") for n in (1, 2)]
    shas += [commit_file(git, repo, "prompt.txt", f"pass the id only (rev {n})\n", f"r{n}") for n in (3, 4)]
    monkeypatch.chdir(repo)
    argv = ["bisect", "--git-file", "prompt.txt", "--spec", "tier.yaml", "--", "test_prompt.py", *FAST]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, out + err
    assert f"first bad version: prompt.txt@{shas[2]}" in out
    assert "saved no trace" not in out + err
    assert list((repo / ".pytest_cache" / "v" / "agenttrace" / "bisect").rglob("*.json"))


@pytest.mark.slow
def test_git_run_predicate_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "test_bad.py").write_text("def test_bad():\n    assert False\n")
    (tmp_path / "test_broken.py").write_text("import no_such_module\n")
    assert run_cli(capsys, "bisect", "--git-run-predicate", "--", "test_ok.py", *FAST)[0] == 0
    assert run_cli(capsys, "bisect", "--git-run-predicate", "--", "test_bad.py", *FAST)[0] == 1
    assert run_cli(capsys, "bisect", "--git-run-predicate", "--", "test_broken.py", *FAST)[0] == 125
    code, _, err = run_cli(capsys, "bisect", "--git-run-predicate", "--spec", "missing.yaml", "--", "test_ok.py")
    assert code == 128
    assert "missing.yaml" in err
    code, _, err = run_cli(capsys, "bisect", "--git-run-predicate")  # no selection: not the whole suite
    assert code == 128
    assert "name the tests to run for each version after --" in err


# --------------------------------------------------------------------------- bad input found by the limits audit


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize(
    ("setup", "argv", "message"),
    [
        ({}, ["--timeout", "0"], "--timeout 0: a run's time limit is a positive number of seconds"),
        ({}, ["--timeout=-5"], "--timeout -5: a run's time limit is a positive number of seconds"),
        ({}, ["--timeout", "nan"], "--timeout nan:"),
        ({}, ["--versions", "v1,v1,v2"], "--versions v1,v1,v2: v1 listed twice; list each version once"),
        ({"regfile": b"x"}, ["--registry", "regfile"], "registry regfile is not a directory"),
        ({"prompts/triage/ORDER": b"\xff\xfe"}, [], "prompts/triage/ORDER: the order file is not UTF-8 text (byte 0)"),
        ({"prompts/triage/ORDER": b"v1\nv2\nv1\n"}, [], "prompt 'triage' in prompts: v1 listed twice"),
        ({"afile": b"x"}, ["--cache-dir", "afile/x"], "cannot create afile/x/v/agenttrace/bisect (afile is a file, not a directory)"),
        ({".pytest_cache": b"x"}, [], "the pytest cache .pytest_cache: cannot create"),
    ],
    ids=["timeout-0", "timeout-negative", "timeout-nan", "duplicate", "registry-file", "order-utf8", "order-twice",
         "cache-dir-file", "default-cache-file"],
)  # fmt: skip
def test_bad_bisect_options_are_exit_2_before_any_run(
    registry: Path, capsys: pytest.CaptureFixture[str], setup: dict[str, bytes], argv: list[str], message: str
) -> None:
    for name, data in setup.items():
        _write(registry / name, data)
    (registry / "test_agent.py").write_text("raise SystemExit('no run may start')\n")
    code, out, err = run_cli(capsys, "bisect", "triage", *argv, "--", "test_agent.py", *FAST)
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1 and out == ""
    assert not (registry / ".pytest_cache").is_dir() or not list((registry / ".pytest_cache").rglob("traces"))


def test_the_order_file_error_names_its_path_once(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(registry / "prompts" / "triage" / "ORDER", b"v1\nv9\n")
    code, _, err = run_cli(capsys, "bisect", "triage", "--", "test_agent.py")
    assert code == 2 and "lists ['v9']" in err
    assert err.count("prompts/triage/ORDER") == 1, err


def test_an_order_file_that_is_not_utf8_is_exit_2_naming_it(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(registry / "prompts" / "triage" / "ORDER", b"\xff\xfev1\n")
    code, _, err = run_cli(capsys, "bisect", "triage", "--", "test_agent.py")
    assert code == 2 and "not UTF-8" in err and err.count("prompts/triage/ORDER") == 1, err


def test_traces_mode_refuses_a_version_listed_twice(
    trace_folder: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "bisect", "--traces", str(trace_folder), "--spec", str(spec_file), "--versions", "v1,v1,v2"
    )
    assert (code, out) == (2, "")
    assert "--versions v1,v1,v2: v1 listed twice" in err


@pytest.mark.slow
def test_a_run_log_line_that_is_not_utf8_is_skipped_with_a_note(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (registry / "test_agent.py").write_text(AGENT_TEST)
    argv = ["bisect", "triage", "--versions", "v3,v4", "--", "test_agent.py", *FAST]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "first bad version: triage@v4" in out
    (log,) = (registry / ".pytest_cache" / "v" / "agenttrace" / "bisect").glob("*.jsonl")
    with log.open("ab") as handle:
        handle.write(b'{"version": "v3", "detail": "\xff\xfe"}\n')
    code, out, err = run_cli(capsys, *argv)
    assert code == 0 and "2 runs (2 from the cache)" in out
    assert f"note: ignored 1 unreadable line(s) of the run log {log.relative_to(registry)}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("golden", "message"),
    [
        ('spans\n- agent a {"input": ' + "9" * 5000 + "}\n", "more than 4300 digits"),
        ("spans\n- bogus orchestrator {}\n", "unknown span kind 'bogus'"),
    ],
    ids=["huge-number", "unknown-kind"],
)
def test_a_malformed_golden_snapshot_is_exit_2(
    trace_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], golden: str, message: str
) -> None:
    snapshot = tmp_path / "golden.agenttrace"
    snapshot.write_text("# agenttrace snapshot\nformat 1\nlevel io\n" + golden, encoding="utf-8")
    code, out, err = run_cli(capsys, "bisect", "triage", "--traces", str(trace_folder), "--snapshot", str(snapshot))
    assert (code, out) == (2, "")
    assert f"{snapshot}:5:" in err and message in err
    assert "Traceback" not in err and err.count("\n") == 1
