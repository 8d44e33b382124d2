"""``--agenttrace-report``: every recorded test with its outcome, trace and findings, also under xdist."""

from __future__ import annotations

import pytest

from .helpers import entries_by_name

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

SPEC = """\
spec: demo
rules:
  - id: no-shell
    forbid: "tool[name=shell]"
"""

TESTS = """
import pytest
import pytest_agenttrace as at


def test_passes(agenttrace):
    with at.agent("planner"):
        with at.tool("search", input={"q": "<script>alert(1)</script>"}):
            pass


def test_fails(agenttrace):
    with at.agent("coder"):
        with at.tool("edit_file"):
            pass
    assert False, "the coder edited the wrong file"


@pytest.mark.agenttrace(spec="spec.yaml")
def test_violates_spec(agenttrace):
    with at.agent("coder"):
        with at.tool("shell", input={"cmd": "rm -rf /"}):
            pass


def test_crashes(agenttrace):
    with at.agent("tester"):
        raise RuntimeError("agent crashed")


@pytest.mark.parametrize("n", [1, 2])
def test_param(agenttrace, n):
    with at.tool("t", input={"n": n}):
        pass


def test_not_recorded():
    pass


@pytest.mark.skip(reason="not today")
def test_skipped(agenttrace):
    pass


@pytest.mark.xfail(reason="known", strict=True)
def test_xfail(agenttrace):
    with at.tool("flaky"):
        pass
    assert False
"""

EXPECTED = {
    "test_report.py::test_passes": "passed",
    "test_report.py::test_fails": "failed",
    "test_report.py::test_violates_spec": "failed",
    "test_report.py::test_crashes": "failed",
    "test_report.py::test_param[1]": "passed",
    "test_report.py::test_param[2]": "passed",
    "test_report.py::test_xfail": "xfailed",
}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makefile(".yaml", spec=SPEC)
    pytester.makepyfile(test_report=TESTS)
    return pytester.runpytest("--agenttrace-report=out/report.html", "-p", "no:randomly", *args)


def check_report(pytester: pytest.Pytester) -> None:
    entries = entries_by_name(pytester.path / "out" / "report.html")
    assert {name: e["outcome"] for name, e in entries.items()} == EXPECTED  # recorded tests only
    passes = entries["test_report.py::test_passes"]
    spans = passes["data"]["trace"]["spans"]
    assert [(s["kind"], s["name"]) for s in spans] == [("agent", "planner"), ("tool", "search")]
    assert spans[1]["input"] == {"q": "<script>alert(1)</script>"}
    assert passes["summary"]["spans"] == 2 and passes["message"] is None

    failed = entries["test_report.py::test_fails"]
    assert failed["message"].startswith("AssertionError: the coder edited the wrong file")
    assert "def test_fails(agenttrace):" in failed["output"]  # the full output, folded in the page

    violated = entries["test_report.py::test_violates_spec"]
    (violation,) = violated["data"]["violations"]
    assert violation["rule"] == "no-shell"
    shell = next(s for s in violated["data"]["trace"]["spans"] if s["name"] == "shell")
    assert violation["spans"] == [shell["span_id"]]
    assert "no-shell" in violated["message"]

    crashed = entries["test_report.py::test_crashes"]["data"]["trace"]["spans"][0]
    assert crashed["error"] == {"type": "RuntimeError", "message": "agent crashed"}


