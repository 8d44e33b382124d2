"""Loading specs: YAML positions, schema errors with suggestions, packs and extends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace.exceptions import InputError, SpecError
from pytest_agenttrace.spec import Spec, _yaml, available_packs, lint_spec, load_spec, loader, parse_spec, spec_schema
from pytest_agenttrace.spec.detectors import DETECTORS
from pytest_agenttrace.spec.rules import (
    DetectRule,
    ExpectRule,
    ForbidRule,
    HandoffRule,
    OrderRule,
    ScopeRule,
    SequenceRule,
)

VALID = """\
spec: refactor-pipeline
description: the design's example
extends: [failure-modes]
rules:
  - id: tester-gets-confidence
    handoff: {to: tester, requires: [diff_summary, confidence]}
  - id: search-stays-with-researcher
    scope: {tool: web_search, only_agents: [researcher]}
  - id: coder-tools
    scope: {agent: coder, allow_tools: [read_file, edit_file, run_tests]}
  - id: no-customer-db-under-external
    forbid: "delegation[to_agent=external] tool[name=read_customer_db]"
  - id: tests-before-report
    order: {first: "tool[name=run_tests]", then: "llm[agent=reporter]"}
  - id: coder-trajectory
    sequence: {select: "agent[name=coder] > tool", mode: in_order, steps: [read_file, edit_file, run_tests]}
  - id: llm-budget
    when: llm
    expect: {select: "llm", count: {max: 20}, all: ["duration < 30s", "attributes.usage.input_tokens < 100000"]}
  - id: retry_storm
    detect: retry_storm
    with: {max_repeats: 5}
