"""check_trace / check, and violation reports a person can act on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_agenttrace.model import Trace
from pytest_agenttrace.spec import CheckResult, Violation, check, check_trace, parse_spec

from .spec_helpers import make_trace, node

SPEC = """
spec: pipeline
rules:
  - id: no-db-under-external
    description: External agents never touch the customer database.
    forbid: "delegation[to_agent=external] tool[name=read_customer_db]"
  - id: budget
    expect: {select: llm, count: {max: 5}}
"""


def leaky_trace() -> Trace:
    """The orchestrator delegates to an external agent that reads the customer DB (span 5)."""
    return make_trace(
        node(
            "agent",
            "orchestrator",
            node(
                "delegation",
                "external",
                node(
                    "agent",
                    "external",
                    node("tool", "web_search"),
                    node("tool", "read_customer_db", versions={"prompt:external": "external@v3#9f8e7d6c"}),
                    node("tool", "summarize"),
                ),
                from_agent="orchestrator",
                to_agent="external",
                objective="market research",
            ),
        )
    )


def test_check_trace_passes_and_fails(pipeline: Trace) -> None:
    spec = parse_spec(SPEC)
    ok = check_trace(pipeline, spec)
    assert ok.passed and bool(ok) and ok.violations == ()
    assert ok.format() == "trace 'tests/test_pipeline.py::test_run' satisfies spec 'pipeline' (2 rules)"
    one = check_trace(pipeline, parse_spec("rules:\n  - {id: a, forbid: 'tool[name=nope]'}\n"))
    assert one.format().endswith("(1 rule)")
    bad = check_trace(leaky_trace(), spec)
    assert not bad.passed and not bad
    assert [v.rule for v in bad.violations] == ["no-db-under-external"]


def test_check_trace_accepts_paths_and_mappings(write_spec: Callable[..., Path], pipeline: Trace) -> None:
    assert check_trace(pipeline, write_spec(SPEC)).passed
    assert not check_trace(pipeline, {"rules": [{"id": "x", "forbid": "llm"}]}).passed


def test_when_guarded_rules_are_reported_as_skipped(pipeline: Trace) -> None:
    spec = parse_spec("rules:\n  - id: r\n    when: retrieval\n    forbid: llm\n")
    result = check_trace(pipeline, spec)
    assert result.passed and result.skipped == ("r",)


def test_report_shows_rule_path_agent_scope_versions_and_excerpt() -> None:
    text = check_trace(leaky_trace(), parse_spec(SPEC, path="specs/pipeline.yaml")).format()
    lines = text.splitlines()
    assert lines[0] == (
        "trace 'tests/test_pipeline.py::test_run' violates spec 'pipeline': 1 violation of 1 rule (no-db-under-external)"
    )
    assert "1. [no-db-under-external] External agents never touch the customer database." in text
    assert "rule at:  specs/pipeline.yaml:4" in text
    assert "span [5] agent:orchestrator > delegation:external > agent:external > tool:read_customer_db" in text
    assert "agent: external   scope: 2 (delegation:external orchestrator -> external)" in text
    assert "versions: prompt:external=external@v3#9f8e7d6c" in text
    # The excerpt: the parent, the siblings around, the span marked with a pointer.
    excerpt = text[text.index("tree:") :].splitlines()
    assert excerpt[1].strip() == "agent:external [3]"
    assert excerpt[2].strip() == "tool:web_search [4] agent=external"
    assert excerpt[3].strip().startswith("> tool:read_customer_db [5] agent=external")
    assert excerpt[3].endswith("<-- here")
    assert excerpt[4].strip() == "tool:summarize [6] agent=external"


def test_report_of_a_chain_shows_origin_then_victims() -> None:
    trace = make_trace(
        node(
            "agent",
            "orchestrator",
            node(
                "agent",
                "researcher",
                node("tool", "fetch_prices", status="error", error={"type": "TimeoutError", "message": "upstream"}),
            ),
            node("agent", "analyst", node("llm", "analyze", links=["3"])),
            node("agent", "trader", node("tool", "place_order", links=["5"])),
        )
    )
    result = check_trace(trace, parse_spec("extends: [failure-modes]\n"))
    [violation] = result.violations
    assert violation.rule == "cascading_error"
    text = result.format()
    assert "chain (origin -> victims):" in text
    origin = text.index("1. origin: [3] agent:orchestrator > agent:researcher > tool:fetch_prices")
    assert "status: error (TimeoutError: upstream)" in text
    victim = text.index("victim: [5] agent:orchestrator > agent:analyst > llm:analyze")
    assert origin < victim < text.index("victim: [7] agent:orchestrator > agent:trader > tool:place_order")
    assert "rule at:  pack failure-modes:" in text


def test_long_reports_are_capped(pipeline: Trace) -> None:
    spec = parse_spec("rules:\n  - id: r\n    forbid: span\n")
    result = check_trace(pipeline, spec)
    assert len(result.violations) == 12
    text = result.format(max_violations=5)
    assert "5. [r]" in text and "6. [r]" not in text
    assert "... 7 more violations not shown" in text
    assert "r x12" in text.splitlines()[0]


def test_violation_with_many_spans_lists_the_rest_by_id() -> None:
    violation = Violation(rule="r", message="m", spans=tuple(str(i) for i in range(1, 9)))
    text = violation.format(None)
    assert "... and 5 more spans: 4, 5, 6, 7, 8" in text


def test_violation_without_a_trace_still_renders() -> None:
    violation = Violation(rule="r", message="went wrong", spans=("7",), expected="x", found="y", chain=("1", "7"))
    text = violation.format()
    assert text.splitlines()[:4] == ["[r]", "  went wrong", "  expected: x", "  found:    y"]
    assert "1. origin: span 1" in text and "2. victim: span 7" in text


def test_to_dict_is_json_ready_and_round_trips() -> None:
    result = check_trace(leaky_trace(), parse_spec(SPEC))
    payload = result.to_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["passed"] is False
    [entry] = payload["violations"]
    assert entry["rule"] == "no-db-under-external" and entry["spans"] == ["5"]
    assert (
        entry["locations"][0]["path"]
        == "agent:orchestrator > delegation:external > agent:external > tool:read_customer_db"
    )
    assert Violation.from_dict(entry) == result.violations[0]


def test_check_raises_assertion_error_and_records(pipeline: Trace) -> None:
    assert check(pipeline, parse_spec(SPEC)).passed
    results: dict[str, list[Violation]] = {}
    with pytest.raises(AssertionError) as info:
        check(leaky_trace(), parse_spec(SPEC), results=results)
    assert "[no-db-under-external]" in str(info.value)
    assert [v.rule for v in results["violations"]] == ["no-db-under-external"]


def test_check_uses_the_recorders_results_and_base_dirs(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    write_spec(SPEC, "tests/specs/x.yaml")

    class FakeRecorder:
        def __init__(self) -> None:
            self.results: dict[str, list[Violation]] = {}
            self.spec_base_dirs = (tmp_path / "tests",)

    recorder = FakeRecorder()
    with pytest.raises(AssertionError, match="no-db-under-external"):
        check(leaky_trace(), "specs/x.yaml", recorder=recorder)
    assert len(recorder.results["violations"]) == 1


def test_check_result_is_a_result(pipeline: Trace) -> None:
    assert isinstance(check_trace(pipeline, parse_spec(SPEC)), CheckResult)


def test_public_api_of_the_spec_package() -> None:
    import pytest_agenttrace.spec as spec_package

    assert spec_package.__all__ == sorted(spec_package.__all__)
    assert set(spec_package.__all__) == {
        "CheckResult",
        "Rule",
        "Spec",
        "Violation",
        "available_packs",
        "check",
        "check_trace",
        "lint_spec",
        "load_spec",
        "parse_spec",
        "spec_schema",
    }


def test_sibling_spans_share_one_tree_excerpt(pipeline: Trace) -> None:
    violation = Violation(rule="r", message="m", spans=("5", "7", "11"))
    text = violation.format(pipeline)
    assert text.count("tree:") == 2  # 5 and 7 share the coder agent; 11 is the tester's
    coder_tree = text[text.index("tree:") :].split("span [11]")[0]
    assert [line.strip()[:18] for line in coder_tree.splitlines() if line.strip().startswith(">")] == [
        "> tool:read_file [",
        "> tool:run_tests [",
    ]
    assert "tool:edit_file [6]" in coder_tree


def test_the_plugins_import_no_spec_engine_until_a_spec_is_checked() -> None:
    """pytest imports the plugin modules at every startup: the engine and JSON Schema (~80 ms) wait for a spec."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import pytest_agenttrace

    root = Path(pytest_agenttrace.__file__).resolve().parent.parent
    code = (
        "import sys, pytest_agenttrace.plugin, pytest_agenttrace.spec.plugin, pytest_agenttrace.snapshot, "
        "pytest_agenttrace.report.plugin; "
        "print(sorted(m for m in ('jsonschema', 'pytest_agenttrace.spec.engine') if m in sys.modules)); "
        "from pytest_agenttrace.spec import check_trace; print(check_trace.__module__)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root)
    assert result.stdout.split() == ["[]", "pytest_agenttrace.spec.engine"]
