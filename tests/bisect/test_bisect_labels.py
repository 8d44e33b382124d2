"""Version labels that cannot be written as UTF-8 are bad input, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_bisect_cli import run_cli


@pytest.mark.skipif(os.name != "posix", reason="file names of arbitrary bytes")
def test_a_registry_file_name_that_is_not_utf8_is_exit_2_in_one_paragraph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "prompts" / "sys"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("one\n")
    try:
        (folder / os.fsdecode(b"b\xff.txt")).write_text("two\n")
    except (OSError, UnicodeEncodeError):
        pytest.skip("the file system refuses names that are not UTF-8")
    (tmp_path / "test_s.py").write_text("def test_s():\n    pass\n")
    code, out, err = run_cli(capsys, "bisect", "sys", "--cache-dir", str(tmp_path / "c"), "--", "test_s.py")
    assert (code, out) == (2, "")
    assert "Traceback" not in err and err.count("\n") == 1
    assert "the version b\ufffd is not UTF-8 text" in err


def test_a_version_given_on_the_command_line_that_is_not_utf8_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    versions = "a," + os.fsdecode(b"b\xff") if os.name == "posix" else "a,b\udcff"
    code, out, err = run_cli(capsys, "bisect", "sys", "--versions", versions, "--no-cache", "--", "test_s.py")
    assert (code, out) == (2, "")
    assert "is not UTF-8 text" in err and "Traceback" not in err
