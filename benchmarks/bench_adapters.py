"""Overhead of live capture per span, on top of the framework's own tracing cost.

Goal: the adapter adds at most 50% to what the framework itself spends per span.

* OpenTelemetry: an SDK ``TracerProvider`` with no other processor; each
  iteration is one ``start_as_current_span`` with three GenAI attributes
  (each span its own tool call id, as in a real run, new in every round),
  ended at once.
  Baseline: the SDK alone.  With capture: the same plus
  :class:`~pytest_agenttrace.adapters.otel.AgentTraceSpanProcessor` and an
  active recorder (the span is mapped through the semantic conventions and
  recorded).
* OpenAI Agents SDK: ``function_span`` (each with its own JSON arguments)
  started and finished inside a ``trace``, the SDK's trace provider with no
  processor (baseline) and with
  :class:`~pytest_agenttrace.adapters.openai_agents.AgentTraceProcessor` and
  an active recorder.

Every adapter is installed first, as the pytest plugin does by default
(``--agenttrace-capture=auto``), so each span pays for parenthood across
all frameworks; ``--only-measured-adapter`` leaves the others out.

Both are measured side by side in one run (CPU time of this process, rounds
alternating between the set-ups), best of ``--repeat`` rounds of
``--spans`` spans, and reported as microseconds per span and the overhead in
percent of the baseline, twice: *in run* is what the traced program pays
while it runs (start, parenthood, recording; most semantic mapping is
deferred), *+deferred mapping* adds the mapping the adapters do when the
trace is built (the recorder's finalizers, timed apart), so the total cost
of capture is shown too: everything the adapter spends for a span to end up
mapped in the trace.  After each round the last span is checked to be mapped
in full by then.  The total also counts the recorder turning the captured
spans into the finished trace (a native span pays that as well, but without
it a captured span is not in any trace yet).  Two rows for information
follow: both sides exporting every OpenTelemetry span to memory, and a
processor that only starts and ends a full recorder span per OpenTelemetry
span (no mapping, no parenthood): what recording a span at once costs in
that place (the adapters only reserve a span there and fill it in at the
build).  A benchmark, not a
test: ``python benchmarks/bench_adapters.py [--spans 20000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

try:
    from pytest_agenttrace._gc import collector_paused
except ImportError:  # an older version of the package, measured against this one
    from pytest_agenttrace.store import gc_paused as collector_paused  # type: ignore[no-redef]
from pytest_agenttrace.recorder import Recorder, SpanHandle, active_recorder

GOAL = 50.0


_clock = time.process_time  # CPU time of this process: other processes' load does not count


def _measure(
    base: Callable[[int], None],
    captured: Callable[[int], None],
    spans: int,
    repeat: int,
    check: Callable[[SpanHandle], None],
    *,
    finalizers: bool = True,
) -> tuple[float, float, float]:
    """Best ``(framework, +capture in run, +capture with deferred mapping)`` seconds per span.

    Rounds alternate between the two set-ups so drifting machine load hits both
    alike.  The adapters map most spans when the trace is built (recorder
    finalizers), not while the agent runs; that work is timed apart and added
    for the total.  ``check`` then looks at the last span before anything
    else runs: it must be mapped in full already, so no mapping was left
    outside the timed sections.
    """
    best_base = best_run = best_total = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = _clock()
        base(spans)
        best_base = min(best_base, (_clock() - start) / spans)
        gc.collect()
        rec = Recorder("bench")
        with rec:
            start = _clock()
            captured(spans)
            ran = _clock() - start
        if finalizers and not rec._finalizers:
            raise SystemExit("the adapter registered no finalizer: the benchmark no longer sees its deferred mapping")
        start = _clock()
        with collector_paused():  # the deferred mapping, as Recorder.finish runs it first (collector paused)
            rec.run_finalizers()
        deferred = _clock() - start
        last = rec.handle(str(spans))
        if last is None:
            raise SystemExit(f"expected {spans} recorded spans")
        check(last)
        start = _clock()
        rec.finish()  # freezing the spans into the trace: part of what a captured span costs
        built = _clock() - start
        best_run = min(best_run, ran / spans)
        best_total = min(best_total, (ran + deferred + built) / spans)
    return best_base, best_run, best_total


def _expect(handle: SpanHandle, **fields: Any) -> None:
    found = {name: getattr(handle, name) for name in fields}
    if found != fields:
        raise SystemExit(f"the captured span is not mapped as expected: {found} != {fields}")


def bench_otel(spans: int, repeat: int, *, exporting: bool = False) -> tuple[float, float, float]:
    """``exporting``: both set-ups also export every span to memory (SimpleSpanProcessor +
    InMemorySpanExporter), as an instrumented application that already traces somewhere does."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from pytest_agenttrace.adapters.otel import AgentTraceSpanProcessor

    # Every span its own tool call id, as in a real run, new in every round too (an id seen in an
    # earlier round is known clean and skips the sanitiser's scan, which no real run gets for its
    # ids). Made before the timing, alike for both sides.
    rounds = iter(
        [
            [
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "search",
                    "gen_ai.tool.call.id": f"call_{r:02d}_{i:06d}",  # one length in every round
                }
                for i in range(spans)
            ]
            for r in range(2 * repeat)
        ]
    )
    last = [""]

    def make(provider: TracerProvider) -> Callable[[int], None]:
        tracer = provider.get_tracer("bench")
        exporter = exporters[id(provider)]

        def run(n: int) -> None:
            attrs = next(rounds)
            last[0] = attrs[n - 1]["gen_ai.tool.call.id"]
            for attributes in attrs[:n]:
                with tracer.start_as_current_span("execute_tool search", attributes=attributes):
                    pass
            exporter.clear()  # both set-ups alike: memory stays flat between rounds

        return run

    plain = TracerProvider()
    plain._active_span_processor._span_processors = ()
    captured = TracerProvider()
    captured._active_span_processor._span_processors = ()
    exporters = {id(plain): InMemorySpanExporter(), id(captured): InMemorySpanExporter()}
    if exporting:
        for provider in (plain, captured):
            provider.add_span_processor(SimpleSpanProcessor(exporters[id(provider)]))
    captured.add_span_processor(AgentTraceSpanProcessor())

    def check(handle: SpanHandle) -> None:
        expected = {"operation": "execute_tool", "tool_call_id": last[0]}  # the id of the round just run
        _expect(handle, kind="tool", name="search", attributes=expected)

    return _measure(make(plain), make(captured), spans, repeat, check)


