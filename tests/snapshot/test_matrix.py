"""Version-matrix naming: one golden per test, whatever the matrix parameter."""

from __future__ import annotations

import pytest

from pytest_agenttrace.matrix import parse_matrix_option
from pytest_agenttrace.snapshot import strip_matrix_id

from .test_plugin import FAST


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("test_x[summarizer=v3]", "test_x"),
        ("test_x[case1-summarizer=v3]", "test_x[case1]"),
        ("test_x[summarizer=v3,tools=a1-case1]", "test_x[case1]"),
        ("Test.test_x[a-b=v10-c]", "Test.test_x[a-c]"),
        ("test_x[case1]", None),
        ("test_x", None),
    ],
)
def test_strip_matrix_id(name: str, expected: str | None) -> None:
    assert strip_matrix_id(name) == expected


def test_parse_matrix_option() -> None:
    assert parse_matrix_option(["summarizer=v3,v4", "tools = a, b ,a"]) == {
        "summarizer": ["v3", "v4"],
        "tools": ["a", "b"],
    }


@pytest.mark.parametrize("bad", ["summarizer", "=v3", "summarizer=", "summarizer=,"])
def test_parse_matrix_option_rejects(bad: str) -> None:
    with pytest.raises(pytest.UsageError, match="NAME=LABEL1,LABEL2"):
        parse_matrix_option([bad])


MATRIX_WITH_PARAMS = """
import pytest

@pytest.mark.parametrize("case", ["a", "b"])
@pytest.mark.agenttrace_versions(summarizer=["v3", "v4"], tools=["x"])
def test_cases(agenttrace, agenttrace_snapshot, agenttrace_matrix, case):
    with agenttrace.agent("coder"):
        with agenttrace.tool("t", input={"case": case}):
            pass
    assert agenttrace.trace == agenttrace_snapshot
"""


