"""What a snapshot failure says when the golden, the options or the compared value are wrong.

Every problem is one clear message (the file, what is wrong, what to do) with
no traceback through syrupy; bad option values are usage errors (exit 4)
before any test runs.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable

import pytest

from pytest_agenttrace.exceptions import InputError, TraceFileError
from pytest_agenttrace.snapfile import dumps, loads
from pytest_agenttrace.snapshot import SnapshotSettings

from .test_plugin import GOLDEN, project, write_agents  # noqa: F401  (project: the fixture)


def no_traceback(result: pytest.RunResult) -> None:
    out = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in out and "syrupy/" not in out and "INTERNALERROR" not in out, out


# -- unreadable goldens --------------------------------------------------------------------------


def _not_utf8(pytester: pytest.Pytester) -> None:
    (pytester.path / GOLDEN).write_bytes(b"\xff\xfe\x00x")


def _empty(pytester: pytest.Pytester) -> None:
    (pytester.path / GOLDEN).write_bytes(b"")


def _directory(pytester: pytest.Pytester) -> None:
    (pytester.path / GOLDEN).unlink()
    (pytester.path / GOLDEN).mkdir()


def _folder_is_a_file(pytester: pytest.Pytester) -> None:
    (pytester.path / GOLDEN).unlink()
    (pytester.path / GOLDEN.parent).rmdir()
    (pytester.path / GOLDEN.parent).write_text("not a folder\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("spoil", "problem", "update_fixes"),
    [
        (
            _not_utf8,
            "snapshot file is not UTF-8 text (byte 0xff at offset 0). Re-run pytest with --snapshot-update",
            True,
        ),
        (_empty, "snapshot file is empty (it was probably not written completely)", True),
        (_directory, "it is a directory, not a snapshot file; move or remove it", False),
        (_folder_is_a_file, "is a file, not the directory the golden goes in; move or remove that file", False),
    ],
    ids=["not-utf8", "empty", "directory", "folder-is-a-file"],
)
def test_an_unreadable_golden_is_one_clear_message(
    project: pytest.Pytester,  # noqa: F811
    spoil: Callable[[pytest.Pytester], None],
    problem: str,
    update_fixes: bool,
) -> None:
    write_agents(project)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    spoil(project)
    result = project.runpytest("-vv")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"E*assert the golden snapshot cannot be read: {project.path / GOLDEN}: *{problem}*"])
    assert "no golden snapshot yet" not in result.stdout.str()
    no_traceback(result)
    updated = project.runpytest("--snapshot-update")
    no_traceback(updated)
    if update_fixes:
        updated.assert_outcomes(passed=1)
        project.runpytest().assert_outcomes(passed=1)
    else:
        updated.assert_outcomes(failed=1)
        updated.stdout.fnmatch_lines([f"E*assert the golden snapshot cannot be written: {project.path / GOLDEN}: *"])


def test_a_golden_with_a_byte_order_mark_matches(project: pytest.Pytester) -> None:  # noqa: F811
    write_agents(project)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    golden = project.path / GOLDEN
    golden.write_bytes(b"\xef\xbb\xbf" + golden.read_bytes())  # as an editor may save it
    project.runpytest().assert_outcomes(passed=1)
    # The command line reads it as a snapshot too (agenttrace diff GOLDEN GOLDEN: the same, exit 0).
    from pytest_agenttrace.cli import main

    assert main(["diff", str(golden), str(golden)]) == 0


def test_loads_skips_a_byte_order_mark_and_says_when_text_is_empty() -> None:
    text = dumps({"format": 1, "level": "io", "versions": {}, "spans": [{"kind": "tool", "name": "t"}]})
    assert loads("\ufeff" + text) == loads(text)
    for empty in ("", "\n \n", "\ufeff"):
        with pytest.raises(TraceFileError, match="snapshot file is empty"):
            loads(empty, path="g.agenttrace")


# -- values that are not traces ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"x": 1}', "agenttrace_snapshot compares traces, not this dict: it has no 'trace_id', 'name', 'started_at'*"),
        (
            '{"trace_id": "t", "name": "n", "started_at": "s", "spans": [{"bogus": 1}]}',
            "agenttrace_snapshot compares traces, not this dict: its spans cannot be read*bogus*",
        ),
        (
            '{"trace_id": "t", "name": "n", "started_at": "s", "spans": ['
            '{"span_id": "1", "parent_id": None, "kind": "tool", "name": "a"}, '
            '{"span_id": "1", "parent_id": None, "kind": "tool", "name": "b"}]}',
            "agenttrace_snapshot compares traces, not this dict: its spans cannot be read (*duplicate span_id '1'*",
        ),
        ('"hello"', "agenttrace_snapshot compares traces, not this str ('hello'): a str is compared only as the text*"),
        ('""', "agenttrace_snapshot compares traces, not this str (''): *(snapshot file is empty *); write *"),
        ("42", "agenttrace_snapshot compares traces, not int; write `assert agenttrace.trace == agenttrace_snapshot`."),
    ],
    ids=["dict", "dict-with-bad-spans", "dict-with-a-repeated-id", "str", "empty-str", "int"],
)
def test_a_value_that_is_not_a_trace_says_what_is_expected(
    project: pytest.Pytester,  # noqa: F811
    value: str,
    message: str,
) -> None:
    project.makepyfile(
        test_wrong=textwrap.dedent(
            f"""
            def test_wrong(agenttrace_snapshot):
                assert {value} == agenttrace_snapshot
            """
        )
    )
    for args in ((), ("--snapshot-update",)):
        result = project.runpytest(*args)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"E*assert {message}"])
        assert "KeyError" not in result.stdout.str() and "malformed" not in result.stdout.str()
        no_traceback(result)


# -- failure messages ----------------------------------------------------------------------------


def test_a_golden_written_at_another_level_says_so(project: pytest.Pytester) -> None:  # noqa: F811
    write_agents(project)
    project.runpytest("--snapshot-update", "--agenttrace-snapshot-level=structure").assert_outcomes(passed=1)
    result = project.runpytest("-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*assert the golden snapshot was written at level structure, this run compares at level io",
            "E*run pytest --snapshot-update to rewrite it at level io, or compare at level structure*",
        ]
    )
    out = result.stdout.str()
    assert "the span trees are the same" not in out and "only the version stamps" not in out
    assert "no version stamp changed" not in out
    same_level = project.runpytest("--agenttrace-snapshot-level=structure")
    same_level.assert_outcomes(passed=1)
    hidden = project.runpytest("--snapshot-diff-mode=disabled")
    hidden.stdout.fnmatch_lines(["E*assert the golden snapshot was written at level structure*"])


def test_a_hidden_diff_still_says_first_what_differs(project: pytest.Pytester) -> None:  # noqa: F811
    write_agents(project)
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    write_agents(project, searches=3)
    result = project.runpytest("-rf", "--snapshot-diff-mode=disabled")
    result.assert_outcomes(failed=1)
    summary = [line for line in result.stdout.lines if line.startswith("FAILED")]
    assert len(summary) == 1 and " - assert trace differs from its golden" in summary[0]
    result.stdout.fnmatch_lines(
        [
            "E*assert trace differs from its golden snapshot: 2 changes in the span tree, no version stamp changed",
            "E*run pytest --snapshot-update if the change is intended",
            "E*tool web_search: 1 -> 3 calls under coder",
            "E*2 change(s) in the span tree (diff hidden by --snapshot-diff-mode=disabled)",
        ]
    )
    assert "assert no version stamp changed" not in result.stdout.str()
    versions = project.runpytest("-rf", "--snapshot-diff-mode=disabled", "--agenttrace-version", "summarizer=v4")
    versions.stdout.fnmatch_lines(
        [
            "E*assert prompt summarizer v3 -> v4",
            "E*trace differs from its golden snapshot; run pytest --snapshot-update if the change is intended",
        ]
    )


# -- option values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-o", "agenttrace_snapshot_parallel=tool[[["],
            "ERROR: agenttrace snapshot ini options: agenttrace_snapshot_parallel: selector 'tool[[[': *",
        ),
        (
            ["-o", "agenttrace_snapshot_overlap_parallel=maybe"],
            "ERROR: ini option agenttrace_snapshot_overlap_parallel is not a boolean (*'maybe'*); write true or false.",
        ),
        (
            ["--agenttrace-diff-max-lines=-5"],
            "ERROR: *--agenttrace-diff-max-lines must be a whole number of lines, 0 or more (0: no limit), got -5.",
        ),
        (
            ["-o", "agenttrace_diff_max_lines=-3"],
            "ERROR: *agenttrace_diff_max_lines must be a whole number of lines, 0 or more (0: no limit), got '-3'.",
        ),
        *(
            (
                ["-o", f"agenttrace_snapshot_float_tolerance={bad}"],
                f"ERROR: *agenttrace_snapshot_float_tolerance must be a number, 0 or more *, got '{bad}'.",
            )
            for bad in ("-1", "nan", "inf", "lots")
        ),
    ],
    ids=["parallel", "overlap", "cli-max-lines", "ini-max-lines", "tol-neg", "tol-nan", "tol-inf", "tol-text"],
)
def test_a_bad_option_value_is_a_usage_error_before_any_test_runs(
    project: pytest.Pytester,  # noqa: F811
    args: list[str],
    message: str,
) -> None:
    write_agents(project)
    result = project.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()
    no_traceback(result)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"overlap_parallel": "false"}, "overlap_parallel must be true or false, got 'false'"),
        ({"overlap_parallel": 1}, "overlap_parallel must be true or false"),
        ({"parallel": ["agent[name=x]", "tool[[["]}, "parallel: selector 'tool\\[\\[\\['"),
        ({"float_tolerance": -0.1}, "float_tolerance must be a number, 0 or more"),
        ({"float_tolerance": math.nan}, "float_tolerance must be a number, 0 or more"),
        ({"float_tolerance": True}, "float_tolerance must be a number, 0 or more"),
        ({"max_diff_lines": -1}, "max_diff_lines must be a whole number of lines, 0 or more"),
        ({"max_diff_lines": 2.5}, "max_diff_lines must be a whole number of lines"),
        ({"max_diff_lines": None}, "max_diff_lines must be a whole number of lines"),
    ],
)
def test_settings_refuse_bad_values_of_a_marker_or_an_assertion(values: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=f"^where: {match}"):
        SnapshotSettings().updated(values, where="where")


def test_settings_take_good_values() -> None:
    settings = SnapshotSettings().updated(
        {"overlap_parallel": True, "parallel": ["agent[name=x]"], "float_tolerance": "1e-3", "max_diff_lines": "0"},
        where="where",
    )
    assert settings.options.overlap_parallel and settings.options.parallel == ("agent[name=x]",)
    assert settings.float_tolerance == 1e-3 and settings.max_diff_lines == 0
    assert SnapshotSettings().updated({"max_diff_lines": 3.0, "float_tolerance": 0}, where="w").max_diff_lines == 3
