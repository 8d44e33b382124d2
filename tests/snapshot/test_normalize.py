"""Normalisation rules, the snapshot file format and their properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agenttrace.exceptions import InputError, TraceFileError
from pytest_agenttrace.model import Trace
from pytest_agenttrace.normalize import NormalizeOptions, normalize, parse_duration, to_trace
from pytest_agenttrace.snapfile import dumps, loads
from pytest_agenttrace.strategies import traces

from .helpers import mutate, pipeline, span


def nodes(normalized: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node in depth-first order."""
    out: list[dict[str, Any]] = []
    stack = list(reversed(normalized["spans"]))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.get("children", ())))
    return out


def by_name(normalized: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in nodes(normalized) if n["name"] == name)


def test_ids_timestamps_and_metadata_are_dropped_and_links_become_references() -> None:
    n = normalize(pipeline())
    assert set(n) == {"format", "level", "versions", "spans"}
    text = dumps(n)
    for volatile in ('"span_id"', '"start_ns"', '"end_ns"', "git_commit", "t1"):
        assert volatile not in text
    assert by_name(n, "plan")["links"] == ["tool:web_search#1"]


def test_normalisation_ignores_ids_and_times() -> None:
    data = pipeline()
    shifted = mutate(data)
    for s in shifted["spans"]:
        s["span_id"] = "x" + s["span_id"]
        s["parent_id"] = None if s["parent_id"] is None else "x" + s["parent_id"]
        s["scope"] = None if s.get("scope") is None else "x" + s["scope"]
        s["links"] = ["x" + link for link in s.get("links", [])]
        s["start_ns"] = s["start_ns"] * 7 + 3
        s["end_ns"] = s["end_ns"] * 7 + 3
    assert normalize(shifted) == normalize(data)


def test_inherited_scope_is_implicit_but_a_foreign_scope_is_shown() -> None:
    data = pipeline()
    assert "scope" not in by_name(normalize(data), "web_search")
    data["spans"][5]["scope"] = "2"  # the reporter claims the coder's scope without being under it
    assert by_name(normalize(data), "reporter")["scope"] == "delegation:coder#1"


def test_levels_keep_what_they_document() -> None:
    structure = normalize(pipeline(), NormalizeOptions(level="structure"))
    delegation = by_name(structure, "coder")
    assert delegation["context_keys"] == ["diff_summary"]
    assert "context" not in delegation
    assert delegation["attributes"]["to_agent"] == "coder"
    plan = by_name(structure, "plan")
    assert plan["attributes"] == {"model": "fake-1"}
    assert "output" not in plan and "input" not in by_name(structure, "web_search")

    io = normalize(pipeline())
    assert by_name(io, "coder")["context"] == {"diff_summary": "fix"}
    assert by_name(io, "plan")["attributes"]["usage"] == {"input_tokens": 10, "output_tokens": 5}
    assert by_name(io, "web_search")["input"] == {"q": "bug"}

    data = pipeline()
    data["spans"][3]["events"] = [{"name": "retry", "time_ns": 17, "attributes": {"n": 1}}]
    assert "events" not in by_name(normalize(data), "web_search")
    full = normalize(data, NormalizeOptions(level="full"))
    assert by_name(full, "web_search")["events"] == [{"name": "retry", "attributes": {"n": 1}}]


def test_volatile_attributes_are_dropped_by_default_and_can_be_included() -> None:
    assert "attributes" not in by_name(normalize(pipeline()), "web_search")
    kept = normalize(pipeline(), NormalizeOptions(include=("attributes.tool_call_id",)))
    assert by_name(kept, "web_search")["attributes"] == {"tool_call_id": "call_81x"}