def test_matrix_with_other_parameters_shares_one_golden_per_case(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\naddopts = {FAST}\n")
    pytester.makepyfile(test_cases=MATRIX_WITH_PARAMS)
    result = pytester.runpytest("-v", "--snapshot-update")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_cases[[]summarizer=v3,tools=x-a[]] PASSED*"])
    goldens = sorted(p.name for p in (pytester.path / "__snapshots__" / "test_cases").iterdir())
    assert goldens == ["test_cases[a].agenttrace", "test_cases[b].agenttrace"]
    again = pytester.runpytest()
    again.assert_outcomes(passed=4)
    again.stdout.fnmatch_lines(["*2 snapshots passed.*"])  # syrupy counts goldens, not assertions
    assert "unused" not in again.stdout.str()


def test_a_matrix_test_without_the_fixture_still_runs_each_version(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\naddopts = {FAST}\n")
    for label in ("v1", "v2", "v10"):
        folder = pytester.path / "prompts" / "coder"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{label}.txt").write_text(f"code like {label}\n", encoding="utf-8")
    pytester.makepyfile(
        test_pins="""
        import pytest
        import pytest_agenttrace as at

        @pytest.fixture
        def briefing():
            return at.prompt("coder")  # read while the test's fixtures are set up

        @pytest.mark.agenttrace_versions(coder=["v1", "v2"])
        def test_pinned(request, briefing):
            label = request.node.callspec.id.split("=")[1]
            assert at.prompt("coder") == briefing == f"code like {label}\\n"
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)


def write_prompts(pytester: pytest.Pytester) -> None:
    for name, labels in {"coder": ("v1", "v2", "v3"), "reviewer": ("a", "b")}.items():
        folder = pytester.path / "prompts" / name
        folder.mkdir(parents=True, exist_ok=True)
        for label in labels:
            (folder / f"{label}.txt").write_text(f"{name} {label}\n", encoding="utf-8")


RECORDING_BY_MARKER = """
import pytest
import pytest_agenttrace as at

@pytest.fixture(autouse=True)
def _default_versions_from_here(monkeypatch):
    # Outside a recording test prompt() reads the process-wide default, which an earlier test in
    # this process may have configured: this module's own, from its prompts/ folder.
    from pytest_agenttrace import versions
    monkeypatch.setattr(versions, "_default_context", versions.VersionContext.from_environment())

@pytest.fixture
def briefing():
    return at.prompt("coder")  # read while the test's fixtures are set up

@pytest.mark.agenttrace(spec=[])
def test_spec_marker(request, briefing):
    label = request.node.callspec.id.split("=")[1]
    assert at.prompt("coder") == briefing == f"coder {label}\\n"
    with at.agent("coder"):
        pass

@pytest.mark.agenttrace(snapshot=True)
def test_snapshot_marker(request):
    label = request.node.callspec.id.split("=")[1]
    with at.agent("coder"):
        assert at.prompt("coder") == f"coder {label}\\n"

@pytest.mark.agenttrace(spec=None, snapshot=False)
def test_marker_that_does_not_record():
    assert at.prompt("coder") == "coder v3\\n"

def test_plain():
    assert at.prompt("coder") == "coder v3\\n"
"""


def test_the_command_line_matrix_expands_tests_that_record_through_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\naddopts = {FAST}\n")
    write_prompts(pytester)
    pytester.makepyfile(test_marked=RECORDING_BY_MARKER)
    args = ("-v", "--agenttrace-matrix", "coder=v1,v2", "--agenttrace-save", "--agenttrace-dir", "saved")
    result = pytester.runpytest(*args, "--snapshot-update")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*test_spec_marker[[]coder=v1[]] PASSED*",
            "*test_spec_marker[[]coder=v2[]] PASSED*",
            "*test_snapshot_marker[[]coder=v1[]] PASSED*",
            "*test_snapshot_marker[[]coder=v2[]] PASSED*",
            "*test_marker_that_does_not_record PASSED*",
            "*test_plain PASSED*",
        ]
    )
    assert len(list((pytester.path / "saved").iterdir())) == 4
    goldens = sorted(p.name for p in (pytester.path / "__snapshots__" / "test_marked").iterdir())
    assert goldens == ["test_snapshot_marker.agenttrace"]  # written by the baseline run only


def test_without_the_spec_plugin_a_marker_only_test_is_not_expanded(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\naddopts = {FAST}\n")
    write_prompts(pytester)
    pytester.makepyfile(
        test_marked="""
        import pytest
        import pytest_agenttrace as at

        @pytest.fixture(autouse=True)
        def _default_versions_from_here(monkeypatch):
            # Outside a recording test prompt() reads the process-wide default, which an earlier test in
            # this process may have configured: this module's own, from its prompts/ folder.
            from pytest_agenttrace import versions
            monkeypatch.setattr(versions, "_default_context", versions.VersionContext.from_environment())

        @pytest.mark.agenttrace(spec=[])
        def test_spec_marker():
            assert at.prompt("coder") == "coder v3\\n"  # not recording: no pins
        """
    )
    result = pytester.runpytest("-v", "-p", "no:pytest_agenttrace.spec.plugin", "--agenttrace-matrix", "coder=v1,v2")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_spec_marker PASSED*"])


def test_the_command_line_replaces_the_version_markers_labels_of_the_same_name(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\naddopts = {FAST}\n")
    write_prompts(pytester)
    pytester.makepyfile(
        test_versions="""
        import pytest
        import pytest_agenttrace as at

        @pytest.mark.agenttrace_versions(coder=["v1"], reviewer=["a", "b"])
        def test_pinned(agenttrace_matrix):
            assert at.prompt("coder") == f"coder {agenttrace_matrix['coder']}\\n"
            assert at.prompt("reviewer") == f"reviewer {agenttrace_matrix['reviewer']}\\n"
        """
    )
    result = pytester.runpytest("-v", "--agenttrace-matrix", "coder=v2,v3")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_pinned[[]coder=v2,reviewer=a[]] PASSED*",
            "*test_pinned[[]coder=v2,reviewer=b[]] PASSED*",
            "*test_pinned[[]coder=v3,reviewer=a[]] PASSED*",
            "*test_pinned[[]coder=v3,reviewer=b[]] PASSED*",
        ]
    )
    assert "coder=v1" not in result.stdout.str()


DOCS_EXAMPLE = """
import pytest
import pytest_agenttrace as at

def run_my_agents():
    with at.agent("summarizer"):
        at.prompt("summarizer")

@pytest.mark.agenttrace_versions(summarizer=["v3", "v4"])
def test_pipeline(agenttrace, agenttrace_snapshot, agenttrace_matrix):
    run_my_agents()            # pytest_agenttrace.prompt("summarizer") gives v3, then v4
    assert agenttrace.trace == agenttrace_snapshot
    print("labels:", agenttrace_matrix, agenttrace.trace.versions["prompt:summarizer"].split("#")[0])
"""


def test_without_the_matrix_plugin_a_matrix_test_runs_once_unpinned_against_its_golden(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(f"[pytest]\naddopts = {FAST} -p no:randomly\n")
    for label in ("v3", "v4"):
        folder = pytester.path / "prompts" / "summarizer"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{label}.txt").write_text(f"summarize like {label}\n", encoding="utf-8")
    # A name no other test module has: in-process runs share sys.modules (examples/tests has a test_pipeline).
    pytester.makepyfile(test_docs_matrix_example=DOCS_EXAMPLE)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)
    result = pytester.runpytest("-p", "no:pytest_agenttrace.matrix", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*labels: {} summarizer@v4", "*1 snapshot passed.*"])  # the latest, unpinned
    assert "unused" not in result.stdout.str()
    assert (pytester.path / "__snapshots__" / "test_docs_matrix_example" / "test_pipeline.agenttrace").is_file()
