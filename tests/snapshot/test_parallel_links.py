"""Order-insensitive siblings whose descendants carry links: no span id may decide their order."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agenttrace.normalize import NormalizeOptions, normalize, to_trace

#: A worker: its output, whether its children sit under an inner "step" agent, and its children as
#: (kind, name, input, index of an earlier child it links to or None).
_Worker = tuple[str, bool, list[tuple[str, str, str | None, int | None]]]


def _trace(workers: list[_Worker], order: list[int], ids: list[int]) -> dict[str, Any]:
    """A "team" agent running ``workers`` in ``order``, all overlapping in time, span ids from ``ids``."""
    fresh = iter(ids)
    spans: list[dict[str, Any]] = [
        {
            "span_id": "root",
            "parent_id": None,
            "kind": "agent",
            "name": "team",
            "agent": "team",
            "start_ns": 0,
            "end_ns": 10_000,
        }
    ]

    def add(parent: str, kind: str, name: str, agent: str, start: int, **fields: Any) -> str:
        span_id = f"s{next(fresh)}"
        spans.append(
            {
                "span_id": span_id,
                "parent_id": parent,
                "kind": kind,
                "name": name,
                "agent": agent,
                "start_ns": start,
                "end_ns": start + 5_000,
                **fields,
            }
        )
        return span_id

    for position, index in enumerate(order):
        output, nested, children = workers[index]
        start = 1 + position
        holder = add("root", "agent", "worker", "worker", start, output={"task": output})
        if nested:
            holder = add(holder, "agent", "step", "step", start)
        made: list[str] = []
        for offset, (kind, name, value, link) in enumerate(children):
            links = [made[link]] if link is not None and link < len(made) else []
            made.append(add(holder, kind, name, "worker", start + 10 + offset, input=value, links=links))
    spans.sort(key=lambda s: (s["start_ns"], s["span_id"]))
    return {"trace_id": "t", "name": "t", "started_at": "2026-11-22T00:00:00Z", "versions": {}, "spans": spans}


_children = st.lists(
    st.tuples(
        st.sampled_from(["tool", "llm"]),
        st.sampled_from(["search", "summarise"]),
        st.sampled_from([None, "docs"]),
        st.one_of(st.none(), st.integers(min_value=0, max_value=2)),
    ),
    min_size=1,
    max_size=3,
)
_workers = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.booleans(), _children), min_size=2, max_size=4)


@settings(max_examples=200, deadline=None)
@given(_workers, st.data(), st.sampled_from(["selector", "overlap"]))
def test_property_permuting_parallel_siblings_with_links_gives_the_same_normal_form(
    workers: list[_Worker], data: st.DataObject, how: str
) -> None:
    size = 1 + sum(1 + nested + len(children) for _, nested, children in workers)
    order = data.draw(st.permutations(range(len(workers))))
    # Ids in start order (as the recorder gives them, so a permutation renumbers) or in any order.
    ids = data.draw(st.one_of(st.just(list(range(size))), st.permutations(range(size))))
    if how == "selector":
        options = NormalizeOptions(parallel=("agent[name=team]",))
    else:
        options = NormalizeOptions(overlap_parallel=True)
    recorded = _trace(workers, list(range(len(workers))), list(range(size)))
    permuted = _trace(workers, order, ids)
    once = normalize(recorded, options)
    assert normalize(permuted, options) == once
    assert normalize(to_trace(once), options) == once


def test_gather_order_does_not_matter_when_workers_link_their_own_tool_calls() -> None:
    # The audit's case: two workers, each a search then a summary linking it; only which sleeps first differs.
    workers: list[_Worker] = [
        ("a", False, [("tool", "search", "docs", None), ("llm", "summarise", None, 0)]),
        ("b", False, [("tool", "search", "docs", None), ("llm", "summarise", None, 0)]),
    ]
    options = NormalizeOptions(overlap_parallel=True)
    first = normalize(_trace(workers, [0, 1], [0, 1, 2, 3, 4, 5, 6]), options)
    second = normalize(_trace(workers, [1, 0], [0, 1, 2, 3, 4, 5, 6]), options)
    assert second == first
    assert [w["output"] for w in first["spans"][0]["children"]] == [{"task": "a"}, {"task": "b"}]


def test_workers_that_differ_only_in_their_links_are_still_ordered_by_content() -> None:
    # Without ids, a link still names its target's kind and name: a summary of the search is not one of nothing.
    workers: list[_Worker] = [
        ("a", False, [("tool", "search", "docs", None), ("llm", "summarise", None, 0)]),
        ("a", False, [("tool", "search", "docs", None), ("llm", "summarise", None, None)]),
    ]
    options = NormalizeOptions(parallel=("agent[name=team]",))
    first = normalize(_trace(workers, [0, 1], [0, 1, 2, 3, 4, 5, 6]), options)
    assert normalize(_trace(workers, [1, 0], [0, 1, 2, 3, 4, 5, 6]), options) == first


def test_workers_that_link_different_calls_of_one_name_are_ordered_by_which_call() -> None:
    workers: list[_Worker] = [
        ("b", False, [("llm", "search", "docs", None), ("llm", "search", "docs", None), ("tool", "summarise", None, i)])
        for i in (0, 1)
    ]
    options = NormalizeOptions(parallel=("agent[name=team]",))
    first = normalize(_trace(workers, [0, 1], list(range(9))), options)
    assert normalize(_trace(workers, [1, 0], list(range(9))), options) == first
