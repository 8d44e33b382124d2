"""The pytest side: fixture, options, saving, failure output, xdist."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def test_fixture_records_and_trace_is_queryable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest_agenttrace as at

        def test_run(agenttrace):
            with at.agent("planner"):
                with at.tool("search", input={"q": 1}):
                    pass
            trace = agenttrace.trace
            assert [s.name for s in trace.spans] == ["planner", "search"]
            assert trace.spans[1].agent == "planner"
            assert trace.metadata["nodeid"] == "test_fixture_records_and_trace_is_queryable.py::test_run"
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


def test_save_writes_one_valid_trace_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest, pytest_agenttrace as at

        @pytest.mark.parametrize("n", [1, 2])
        def test_run(agenttrace, n):
            with at.tool("t", input={"n": n}):
                pass

        def test_crash(agenttrace):
            with at.agent("a"):
                raise RuntimeError("agent crashed")

        def test_no_recording():
            pass
        """
    )
    result = pytester.runpytest("--agenttrace-save")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["agenttrace: saved 3 trace(s) to .agenttrace*"])
    files = sorted(p.name for p in (pytester.path / ".agenttrace").iterdir())
    assert [f.rsplit("-", 1)[0] for f in files] == [
        "test_save_writes_one_valid_trace_per_test.py__test_crash",
        "test_save_writes_one_valid_trace_per_test.py__test_run_1",
        "test_save_writes_one_valid_trace_per_test.py__test_run_2",
    ]
    crash = json.loads((pytester.path / ".agenttrace" / files[0]).read_text())
    assert crash["spans"][0]["error"] == {"type": "RuntimeError", "message": "agent crashed"}
    from pytest_agenttrace.store import validate_trace_dict

    validate_trace_dict(crash)


def test_failing_test_shows_the_trace_tree(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest_agenttrace as at

        def test_run(agenttrace):
            with at.agent("coder"):
                with at.tool("edit_file"):
                    pass
            assert False, "the agent did the wrong thing"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*agenttrace trace*", "*coder*", "*edit_file*"])


def test_version_option_and_env_override_prompts(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for label in ("v1", "v2", "v3"):
        pytester.path.joinpath("prompts", "summarizer").mkdir(parents=True, exist_ok=True)
        pytester.path.joinpath("prompts", "summarizer", f"{label}.txt").write_text(label)
    pytester.makepyfile(
        """
        import os
        import pytest_agenttrace as at

        def test_run(agenttrace):
            assert at.prompt("summarizer") == os.environ["EXPECTED"]
            assert agenttrace.trace.versions["prompt:summarizer"].startswith("summarizer@" + os.environ["EXPECTED"])
        """
    )
    monkeypatch.setenv("EXPECTED", "v3")
    pytester.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("EXPECTED", "v1")
    monkeypatch.setenv("AGENTTRACE_VERSIONS", "summarizer=v1")
    pytester.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("EXPECTED", "v2")
    result = pytester.runpytest("--agenttrace-version", "summarizer=v2")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["agenttrace: versions summarizer=v2"])


def test_unknown_labels_of_a_matrix_fail_before_any_test_runs(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("prompts", "summarizer").mkdir(parents=True)
    for label in ("v1", "v2"):
        pytester.path.joinpath("prompts", "summarizer", f"{label}.txt").write_text(label)
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.agenttrace_versions(summarizer=["v1", "v99"])
        def test_marked(agenttrace):
            pass

        def test_other(agenttrace):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=1)  # a collection error naming the test, the label and where it came from
    result.stdout.fnmatch_lines(
        ["*test_marked.py::test_marked: agenttrace_versions(summarizer=...): prompt 'summarizer' in * has no "
         "version 'v99' (versions in order: v1, v2); check the agenttrace_versions marker."]
    )  # fmt: skip
    pytester.makepyfile(test_marked="def test_plain(agenttrace):\n    pass\n")
    result = pytester.runpytest("--agenttrace-matrix", "summarizer=v1,v999")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --agenttrace-matrix summarizer=v999: prompt 'summarizer' * no version 'v999' *; "
            "check --agenttrace-matrix."
        ]
    )
    pytester.runpytest("--agenttrace-matrix", "summarizer=v1,v2").assert_outcomes(passed=2)


