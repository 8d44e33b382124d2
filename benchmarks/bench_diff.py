"""Benchmark: normalise + diff two 10,000-span traces, side by side with a plain DeepDiff.

The two traces differ in one attribute and one inserted subtree (a tool call
with two children).  Goal (issue 4): normalise + diff under 0.5 s, and at least
10x faster than DeepDiff over the two raw span lists, measured in the same run.
DeepDiff runs in a child process with a time limit, since it grows faster than
linearly; when it hits the limit the ratio printed is a lower bound.

    python benchmarks/bench_diff.py [--spans 10000] [--deepdiff-timeout 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from typing import Any

from deepdiff import DeepDiff

from pytest_agenttrace.diff import diff_normalized
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.normalize import NormalizeOptions, normalize

AGENTS = ("planner", "researcher", "coder", "tester", "reporter", "summarizer")
TOOLS = ("web_search", "read_file", "edit_file", "run_tests", "query_db")


def build(total: int) -> Trace:
    """An orchestrator delegating rounds of work to agents that call tools and models."""
    spans: list[Span] = []
    clock = 0

    def add(parent: str | None, kind: str, name: str, agent: str | None, scope: str | None, **fields: Any) -> str:
        nonlocal clock
        span_id = f"s{len(spans)}"
        spans.append(
            Span(
                span_id=span_id,
                parent_id=parent,
                kind=kind,
                name=name,
                agent=agent,
                scope=scope,
                scope_path=[scope] if scope else [],
                start_ns=clock,
                end_ns=clock + 1000,
                **fields,
            )
        )
        clock += 10
        return span_id

    root = add(None, "agent", "orchestrator", "orchestrator", None)
    round_no = 0
    while len(spans) < total:
        agent = AGENTS[round_no % len(AGENTS)]
        delegation = add(
            root,
            "delegation",
            agent,
            "orchestrator",
            None,
            attributes={"to_agent": agent, "from_agent": "orchestrator", "allowed_tools": list(TOOLS)},
            context={"task": f"round {round_no}", "budget": 1000},
        )
        worker = add(delegation, "agent", agent, agent, delegation)
        for step in range(6):
            if len(spans) >= total - 1:
                break
            tool = TOOLS[(round_no + step) % len(TOOLS)]
            call = add(
                worker,
                "tool",
                tool,
                agent,
                delegation,
                input={"query": f"{tool} {round_no}-{step}", "limit": 5},
                output={"items": [step, step + 1], "ok": True},
                attributes={"tool_call_id": f"call_{round_no}_{step}", "why": "needed for the task", "retries": 0},
            )
            add(
                worker,
                "llm",
                "reason",
                agent,
                delegation,
                attributes={"model": "fake-1", "usage": {"input_tokens": 100 + step, "output_tokens": 20}},
                output=f"thought {round_no}-{step}",
                links=[call],
            )
        round_no += 1
    return Trace(trace_id="bench", name="bench", started_at="2026-11-21T00:00:00Z", spans=tuple(spans))


def variant(trace: Trace) -> Trace:
    """``trace`` with one changed attribute (late) and one inserted subtree (in the middle)."""
    spans = list(trace.spans)
    llms = [i for i, s in enumerate(spans) if s.kind == "llm"]
    changed = llms[len(llms) * 3 // 4]
    usage = {**spans[changed].attributes["usage"], "input_tokens": 999}
    spans[changed] = spans[changed].replace(attributes={**spans[changed].attributes, "usage": usage})
    anchor = spans[llms[len(llms) // 2]]  # insert after this llm span, under the same agent
    at = spans.index(anchor) + 1
    common = {"agent": anchor.agent, "scope": anchor.scope, "scope_path": anchor.scope_path}
    extra = [
        Span(
            span_id="x1", parent_id=anchor.parent_id, kind="tool", name="web_search", input={"query": "extra"}, **common
        ),
        Span(span_id="x2", parent_id="x1", kind="retrieval", name="index", output={"docs": 3}, **common),
        Span(span_id="x3", parent_id="x1", kind="llm", name="rerank", attributes={"model": "fake-1"}, **common),
    ]
    spans[at:at] = extra
    return Trace(trace_id="bench2", name="bench", started_at=trace.started_at, spans=tuple(spans))


def ours(a: Trace, b: Trace) -> tuple[float, Any, float]:
    """(wall seconds, diff, CPU seconds) of normalise + diff."""
    start, cpu = time.perf_counter(), time.process_time()
    options = NormalizeOptions()
    result = diff_normalized(normalize(a, options), normalize(b, options))
    return time.perf_counter() - start, result, time.process_time() - cpu


def _deepdiff_worker(spans: int, queue: Any) -> None:
    a = build(spans)
    b = variant(a)
    raw_a, raw_b = [s.to_dict() for s in a.spans], [s.to_dict() for s in b.spans]
    start, cpu = time.perf_counter(), time.process_time()
    result = DeepDiff(raw_a, raw_b)
    queue.put((time.perf_counter() - start, time.process_time() - cpu, len(result.affected_paths)))


def deepdiff_seconds(spans: int, timeout: float) -> tuple[float, float, bool, int]:
    """(wall seconds, CPU seconds, finished, affected paths) of DeepDiff over the raw span dict lists."""
    queue: Any = multiprocessing.Queue()
    process = multiprocessing.Process(target=_deepdiff_worker, args=(spans, queue))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join()
        return timeout, timeout, False, 0
    seconds, cpu, paths = queue.get()
    return seconds, cpu, True, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--deepdiff-timeout", type=float, default=300.0)
    parser.add_argument("--deepdiff-sizes", default="500,2000", help="extra sizes to show DeepDiff's growth")
    args = parser.parse_args()

    a = build(args.spans)
    b = variant(a)
    times, cpu_times = [], []
    result = None
    for _ in range(args.repeat):
        seconds, result, cpu = ours(a, b)
        times.append(seconds)
        cpu_times.append(cpu)
    assert result is not None
    best, median = min(times), statistics.median(times)
    print(f"traces: {len(a)} and {len(b)} spans; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"pytest-agenttrace normalise + diff: wall best {best:.3f} s, median {median:.3f} s; "
        f"CPU median {statistics.median(cpu_times):.3f} s ({args.repeat} runs)"
    )
    print(f"  found: {[(c.op, c.field or c.path.rsplit(' > ', 1)[-1]) for c in result.changes]}")
    print(f"  counts: {[c.describe() for c in result.counts]}")
    for size in [int(s) for s in args.deepdiff_sizes.split(",") if s.strip()]:
        small_a = build(size)
        small_b = variant(small_a)
        ours_small = min(ours(small_a, small_b)[2] for _ in range(3))
        _, dd_cpu, finished, _ = deepdiff_seconds(size, args.deepdiff_timeout)
        mark = "" if finished else ">"
        print(
            f"  {size:>6} spans (CPU): DeepDiff {mark}{dd_cpu:.2f} s, ours {ours_small:.4f} s, "
            f"ratio {mark}{dd_cpu / ours_small:.0f}x"
        )
    dd, dd_cpu, finished, paths = deepdiff_seconds(args.spans, args.deepdiff_timeout)
    mark = "" if finished else ">"
    cpu_median = statistics.median(cpu_times)
    print(
        f"DeepDiff of the raw span lists ({args.spans} spans): wall {mark}{dd:.2f} s, CPU {mark}{dd_cpu:.2f} s "
        f"({paths} affected paths)"
    )
    print(f"ratio DeepDiff / ours: wall {mark}{dd / median:.0f}x, CPU {mark}{dd_cpu / cpu_median:.0f}x")
    print("goal: ours < 0.5 s and >= 10x DeepDiff")
    print(
        f"goal met (wall): {median < 0.5 and dd / median >= 10}; (CPU): {cpu_median < 0.5 and dd_cpu / cpu_median >= 10}"
    )


if __name__ == "__main__":
    main()
