"""Pinned names no registry holds: a near miss of a registry name is refused, an unused one is warned about."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_agenttrace import versions
from pytest_agenttrace.plugin import misspelling, unknown_label

FAST = (
    "-p no:hypothesispytest -p no:anyio -p no:langsmith_plugin -p no:pytest_agenttrace.adapters.plugin -p no:randomly"
)

USES_CODER_AND_TEAM = """
import pytest_agenttrace as at

def test_run(agenttrace):
    at.prompt("coder")
    at.config("team", {"size": 2})

def test_other(agenttrace):
    pass
"""


@pytest.fixture
def registry(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(f"[pytest]\naddopts = {FAST}\n")
    for label in ("v1", "v2"):
        folder = pytester.path / "prompts" / "coder"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{label}.txt").write_text(f"code like {label}\n", encoding="utf-8")
    pytester.makepyfile(test_pins=USES_CODER_AND_TEAM)
    return pytester


def test_a_pinned_name_close_to_a_registry_name_is_warned_about_at_once(
    registry: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A warning, not a usage error: an inline config may be called that (coders next to coder).
    result = registry.runpytest("--agenttrace-version", "codr=v1")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*PytestConfigWarning: pinned version codr=v1: no prompt or config registry holds 'codr'; "
         "did you mean 'coder' (prompt in *prompts)? Check --agenttrace-version and AGENTTRACE_VERSIONS*"]
    )  # fmt: skip
    monkeypatch.setenv("AGENTTRACE_VERSIONS", "Coder=v1")  # case counts: the registry's folder is 'coder'
    result = registry.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*pinned version Coder=v1: *did you mean 'coder'*"])


def _warnings_shown(project: pytest.Pytester) -> None:
    """The inner run shows warnings (this suite's own filterwarnings=error would make them errors)."""
    project.makeini(f"[pytest]\naddopts = {FAST}\nfilterwarnings =\n    default\n")


def test_a_matrix_name_close_to_a_registry_name_is_warned_about(registry: pytest.Pytester) -> None:
    _warnings_shown(registry)
    result = registry.runpytest("--agenttrace-matrix", "coderr=v1,v2")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["*--agenttrace-matrix coderr: no prompt or config registry holds 'coderr'; "
         "did you mean 'coder' (prompt in *prompts)? Check --agenttrace-matrix*"]
    )  # fmt: skip
    registry.makepyfile(
        test_pins="""
        import pytest

        @pytest.mark.agenttrace_versions(codr=["v1", "v2"])
        def test_marked(agenttrace):
            pass
        """
    )
    result = registry.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_marked: agenttrace_versions(codr=...): *did you mean 'coder'*"])


def test_an_inline_config_named_like_a_prompt_plus_a_suffix_runs_pinned(registry: pytest.Pytester) -> None:
    # The review's case: a matrix over an inline config 'coders' next to the prompt 'coder'.
    _warnings_shown(registry)
    registry.makepyfile(
        test_pins="""
        import pytest
        import pytest_agenttrace as at

        VARIANTS = {"fast": {"temperature": 0}, "slow": {"temperature": 1}}

        @pytest.mark.agenttrace_versions(coders=["fast", "slow"])
        def test_config(agenttrace, agenttrace_matrix):
            at.config("coders", VARIANTS[agenttrace_matrix["coders"]])
        """
    )
    result = registry.runpytest()
    result.assert_outcomes(passed=2)
    assert "never used" not in result.stdout.str()


def test_a_name_far_from_every_registry_name_may_be_an_inline_config(registry: pytest.Pytester) -> None:
    result = registry.runpytest("--agenttrace-version", "team=b", "--agenttrace-version", "coder=v1")
    result.assert_outcomes(passed=2)
    assert "never used" not in result.stdout.str()


@pytest.mark.parametrize("workers", [(), ("-n", "2")])
def test_a_pin_no_lookup_used_is_named_in_the_summary(registry: pytest.Pytester, workers: tuple[str, ...]) -> None:
    if workers:
        pytest.importorskip("xdist")
    result = registry.runpytest("--agenttrace-version", "tiem=b", *workers)
    result.assert_outcomes(passed=2)  # a warning, not a failure: it may be an inline config of tests not run
    result.stdout.fnmatch_lines(
        ["agenttrace: pinned name 'tiem' (tiem=b) was never used: no prompt or config registry holds it and "
         "no prompt() or config() call asked for it in this session; check its spelling (registry names: coder)."]
    )  # fmt: skip
    result = registry.runpytest("--agenttrace-matrix", "tiem=a,b", *workers)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["agenttrace: pinned name 'tiem' (tiem=a, tiem=b) was never used: *"])


def test_unknown_label_says_nothing_of_a_name_unlike_any_registry_name(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    (prompts / "summarizer").mkdir(parents=True)
    (prompts / "summarizer" / "v1.txt").write_text("x")
    configs = tmp_path / "configs"
    assert unknown_label("tools", "a", prompts, configs, "here") is None
    assert misspelling("tools", prompts, configs, "here") is None
    assert unknown_label("sumarizer", "v1", prompts, configs, "here") is None  # may be an inline config
    hint = misspelling("sumarizer", prompts, configs, "here")
    assert hint is not None and "did you mean 'summarizer'" in hint
    assert misspelling("summarizer", prompts, configs, "here") is None  # held: not a misspelling


def test_a_pin_used_by_a_lookup_outside_the_tests_recording_is_not_called_unused(
    registry: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The review's case: a session fixture configures the team through the default context.
    monkeypatch.setattr(versions, "_default_context", None)  # restored after the test: no pins leak on
    registry.makeconftest(
        """
        import pytest
        import pytest_agenttrace as at

        VARIANTS = {"a": {"size": 1}, "b": {"size": 2}}

        @pytest.fixture(scope="session", autouse=True)
        def team():
            return at.config("crew", VARIANTS["b"])
        """
    )
    registry.makepyfile(test_pins="def test_run(agenttrace):\n    pass\n")
    monkeypatch.setenv("AGENTTRACE_VERSIONS", "crew=b")
    result = registry.runpytest()
    result.assert_outcomes(passed=1)
    assert "never used" not in result.stdout.str()
    registry.makeconftest("")
    # A fresh process's default context (this in-process run would otherwise keep the last one's lookups).
    monkeypatch.setattr(versions, "_default_context", None)
    result = registry.runpytest()  # nothing asks for it now: named
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["agenttrace: pinned name 'crew' (crew=b) was never used: *"])
