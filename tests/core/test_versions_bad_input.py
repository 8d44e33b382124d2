"""Config registry files that are empty or nested past reason: refused as input errors, never a traceback.

A config is a mapping the agent reads settings from: an empty file (saved before it was written,
a placeholder) must not run the agent with ``None`` as its config, and a file nested deeper than
the parsers recurse is a VersionError naming the file like any other unreadable config.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.versions import ConfigRegistry, VersionContext


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("v1.yaml", ""),
        ("v1.yaml", "# settings to come\n"),
        ("v1.yml", "\n\n"),
        ("v1.yaml", "---\n"),
        ("v1.json", "null"),
    ],
    ids=["empty-yaml", "comment-only", "blank-lines", "empty-document", "json-null"],
)
def test_an_empty_config_file_is_refused_naming_the_file(tmp_path: Path, filename: str, text: str) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / filename).write_text(text)
    with pytest.raises(at.VersionError, match=r"config team@v1 is empty") as info:
        ConfigRegistry(tmp_path).load("team")
    assert info.value.path == str(tmp_path / "team" / filename)


def test_config_refuses_an_empty_registry_file_instead_of_returning_none(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "v1.yaml").write_text("")
    with pytest.raises(at.VersionError, match="is empty"):
        _config_from(tmp_path, "team")


def _config_from(root: Path, name: str) -> object:
    from pytest_agenttrace.recorder import Recorder

    rec = Recorder("t", versions=VersionContext(configs=ConfigRegistry(root)))
    with rec:
        return at.config(name)


def test_an_empty_mapping_is_a_config(tmp_path: Path) -> None:
    # Written on purpose: "{}" says "no settings", an empty file says nothing.
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "v1.yaml").write_text("{}\n")
    data, label, _ = ConfigRegistry(tmp_path).load("team")
    assert (data, label) == ({}, "v1")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_config_nested_past_the_parsers_depth_is_an_input_error(tmp_path: Path, suffix: str) -> None:
    (tmp_path / "team").mkdir()
    path = tmp_path / "team" / f"v1{suffix}"
    path.write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(at.VersionError, match="nested too deeply") as info:
        ConfigRegistry(tmp_path).load("team")
    assert info.value.path == str(path)
