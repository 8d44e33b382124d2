"""The snapshot plugin end to end, through pytester: create, match, mismatch, update, unused, xdist, matrix."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

AGENTS = """
import pytest
import pytest_agenttrace as at

SEARCHES = {searches}


def run_pipeline(rec):
    text = at.prompt("summarizer")
    n = 3 if "v4" in text else SEARCHES
    with rec.agent("orchestrator"):
        with rec.delegate(to="coder", objective="fix", allowed_tools=["web_search"], context={{"diff_summary": "d"}}):
            with rec.agent("coder"):
                for i in range(n):
                    with rec.tool("web_search", input={{"q": f"q{{i}}"}}) as t:
                        t.set_output({{"hits": i}})
                with rec.llm("plan", model="fake-1") as call:
                    call.set_usage(input_tokens=10, output_tokens=5)
                    call.set_confidence({confidence})


def test_pipeline(agenttrace, agenttrace_snapshot):
    run_pipeline(agenttrace)
    assert agenttrace.trace == agenttrace_snapshot
"""

RESULTS_CONFTEST = """
import json, os

def pytest_agenttrace_trace_finished(item, recorder, trace):
    diffs = recorder.results.get("snapshot_diffs")
    if diffs:
        name = item.name.replace("[", "_").replace("]", "").replace("=", "_")
        with open(os.path.join(str(item.config.rootpath), name + ".diffs.json"), "w") as f:
            json.dump(diffs, f)