def test_ini_prompt_directory(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_prompts = registry/prompts\n")
    pytester.path.joinpath("registry", "prompts", "p").mkdir(parents=True)
    pytester.path.joinpath("registry", "prompts", "p", "a.txt").write_text("hello")
    pytester.makepyfile(
        """
        import pytest_agenttrace as at

        def test_run(agenttrace):
            assert at.prompt("p") == "hello"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_bad_version_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--agenttrace-version", "oops")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*oops*NAME=LABEL*"])


def test_an_unknown_pinned_version_is_a_usage_error_before_any_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.path.joinpath("prompts", "p").mkdir(parents=True)
    pytester.path.joinpath("prompts", "p", "v1.txt").write_text("x")
    pytester.makepyfile("def test_run(agenttrace):\n    pass\n")
    result = pytester.runpytest("--agenttrace-version", "p=v9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pinned version p=v9: prompt 'p' in *prompts has no version 'v9' (versions in order: v1)*"])
    monkeypatch.setenv("AGENTTRACE_VERSIONS", "p=v9")
    assert pytester.runpytest().ret == pytest.ExitCode.USAGE_ERROR
    assert pytester.runpytest("--help").ret == pytest.ExitCode.OK  # help works whatever is pinned
    monkeypatch.setenv("AGENTTRACE_VERSIONS", "inline_only=v9")  # a name no registry holds: an inline config
    pytester.runpytest().assert_outcomes(passed=1)
    pytester.path.joinpath("prompts", "p", "ORDER").write_text("v3\n")  # stale, but the pinned file exists
    monkeypatch.setenv("AGENTTRACE_VERSIONS", "p=v1")
    pytester.runpytest().assert_outcomes(passed=1)


def test_unknown_version_fails_the_test_with_the_available_labels(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("prompts", "p").mkdir(parents=True)
    pytester.path.joinpath("prompts", "p", "v1.txt").write_text("x")
    pytester.makepyfile(
        """
        import pytest
        import pytest_agenttrace as at

        @pytest.mark.agenttrace_versions(p=["v9"])
        def test_run(agenttrace):
            at.prompt("p")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)  # found at collection now, before anything runs
    result.stdout.fnmatch_lines(["*no version 'v9' (versions in order: v1); check the agenttrace_versions marker.*"])


def test_hook_message_fails_a_passing_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_agenttrace_trace_finished(item, recorder, trace):
            if any(s.name == "forbidden" for s in trace.spans):
                return "forbidden tool was called"
        """
    )
    pytester.makepyfile(
        """
        import pytest_agenttrace as at

        def test_bad(agenttrace):
            with at.tool("forbidden"):
                pass

        def test_good(agenttrace):
            with at.tool("fine"):
                pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: forbidden tool was called*"])


@pytest.mark.slow
def test_works_under_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import pytest, pytest_agenttrace as at

        @pytest.mark.parametrize("n", range(6))
        def test_run(agenttrace, n):
            with at.agent(f"a{n}"):
                with at.tool("t"):
                    pass
            assert len(agenttrace.trace) == 2
        """
    )
    result = pytester.runpytest("-n", "2", "--agenttrace-save")
    result.assert_outcomes(passed=6)
    assert len(list((pytester.path / ".agenttrace").glob("*.json"))) == 6


@pytest.mark.slow
def test_dist_each_keeps_every_workers_trace(pytester: pytest.Pytester) -> None:
    # --dist each runs every test on every worker: one file per worker and test, none overwritten;
    # the usual modes keep the plain names (a test runs once).
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import os, pytest_agenttrace as at

        def test_run(agenttrace):
            with at.agent(os.environ["PYTEST_XDIST_WORKER"]):
                pass
        """
    )
    pytester.runpytest("-n", "2", "--dist", "each", "--agenttrace-save").assert_outcomes(passed=2)
    saved = sorted((pytester.path / ".agenttrace").glob("*.json"))
    names = [path.name.split("-")[0] for path in saved]
    assert names == [f"test_dist_each_keeps_every_workers_trace.py__test_run_{worker}" for worker in ("gw0", "gw1")]
    agents = sorted(json.loads(path.read_text())["spans"][0]["name"] for path in saved)
    assert agents == ["gw0", "gw1"]
    for path in saved:
        path.unlink()
    pytester.runpytest("-n", "2", "--agenttrace-save").assert_outcomes(passed=1)
    (plain,) = (pytester.path / ".agenttrace").glob("*.json")
    assert plain.name.split("-")[0] == "test_dist_each_keeps_every_workers_trace.py__test_run"


