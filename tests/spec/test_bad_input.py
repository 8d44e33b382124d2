"""Hostile spec files and traces: exit 2 with one line naming the place, never a traceback.

Two property tests feed the loader mutated valid specs (text mutations of the shipped packs
and of the design's example) and random spec-shaped documents; the only exceptions allowed
are the project's own.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_agenttrace.cli import main
from pytest_agenttrace.exceptions import AgentTraceError, SpecError
from pytest_agenttrace.spec import loader
from pytest_agenttrace.spec.engine import check_trace
from pytest_agenttrace.spec.rules import RULE_KINDS
from pytest_agenttrace.store import save_trace

from .spec_helpers import make_trace, node, pipeline_trace
from .test_loader import VALID

BIG = "9" * 5000


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    return save_trace(pipeline_trace(), tmp_path / "run.json")


@pytest.mark.parametrize(
    ("spec", "where", "fragment"),
    [
        pytest.param(f"rules:\n  - id: a\n    expect: {{select: llm, count: {{max: {BIG}}}}}\n", "3:40", "5000 digits"),
        pytest.param(f"rules:\n  - id: a\n    forbid: 'llm[x={BIG}]'\n", "3:20", "5000 digits"),
        pytest.param(
            f"rules:\n  - id: a\n    expect: {{select: llm, all: ['attributes.x < {BIG}']}}\n", "3:49", "digits"
        ),
        pytest.param(
            f"rules:\n  - id: a\n    expect: {{select: llm, all: ['duration < {BIG}s']}}\n", "3:45", "too large"
        ),
        pytest.param("rules: [1, 2]\n", "1:9", "must be a mapping with an `id` and one rule key"),
    ],
    ids=["count", "selector", "expression", "duration", "rules-not-mappings"],
)
def test_check_with_a_spec_python_cannot_read_exits_2_with_one_line(
    tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str], spec: str, where: str, fragment: str
) -> None:
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(spec, encoding="utf-8")
    assert main(["check", str(trace_file), "--spec", str(spec_file)]) == 2
    err = capsys.readouterr().err
    assert f"{spec_file}:{where}: " in err and fragment in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and len(err) < 600


def test_check_of_a_trace_with_a_value_nested_900_levels_reports_the_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = json.loads('{"a":' * 900 + "1" + "}" * 900)
    trace_file = save_trace(make_trace(node("agent", "a", x=nested)), tmp_path / "deep.json")
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text("rules:\n  - id: r\n    expect: {select: agent, all: ['attributes.x.a.a.a == 1']}\n")
    assert main(["check", str(trace_file), "--spec", str(spec_file)]) == 1
    out = capsys.readouterr().out
    assert "attributes.x.a.a.a is {a: {a: {a:" in out


# -- properties -------------------------------------------------------------------------------------------------

_PACKS = [
    p.read_text(encoding="utf-8")
    for p in resources.files("pytest_agenttrace").joinpath("packs").iterdir()
    if p.name.endswith(".yaml")
]
_PIECES = [
    *("{", "}", "[", "]", '"', "'", ":", ",", " ", "  ", "\n", "- ", "\t", "#", "? ", "---", "|", ">"),
    *("null", "true", "1", BIG, "-1e999", ".inf", ".nan", "~", "0x", "1_000", "2020-02-30", "\\"),
    *("&a", "*a", "<<: *a", "!!python/object:x", "!!binary", "%YAML 1.1", "\x00", "\u2028", "\ufeff", "\x1b"),
    *("[[[[[[", "llm[x=", "duration < ", " and ", "not ", ":has(", ":not(", 'matches "', "~=", "((("),
    *("id: ", "rules:", "extends: [", "with: {", "detect: ", "count: {max: "),
]


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from([VALID, *_PACKS]))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "insert", "delete", "duplicate"]))
        if action == "insert":
            text = text[:at] + draw(st.sampled_from(_PIECES)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 15)) :]
        else:
            lines = text.split("\n")
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(lines)))
            text = "\n".join(lines)
    return text


def _assert_only_own_errors(text: str) -> None:
    try:
        problems, spec = loader._analyse(text, "x.yaml", None, ())
    except AgentTraceError:
        return
    for problem in problems:
        assert isinstance(problem, SpecError)
        assert "\n" not in str(problem) and len(str(problem)) < 1500, str(problem)[:300]
    if spec is not None:
        try:
            check_trace(pipeline_trace(), spec)
        except AgentTraceError:
            pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_specs())
def test_property_a_mutated_spec_loads_or_raises_only_spec_errors(text: str) -> None:
    _assert_only_own_errors(text)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        ["llm", "tool[name=x]", "duration < 30s", "agent > tool:first", "x", "", " ", "*", "failure-modes"]
    ),
)
_KEYS = st.sampled_from(
    [
        *RULE_KINDS,
        *("id", "description", "when", "with", "to", "from", "requires", "required", "tool", "only_agents"),
        *("agent", "allow_tools", "first", "then", "select", "mode", "steps", "count", "min", "max", "exactly"),
        *("all", "any", "none", "keys", "max_repeats", "min_confidence", "bogus", "spec", "extends", "disable"),
        *("rules", "retry_storm", "context_collapse", "exact"),
    ]
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)


@st.composite
def spec_documents(draw: st.DrawFn) -> Any:
    rules = draw(st.lists(st.dictionaries(_KEYS, _VALUES, max_size=4), max_size=3))
    document: dict[str, Any] = draw(st.dictionaries(st.sampled_from(["spec", "description", "disable"]), _VALUES))
    document["rules"] = rules
    if draw(st.booleans()):
        document["extends"] = draw(st.lists(st.sampled_from(["failure-modes", "nope", "memory-safety"]), max_size=2))
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_documents())
def test_property_a_random_spec_document_loads_or_raises_only_spec_errors(document: Any) -> None:
    _assert_only_own_errors(yaml.safe_dump(document, sort_keys=False))