"""


def test_valid_spec_builds_every_rule_kind() -> None:
    spec = parse_spec(VALID, path="pipeline.yaml")
    assert spec.name == "refactor-pipeline"
    assert spec.description == "the design's example"
    kinds = {type(spec.rule(i)) for i in spec.ids}
    assert {HandoffRule, ScopeRule, ForbidRule, OrderRule, SequenceRule, ExpectRule, DetectRule} <= kinds
    # The pack's ten detector rules come first; the file's retry_storm replaces the pack's in place.
    assert spec.ids[:10] == list(DETECTORS)
    assert len(spec) == 10 + 7
    storm = spec.rule("retry_storm")
    assert isinstance(storm, DetectRule) and dict(storm.params) == {"max_repeats": 5}
    assert storm.source == "pipeline.yaml:20"
    assert spec.rule("llm-budget").when is not None
    assert spec.rule("coder-trajectory").to_dict()["sequence"]["mode"] == "in_order"


def test_the_c_loader_is_used_when_present() -> None:
    from pytest_agenttrace.spec import _yaml

    assert _yaml.LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_the_pure_python_loader_gives_the_same_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_agenttrace.spec import _yaml

    monkeypatch.setattr(_yaml, "LOADER", yaml.SafeLoader)
    with pytest.raises(SpecError) as info:
        parse_spec("rules:\n  - id: a\n    forbidd: tool\n")
    assert (info.value.line, info.value.column) == (3, 5)


# -- errors: file:line:column, the key and what to write instead --------------------------

ERRORS = [
    # (yaml, line, column, fragments of the message)
    ("rules:\n  - id: a\n    forbidd: tool\n", 3, 5, ["unknown key 'forbidd'", "did you mean 'forbid'?"]),
    ("rulez:\n  - id: a\n    forbid: tool\n", 1, 1, ["unknown key 'rulez'", "did you mean 'rules'?"]),
    ("rules:\n  - id: a\n    forbid: tool\n    whne: llm\n", 4, 5, ["'whne'", "did you mean 'when'?"]),
    ("rules:\n  - id: a\n    handoff: {to: x, requires: [k], requried: true}\n", 3, 37, ["'requried'", "'required'"]),
    ("rules:\n  - id: a\n    expect: {select: llm, count: {maximum: 3}}\n", 3, 35, ["'maximum'", "'max'"]),
    (
        "rules:\n  - id: a\n    detect: retry_storm\n    with: {max_repeat: 3}\n",
        4,
        12,
        ["'max_repeat'", "'max_repeats'"],
    ),
    ("rules:\n  - id: a\n    detect: retry_strom\n", 3, 13, ["unknown detector 'retry_strom'", "'retry_storm'"]),
    (
        "rules:\n  - id: a\n    detect: retry_storm\n    with: {max_repeats: many}\n",
        4,
        25,
        ["max_repeats", "whole number"],
    ),
    ("rules:\n  - id: a\n", 2, 5, ["no rule kind", "handoff, scope, forbid"]),
    ("rules:\n  - id: a\n    forbid: tool\n    detect: deadlock\n", 2, 5, ["several rule kinds (forbid, detect)"]),
    ("rules:\n  - forbid: tool\n", 2, 5, ["missing key 'id'", "id: a-unique-name"]),
    ("rules:\n  - id: a\n    forbid: tool\n  - id: a\n    forbid: llm\n", 4, 9, ["'a' is used twice", "line 2"]),
    ("rules:\n  - id: a\n    forbid: tool\n    forbid: llm\n", 4, 5, ["duplicate key 'forbid'"]),
    ("rules:\n  - id: a\n    handoff: {to: tester, requires: diff}\n", 3, 37, ["must be a list", "[diff]"]),
    ("rules:\n  - id: a\n    sequence: {select: tool, mode: inorder, steps: [a]}\n", 3, 36, ["'in_order'"]),
    (
        "rules:\n  - id: a\n    scope: {tool: x, allow_tools: [y]}\n",
        3,
        12,
        ["{tool, only_agents}", "{agent, allow_tools}"],
    ),
    ("rules:\n  - id: a\n    forbid: tool\n    with: {x: 1}\n", 4, 5, ["`with:` only goes with `detect:`"]),
    ("rules:\n  - id: a\n    expect: {select: llm}\n", 3, 13, ["at least one of count, all, any, none"]),
    ("rules:\n  - id: a\n    expect: {select: llm, count: {max: -1}}\n", 3, 40, ["at least 0"]),
    # JSON Schema's "integer" takes 0.0; a count bound or detector parameter is an integer as written.
    ("rules:\n  - id: a\n    expect: {select: llm, count: {max: 0.0}}\n", 3, 40, ["whole number", "write 0, not 0.0"]),
    ("rules:\n  - id: a\n    expect: {select: llm, count: {exactly: 3.0}}\n", 3, 44, ["whole number", "write 3,"]),
    ("rules:\n  - id: a\n    expect: {select: llm, count: {min: 1.5}}\n", 3, 40, ["whole number", "float 1.5"]),
    (
        "rules:\n  - id: a\n    detect: retry_storm\n    with: {max_repeats: 3.0}\n",
        4,
        25,
        ["with.max_repeats must be a whole number", "write 3, not 3.0"],
    ),
    ("rules:\n  - id: a\n    detect: tool_loop\n    with: {max_period: 2.5}\n", 4, 24, ["max_period", "whole number"]),
    ("rules:\n  - id: my rule\n    forbid: tool\n", 2, 9, ["must not contain spaces"]),
    ('rules:\n  - id: ""\n    forbid: tool\n', 2, 9, ["rule id must not be empty"]),
    ("extends: failure-modes\n", 1, 10, ["must be a list", "[failure-modes]"]),
    ("extends: [failure-mode]\n", 1, 11, ["'failure-mode'", "did you mean 'failure-modes'?"]),
    ("extends: [failure-modes]\ndisable: [lost_updates]\n", 2, 11, ["'lost_updates'", "'lost_update'"]),
    ("spec: x\n", 1, 1, ["`rules:`", "`extends:`"]),
    ("- a\n", 1, 1, ["a mapping with `rules:`"]),
    ("", 1, 1, ["empty"]),
    ("rules:\n  - id: a\n   forbid: [tool\n", 3, 4, ["invalid YAML"]),
    ("rules:\n\t- id: a\n", 2, 1, ["invalid YAML", "tabs"]),
    (
        "rules:\n  - id: b\n    scope: {tool: x, only_agents: [a, b\n  - id: c\n    forbid: llm\n",
        4,
        7,
        ["invalid YAML", "expected ',' or ']'", "began at line 3, column 35"],
    ),
    ("rules: [{id: a, forbid: {x: 1}}]\n", 1, 25, ["must be a string", "got a mapping"]),
    # Selector and expression errors point at the offending character inside the value.
    ("rules:\n  - id: a\n    forbid: tool[name=\n", 3, 23, ["bad selector in `forbid`", "tool[name="]),
    ('rules:\n  - id: a\n    forbid: "tool[name=x] >"\n', 3, 28, ["bad selector in `forbid`"]),
    # An escape makes the value shorter than its source: point at the value, not at a drifted column.
    ('rules:\n  - id: a\n    forbid: "tool[name=\\u00e9\\u00e9\\u00e9] tol"\n', 3, 13, ["unknown span kind 'tol'"]),
    ("rules:\n  - {id: a, forbid: 'tool[name=''x''] tol'}\n", 2, 21, ["unknown span kind 'tol'"]),
    ('rules:\n  - id: a\n    forbid: "tool[name=x] tol"\n', 3, 27, ["unknown span kind 'tol'"]),
    ("rules:\n  - id: a\n    when: 'llm[['\n    forbid: tool\n", 3, 16, ["bad selector in `when`"]),
    ("rules:\n  - id: a\n    order: {first: tool, then: 'llm:frist'}\n", None, None, ["bad selector in `order.then`"]),
    (
        'rules:\n  - id: a\n    expect: {select: llm, all: ["duration < 30 parsecs"]}\n',
        3,
        48,
        ["bad expression in `expect.all`", "parsecs"],
    ),
    (
        "rules:\n  - id: a\n    expect:\n      select: llm\n      none:\n        - 'name in ['\n",
        6,
        None,
        ["`expect.none`"],
    ),
]


@pytest.mark.parametrize(("text", "line", "column", "fragments"), ERRORS)
def test_spec_errors_name_position_key_and_fix(
    text: str, line: int | None, column: int | None, fragments: list[str]
) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, path="specs/x.yaml")
    error = info.value
    assert isinstance(error, InputError)
    assert error.path == "specs/x.yaml"
    if line is not None:
        assert error.line == line, str(error)
    if column is not None:
        assert error.column == column, str(error)
    for fragment in fragments:
        assert fragment in error.message, str(error)
    assert str(error).startswith(f"specs/x.yaml:{error.line}")
    assert "Traceback" not in str(error)


def test_several_problems_are_all_listed_by_lint(write_spec: Callable[..., Path]) -> None:
    path = write_spec(
        """
        rules:
          - id: a
            forbidd: tool
          - id: b
            detect: dedlock
          - id: c
            forbid: "tool[name="
        """
    )
    problems = lint_spec(path)
    assert [(p.line, p.column) for p in problems] == [(3, 5), (5, 13), (7, 24)]
    assert "'deadlock'" in problems[1].message
    with pytest.raises(SpecError, match=r"and 2 more problems; `agenttrace lint` lists them all"):
        load_spec(path)


def test_lint_of_a_valid_spec_is_empty(write_spec: Callable[..., Path]) -> None:
    assert lint_spec(write_spec(VALID)) == []


def test_lint_of_a_missing_file_is_one_problem(tmp_path: Path) -> None:
    [problem] = lint_spec(tmp_path / "nope.yaml")
    assert "not found" in problem.message


@pytest.mark.parametrize(
    "key",
    ["handoff", "scope", "forbid", "order", "sequence", "expect", "detect", "description", "when"],
)
def test_a_misspelt_rule_key_suggests_the_key(key: str) -> None:
    typo = key[:-1] + key[-1] * 2  # "forbid" -> "forbidd"
    text = f"rules:\n  - id: a\n    {typo}: x\n    forbid: tool\n"
    if key == "forbid":
        text = f"rules:\n  - id: a\n    {typo}: tool\n"
    with pytest.raises(SpecError, match=f"did you mean '{key}'"):
        parse_spec(text)


@given(st.sampled_from(sorted(DETECTORS)), st.data())
def test_property_a_detector_name_with_one_typo_suggests_the_detector(name: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=1, max_value=len(name) - 1))
    typo = name[:position] + name[position + 1 :]  # drop one letter
    if typo in DETECTORS:
        return
    with pytest.raises(SpecError) as info:
        parse_spec(f"rules:\n  - id: a\n    detect: {typo}\n")
    assert "unknown detector" in info.value.message
    assert f"did you mean {name!r}" in info.value.message


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]")
    lines.append("rules: [*a7]")
    with pytest.raises(SpecError, match="too many YAML nodes"):
        parse_spec("\n".join(lines) + "\n")


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(SpecError, match=r"refers to itself|invalid YAML"):
        parse_spec("rules: &r [*r]\n")


def test_yaml_tags_cannot_run_code() -> None:
    with pytest.raises(SpecError, match="invalid YAML"):
        parse_spec("rules: !!python/object/apply:os.system ['echo hacked']\n")


def test_merge_keys_work() -> None:
    spec = parse_spec("rules:\n  - &base {id: a, forbid: tool, description: shared}\n  - <<: *base\n    id: b\n")
    assert spec.ids == ["a", "b"]
    assert spec.rule("b").description == "shared"


# -- packs and extends ---------------------------------------------------------------------


def test_shipped_packs() -> None:
    assert {"failure-modes", "delegation-hygiene", "memory-safety"} <= set(available_packs())


def test_failure_modes_pack_has_one_default_rule_per_detector() -> None:
    spec = load_spec(loader.pack_path("failure-modes"))
    assert spec.ids == list(DETECTORS)
    for rule in spec.rules:
        assert isinstance(rule, DetectRule)
        assert rule.detector == rule.id
        assert dict(rule.params) == {}
        assert rule.description


@pytest.mark.parametrize("pack", ["failure-modes", "delegation-hygiene", "memory-safety"])
def test_every_pack_is_valid_against_the_json_schema(pack: str) -> None:
    data = yaml.safe_load(loader.pack_path(pack).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(spec_schema()).validate(data)
    assert lint_spec(loader.pack_path(pack)) == []


def test_shared_detector_rules_of_two_packs_are_not_doubled() -> None:
    spec = parse_spec("extends: [failure-modes, delegation-hygiene, memory-safety]\n")
    assert len(spec.ids) == len(set(spec.ids))
    assert spec.ids.count("out_of_scope_tool") == 1


def test_extends_a_relative_file_and_overrides_by_id(write_spec: Callable[..., Path]) -> None:
    write_spec(
        """
        extends: [failure-modes]
        rules:
          - id: base-rule
            forbid: "tool[name=rm]"
          - id: shared
            forbid: llm
        """,
        "team/base.yaml",
    )
    child = write_spec(
        """
        extends: [base]
        disable: [deadlock, base-rule]
        rules:
          - id: shared
            forbid: tool
        """,
        "team/child.yaml",
    )
    spec = load_spec(child)
    assert "deadlock" not in spec.ids and "base-rule" not in spec.ids
    assert isinstance(spec.rule("shared"), ForbidRule)
    assert spec.rule("shared").body == "tool"
    assert spec.ids.index("shared") == len(spec.ids) - 1


def test_extends_by_path_with_suffix(write_spec: Callable[..., Path]) -> None:
    write_spec("rules: [{id: a, forbid: tool}]\n", "common/a.yaml")
    child = write_spec("extends: [../common/a.yaml]\nrules: [{id: b, forbid: llm}]\n", "specs/child.yaml")
    assert load_spec(child).ids == ["a", "b"]


def test_extends_cycle_is_an_error(write_spec: Callable[..., Path]) -> None:
    write_spec("extends: [b]\nrules: [{id: a, forbid: tool}]\n", "a.yaml")
    b = write_spec("extends: [a]\nrules: [{id: b, forbid: tool}]\n", "b.yaml")
    with pytest.raises(SpecError, match="cycle"):
        load_spec(b)


def test_an_error_in_an_extended_file_is_reported_at_the_extends_entry(write_spec: Callable[..., Path]) -> None:
    write_spec("rules: [{id: a, forbidd: tool}]\n", "broken.yaml")
    child = write_spec("extends: [broken]\nrules: [{id: b, forbid: llm}]\n", "child.yaml")
    with pytest.raises(SpecError) as info:
        load_spec(child)
    assert (info.value.line, info.value.column) == (1, 11)
    assert "broken.yaml:1" in info.value.message and "'forbidd'" in info.value.message


# -- load_spec sources ------------------------------------------------------------------------


def test_load_several_files_later_wins(write_spec: Callable[..., Path]) -> None:
    a = write_spec("rules: [{id: x, forbid: tool}, {id: y, forbid: llm}]\n", "a.yaml")
    b = write_spec("rules: [{id: x, forbid: agent}]\n", "b.yaml")
    spec = load_spec([a, b])
    assert spec.ids == ["x", "y"]
    assert spec.rule("x").body == "agent"
    assert spec.paths == (str(a), str(b))


def test_a_directory_stands_for_its_yaml_files(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    write_spec("rules: [{id: x, forbid: tool}]\n", "specs/1.yaml")
    write_spec("rules: [{id: y, forbid: llm}]\n", "specs/2.yml")
    (tmp_path / "specs" / "notes.txt").write_text("not a spec")
    assert load_spec(tmp_path / "specs").ids == ["x", "y"]


def test_relative_paths_use_base_dirs_first(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    write_spec("rules: [{id: near, forbid: tool}]\n", "tests/specs/x.yaml")
    write_spec("rules: [{id: root, forbid: tool}]\n", "specs/x.yaml")
    spec = load_spec("specs/x.yaml", base_dirs=[tmp_path / "tests", tmp_path])
    assert spec.ids == ["near"]
    assert load_spec("specs/x.yaml", base_dirs=[tmp_path / "nowhere", tmp_path]).ids == ["root"]


def test_inline_mapping_and_spec_objects() -> None:
    spec = load_spec({"rules": [{"id": "x", "forbid": "tool"}]})
    assert isinstance(spec, Spec) and spec.ids == ["x"]
    assert load_spec(spec) is spec
    with pytest.raises(SpecError, match="unknown key 'forbidd'"):
        load_spec({"rules": [{"id": "x", "forbidd": "tool"}]})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not found") as info:
        load_spec(tmp_path / "missing.yaml")
    assert info.value.path == str(tmp_path / "missing.yaml")


def test_files_are_cached_until_they_change(write_spec: Callable[..., Path]) -> None:
    path = write_spec("rules: [{id: x, forbid: tool}]\n")
    first = load_spec(path)
    assert load_spec(path) is first
    path.write_text("rules: [{id: y, forbid: tool}, {id: z, forbid: llm}]\n", encoding="utf-8")
    assert load_spec(path).ids == ["y", "z"]


# -- the schema --------------------------------------------------------------------------


def test_shipped_schema_is_valid_draft_2020_12() -> None:
    raw = json.loads((Path(loader.__file__).parent / "schema.json").read_text(encoding="utf-8"))
    assert raw["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(raw)
    jsonschema.Draft202012Validator.check_schema(spec_schema())


def test_schema_knows_every_detector_and_its_parameters() -> None:
    schema = spec_schema()
    rule = schema["$defs"]["rule"]
    assert rule["properties"]["detect"]["enum"] == sorted(DETECTORS)
    by_name = {entry["if"]["properties"]["detect"]["const"]: entry["then"] for entry in rule["allOf"]}
    assert set(by_name) == set(DETECTORS)
    storm = by_name["retry_storm"]["properties"]["with"]
    assert storm["additionalProperties"] is False and "max_repeats" in storm["properties"]


def test_spec_schema_returns_a_copy() -> None:
    spec_schema()["properties"].clear()
    assert "rules" in spec_schema()["properties"]


def test_a_change_in_an_extended_file_reloads_the_child(write_spec: Callable[..., Path]) -> None:
    base = write_spec("rules: [{id: x, forbid: tool}]\n", "base.yaml")
    child = write_spec("extends: [base]\nrules: [{id: y, forbid: llm}]\n", "child.yaml")
    assert load_spec(child).ids == ["x", "y"]
    base.write_text("rules: [{id: x2, forbid: tool}]\n", encoding="utf-8")
    assert load_spec(child).ids == ["x2", "y"]


@pytest.mark.parametrize(
    ("count", "column", "fragment"),
    [
        ("{min: 3, max: 1}", 41, "min 3 above max 1"),
        ("{min: 3, exactly: 1}", 53, "exactly 1 outside min/max (3..-)"),
        ("{max: 2, exactly: 5}", 53, "exactly 5 outside min/max (-..2)"),
    ],
)
def test_expect_count_bounds_no_trace_can_meet_are_rejected_at_load_time(
    count: str, column: int, fragment: str
) -> None:
    text = f"rules:\n  - id: c\n    expect: {{select: tool, count: {count}}}\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, path="x.yaml")
    assert (info.value.line, info.value.column) == (3, column), str(info.value)
    assert fragment in info.value.message and "rule 'c'" in info.value.message


def test_expect_count_bounds_that_can_be_met_load() -> None:
    spec = parse_spec("rules:\n  - id: c\n    expect: {select: tool, count: {min: 1, max: 1, exactly: 1}}\n")
    assert spec.rule("c").count_exactly == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("scope", "fragment"),
    [
        ("{tool: x}", "has `tool` but no `only_agents`; add `only_agents: [...]`"),
        ("{only_agents: [a]}", "has `only_agents` but no `tool`"),
        ("{agent: a}", "has `agent` but no `allow_tools`"),
        ("{tool: x, allow_tools: [y]}", "not a mix"),
        ("{tool: x, only_agents: a}", "scope.only_agents must be a list"),
    ],
)
def test_scope_errors_say_what_is_missing(scope: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(f"rules:\n  - id: s\n    scope: {scope}\n", path="x.yaml")
    assert fragment in info.value.message, str(info.value)
    assert info.value.line == 3


@pytest.mark.parametrize("depth", [70, 5000])
def test_deeply_nested_yaml_is_a_spec_error_not_a_recursion_error(depth: int) -> None:
    text = "spec: a\nrules:\n  - id: r\n    forbid: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, path="deep.yaml")
    assert "nested more than 64 levels" in info.value.message
    assert info.value.line == 4


def test_nesting_deep_enough_to_crash_the_c_composer_is_refused_before_composing(tmp_path: Path) -> None:
    # 50,000 levels overflowed the C stack (SIGSEGV) before the depth was checked; run it apart.
    spec = tmp_path / "deep.yaml"
    spec.write_text("rules:\n  - id: r\n    forbid: " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    code = "import sys; from pytest_agenttrace.cli import main; sys.exit(main(['lint', sys.argv[1]]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2, done.stderr[-500:]
    assert f"{spec}:3:75: the YAML is nested more than 64 levels deep here" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_deep_block_nesting_is_refused_at_the_first_level_too_deep() -> None:
    text = "rules:\n" + "".join(" " * i + "-\n" for i in range(3000))
    with pytest.raises(SpecError) as info:
        parse_spec(text, path="deep.yaml")
    assert "nested more than 64 levels" in info.value.message
    assert (info.value.line, info.value.column) == (66, 65)


_NESTED = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(_NESTED, st.sampled_from([None, True, False]), st.integers(1, 4))
def test_property_the_cheap_depth_bound_is_never_below_the_real_nesting(
    value: Any, flow: bool | None, indent: int
) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, indent=max(indent, 2), width=10_000)
    assert _yaml._depth_bound(text) >= _depth(value)
    compact = yaml.safe_dump(value, default_flow_style=False, indent=2).replace("-   ", "- ")
    try:
        nodes = yaml.compose(compact, Loader=_yaml.LOADER)
    except yaml.YAMLError:
        return
    assert _yaml._depth_bound(compact) >= _node_depth(nodes)


def _node_depth(node: Any) -> int:
    if isinstance(node, yaml.SequenceNode):
        return 1 + max(map(_node_depth, node.value), default=0)
    if isinstance(node, yaml.MappingNode):
        return 1 + max((_node_depth(v) for _, v in node.value), default=0)
    return 0


def test_a_spec_found_through_a_base_dir_is_named_without_dot_dots(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "specs" / "x.yaml").write_text("rules:\n  - id: a\n    forbid: tool\n", encoding="utf-8")
    spec = load_spec("../specs/x.yaml", base_dirs=[tmp_path / "tests"])
    assert spec.rules[0].source is not None
    assert ".." not in spec.rules[0].source and str(tmp_path / "specs" / "x.yaml") in spec.rules[0].source


def test_a_base_dir_behind_a_symbolic_link_still_finds_the_spec(tmp_path: Path) -> None:
    (tmp_path / "real" / "tests").mkdir(parents=True)
    (tmp_path / "real" / "specs").mkdir()
    (tmp_path / "real" / "specs" / "x.yaml").write_text("rules:\n  - id: a\n    forbid: tool\n", encoding="utf-8")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "tests").symlink_to(tmp_path / "real" / "tests")  # proj/tests/.. is real/, not proj/
    spec = load_spec("../specs/x.yaml", base_dirs=[tmp_path / "proj" / "tests"])
    assert [rule.id for rule in spec.rules] == ["a"]


# -- limits and messages ----------------------------------------------------------------------------------------

BIG = "9" * 5000


@pytest.mark.parametrize(
    ("text", "line", "column", "fragments"),
    [
        pytest.param(
            f"rules:\n  - id: a\n    expect: {{select: llm, count: {{max: {BIG}}}}}\n",
            3,
            40,
            ["has 5000 digits", "write a smaller number"],
            id="count-max",
        ),
        pytest.param(
            f"rules:\n  - id: a\n    forbid: 'llm[x={BIG}]'\n",
            3,
            20,
            ["bad selector in `forbid`", "has 5000 digits"],
            id="selector-value",
        ),
        pytest.param(
            f"rules:\n  - id: a\n    expect: {{select: llm, all: ['attributes.x < {BIG}']}}\n",
            3,
            49,
            ["bad expression in `expect.all`", "has 5000 digits"],
            id="expression-number",
        ),
        pytest.param(
            f"rules:\n  - id: a\n    expect: {{select: llm, all: ['duration < {BIG}s']}}\n",
            3,
            45,
            ["bad expression in `expect.all`", "is too large"],
            id="expression-duration",
        ),
        pytest.param(
            "rules:\n  - id: a\n    description: 2020-02-30\n    forbid: llm\n",
            3,
            18,
            ["invalid YAML value '2020-02-30'", "day is out of range", "quote it"],
            id="impossible-date",
        ),
        pytest.param(
            "rules:\n  - id: a\x01\n    forbid: llm\n",
            2,
            10,
            ["the character U+0001 is not allowed"],
            id="control-character",
        ),
        # An explicit tag on text it cannot read (PyYAML raises AttributeError, KeyError, IndexError).
        pytest.param(
            'rules:\n  - id: a\n    description: !!timestamp "soon"\n    forbid: llm\n',
            3,
            18,
            ["invalid YAML value 'soon'", "not a valid !!timestamp"],
            id="tag-timestamp",
        ),
        pytest.param(
            'rules:\n  - id: a\n    description: !!bool "maybe"\n    forbid: llm\n',
            3,
            18,
            ["invalid YAML value 'maybe'", "not a valid !!bool"],
            id="tag-bool",
        ),
        pytest.param(
            'rules:\n  - id: a\n    description: !!int ""\n    forbid: llm\n',
            3,
            18,
            ["invalid YAML value ''", "not a valid !!int"],
            id="tag-int-empty",
        ),
    ],
)
def test_values_python_cannot_read_are_spec_errors(text: str, line: int, column: int, fragments: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, path="x.yaml")
    error = info.value
    assert (error.line, error.column) == (line, column), str(error)
    for fragment in fragments:
        assert fragment in error.message, str(error)
    assert "\n" not in str(error) and len(str(error)) < 500


@pytest.mark.parametrize("rules", ["[1, 2]", "[[1]]", "[null]", "['forbid: llm']"])
def test_a_rule_that_is_not_a_mapping_lists_the_rule_keys(rules: str) -> None:
    problems = [p.message for p in _lint_text(f"rules: {rules}\n")]
    kinds = "(handoff, scope, forbid, order, sequence, expect, detect)"
    assert problems and all(f"must be a mapping with an `id` and one rule key {kinds}" in p for p in problems)
    assert len(problems) == rules.count(",") + 1  # one problem per rule, not one per schema branch


LEAKY = [
    "rules: [1, 2]\n",
    "rules:\n  - null\n",
    "rules:\n  - id: a\n    scope: 5\n",
    "rules:\n  - id: a\n    scope: [x]\n",
    "rules:\n  - id: a\n    scope: {tool: x, only_agents: [a], agent: b, allow_tools: [c]}\n",
    "rules:\n  - id: a\n    expect: 5\n",
    "rules:\n  - id: a\n    expect: {select: llm, bogus: 1}\n",
    "rules:\n  - id: a\n    detect: context_collapse\n    with: {keys: 5}\n",
    "rules:\n  - id: a\n    detect: context_collapse\n    with: {keys: [1, x]}\n",
    "rules:\n  - id: a\n    detect: context_collapse\n    with: {keys: {a: 1}}\n",
    "rules:\n  - id: a\n    forbid: llm\n    detect: deadlock\n    expect: {select: llm, count: {max: 1}}\n",
    "spec: x\n",
    "5\n",
]


@pytest.mark.parametrize("text", LEAKY)
def test_no_message_shows_json_schema_internals(text: str) -> None:
    problems = _lint_text(text)
    assert problems
    for problem in problems:
        for internal in ("valid under", "given schemas", "{'required'", "'type':", "is not of type"):
            assert internal not in problem.message, problem.message


def test_a_nullable_detector_parameter_says_what_it_takes() -> None:
    wrong_type, wrong_item = (
        _lint_text(f"rules:\n  - id: a\n    detect: context_collapse\n    with: {{keys: {keys}}}\n")
        for keys in ("5", "[x, 1]")
    )
    assert [p.message for p in wrong_type] == ["rule 'a': with.keys must be a list or null, got int 5"]
    assert [(p.message, p.column) for p in wrong_item] == [("rule 'a': with.keys[1] must be a string, got int 1", 22)]


def test_a_scope_that_is_not_a_mapping_is_one_problem_naming_both_forms() -> None:
    problems = _lint_text("rules:\n  - id: a\n    scope: 5\n")
    assert len(problems) == 1
    assert "{tool, only_agents}" in problems[0].message and "got int 5" in problems[0].message


def test_other_one_of_failures_are_told_by_the_closest_branch() -> None:
    from pytest_agenttrace.spec import _validation
    from pytest_agenttrace.spec._yaml import parse_yaml

    doc = parse_yaml("x: [1]\n", "x.yaml")
    schema = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    (error,) = jsonschema.Draft202012Validator(schema).iter_errors(doc.data["x"])
    error.path.appendleft("x")
    (problem,) = _validation._translate(doc, error, ("x",))
    assert problem.message == "x[0] must be a string, got int 1"
    both = {"oneOf": [{"type": "array"}, {"minItems": 1}]}
    (error,) = jsonschema.Draft202012Validator(both).iter_errors(doc.data["x"])
    error.path.appendleft("x")
    (problem,) = _validation._translate(doc, error, ("x",))
    assert "fits more than one of the forms" in problem.message


def test_extending_a_file_that_is_not_a_spec_quotes_a_short_excerpt(tmp_path: Path) -> None:
    secret = tmp_path / "notes.txt"
    secret.write_text("token=" + "s3cr3t" * 100 + "\nmore=lines\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        parse_spec(f"extends: ['{secret}']\n", path="x.yaml")
    message = str(info.value)
    assert "is a mapping with `rules:`, got the string 'token=" in message
    assert "s3cr3t" * 8 not in message and "more=lines" not in message
    assert len(message) < 300 + len(str(secret)) * 2


def test_extending_a_binary_or_control_character_file_prints_no_control_characters(tmp_path: Path) -> None:
    environ = tmp_path / "environ"
    environ.write_bytes(b"A=1\x00B=\x1b[2J2\x00")
    with pytest.raises(SpecError) as info:
        parse_spec(f"extends: ['{environ}']\n", path="x.yaml")
    message = str(info.value)
    assert "the character U+0000 is not allowed" in message
    assert message.isprintable()


def test_long_keys_and_ids_are_quoted_short() -> None:
    (unknown,) = _lint_text(f"rules:\n  - id: a\n    forbid: llm\n    {'k' * 500}: 1\n")
    assert "unknown key 'kkkkk" in unknown.message and len(unknown.message) < 200
    (spaced,) = _lint_text(f"rules:\n  - id: {'a ' * 300}\n    forbid: llm\n")
    assert "must not contain spaces" in spaced.message and len(spaced.message) < 300


def _lint_text(text: str) -> list[SpecError]:
    problems, _ = loader._analyse(text, "x.yaml", None, ())
    return problems


@pytest.mark.parametrize(
    "name", ["a" * 5000, "a/" * 3000, "x\x00y"], ids=["name-too-long", "path-too-long", "nul-character"]
)
def test_file_names_the_system_refuses_are_spec_errors(tmp_path: Path, name: str) -> None:
    with pytest.raises(SpecError, match="neither a shipped pack"):
        parse_spec(f"extends: [{json.dumps(name)}]\n", path="x.yaml", base_dir=tmp_path)
    with pytest.raises(SpecError) as info:
        load_spec(name, base_dirs=[tmp_path])
    assert "Traceback" not in str(info.value)
    problems = lint_spec(name)
    assert len(problems) == 1 and isinstance(problems[0], SpecError)


def test_an_inline_spec_python_cannot_write_out_is_a_spec_error() -> None:
    deep: Any = "llm"
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(SpecError, match="nested too deeply"):
        load_spec({"rules": deep})
    with pytest.raises(SpecError, match="cannot be written out"):
        load_spec({"rules": [{"id": "a", "expect": {"select": "llm", "count": {"max": 10**5000}}}]})


def test_spec_files_lists_the_file_and_what_it_extends(tmp_path: Path) -> None:
    from pytest_agenttrace.spec.loader import spec_files

    (tmp_path / "base.yaml").write_text("spec: base\nrules:\n  - {id: a, forbid: tool}\n")
    (tmp_path / "top.yaml").write_text("spec: top\nextends: [base.yaml]\nrules:\n  - {id: b, forbid: llm}\n")
    files = spec_files(tmp_path / "top.yaml")
    assert files == (str((tmp_path / "top.yaml").resolve()), str((tmp_path / "base.yaml").resolve()))


def test_a_pack_name_loads_the_pack_when_no_file_has_that_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_agenttrace.spec import check

    from .spec_helpers import pipeline_trace

    monkeypatch.chdir(tmp_path)
    assert len(load_spec("failure-modes")) == len(DETECTORS)
    assert load_spec("memory-safety", base_dirs=[tmp_path]).name == "memory-safety"
    check(pipeline_trace(), "failure-modes")  # the clean run passes the pack
    (tmp_path / "failure-modes").write_text("spec: mine\nrules: []\n", encoding="utf-8")
    assert load_spec("failure-modes").name == "mine"  # a file wins
    with pytest.raises(SpecError, match="did you mean the shipped pack 'memory-safety'"):
        load_spec("memory-safty")
    with pytest.raises(SpecError, match="spec file not found; check the path$"):
        load_spec("memory-safety.yaml")  # a path, not a name


def test_spec_files_of_a_pack_name_are_the_pack_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert loader.spec_files("delegation-hygiene")[0] == str(loader.pack_path("delegation-hygiene").resolve())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"rules": [{"id": "a", "forbid": "tool", "forbidd": "x"}]},
            "<inline spec> at rules[0].forbidd: rule 'a': unknown key 'forbidd'; did you mean 'forbid'?",
        ),
        (
            {"rules": [{"id": "a", "description": "x\ny\n" + "long " * 40, "forbid": "tool[name="}]},
            "<inline spec> at rules[0].forbid: rule 'a': bad selector in `forbid`: selector 'tool[name=': "
            "expected a value at column 11, found end of selector",
        ),
        ({"rulez": []}, "<inline spec> at rulez: top level: unknown key 'rulez'; did you mean 'rules'?"),
    ],
)
def test_an_inline_spec_error_is_located_by_key_path_not_line(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert str(info.value) == expected
    assert info.value.line is None


def test_an_inline_spec_rule_is_sourced_by_key_path() -> None:
    assert load_spec({"rules": [{"id": "a", "forbid": "tool"}]}).rule("a").source == "<inline spec> rules[0]"
