"""Prompt/config registries, stamps and overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.versions import (
    ConfigRegistry,
    PromptRegistry,
    VersionContext,
    content_hash,
    natural_key,
    parse_overrides,
)


@pytest.fixture
def registry(tmp_path: Path) -> PromptRegistry:
    for label in ("v1", "v2", "v10", "v9"):
        (tmp_path / "summarizer").mkdir(exist_ok=True)
        (tmp_path / "summarizer" / f"{label}.txt").write_text(f"summarize ({label})")
    return PromptRegistry(tmp_path)


def test_labels_are_in_natural_order(registry: PromptRegistry) -> None:
    assert registry.labels("summarizer") == ["v1", "v2", "v9", "v10"]
    assert registry.latest("summarizer") == "v10"


def test_order_file_fixes_the_order(registry: PromptRegistry) -> None:
    (registry.root / "summarizer" / "ORDER").write_text("# chosen\nv10\nv1\n")
    assert registry.labels("summarizer") == ["v10", "v1", "v2", "v9"]


def test_order_file_naming_a_missing_label_is_an_error(registry: PromptRegistry) -> None:
    (registry.root / "summarizer" / "ORDER").write_text("v3\n")
    with pytest.raises(at.VersionError, match="lists \\['v3'\\]"):
        registry.labels("summarizer")


def test_resolve_gives_text_and_stamp(registry: PromptRegistry) -> None:
    version = registry.resolve("summarizer", "v2")
    assert version.text == "summarize (v2)"
    assert version.stamp == f"summarizer@v2#{content_hash(b'summarize (v2)')}"
    assert len(version.sha8) == 8


def test_unknown_prompt_and_label_say_what_exists(registry: PromptRegistry) -> None:
    with pytest.raises(at.VersionError, match="no prompt 'coder'.*known: summarizer"):
        registry.resolve("coder")
    with pytest.raises(at.VersionError, match="available: v1, v2, v9, v10"):
        registry.resolve("summarizer", "v3")


def test_duplicate_label_files_are_an_error(registry: PromptRegistry) -> None:
    (registry.root / "summarizer" / "v1.md").write_text("other")
    with pytest.raises(at.VersionError, match="two files for label 'v1'"):
        registry.labels("summarizer")


def test_prompt_stamps_the_active_recorder_and_honours_overrides(registry: PromptRegistry) -> None:
    rec = Recorder("t", versions=VersionContext(prompts=registry, overrides={"summarizer": "v2"}))
    with rec.activate():
        assert at.prompt("summarizer") == "summarize (v2)"
        with at.tool("x"):
            pass
    trace = rec.finish()
    assert trace.versions["prompt:summarizer"].startswith("summarizer@v2#")
    assert trace.spans[0].versions == trace.versions


def test_explicit_label_beats_override(registry: PromptRegistry) -> None:
    rec = Recorder("t", versions=VersionContext(prompts=registry, overrides={"summarizer": "v2"}))
    assert rec.prompt("summarizer", "v9") == "summarize (v9)"


def test_config_is_stamped_by_content() -> None:
    rec = Recorder("t", versions=VersionContext())
    with rec.activate():
        cfg = at.config("tools", {"b": 1, "a": [1, 2]})
    assert cfg == {"b": 1, "a": [1, 2]}
    stamp = rec.finish().versions["config:tools"]
    assert stamp == f"tools#{content_hash({'a': [1, 2], 'b': 1})}"


def test_config_registry_override(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "v1.yaml").write_text("retries: 1\n")
    (tmp_path / "team" / "v2.json").write_text('{"retries": 5}')
    ctx = VersionContext(configs=ConfigRegistry(tmp_path), overrides={"team": "v1"})
    rec = Recorder("t", versions=ctx)
    assert rec.config("team", {"retries": 3}) == {"retries": 1}
    ctx.overrides.clear()
    assert rec.config("team") == {"retries": 5}
    assert rec.stamps["config:team"].startswith("team@v2#")


def test_override_of_an_inline_config_keeps_the_mapping_and_stamps_the_label(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()  # the registry holds another config, not "tools"
    (tmp_path / "team" / "v1.yaml").write_text("retries: 1\n")
    ctx = VersionContext(configs=ConfigRegistry(tmp_path), overrides={"tools": "b", "team": "v1"})
    rec = Recorder("t", versions=ctx)
    assert rec.config("tools", {"k": 5}) == {"k": 5}
    assert rec.stamps["config:tools"] == f"tools@b#{content_hash({'k': 5})}"
    assert rec.config("team", {"retries": 3}) == {"retries": 1}  # a registry config is still replaced
    ctx.overrides.clear()
    rec.config("tools", {"k": 5})
    assert rec.stamps["config:tools"] == f"tools#{content_hash({'k': 5})}"


INLINE_CONFIG_TEST = """
import os
import pytest_agenttrace as at