"""

GOLDEN = Path("__snapshots__") / "test_agents" / "test_pipeline.agenttrace"


# Plugins that only slow the inner runs down (each re-imports heavy modules per run).
FAST = "-p no:hypothesispytest -p no:anyio -p no:langsmith_plugin -p no:pytest_agenttrace.adapters.plugin"


def ini(pytester: pytest.Pytester, extra: str = "") -> None:
    pytester.makeini(f"[pytest]\naddopts = {FAST}\nfilterwarnings = error\n{extra}")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("AGENTTRACE_VERSIONS", "summarizer=v3")  # else the latest label, v4, is used
    # When this suite itself runs under xdist, the inner session must not look like a worker to syrupy
    # (it reads PYTEST_XDIST_WORKER and would leave the summary to a controller that does not exist).
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    ini(pytester)
    for label in ("v3", "v4"):
        folder = pytester.path / "prompts" / "summarizer"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{label}.txt").write_text(f"summarize like {label}\n", encoding="utf-8")
    pytester.makeconftest(RESULTS_CONFTEST)
    return pytester


def rewrite(path: Path, text: str) -> None:
    """Write a test module and drop cached bytecode: a same-size rewrite in the same second would reuse it."""
    path.write_text(text, encoding="utf-8")
    shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)


def write_agents(pytester: pytest.Pytester, *, searches: int = 1, confidence: float = 0.8) -> None:
    rewrite(pytester.path / "test_agents.py", AGENTS.format(searches=searches, confidence=confidence))


def test_create_then_match(project: pytest.Pytester) -> None:
    write_agents(project)
    created = project.runpytest("--snapshot-update", "--agenttrace-version", "summarizer=v3")
    created.assert_outcomes(passed=1)
    created.stdout.fnmatch_lines(["*1 snapshot generated*"])
    golden = (project.path / GOLDEN).read_text(encoding="utf-8")
    assert 'version prompt:summarizer "summarizer@v3#' in golden
    assert "      - tool web_search {" in golden
    assert '"span_id"' not in golden and "start_ns" not in golden
    matched = project.runpytest("--agenttrace-version", "summarizer=v3")
    matched.assert_outcomes(passed=1)
    matched.stdout.fnmatch_lines(["*1 snapshot passed*"])


def test_missing_golden_fails_and_says_how_to_create_it(project: pytest.Pytester) -> None:
    write_agents(project)
    result = project.runpytest("-vv")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Snapshot 'test_pipeline' does not exist!*", "*--snapshot-update to create it*"])


def test_mismatch_shows_versions_first_then_a_tree_diff(project: pytest.Pytester) -> None:
    write_agents(project)
    project.runpytest("--snapshot-update", "--agenttrace-version", "summarizer=v3").assert_outcomes(passed=1)
    result = project.runpytest("-vv", "--agenttrace-version", "summarizer=v4")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*assert prompt summarizer v3 -> v4",
            "E*trace differs from its golden snapshot; run pytest --snapshot-update if the change is intended",
            "E*tool web_search: 1 -> 3 calls under coder",
            "E*+ agent:orchestrator > delegation:coder > agent:coder > tool:web_search[[]2[]]",
            'E*+   - tool web_search {"agent": "coder", "input": {"q": "q1"}, "output": {"hits": 1}}',
            "E*+ agent:orchestrator > delegation:coder > agent:coder > tool:web_search[[]3[]]",
        ]
    )
    assert not [
        line for line in result.stdout.lines if line.startswith("E") and line[1:].strip().startswith("- ")
    ]  # nothing removed: alignment kept the rest in place
    diffs = json.loads((project.path / "test_pipeline.diffs.json").read_text())
    assert len(diffs) == 1
    entry = diffs[0]
    assert entry["test"] == "test_agents.py::test_pipeline"
    assert [v["text"] for v in entry["version_changes"]] == ["prompt summarizer v3 -> v4"]
    assert [c["op"] for c in entry["changes"]] == ["added", "added"]
    assert entry["golden"]["spans"] and entry["actual"]["spans"]


def test_update_refreshes_the_golden(project: pytest.Pytester) -> None:
    write_agents(project)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    write_agents(project, searches=2)
    project.runpytest().assert_outcomes(failed=1)
    updated = project.runpytest("--snapshot-update")
    updated.assert_outcomes(passed=1)
    updated.stdout.fnmatch_lines(["*1 snapshot updated*"])
    assert (project.path / GOLDEN).read_text().count("- tool web_search") == 2
    project.runpytest().assert_outcomes(passed=1)


def test_update_refreshes_a_stale_version_header(project: pytest.Pytester) -> None:
    write_agents(project, searches=3)
    project.runpytest("--snapshot-update", "--agenttrace-version", "summarizer=v3").assert_outcomes(passed=1)
    # v4 behaves the same as v3 with three searches: the trees match, only the header is stale.
    project.runpytest("--agenttrace-version", "summarizer=v4").assert_outcomes(passed=1)
    assert "summarizer@v3#" in (project.path / GOLDEN).read_text()
    project.runpytest("--snapshot-update", "--agenttrace-version", "summarizer=v4").assert_outcomes(passed=1)
    assert "summarizer@v4#" in (project.path / GOLDEN).read_text()


def test_float_tolerance_from_ini(project: pytest.Pytester) -> None:
    write_agents(project, confidence=0.8)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    write_agents(project, confidence=0.8000001)
    project.runpytest().assert_outcomes(failed=1)
    ini(project, "agenttrace_snapshot_float_tolerance = 1e-3\n")
    project.runpytest().assert_outcomes(passed=1)


def test_float_tolerance_compares_an_int_golden_with_a_float_run(project: pytest.Pytester) -> None:
    write_agents(project, confidence=1)  # an int, as set_confidence(1) records it
    ini(project, "agenttrace_snapshot_float_tolerance = 0.01\n")
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    assert '"confidence": 1,' in (project.path / GOLDEN).read_text(encoding="utf-8")
    write_agents(project, confidence=0.995)
    project.runpytest().assert_outcomes(passed=1)
    write_agents(project, confidence=0.98)
    project.runpytest().assert_outcomes(failed=1)


def test_unused_snapshots_are_reported_and_deleted_on_update(project: pytest.Pytester) -> None:
    write_agents(project)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    rewrite(project.path / "test_agents.py", "def test_other():\n    pass\n")
    result = project.runpytest()
    result.stdout.fnmatch_lines(
        ["*1 snapshot unused*", "*Re-run pytest with --snapshot-update to delete unused snapshots*"]
    )
    assert result.ret == 1
    cleaned = project.runpytest("--snapshot-update")
    cleaned.stdout.fnmatch_lines(["*1 unused snapshot deleted*"])
    assert not (project.path / GOLDEN).exists()


@pytest.mark.slow
def test_works_under_xdist(project: pytest.Pytester) -> None:
    write_agents(project)
    more = "\n".join(
        f"def test_more_{n}(agenttrace, agenttrace_snapshot):\n"
        f"    with agenttrace.agent('a{n}'):\n"
        f"        pass\n"
        f"    assert agenttrace.trace == agenttrace_snapshot\n"
        for n in range(4)
    )
    rewrite(project.path / "test_more.py", more)
    created = project.runpytest_subprocess("-n", "2", "--snapshot-update")
    created.assert_outcomes(passed=5)
    created.stdout.fnmatch_lines(["*5 snapshots generated*"])
    assert len(list((project.path / "__snapshots__" / "test_more").glob("*.agenttrace"))) == 4
    # One test renamed: its new name has no golden, its old golden is unused; the rest match.
    rewrite(project.path / "test_more.py", more.replace("test_more_3", "test_renamed"))
    rerun = project.runpytest_subprocess("-n", "2")
    rerun.assert_outcomes(passed=4, failed=1)
    rerun.stdout.fnmatch_lines(["*1 snapshot failed. 4 snapshots passed. 1 snapshot unused.*"])
    assert rerun.ret == 1


MATRIX = """
import pytest
from test_agents import run_pipeline


