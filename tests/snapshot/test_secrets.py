"""No secret reaches a golden file or a diff, whatever the compared trace came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_agenttrace.cli import main

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk"

HAND_MADE = f'''
from pytest_agenttrace import Span, Trace
from pytest_agenttrace.store import load_trace, save_trace


def make():
    return Trace(
        trace_id="1", name="x", started_at="t", versions={{"config:api": "api#{KEY}"}},
        spans=(Span(span_id="1", parent_id=None, kind="tool", name="call",
                    input={{"api_key": "{KEY}", "password": "hunter2xyz", "q": "{BEARER}"}}),),
    )


def test_hand_built(agenttrace_snapshot):
    assert make() == agenttrace_snapshot


def test_loaded(tmp_path, agenttrace_snapshot):
    save_trace(make(), tmp_path / "t.json")
    assert load_trace(tmp_path / "t.json") == agenttrace_snapshot


def test_trace_dict(agenttrace_snapshot):
    assert make().to_dict() == agenttrace_snapshot


def test_normalised_dict(agenttrace_snapshot):
    node = {{"kind": "tool", "name": "call", "input": {{"password": "hunter2xyz", "q": "{BEARER}"}}}}
    assert {{"format": 1, "level": "io", "versions": {{}}, "spans": [node]}} == agenttrace_snapshot
'''


def test_hand_built_and_loaded_traces_write_goldens_without_secrets(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_secrets=HAND_MADE)
    result = pytester.runpytest("--snapshot-update", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    goldens = sorted(pytester.path.glob("__snapshots__/**/*.agenttrace"))
    assert len(goldens) == 4
    for golden in goldens:
        text = golden.read_text(encoding="utf-8")
        assert "sk-proj" not in text and "eyJ" not in text and "hunter2xyz" not in text, text
        assert "[REDACTED]" in text
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)


def _snapshot(path: Path, password: str) -> str:
    path.write_text(
        "# agenttrace snapshot\nformat 1\nlevel io\nspans\n"
        f'- tool login {{"input": {{"password": "{password}", "user": "ann"}}}}\n',
        encoding="utf-8",
    )
    return str(path)


def test_diff_of_two_snapshot_files_does_not_show_values_under_secret_key_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = _snapshot(tmp_path / "a.agenttrace", "hunter2xyz"), _snapshot(tmp_path / "b.agenttrace", "other")
    main(["diff", old, new])
    out = capsys.readouterr().out
    assert "hunter2xyz" not in out and '"other"' not in out


def test_only_the_recorders_redacted_traces_skip_sanitising(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sanitising costs about 15 us per span: a trace the recorder built with redaction on is clean
    # already and is compared as it is; a replaced or unredacted one is sanitised.
    import dataclasses

    from pytest_agenttrace import Recorder
    from pytest_agenttrace.report import _clean
    from pytest_agenttrace.sanitize import Limits
    from pytest_agenttrace.snapshot import TraceSnapshotExtension

    calls: list[object] = []
    real = _clean.sanitized
    monkeypatch.setattr(_clean, "sanitized", lambda trace, limits: calls.append(trace) or real(trace, limits))
    with Recorder("t") as rec, rec.tool("call", input={"q": "x"}):
        pass
    plain = Recorder("plain", limits=Limits(redact=False))
    with plain, plain.tool("call", input={"password": "hunter2xyz"}):
        pass
    extension = TraceSnapshotExtension()
    trace = rec.finish()
    assert trace._redacted and not dataclasses.replace(trace)._redacted and not plain.finish()._redacted
    extension.normalize(trace)
    assert calls == []
    extension.normalize(dataclasses.replace(trace))
    shown = extension.normalize(plain.finish())
    assert len(calls) == 2 and "hunter2xyz" not in str(shown)


def test_a_golden_holding_a_secret_fails_and_says_why(pytester: pytest.Pytester) -> None:
    # Written before redaction (or by hand): the recording now redacts the value, so the test fails
    # until --snapshot-update removes the secret; the diff, which never shows a secret, said "the
    # span trees are the same" before.
    pytester.makepyfile(
        """
        def test_it(agenttrace, agenttrace_snapshot):
            with agenttrace.tool("call", input={"password": "hunter2hunter2"}):
                pass
            assert agenttrace.trace == agenttrace_snapshot
        """
    )
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    (golden,) = (pytester.path / "__snapshots__").rglob("*.agenttrace")
    golden.write_text(golden.read_text().replace('"[REDACTED]"', '"hunter2hunter2"'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the golden holds values the recording now redacts*", "*--snapshot-update*"])
    result.stdout.no_fnmatch_line("*hunter2hunter2*")
    result.stdout.no_fnmatch_line("*span trees are the same*")
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    assert "hunter2hunter2" not in golden.read_text()