def test_report_collects_every_recorded_test(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    result.assert_outcomes(passed=4, failed=3, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["agenttrace: HTML report of 7 recorded test(s) written to *report.html"])
    check_report(pytester)


def test_report_includes_tests_that_record_through_a_marker_without_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest
        import pytest_agenttrace as at

        @pytest.mark.agenttrace(spec=[])
        def test_spec_marker():
            with at.agent("planner"):
                pass

        @pytest.mark.agenttrace_versions(coder=["v1"])
        def test_versions_marker():
            with at.agent("coder"):
                pass

        def test_plain():
            with at.agent("nobody"):
                pass
        """
    )
    (pytester.path / "prompts" / "coder").mkdir(parents=True)
    (pytester.path / "prompts" / "coder" / "v1.txt").write_text("code\n", encoding="utf-8")
    result = pytester.runpytest("--agenttrace-report=out/report.html", "-p", "no:randomly")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["agenttrace: HTML report of 2 recorded test(s) written to *report.html"])
    entries = entries_by_name(pytester.path / "out" / "report.html")
    assert sorted(entries) == ["test_marked.py::test_spec_marker", "test_marked.py::test_versions_marker[coder=v1]"]
    spans = entries["test_marked.py::test_spec_marker"]["data"]["trace"]["spans"]
    assert [(s["kind"], s["name"]) for s in spans] == [("agent", "planner")]


@pytest.mark.slow
def test_report_under_xdist_matches_a_single_process_run(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=4, failed=3, skipped=1, xfailed=1)
    check_report(pytester)
    assert not list((pytester.path / "out").glob("*.tmp"))


def test_setup_error_after_recording_started_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import pytest_agenttrace as at

        @pytest.fixture
        def broken(agenttrace):
            with at.agent("setup-agent"):
                pass
            raise RuntimeError("fixture broke")

        def test_x(broken):
            pass

        def test_teardown_fails(agenttrace, request):
            request.addfinalizer(lambda: 1 / 0)
            with at.tool("t"):
                pass
        """
    )
    result = pytester.runpytest("--agenttrace-report=r.html")
    result.assert_outcomes(passed=1, errors=2)
    entries = entries_by_name(pytester.path / "r.html")
    assert entries["test_setup_error_after_recording_started_is_an_error.py::test_x"]["outcome"] == "error"
    assert "fixture broke" in entries["test_setup_error_after_recording_started_is_an_error.py::test_x"]["message"]
    assert entries["test_setup_error_after_recording_started_is_an_error.py::test_teardown_fails"]["outcome"] == "error"


def test_snapshot_mismatch_reaches_the_report(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(
        test_snap="""
        import os
        import pytest_agenttrace as at

        def test_snap(agenttrace, agenttrace_snapshot):
            with at.agent("coder"):
                for _ in range(int(os.environ.get("CALLS", "1"))):
                    with at.tool("web_search", input={"q": "x"}):
                        pass
            assert agenttrace.trace == agenttrace_snapshot
        """
    )
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    monkeypatch.setenv("CALLS", "3")
    result = pytester.runpytest("--agenttrace-report=r.html")
    result.assert_outcomes(failed=1)
    entry = entries_by_name(pytester.path / "r.html")["test_snap.py::test_snap"]
    assert entry["summary"]["snapshot_diffs"] == 1
    (diff,) = entry["data"]["snapshot_diffs"]
    assert diff["test"] == "test_snap.py::test_snap"
    assert [c["op"] for c in diff["changes"]] == ["added", "added"]
    assert len(diff["golden"]["spans"][0]["children"]) == 1 and len(diff["actual"]["spans"][0]["children"]) == 3


def test_no_option_no_report_and_no_record_on_reports(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        seen = []

        def pytest_runtest_logreport(report):
            seen.append(hasattr(report, "agenttrace_record"))

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"records attached: {any(seen)}")
        """
    )
    pytester.makepyfile("def test_x(agenttrace):\n    pass\n")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["records attached: False"])
    result.stdout.no_fnmatch_line("*HTML report*")


def test_report_path_that_is_a_directory_is_a_usage_error(pytester: pytest.Pytester) -> None:
    (pytester.path / "reports").mkdir()
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--agenttrace-report=reports")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agenttrace-report=reports is a directory; give a file name such as report.html*"])


def test_unwritable_report_path_is_reported_not_a_crash(pytester: pytest.Pytester) -> None:
    (pytester.path / "blocker").write_text("a file, not a directory")
    pytester.makepyfile("def test_x(agenttrace):\n    pass\n")
    result = pytester.runpytest("--agenttrace-report=blocker/report.html")
    # Known before any test runs: a usage error (one found only when writing fails the run: test_plugin.py).
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --agenttrace-report=blocker/report.html: *blocker is not a directory*"])


SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"


def test_report_redacts_secrets_pytest_reports_in_failure_text_and_test_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_secret=f"""
import pytest
import pytest_agenttrace as at

@pytest.mark.parametrize("key", ["{SECRET}"])
def test_leaks(agenttrace, key):
    with at.tool("call", input={{"q": "x"}}):
        pass
    print("token=" + key)
    assert key == "other", "Bearer " + key
"""
    )
    result = pytester.runpytest("--agenttrace-report=out/report.html", "-p", "no:randomly", "-s")
    result.assert_outcomes(failed=1)
    text = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    assert SECRET not in text
    (entry,) = entries_by_name(pytester.path / "out" / "report.html").values()
    assert entry["name"] == "test_secret.py::test_leaks[[REDACTED]]"
    assert entry["outcome"] == "failed"
    assert "Bearer [REDACTED]" in entry["message"] and "[REDACTED]" in entry["output"]


@pytest.mark.parametrize("mode", ["--collect-only", "--setup-only", "--setup-plan", "--fixtures-per-test"])
def test_modes_that_run_no_test_write_no_report_nor_traces(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_report=TESTS)
    (pytester.path / "out").mkdir()
    previous = pytester.path / "out" / "report.html"
    previous.write_text("an earlier report", encoding="utf-8")
    result = pytester.runpytest(mode, "--agenttrace-report=out/report.html", "--agenttrace-save")
    assert result.ret == 0
    assert previous.read_text(encoding="utf-8") == "an earlier report"
    assert "HTML report" not in result.stdout.str()
    assert not list((pytester.path / ".agenttrace").glob("*.json"))  # no empty trace over a real one


def test_a_test_whose_hook_raised_is_still_in_the_report(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_agenttrace_trace_finished(item, recorder, trace):
            raise RuntimeError("hook broke")
        """
    )
    pytester.makepyfile(
        test_hook="""
        import pytest_agenttrace as at

        def test_fails(agenttrace):
            with at.tool("x"):
                pass
            assert False, "original failure"

        def test_passes(agenttrace):
            with at.tool("y"):
                pass
        """
    )
    result = pytester.runpytest("--agenttrace-report=out/report.html", "-p", "no:randomly")
    result.assert_outcomes(failed=2)
    entries = entries_by_name(pytester.path / "out" / "report.html")
    assert entries["test_hook.py::test_fails"]["message"].startswith("AssertionError: original failure")
    assert entries["test_hook.py::test_fails"]["data"]["trace"]["spans"][0]["name"] == "x"
    assert entries["test_hook.py::test_passes"]["data"]["trace"]["spans"][0]["name"] == "y"


