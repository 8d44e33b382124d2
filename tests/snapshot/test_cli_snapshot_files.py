"""`agenttrace diff` reads every golden that pytest reads, and shows values escaped once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_agenttrace.cli import main

BODY = 'spans\n- tool read {"input": {"path": "a.py"}}\n'


@pytest.mark.parametrize(
    "head",
    [
        "# reviewed: ok\nformat 1\nlevel io\n",
        "level io\nformat 1\n",
        'version prompt:x "x@v1#1a2b3c4d"\nformat 1\n',
        "\n\n# agenttrace snapshot\nformat 1\n",
    ],
)
def test_a_golden_with_its_own_comment_or_reordered_header_is_read(
    head: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "g.agenttrace"
    golden.write_text(head + BODY, encoding="utf-8")
    assert main(["diff", str(golden), str(golden)]) == 0
    assert "the span trees are the same" in capsys.readouterr().out


def test_a_file_that_is_neither_still_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("just some notes\n", encoding="utf-8")
    assert main(["diff", str(other), str(other)]) == 2
    assert "Traceback" not in capsys.readouterr().err