@pytest.mark.parametrize(
    ("options", "name", "field", "expected"),
    [
        (NormalizeOptions(exclude=("attributes.usage",)), "plan", "attributes", {"model": "fake-1", "confidence": 0.8}),
        (
            NormalizeOptions(exclude=("attributes.usage.input_tokens",)),
            "plan",
            "attributes",
            {"model": "fake-1", "usage": {"output_tokens": 5}, "confidence": 0.8},
        ),
        (NormalizeOptions(exclude=("llm:output",)), "plan", "output", None),
        (NormalizeOptions(exclude=("tool:output",)), "plan", "output", "patch"),
        (NormalizeOptions(exclude=("attributes.*",)), "plan", "attributes", None),
        (
            NormalizeOptions(level="structure", include=("attributes.usage",)),
            "plan",
            "attributes",
            {"model": "fake-1", "usage": {"input_tokens": 10, "output_tokens": 5}},
        ),
        (NormalizeOptions(level="structure", include=("output",)), "plan", "output", "patch"),
        (NormalizeOptions(include=("output",), exclude=("output",)), "plan", "output", None),
    ],
)
def test_include_and_exclude_paths(options: NormalizeOptions, name: str, field: str, expected: Any) -> None:
    assert by_name(normalize(pipeline(), options), name).get(field) == expected


def test_exclude_star_reaches_into_lists_for_volatile_ids() -> None:
    """A provider's random tool-call ids sit in a list of the llm output (as the LangChain adapter records it)."""
    data = pipeline()
    calls = [{"id": "call_Xk81", "name": "web_search", "args": {"q": "bug"}}, {"id": "call_9Qz", "name": "read_file"}]
    data["spans"][4]["output"] = {"role": "assistant", "tool_calls": calls}
    options = NormalizeOptions(exclude=("llm:output.tool_calls.*.id",))
    out = by_name(normalize(data, options), "plan")["output"]
    assert out == {
        "role": "assistant",
        "tool_calls": [{"name": "web_search", "args": {"q": "bug"}}, {"name": "read_file"}],
    }
    assert calls[0]["id"] == "call_Xk81"  # the trace itself is untouched
    other = pipeline()
    other["spans"][4]["output"] = {"role": "assistant", "tool_calls": [dict(c, id=c["id"][::-1]) for c in calls]}
    assert normalize(other, options) == normalize(data, options)
    data["spans"][4]["output"] = [{"id": "a", "text": "x"}]
    assert by_name(normalize(data, NormalizeOptions(exclude=("output.*.id",))), "plan")["output"] == [{"text": "x"}]


def test_normalisation_does_not_modify_the_trace() -> None:
    trace = Trace.from_dict(pipeline())
    before = trace.to_dict()
    normalize(trace, NormalizeOptions(level="structure", include=("attributes.usage.input_tokens",)))
    normalize(trace, NormalizeOptions(exclude=("attributes.usage.input_tokens",)))
    assert trace.to_dict() == before


def test_duration_buckets() -> None:
    options = NormalizeOptions.build(duration_buckets=["10ns", "1us"])
    n = normalize(pipeline(), options)
    assert by_name(n, "web_search")["duration"] == "<10ns"
    assert by_name(n, "coder")["duration"] == "10ns-1us"
    data = pipeline()
    data["spans"][0]["end_ns"] = 5_000
    assert by_name(normalize(data, options), "orchestrator")["duration"] == ">=1us"
    assert "duration" not in by_name(normalize(pipeline()), "orchestrator")


