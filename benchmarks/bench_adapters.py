"""Overhead of live capture per span, on top of the framework's own tracing cost.

Goal: the adapter adds at most 50% to what the framework itself spends per span.

* OpenTelemetry: an SDK ``TracerProvider`` with no other processor; each
  iteration is one ``start_as_current_span`` with three GenAI attributes,
  ended at once.  Baseline: the SDK alone.  With capture: the same plus
  :class:`~pytest_agenttrace.adapters.otel.AgentTraceSpanProcessor` and an
  active recorder (the span is mapped through the semantic conventions and
  recorded).
* OpenAI Agents SDK: ``function_span`` started and finished inside a
  ``trace``, the SDK's trace provider with no processor (baseline) and with
  :class:`~pytest_agenttrace.adapters.openai_agents.AgentTraceProcessor` and
  an active recorder.

Both are measured side by side in one run, best of ``--repeat`` rounds of
``--spans`` spans, and reported as microseconds per span and the overhead in
percent of the baseline.  A benchmark, not a test:
``python benchmarks/bench_adapters.py [--spans 20000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from pytest_agenttrace.recorder import Recorder

GOAL = 50.0


def _best(run: Callable[[int], None], spans: int, repeat: int) -> float:
    """Best seconds per span over ``repeat`` rounds."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run(spans)
        best = min(best, (time.perf_counter() - start) / spans)
    return best


def bench_otel(spans: int, repeat: int) -> tuple[float, float]:
    from opentelemetry.sdk.trace import TracerProvider

    from pytest_agenttrace.adapters.otel import AgentTraceSpanProcessor

    attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "gen_ai.tool.call.id": "call_1"}

    def make(provider: TracerProvider) -> Callable[[int], None]:
        tracer = provider.get_tracer("bench")

        def run(n: int) -> None:
            for _ in range(n):
                with tracer.start_as_current_span("execute_tool search", attributes=attrs):
                    pass

        return run

    plain = TracerProvider()
    plain._active_span_processor._span_processors = ()  # noqa: SLF001 - nothing but the SDK itself
    captured = TracerProvider()
    captured._active_span_processor._span_processors = ()  # noqa: SLF001
    captured.add_span_processor(AgentTraceSpanProcessor())
    base = _best(make(plain), spans, repeat)

    def with_recorder(n: int) -> None:
        with Recorder("bench"):
            make(captured)(n)

    with_capture = _best(with_recorder, spans, repeat)
    return base, with_capture


def bench_agents(spans: int, repeat: int) -> tuple[float, float]:
    from agents.tracing import function_span, set_trace_processors, trace

    from pytest_agenttrace.adapters.openai_agents import AgentTraceProcessor

    def run(n: int) -> None:
        with trace("bench"):
            for _ in range(n):
                with function_span("search", input='{"q": "x"}') as span:
                    span.span_data.output = "ok"

    set_trace_processors([])
    base = _best(run, spans, repeat)
    set_trace_processors([AgentTraceProcessor()])

    def with_recorder(n: int) -> None:
        with Recorder("bench"):
            run(n)

    try:
        with_capture = _best(with_recorder, spans, repeat)
    finally:
        set_trace_processors([])
    return base, with_capture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = [("OpenTelemetry SDK span", *bench_otel(args.spans, args.repeat))]
    rows.append(("OpenAI Agents SDK span", *bench_agents(args.spans, args.repeat)))
    print(f"{'framework':<24} {'framework µs/span':>18} {'+capture µs/span':>17} {'adapter adds':>13}  goal <= {GOAL:.0f}%")
    for name, base, captured in rows:
        overhead = (captured - base) / base * 100
        verdict = "ok" if overhead <= GOAL else "OVER"
        print(f"{name:<24} {base * 1e6:>18.2f} {captured * 1e6:>17.2f} {overhead:>12.0f}%  {verdict}")


if __name__ == "__main__":
    main()
