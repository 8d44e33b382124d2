"""Targets, predicates and the run log of ``agenttrace bisect``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from bisect_helpers import BAD_CONTEXT, GOOD_CONTEXT, commit_file, make_trace

from pytest_agenttrace.bisect_run import (
    ExitCodePredicate,
    GitFileTarget,
    PytestRunner,
    RegistryTarget,
    RunLog,
    RunRecord,
    SnapshotPredicate,
    SpecPredicate,
    trace_hash,
)
from pytest_agenttrace.bisect_search import Outcome
from pytest_agenttrace.exceptions import InputError
from pytest_agenttrace.store import save_trace

# --------------------------------------------------------------------------- run log


def record(version: str, outcome: Outcome = "good", stamp: str = "s1", run: int = 0) -> RunRecord:
    return RunRecord(version, stamp, outcome, seed=run + 10, run=run, trace_hash="abc")


def test_run_log_replays_runs_in_order_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "v" / "agenttrace" / "bisect" / "k.jsonl"
    log = RunLog(path)
    log.append(record("v1", "good", run=0))
    log.append(record("v1", "bad", run=1))
    log.append(record("v2", "skip"))
    again = RunLog(path)
    first, second = again.cached("v1", "s1", 0), again.cached("v1", "s1", 1)
    assert first is not None and second is not None
    assert (first.outcome, second.outcome, first.seed) == ("good", "bad", 10)
    assert first.cached and second.cached
    assert again.cached("v1", "s1", 2) is None
    assert again.cached("v2", "s1", 0) is not None


def test_run_log_ignores_runs_of_changed_content_and_torn_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    RunLog(path).append(record("v1", stamp="old"))
    with path.open("a") as handle:
        handle.write('{"version": "v1", "outco')  # interrupted mid-write
    log = RunLog(path)
    assert log.cached("v1", "new", 0) is None
    assert log.cached("v1", "old", 0) is not None


def test_run_log_lines_are_json_with_the_documented_fields(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    RunLog(path).append(record("v3", "bad"))
    entry = json.loads(path.read_text().splitlines()[0])
    assert {"version", "stamp", "outcome", "seed", "trace_hash", "run"} <= set(entry)
    assert "cached" not in entry


def test_run_log_without_a_path_keeps_nothing_on_disk(tmp_path: Path) -> None:
    log = RunLog(None)
    log.append(record("v1"))
    assert log.cached("v1", "s1", 0) is not None
    assert list(tmp_path.iterdir()) == []


def test_trace_hash_changes_with_content(tmp_path: Path) -> None:
    a = save_trace(make_trace(GOOD_CONTEXT), tmp_path / "a.json")
    first = trace_hash([a])
    save_trace(make_trace(BAD_CONTEXT), a)
    assert first is not None and trace_hash([a]) != first
    assert trace_hash([]) is None


# --------------------------------------------------------------------------- predicates


@pytest.mark.parametrize(
    ("code", "outcome"), [(0, "good"), (1, "bad"), (2, "skip"), (3, "skip"), (4, "skip"), (5, "skip")]
)
def test_exit_code_predicate_maps_pytest_exit_codes(code: int, outcome: str) -> None:
    assert ExitCodePredicate().judge(code, [])[0] == outcome


def test_spec_predicate_judges_the_saved_traces(tmp_path: Path, spec_file: Path) -> None:
    good = save_trace(make_trace(GOOD_CONTEXT), tmp_path / "good.json")
    bad = save_trace(make_trace(BAD_CONTEXT, name="other"), tmp_path / "bad.json")
    predicate = SpecPredicate(str(spec_file))
    assert predicate.judge(1, [good])[0] == "good"  # the spec decides, not pytest's exit code
    outcome, detail = predicate.judge(0, [good, bad])
    assert outcome == "bad"
    assert "billing-gets-tier" in detail
    assert predicate.judge(0, [])[0] == "skip"
    assert predicate.judge(4, [good])[0] == "skip"


def test_snapshot_predicate_compares_one_trace_with_the_golden(tmp_path: Path) -> None:
    golden = save_trace(make_trace(GOOD_CONTEXT), tmp_path / "golden.json")
    same = save_trace(make_trace(GOOD_CONTEXT, label="v1"), tmp_path / "same.json")
    changed = save_trace(make_trace(BAD_CONTEXT), tmp_path / "changed.json")
    predicate = SnapshotPredicate(str(golden))
    assert predicate.judge(0, [same])[0] == "good"
    assert predicate.judge(0, [changed])[0] == "bad"
    outcome, detail = predicate.judge(0, [same, changed])
    assert outcome == "skip" and "exactly one" in detail


@pytest.mark.parametrize("content", ["", '{"format": "agenttrace/v1", "spans": [', "not json"])
def test_a_saved_trace_that_cannot_be_read_skips_the_run_instead_of_being_left_out(
    tmp_path: Path, spec_file: Path, content: str
) -> None:
    # Left out, the cut trace (which could be the failing one) would let the good one call the version good.
    good = save_trace(make_trace(GOOD_CONTEXT), tmp_path / "good.json")
    cut = tmp_path / "cut.json"
    cut.write_text(content)
    outcome, detail = SpecPredicate(str(spec_file)).judge(1, [good, cut])
    assert outcome == "skip"
    assert "cut.json" in detail and "cannot be read" in detail
    golden = save_trace(make_trace(GOOD_CONTEXT), tmp_path / "golden.json")
    outcome, detail = SnapshotPredicate(str(golden)).judge(0, [cut])
    assert outcome == "skip" and "cut.json" in detail


# --------------------------------------------------------------------------- targets


def test_registry_target_overrides_the_version_and_stamps_content(tmp_path: Path) -> None:
    (tmp_path / "v2.txt").write_text("hello")
    target = RegistryTarget("triage", ["v1", "v2"], tmp_path, {"v2": tmp_path / "v2.txt"})
    with target.prepare("v2") as (cwd, extra, env):
        assert cwd == tmp_path
        assert extra == ["--agenttrace-version", "triage=v2"]
        assert env["AGENTTRACE_VERSIONS"].endswith("triage=v2")
    before = target.stamp("v2")
    (tmp_path / "v2.txt").write_text("hello again")
    assert target.stamp("v2") != before
    assert target.describe("v2") == "triage@v2"


@pytest.fixture
def prompt_history(git: Callable[..., str], tmp_path: Path) -> tuple[Path, list[str]]:
    """A repo where prompts/p.txt changed 4 times, with an unrelated commit in between."""
    repo = tmp_path / "repo"
    shas = [commit_file(git, repo, "prompts/p.txt", "version 1\n", "p1")]
    shas.append(commit_file(git, repo, "prompts/p.txt", "version 2\n", "p2"))
    commit_file(git, repo, "agent.py", "X = 1\n", "unrelated")
    shas.append(commit_file(git, repo, "prompts/p.txt", "version 3\n", "p3"))
    shas.append(commit_file(git, repo, "prompts/p.txt", "version 4\n", "p4"))
    return repo, shas


def test_git_file_target_lists_only_the_commits_that_changed_the_file(
    prompt_history: tuple[Path, list[str]],
) -> None:
    repo, shas = prompt_history
    target = GitFileTarget("prompts/p.txt", None, None, repo)
    assert target.labels == shas
    assert target.content(shas[1]) == b"version 2\n"
    bounded = GitFileTarget("prompts/p.txt", shas[1], "HEAD~1", repo)
    assert bounded.labels == shas[1:3]


def test_git_file_target_applies_one_file_to_a_copy_of_the_working_tree(
    prompt_history: tuple[Path, list[str]],
) -> None:
    repo, shas = prompt_history
    (repo / "agent.py").write_text("X = 2  # uncommitted work\n")
    target = GitFileTarget("prompts/p.txt", None, None, repo)
    with target.prepare(shas[0]) as (cwd, extra, env):
        assert cwd != repo and extra == [] and env == {}
        assert (cwd / "prompts" / "p.txt").read_text() == "version 1\n"
        assert (cwd / "agent.py").read_text() == "X = 2  # uncommitted work\n"  # the rest stays as it is
        assert not (cwd / ".git").exists()
    assert not cwd.exists()
    assert (repo / "prompts" / "p.txt").read_text() == "version 4\n"


def test_git_file_target_in_place_restores_the_file_even_on_error(prompt_history: tuple[Path, list[str]]) -> None:
    repo, shas = prompt_history
    (repo / "prompts" / "p.txt").write_text("local edit\n")
    target = GitFileTarget("prompts/p.txt", None, None, repo, in_place=True)
    with pytest.raises(RuntimeError), target.prepare(shas[1]) as (cwd, _, _):
        assert cwd == repo
        assert (repo / "prompts" / "p.txt").read_text() == "version 2\n"
        raise RuntimeError("the run crashed")
    assert (repo / "prompts" / "p.txt").read_text() == "local edit\n"


def test_git_file_target_follows_renames(prompt_history: tuple[Path, list[str]], git: Callable[..., str]) -> None:
    repo, shas = prompt_history
    git("mv", "prompts/p.txt", "prompts/planner.txt")
    git("commit", "-q", "-m", "rename")
    renamed = commit_file(git, repo, "prompts/planner.txt", "version 5\n", "p5")
    target = GitFileTarget("prompts/planner.txt", None, None, repo)
    assert target.labels[:4] == shas and target.labels[-1] == renamed
    assert target.content(shas[0]) == b"version 1\n"


@pytest.mark.parametrize(
    ("path", "good", "bad", "message"),
    [
        ("prompts/nope.txt", None, None, "no such file"),
        ("prompts/p.txt", "HEAD", "HEAD~3", "is not older than"),
        ("prompts/p.txt", "no-such-rev", None, "failed"),
    ],
)
def test_git_file_target_bad_input(
    prompt_history: tuple[Path, list[str]], path: str, good: str | None, bad: str | None, message: str
) -> None:
    repo, _ = prompt_history
    with pytest.raises(InputError, match=message):
        GitFileTarget(path, good, bad, repo)


def test_run_log_skips_and_counts_lines_that_are_not_run_records(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    RunLog(path).append(record("v1", "good"))
    with path.open("ab") as handle:
        handle.write(b'{"version": "v1", "outcome": "bad", "detail": "\xff\xfe"}\n')  # not UTF-8
        handle.write(b"[" * 100_000 + b"\n")  # nested too deeply for the JSON reader
        handle.write(b'{"version": "v1", "outcome": "bad", "exit_code": [1]}\n')  # unhashable exit code
        handle.write(b'{"version": "v1", "outcome": "bad", "duration_s": 1e999}\n')
        handle.write(b'"just a string"\n')
        handle.write(b"\n")
    RunLog(path).append(record("v1", "bad", run=1))
    log = RunLog(path)
    assert log.skipped == 5
    first, second = log.cached("v1", "s1", 0), log.cached("v1", "s1", 1)
    assert first is not None and second is not None
    assert (first.outcome, second.outcome) == ("good", "bad")


def test_run_log_keeps_a_record_whose_detail_holds_a_line_separator(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    RunLog(path).append(RunRecord("v1", "s1", "bad", 0, 0, detail="AssertionError: a\u2028b"))
    log = RunLog(path)
    assert log.skipped == 0
    found = log.cached("v1", "s1", 0)
    assert found is not None and found.detail == "AssertionError: a\u2028b"


def test_git_file_target_outside_the_repository_is_bad_input(prompt_history: tuple[Path, list[str]]) -> None:
    repo, _ = prompt_history
    (repo.parent / "outside.txt").write_text("x\n")
    with pytest.raises(InputError, match="outside the git repository"):
        GitFileTarget("../outside.txt", None, None, repo)


def test_a_run_whose_output_is_not_utf8_is_judged(tmp_path: Path) -> None:
    (tmp_path / "test_bytes.py").write_text("import os\n\ndef test_x():\n    os.write(1, b'\\xff\\xfe\\n')\n")
    runner = PytestRunner(["test_bytes.py", "-s", "-p", "no:cacheprovider"], ExitCodePredicate(), store=tmp_path / "s")
    record = runner.run(RegistryTarget("p", ["v1"], tmp_path), "v1", 0, 1)
    assert (record.outcome, record.exit_code) == ("good", 0)