def bench_agents(spans: int, repeat: int) -> tuple[float, float, float]:
    from agents.tracing import function_span, set_trace_processors, trace

    from pytest_agenttrace.adapters.openai_agents import AgentTraceProcessor

    processor = AgentTraceProcessor()
    # Every call its own arguments, as in a real run, new in every round (made before the timing,
    # alike for both sides).
    # The same length in every round (the best round must not be the one with the shortest values).
    rounds = iter([[f'{{"q": "x{r:02d}-{i:06d}"}}' for i in range(spans)] for r in range(2 * repeat)])
    last = [""]

    def run(n: int) -> None:
        inputs = next(rounds)
        last[0] = inputs[n - 1]
        with trace("bench"):
            for arguments in inputs[:n]:
                with function_span("search", input=arguments) as span:
                    span.span_data.output = "ok"

    def base(n: int) -> None:
        set_trace_processors([])
        run(n)

    def captured(n: int) -> None:
        set_trace_processors([processor])
        run(n)

    def check(handle: SpanHandle) -> None:
        _expect(handle, kind="tool", name="search", input=json.loads(last[0]), output="ok")

    try:
        return _measure(base, captured, spans, repeat, check)
    finally:
        set_trace_processors([])


def bench_floor_otel(spans: int, repeat: int) -> tuple[float, float, float]:
    """Information: a processor that only records each span (start a full handle, end it), no mapping.

    What recording a span at once costs in that place; the adapters reserve
    the span instead and fill it in when the trace is built.
    """
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "gen_ai.tool.call.id": "call_1"}

    class RecordOnly(SpanProcessor):
        def __init__(self) -> None:
            self.handles: dict[int, SpanHandle] = {}

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            rec = active_recorder()
            if rec is not None:
                self.handles[span.get_span_context().span_id] = rec.start_child("tool", "search", None)

        def on_end(self, span: Any) -> None:
            handle = self.handles.pop(span.get_span_context().span_id, None)
            if handle is not None:
                handle.end()

    def make(provider: TracerProvider) -> Callable[[int], None]:
        tracer = provider.get_tracer("bench")

        def run(n: int) -> None:
            for _ in range(n):
                with tracer.start_as_current_span("execute_tool search", attributes=attrs):
                    pass

        return run

    plain = TracerProvider()
    plain._active_span_processor._span_processors = ()
    recording = TracerProvider()
    recording._active_span_processor._span_processors = (RecordOnly(),)
    return _measure(make(plain), make(recording), spans, repeat, lambda handle: None, finalizers=False)


