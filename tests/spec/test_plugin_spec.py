"""The pytest side: ``@pytest.mark.agenttrace(spec=...)``, ini ``agenttrace_specs``, ``agenttrace.check``."""

from __future__ import annotations

import pytest

SPEC = """
spec: hygiene
rules:
  - id: no-drop
    description: Nobody drops tables.
    forbid: "tool[name=drop_table]"
"""

AGENT_CODE = """
import pytest_agenttrace as at

def run(drop=False):
    with at.agent("orchestrator"):
        with at.delegate("coder", allowed_tools=["read_file", "drop_table"]):
            with at.agent("coder"):
                with at.tool("read_file", input={"path": "db.sql"}):
                    pass
                if drop:
                    with at.tool("drop_table", input={"table": "users"}):
                        pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(team_agents=AGENT_CODE)
    pytester.mkdir("specs")
    (pytester.path / "specs" / "hygiene.yaml").write_text(SPEC, encoding="utf-8")
    pytester.syspathinsert()
    return pytester


def test_marker_spec_fails_the_test_with_the_violations(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_run="""
        import pytest
        from team_agents import run

        @pytest.mark.agenttrace(spec="specs/hygiene.yaml")
        def test_dirty(agenttrace):
            run(drop=True)

        @pytest.mark.agenttrace(spec="specs/hygiene.yaml")
        def test_clean(agenttrace):
            run(drop=False)
        """
    )
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*violates spec 'hygiene': 1 violation of 1 rule (no-drop)*",
            "*[[]no-drop[]] Nobody drops tables.*",
            "*span [[]*[]] agent:orchestrator > delegation:coder > agent:coder > tool:drop_table*",
            "*> tool:drop_table*<-- here*",
        ]
    )


def test_marker_without_the_fixture_still_records_and_checks(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_run="""
        import pytest
        from team_agents import run

        @pytest.mark.agenttrace(spec="specs/hygiene.yaml")
        def test_dirty():
            run(drop=True)
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no-drop*"])


def test_marker_paths_resolve_near_the_test_file_first(project: pytest.Pytester) -> None:
    sub = project.mkpydir("tests")
    (sub / "specs").mkdir()
    (sub / "specs" / "hygiene.yaml").write_text(
        "rules:\n  - id: near-rule\n    forbid: 'tool[name=read_file]'\n", encoding="utf-8"
    )
    (sub / "test_near.py").write_text(
        "import pytest\nfrom team_agents import run\n\n"
        "@pytest.mark.agenttrace(spec='specs/hygiene.yaml')\n"
        "def test_near(agenttrace):\n    run()\n\n"
        "@pytest.mark.agenttrace(spec=['specs/hygiene.yaml', '../specs/hygiene.yaml'])\n"
        "def test_both(agenttrace):\n    run(drop=True)\n",
        encoding="utf-8",
    )
    result = project.runpytest("tests", "-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*test_near*", "*near-rule*"])
    result.stdout.fnmatch_lines(["*test_both*", "*2 violations of 2 rules (near-rule, no-drop)*"])


def test_rootdir_relative_marker_path(project: pytest.Pytester) -> None:
    sub = project.mkpydir("tests")
    (sub / "test_root.py").write_text(
        "import pytest\nfrom team_agents import run\n\n"
        "@pytest.mark.agenttrace(spec='specs/hygiene.yaml')\n"
        "def test_root(agenttrace):\n    run(drop=True)\n",
        encoding="utf-8",
    )
    result = project.runpytest("tests")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no-drop*"])


