"""Sample traces for the report's tests, benchmark, docs and screenshot.

* :func:`example_failure` is a small refactor pipeline that goes wrong in the
  ways the detectors know (a retry storm, an out-of-scope tool, a lost handoff
  key, a polluted memory, a cascading error), with the violations a spec run
  would report for it.
* :func:`injection_trace` puts markup and script into every text field.
* :func:`generated_trace` builds an ``n``-span run of several parallel agents
  for scale tests.

Private: the shapes here may change with the report.
"""

from __future__ import annotations

import random
from typing import Any, Final

from ..model import Span, Trace

__all__ = [
    "EXAMPLE_SPEC",
    "example_failure",
    "example_golden",
    "example_snapshot_diff",
    "example_violations",
    "generated_trace",
    "injection_trace",
    "injection_violations",
]

_MS = 1_000_000


def _span(
    span_id: str,
    parent: str | None,
    kind: str,
    name: str,
    agent: str | None,
    start_ms: float,
    end_ms: float,
    *,
    scope: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    path = scope or []
    return {
        "span_id": span_id,
        "parent_id": parent,
        "kind": kind,
        "name": name,
        "agent": agent,
        "scope": path[-1] if path else None,
        "scope_path": list(path),
        "start_ns": int(start_ms * _MS),
        "end_ns": int(end_ms * _MS),
        **fields,
    }


def example_failure() -> Trace:
    """A three-agent refactor run that fails its checks (see :func:`example_violations`)."""
    v_orch = {"prompt:orchestrator": "orchestrator@v2#5e1f0a77", "config:tools": "tools#a1b2c3d4"}
    v_res = {**v_orch, "prompt:researcher": "researcher@v4#9c8b7a61"}
    v_cod = {**v_orch, "prompt:coder": "coder@v7#0d1e2f3a"}
    v_tst = {**v_orch, "prompt:tester": "tester@v3#77aa12bc"}
    d1, d2 = ["3"], ["11"]
    usage = {"input_tokens": 1840, "output_tokens": 312}
    # fmt: off
    # One span per entry, in the order a reader follows the story; a table reads better unformatted.
    spans = [
        _span("1", None, "agent", "orchestrator", "orchestrator", 0, 9200, versions=v_orch,
              input={"task": "Rename parse_config to load_config across the repo"}),
        _span("2", "1", "llm", "plan", "orchestrator", 40, 900, versions=v_orch,
              attributes={"model": "gpt-4o-2024-08-06", "usage": usage, "confidence": 0.91},
              output={"plan": ["find call sites", "rewrite call sites", "run the tests"]}),
        _span("3", "1", "delegation", "researcher", "orchestrator", 1000, 3600, versions=v_orch,
              attributes={"from_agent": "orchestrator", "to_agent": "researcher",
                          "objective": "find every call site of parse_config",
                          "allowed_tools": ["web_search", "read_file", "docs_index"],
                          "required_context": ["repo"]},
              context={"repo": "acme/config-service"}),
        _span("4", "3", "agent", "researcher", "researcher", 1050, 3550, scope=d1, versions=v_res),
        _span("5", "3", "agent", "docs_researcher", "docs_researcher", 1100, 2600, scope=d1, versions=v_res),
        _span("6", "4", "tool", "web_search", "researcher", 1150, 1500, scope=d1, versions=v_res,
              input={"query": "parse_config usages site:acme/config-service"},
              output={"results": [], "error": "rate limited"}),
        _span("7", "5", "retrieval", "docs_index", "docs_researcher", 1200, 1800, scope=d1, versions=v_res,
              input={"query": "parse_config"}, attributes={"source": "docs_index", "hits": 7}),
        _span("8", "4", "tool", "web_search", "researcher", 1550, 1950, scope=d1, versions=v_res,
              input={"query": "parse_config usages site:acme/config-service"},
              output={"results": [], "error": "rate limited"},
              events=[{"name": "retry", "time_ns": 1550 * _MS, "attributes": {"attempt": 2}}]),
        _span("9", "5", "llm", "summarize_docs", "docs_researcher", 1900, 2500, scope=d1, versions=v_res,
              attributes={"model": "gpt-4o-mini", "usage": {"input_tokens": 5120, "output_tokens": 240},
                          "confidence": 0.88}),
        _span("10", "4", "tool", "web_search", "researcher", 2000, 2400, scope=d1, versions=v_res,
              input={"query": "parse_config usages site:acme/config-service"},
              output={"results": [], "error": "rate limited"},
              events=[{"name": "retry", "time_ns": 2000 * _MS, "attributes": {"attempt": 3}}]),
        _span("12", "4", "tool", "web_search", "researcher", 2450, 2850, scope=d1, versions=v_res,
              input={"query": "parse_config usages site:acme/config-service"},
              output={"results": ["config.py:12", "cli.py:40"]},
              events=[{"name": "retry", "time_ns": 2450 * _MS, "attributes": {"attempt": 4}}]),
        _span("13", "4", "llm", "summarize_findings", "researcher", 2900, 3500, scope=d1, versions=v_res,
              attributes={"model": "gpt-4o-2024-08-06", "usage": {"input_tokens": 2210, "output_tokens": 180},
                          "confidence": 0.35},
              output={"call_sites": ["config.py:12", "cli.py:40"], "note": "search was rate limited; list may be incomplete"},
              links=["7", "12"]),
        _span("11", "1", "delegation", "coder", "orchestrator", 3700, 7400, versions=v_orch, links=["13"],
              attributes={"from_agent": "orchestrator", "to_agent": "coder",
                          "objective": "rewrite the call sites of parse_config",
                          "allowed_tools": ["read_file", "edit_file", "run_tests"],
                          "required_context": ["call_sites", "diff_summary"]},
              context={"call_sites": ["config.py:12", "cli.py:40"]}),
        _span("14", "11", "agent", "coder", "coder", 3750, 7350, scope=d2, versions=v_cod),
        _span("15", "14", "tool", "read_file", "coder", 3800, 3900, scope=d2, versions=v_cod,
              input={"path": "config.py"}, output={"lines": 212}),
        _span("16", "14", "llm", "write_patch", "coder", 3950, 5200, scope=d2, versions=v_cod, links=["13", "15"],
              attributes={"model": "gpt-4o-2024-08-06", "usage": {"input_tokens": 9400, "output_tokens": 1310},
                          "confidence": 0.8}),
        _span("17", "14", "tool", "edit_file", "coder", 5250, 5400, scope=d2, versions=v_cod, links=["16"],
              input={"path": "config.py", "old": "def parse_config(", "new": "def load_config("}),
        _span("18", "14", "tool", "web_search", "coder", 5450, 5900, scope=d2, versions=v_cod,
              input={"query": "python rename function safely"}),
        _span("19", "14", "memory_write", "plan", "coder", 5950, 6000, scope=d2, versions=v_cod,
              attributes={"key": "plan", "version": 2, "based_on_version": 1, "valid": False},
              input={"steps": ["rename", "skip tests"]}),
        _span("20", "14", "tool", "run_tests", "coder", 6050, 7300, scope=d2, versions=v_cod, links=["17"],
              status="error", input={"args": ["-q", "tests/"]},
              error={"type": "TestFailure",
                     "message": "3 failed, 41 passed: test_cli_reads_defaults, test_env_override, test_missing_file"}),
        _span("21", "1", "handoff", "tester", "orchestrator", 7450, 7500, versions=v_orch, links=["20"],
              attributes={"from_agent": "orchestrator", "to_agent": "tester",
                          "required_context": ["diff_summary", "confidence"]},
              context={"diff_summary": "parse_config -> load_config in 2 files"}),
        _span("22", "1", "agent", "tester", "tester", 7500, 8600, versions=v_tst),
        _span("23", "22", "memory_read", "plan", "tester", 7550, 7600, versions=v_tst,
              attributes={"key": "plan", "version": 2}, output={"steps": ["rename", "skip tests"]}),
        _span("24", "22", "wait", "wait for coder", "tester", 7620, 7700, versions=v_tst,
              attributes={"waiting_on": "coder"}),
        _span("25", "22", "llm", "judge_results", "tester", 7720, 8550, versions=v_tst, links=["20", "23"],
              attributes={"model": "gpt-4o-mini", "usage": {"input_tokens": 3010, "output_tokens": 95},
                          "confidence": 0.93},
              output={"verdict": "tests green, ship it"}),
        _span("26", "1", "agent", "reporter", "reporter", 8650, 9150, versions=v_orch),
        _span("27", "26", "llm", "write_report", "reporter", 8700, 9100, versions=v_orch, links=["25"],
              attributes={"model": "gpt-4o-mini", "usage": {"input_tokens": 1200, "output_tokens": 400}},
              output={"report": "Refactor complete. All tests pass."}),
    ]
    # fmt: on
    spans.sort(key=lambda s: (s["start_ns"], int(s["span_id"])))
    return Trace.from_dict(
        {
            "trace_id": "4bf92f3577b34da6",
            "name": "tests/test_refactor.py::test_rename_pipeline",
            "started_at": "2026-11-21T23:00:00Z",
            "metadata": {"nodeid": "tests/test_refactor.py::test_rename_pipeline", "git_commit": "3f2c1ab"},
            "versions": {**v_res, **v_cod, **v_tst},
            "spans": spans,
        }
    )


#: The spec the example is checked against: the failure-mode detectors plus one handoff rule.
EXAMPLE_SPEC: Final = """\
spec: refactor-pipeline
extends: [failure-modes]
rules:
  - id: tester-gets-confidence
    description: the tester must know how sure the coder was
    handoff: {to: tester, requires: [diff_summary, confidence]}
"""


def example_violations() -> list[Any]:
    """The violations :data:`EXAMPLE_SPEC` finds in :func:`example_failure` (spec ``Violation`` objects)."""
    from ..spec import check_trace, parse_spec

    return list(check_trace(example_failure(), parse_spec(EXAMPLE_SPEC, path="<example spec>")).violations)


def example_golden() -> Trace:
    """What :func:`example_failure` looked like when its snapshot was taken: researcher prompt v3, one search."""
    trace = example_failure()
    old = {"prompt:researcher": "researcher@v3#4d5e6f70"}
    spans = tuple(
        s.replace(
            versions={**s.versions, **old} if "prompt:researcher" in s.versions else s.versions,
            links=["7", "6"] if s.span_id == "13" else s.links,
        )
        for s in trace.spans
        if s.span_id not in {"8", "10", "12"}
    )
    return Trace(
        trace_id="golden",
        name=trace.name,
        started_at=trace.started_at,
        metadata=trace.metadata,
        versions={**trace.versions, **old},
        spans=spans,
    )


def example_snapshot_diff() -> dict[str, Any]:
    """The structured snapshot diff (as the snapshot plugin records it) of the example against its golden."""
    from ..diff import diff_traces

    return diff_traces(example_golden(), example_failure()).to_dict(test=example_failure().name)


_NASTY = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "<!--",
    "\u2028\u2029</ScRiPt >",
    "javascript:alert(3)",
    "{{constructor.constructor('alert(4)')()}}",
    "<svg onload=alert(5)>",
]


