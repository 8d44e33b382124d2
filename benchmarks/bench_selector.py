"""Benchmark: the selector and expression languages on large traces.

Times ten typical selectors (kind buckets, attribute operators, descendant and
child combinators, ``:has()``, ``:not()``, ``:first``/``:last``, ``,``) and two
``expect`` expressions on generated traces of 10k and 100k spans, and prints
the ratio per selector: linear evaluation keeps it near 10 (the issue's limit
for the whole check is 12).  Two selectors are also timed against the
hand-written Python loop a user would otherwise write (the "peer").

Run::

    python benchmarks/bench_selector.py
    python benchmarks/bench_selector.py --sizes 1000 10000 100000 --repeat 5

The trace nests like a real run: an orchestrator delegates to workers who
sub-delegate to helpers, so descendant tests walk several levels.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _tracegen import SpanBuilder

from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.spec.expression import compile_expression
from pytest_agenttrace.spec.selector import Selector, compile_selector

SELECTORS = (
    "tool[name=web_search]",
    "delegation[to_agent=worker_3] tool[name=edit_file]",
    "agent[name=reviewer] > tool:first",
    "agent:not(:has(llm))",
    "llm[usage.input_tokens>=1000]",
    'span[name~="^(read|edit)_"]',
    "tool[status=error], memory_write[valid=false]",
    "agent:has(> delegation > agent > tool[name=edit_file])",
    "delegation > agent llm:last",
    "span tool",
)
EXPRESSIONS = (
    ("llm", "duration < 30s and attributes.usage.input_tokens < 100000"),
    ("tool", 'name in ["web_search", "read_file"] or input.path contains ".py"'),
)


def build_trace(n_spans: int) -> Trace:
    """About ``n_spans`` spans in start order: delegations three levels deep, tools, llm calls, memory."""
    builder = SpanBuilder()
    spans = builder.spans
    add = builder.add

    def delegate(parent: Span, to: str) -> Span:
        delegation = add("delegation", to, parent, attributes={"from_agent": parent.agent, "to_agent": to})
        return add("agent", to, delegation)

    root = add("agent", "orchestrator", None, duration=10**15)
    unit = 0
    while len(spans) < n_spans:
        add("llm", "plan", root, attributes={"usage": {"input_tokens": 900 + unit % 300}})
        worker = delegate(root, f"worker_{unit % 10}")
        add("tool", "web_search", worker, input={"q": f"query {unit}"})
        helper = delegate(worker, "helper")
        add("tool", "read_file", helper, input={"path": f"f{unit % 50}.py"})
        add("llm", "think", helper, attributes={"usage": {"input_tokens": 1200}})
        add("tool", "edit_file", helper, input={"path": f"f{unit % 50}.py"}, status="error" if unit % 13 == 0 else "ok")
        add("memory_write", "notes", worker, attributes={"key": "notes", "valid": unit % 17 != 0})
        reviewer = add("agent", "reviewer", root)
        add("tool", "run_tests", reviewer, input={"suite": unit % 7})
        add("wait", "ci", reviewer, attributes={"waiting_on": "ci"})
        unit += 1
    return Trace(trace_id="bench", name="bench", started_at="2026-11-21T00:00:00Z", spans=tuple(spans[:n_spans]))


CLOCK: list[Callable[[], float]] = [time.perf_counter]


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Best time of ``repeat`` calls, in seconds, on the chosen clock (wall by default)."""
    clock = CLOCK[0]
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()  # as timeit does: a full collection of a 100k-span trace is not the selector's cost
        try:
            start = clock()
            fn()
            best = min(best, clock() - start)
        finally:
            gc.enable()
    return best


def peer_web_search(trace: Trace) -> list[Span]:
    """The loop a user writes by hand for ``tool[name=web_search]``."""
    return [s for s in trace.spans if s.kind == "tool" and s.name == "web_search"]


