"""Tree queries on the read-only model."""

from __future__ import annotations

import pytest

from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.recorder import Recorder


@pytest.fixture(scope="module")
def trace() -> Trace:
    rec = Recorder("t")
    with rec.activate(), rec.agent("orchestrator"):
        with rec.delegate(to="researcher", allowed_tools=["web_search"]):
            with rec.agent("researcher"):
                with rec.tool("web_search", input={"q": "x"}):
                    pass
                with rec.retrieval("docs", source="kb"):
                    pass
                with rec.memory_write("notes", "n"):
                    pass
                with rec.delegate(to="helper"):
                    with rec.agent("helper"), rec.memory_read("notes"):
                        pass
        with rec.llm("final", model="m"):
            pass
    return rec.finish()


def test_children_parent_ancestors_path(trace: Trace) -> None:
    search = trace.find("tool", name="web_search")[0]
    assert [s.name for s in trace.ancestors(search)] == ["researcher", "researcher", "orchestrator"]
    assert [s.kind for s in trace.path(search)] == ["agent", "delegation", "agent", "tool"]
    assert trace.depth(search) == 3
    assert [s.name for s in trace.children(trace.roots[0])] == ["researcher", "final"]
    assert trace.parent(trace.roots[0]) is None
    assert trace.children(None) == trace.roots


def test_descendants_and_walk(trace: Trace) -> None:
    root = trace.roots[0]
    assert len(trace.descendants(root)) == len(trace) - 1
    walked = [(s.name, d) for s, d in trace.walk()]
    assert walked[0] == ("orchestrator", 0)
    assert walked[-1] == ("final", 1)
    assert sorted(s.span_id for s, _ in trace.walk()) == sorted(s.span_id for s in trace.spans)


def test_find_by_kind_name_agent(trace: Trace) -> None:
    assert [s.name for s in trace.find(agent="helper")] == ["helper", "notes"]
    assert [s.kind for s in trace.find("agent")] == ["agent", "agent", "agent"]
    assert trace.find("tool", agent="orchestrator") == []
    assert len(trace.find()) == len(trace)
    assert trace.agents == ["orchestrator", "researcher", "helper"]


def test_under_scope_and_footprint(trace: Trace) -> None:
    outer = trace.delegations[0]
    inner = trace.delegations[1]
    under = trace.under_scope(outer.span_id)
    assert inner in under and all(outer.span_id in s.scope_path for s in under)
    fp = trace.footprint(outer.span_id)
    assert fp.tools == ("web_search",)
    assert fp.agents == ("researcher", "helper")
    assert fp.memory_keys_written == ("notes",) and fp.memory_keys_read == ("notes",)
    assert fp.data_sources == ("kb",)
    assert fp.llm_calls == 0
    assert fp.to_dict()["spans"] == [s.span_id for s in under]
    assert trace.footprint(inner.span_id).agents == ("helper",)


def test_span_get_field_then_attributes(trace: Trace) -> None:
    deleg = trace.delegations[0]
    assert deleg.get("to_agent") == "researcher" == deleg.get("attributes.to_agent")
    assert deleg.get("allowed_tools.0") == "web_search"
    assert deleg.get("name") == "researcher"
    assert deleg.get("nope", "missing") == "missing"
    assert deleg.get("duration") == deleg.end_ns - deleg.start_ns
    assert deleg.to_agent == "researcher" and deleg.from_agent == "orchestrator"


@pytest.mark.parametrize("index", ["\u00b2", "9" * 5000, "99999999999999999999", "-1", "1_0"])
def test_span_get_with_a_list_index_that_is_no_index_is_the_default(trace: Trace, index: str) -> None:
    assert trace.delegations[0].get(f"allowed_tools.{index}", "missing") == "missing"


def test_orphans_become_roots() -> None:
    spans = (
        Span(span_id="1", parent_id="ghost", kind="tool", name="t"),
        Span(span_id="2", parent_id="1", kind="tool", name="u"),
    )
    t = Trace(trace_id="x", name="n", started_at="s", spans=spans)
    assert [s.span_id for s in t.roots] == ["1"]
    assert t.depth("2") == 1


def test_round_trip_dict(trace: Trace) -> None:
    assert Trace.from_dict(trace.to_dict()) == trace