def injection_trace() -> Trace:
    """Markup and script in every field a model or a tool can fill."""
    bad = " ".join(_NASTY)
    spans = [
        _span(
            "1",
            None,
            "agent",
            f"agent {bad}",
            f"agent {bad}",
            0,
            1000,
            input={bad: bad},
            output=bad,
            attributes={bad: bad, "model": bad},
            versions={bad: bad},
            events=[{"name": bad, "time_ns": 5, "attributes": {bad: bad}}],
        ),
        _span(
            "2",
            "1",
            "delegation",
            bad,
            f"agent {bad}",
            100,
            900,
            attributes={"from_agent": f"agent {bad}", "to_agent": "<b>x</b>", "objective": bad, "allowed_tools": [bad]},
            context={bad: bad},
        ),
        _span(
            "3",
            "2",
            "tool",
            f"tool {bad}",
            "<b>x</b>",
            150,
            500,
            scope=["2"],
            status="error",
            error={"type": bad, "message": bad},
            input={"q": bad},
            links=["1"],
        ),
        _span(
            "4",
            "2",
            "llm",
            "</script>",
            "<b>x</b>",
            550,
            850,
            scope=["2"],
            attributes={"model": "</script>", "confidence": 0.1},
            output={"text": bad},
            links=["3"],
        ),
    ]
    return Trace.from_dict(
        {
            "trace_id": "inj",
            "name": f"tests/test_injection.py::test_x[{bad}]",
            "started_at": "2026-11-21T23:00:00Z",
            "metadata": {"nodeid": bad},
            "versions": {bad: bad},
            "spans": spans,
        }
    )