@pytest.mark.agenttrace_versions(summarizer=["v3", "v4"])
def test_matrix(agenttrace, agenttrace_snapshot, agenttrace_matrix):
    assert set(agenttrace_matrix) == {"summarizer"}
    run_pipeline(agenttrace)
    assert agenttrace.trace.versions["prompt:summarizer"].startswith("summarizer@" + agenttrace_matrix["summarizer"])
    assert agenttrace.trace == agenttrace_snapshot
"""


def test_version_matrix_compares_every_version_with_one_golden(project: pytest.Pytester) -> None:
    write_agents(project)
    project.makepyfile(test_matrix=MATRIX)
    created = project.runpytest("-vv", "--snapshot-update", "test_matrix.py")
    created.stdout.fnmatch_lines(["*test_matrix[[]summarizer=v3[]] PASSED*", "*test_matrix[[]summarizer=v4[]] FAILED*"])
    goldens = sorted(p.name for p in (project.path / "__snapshots__" / "test_matrix").iterdir())
    assert goldens == ["test_matrix.agenttrace"]
    assert "summarizer@v3#" in (project.path / "__snapshots__" / "test_matrix" / "test_matrix.agenttrace").read_text()
    result = project.runpytest("-vv", "test_matrix.py")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_matrix[[]summarizer=v3[]] PASSED*",
            "*test_matrix[[]summarizer=v4[]] FAILED*",
            "E*assert prompt summarizer v3 -> v4",
            "E*tool web_search: 1 -> 3 calls under coder",
        ]
    )
    assert "unused" not in result.stdout.str()
    assert (project.path / "test_matrix_summarizer_v4.diffs.json").exists()
    assert not (project.path / "test_matrix_summarizer_v3.diffs.json").exists()


def test_version_matrix_from_the_command_line(project: pytest.Pytester) -> None:
    write_agents(project)
    project.runpytest("--snapshot-update", "--agenttrace-version", "summarizer=v3").assert_outcomes(passed=1)
    result = project.runpytest("-v", "--agenttrace-matrix", "summarizer=v3,v4")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*test_pipeline[[]summarizer=v3[]] PASSED*", "*test_pipeline[[]summarizer=v4[]] FAILED*"]
    )


def test_bad_matrix_option_is_a_usage_error(project: pytest.Pytester) -> None:
    write_agents(project)
    result = project.runpytest("--agenttrace-matrix", "summarizer")
    result.stderr.fnmatch_lines(["*--agenttrace-matrix 'summarizer' is not NAME=LABEL1,LABEL2*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_bad_matrix_marker_is_a_collection_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.agenttrace_versions(summarizer="v3")
        def test_x(agenttrace):
            pass
        """
    )
    result = project.runpytest()
    result.stdout.fnmatch_lines(["*agenttrace_versions(summarizer=...) needs a non-empty list of labels*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_marker_checks_the_golden_without_the_fixture(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_marked="""
        import pytest

        SEARCHES = 1

        @pytest.mark.agenttrace(snapshot={"level": "structure"})
        def test_marked(agenttrace):
            with agenttrace.agent("coder"):
                for i in range(SEARCHES):
                    with agenttrace.tool("web_search", input={"q": i}):
                        pass
        """
    )
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    golden = (project.path / "__snapshots__" / "test_marked" / "test_marked.agenttrace").read_text()
    assert "level structure" in golden and '"input"' not in golden
    project.runpytest().assert_outcomes(passed=1)
    source = (project.path / "test_marked.py").read_text().replace("SEARCHES = 1", "SEARCHES = 2")
    rewrite(project.path / "test_marked.py", source)
    failed = project.runpytest()
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*tool web_search: 1 -> 2 calls under coder*"])


def test_marker_records_and_checks_a_test_that_asks_for_no_fixture(project: pytest.Pytester) -> None:
    # Its agents record through the module-level API: once, nothing recorded and the test passed.
    project.makepyfile(
        test_bare="""
        import pytest
        import pytest_agenttrace as at

        SEARCHES = 1

        @pytest.mark.agenttrace(snapshot=True)
        def test_bare():
            with at.agent("coder"):
                for i in range(SEARCHES):
                    with at.tool("web_search", input={"q": i}):
                        pass
        """
    )
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    assert (project.path / "__snapshots__" / "test_bare" / "test_bare.agenttrace").is_file()
    project.runpytest().assert_outcomes(passed=1)
    source = (project.path / "test_bare.py").read_text().replace("SEARCHES = 1", "SEARCHES = 2")
    rewrite(project.path / "test_bare.py", source)
    failed = project.runpytest()
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*tool web_search: 1 -> 2 calls under coder*"])


def test_options_per_assertion_and_unknown_options(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_opts="""
        import pytest
        from pytest_agenttrace.exceptions import InputError

        def test_levels(agenttrace, agenttrace_snapshot):
            with agenttrace.tool("web_search", input={"q": 1}) as t:
                t.set_attribute("usage", {"input_tokens": 3})
            assert agenttrace.trace == agenttrace_snapshot(level="structure", name="structure")
            assert agenttrace.trace == agenttrace_snapshot(exclude=["attributes.usage"], name="io")

        def test_unknown(agenttrace, agenttrace_snapshot):
            with pytest.raises(InputError, match="unknown snapshot option.*did you mean 'level' for 'levle'"):
                agenttrace_snapshot(levle="io")
        """
    )
    project.runpytest("--snapshot-update").assert_outcomes(passed=2)
    folder = project.path / "__snapshots__" / "test_opts"
    structure = (folder / "test_levels[structure].agenttrace").read_text()
    io = (folder / "test_levels[io].agenttrace").read_text()
    assert '"input"' not in structure and '"input"' in io and "usage" not in io


def test_huge_diffs_are_cut_and_can_be_hidden(project: pytest.Pytester) -> None:
    write_agents(project)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    write_agents(project, searches=40)
    cut = project.runpytest("-vv", "--agenttrace-diff-max-lines", "6")
    cut.stdout.fnmatch_lines(["*more lines of diff; set agenttrace_diff_max_lines = 0*"])
    hidden = project.runpytest("-vv", "--snapshot-diff-mode", "disabled")
    hidden.stdout.fnmatch_lines(
        [
            "*no version stamp changed*",
            "*tool web_search: 1 -> 40 calls under coder*",
            "*39 change(s) in the span tree*",
        ]
    )
    assert "+ agent:orchestrator" not in hidden.stdout.str()


def test_a_corrupt_golden_is_reported_not_crashed_on(project: pytest.Pytester) -> None:
    write_agents(project)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    (project.path / GOLDEN).write_text('format 1\nspans\n- agent orchestrator {"oops"\n', encoding="utf-8")
    result = project.runpytest("-vv")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*the golden snapshot cannot be read: {project.path / GOLDEN}:3:*"])


def test_bad_ini_option_is_a_usage_error(project: pytest.Pytester) -> None:
    write_agents(project)
    ini(project, "agenttrace_snapshot_level = everything\n")
    result = project.runpytest()
    result.stderr.fnmatch_lines(["*unknown snapshot level 'everything'*"])


def test_snapshot_of_something_else_is_a_clear_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_wrong=textwrap.dedent(
            """
            def test_wrong(agenttrace_snapshot):
                assert 42 == agenttrace_snapshot
            """
        )
    )
    result = project.runpytest("--snapshot-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*agenttrace_snapshot compares traces, not int*"])


def test_a_bad_marker_option_is_reported_once(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.agenttrace(snapshot={"level": "strucure"})
        def test_x(agenttrace):
            with agenttrace.tool("web_search"):
                pass
        """
    )
    result = project.runpytest()
    out = result.stdout.str()
    assert "strucure" in out
    assert "During handling of the above exception" not in out
    lines = [
        line
        for line in out.splitlines()
        if "strucure" in line
        and "@pytest.mark.agenttrace(snapshot=...)" in line
        and not line.startswith(("FAILED ", "ERROR "))  # the short summary repeats it (in full under CI)
    ]
    assert len(lines) == 1, out


def test_a_mismatch_without_a_version_change_says_what_differs_first(project: pytest.Pytester) -> None:
    write_agents(project)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    write_agents(project, searches=3)
    result = project.runpytest("-rf")
    result.assert_outcomes(failed=1)
    summary = [line for line in result.stdout.lines if line.startswith("FAILED")]
    assert len(summary) == 1 and " - assert trace differs from its golden" in summary[0]
    result.stdout.fnmatch_lines(
        [
            "E*assert trace differs from its golden snapshot: 2 changes in the span tree, no version stamp changed",
            "E*run pytest --snapshot-update if the change is intended",
        ]
    )


def test_a_bad_snapshot_option_points_at_the_test(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_bad="""
        def test_x(agenttrace, agenttrace_snapshot):
            assert agenttrace.trace == agenttrace_snapshot(levle="structure")
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "did you mean 'level' for 'levle'?" in out
    assert 'agenttrace_snapshot(levle="structure")' in out  # the test's own line
    assert "snapshot.py" not in out and "def updated(" not in out


BODY_RAISES = """
import os
import pytest
import pytest_agenttrace as at

@pytest.mark.agenttrace(snapshot=True)
def test_agent():
    with at.agent("planner"):
        with at.llm("plan"):
            pass
        how = os.environ.get("HOW")
        if how == "skip":
            pytest.skip("no API key: skipping the remote part")
        if how == "fail":
            raise ConnectionError("flaky network")
        if how == "xfail":
            pytest.xfail("known")
        with at.tool("call"):
            pass
"""


def test_a_body_that_raised_writes_and_compares_no_golden(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_raises=BODY_RAISES)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    golden = project.path / "__snapshots__" / "test_raises" / "test_agent.agenttrace"
    good = golden.read_bytes()
    assert b"tool call" in good
    for how, outcome in (("skip", {"skipped": 1}), ("xfail", {"xfailed": 1})):
        monkeypatch.setenv("HOW", how)
        project.runpytest("--snapshot-update").assert_outcomes(**outcome)
        assert golden.read_bytes() == good, how
    monkeypatch.setenv("HOW", "fail")
    failed = project.runpytest()
    failed.assert_outcomes(failed=1)
    out = failed.stdout.str()
    assert "ConnectionError: flaky network" in out
    assert "golden snapshot" not in out and "snapshot failed" not in out  # nothing was compared
    updated = project.runpytest("--snapshot-update")
    updated.assert_outcomes(failed=1)
    # Never overwritten with the partial trace (syrupy itself may drop a golden its failed test did not use).
    assert not golden.exists() or golden.read_bytes() == good


def test_snapshot_marker_settings_merge_across_markers_and_an_empty_dict_counts(project: pytest.Pytester) -> None:
    (project.path / "specs").mkdir()
    (project.path / "specs" / "s.yaml").write_text('spec: s\nrules:\n  - id: no-bad\n    forbid: "tool[name=bad]"\n')
    project.makepyfile(
        test_merge="""
        import pytest
        import pytest_agenttrace as at

        @pytest.mark.agenttrace(snapshot=True)
        class TestCls:
            @pytest.mark.agenttrace(spec="specs/s.yaml")
            def test_merged(self):
                with at.tool("x"):
                    pass

        @pytest.mark.agenttrace(snapshot={})
        def test_empty_dict():
            with at.tool("x"):
                pass
        """
    )
    project.runpytest("--snapshot-update").assert_outcomes(passed=2)
    folder = project.path / "__snapshots__" / "test_merge"
    assert sorted(p.name for p in folder.iterdir()) == ["TestCls.test_merged.agenttrace", "test_empty_dict.agenttrace"]
    project.runpytest().assert_outcomes(passed=2)


def test_golden_names_redact_secrets_in_ids_and_long_ids_work(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_ids="""
        import pytest
        import pytest_agenttrace as at

        @pytest.mark.parametrize(
            "p", ["plain", "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234", "sk-proj-ZYXWVUTSRQPONMLKJIHGFEDC9876", "x" * 300]
        )
        def test_ids(agenttrace, agenttrace_snapshot, p):
            with at.tool("t", input={"n": len(p)}):
                pass
            assert agenttrace.trace == agenttrace_snapshot
        """
    )
    created = project.runpytest("--snapshot-update")
    created.assert_outcomes(passed=4)
    created.stdout.fnmatch_lines(["*4 snapshots generated*"])
    names = sorted(p.name for p in (project.path / "__snapshots__" / "test_ids").iterdir())
    assert len(names) == 4, names
    assert "test_ids[plain].agenttrace" in names  # ordinary ids keep their names
    assert not any("ABCDEFGH" in n or "ZYXWVUTS" in n for n in names)
    again = project.runpytest("--snapshot-update")
    again.assert_outcomes(passed=4)
    assert "unused" not in again.stdout.str().lower() and "deleted" not in again.stdout.str().lower()
    project.runpytest().stdout.fnmatch_lines(["*4 snapshots passed*"])


def test_long_ids_that_differ_only_in_a_secret_keep_two_goldens(project: pytest.Pytester) -> None:
    # The name is cut to the file system's limit: the cut takes the readable part, not the hash.
    project.makepyfile(
        test_long="""
        import pytest
        import pytest_agenttrace as at

        LONG = "x" * 270

        @pytest.mark.parametrize(
            "p", [LONG + "-sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234", LONG + "-sk-proj-ZYXWVUTSRQPONMLKJIHGFEDC9876"]
        )
        def test_long(agenttrace, agenttrace_snapshot, p):
            with at.tool("t", input={"last": p[-4:]}):
                pass
            assert agenttrace.trace == agenttrace_snapshot
        """
    )
    project.runpytest("--snapshot-update").assert_outcomes(passed=2)
    names = sorted(p.name for p in (project.path / "__snapshots__" / "test_long").iterdir())
    assert len(names) == 2, names
    project.runpytest().stdout.fnmatch_lines(["*2 snapshots passed*"])