def test_secrets_in_test_ids_never_reach_trace_names_or_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest, pytest_agenttrace as at

        @pytest.mark.parametrize("key", ["sk-proj-AbCdEfGhIjKlMnOpQrStUv"])
        def test_p(agenttrace, key):
            with at.tool("t"):
                pass
            assert "AbCdEfGh" not in agenttrace.trace.name
        """
    )
    pytester.runpytest("--agenttrace-save").assert_outcomes(passed=1)
    (saved,) = (pytester.path / ".agenttrace").iterdir()
    assert "AbCdEfGh" not in saved.name
    assert "AbCdEfGh" not in saved.read_text()


LEAKY_TEST = """
def test_leak(agenttrace):
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2W3x4Y5z6"
    with agenttrace.tool("fetch", input={"password": "correct horse battery"}) as t:
        t.set_output({"token": key, "note": "the key is " + key})
        print("fetched", key[12:])
    assert t.output == {"token": "x" * 300}
"""


@pytest.mark.parametrize("flags", [(), ("-vv", "--showlocals"), ("-n", "2")])
def test_a_failure_report_shows_no_piece_of_a_secret_the_recording_redacted(
    pytester: pytest.Pytester, flags: tuple[str, ...]
) -> None:
    # pytest quotes the compared values (cut short: 'the...U1v2W3x4Y5z6'), the test's source, its
    # locals and its output: pieces of the key that no longer look like a key.  Under xdist the
    # worker scrubs its report before sending it.
    if "-n" in flags:
        pytest.importorskip("xdist")
    pytester.makepyfile(test_leaky=LEAKY_TEST)
    result = pytester.runpytest("-p", "no:randomly", "--junitxml=junit.xml", "--agenttrace-report=r.html", *flags)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    written = out + (pytester.path / "junit.xml").read_text() + (pytester.path / "r.html").read_text()
    for piece in ("A1b2C3d4E5", "I9j0K1l2M3", "U1v2W3x4Y5", "horse battery"):
        assert piece not in written
    # The report keeps its structure: the failing line, the comparison, the short summary.
    result.stdout.fnmatch_lines(
        [
            ">       assert t.output == {\"token\": \"x\" * 300}",
            "E       AssertionError: assert {*[[]REDACTED[]]*} == {*",
            "*fetched [[]REDACTED[]]*",
            "FAILED test_leaky.py::test_leak - AssertionError: assert*",
        ]
    )


@pytest.mark.parametrize(
    ("flags", "written"),
    [
        # JUnit writes captured output from the teardown report, which repeats the call's: not a failure.
        (("--junitxml=junit.xml", "-o", "junit_logging=system-out"), "junit.xml"),
        (("--junitxml=junit.xml", "-o", "junit_logging=all"), "junit.xml"),
        (("-rxs", "--xfail-tb"), None),  # an xfail's report quotes its failure; a skip its reason
        (("-rP",), None),  # a passing test's output
    ],
)
def test_reports_that_are_no_failures_show_no_secret_either(
    pytester: pytest.Pytester, flags: tuple[str, ...], written: str | None
) -> None:
    pytester.makepyfile(
        test_quiet="""
        import pytest
        KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2W3x4Y5z6"

        def test_records(agenttrace):
            with agenttrace.tool("fetch") as t:
                t.set_output("the key is " + KEY)
            print("agent said:", KEY)

        @pytest.mark.xfail(reason="known")
        def test_xfails(agenttrace):
            print("agent said:", KEY)
            assert KEY == "x"

        def test_skips(agenttrace):
            pytest.skip("not with " + KEY)
        """
    )
    result = pytester.runpytest("-p", "no:randomly", *flags)
    result.assert_outcomes(passed=1, xfailed=1, skipped=1)
    text = result.stdout.str() + ((pytester.path / written).read_text() if written else "")
    assert "I9j0K1l2M3" not in text
    assert "[REDACTED]" in text


def test_a_trace_dir_that_cannot_be_created_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(agenttrace):\n    pass\n")
    (pytester.path / "afile").write_text("")
    result = pytester.runpytest("--agenttrace-save", "--agenttrace-dir=afile/traces")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --agenttrace-dir=afile/traces: cannot create *; give a directory*"])


def test_a_report_that_cannot_be_written_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(agenttrace):\n    pass\n")
    (pytester.path / "afile").write_text("")
    result = pytester.runpytest("--agenttrace-report=afile/r.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --agenttrace-report=afile/r.html: * is not a directory; give a path to a file."]
    )
    # Found only when writing (the directory goes away meanwhile): the run no longer passes.
    pytester.makeconftest(
        """
        import shutil
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionfinish(session):
            shutil.rmtree(session.config.rootpath / "out")
            (session.config.rootpath / "out").write_text("a file now")
        """
    )
    (pytester.path / "out").mkdir()
    (pytester.path / "out" / "placeholder").write_text("")
    result = pytester.runpytest("--agenttrace-report=out/sub/r.html")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    out = result.stdout.str()
    assert "could not write the HTML report" in out and out.count("check the path") <= 1


def test_a_hook_message_shows_in_the_reason_of_a_skipped_or_xfailed_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_agenttrace_trace_finished(item, recorder, trace):
            return f"{len(trace.spans)} span(s) recorded\\nsecond line"
        """
    )
    pytester.makepyfile(
        """
        import pytest

        def test_skips(agenttrace):
            with agenttrace.tool("t"):
                pass
            pytest.skip("not today")

        @pytest.mark.xfail(reason="known bug")
        def test_xfails(agenttrace):
            with agenttrace.tool("t"):
                pass
            assert False
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-rsx", "--agenttrace-report=r.html")
    result.assert_outcomes(skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED *not today; agenttrace: 1 span(s) recorded (+1 more lines)",
            "XFAIL *known bug; agenttrace: 1 span(s) recorded (+1 more lines)",
        ]
    )
    assert "agenttrace: 1 span(s) recorded" in (pytester.path / "r.html").read_text()


def test_a_hook_error_keeps_the_body_outcome_and_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_agenttrace_trace_finished(item, recorder, trace):
            if "boom" in item.name:
                raise RuntimeError("hook broke")
        """
    )
    pytester.makepyfile(
        """
        import pytest
        import pytest_agenttrace as at

        def test_boom_body_fails(agenttrace):
            with at.tool("x"):
                pass
            assert 1 == 2, "original failure"

        @pytest.mark.xfail(raises=ZeroDivisionError, strict=True)
        def test_boom_xfail(agenttrace):
            1 / 0

        def test_boom_skip(agenttrace):
            pytest.skip("skip me")

        def test_boom_passes(agenttrace):
            pass
        """
    )
    reprec = pytester.inline_run("-p", "no:randomly")
    reprec.assertoutcome(passed=0, skipped=2, failed=2)  # the xfail counts as skipped here
    calls = {r.nodeid.rsplit("::", 1)[1]: r for r in reprec.getreports("pytest_runtest_logreport") if r.when == "call"}
    # The body's outcome stands; the hook's error is a section of the report, with the hook's frame only.
    failed = calls["test_boom_body_fails"]
    assert failed.failed and "original failure" in failed.longrepr.reprcrash.message
    section = dict(failed.sections)["Captured agenttrace call"]
    assert "conftest.py" in section and "RuntimeError: hook broke" in section
    assert "_multicall" not in section and "original failure" not in section
    assert hasattr(calls["test_boom_xfail"], "wasxfail") and calls["test_boom_xfail"].skipped
    assert calls["test_boom_skip"].skipped
    assert any("hook broke" in text for _, text in calls["test_boom_skip"].sections)
    # A body that passed fails with the hook's error.
    passed_body = calls["test_boom_passes"]
    assert passed_body.failed and "RuntimeError: hook broke" in passed_body.longreprtext