def injection_violations() -> list[dict[str, Any]]:
    """A violation whose every text field is hostile."""
    bad = " ".join(_NASTY)
    return [{"rule": bad, "message": bad, "spans": ["3", "4"], "expected": bad, "found": bad, "chain": ["3", "4"]}]


_TOOLS = ("read_file", "edit_file", "run_tests", "web_search", "grep", "list_dir")


def generated_trace(n: int, *, agents: int = 8, seed: int = 0, name: str = "generated") -> Trace:
    """An ``n``-span run: an orchestrator delegating to ``agents`` workers in parallel waves.

    Workers call tools and models (some nested two or three levels deep),
    some calls fail, some retry; the result is in start order like a trace file.
    """
    rng = random.Random(seed)
    spans: list[Span] = []
    counter = 0

    def new_id() -> str:
        nonlocal counter
        counter += 1
        return str(counter)

    root = new_id()
    workers = [f"agent_{i}" for i in range(agents)]
    pending: list[Span] = []
    clock = 0
    budget = n - 1
    wave = 0
    while budget > 0:
        wave += 1
        wave_start = clock
        wave_end = wave_start
        for worker in workers:
            if budget < 3:
                break
            deleg = new_id()
            start = wave_start + rng.randint(0, 2_000_000)
            worker_id = new_id()
            budget -= 2
            calls = min(budget, rng.randint(5, 60))
            t = start + 100_000
            children: list[Span] = []
            for _ in range(calls):
                kind = rng.choice(("tool", "tool", "llm", "retrieval", "memory_read", "tool"))
                dur = rng.randint(200_000, 30_000_000)
                sid = new_id()
                failed = rng.random() < 0.03
                parent, start_at = worker_id, t
                previous = children[-1] if children else None
                if previous is not None and previous.duration_ns > 400_000 and rng.random() < 0.2:
                    # A call nested inside the previous one (a tool calling a model, ...).
                    parent, start_at = previous.span_id, previous.start_ns + 100_000
                    dur = rng.randint(50_000, previous.duration_ns - 200_000)
                children.append(
                    Span(
                        span_id=sid,
                        parent_id=parent,
                        kind=kind,
                        name=rng.choice(_TOOLS) if kind == "tool" else f"{kind}_{rng.randint(0, 9)}",
                        agent=worker,
                        scope=deleg,
                        scope_path=[deleg],
                        start_ns=start_at,
                        end_ns=start_at + dur,
                        status="error" if failed else "ok",
                        error={"type": "ToolError", "message": "simulated failure"} if failed else None,
                        input={"arg": rng.randint(0, 1000)} if kind == "tool" else None,
                        attributes=(
                            {
                                "model": "gpt-4o-mini",
                                "usage": {
                                    "input_tokens": rng.randint(100, 9000),
                                    "output_tokens": rng.randint(10, 900),
                                },
                            }
                            if kind == "llm"
                            else {}
                        ),
                        links=[previous.span_id] if previous is not None and rng.random() < 0.3 else [],
                    )
                )
                if parent == worker_id:
                    t += dur + rng.randint(10_000, 500_000)
            budget -= calls
            end = t + 100_000
            pending.append(
                Span(
                    span_id=deleg,
                    parent_id=root,
                    kind="delegation",
                    name=worker,
                    agent="orchestrator",
                    start_ns=start,
                    end_ns=end + 50_000,
                    attributes={"from_agent": "orchestrator", "to_agent": worker, "objective": f"wave {wave}"},
                    context={"wave": wave},
                )
            )
            pending.append(
                Span(
                    span_id=worker_id,
                    parent_id=deleg,
                    kind="agent",
                    name=worker,
                    agent=worker,
                    scope=deleg,
                    scope_path=[deleg],
                    start_ns=start + 10_000,
                    end_ns=end,
                )
            )
            pending.extend(children)
            wave_end = max(wave_end, end + 50_000)
        clock = wave_end + 1_000_000
        if budget < 3:
            break
    spans.append(
        Span(
            span_id=root,
            parent_id=None,
            kind="agent",
            name="orchestrator",
            agent="orchestrator",
            start_ns=0,
            end_ns=clock,
        )
    )
    spans.extend(pending)
    spans.sort(key=lambda s: s.start_ns)
    return Trace(
        trace_id=f"gen{n}",
        name=name,
        started_at="2026-11-21T23:00:00Z",
        spans=tuple(spans),
        versions={"prompt:orchestrator": "orchestrator@v1#00000000"},
    )


#: Flags for headless Chromium opening a report offline (the browser tests and bench_report use them).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
