"""Golden file names: one golden per test id, even when a file name cannot hold the id.

Ids that differ only in characters a file name drops (``a/b`` and ``ab``), or
only after the file system's length limit, each get their own golden (a hash of
the id follows the cleaned name), syrupy can relate every name to its test (no
warning, which ``filterwarnings = error`` would turn into a failure), and unused
goldens are still reported.  Names that need no cleaning are unchanged.
"""

from __future__ import annotations

import pytest

from pytest_agenttrace.sanitize import redact_text
from pytest_agenttrace.snapshot import TraceSnapshotExtension
from pytest_agenttrace.versions import content_hash

from .test_plugin import project, rewrite  # noqa: F401  (project: the fixture)

IDS = """
import pytest
import pytest_agenttrace as at

IDS = {ids!r}


@pytest.mark.parametrize("x", IDS)
def test_param(agenttrace, agenttrace_snapshot, x):
    with at.tool("t", input={{"x": x}}):
        pass
    assert agenttrace.trace == agenttrace_snapshot


def test_named(agenttrace, agenttrace_snapshot):
    for name in ("a/b", "ab", "n" * 300 + "1", "n" * 300 + "2"):
        with at.tool("t", input={{"name": name}}):
            pass
        assert agenttrace.trace == agenttrace_snapshot(name=name)


class TestInClass:
    @pytest.mark.parametrize("x", ["c:d", "cd"])
    def test_method(self, agenttrace, agenttrace_snapshot, x):
        with at.tool("t", input={{"x": x}}):
            pass
        assert agenttrace.trace == agenttrace_snapshot
"""

ALL_IDS = ["a/b", "ab", "x" * 300 + "1", "x" * 300 + "2", "e\\f", "ef:", "é", "plain"]


def test_ids_a_file_name_cannot_tell_apart_keep_one_golden_each(project: pytest.Pytester) -> None:  # noqa: F811
    rewrite(project.path / "test_ids.py", IDS.format(ids=ALL_IDS))
    total = len(ALL_IDS) + 4 + 2
    created = project.runpytest("--snapshot-update")  # the ini has filterwarnings = error
    created.assert_outcomes(passed=len(ALL_IDS) + 1 + 2)
    created.stdout.fnmatch_lines([f"*{total} snapshots generated*"])
    folder = project.path / "__snapshots__" / "test_ids"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == total, names
    # Names that need no cleaning are as they always were (existing goldens keep working).
    assert {
        "test_param[ab].agenttrace",
        "test_param[plain].agenttrace",
        "TestInClass.test_method[cd].agenttrace",
    } <= set(names)
    assert "test_named[ab].agenttrace" in names
    assert all(len(name) <= 255 for name in names)
    plain = project.runpytest()
    plain.assert_outcomes(passed=len(ALL_IDS) + 1 + 2)
    plain.stdout.fnmatch_lines([f"*{total} snapshots passed.*"])
    assert "unused" not in plain.stdout.str()
    again = project.runpytest("--snapshot-update")
    again.assert_outcomes(passed=len(ALL_IDS) + 1 + 2)
    assert "updated" not in again.stdout.str() and "unused" not in again.stdout.str()

    # Two of the ids go: their goldens are reported unused, then deleted; the others still match.
    kept = [i for i in ALL_IDS if i not in ("a/b", "x" * 300 + "1")]
    rewrite(project.path / "test_ids.py", IDS.format(ids=kept))
    unused = project.runpytest()
    unused.assert_outcomes(passed=len(kept) + 1 + 2)
    unused.stdout.fnmatch_lines([f"*{total - 2} snapshots passed. 2 snapshots unused.*"])
    assert unused.ret == 1
    cleaned = project.runpytest("--snapshot-update")
    cleaned.stdout.fnmatch_lines(["*2 unused snapshots deleted*"])
    assert len(list(folder.iterdir())) == total - 2
    assert (folder / "test_param[ab].agenttrace").is_file()
    project.runpytest().stdout.fnmatch_lines([f"*{total - 2} snapshots passed.*"])


MATRIX_IDS = """
import pytest
import pytest_agenttrace as at


@pytest.mark.agenttrace_versions(summarizer=["v3", "v4"])
@pytest.mark.parametrize("x", ["a/b", "ab"])
def test_matrix(agenttrace, agenttrace_snapshot, x):
    with at.tool("t", input={"x": x}):
        pass
    assert agenttrace.trace == agenttrace_snapshot
"""


