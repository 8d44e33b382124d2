"""The run log is keyed by the content of the spec or golden: a changed one never replays old verdicts."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from bisect_helpers import BAD_CONTEXT, GOOD_CONTEXT, make_trace
from test_bisect_cli import FAST, run_cli

from pytest_agenttrace.bisect_run import SnapshotPredicate, SpecPredicate
from pytest_agenttrace.store import save_trace

SYS_TEST = textwrap.dedent(
    """
    def test_s(agenttrace):
        text = agenttrace.prompt("sys")
        with agenttrace.agent("a"):
            with agenttrace.tool("bad_tool" if "bad" in text else "good_tool"):
                pass
    """
)
FORBID = "rules:\n  - id: no-{tool}\n    expect: {{select: 'tool[name={tool}]', count: {{max: 0}}}}\n"


@pytest.mark.slow
def test_a_changed_spec_file_is_judged_anew_not_replayed_from_the_run_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTTRACE_VERSIONS", raising=False)
    folder = tmp_path / "prompts" / "sys"
    folder.mkdir(parents=True)
    for n in range(1, 7):
        (folder / f"v{n}.txt").write_text(f"call the bad tool ({n})\n" if n >= 5 else f"be good ({n})\n")
    (tmp_path / "test_s.py").write_text(SYS_TEST)
    spec = tmp_path / "spec.yaml"
    spec.write_text(FORBID.format(tool="bad_tool"))
    argv = ["bisect", "sys", "--cache-dir", str(tmp_path / "cache"), "--spec", "spec.yaml", "--format", "json"]
    code, out, _ = run_cli(capsys, *argv, "--", "test_s.py", *FAST)
    doc = json.loads(out)
    assert (code, doc["first_bad"]) == (0, "v5"), doc
    spec.write_text(FORBID.format(tool="other_tool"))  # nothing violates it now
    code, out, _ = run_cli(capsys, *argv, "--", "test_s.py", *FAST)
    doc = json.loads(out)
    assert (code, doc["status"], doc["cached_runs"]) == (1, "not_bracketed", 0), doc


def test_the_spec_fingerprint_follows_the_content_of_the_spec_and_of_what_it_extends(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(FORBID.format(tool="bad_tool"))
    spec = tmp_path / "spec.yaml"
    spec.write_text("extends: [base.yaml]\nrules: []\n")
    first = SpecPredicate(str(spec)).fingerprint
    assert SpecPredicate(str(spec)).fingerprint == first  # stable
    base.write_text(FORBID.format(tool="other_tool"))
    second = SpecPredicate(str(spec)).fingerprint
    assert second != first
    spec.write_text("extends: [base.yaml]\nrules: []\ndescription: same rules\n")
    assert SpecPredicate(str(spec)).fingerprint != second


def test_the_snapshot_fingerprint_follows_the_content_of_the_golden(tmp_path: Path) -> None:
    golden = tmp_path / "golden.json"
    save_trace(make_trace(GOOD_CONTEXT), golden)
    first = SnapshotPredicate(str(golden)).fingerprint
    assert SnapshotPredicate(str(golden)).fingerprint == first
    save_trace(make_trace(BAD_CONTEXT), golden)  # another golden at the same path
    assert SnapshotPredicate(str(golden)).fingerprint != first