def test_the_hook_runs_once_for_a_test_that_finished_its_recording_itself(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        CALLS = []

        def pytest_agenttrace_trace_finished(item, recorder, trace):
            CALLS.append(item.name)
            if any(s.name == "forbidden" for s in trace.spans):
                return "forbidden tool was called"

        def pytest_sessionfinish(session):
            print("HOOK CALLS", sorted(CALLS))
        """
    )
    pytester.makepyfile(
        """
        import pytest_agenttrace as at

        def test_finishes(agenttrace):
            with at.tool("forbidden"):
                pass
            trace = agenttrace.finish()
            assert len(trace.spans) == 1

        def test_finishes_twice(agenttrace):
            agenttrace.finish()
            agenttrace.finish()
        """
    )
    result = pytester.runpytest("-s", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: forbidden tool was called*"])
    assert "HOOK CALLS ['test_finishes', 'test_finishes_twice']" in result.stdout.str()  # once each


def test_ids_differing_only_in_a_secret_save_two_trace_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest, pytest_agenttrace as at

        @pytest.mark.parametrize("key", ["sk-proj-AAAAAAAAAAAAAAAAAAAAAAAAA1", "sk-proj-BBBBBBBBBBBBBBBBBBBBBBBBB2"])
        def test_p(agenttrace, key):
            with at.tool("t"):
                pass
        """
    )
    result = pytester.runpytest("--agenttrace-save")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["agenttrace: saved 2 trace(s) to .agenttrace*"])
    files = sorted(p.name for p in (pytester.path / ".agenttrace").iterdir())
    assert len(files) == 2, files
    assert not any("AAAAAAAA" in f or "BBBBBBBB" in f for f in files)