def install_all() -> None:
    """Hook every framework, as the plugin's default ``--agenttrace-capture=auto`` does.

    Each adapter then takes part in parenthood (a parent provider per
    framework is asked at every span start), which a span pays for even when
    only one framework produces spans.
    """
    from pytest_agenttrace.adapters import langchain, openai_agents, otel

    otel.install()
    openai_agents.install()
    langchain.install()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="measure everything this many times and summarise the goal's rows (the noise between runs is a few points)",
    )
    parser.add_argument(
        "--only-measured-adapter",
        action="store_true",
        help="do not install the other adapters (by default all are, as under pytest)",
    )
    args = parser.parse_args()
    if not args.only_measured_adapter:
        install_all()
    print(f"goal: the adapter adds at most {GOAL:.0f}% to the framework's own per-span cost")
    totals: dict[str, list[float]] = {}
    for run in range(args.runs):
        rows = [("OpenTelemetry SDK span", *bench_otel(args.spans, args.repeat))]
        rows.append(("OpenAI Agents SDK span", *bench_agents(args.spans, args.repeat)))
        # Information, not the goal's set-up: an application that already exports its spans somewhere.
        rows.append(("OTel span, exporting (*)", *bench_otel(args.spans, args.repeat, exporting=True)))
        rows.append(("OTel, record only (**)", *bench_floor_otel(args.spans, args.repeat)))
        if args.runs > 1:
            print(f"run {run + 1} of {args.runs}")
        print(
            f"{'framework':<24} {'framework µs':>13} {'+capture, in run':>17} {'adds':>6} "
            f"{'+deferred + build':>18} {'adds':>6}"
        )
        for name, base, in_run, total in rows:
            run_pct = (in_run - base) / base * 100
            total_pct = (total - base) / base * 100
            totals.setdefault(name, []).append(total_pct)
            print(
                f"{name:<24} {base * 1e6:>13.2f} {in_run * 1e6:>17.2f} {run_pct:>5.0f}% "
                f"{total * 1e6:>18.2f} {total_pct:>5.0f}%"
            )
    print(
        "(*) information, not the goal's set-up: both sides also export every span to memory "
        "(SimpleSpanProcessor + InMemorySpanExporter, as bench_recording measures the OpenTelemetry SDK)"
    )
    print(
        "(**) information: a processor that only starts and ends a full recorder span per OpenTelemetry span "
        "(no mapping, no parenthood): recording a span at once, which the adapters avoid by reserving it"
    )
    if args.runs > 1:
        print(f"total overhead over {args.runs} runs (min / median / max), goal {GOAL:.0f}%:")
        for name in ("OpenTelemetry SDK span", "OpenAI Agents SDK span"):
            values = sorted(totals[name])
            verdict = (
                "met in every run"
                if values[-1] <= GOAL
                else "met by the median"
                if statistics.median(values) <= GOAL
                else "not met"
            )
            print(f"  {name:<24} {values[0]:.0f}% / {statistics.median(values):.0f}% / {values[-1]:.0f}%  -> {verdict}")


if __name__ == "__main__":
    main()
