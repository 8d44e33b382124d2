"""Import of a 100k-span OTLP JSON file (goal: under 3 s).

Two files are generated in a temporary directory and imported with
``agenttrace``'s importer, end to end (read, parse, map, assemble the tree):

* ``foreign``: spans as an OpenTelemetry GenAI / OpenInference instrumented
  agent emits them (agent -> llm + tool, token usage, tool call ids, input and
  output values), mapped through the semantic conventions;
* ``roundtrip``: a 100k-span agenttrace trace exported with ``to_otlp`` and read
  back (the exact path, no re-sanitising).

Run: ``python benchmarks/bench_import.py [--spans 100000] [--repeat 3]``.
Prints the best wall-clock and CPU time of ``--repeat`` runs per file; a
benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_agenttrace.adapters.importing import import_trace
from pytest_agenttrace.adapters.otlp import encode_any_value, to_otlp
from pytest_agenttrace.model import Span, Trace

BASE_NS = 1_780_000_000_000_000_000


def _attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": encode_any_value(v)} for k, v in values.items()]


def foreign_otlp(count: int) -> dict[str, Any]:
    """``count`` GenAI/OpenInference spans: agents each with llm and tool children."""
    spans = []
    trace_id = "5b8efff798038103d269b633813fc60c"
    agent_id = ""
    for i in range(count):
        span_id = f"{i + 1:016x}"
        start = BASE_NS + i * 1000
        role = i % 10
        if role == 0:
            agent_id = span_id
            name, parent = f"invoke_agent worker{i % 7}", ""
            attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"worker{i % 7}"}
        elif role % 2:
            name, parent = "chat gpt-4o", agent_id
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 120 + i % 50,
                "gen_ai.usage.output_tokens": 30,
                "input.value": json.dumps([{"role": "user", "content": f"step {i}"}]),
                "input.mime_type": "application/json",
                "output.value": f"answer {i}",
            }
        else:
            name, parent = "execute_tool search", agent_id
            attrs = {
                "openinference.span.kind": "TOOL",
                "gen_ai.tool.name": "search",
                "gen_ai.tool.call.id": f"call_{i}",
                "input.value": json.dumps({"query": f"q{i % 13}"}),
                "output.value": "3 results",
            }
        spans.append(
            {
                "traceId": trace_id,
                "spanId": span_id,
                "parentSpanId": parent,
                "name": name,
                "kind": 1,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + (9000 if role == 0 else 900)),
                "attributes": _attrs(attrs),
                "status": {"code": 1},
            }
        )
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs({"service.name": "bench-agent"})},
                "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}],
            }
        ]
    }


def native_trace(count: int) -> Trace:
    """A ``count``-span agenttrace trace of the same shape."""
    spans = []
    agent = ""
    for i in range(count):
        role = i % 10
        if role == 0:
            agent = str(i + 1)
            spans.append(
                Span(
                    span_id=agent,
                    parent_id=None,
                    kind="agent",
                    name=f"worker{i % 7}",
                    agent=f"worker{i % 7}",
                    start_ns=i * 1000,
                    end_ns=i * 1000 + 9000,
                )
            )
            continue
        kind = "llm" if role % 2 else "tool"
        attributes: dict[str, Any] = (
            {"model": "gpt-4o", "usage": {"input_tokens": 120, "output_tokens": 30}}
            if kind == "llm"
            else {"tool_call_id": f"call_{i}"}
        )
        spans.append(
            Span(
                span_id=str(i + 1),
                parent_id=agent,
                kind=kind,
                name="chat" if kind == "llm" else "search",
                agent=f"worker{(i // 10) % 7}",
                start_ns=i * 1000,
                end_ns=i * 1000 + 900,
                input={"query": f"q{i % 13}"},
                output="3 results",
                attributes=attributes,
            )
        )
    return Trace(
        trace_id="4bf92f3577b34da6", name="bench", started_at="2026-06-01T00:00:00.000000Z", spans=tuple(spans)
    )


def best_of(repeat: int, path: Path) -> tuple[float, float, int]:
    """Best wall-clock and CPU seconds of ``repeat`` imports, and the span count."""
    wall, cpu, spans = float("inf"), float("inf"), 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        trace = import_trace(path, "otlp")
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
        assert isinstance(trace, Trace)
        spans = len(trace)
    return wall, cpu, spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "foreign": Path(tmp) / "foreign.otlp.json",
            "roundtrip": Path(tmp) / "roundtrip.otlp.json",
        }
        files["foreign"].write_text(json.dumps(foreign_otlp(args.spans)))
        files["roundtrip"].write_text(json.dumps(to_otlp(native_trace(args.spans))))
        print(f"OTLP JSON import, {args.spans} spans, best of {args.repeat} (goal: < 3 s)")
        print("  (CPU time is shown too: on a shared machine wall-clock time includes waiting for a core)")
        for label, path in files.items():
            wall, cpu, spans = best_of(args.repeat, path)
            size = path.stat().st_size / 1e6
            print(
                f"  {label:<10} {size:6.1f} MB  {spans} spans  wall {wall:5.2f} s  cpu {cpu:5.2f} s"
                f"  {wall / spans * 1e6:5.1f} us/span"
            )


if __name__ == "__main__":
    main()
