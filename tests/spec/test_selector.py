"""The selector language: grammar tables, semantics and properties against a brute-force reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agenttrace.exceptions import SelectorError
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.spec._selector_tree import Context, _child_of
from pytest_agenttrace.spec.selector import Selector, compile_selector, select

from .spec_helpers import make_trace, node
from .test_index import span_lists


def _span(
    span_id: int,
    parent: int | None,
    kind: str,
    name: str,
    agent: str | None,
    start: int,
    end: int,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "span_id": str(span_id),
        "parent_id": None if parent is None else str(parent),
        "kind": kind,
        "name": name,
        "agent": agent,
        "start_ns": start,
        "end_ns": end,
        **extra,
    }


D3 = {"scope": "3", "scope_path": ["3"]}
SPANS = [
    _span(1, None, "agent", "orchestrator", "orchestrator", 0, 1000),
    _span(
        2,
        1,
        "llm",
        "plan",
        "orchestrator",
        10,
        50,
        attributes={"model": "gpt-4o", "usage": {"input_tokens": 1200}, "confidence": 0.9},
    ),
    _span(
        3,
        1,
        "delegation",
        "coder",
        "orchestrator",
        60,
        600,
        attributes={
            "from_agent": "orchestrator",
            "to_agent": "coder",
            "objective": "fix bug",
            "allowed_tools": ["read_file", "edit_file"],
            "required_context": ["diff_summary"],
        },
        context={"diff_summary": None},
    ),
    _span(4, 3, "agent", "coder", "coder", 61, 599, **D3),
    _span(5, 4, "tool", "read_file", "coder", 70, 80, input={"path": "a.py"}, **D3),
    _span(
        6,
        4,
        "llm",
        "think",
        "coder",
        81,
        90,
        attributes={"usage": {"input_tokens": 150000}, "truncated": True, "dropped_keys": ["plan"]},
        **D3,
    ),
    _span(7, 4, "tool", "edit_file", "coder", 91, 120, input={"path": "a.py"}, **D3),
    _span(
        8,
        4,
        "tool",
        "run_tests",
        "coder",
        121,
        400,
        status="error",
        error={"type": "AssertionError", "message": "1 failed"},
        **D3,
    ),
    _span(9, 4, "tool", "edit_file", "coder", 401, 420, input={"path": "b.py"}, links=["8"], **D3),
    _span(
        10,
        1,
        "handoff",
        "tester",
        "orchestrator",
        610,
        620,
        attributes={"from_agent": "orchestrator", "to_agent": "tester"},
        context={"diff_summary": "fix"},
    ),
    _span(11, 1, "agent", "tester", "tester", 621, 900),
    _span(12, 11, "tool", "run_tests", "tester", 630, 700, attributes={"attempt": 2}),
    _span(
        13,
        11,
        "memory_write",
        "plan",
        "tester",
        701,
        710,
        attributes={"key": "plan", "version": 2, "based_on_version": 1, "valid": False},
    ),
    _span(14, None, "tool", "web_search", None, 905, 950, attributes={"why": "need facts", "count": "3"}),
    _span(15, None, "memory_read", "plan", "reporter", 960, 970, attributes={"key": "plan", "version": 2}),
]
TRACE = Trace.from_dict({"trace_id": "t1", "name": "handmade", "started_at": "2026-11-21T00:00:00Z", "spans": SPANS})


def ids(spans: list[Span]) -> list[str]:
    return [s.span_id for s in spans]


VALID = [
    # kinds and wildcards
    ("tool", "5 7 8 9 12 14"),
    ("span", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"),
    ("*", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"),
    ("memory_write", "13"),
    ("guardrail", ""),
    ("  tool  ", "5 7 8 9 12 14"),
    # equality, typed values, field-then-attributes lookup
    ("tool[name=edit_file]", "7 9"),
    ("tool[name='edit_file']", "7 9"),
    ('tool[ name = "edit_file" ]', "7 9"),
    ("tool[name==edit_file]", "7 9"),
    ("[agent=coder]", "4 5 6 7 8 9"),
    ("tool[agent=null]", "14"),
    ("[scope=null]", "1 2 3 10 11 12 13 14 15"),
    ("[scope=3]", ""),  # span ids are strings: quote a numeric one
    ("[scope='3']", "4 5 6 7 8 9"),
    ("[to_agent=coder]", "3"),
    ("[attributes.to_agent=coder]", "3"),
    ("[valid=false]", "13"),
    ("[valid='false']", ""),
    ("[version=2]", "13 15"),
    ("[version=2.0]", "13 15"),
    ("[version='2']", ""),
    ("[count=3]", ""),  # count is the string "3": a bare number matches numbers only
    ("[count='3']", "14"),
    ('[count="3"]', "14"),
    ("[truncated=true]", "6"),
    ("[status=error]", "8"),
    ("[kind=handoff]", "10"),
    ("[input.path=a.py]", "5 7"),
    ("[error.type=AssertionError]", "8"),
    ("[context.diff_summary=null]", "3"),
    ("[usage.input_tokens=1200]", "2"),
    # list values: '=' means contains
    ("[allowed_tools=edit_file]", "3"),
    ("[links='8']", "9"),
    ("[dropped_keys!=plan]", "1 2 3 4 5 7 8 9 10 11 12 13 14 15"),
    # existence
    ("[why]", "14"),
    ("[usage.input_tokens]", "2 6"),
    ("[context]", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"),  # a span field, null included, always exists
    # != holds on missing values
    ("tool[attempt!=2]", "5 7 8 9 14"),
    ("[to_agent!=coder]", "1 2 4 5 6 7 8 9 10 11 12 13 14 15"),
    # string operators
    ("tool[name^=edit]", "7 9"),
    ("tool[name$=_tests]", "8 12"),
    ("[name*=_fi]", "5 7 9"),
    ("[model*=gpt]", "2"),
    ("[name~='^(read|edit)_']", "5 7 9"),
    ("[name~=^r]", "5 8 12"),
    ("[name~=^[rw]e]", "5 14"),
    ("[name~=e$]", "5 7 9"),
    ("[count^=3]", "14"),
    ("[version~=2]", ""),  # text operators hold only for string values
    ("[version^='2']", ""),
    ("[usage.input_tokens*=12]", ""),
    # numeric comparison (numbers numerically, strings do not compare with numbers)
    ("llm[usage.input_tokens>100000]", "6"),
    ("llm[usage.input_tokens<=1200]", "2"),
    ("[confidence<1]", "2"),
    ("[confidence>=0.9]", "2"),
    ("[count>2]", ""),
    ("[version>1]", "13 15"),
    ("[duration>=200ns]", "1 3 4 8 11"),
    ("tool[duration<0.02us]", "5 9"),
    ("[start_ns>=900][start_ns<960]", "14"),
    ("[name<b]", ""),
    ("[name>=web]", "14"),
    # AND by juxtaposition, OR by comma
    ("tool[agent=coder][name=edit_file]", "7 9"),
    ("tool[status=error], memory_write", "8 13"),
    ("memory_write, tool[status=error], memory_write", "8 13"),
    ("llm , handoff", "2 6 10"),
    # descendant and child combinators
    ("delegation tool", "5 7 8 9"),
    ("delegation[to_agent=coder] tool[name=edit_file]", "7 9"),
    ("agent > tool", "5 7 8 9 12"),
    ("agent[name=coder]>tool", "5 7 8 9"),
    ("agent > agent", "11"),
    ("agent agent", "4 11"),
    ("agent delegation > agent > llm", "6"),
    ("agent > delegation > agent tool[name=run_tests]", "8"),
    ("agent agent tool", "5 7 8 9 12"),
    ("delegation > tool", ""),
    # :first / :last over the selection so far
    ("tool:first", "5"),
    ("tool:last", "14"),
    ("span:first", "1"),
    ("agent[name=coder] > tool:last", "9"),
    ("agent tool:first", "5"),
    ("tool[name=run_tests]:last", "12"),
    ("tool:first[name=edit_file]", ""),
    ("tool:first[name=read_file]", "5"),
    ("tool:last:first", "14"),
    ("agent:first tool", "5 7 8 9 12"),
    ("agent:last tool", "12"),
    ("tool:first, tool:last", "5 14"),
    # :not and :has, nested
    ("agent:not(:has(llm))", "11"),
    ("agent:has(llm)", "1 4"),
    ("agent:has(> llm)", "1 4"),
    ("agent:has(> tool[status=error])", "4"),
    ("agent:has(tool[status=error])", "1 4"),
    ("*:has(> memory_write)", "11"),
    ("agent:has(delegation tool)", "1"),
    ("agent:has(> delegation > agent > tool)", "1"),
    ("agent:has(agent tool)", "1"),
    ("agent:has(> tool, > llm)", "1 4 11"),
    ("agent:has(memory_write, delegation)", "1 11"),
    ("tool:not([name=edit_file])", "5 8 12 14"),
    ("tool:not([name=edit_file], [status=error])", "5 12 14"),
    ("tool:not(agent tool)", "14"),
    # inside :not() a selector stands alone: ':first' is the first span of the trace, not the first tool
    ("tool:not(:first):not(:last)", "5 7 8 9 12 14"),
    ("tool:not(tool:first):not(tool:last)", "7 8 9 12"),
    ("span:not(:first)", "2 3 4 5 6 7 8 9 10 11 12 13 14 15"),
    ("agent:not(:not(:has(llm)))", "1 4"),
    (":not(:has(*))", "2 5 6 7 8 9 10 12 13 14 15"),
    (":has(*):not(agent)", "3"),
    ("span:not(agent):not(tool):not(llm)", "3 10 13 15"),
    ("agent:has(:not(tool):not(llm))", "1 11"),
    ("[agent=coder]:has(tool:first)", "4"),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_selector_matches_expected_spans(text: str, expected: str) -> None:
    assert ids(select(TRACE, text)) == expected.split()


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_matches_agrees_with_select(text: str, expected: str) -> None:
    selector = compile_selector(text)
    assert [s.span_id for s in TRACE.spans if selector.matches(TRACE, s)] == expected.split()


INVALID = [
    ("tool[name=", 11, "expected a value"),
    ("", 1, "expected a selector"),
    ("   ", 4, "expected a selector"),
    ("tol", 1, "unknown span kind 'tol' (did you mean 'tool'?)"),
    ("Tool", 1, "unknown span kind"),
    ("tool]", 5, "expected '[', ':', a combinator"),
    ("tool[name=a b]", 13, "quote a value that contains spaces"),
    ("tool[name=x", 12, "expected ']'"),
    ("tool[name x]", 11, "expected an operator"),
    ("tool[=x]", 6, "expected an attribute name"),
    ("tool[]", 6, "expected an attribute name"),
    ("tool[a.]", 8, "expected an attribute name"),
    ("tool[name~=a(]", 12, "invalid regular expression 'a('"),
    ("[name~='(']", 8, "invalid regular expression"),
    ('tool[name="abc]', 11, "unclosed string"),
    ("tool:frist", 5, "did you mean ':first'"),
    ("tool:nth(2)", 5, "unknown pseudo-class ':nth'"),
    ("tool:not", 9, "expected '(' after :not"),
    ("tool:not(llm", 13, "expected ')' to close :not("),
    ("tool:has()", 10, "expected a span kind"),
    ("tool:has(> )", 12, "expected a span kind"),
    ("tool:not(> llm)", 10, "expected a span kind"),
    ("tool,", 6, "expected a span kind"),
    (", tool", 1, "expected a span kind"),
    ("tool >", 7, "expected a span kind"),
    ("a > > b", 1, "unknown span kind 'a'"),
    ("agent > > tool", 9, "expected a span kind"),
    ("(tool)", 1, "expected a span kind"),
    ("tool)", 5, "expected ',' or the end of the selector"),
    ("tool[name=x]agent", 13, "expected '[', ':', a combinator"),
    ("tool:first()", 11, "expected '[', ':', a combinator"),
]


@pytest.mark.parametrize(("text", "column", "message"), INVALID)
def test_invalid_selector_names_column_and_expectation(text: str, column: int, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        compile_selector(text)
    error = info.value
    assert error.column == column, str(error)
    assert message in str(error)
    assert str(error).startswith(f"selector {text!r}: ")
    assert f"column {column}" in str(error)


def test_error_example_from_the_brief() -> None:
    with pytest.raises(SelectorError, match=r"expected a value at column 11"):
        compile_selector("tool[name=")


def test_non_string_selector_is_an_input_error() -> None:
    with pytest.raises(SelectorError, match="must be a string, got int"):
        compile_selector(3)  # type: ignore[arg-type]


def test_compile_is_cached_and_selector_is_reusable_across_traces() -> None:
    first = compile_selector("tool[name=edit_file]")
    assert compile_selector("tool[name=edit_file]") is first
    assert first.text == "tool[name=edit_file]"
    other = Trace.from_dict(
        {
            "trace_id": "t2",
            "name": "n",
            "started_at": "x",
            "spans": [_span(1, None, "tool", "edit_file", "a", 0, 1)],
        }
    )
    assert ids(first.select(other)) == ["1"]
    assert ids(first.select(TRACE)) == ["7", "9"]
    assert first == Selector("tool[name=edit_file]") and hash(first) == hash(Selector("tool[name=edit_file]"))


def test_matches_is_relative_to_the_whole_selection_on_each_trace() -> None:
    last_tool = compile_selector("tool:last")
    assert last_tool.matches(TRACE, TRACE.span("14"))
    assert not last_tool.matches(TRACE, TRACE.span("12"))
    short = Trace.from_dict({"trace_id": "t3", "name": "n", "started_at": "x", "spans": SPANS[:12]})
    assert last_tool.matches(short, short.span("12"))
    assert last_tool.matches(TRACE, TRACE.span("14"))


def test_select_returns_a_fresh_list() -> None:
    selected = select(TRACE, "tool")
    selected.clear()
    assert ids(select(TRACE, "tool")) == ["5", "7", "8", "9", "12", "14"]


def test_trace_select_uses_the_selector_language() -> None:
    assert ids(TRACE.select("agent[name=coder] > tool:last")) == ["9"]


def test_deep_trees_do_not_recurse() -> None:
    depth = 5000
    spans = [
        Span(
            span_id=str(i),
            parent_id=str(i - 1) if i else None,
            kind="agent" if i % 2 else "tool",
            name=f"n{i}",
            start_ns=i,
            end_ns=10 * depth - i,
        )
        for i in range(depth)
    ]
    deep = Trace(trace_id="d", name="deep", started_at="x", spans=tuple(spans))
    assert len(select(deep, "agent tool")) == depth // 2 - 1
    assert len(select(deep, "tool:has(agent agent)")) == depth // 2 - 1
    assert ids(select(deep, "agent:not(:has(tool))")) == [str(depth - 1)]


def test_parent_cycles_in_a_corrupt_trace_terminate() -> None:
    spans = (
        Span(span_id="a", parent_id="b", kind="agent", name="a"),
        Span(span_id="b", parent_id="a", kind="tool", name="b"),
        Span(span_id="c", parent_id="b", kind="tool", name="c"),
    )
    broken = Trace(trace_id="c", name="cycle", started_at="x", spans=spans)
    assert ids(select(broken, "agent tool")) == ["b", "c"]
    assert ids(select(broken, "agent:has(tool)")) == ["a"]


# -- properties against a brute-force reference ----------------------------------------------------------

KINDS = ("agent", "tool", "llm", "delegation")
Pred = Callable[[Trace, Span], bool]


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    """Small forests, deep enough that child and descendant differ (parents are mostly recent spans)."""
    size = draw(st.integers(1, 16))
    spans = []
    for i in range(size):
        parent = None
        if i and draw(st.integers(0, 4)):
            parent = draw(st.integers(max(0, i - 3), i - 1))
        attributes: dict[str, Any] = {}
        if draw(st.booleans()):
            attributes["n"] = draw(st.integers(0, 3))
        if draw(st.booleans()):
            attributes["tags"] = draw(st.lists(st.sampled_from(["t1", "t2"]), max_size=2))
        spans.append(
            Span(
                span_id=f"s{i}",
                parent_id=None if parent is None else f"s{parent}",
                kind=draw(st.sampled_from(KINDS)),
                name=draw(st.sampled_from(["a", "b", "ab"])),
                agent=draw(st.sampled_from(["x", "y", None])),
                start_ns=i,
                end_ns=i + 1,
                attributes=attributes,
            )
        )
    return Trace(trace_id="h", name="h", started_at="x", spans=tuple(spans))


def _missing(span: Span, key: str) -> bool:
    return key not in span.attributes


ATTRIBUTES: list[tuple[str, Pred]] = [
    ("[name=a]", lambda t, s: s.name == "a"),
    ("[name!=b]", lambda t, s: s.name != "b"),
    ("[name^=a]", lambda t, s: s.name.startswith("a")),
    ("[name~=b$]", lambda t, s: s.name.endswith("b")),
    ("[agent=x]", lambda t, s: s.agent == "x"),
    ("[agent=null]", lambda t, s: s.agent is None),
    ("[n]", lambda t, s: "n" in s.attributes),
    ("[n=2]", lambda t, s: s.attributes.get("n") == 2),
    ("[n!=2]", lambda t, s: s.attributes.get("n") != 2),
    ("[n>1]", lambda t, s: not _missing(s, "n") and s.attributes["n"] > 1),
    ("[n<=1]", lambda t, s: not _missing(s, "n") and s.attributes["n"] <= 1),
    ("[tags=t1]", lambda t, s: "t1" in s.attributes.get("tags", [])),
    ("[tags!=t1]", lambda t, s: "t1" not in s.attributes.get("tags", [])),
]


def _ancestors(trace: Trace, span: Span) -> list[Span]:
    return trace.ancestors(span)


def _chain_pred(parts: list[tuple[str, Pred]], ops: list[str]) -> Pred:
    """Reference for ``c0 op1 c1 ... cn``: right to left, trying every ancestor (exhaustive backtracking)."""

    def at(trace: Trace, span: Span, i: int) -> bool:
        if not parts[i][1](trace, span):
            return False
        if i == 0:
            return True
        if ops[i - 1] == ">":
            parent = trace.parent(span)
            return parent is not None and at(trace, parent, i - 1)
        return any(at(trace, a, i - 1) for a in _ancestors(trace, span))

    return lambda trace, span: at(trace, span, len(parts) - 1)


def _relative_pred(child: bool, parts: list[tuple[str, Pred]], ops: list[str]) -> Pred:
    """Reference for ``:has([>] c0 op1 c1 ...)``: a chain going down from the span."""

    def below(trace: Trace, span: Span, child_only: bool) -> list[Span]:
        return trace.children(span) if child_only else trace.descendants(span)

    def down(trace: Trace, span: Span, i: int, child_only: bool) -> bool:
        for x in below(trace, span, child_only):
            if parts[i][1](trace, x) and (i == len(parts) - 1 or down(trace, x, i + 1, ops[i] == ">")):
                return True
        return False

    return lambda trace, span: down(trace, span, 0, child)


@st.composite
def compounds(draw: st.DrawFn, depth: int = 0) -> tuple[str, Pred]:
    kind = draw(st.sampled_from([*KINDS, "*", "span", ""]))
    filters: list[tuple[str, Pred]] = draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=1))
    if depth == 0 and draw(st.booleans()):
        parts, ops = draw(chains(depth + 1))
        inner_text = "".join(
            p[0] if i == 0 else f"{' > ' if ops[i - 1] == '>' else ' '}{p[0]}" for i, p in enumerate(parts)
        )
        if draw(st.booleans()):
            inner = _chain_pred(parts, ops)
            filters.append((f":not({inner_text})", lambda t, s: not inner(t, s)))
        else:
            child = draw(st.booleans())
            filters.append((f":has({'> ' if child else ''}{inner_text})", _relative_pred(child, parts, ops)))
    if not kind and not filters:
        kind = "*"
    text = kind + "".join(f[0] for f in filters)

    def pred(trace: Trace, span: Span) -> bool:
        if kind in KINDS and span.kind != kind:
            return False
        return all(f[1](trace, span) for f in filters)

    return text, pred


@st.composite
def chains(draw: st.DrawFn, depth: int = 0) -> tuple[list[tuple[str, Pred]], list[str]]:
    parts = draw(st.lists(compounds(depth), min_size=1, max_size=3))
    ops = draw(st.lists(st.sampled_from([">", " "]), min_size=len(parts) - 1, max_size=len(parts) - 1))
    return parts, ops


@st.composite
def complexes(draw: st.DrawFn) -> tuple[str, Pred]:
    parts, ops = draw(chains())
    text = "".join(p[0] if i == 0 else f"{' > ' if ops[i - 1] == '>' else ' '}{p[0]}" for i, p in enumerate(parts))
    return text, _chain_pred(parts, ops)


PROPERTY = settings(max_examples=100, deadline=None)


@PROPERTY
@given(trace=traces(), selector=complexes())
def test_select_equals_brute_force_reference(trace: Trace, selector: tuple[str, Pred]) -> None:
    text, pred = selector
    assert ids(select(trace, text)) == [s.span_id for s in trace.spans if pred(trace, s)], text


@PROPERTY
@given(trace=traces(), selector=complexes())
def test_not_is_the_complement(trace: Trace, selector: tuple[str, Pred]) -> None:
    text, _ = selector
    chosen = set(ids(select(trace, text)))
    assert ids(select(trace, f":not({text})")) == [s.span_id for s in trace.spans if s.span_id not in chosen]


@PROPERTY
@given(trace=traces(), first=complexes(), second=complexes())
def test_comma_is_the_union_in_start_order(trace: Trace, first: tuple[str, Pred], second: tuple[str, Pred]) -> None:
    union = set(ids(select(trace, first[0]))) | set(ids(select(trace, second[0])))
    assert ids(select(trace, f"{first[0]}, {second[0]}")) == [s.span_id for s in trace.spans if s.span_id in union]


@PROPERTY
@given(trace=traces(), selector=complexes())
def test_first_and_last_take_the_ends_of_the_selection(trace: Trace, selector: tuple[str, Pred]) -> None:
    text, _ = selector
    selected = ids(select(trace, text))
    assert ids(select(trace, text + ":first")) == selected[:1]
    assert ids(select(trace, text + ":last")) == selected[-1:]


SELECTOR_CHARS = "toolagentspan*[]=!^$~<>:(),. 'x\"firstlashno1.-"


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(alphabet=SELECTOR_CHARS, max_size=30), st.text(max_size=20)))
def test_any_input_compiles_or_raises_selector_error_only(text: str) -> None:
    try:
        selector = Selector(text)
    except SelectorError as error:
        assert error.column is not None and 1 <= error.column <= len(text) + 1
        assert f"column {error.column}" in str(error)
    else:
        selector.select(TRACE)


TYPED = Trace.from_dict(
    {
        "trace_id": "typed",
        "name": "typed",
        "started_at": "2026-11-21T00:00:00Z",
        "spans": [
            _span(i + 1, None, "memory_write", "w", "a", i, i + 1, attributes={"x": value})
            for i, value in enumerate([False, "false", 1, 1.0, "1", True, None, "null", 0, "", "30s", 30])
        ],
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[x=false]", "1"),
        ("[x='false']", "2"),
        ("[x=False]", "1"),
        ("[x=1]", "3 4"),  # int and float compare numerically
        ("[x=1.0]", "3 4"),
        ("[x='1']", "5"),
        ('[x="1"]', "5"),
        ("[x=true]", "6"),  # a boolean is not the number 1
        ("[x=null]", "7"),
        ("[x=~]", "7"),
        ("[x='null']", "8"),
        ("[x=0]", "9"),
        ("[x='']", "10"),
        ("[x!=1]", "1 2 5 6 7 8 9 10 11 12"),
        ("[x!=false]", "2 3 4 5 6 7 8 9 10 11 12"),
        ("[x>=1]", "3 4 12"),
        ("[x<1]", "9"),
        ("[x<'1']", "10"),  # strings compare with strings only
        ("[x>0.5]", "3 4 12"),
        ("[x>=30s]", ""),  # a bare duration is nanoseconds: 30e9 > 30
        ("[x<='30s']", "5 10 11"),  # quoted: the string, compared as a string
        ("[x^=1]", "5"),
        ("[x~=^f]", "2"),
        ("[x*=ul]", "8"),
        ("[x$=s]", "11"),
    ],
)
def test_values_are_typed_strictly_as_in_yaml(text: str, expected: str) -> None:
    assert ids(select(TYPED, text)) == expected.split()


def test_bare_duration_literal_is_nanoseconds_but_quoted_is_text() -> None:
    assert ids(select(TRACE, "[duration>=200ns]")) == ["1", "3", "4", "8", "11"]
    assert ids(select(TRACE, "[duration>='200ns']")) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[x=30ns]", ""),  # after = a bare value is typed as in YAML: the text "30ns", not 30 ns
        ("[x=30s]", "11"),
        ("[x='30s']", "11"),
        ("[x!=30s]", "1 2 3 4 5 6 7 8 9 10 12"),
        ("[x=1.2.3]", ""),  # not a number: a string, as in YAML
    ],
)
def test_after_equality_bare_values_are_typed_as_in_yaml(text: str, expected: str) -> None:
    assert ids(select(TYPED, text)) == expected.split()


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("llm[duration>1h]", 14, "'1h' is neither a number nor a duration"),
        ("llm[duration>30sec]", 14, "'30sec' is neither a number nor a duration"),
        ("llm[duration>1e3s]", 14, "a duration is digits and a unit, such as 30s or 1.5ms, not '1e3s'"),
        ("llm[duration<=-3s]", 15, "not '-3s'"),
        ("[x<.5x]", 4, "'.5x' is neither"),
    ],
)
def test_a_bare_value_that_starts_like_a_number_but_is_none_is_an_error_after_an_ordering_operator(
    text: str, column: int, message: str
) -> None:
    # Before, it silently became a string that no number is ever ordered with: the rule never fired.
    with pytest.raises(SelectorError) as info:
        compile_selector(text)
    assert info.value.column == column
    assert message in info.value.message and "quote it to compare with a string" in info.value.message


@pytest.mark.parametrize(
    "text", ["[x>'1h']", '[version>="1.2.3"]', "[version>=1.2.3]", "[x>abc]", "[x>.inf]", "[x>-.inf]", "[x>+5]"]
)
def test_quoted_values_words_and_yaml_numbers_stay_valid_after_an_ordering_operator(text: str) -> None:
    compile_selector(text)


def test_hostile_nesting_fails_cleanly() -> None:
    assert ids(select(TRACE, "agent" + ":not(:not(agent))" * 30)) == ["1", "4", "11"]
    with pytest.raises(SelectorError, match="nested more than 64 levels deep"):
        compile_selector(":not(" * 1000 + "agent" + ")" * 1000)


# -- a chain whose last compound matches nothing -----------------------------------------------------------


def test_a_chain_whose_last_compound_matches_nothing_walks_no_ancestors() -> None:
    """Nothing left of the last compound runs: no :has() walk, no map of every span id."""
    spans = (
        Span(span_id="1", parent_id=None, kind="agent", name="reviewer"),
        Span(span_id="2", parent_id="1", kind="llm", name="review"),
        Span(span_id="3", parent_id="1", kind="tool", name="run_tests", status="ok"),
    )
    trace = Trace(trace_id="t", name="t", started_at="x", spans=spans)
    assert select(trace, "agent:not(:has(llm)) > tool[status=error]") == []
    assert select(trace, "delegation agent tool[name=run_tests][status=error]") == []
    assert "by_id" not in trace.index.built()
    assert ids(select(trace, "agent:has(llm) > tool[status=ok]")) == ["3"]


def test_first_and_last_of_the_last_compound_apply_after_the_relation() -> None:
    spans = (
        Span(span_id="1", parent_id=None, kind="tool", name="outside"),
        Span(span_id="2", parent_id=None, kind="agent", name="a"),
        Span(span_id="3", parent_id="2", kind="tool", name="inside"),
        Span(span_id="4", parent_id=None, kind="tool", name="after"),
    )
    trace = Trace(trace_id="t", name="t", started_at="x", spans=spans)
    assert ids(select(trace, "agent tool:first")) == ["3"]
    assert ids(select(trace, "agent > tool:last")) == ["3"]


def _left_to_right(complex_: Any, ctx: Any) -> list[Span]:
    """How a chain was evaluated before: every compound in turn, the relation applied inside it."""
    spans = complex_.compounds[0].run(ctx, None)
    for combinator, compound in zip(complex_.combinators, complex_.compounds[1:]):
        if not spans:
            return []
        ids_ = frozenset(s.span_id for s in spans)
        spans = compound.run(ctx, _child_of(ids_) if combinator == ">" else ctx.below(ids_))
    return spans


CHAINS = (
    "agent tool",
    "agent > tool",
    "* > *:not([name=b])",
    "agent tool:has(tool)",
    "agent:not(:has(llm)) > tool",
    "* tool[status=ok]:not(:has(> *))",
    "agent llm:first",
    "* *:first",
    "* > *:last",
    "tool:last > *",
    "* * *[name=b]",
)


@settings(max_examples=200, deadline=None)
@given(st.data(), st.sampled_from(CHAINS))
def test_chains_select_what_left_to_right_evaluation_selects_on_corrupt_traces(data: st.DataObject, text: str) -> None:
    """Repeated ids, parent cycles, unknown parents and parents later than their children included."""
    spans = list(data.draw(span_lists()))
    if len(spans) > 2 and data.draw(st.booleans()):  # a parent cycle between two spans
        a, b = spans[0], spans[1]
        spans[0], spans[1] = a.replace(parent_id=b.span_id), b.replace(parent_id=a.span_id)
    trace = Trace(trace_id="t", name="t", started_at="x", spans=tuple(spans))
    (complex_,) = compile_selector(text)._root.alternatives
    expected = [id(s) for s in _left_to_right(complex_, Context(trace))]
    assert [id(s) for s in complex_.run(Context(trace))] == expected


# -- limits ---------------------------------------------------------------------------------------------------

BIG = "9" * 5000


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        pytest.param(f"llm[x={BIG}]", 7, "has 5000 digits", id="integer-past-the-digit-limit"),
        pytest.param(f"llm[duration<{BIG}s]", 14, "is too large", id="duration-beyond-float"),
        pytest.param("llm[name~=" + "(" * 3000 + ")" * 3000 + "]", 11, "too complex", id="regex-too-deep"),
        pytest.param("llm[name~=a{99999999999}]", 11, "too complex", id="regex-repeat-too-large"),
    ],
)
def test_values_past_python_limits_are_selector_errors(text: str, column: int, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        compile_selector(text)
    assert info.value.column == column
    assert message in info.value.message
    assert len(info.value.message) < 400  # the long selector is quoted as an excerpt around the column


def test_a_long_selector_is_quoted_around_the_error() -> None:
    text = "tool[name=" + "x" * 500 + "] > bogus"
    with pytest.raises(SelectorError) as info:
        compile_selector(text)
    assert "unknown span kind 'bogus'" in info.value.message
    assert info.value.message.startswith("selector ...'xxx")
    assert "] > bogus'" in info.value.message
    assert len(info.value.message) < 400


def test_a_big_hexadecimal_or_quoted_value_is_fine() -> None:
    assert compile_selector(f"llm[x=0x{'f' * 5000}]")
    assert compile_selector(f"llm[x='{BIG}']")


# -- :first/:last inside :has() stand alone ---------------------------------------------------------------

FIRST_AGENT_WITHOUT_TOOL = make_trace(
    node("custom", "root", node("agent", "A1"), node("agent", "A2", node("tool", "t"))),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("agent:first tool", ""),
        ("custom:has(agent:first tool)", ""),
        ("custom:not(:not(:has(agent:first tool)))", ""),
        ("custom:has(agent:last tool)", "1"),
        ("custom:has(agent:last > tool:first)", "1"),
        ("custom:has(> agent:first, agent:last tool)", "1"),
        ("span:has(span:first tool)", ""),  # the root is the first span; nothing lies above it
        ("custom:has(agent tool:last)", "1"),
    ],
)
def test_first_and_last_in_a_has_compound_take_the_relative_selectors_own_selection(text: str, expected: str) -> None:
    assert ids(select(FIRST_AGENT_WITHOUT_TOOL, text)) == expected.split()


POSITIONS = ["", ":first", ":last"]


@st.composite
def positioned_chains(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """A relative selector ``c0 op c1 ...`` whose compounds may end in :first/:last, and its prefixes."""
    size = draw(st.integers(1, 3))
    text = ""
    prefixes: list[str] = []
    ops: list[str] = []
    for i in range(size):
        kind = draw(st.sampled_from([*KINDS, "*"]))
        attribute = draw(st.sampled_from(["", *[a for a, _ in ATTRIBUTES[:7]]]))
        compound = kind + attribute + draw(st.sampled_from(POSITIONS))
        if i:
            ops.append(draw(st.sampled_from([">", " "])))
            text += " > " if ops[-1] == ">" else " "
        text += compound
        prefixes.append(text)
    return text, prefixes, ops


@PROPERTY
@given(trace=traces(), relative=positioned_chains(), child=st.booleans())
def test_has_with_first_and_last_equals_a_chain_through_the_stand_alone_selections(
    trace: Trace, relative: tuple[str, list[str], list[str]], child: bool
) -> None:
    text, prefixes, ops = relative
    size = len(prefixes)
    stages = [set(ids(select(trace, prefix))) for prefix in prefixes]

    def down(span: Span, i: int, child_only: bool) -> bool:
        below = trace.children(span) if child_only else trace.descendants(span)
        return any(x.span_id in stages[i] and (i == size - 1 or down(x, i + 1, ops[i] == ">")) for x in below)

    expected = [s.span_id for s in trace.spans if down(s, 0, child)]
    assert ids(select(trace, f"*:has({'> ' if child else ''}{text})")) == expected, text