VARIANTS = {"a": {"k": 5}, "b": {"k": 6}}

def test_cfg(agenttrace):
    pins = dict(x.split("=") for x in os.environ.get("AGENTTRACE_VERSIONS", "").split(",") if x)
    cfg = at.config("team", VARIANTS[pins.get("team", "a")])
    assert cfg == VARIANTS[pins.get("team", "a")]
    print("STAMP", agenttrace.stamps["config:team"])
"""


@pytest.mark.parametrize("how", ["option", "env"])
def test_a_pinned_inline_config_runs_the_mapping_the_test_chose(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    pytester.makepyfile(test_cfg=INLINE_CONFIG_TEST)
    monkeypatch.setenv("AGENTTRACE_VERSIONS", "team=b")
    args = ["-s", "-p", "no:randomly"] + (["--agenttrace-version", "team=b"] if how == "option" else [])
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*STAMP team@b#{content_hash({'k': 6})}"])


def test_config_registry_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "v1.yaml").write_text("a: 1\nb: [unclosed\n")
    with pytest.raises(at.VersionError) as info:
        ConfigRegistry(tmp_path).load("team")
    assert info.value.path and info.value.path.endswith("v1.yaml") and info.value.line is not None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a=v1"], {"a": "v1"}),
        (["a=v1,b=v2", "c=x"], {"a": "v1", "b": "v2", "c": "x"}),
        (["a=v1", "a=v2"], {"a": "v2"}),
        ([""], {}),
    ],
)
def test_parse_overrides(values: list[str], expected: dict[str, str]) -> None:
    assert parse_overrides(values) == expected


@pytest.mark.parametrize("bad", ["a", "=v1", "a=", "a=v1,b"])
def test_parse_overrides_rejects_malformed(bad: str) -> None:
    with pytest.raises(at.InputError, match="NAME=LABEL"):
        parse_overrides([bad])


def test_natural_key_orders_mixed_labels() -> None:
    labels = ["v10", "v2", "v1-rc1", "v1", "beta", "v1.10", "v1.9"]
    assert sorted(labels, key=natural_key) == ["beta", "v1", "v1-rc1", "v1.9", "v1.10", "v2", "v10"]


def test_importing_the_package_does_not_import_pytest() -> None:
    """Agent code that records imports pytest_agenttrace; pytest (~0.1 s) is the plugin's to import."""
    root = Path(at.__file__).resolve().parent.parent
    code = "import sys, pytest_agenttrace; print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest')))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root)
    assert result.stdout.strip() == "[]"


def test_item_overrides_is_one_stash_key_made_at_first_use() -> None:
    from pytest_agenttrace import matrix, plugin, versions

    assert isinstance(versions.ITEM_OVERRIDES, pytest.StashKey)
    assert matrix.ITEM_OVERRIDES is plugin.ITEM_OVERRIDES is versions.ITEM_OVERRIDES
    with pytest.raises(AttributeError, match="no attribute 'NOPE'"):
        versions.NOPE  # noqa: B018


@pytest.mark.parametrize("name", ["../outside", "summarizer/../../outside", "..", ".", "", ".hidden", "a\\b"])
def test_a_prompt_name_cannot_reach_out_of_the_registry(tmp_path: Path, name: str) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "v1.txt").write_text("not a prompt of the registry")
    (tmp_path / "prompts").mkdir()
    registry = PromptRegistry(tmp_path / "prompts")
    with pytest.raises(at.VersionError, match="is not a prompt name"):
        registry.resolve(name)
    assert not registry.holds(name)


def test_an_inline_config_whose_name_is_no_folder_keeps_its_mapping(tmp_path: Path) -> None:
    rec = Recorder("t", versions=VersionContext(configs=ConfigRegistry(tmp_path), overrides={"llm/params": "b"}))
    assert rec.config("llm/params", {"t": 1}) == {"t": 1}
    assert rec.stamps["config:llm/params"] == f"llm/params@b#{content_hash({'t': 1})}"


def test_a_prompt_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "summarizer").mkdir()
    (tmp_path / "summarizer" / "v1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(at.VersionError, match=r"v1\.txt: prompt summarizer@v1 is not UTF-8 text \(byte 3\)"):
        PromptRegistry(tmp_path).resolve("summarizer")


def test_config_registry_bad_json_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "llm").mkdir()
    (tmp_path / "llm" / "v1.json").write_text('{\n  "model": "x",\n}\n')
    with pytest.raises(at.VersionError) as info:
        ConfigRegistry(tmp_path).load("llm")
    assert (info.value.path, info.value.line) == (str(tmp_path / "llm" / "v1.json"), 3)
    assert "is not valid JSON" in str(info.value)
