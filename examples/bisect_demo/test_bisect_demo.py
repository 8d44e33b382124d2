"""The bisect demo: find the prompt version that broke the triage agent's billing handoff.

Two ways to run the same search:

* in-process, with the search functions and a small ``evaluate(index)`` that
  runs the agent on one prompt version and checks its trace against the
  spec (fast; this is what a custom bisect loop looks like);
* through the command line, which runs ``checks_triage.py`` under pytest once
  per candidate (``@pytest.mark.slow``: every run is a fresh pytest process).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from bisect_demo.triage import TICKET, FakeModel, run_triage
from pytest_agenttrace import Recorder
from pytest_agenttrace.bisect_search import BAD, GOOD, Outcome, bayesian_search, binary_search
from pytest_agenttrace.cli import main
from pytest_agenttrace.spec.engine import check_trace
from pytest_agenttrace.versions import PromptRegistry, VersionContext

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
REGISTRY = PromptRegistry(HERE / "prompts")
LABELS = REGISTRY.labels("triage")
SPEC = HERE / "triage.yaml"
FAST = ["-p", "no:hypothesispytest", "-p", "no:langsmith_plugin", "-p", "no:xdist", "-q"]


def test_the_registry_has_twelve_versions_in_natural_order() -> None:
    assert [f"v{n}" for n in range(1, 13)] == LABELS


def evaluator(model: Callable[[int], FakeModel], calls: list[str]) -> Callable[[int], Outcome]:
    """Run the agent on prompt version ``index`` and judge its trace with the spec."""

    def evaluate(index: int) -> Outcome:
        label = LABELS[index]
        calls.append(label)
        recorder = Recorder(f"triage@{label}", versions=VersionContext(prompts=REGISTRY, overrides={"triage": label}))
        with recorder.activate():
            run_triage(TICKET, recorder.prompt("triage"), model(len(calls)))
        return GOOD if check_trace(recorder.finish(), SPEC).passed else BAD

    return evaluate


def test_deterministic_agent_bisects_to_v7_in_six_runs() -> None:
    calls: list[str] = []
    result = binary_search(len(LABELS), evaluator(lambda run: FakeModel(), calls))
    assert result.first_bad is not None and LABELS[result.first_bad] == "v7"
    assert LABELS[result.last_good or 0] == "v6"
    assert calls[:2] == ["v1", "v12"]  # the two endpoint checks
    assert len(calls) <= 6


def test_flaky_agent_one_run_per_step_can_be_fooled_but_the_bayesian_search_is_not() -> None:
    # The flaky model forgets the tier 10% of the time on good prompts and keeps it 20% of the time on bad ones.
    def flaky(seed: int) -> Callable[[int], FakeModel]:
        rng = random.Random(seed)
        return lambda run: FakeModel(seed=rng.randrange(2**32))

    wrong_plain = 0
    for seed in range(20):
        plain = binary_search(len(LABELS), evaluator(flaky(seed), []))
        wrong_plain += plain.first_bad is None or LABELS[plain.first_bad] != "v7"
        calls: list[str] = []
        result = bayesian_search(len(LABELS), evaluator(flaky(seed), calls), confidence=0.95)
        assert result.first_bad is not None and LABELS[result.first_bad] == "v7", (seed, calls)
        assert result.confidence is not None and result.confidence >= 0.95
    assert wrong_plain >= 3  # plain bisection picks a wrong version or gives up on a good share of seeds


@pytest.mark.slow
def test_command_line_bisect_deterministic(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    code = main(
        [
            "bisect", "triage", "--registry", str(HERE / "prompts"), "--good", "v1", "--bad", "v12", "--no-cache",
            "--format", "json", "--",
            "examples/bisect_demo/checks_triage.py", "-k", "not flaky", *FAST,
        ]
    )  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (doc["first_bad"], doc["last_good"]) == ("v7", "v6")
    assert doc["total_runs"] <= 6
    assert any("context.customer_tier" in line for line in doc["diff"])


@pytest.mark.slow
def test_command_line_bisect_flaky(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    code = main(
        [
            "bisect", "triage", "--registry", str(HERE / "prompts"), "--no-cache", "--confidence", "0.9",
            "--format", "json", "--",
            "examples/bisect_demo/checks_triage.py", "-k", "flaky", *FAST,
        ]
    )  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc["reason"]
    assert doc["first_bad"] == "v7"
    assert doc["confidence"] >= 0.9
    assert len({r["seed"] for r in doc["runs"]}) == len(doc["runs"])  # every run sampled the model anew
