"""Benchmark: the ten failure-mode detectors on a generated 100,000-span trace.

Goal (issue 3): all ten detectors together well under 1 s on a 100k-span
trace, and linear (time at 100k at most 12x the time at 10k).

The trace is a multi-agent run repeated to size, with every failure shape
planted now and then so that each detector does real work, not just an empty
scan: an orchestrator delegates (``allowed_tools``, ``required_context``,
``critical_keys``) to ten workers that search, think (LLM calls linked to the
search, sometimes with low confidence), read and edit files (sometimes in a
loop), retry a search (sometimes in a storm), read and write shared memory
(sometimes an invalid write read by the reviewer, sometimes two agents writing
from the same version), hand over to a reviewer (sometimes without the
critical key) and wait on each other (sometimes both ways at once).

Run::

    python benchmarks/bench_detectors.py                  # 10k and 100k spans
    python benchmarks/bench_detectors.py --sizes 100000 --repeat 5

Prints, per size, the time to build the trace index (done once per trace and
shared by every rule), each detector's best time over ``--repeat`` runs with
its number of findings, and the total.  A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _tracegen import MS, SpanBuilder

from pytest_agenttrace.model import Trace, TraceIndex
from pytest_agenttrace.spec.detectors import DETECTORS, run_detector


def build_trace(n_spans: int) -> Trace:
    """A run of exactly ``n_spans`` spans (ids "1", "2", ... in start order)."""
    builder = SpanBuilder()
    spans = builder.spans
    add = builder.add

    root = add("agent", "orchestrator", None, duration=10**15)
    unit = 0
    while len(spans) < n_spans:
        worker = f"worker_{unit % 10}"
        add("llm", "plan", root, attributes={"model": "m", "usage": {"input_tokens": 900, "output_tokens": 50}})
        delegation = add(
            "delegation",
            worker,
            root,
            attributes={
                "from_agent": "orchestrator",
                "to_agent": worker,
                "objective": "do the work",
                "allowed_tools": ["web_search", "read_file", "edit_file"],
                "required_context": ["task", "confidence"],
                "critical_keys": ["confidence"],
            },
            context={"task": f"task {unit}" if unit % 60 else None, "confidence": 0.8},
            duration=40 * MS,
        )
        agent = add("agent", worker, delegation, duration=38 * MS)
        searches = 5 if unit % 50 == 0 else 1  # a retry storm now and then
        for _ in range(searches):
            search = add("tool", "web_search", agent, input={"q": f"query {unit}", "top_k": 5})
        add(
            "llm",
            "think",
            agent,
            links=[search.span_id],
            attributes={"confidence": 0.3 if unit % 10 == 0 else 0.9, "usage": {"input_tokens": 1200}},
        )
        think = spans[-1]
        for _ in range(3 if unit % 30 == 0 else 1):  # an edit loop now and then
            add("tool", "read_file", agent, input={"path": f"src/m{unit}.py"})
            add("tool", "edit_file", agent, input={"path": f"src/m{unit}.py", "patch": "..."})
        if unit % 70 == 0:
            add("tool", "run_tests", agent)  # outside allowed_tools
        add("memory_read", "notes", agent, attributes={"key": f"notes/{unit % 20}", "version": unit})
        add(
            "memory_write",
            "notes",
            agent,
            attributes={"key": f"notes/{unit % 20}", "version": unit + 1, "based_on_version": unit},
        )
        if unit % 40 == 0:
            add("memory_write", "notes", root, attributes={"key": f"notes/{unit % 20}", "based_on_version": unit})
        add(
            "memory_write",
            "facts",
            agent,
            attributes={"key": f"facts/{unit % 100}", "valid": unit % 25 != 0, "confidence": 0.9},
        )
        add(
            "handoff",
            "reviewer",
            agent,
            attributes={"from_agent": worker, "to_agent": "reviewer"},
            context={"summary": "edited", **({} if unit % 20 == 0 else {"confidence": 0.8})},
        )
        both_ways = unit % 100 == 0
        waits_from = builder.clock + MS
        add("wait", "reviewer", agent, attributes={"waiting_on": "reviewer"}, start_ns=waits_from, duration=5 * MS)
        reviewer = add("agent", "reviewer", root, duration=10 * MS)
        add("memory_read", "facts", reviewer, attributes={"key": f"facts/{unit % 100}"})
        add("tool", "run_tests", reviewer, input={"suite": f"unit-{unit}"}, links=[think.span_id])
        add("llm", "review", reviewer, attributes={"confidence": 0.95})
        add(
            "wait",
            worker if both_ways else "ci",
            reviewer,
            attributes={"waiting_on": worker if both_ways else "ci"},
            start_ns=waits_from + MS,
            duration=MS,
        )
        if unit % 1000 == 0:
            add("tool", "send_email", None, agent=None)  # unattributed
        unit += 1
    spans = spans[:n_spans]
    spans.sort(key=lambda s: s.start_ns)
    return Trace(trace_id="bench", name="bench", started_at="2026-11-21T00:00:00Z", spans=tuple(spans))


def best_of(repeat: int, run: Any) -> tuple[float, float, Any]:
    """Best wall-clock and best CPU seconds of ``repeat`` runs, and the last result."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, result


def index_parts(index: TraceIndex) -> TraceIndex:
    """Build the parts of ``index`` the detectors read (each part is built on first use)."""
    index.by_kind  # noqa: B018
    index.by_id  # noqa: B018
    return index


def bench(n_spans: int, repeat: int) -> dict[str, tuple[float, float]]:
    trace = build_trace(n_spans)
    times: dict[str, tuple[float, float]] = {}
    wall, cpu, _ = best_of(repeat, lambda: index_parts(TraceIndex(trace.spans)))
    times["(index)"] = (wall, cpu)
    index_parts(trace.index)  # built once, as the engine does, and shared by every detector
    print(
        f"\n{n_spans:,} spans; index parts the detectors read (by_kind, by_id) built in "
        f"{wall * 1000:.1f} ms wall, {cpu * 1000:.1f} ms CPU"
    )
    print(f"  {'detector':<22} {'wall':>9} {'CPU':>9} {'findings':>9}")
    total_wall = total_cpu = 0.0
    for name in DETECTORS:
        wall, cpu, findings = best_of(repeat, lambda name=name: run_detector(name, trace))
        times[name] = (wall, cpu)
        total_wall += wall
        total_cpu += cpu
        print(f"  {name:<22} {wall * 1000:6.1f} ms {cpu * 1000:6.1f} ms {len(findings):9d}")
    times["(all ten)"] = (total_wall, total_cpu)
    print(f"  {'all ten':<22} {total_wall * 1000:6.1f} ms {total_cpu * 1000:6.1f} ms")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {size: bench(size, args.repeat) for size in args.sizes}
    sizes = sorted(results)
    for small, large in itertools.pairwise(sizes):
        factor = large / small
        print(f"\nscaling {small:,} -> {large:,} spans ({factor:g}x the spans), CPU time ratio:")
        for name, (_, cpu) in results[large].items():
            base = results[small][name][1]
            print(f"  {name:<22} {cpu / base if base else float('nan'):6.1f}x")


if __name__ == "__main__":
    main()