@pytest.mark.parametrize(
    ("text", "ns"), [("10ms", 10_000_000), ("1.5s", 1_500_000_000), ("2m", 120_000_000_000), ("7ns", 7)]
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("bad", ["10", "ms", "10 hours", "-1s"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(InputError, match="duration"):
        parse_duration(bad)


def test_bad_options_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown snapshot level"):
        NormalizeOptions(level="everything")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="dotted path"):
        NormalizeOptions(exclude=("attributes..x",))
    with pytest.raises(InputError, match="increasing"):
        NormalizeOptions.build(duration_buckets=["1s", "10ms"])


def _two_searches(order: tuple[str, str], *, overlap: bool) -> dict[str, Any]:
    data = pipeline()
    first, second = order
    end = 500 if overlap else 45
    data["spans"][3:4] = [
        span(4, 3, "tool", "web_search", "coder", input={"q": first}, start_ns=40, end_ns=end),
        span(7, 3, "tool", "web_search", "coder", input={"q": second}, start_ns=50, end_ns=60),
    ]
    data["spans"][4 + 1]["links"] = []
    return data


def test_parallel_selector_makes_sibling_order_irrelevant() -> None:
    a, b = _two_searches(("a", "b"), overlap=False), _two_searches(("b", "a"), overlap=False)
    assert normalize(a) != normalize(b)
    options = NormalizeOptions(parallel=("agent[name=coder]",))
    assert normalize(a, options) == normalize(b, options)


def test_overlapping_siblings_are_order_insensitive_when_configured() -> None:
    options = NormalizeOptions(overlap_parallel=True)
    a, b = _two_searches(("a", "b"), overlap=True), _two_searches(("b", "a"), overlap=True)
    assert normalize(a, options) == normalize(b, options)
    sequential_a, sequential_b = _two_searches(("a", "b"), overlap=False), _two_searches(("b", "a"), overlap=False)
    assert normalize(sequential_a, options) != normalize(sequential_b, options)


def test_siblings_stamped_at_one_instant_count_as_overlapping() -> None:
    """A coarse clock (or instant fakes) gives parallel calls one time stamp and no duration."""

    def gathered(order: tuple[str, ...]) -> dict[str, Any]:
        root = {"span_id": "r", "parent_id": None, "kind": "agent", "name": "coder", "start_ns": 0, "end_ns": 9}
        calls = [
            {"span_id": q, "parent_id": "r", "kind": "tool", "name": "web_search", "input": {"q": q}}
            | {"start_ns": 5, "end_ns": 5}
            for q in order
        ]
        return {
            "trace_id": "t",
            "name": "x",
            "started_at": "2024-01-01T00:00:00Z",
            "versions": {},
            "spans": [root, *calls],
        }

    options = NormalizeOptions(overlap_parallel=True)
    assert normalize(gathered(("a", "b")), options) == normalize(gathered(("b", "a")), options)


def test_file_format_is_one_indented_line_per_span_with_a_version_header() -> None:
    text = dumps(normalize(pipeline()))
    lines = text.splitlines()
    assert 'version prompt:summarizer "summarizer@v3#1a2b3c4d"' in lines
    assert 'version config:tools "tools#a1b2c3d4"' in lines
    spans = lines[lines.index("spans") + 1 :]
    assert [line.split(" {")[0] for line in spans] == [
        "- agent orchestrator",
        "  - delegation coder",
        "    - agent coder",
        "      - tool web_search",
        "      - llm plan",
        "  - agent reporter",
    ]
    assert text.endswith("\n")


def test_names_with_spaces_and_quotes_survive_the_file_format() -> None:
    data = pipeline()
    data["spans"][3]["name"] = 'web search "v2" {beta}'
    data["spans"][5]["name"] = ""
    n = normalize(data)
    assert loads(dumps(n)) == n


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("format 1\nlevel io\n", 2, "missing"),
        ("format 2\nspans\n", 1, "not supported"),
        ("format 1\nlevel loud\nspans\n", 2, "unknown level"),
        ("format 1\nspans\n- agent a {not json}\n", 3, "JSON object"),
        ("format 1\nspans\n- agent a\n      - tool t\n", 4, "indented"),
        ("format 1\nspans\nagent a\n", 3, "span line"),
        ("format 1\nwhat is this\nspans\n", 2, "unexpected header"),
        ('format 1\nversion prompt:x {"\nspans\n', 2, "version value"),
    ],
)
def test_malformed_snapshot_files_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(TraceFileError, match=message) as info:
        loads(text, path="golden.agenttrace")
    assert info.value.line == line
    assert "golden.agenttrace" in str(info.value)
    assert "--snapshot-update" in str(info.value)


@settings(max_examples=30, deadline=None)
@given(traces(max_spans=25), st.sampled_from(["structure", "io", "full"]))
def test_property_normalisation_is_idempotent(trace: Trace, level: str) -> None:
    options = NormalizeOptions.build(level=level)
    once = normalize(trace, options)
    assert normalize(to_trace(once), options) == once


@settings(max_examples=30, deadline=None)
@given(traces(max_spans=25))
def test_property_parallel_normalisation_is_idempotent(trace: Trace) -> None:
    options = NormalizeOptions(parallel=("agent",))
    once = normalize(trace, options)
    assert normalize(to_trace(once), options) == once


@settings(max_examples=30, deadline=None)
@given(traces(max_spans=25), st.sampled_from(["structure", "io", "full"]))
def test_property_file_format_round_trips(trace: Trace, level: str) -> None:
    n = normalize(trace, NormalizeOptions.build(level=level))
    assert loads(dumps(n)) == n
