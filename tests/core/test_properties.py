"""Property tests of the foundation: round trips, schema validity, parents under concurrency."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytest_agenttrace as at
from pytest_agenttrace.model import Trace
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.store import load_trace, save_trace, validate_trace_dict
from pytest_agenttrace.strategies import json_values, traces


@settings(max_examples=30)
@given(traces())
def test_generated_traces_are_schema_valid(trace: Trace) -> None:
    validate_trace_dict(trace.to_dict())


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(traces(max_spans=25, dataflow=True))
def test_dataflow_traces_are_valid_and_every_pack_checks_them(trace: Trace) -> None:
    from pytest_agenttrace.spec import check_trace

    validate_trace_dict(trace.to_dict())
    positions = {s.span_id: n for n, s in enumerate(trace.spans)}
    assert all(positions[link] < positions[s.span_id] for s in trace.spans for link in s.links)
    result = check_trace(trace, {"extends": ["failure-modes", "memory-safety", "delegation-hygiene"]})
    for violation in result.violations:
        assert set(violation.spans) <= set(positions)


@pytest.mark.parametrize("detector", ["cascading_error", "context_pollution", "lost_update", "deadlock"])
def test_dataflow_traces_reach_the_lineage_memory_and_wait_detectors(detector: str) -> None:
    """Each of these detectors fires on some drawn trace (without dataflow none of them could)."""
    from hypothesis import Phase, find

    from pytest_agenttrace.spec import check_trace

    spec = {"rules": [{"id": detector, "detect": detector}]}
    found = find(
        traces(min_spans=4, max_spans=25, dataflow=True),
        lambda trace: bool(check_trace(trace, spec).violations),
        settings=settings(max_examples=3000, database=None, derandomize=True, phases=[Phase.generate]),
    )
    assert check_trace(found, spec).violations


@settings(max_examples=30)
@given(traces())
def test_json_round_trip_is_identity(trace: Trace) -> None:
    assert Trace.from_dict(json.loads(json.dumps(trace.to_dict()))) == trace


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(trace=traces(max_spans=15))
def test_file_round_trip_is_identity(tmp_path: Path, trace: Trace) -> None:
    assert load_trace(save_trace(trace, tmp_path / "t.json"), validate=True) == trace


@settings(max_examples=30)
@given(traces())
def test_generated_traces_keep_recording_invariants(trace: Trace) -> None:
    starts = [s.start_ns for s in trace.spans]
    assert starts == sorted(starts)
    for span in trace.spans:
        parent = trace.parent(span)
        if parent is not None:
            assert parent.start_ns <= span.start_ns <= span.end_ns <= parent.end_ns
            expected_agent = span.name if span.kind == "agent" else parent.agent
            assert span.agent == expected_agent


# A random program of nested async agents: each node is (agent name, children, yields before each child).
programs = st.recursive(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.just(()), st.integers(0, 2)),
    lambda kids: st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.lists(kids, max_size=4).map(tuple), st.integers(0, 2)),
    max_leaves=20,
)


async def _run(node: tuple, label: str) -> None:  # type: ignore[type-arg]
    name, children, yields = node
    with at.agent(f"{name}:{label}"):
        for _ in range(yields):
            await asyncio.sleep(0)
        with at.tool("step", input={"label": label}):
            await asyncio.sleep(0)
        await asyncio.gather(*(_run(child, f"{label}.{i}") for i, child in enumerate(children)))


@settings(max_examples=40, deadline=None)
@given(programs)
def test_parents_are_correct_under_random_async_interleavings(program: tuple) -> None:  # type: ignore[type-arg]
    rec = Recorder("prop")
    with rec.activate():
        asyncio.run(_run(program, "0"))
    trace = rec.finish()
    for span in trace.spans:
        label = span.agent.split(":")[1] if span.agent else None
        assert label is not None
        parent = trace.parent(span)
        if span.kind == "tool":
            assert span.input == {"label": label}
            assert parent is not None and parent.kind == "agent" and parent.agent == span.agent
        elif parent is not None:
            # an agent's parent is the agent whose label is its label minus the last component
            assert parent.agent is not None and parent.agent.split(":")[1] == label.rsplit(".", 1)[0]
        else:
            assert label == "0"
        assert span.status == "ok"


@given(json_values)
def test_recorded_values_survive_the_file_format(value: object) -> None:
    rec = Recorder("v")
    with rec.activate(), at.tool("t", input=value) as t:
        t.set_output(value)
    trace = rec.finish()
    validate_trace_dict(trace.to_dict())
    assert Trace.from_dict(json.loads(json.dumps(trace.to_dict()))) == trace
