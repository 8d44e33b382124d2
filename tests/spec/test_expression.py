"""The expression language of ``expect`` rules: grammar tables, explanations and properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agenttrace.exceptions import SelectorError
from pytest_agenttrace.model import Span
from pytest_agenttrace.spec._lexer import describe
from pytest_agenttrace.spec.expression import Expression, compile_expression

S = 1_000_000_000

LLM = Span(
    span_id="1",
    parent_id=None,
    kind="llm",
    name="plan",
    agent="planner",
    start_ns=0,
    end_ns=42 * S,
    attributes={
        "model": "gpt-4o-mini",
        "usage": {"input_tokens": 150_000, "output_tokens": 10},
        "confidence": 0.4,
        "truncated": True,
        "dropped_keys": ["diff_summary"],
        "label": "3",
    },
)
TOOL = Span(
    span_id="2",
    parent_id="1",
    kind="tool",
    name="read_file",
    agent="coder",
    scope="d1",
    scope_path=["d1"],
    start_ns=5,
    end_ns=1_500_005,
    status="error",
    error={"type": "FileNotFoundError", "message": "a.py"},
    input={"path": "src/a.py", "lines": [1, 2, 3]},
    attributes={"tool_call_id": "call_1", "valid": False, "retries": 0, "note": None, "tags": ["io", "fs"]},
)
SPANS = {"llm": LLM, "tool": TOOL}

VALID = [
    # durations and units
    ("duration < 30s", "llm", False),
    ("duration < 43s", "llm", True),
    ("duration >= 42s", "llm", True),
    ("duration == 42000ms", "llm", True),
    ("duration <= 0.7m", "llm", True),
    ("duration > 1.5ms", "tool", False),
    ("duration >= 1.5ms", "tool", True),
    ("duration = 1500us", "tool", True),
    ("duration == 1500000ns", "tool", True),
    ("duration == 1500000", "tool", True),
    ("duration < .5s", "tool", True),
    # field-then-attributes lookup, dotted paths
    ("attributes.usage.input_tokens < 100000", "llm", False),
    ("usage.input_tokens < 200000", "llm", True),
    ("attributes.usage.input_tokens < 100000", "tool", False),
    ("input.path == 'src/a.py'", "tool", True),
    ("input.lines.1 == 2", "tool", True),
    ('error.type == "FileNotFoundError"', "tool", True),
    ('tool_call_id == "call_1"', "tool", True),
    ("start_ns < end_ns", "tool", True),
    ("end_ns > start_ns and start_ns >= 5", "tool", True),
    # equality is typed
    ('status == "error"', "tool", True),
    ('status = "ok"', "llm", True),
    ('status != "ok"', "tool", True),
    ("valid == false", "tool", True),
    ("valid == 0", "tool", False),
    ("retries == 0", "tool", True),
    ("retries == 0.0", "tool", True),
    ("retries == false", "tool", False),
    ("note == null", "tool", True),
    ("scope == null", "llm", True),
    ('scope == "d1"', "tool", True),
    ("label == 3", "llm", False),
    ('label == "3"', "llm", True),
    ("confidence >= 0.5", "llm", False),
    ("confidence < 5e-1", "llm", True),
    ("confidence > -1", "llm", True),
    ('model < "h"', "llm", True),
    ("name < 3", "tool", False),
    # in / not in / contains / matches
    ('name in ["read_file", "edit_file"]', "tool", True),
    ("name in ['a', 'b',]", "tool", False),
    ("name not in ['a', 'b']", "tool", True),
    ("retries in [0, 1]", "tool", True),
    ("retries in []", "tool", False),
    ('"read" in name', "tool", True),
    ('"path" in input', "tool", True),
    ('tags contains "fs"', "tool", True),
    ('tags contains "net"', "tool", False),
    ('input contains "lines"', "tool", True),
    ('input.path contains ".py"', "tool", True),
    ('dropped_keys contains "diff_summary"', "llm", True),
    ('model matches "^gpt-4o"', "llm", True),
    ("model matches '^claude'", "llm", False),
    ("retries matches '0'", "tool", True),
    # boolean structure and precedence: not > and > or
    ('status == "ok" and not truncated', "llm", False),
    ("not truncated or confidence < 0.5", "llm", True),
    ("not (truncated or confidence < 0.5)", "llm", False),
    ('kind == "tool" or kind == "llm" and duration > h_missing', "tool", True),
    ('(kind == "tool" or kind == "llm") and duration < 30s', "llm", False),
    ("not not truncated", "llm", True),
    ("notes == null", "tool", False),
    ("truncated", "llm", True),
    ("valid", "tool", False),
    ("true", "tool", True),
    ("null", "tool", False),
    ("  duration   <   30s  ", "tool", True),
    ("duration<30s", "tool", True),
    # a test on a missing value is false, whatever the operator
    ("missing_key != 1", "tool", False),
    ("missing_key not in [1]", "tool", False),
    ("not missing_key == 1", "tool", True),
    ("attributes.usage.input_tokens >= 0", "tool", False),
]


@pytest.mark.parametrize(("text", "span", "expected"), VALID)
def test_valid_expression_evaluates(text: str, span: str, expected: bool) -> None:
    assert compile_expression(text).evaluate(SPANS[span]) is expected


@pytest.mark.parametrize(("text", "span", "expected"), VALID)
def test_compiled_fast_path_agrees_with_the_tree_walk(text: str, span: str, expected: bool) -> None:
    expression = compile_expression(text)
    for candidate in SPANS.values():
        assert expression.evaluate(candidate) is expression._root.evaluate(candidate)


EXPLAIN = [
    ("duration < 30s", "llm", "duration is 42.0s, expected < 30s"),
    ("duration > 2ms", "tool", "duration is 1.5ms, expected > 2ms"),
    (
        "attributes.usage.input_tokens < 100000",
        "llm",
        "attributes.usage.input_tokens is 150000, expected < 100000",
    ),
    ("attributes.usage.input_tokens < 100000", "tool", "attributes.usage.input_tokens is missing"),
    ("name == coder", "tool", 'coder is missing (to compare with the string, quote it: "coder")'),
    ('name in ["a", "b"]', "tool", 'name is "read_file", expected in ["a", "b"]'),
    ('status == "ok"', "tool", 'status is "error", expected == "ok"'),
    ("name < 3", "tool", 'name is "read_file", expected < 3 (a string does not compare with a number)'),
    ("valid", "tool", "valid is false, expected a true value"),
    ("not truncated", "llm", "expected not (truncated), but truncated is true"),
    ('not (status == "error")', "tool", 'expected not (status == "error"), but status is "error"'),
    ('status == "error" and valid and retries == 0', "tool", "valid is false, expected a true value"),
    ('status == "ok" or missing', "tool", 'status is "error", expected == "ok"; missing is missing'),
    ("start_ns > end_ns", "tool", "start_ns is 5, end_ns is 1500005, expected start_ns > end_ns"),
    ("duration < 43s", "llm", "duration < 43s holds"),
    ("0", "llm", "0 is always false"),
    ("null or []", "llm", "null is always false; [] is always false"),
]


@pytest.mark.parametrize(("text", "span", "message"), EXPLAIN)
def test_explain_says_what_was_found_and_expected(text: str, span: str, message: str) -> None:
    assert compile_expression(text).explain(SPANS[span]) == message


def test_missing_lists_every_missing_path() -> None:
    expression = compile_expression("a.b < 1 or usage.input_tokens > 1 or c")
    assert expression.missing(TOOL) == ["a.b", "usage.input_tokens", "c"]
    assert expression.missing(LLM) == ["a.b", "c"]


INVALID = [
    ("duration < ", 12, "expected a value"),
    ("", 1, "expected an expression"),
    ("duration < 30sec", 14, "30sec is neither a number nor a duration"),
    ("duration < 30 s", 15, "expected an operator, 'and', 'or' or the end"),
    ("a and", 6, "expected a value"),
    ("a or or b", 6, "'or' is a keyword"),
    ("and", 1, "'and' is a keyword"),
    ("(a", 3, "expected ')'"),
    ("a)", 2, "expected an operator, 'and', 'or' or the end"),
    ("x in [1, y]", 10, "a list holds literals only"),
    ("x in [1 2]", 9, "expected ',' or ']'"),
    ("[1,2", 5, "expected ',' or ']'"),
    ("x matches y", 11, "expected a quoted regular expression"),
    ('x matches "("', 11, "invalid regular expression"),
    ('a == "b', 6, "unclosed string"),
    ("a not b", 7, "expected 'in' after 'not'"),
    ("a.", 3, "expected a field name after '.'"),
    ("a < 1e3s", 5, "a duration is digits and a unit"),
    ("a < -3s", 5, "a duration is digits and a unit"),
    ("a < 1h", 6, "a duration takes one of the units ns, us, ms, s, m"),
    ("a b", 3, "expected an operator"),
    ("a === b", 5, "expected a value"),
    ("a !~ b", 3, "expected an operator"),
    ("__import__('os').system('x')", 11, "expected an operator"),
    ("a == 1; b", 7, "expected an operator"),
    ("name in ['a' 'b']", 14, "expected ',' or ']'"),
]


@pytest.mark.parametrize(("text", "column", "message"), INVALID)
def test_invalid_expression_names_column_and_expectation(text: str, column: int, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        compile_expression(text)
    assert info.value.column == column, str(info.value)
    assert message in str(info.value)
    assert str(info.value).startswith(f"expression {text!r}: ")
    assert f"column {column}" in str(info.value)


def test_non_string_expression_is_an_input_error() -> None:
    with pytest.raises(SelectorError, match="must be a string, got list"):
        compile_expression(["duration < 1s"])  # type: ignore[arg-type]


def test_compile_is_cached() -> None:
    expression = compile_expression("duration < 30s")
    assert compile_expression("duration < 30s") is expression
    assert expression.text == "duration < 30s"
    assert expression == Expression("duration < 30s")


# -- properties ------------------------------------------------------------------------------------------

numbers = st.one_of(st.integers(-1000, 1000), st.floats(-1000, 1000, allow_nan=False).map(lambda f: round(f, 3)))
OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def span_with(**attributes: Any) -> Span:
    return Span(span_id="p", parent_id=None, kind="custom", name="p", attributes=attributes)


@settings(max_examples=200, deadline=None)
@given(value=numbers, literal=numbers, op=st.sampled_from(sorted(OPS)))
def test_numeric_comparison_matches_python_numbers(value: float, literal: float, op: str) -> None:
    expression = compile_expression(f"x {op} {literal!r}")
    span = span_with(x=value)
    assert expression.evaluate(span) is OPS[op](value, literal)
    assert expression._root.evaluate(span) is OPS[op](value, literal)


@settings(max_examples=100, deadline=None)
@given(
    op=st.sampled_from([*sorted(OPS), "in", "not in", "contains"]),
    literal=st.sampled_from(["1", '"a"', "null", "[1]"]),
)
def test_every_test_on_a_missing_value_is_false_and_explained(op: str, literal: str) -> None:
    expression = compile_expression(f"usage.gone {op} {literal}")
    span = span_with(usage={"present": 1})
    assert expression.evaluate(span) is False
    assert expression._root.evaluate(span) is False
    assert expression.explain(span) == "usage.gone is missing"


@settings(max_examples=200, deadline=None)
@given(a=st.integers(0, 3), b=st.integers(0, 3), c=st.integers(0, 3))
def test_boolean_operators_follow_python_precedence_and_de_morgan(a: int, b: int, c: int) -> None:
    span = span_with(a=a, b=b, c=c)

    def holds(text: str) -> bool:
        return compile_expression(text).evaluate(span)

    assert holds("a < 2 or b < 2 and c < 2") is (a < 2 or (b < 2 and c < 2))
    assert holds("not a < 2 and b < 2") is ((not a < 2) and b < 2)
    assert holds("not (a < 2 and b < 2)") is holds("not a < 2 or not b < 2")
    assert holds("not (a < 2 or b < 2)") is holds("not a < 2 and not b < 2")


@settings(max_examples=100, deadline=None)
@given(ms=st.integers(0, 100_000), limit=st.integers(0, 100_000))
def test_duration_units_are_nanoseconds(ms: int, limit: int) -> None:
    span = Span(span_id="d", parent_id=None, kind="tool", name="d", start_ns=0, end_ns=ms * 1_000_000)
    assert compile_expression(f"duration < {limit}ms").evaluate(span) is (ms < limit)
    assert compile_expression(f"duration < {limit * 1000}us").evaluate(span) is (ms < limit)
    assert compile_expression(f"duration < {limit / 1000}s").evaluate(span) is (ms < limit)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_any_input_parses_or_raises_selector_error_only(text: str) -> None:
    try:
        expression = compile_expression(text)
    except SelectorError as error:
        assert error.column is not None and 1 <= error.column <= len(text) + 1
    else:
        expression.evaluate(TOOL)
        expression.explain(TOOL)


EXPRESSION_CHARS = "durationsmu<>=!()[]\"', .0123456789-notandorincontainsmatches"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=EXPRESSION_CHARS, max_size=30))
def test_grammar_like_input_parses_or_raises_selector_error_only(text: str) -> None:
    try:
        expression = Expression(text)
    except SelectorError as error:
        assert error.column is not None and 1 <= error.column <= len(text) + 1
    else:
        for span in SPANS.values():
            assert expression.evaluate(span) is expression._root.evaluate(span)
            expression.explain(span)
            expression.missing(span)


any_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_infinity=True, allow_nan=True),
    st.sampled_from(["a", "b", "", "1"]),
    st.lists(st.one_of(st.integers(0, 2), st.sampled_from(["a"])), max_size=2),
    st.dictionaries(st.sampled_from(["a", "1"]), st.integers(0, 1), max_size=1),
)


@settings(max_examples=300, deadline=None)
@given(
    value=any_values,
    present=st.booleans(),
    op=st.sampled_from(["==", "=", "!=", "<", "<=", ">", ">=", "in", "not in", "contains"]),
    literal=st.sampled_from(
        ["1", "1.5", "-2", '"a"', '""', "true", "false", "null", '[1, "a"]', '["a", "1"]', "30s", "[]"]
    ),
)
def test_compiled_fast_path_agrees_with_the_tree_walk_on_any_value(
    value: Any, present: bool, op: str, literal: str
) -> None:
    span = span_with(x=value) if present else span_with()
    for text in (f"x {op} {literal}", f"not x {op} {literal}", f"x {op} {literal} or x", f"x and x {op} {literal}"):
        expression = compile_expression(text)
        assert expression.evaluate(span) is expression._root.evaluate(span), text
        if not expression.evaluate(span):
            assert expression.explain(span)


def test_hostile_nesting_fails_cleanly() -> None:
    assert compile_expression("not " * 64 + "truncated").evaluate(LLM) is True
    assert compile_expression("(" * 60 + "truncated" + ")" * 60).evaluate(LLM) is True
    with pytest.raises(SelectorError, match="nested more than 64 levels deep"):
        compile_expression("(" * 5000 + "x" + ")" * 5000)
    with pytest.raises(SelectorError, match="nested more than 64 levels deep"):
        compile_expression("not " * 5000 + "x")


# -- limits: numbers, nesting and values no parser or message should choke on ---------------------------------

BIG = "9" * 5000


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        pytest.param(f"attributes.x < {BIG}", 16, "has 5000 digits", id="integer-past-the-digit-limit"),
        pytest.param(f"attributes.x in [1, {BIG}]", 21, "has 5000 digits", id="integer-in-a-list"),
        pytest.param(f"duration < {BIG}s", 12, "is too large", id="duration-beyond-float"),
        pytest.param(f"duration < {'9' * 300}.5m", 12, "is too large", id="fractional-duration-beyond-float"),
        pytest.param("x == " + "[" * 5000 + "]" * 5000, 70, "nested more than 64 levels deep", id="nested-lists"),
        pytest.param('name matches "' + "(" * 3000 + ")" * 3000 + '"', 14, "too complex", id="regex-too-deep"),
        pytest.param('name matches "a{99999999999}"', 14, "too complex", id="regex-repeat-too-large"),
    ],
)
def test_literals_past_python_limits_are_selector_errors(text: str, column: int, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        compile_expression(text)
    assert info.value.column == column
    assert message in info.value.message
    assert len(info.value.message) < 400  # the 5000-character source is shown as an excerpt


def test_a_regex_that_python_warns_about_compiles_without_the_warning() -> None:
    # "[[" draws a FutureWarning (possible nested set), an error under filterwarnings=error.
    assert compile_expression('name matches "[[p]lan"').evaluate(LLM) is True


def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def test_explain_renders_a_value_nested_5000_levels_deep() -> None:
    span = span_with(x=_nested(5000))
    expression = compile_expression("attributes.x.a.a.a == 1")
    assert expression.evaluate(span) is False
    found = expression.explain(span)
    assert found.startswith("attributes.x.a.a.a is {a: {a: {a:")
    assert found.endswith("..., expected == 1")
    assert len(found) < 120


def test_describe_is_iterative_bounded_and_terminal_safe() -> None:
    deep_list: Any = []
    for _ in range(5000):
        deep_list = [deep_list]
    assert describe(deep_list, limit=20_000) == "[" * 5001 + "]" * 5001
    assert describe(_nested(5000)) == "{a: " * 19 + "{..."
    assert describe(["a\nb\x1b[2J\u202e"]) == '["a\\nb\\u001b[2J\\u202e"]'
    assert describe({"k\n": 10**5000}) == "{k\\n: <an integer of about 5000 digits>}"
    # Same text as rendering everything and cutting it at the limit.
    value = {"a": ["x" * 100, 2], "b": None}
    assert describe(value) == '{a: ["' + "x" * 71 + "..."
    assert describe([1, 2.5, None, True, "s"]) == '[1, 2.5, null, true, "s"]'


def test_a_wide_value_is_not_rendered_past_the_limit() -> None:
    wide: Any = 0
    for _ in range(8):
        wide = [wide] * 10  # 10**8 leaves if rendered in full
    assert describe(wide).endswith("...")


def test_deeply_nested_values_compare_without_recursion_error() -> None:
    span = span_with(x=_nested(5000), y=_nested(5000), z=_nested(5000, leaf=2))
    assert compile_expression("attributes.x == attributes.y").evaluate(span) is True
    assert compile_expression("attributes.x == attributes.z").evaluate(span) is False
    assert compile_expression("attributes.x in [1, 2]").evaluate(span) is False


def test_numbers_too_long_to_write_are_handled_in_tests_and_messages() -> None:
    span = Span(
        span_id="p", parent_id=None, kind="custom", name="p", start_ns=0, end_ns=10**5000, attributes={"n": 10**5000}
    )
    assert compile_expression('attributes.n matches "^1"').evaluate(span) is False
    assert compile_expression("attributes.n > 5").evaluate(span) is True
    assert compile_expression("duration < 30s").explain(span) == "duration is 1e5000ns, expected < 30s"
    assert "about 5000 digits" in compile_expression("attributes.n < 5").explain(span)


def test_a_list_index_too_long_to_be_one_is_a_missing_value() -> None:
    span = span_with(items=[1, 2])
    assert compile_expression("attributes.items.1 == 2").evaluate(span) is True
    assert compile_expression(f"attributes.items.{'9' * 5000} == 2").missing(span) == [f"attributes.items.{'9' * 5000}"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attributes.flags == [true, false]", False),
        ("attributes.flags != [true, false]", True),
        ("attributes.flags == [1, 0]", True),
        ("attributes.flags == [1.0, 0]", True),
        ("attributes.bools == [true, false]", True),
        ("attributes.bools == [1, 0]", False),
        ("attributes.nested == [[1], [true]]", False),
        ("attributes.nested contains [1]", True),
        ("attributes.nested contains [true]", False),
        ("attributes.usage == attributes.flagged", False),
    ],
)
def test_equality_inside_lists_and_mappings_never_equates_a_boolean_with_a_number(text: str, expected: bool) -> None:
    span = span_with(
        flags=[1, 0], bools=[True, False], nested=[[1], [1]], usage={"cached": 1}, flagged={"cached": True}
    )
    assert compile_expression(text).evaluate(span) is expected
