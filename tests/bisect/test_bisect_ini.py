"""bisect_ini: the snapshot options of a project, read from its pytest configuration as pytest finds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_agenttrace.bisect_ini import ini_reader
from pytest_agenttrace.snapshot import COMPARISON_INI

EXCLUDE = "agenttrace_snapshot_exclude"


def types() -> dict[str, tuple[str, object]]:
    return dict(COMPARISON_INI)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("pytest.toml", '[pytest]\nagenttrace_snapshot_exclude = ["attributes.usage"]\n'),
        (".pytest.toml", '[pytest]\nagenttrace_snapshot_exclude = ["attributes.usage"]\n'),
        ("pyproject.toml", '[tool.pytest]\nagenttrace_snapshot_exclude = ["attributes.usage"]\n'),  # pytest 9
        ("pyproject.toml", '[tool.pytest.ini_options]\nagenttrace_snapshot_exclude = ["attributes.usage"]\n'),
        ("pytest.ini", "[pytest]\nagenttrace_snapshot_exclude =\n    attributes.usage\n"),
        ("tox.ini", "[pytest]\nagenttrace_snapshot_exclude = attributes.usage\n"),
        ("setup.cfg", "[tool:pytest]\nagenttrace_snapshot_exclude = attributes.usage\n"),
    ],
)
def test_every_configuration_file_pytest_reads(tmp_path: Path, name: str, content: str) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / name).write_text(content)
    getini = ini_reader(["tests"], tmp_path, types())
    assert getini(EXCLUDE) == ["attributes.usage"]


def test_pytest_toml_comes_first_even_empty(tmp_path: Path) -> None:
    (tmp_path / "pytest.toml").write_text("")
    (tmp_path / "pytest.ini").write_text("[pytest]\nagenttrace_snapshot_exclude = attributes.usage\n")
    assert ini_reader([], tmp_path, types())(EXCLUDE) == []


def test_option_values_are_not_taken_for_test_paths(tmp_path: Path) -> None:
    # "-k slow" with a folder named slow: the configuration is still looked for from the test path.
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "pytest.ini").write_text("[pytest]\nagenttrace_snapshot_exclude = output\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\nagenttrace_snapshot_exclude = attributes.usage\n")
    getini = ini_reader(["tests", "-k", "slow", "-m", "slow", "--tb=short"], tmp_path, types())
    assert getini(EXCLUDE) == ["attributes.usage"]