@pytest.mark.slow
def test_cleaned_ids_of_a_version_matrix_under_xdist(project: pytest.Pytester) -> None:  # noqa: F811
    # Under xdist the controller relates goldens to tests without their stash (matrix ids stripped by name).
    rewrite(project.path / "test_m.py", MATRIX_IDS)
    # Created without xdist: under it a non-baseline run may compare before its baseline wrote the golden.
    project.runpytest("--snapshot-update").assert_outcomes(passed=4)
    folder = project.path / "__snapshots__" / "test_m"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and "test_matrix[ab].agenttrace" in names, names
    rerun = project.runpytest_subprocess("-n", "2")
    rerun.assert_outcomes(passed=4)
    assert "unused" not in rerun.stdout.str()
    rewrite(project.path / "test_m.py", MATRIX_IDS.replace('["a/b", "ab"]', '["ab"]'))
    gone = project.runpytest_subprocess("-n", "2")
    gone.stdout.fnmatch_lines(["*1 snapshot unused*"])
    project.runpytest_subprocess("-n", "2", "--snapshot-update").stdout.fnmatch_lines(["*1 unused snapshot deleted*"])
    assert sorted(p.name for p in folder.iterdir()) == ["test_matrix[ab].agenttrace"]


# -- the names themselves ----------------------------------------------------------------------

stem = TraceSnapshotExtension._golden_stem
LIMIT = 255 - len(".agenttrace")


@pytest.mark.parametrize(
    ("prefix", "testname", "suffix"),
    [
        ("", "test_x", ""),
        ("", "test_x[plain-1]", ""),
        ("TestC.", "test_y[a b]", ".1"),
        ("", "test_x[case]", "[structure]"),
        ("", "x" * LIMIT, ""),
    ],
)
def test_names_that_need_no_cleaning_are_unchanged(prefix: str, testname: str, suffix: str) -> None:
    assert stem(prefix, testname, suffix) == f"{prefix}{testname}{suffix}"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("test_p[a/b]", "test_p[ab]"),
        ("test_p[a:b]", "test_p[a\\b]"),
        ("test_p[" + "x" * 300 + "1]", "test_p[" + "x" * 300 + "2]"),
        ("x" * (LIMIT + 1), "x" * (LIMIT + 2)),
    ],
)
def test_ids_that_clean_or_cut_alike_get_distinct_names(one: str, other: str) -> None:
    names = {stem("", one), stem("", other), stem("", one, ".1"), stem("", other, ".1")}
    assert len(names) == 4
    assert all(len(name) <= LIMIT and TraceSnapshotExtension._sanitize_filename(name) == name for name in names)


def test_a_cleaned_name_keeps_its_readable_part_and_ends_with_a_hash_of_the_id() -> None:
    assert stem("", "test_p[a/b]") == f"test_p[ab]-{content_hash('test_p[a/b]')}"
    assert stem("TestC.", "test_p[a/b]", ".2") == f"TestC.test_p[ab]-{content_hash('test_p[a/b]')}.2"
    # A named assertion whose name must be cleaned: its hash covers the name too.
    assert stem("", "test_p", "[a/b]") != stem("", "test_p", "[ab]")
    assert stem("", "test_p", "[a/b]").startswith("test_p-") and stem("", "test_p", "[a/b]").endswith("[ab]")
    # ... and so it does when the name is cut.
    long = "test_p[" + "x" * 300 + "]"
    assert stem("", long, "[" + "n" * 40 + "1]") != stem("", long, "[" + "n" * 40 + "2]")


def test_redacted_names_are_as_before() -> None:
    """Goldens of ids with a secret keep the name they had (redacted id, then a hash of the real one)."""
    testname = "test_ids[sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234]"
    for prefix, suffix in (("", ""), ("TestC.", ".1"), ("", "[io]"), ("", "[after_the_retry_storm]")):
        hashed = f"-{content_hash(testname)}"
        head = f"{prefix}{redact_text(testname)}"
        assert stem(prefix, testname, suffix) == head + hashed + suffix
    assert "ABCDEFGH" not in stem("", testname)


def test_a_lone_surrogate_in_an_id_is_named_not_crashed_on() -> None:
    name = stem("", "test_p[\udcff]")
    assert name.startswith("test_p[") and TraceSnapshotExtension._sanitize_filename(name) == name
    assert name != stem("", "test_p[\udcfe]")
