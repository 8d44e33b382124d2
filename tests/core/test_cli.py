"""The agenttrace command: dispatch and the exit-code contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_agenttrace.cli import COMMAND_MODULES, build_parser, main


def test_every_contract_command_is_registered() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"show", "check", "diff", "query", "import", "export", "report", "bisect", "lint"} <= set(sub.choices)  # type: ignore[arg-type]
    assert len(COMMAND_MODULES) == 5


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_input_error_is_one_paragraph_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = subprocess.run(
        [sys.executable, "-m", "pytest_agenttrace.cli", "show", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(bad) in result.stderr and "not valid JSON" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert "pytest-agenttrace" in capsys.readouterr().out