def test_report_redacts_the_texts_of_violations_a_hook_adds(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        f"""
        def pytest_agenttrace_trace_finished(item, recorder, trace):
            recorder.results.setdefault("violations", []).append(
                {{"rule": "custom", "message": "saw {SECRET}", "found": "{SECRET}", "spans": [trace.spans[0].span_id],
                  "details": {{"why": "{SECRET}"}}}}
            )
        """
    )
    pytester.makepyfile(
        test_hooked="""
        import pytest_agenttrace as at

        def test_x(agenttrace):
            with at.tool("x"):
                pass
        """
    )
    pytester.runpytest("--agenttrace-report=out/report.html").assert_outcomes(passed=1)
    text = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    assert SECRET not in text
    entry = entries_by_name(pytester.path / "out" / "report.html")["test_hooked.py::test_x"]
    (violation,) = entry["data"]["violations"]
    assert violation["message"] == "saw [REDACTED]" and violation["details"] == {"why": "[REDACTED]"}


def test_report_shows_a_teardown_error_after_a_failure_and_skip_and_xfail_reasons(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_reasons="""
        import pytest
        import pytest_agenttrace as at

        @pytest.fixture
        def breaks_later():
            yield
            raise ZeroDivisionError("teardown broke")

        def test_fails_then_teardown_fails(agenttrace, breaks_later):
            with at.tool("x"):
                pass
            assert False, "the call failed"

        def test_skips(agenttrace):
            with at.tool("x"):
                pass
            pytest.skip("not today")

        @pytest.mark.xfail(reason="known bug")
        def test_xfails(agenttrace):
            with at.tool("x"):
                pass
            raise ValueError("as expected")

        @pytest.mark.xfail(reason="flaky")
        def test_xpasses(agenttrace):
            with at.tool("x"):
                pass
        """
    )
    result = pytester.runpytest("--agenttrace-report=r.html", "-p", "no:randomly")
    result.assert_outcomes(failed=1, errors=1, skipped=1, xfailed=1, xpassed=1)
    entries = entries_by_name(pytester.path / "r.html")
    both = entries["test_reasons.py::test_fails_then_teardown_fails"]
    assert both["outcome"] == "error"
    assert both["message"].startswith("AssertionError: the call failed")
    assert both["message"].endswith("error in teardown: ZeroDivisionError: teardown broke")
    assert "assert False" in both["output"] and "---- error in teardown ----" in both["output"]
    assert 'raise ZeroDivisionError("teardown broke")' in both["output"]
    skipped = entries["test_reasons.py::test_skips"]
    assert (skipped["outcome"], skipped["message"]) == ("skipped", "Skipped: not today")
    xfailed = entries["test_reasons.py::test_xfails"]
    assert (xfailed["outcome"], xfailed["message"]) == ("xfailed", "xfailed: known bug\nValueError: as expected")
    assert 'raise ValueError("as expected")' in xfailed["output"]
    xpassed = entries["test_reasons.py::test_xpasses"]
    assert (xpassed["outcome"], xpassed["message"], xpassed["output"]) == ("xpassed", "xpassed: flaky", None)