def test_ini_specs_apply_to_every_recording_test(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nagenttrace_specs =\n    specs/hygiene.yaml\n")
    project.makepyfile(
        test_run="""
        from team_agents import run

        def test_records_dirty(agenttrace):
            run(drop=True)

        def test_records_clean(agenttrace):
            run()

        def test_does_not_record():
            run(drop=True)
        """
    )
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*FAILED test_run.py::test_records_dirty*"])


def test_invalid_marker_spec_is_a_setup_error_and_the_body_never_runs(project: pytest.Pytester) -> None:
    (project.path / "specs" / "broken.yaml").write_text("rules:\n  - id: a\n    forbidd: tool\n", encoding="utf-8")
    project.makepyfile(
        test_run="""
        import pytest
        from team_agents import run

        @pytest.mark.agenttrace(spec="specs/broken.yaml")
        def test_x(agenttrace):
            open("body-ran", "w").close()
            run()
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    assert not (project.path / "body-ran").exists()
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_x*",
            "*the spec for this test is invalid: *broken.yaml:3:5: rule 'a': unknown key 'forbidd'; did you mean 'forbid'?*",
        ]
    )
    out = result.stdout.str()
    # Once in the report, not again at teardown (the short summary line, cut or not by the width, aside).
    reported = [
        line for line in result.stdout.lines if "unknown key 'forbidd'" in line and not line.startswith("ERROR ")
    ]
    assert len(reported) == 1, reported
    assert "Traceback" not in out and "spec/plugin.py" not in out


def test_an_invalid_ini_spec_is_a_usage_error_before_any_test_runs(project: pytest.Pytester) -> None:
    (project.path / "specs" / "broken.yaml").write_text(
        "rules:\n  - id: a\n    forbid: tool\n    forbidd: x\n", encoding="utf-8"
    )
    project.makeini("[pytest]\nagenttrace_specs =\n    specs/hygiene.yaml\n    specs/broken.yaml\n")
    project.makepyfile(
        test_run="""
        from team_agents import run

        def test_records(agenttrace):
            open("body-ran", "w").close()
            run()
        """
    )
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (project.path / "body-ran").exists()
    result.stderr.fnmatch_lines(
        ["ERROR: ini option agenttrace_specs: *specs/broken.yaml:4:5: rule 'a': unknown key 'forbidd'*"]
    )
    assert "Traceback" not in result.stderr.str()


def test_a_missing_ini_spec_fails_each_recording_test_at_setup_before_its_body(project: pytest.Pytester) -> None:
    # Not a usage error at start: a hook or a session fixture may write the spec (next test).
    project.makeini("[pytest]\nagenttrace_specs =\n    specs/hygiene.yaml\n    specs/broken.yaml\n")
    project.makepyfile(
        test_run="""
        def test_records(agenttrace):
            open("body-ran", "w").close()

        def test_plain():
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    assert not (project.path / "body-ran").exists()
    result.stdout.fnmatch_lines(
        [f"*the spec for this test is invalid: specs/broken.yaml: spec file not found in the rootdir ({project.path})*"]
    )


def test_an_ini_spec_written_by_a_session_fixture_is_found(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nagenttrace_specs = specs/generated.yaml\n")
    project.makeconftest(
        """
        import pathlib
        import pytest

        @pytest.fixture(scope="session", autouse=True)
        def write_spec():
            pathlib.Path("specs/generated.yaml").write_text("rules:\\n  - id: no-tools\\n    forbid: tool\\n")
        """
    )
    project.makepyfile(
        test_run="""
        import pytest_agenttrace as at

        def test_records(agenttrace):
            with at.tool("search"):
                pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)  # the generated spec was found and checked: it forbids the tool
    result.stdout.fnmatch_lines(["*no-tools*"])


def test_pytest_help_works_with_a_bad_ini_spec(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nagenttrace_specs = specs/nowhere.yaml\n")
    result = project.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.slow
def test_a_bad_ini_spec_is_reported_once_under_xdist(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    (project.path / "specs" / "broken.yaml").write_text("rules:\n  - id: a\n    forbidd: tool\n", encoding="utf-8")
    project.makeini("[pytest]\nagenttrace_specs = specs/broken.yaml\n")
    project.makepyfile(test_run="def test_records(agenttrace):\n    open('body-ran', 'w').close()\n")
    result = project.runpytest_subprocess("-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (project.path / "body-ran").exists()
    assert result.stderr.str().count("ini option agenttrace_specs:") == 1
    result.stderr.fnmatch_lines(["*broken.yaml:3:5: rule 'a': unknown key 'forbidd'*"])


def test_ini_specs_and_markers_take_a_shipped_pack_name(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nagenttrace_specs = failure-modes\n")
    project.makepyfile(
        test_run="""
        import pytest
        import pytest_agenttrace as at

        def test_ini(agenttrace):
            with at.agent("a"):
                for _ in range(8):
                    with at.tool("search", input={"q": "same"}):
                        pass

        @pytest.mark.agenttrace(spec="delegation-hygiene")
        def test_marker(agenttrace):
            with at.agent("a"):
                with at.delegate("b"):
                    pass
        """
    )
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*violates spec 'failure-modes'*", "*violates spec 'failure-modes + delegation-hygiene'*"]
    )


def test_fixture_check_of_an_invalid_spec_shows_the_problem_not_the_loader(project: pytest.Pytester) -> None:
    (project.path / "specs" / "broken.yaml").write_text("rules:\n  - id: a\n    forbidd: tool\n", encoding="utf-8")
    project.makepyfile(
        test_run="""
        from team_agents import run

        def test_x(agenttrace):
            run()
            agenttrace.check("specs/broken.yaml")
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "broken.yaml:3:5: rule 'a': unknown key 'forbidd'; did you mean 'forbid'?" in out
    assert 'agenttrace.check("specs/broken.yaml")' in out  # the test's own line
    assert "loader.py" not in out and "engine.py" not in out and "def check(" not in out
    assert "During handling" not in out


def test_a_failing_fixture_check_points_at_the_test_not_the_recorder(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_run="""
        from team_agents import run

        def test_x(agenttrace):
            run(drop=True)
            agenttrace.check("specs/hygiene.yaml")
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "[no-drop] Nobody drops tables." in out
    assert "recorder.py" not in out and "engine.py" not in out


def test_a_missing_spec_says_where_it_was_looked_for(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_run="""
        import pytest
        from team_agents import run

        @pytest.mark.agenttrace(spec="specs/nowhere.yaml")
        def test_marker(agenttrace):
            run()

        def test_fixture(agenttrace):
            run()
            agenttrace.check("specs/nowhere.yaml")
        """
    )
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1, errors=1)
    root = str(project.path)
    result.stdout.fnmatch_lines(
        [
            f"*specs/nowhere.yaml: spec file not found: looked for it next to the test file ({root}) and in the "
            f"rootdir ({root}); check the path*",
            f"*specs/nowhere.yaml: spec file not found: looked for it in {root} (the working directory); "
            "check the path*",
        ]
    )


def test_fixture_check_raises_with_the_violations(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_run="""
        import pytest
        from team_agents import run

        def test_check(agenttrace):
            run(drop=True)
            with pytest.raises(AssertionError) as info:
                agenttrace.check("specs/hygiene.yaml")
            assert "[no-drop] Nobody drops tables." in str(info.value)
            assert [v.rule for v in agenttrace.results["violations"]] == ["no-drop"]

        def test_check_passes(agenttrace):
            run()
            agenttrace.check("specs/hygiene.yaml")
            agenttrace.check({"rules": [{"id": "coder-reads", "expect": {"select": "tool[name=read_file]", "count": {"exactly": 1}}}]})
        """
    )
    result = project.runpytest()
    result.assert_outcomes(passed=2)


def test_violations_reach_other_plugins(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        import pytest

        SEEN = []

        @pytest.hookimpl(trylast=True)
        def pytest_agenttrace_trace_finished(item, recorder, trace):
            SEEN.extend(v.to_dict(trace)["locations"][0]["path"] for v in recorder.results.get("violations", []))

        def pytest_sessionfinish(session):
            print("SEEN:", SEEN)
        """
    )
    project.makepyfile(
        test_run="""
        import pytest
        from team_agents import run

        @pytest.mark.agenttrace(spec="specs/hygiene.yaml")
        def test_dirty(agenttrace):
            run(drop=True)
        """
    )
    result = project.runpytest("-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*SEEN: [[]'agent:orchestrator > delegation:coder > agent:coder > tool:drop_table'[]]*"]
    )


def test_marker_spec_of_the_wrong_type_is_a_setup_error_and_the_test_is_reported(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_run="""
        import pytest

        @pytest.mark.agenttrace(spec=42)
        def test_x(agenttrace):
            pass

        @pytest.mark.agenttrace(spec=123)
        def test_no_fixture():
            pass

        @pytest.mark.agenttrace(snapshot="yes")
        def test_bad_snapshot():
            pass
        """
    )
    result = project.runpytest("--agenttrace-report=r.html", "-p", "no:randomly")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.agenttrace: spec= takes a path or a list of paths, got 42",
            "*@pytest.mark.agenttrace: spec= takes a path or a list of paths, got 123",
            "*@pytest.mark.agenttrace: snapshot= takes True or a dict of snapshot options, got 'yes'",
        ]
    )
    out = result.stdout.str()
    assert "Traceback" not in out and "UsageError" not in out and "spec/plugin.py" not in out
    report = (project.path / "r.html").read_text(encoding="utf-8")
    for name in ("test_run.py::test_x", "test_run.py::test_no_fixture", "test_run.py::test_bad_snapshot"):
        assert name in report


@pytest.mark.slow
def test_works_under_xdist(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    project.makepyfile(
        test_run="""
        import pytest
        from team_agents import run

        @pytest.mark.agenttrace(spec="specs/hygiene.yaml")
        @pytest.mark.parametrize("drop", [True, False, True, False])
        def test_x(agenttrace, drop):
            run(drop=drop)
        """
    )
    result = project.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*no-drop*"])


def test_marker_with_an_unknown_key_fails_the_test_naming_the_key_and_the_closest_one(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_typo="""
import pytest

@pytest.mark.agenttrace(specs="specs/hygiene.yaml")
def test_typo(agenttrace):
    pass

@pytest.mark.agenttrace(snapshots=True, zzz=1)
def test_two():
    pass

@pytest.mark.agenttrace("specs/hygiene.yaml")
def test_positional():
    pass

@pytest.mark.agenttrace(spec="specs/hygiene.yaml")
def test_valid(agenttrace):
    pass
"""
    )
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.agenttrace: unknown keyword specs= (did you mean spec=?); "
            "it takes only the keywords spec=, snapshot=",
            "*unknown keywords snapshots= (did you mean snapshot=?), zzz=*",
            "*positional arguments ('specs/hygiene.yaml',) are not accepted*",
        ]
    )


def test_an_invalid_marker_spec_fails_at_setup_with_the_message_alone(pytester: pytest.Pytester) -> None:
    # The setup error is the spec's message, not an exception chain ("During handling ... another exception").
    pytester.makefile(".yaml", broken="spec: b\nrules:\n  - id: a\n    forbidd: tool\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.agenttrace(spec="broken.yaml")
        def test_x(agenttrace):
            pass

        @pytest.mark.agenttrace(spec=[])
        def test_no_specs(agenttrace):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*the spec for this test is invalid: *broken.yaml:4:5*forbidd*"])
    result.stdout.no_fnmatch_line("*During handling of the above exception*")