@pytest.mark.slow
def test_saved_summary_under_xdist_and_a_home_relative_dir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    home = pytester.path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    pytester.makepyfile(
        """
        import pytest, pytest_agenttrace as at

        @pytest.mark.parametrize("n", range(4))
        def test_run(agenttrace, n):
            with at.tool("t"):
                pass
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "--agenttrace-save", "--agenttrace-dir=~/traces")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["agenttrace: saved 4 trace(s) to *traces*"])
    assert len(list((home / "traces").glob("*.json"))) == 4
    assert not (pytester.path / "~").exists()


def test_a_rerun_of_the_same_item_records_and_checks_anew(pytester: pytest.Pytester) -> None:
    # pytest-rerunfailures and flaky run the same item again: its second recording must be finished
    # and checked too (a flag kept on the item once skipped the hook for every rerun).
    pytester.makeconftest(
        """
        from _pytest.runner import runtestprotocol

        def pytest_runtest_protocol(item, nextitem):
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            runtestprotocol(item, nextitem=nextitem, log=False)  # the first attempt, not reported
            runtestprotocol(item, nextitem=nextitem, log=True)
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
            return True
        """
    )
    pytester.makefile(".yaml", policy="rules:\n  - id: no-drop\n    forbid: 'tool[name=delete_db]'\n")
    pytester.makepyfile(
        """
        import pytest
        import pytest_agenttrace as at

        ATTEMPTS = []

        @pytest.mark.agenttrace(spec="policy.yaml")
        def test_agent(agenttrace):
            ATTEMPTS.append(1)
            with at.tool("delete_db" if len(ATTEMPTS) == 2 else "search"):
                pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no-drop*"])


def test_a_marker_spec_failure_is_located_at_the_test_not_in_pytest(pytester: pytest.Pytester) -> None:
    # Raised from a hook after the body passed: --tb=line showed pytest's capture.py as the place.
    pytester.makefile(".yaml", policy="rules:\n  - id: no-drop\n    forbid: 'tool[name=delete_db]'\n")
    pytester.makepyfile(
        test_located="""
        import pytest
        import pytest_agenttrace as at


        @pytest.mark.agenttrace(spec="policy.yaml")
        def test_agent(agenttrace):
            with at.tool("delete_db"):
                pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--tb=line")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_located.py:5: AssertionError: trace 'test_located.py::test_agent' violates*"])
    assert "capture.py" not in result.stdout.str()
