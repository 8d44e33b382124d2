"""Capture overhead in instructions: what bench_adapters measures in time, counted by valgrind.

The 2-core VM's timing noise (whole runs 20-50% slower at times) is as
large as a change worth making to the adapters' hot paths.  Instruction
counts vary by about 1-3% between runs (the frameworks make random ids and
read the clock; addresses differ), so a change of a few percent shows.  For
each framework (OpenTelemetry, OpenAI Agents SDK) the same workload as
``bench_adapters.py`` runs under ``valgrind --tool=cachegrind`` four ways:
the framework alone, and with capture up to the end of the run, up to the
deferred mapping (the recorder's finalizers), and up to the finished trace.
Each is run with 0 and with ``--spans`` spans, so interpreter start-up and
imports cancel out; the difference per span is printed by phase, with the
total overhead in percent of the framework's own instructions.

Instructions are not time: cache misses, branch mispredictions and the
collector's effect on memory are not counted at all.  On this machine, in
session 11, the Agents SDK's overhead was 55.0% in instructions and 55-56% in
time; OpenTelemetry's 37.6% in instructions and 48-50% in time (its spans
are bigger, and what the adapter keeps of them costs memory traffic, not
instructions).  Use it to compare two versions of the code; use
``bench_adapters.py`` for the goal.

Run (needs valgrind; about 4 minutes per framework on 2 cores)::

    python benchmarks/bench_instructions.py [--spans 5000] [--framework agents|otel|both]

``--spec`` counts instead what ``bench_spec.py`` times: checking a 10,000- and a
100,000-span trace against its spec (the trace built alone is subtracted), so
the ratio says whether the checker is linear whatever the caches do (issue 3
asks for time(100k) <= 12 x time(10k); session 11: 9.6 in instructions, 12.0-13.5
in time)::

    python benchmarks/bench_instructions.py --spec

A phase of one run (used by the parent process)::

    python benchmarks/bench_instructions.py --workload agents cap 5000
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MODES = ("base", "run", "deferred", "built")


def workload(framework: str, mode: str, spans: int) -> None:
    """One measured process: ``spans`` spans of ``framework``, captured up to ``mode``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_adapters

    try:
        from pytest_agenttrace._gc import collector_paused
    except ImportError:  # an older version of the package, measured against this one
        from pytest_agenttrace.store import gc_paused as collector_paused  # type: ignore[no-redef]
    from pytest_agenttrace.recorder import Recorder

    bench_adapters.install_all()  # as the plugin's default --agenttrace-capture=auto
    captured = mode != "base"
    if framework == "agents":
        from agents.tracing import function_span, set_trace_processors, trace

        from pytest_agenttrace.adapters.openai_agents import AgentTraceProcessor

        set_trace_processors([AgentTraceProcessor()] if captured else [])
        inputs = [f'{{"q": "x01-{i:06d}"}}' for i in range(spans)]

        def run() -> None:
            with trace("bench"):
                for arguments in inputs:
                    with function_span("search", input=arguments) as span:
                        span.span_data.output = "ok"

    else:
        from opentelemetry.sdk.trace import TracerProvider

        from pytest_agenttrace.adapters.otel import AgentTraceSpanProcessor

        provider = TracerProvider()
        provider._active_span_processor._span_processors = ()
        if captured:
            provider.add_span_processor(AgentTraceSpanProcessor())
        tracer = provider.get_tracer("bench")
        attributes = [
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search",
                "gen_ai.tool.call.id": f"call_01_{i:06d}",
            }
            for i in range(spans)
        ]

        def run() -> None:
            for attrs in attributes:
                with tracer.start_as_current_span("execute_tool search", attributes=attrs):
                    pass

    gc.collect()
    rec = Recorder("bench")
    with rec:
        run()
    if mode in ("deferred", "built"):
        with collector_paused():  # as Recorder.finish runs them
            rec.run_finalizers()
    if mode == "built":
        rec.finish()


def spec_workload(mode: str, spans: int) -> None:
    """One measured process: ``bench_spec``'s trace of ``spans`` spans built, and checked if ``mode`` is "check"."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_spec

    from pytest_agenttrace.spec import check_trace, parse_spec

    spec = parse_spec(bench_spec.SPEC)
    trace = bench_spec.build_trace(spans)
    if mode == "check":
        check_trace(trace, spec)


def measure_spec() -> dict[int, float]:
    """Instructions of checking each size (the same process without the check subtracted)."""
    jobs = [(mode, n) for n in (10_000, 100_000) for mode in ("build", "check")]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: _count("spec", *job), jobs), strict=True))
    return {n: counts["check", n] - counts["build", n] for n in (10_000, 100_000)}


def _count(framework: str, mode: str, spans: int) -> int:
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, __file__, "--workload", framework, mode, str(spans),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every process
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stderr
    found = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{out[-2000:]}")
    return int(found.group(1).replace(",", ""))


def measure(framework: str, spans: int) -> dict[str, float]:
    """Instructions per span for each mode (start-up cancelled out by a run with no spans)."""
    jobs = [(mode, n) for mode in MODES for n in (0, spans)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: _count(framework, *job), jobs), strict=True))
    return {mode: (counts[mode, spans] - counts[mode, 0]) / spans for mode in MODES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=5000)
    parser.add_argument("--framework", choices=("agents", "otel", "both"), default="both")
    parser.add_argument("--spec", action="store_true", help="count bench_spec's check at 10k and 100k spans instead")
    parser.add_argument("--workload", nargs=3, metavar=("FRAMEWORK", "MODE", "SPANS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        framework, mode, spans = args.workload
        if framework == "spec":
            spec_workload(mode, int(spans))
        else:
            workload(framework, mode, int(spans))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    if args.spec:
        checked = measure_spec()
        small, large = checked[10_000], checked[100_000]
        print(f"check 10,000 spans: {small:,.0f} instructions; 100,000 spans: {large:,.0f}")
        print(f"instructions(100k) / instructions(10k) = {large / small:.2f} (x10 spans)")
        return
    print(f"instructions per span, {args.spans} spans (valgrind cachegrind; start-up cancelled out)")
    print(f"{'framework':<20} {'framework':>10} {'+run':>8} {'+deferred':>10} {'+build':>8} {'overhead':>9}")
    for framework in ("agents", "otel") if args.framework == "both" else (args.framework,):
        per = measure(framework, args.spans)
        base = per["base"]
        run, deferred, built = per["run"] - base, per["deferred"] - per["run"], per["built"] - per["deferred"]
        label = "OpenAI Agents SDK" if framework == "agents" else "OpenTelemetry SDK"
        total = (per["built"] - base) / base * 100
        print(f"{label:<20} {base:>10,.0f} {run:>8,.0f} {deferred:>10,.0f} {built:>8,.0f} {total:>8.1f}%")


if __name__ == "__main__":
    main()