def peer_under_delegation(trace: Trace) -> list[Span]:
    """The loop a user writes by hand for ``delegation[to_agent=worker_3] tool[name=edit_file]``."""
    return [
        s
        for s in trace.spans
        if s.kind == "tool"
        and s.name == "edit_file"
        and any(a.kind == "delegation" and a.attributes.get("to_agent") == "worker_3" for a in trace.ancestors(s))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time (what users wait for) or this process's CPU time (steadier on a busy machine)",
    )
    args = parser.parse_args()
    CLOCK[0] = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"clock: {args.clock}, best of {args.repeat}")
    sizes: list[int] = args.sizes
    traces = {size: build_trace(size) for size in sizes}
    for trace in traces.values():
        build_index_parts(trace)  # built once per trace, like the engine does; timed separately below

    start = time.perf_counter()
    for text in SELECTORS:
        Selector(text)
    print(f"compile {len(SELECTORS)} selectors: {(time.perf_counter() - start) * 1000:.2f} ms (uncached)")

    header = f"{'selector':<58}" + "".join(f"{f'{size:,} spans':>16}" for size in sizes)
    if len(sizes) > 1:
        header += f"{'ratio':>8}"
    print(header)
    totals = dict.fromkeys(sizes, 0.0)

    def row(
        label: str,
        timer: Callable[[Trace], Callable[[], object]],
        count: Callable[[Trace], int],
        total: bool = True,
    ) -> None:
        times = []
        for size in sizes:
            seconds = best_of(args.repeat, timer(traces[size]))
            totals[size] += seconds if total else 0.0
            times.append(seconds)
        cells = "".join(f"{t * 1000:>10.1f} ms{'':>3}" for t in times)
        ratio = f"{times[-1] / times[-2]:>8.1f}" if len(times) > 1 and times[-2] > 0 else ""
        print(f"{label:<58}{cells}{ratio}   ({count(traces[sizes[-1]])} matches)")

    # The hardware's own scaling: 100k spans do not fit in the CPU caches that hold 10k, so even
    # a plain loop grows faster than 10x; compare each selector's ratio with this row.
    row(
        "(calibration) plain loop: s.kind == 'tool'",
        lambda trace: lambda: [s for s in trace.spans if s.kind == "tool"],
        lambda trace: len(trace.index.by_kind["tool"]),
        total=False,
    )
    for text in SELECTORS:
        selector = compile_selector(text)
        row(text, lambda trace, s=selector: lambda: s.select(trace), lambda trace, s=selector: len(s.select(trace)))
    for kind, text in EXPRESSIONS:
        expression = compile_expression(text)
        label = f"expr on {kind}: {text}"[:57]

        def timer(trace: Trace, e: Any = expression, k: str = kind) -> Callable[[], object]:
            spans = trace.index.by_kind.get(k, [])
            return lambda: [s for s in spans if e.evaluate(s)]

        row(label, timer, lambda trace, e=expression, k=kind: sum(e.evaluate(s) for s in trace.index.by_kind[k]))
    print(
        f"{'total (10 selectors + 2 expressions)':<58}" + "".join(f"{totals[s] * 1000:>10.1f} ms{'':>3}" for s in sizes)
    )

    print("\npeers: the same selection as a hand-written loop (largest size)")
    trace = traces[sizes[-1]]
    for text, peer in (
        ("tool[name=web_search]", peer_web_search),
        ("delegation[to_agent=worker_3] tool[name=edit_file]", peer_under_delegation),
    ):
        selector = compile_selector(text)
        ours = best_of(args.repeat, lambda s=selector: s.select(trace))
        theirs = best_of(args.repeat, lambda p=peer: p(trace))
        same = [s.span_id for s in selector.select(trace)] == [s.span_id for s in peer(trace)]
        print(f"{text:<58}selector {ours * 1000:>8.1f} ms   loop {theirs * 1000:>8.1f} ms   same result: {same}")

    fresh = build_trace(sizes[-1])
    index_time = best_of(1, lambda: build_index_parts(fresh))
    print(
        f"\nbuilding the index parts selectors read once ({sizes[-1]:,} spans, by_kind and by_id): "
        f"{index_time * 1000:.1f} ms"
    )


def build_index_parts(trace: Trace) -> None:
    """Build the index parts selectors read: kind buckets and the id map (each is built on first use)."""
    trace.index.by_kind  # noqa: B018
    trace.index.by_id  # noqa: B018


if __name__ == "__main__":
    main()
