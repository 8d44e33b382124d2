"""What the ten failure-mode detectors find on real failed multi-agent runs.

Imports every Who&When run (58 hand-crafted Magentic-One, 126 algorithm-generated
AG2/CaptainAgent) and the 29 failed tau-bench retail runs of AgentRx, runs each
detector with its default parameters, and compares the findings with the human
labels, without tuning anything to them:

* Who&When: ``mistake_agent`` (who caused the failure) and ``mistake_step``
  (0-based message position);
* AgentRx: the annotated failures per run (``step_number``, ``failed_agent``,
  ``failure_category``; Magentic-One steps are 1-based message positions,
  tau-bench steps are the messages' own ``index``) and the root cause;
* Magentic-One's own loop signal: orchestrator ledgers with ``is_in_loop: true``.

A finding is placed at its first (most relevant) span: that span's agent and
message step.  Every run in these corpora failed, so "runs flagged" is the only
rate there is: there are no passing runs to measure false alarms on.

Run: ``python benchmarks/corpora_findings.py [--corpora DIR] [--json]``; prints
Markdown tables (``docs/importing.md`` shows the last output).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_agenttrace.adapters.importing import import_trace
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.spec.detectors import DETECTORS, Finding, run_detector

DEFAULT_CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
NEAR = 2  # steps either side that count as "near" the labelled step
LOOP_WINDOW = 5  # messages after a loop finding within which the orchestrator may flag it


@dataclass
class Run:
    """One imported run with its labels."""

    group: str
    trace: Trace
    mistake_agent: str | None = None
    mistake_step: int | None = None
    # AgentRx failures: (step as our 0-based position or tau message index, agent, category)
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    root_category: str | None = None
    step_key: str = "step"  # which span attribute holds the labelled step


def load_runs(corpora: Path) -> list[Run]:
    """Every Who&When and AgentRx tau-bench run, imported, with its labels."""
    agentrx_m1 = {
        g["trajectory_id"]: g
        for g in json.loads((corpora / "agentrx/ground_truth/magentic_one_ground_truth.json").read_text())
    }
    agentrx_tau = {
        g["trajectory_id"]: g for g in json.loads((corpora / "agentrx/ground_truth/tau_ground_truth.json").read_text())
    }
    runs: list[Run] = []
    for folder, group in (
        ("Hand-Crafted", "Who&When hand-crafted (Magentic-One)"),
        ("Algorithm-Generated", "Who&When algorithm-generated (AG2)"),
    ):
        for path in sorted((corpora / "who-and-when" / folder).glob("*.json"), key=lambda p: int(p.stem)):
            trace = import_trace(path, "messages")
            assert isinstance(trace, Trace)
            labels = trace.metadata["labels"]
            run = Run(group, trace, labels.get("mistake_agent"), labels.get("mistake_step"))
            truth = (
                agentrx_m1.get(trace.trace_id) if folder == "Hand-Crafted" else None
            )  # AgentRx labels Magentic-One runs only
            if truth is not None:
                run.failures = [
                    (f["step_number"] - 1, f["failed_agent"], f["failure_category"]) for f in truth["failures"]
                ]
                run.root_category = _root_category(truth)
            runs.append(run)
    tau = import_trace(corpora / "agentrx/tau_retail/tau_dataset_failed.json", "messages")
    for trace in tau if isinstance(tau, list) else [tau]:
        truth = agentrx_tau.get(int(trace.metadata["task_id"]))
        run = Run("AgentRx tau-bench retail", trace, step_key="index")
        if truth is not None:
            run.failures = [(f["step_number"], f["failed_agent"], f["failure_category"]) for f in truth["failures"]]
            run.root_category = _root_category(truth)
        runs.append(run)
    return runs


def _root_category(truth: dict[str, Any]) -> str | None:
    root = (truth.get("root_cause") or {}).get("failure_id")
    return next((f["failure_category"] for f in truth["failures"] if f["failure_id"] == root), None)


def _same_agent(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def _where(run: Run, finding: Finding) -> tuple[Span, int | None]:
    span = run.trace.span(finding.spans[0])
    step = span.attributes.get(run.step_key)
    return span, step if isinstance(step, int) else None


def _busiest_tool_user(trace: Trace) -> str | None:
    """The agent that ran the most tool spans: the trivial guess to compare agent agreement with."""
    counts = Counter(s.agent for s in trace.spans if s.kind == "tool" and s.agent)
    return counts.most_common(1)[0][0] if counts else None


def _loop_steps(trace: Trace) -> list[int]:
    return [s.attributes["step"] for s in trace.spans if s.attributes.get("is_in_loop") is True]


def compute(runs: list[Run]) -> dict[str, Any]:
    """Per group and detector: counts of flagged runs and of agreement with the labels."""
    results: dict[str, Any] = {}
    for group in dict.fromkeys(r.group for r in runs):
        members = [r for r in runs if r.group == group]
        rows = {}
        for name in DETECTORS:
            row: Counter[str] = Counter()
            categories: Counter[str] = Counter()
            for run in members:
                findings = run_detector(name, run.trace)
                if not findings:
                    continue
                row["flagged"] += 1
                row["findings"] += len(findings)
                span, step = _where(run, findings[0])
                if run.mistake_agent is not None:
                    row["labelled"] += 1
                    row["baseline"] += _same_agent(_busiest_tool_user(run.trace), run.mistake_agent)
                    row["agent"] += _same_agent(span.agent, run.mistake_agent)
                    if step is not None and run.mistake_step is not None:
                        row["step"] += step == run.mistake_step
                        row["near"] += abs(step - run.mistake_step) <= NEAR
                        # What a uniformly random message step would score (short runs make ±NEAR easy).
                        messages = sum(1 for s in run.trace.spans if s.parent_id is None)
                        window = min(run.mistake_step + NEAR, messages - 1) - max(run.mistake_step - NEAR, 0) + 1
                        row["chance_near"] += max(window, 0) / max(messages, 1)
                    row["any_agent"] += any(
                        _same_agent(run.trace.span(f.spans[0]).agent, run.mistake_agent) for f in findings
                    )
                if run.failures:
                    row["agentrx"] += 1
                    row["agentrx_step"] += any(
                        step is not None and abs(step - fstep) <= NEAR and _same_agent(span.agent, fagent)
                        for fstep, fagent, _ in run.failures
                    )
                    if run.root_category:
                        categories[run.root_category] += 1
                loops = _loop_steps(run.trace)
                if loops and name in ("tool_loop", "retry_storm"):
                    row["orchestrator_loop"] += 1
                    row["loop_near"] += any(
                        0 <= loop - (_where(run, f)[1] or -99) <= LOOP_WINDOW for f in findings for loop in loops
                    )
            row["categories"] = categories  # type: ignore[assignment]
            rows[name] = row
        loop_runs = sum(1 for r in members if _loop_steps(r.trace))
        results[group] = {"runs": len(members), "rows": rows, "orchestrator_loop_runs": loop_runs}
    return results


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole}" + (f" ({100 * part / whole:.0f}%)" if whole else "")


def render(results: dict[str, Any]) -> str:
    """Markdown tables, one per corpus group."""
    out = []
    for group, data in results.items():
        runs, rows = data["runs"], data["rows"]
        m1 = "Magentic-One" in group
        agentrx = any(row["agentrx"] for row in rows.values())
        out.append(f"### {group}: {runs} failed runs\n")
        header = ["detector", "runs flagged", "findings"]
        if "Who&When" in group:
            header += [
                "agent = mistake_agent (first finding)",
                "any finding's agent = mistake_agent",
                "baseline: busiest tool user = mistake_agent",
                "step = mistake_step",
                f"step within ±{NEAR}",
                f"chance of ±{NEAR} for a random step",
            ]
        if agentrx:
            header += [
                f"on an AgentRx failure (same agent, ±{NEAR} steps)",
                "AgentRx root-cause categories of flagged runs",
            ]
        if m1:
            header += [
                f"orchestrator flagged is_in_loop (of {data['orchestrator_loop_runs']} runs)",
                f"loop ledger ≤{LOOP_WINDOW} steps after a finding",
            ]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        for name, row in rows.items():
            flagged = row["flagged"]
            cells = [f"`{name}`", _pct(flagged, runs), str(row["findings"])]
            if "Who&When" in group:
                cells += [
                    _pct(row["agent"], flagged),
                    _pct(row["any_agent"], flagged),
                    _pct(row["baseline"], flagged),
                    _pct(row["step"], flagged),
                    _pct(row["near"], flagged),
                    f"{100 * row['chance_near'] / flagged:.0f}%" if flagged else "–",
                ]
            if agentrx:
                cats = ", ".join(f"{c} {n}" for c, n in row["categories"].most_common(3)) or "–"
                cells += [_pct(row["agentrx_step"], row["agentrx"]) if row["agentrx"] else "–", cats]
            if m1:
                if name in ("tool_loop", "retry_storm"):
                    cells += [
                        _pct(row["orchestrator_loop"], flagged),
                        _pct(row["loop_near"], row["orchestrator_loop"]) if row["orchestrator_loop"] else "–",
                    ]
                else:
                    cells += ["–", "–"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=Path(os.environ.get("AGENTTRACE_CORPORA", DEFAULT_CORPORA)))
    parser.add_argument("--json", action="store_true", help="print the counts as JSON instead of Markdown")
    args = parser.parse_args(argv)
    results = compute(load_runs(args.corpora))
    if args.json:
        print(json.dumps(results, indent=2, default=dict))
    else:
        print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
