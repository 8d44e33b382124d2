"""The terminal tree: content per line, colour, compact mode, marks, excerpts, hostile text."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.report._samples import example_failure, generated_trace, injection_trace
from pytest_agenttrace.report.terminal import format_duration, render_tree, terminal_safe, use_color

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def line_of(text: str, needle: str) -> str:
    matches = [line for line in text.splitlines() if needle in line]
    assert len(matches) == 1, (needle, matches)
    return matches[0]


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0ns"),
        (999, "999ns"),
        (1_500, "1.5µs"),
        (340_000_000, "340ms"),
        (1_250_000_000, "1.25s"),
        (59_000_000_000, "59s"),
        (125_000_000_000, "2m05s"),
        (-2_000_000, "-2ms"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text


def test_every_span_gets_one_line_with_kind_name_agent_duration_and_key_attributes() -> None:
    trace = example_failure()
    text = render_tree(trace)
    lines = text.splitlines()
    assert lines[0].startswith("trace tests/test_refactor.py::test_rename_pipeline  (27 spans, 9.2s)")
    assert sum(1 for line in lines if "── " in line or "─ " in line) == len(trace.spans)
    plan = line_of(text, "llm plan")
    assert "@orchestrator" in plan and "860ms" in plan
    assert "gpt-4o-2024-08-06" in plan and "tok 1840→312" in plan and "conf=0.91" in plan
    edit = line_of(text, "tool edit_file")
    assert "(path='config.py', old='def parse_config('" in edit
    deleg = line_of(text, "deleg coder")
    assert "orchestrator→coder" in deleg and "ctx[call_sites]" in deleg
    assert "scope=coder#11" in line_of(text, "agent coder")  # the scope is named where it starts
    assert "scope=" not in line_of(text, "tool read_file")  # ... and inherited silently below
    assert "✗ TestFailure: 3 failed, 41 passed" in line_of(text, "tool run_tests")
    assert "INVALID" in line_of(text, "mem.w plan")
    assert "waiting on 'coder'" in line_of(text, "wait wait for coder")
    assert "⟨coder@v7#0d1e2f3a⟩" in line_of(text, "agent coder")  # version stamps where they change
    assert "⟨" not in line_of(text, "tool read_file")


def test_tree_guides_follow_the_nesting() -> None:
    text = render_tree(example_failure(), header=False)
    lines = text.splitlines()
    assert lines[0] == "└─ agent orchestrator 9.2s ⟨orchestrator@v2#5e1f0a77, tools#a1b2c3d4⟩"
    assert lines[-1].startswith("      └─ llm write_report")
    assert line_of(text, "agent researcher").startswith("   │  ├─ agent researcher")


def test_highlight_marks_lines_with_their_rules() -> None:
    text = render_tree(example_failure(), highlight={"18": ["out_of_scope_tool"], "21": ["a", "b", "a"]})
    assert "2 span(s) marked" in text
    assert line_of(text, "tool web_search (query='python").endswith("◀ out_of_scope_tool")
    handoff = line_of(text, "handoff tester")
    assert "!! handoff tester" in handoff and handoff.endswith("◀ a, b")
    assert "!!" not in line_of(text, "tool read_file")


def test_highlight_accepts_plain_span_ids() -> None:
    text = render_tree(example_failure(), highlight={"18"})
    assert line_of(text, "tool web_search (query='python").endswith("◀ flagged")


def test_color_only_when_asked() -> None:
    trace = example_failure()
    plain = render_tree(trace, highlight={"18": ["r"]})
    colored = render_tree(trace, color=True, highlight={"18": ["r"]})
    assert "\x1b[" not in plain
    assert "\x1b[41;97m" in colored  # the flagged line on red
    assert "\x1b[32mtool\x1b[0m" in colored  # kinds have their colours
    assert ANSI.sub("", colored).replace("!! ", "") == plain.replace("!! ", "")


@pytest.mark.parametrize(
    ("choice", "env", "tty", "expected"),
    [
        ("yes", {}, False, True),
        ("no", {}, True, False),
        ("auto", {}, True, True),
        ("auto", {}, False, False),
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"FORCE_COLOR": "1"}, False, True),
    ],
)
def test_use_color(
    monkeypatch: pytest.MonkeyPatch, choice: str, env: dict[str, str], tty: bool, expected: bool
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    class Stream:
        def isatty(self) -> bool:
            return tty

    assert use_color(choice, Stream()) is expected  # type: ignore[arg-type]


def test_compact_folds_runs_of_identical_calls_and_drops_details() -> None:
    trace = example_failure()
    storm = {s: ["retry_storm"] for s in ("6", "8", "10", "12")}
    full = render_tree(trace, highlight=storm)
    compact = render_tree(trace, compact=True, highlight=storm)
    assert len(compact.splitlines()) == len(full.splitlines()) - 3 - 1  # 4 calls -> 1 line; no versions line
    storm = line_of(compact, "web_search ×4")
    assert storm.endswith("(1.55s total) ◀ retry_storm")
    assert "tok " not in compact and "scope=" not in compact
    assert max(len(line) - len(line.lstrip("│├└ ")) for line in compact.splitlines()) < max(
        len(line) - len(line.lstrip("│├└─ ")) for line in full.splitlines()
    )


def test_compact_does_not_fold_calls_flagged_differently() -> None:
    text = render_tree(example_failure(), compact=True, highlight={"6": ["x"]})
    assert line_of(text, "tool web_search 350ms").endswith("◀ x")
    assert "tool web_search ×3 (1.2s total)" in line_of(text, "×")


def test_width_cuts_lines_but_keeps_the_rule_names() -> None:
    text = render_tree(example_failure(), width=60, highlight={"20": ["cascading_error"]})
    for line in text.splitlines():
        assert len(line) <= 60 or line.endswith("◀ cascading_error")
    assert line_of(text, "run_tests").endswith("… ◀ cascading_error")
    colored = render_tree(example_failure(), width=50, color=True)
    assert all(len(ANSI.sub("", line)) <= 50 for line in colored.splitlines())
    assert all(ANSI.findall(line)[-1:] in ([], ["\x1b[0m"]) for line in colored.splitlines())  # styles closed


def test_max_spans_shows_flagged_spans_with_their_ancestors() -> None:
    text = render_tree(example_failure(), highlight={"18": ["x"], "20": ["y"]}, max_spans=8)
    assert "excerpt: 5 of 27 spans shown" in text
    assert [m.group(1) for m in re.finditer(r"[├└]─ ([^…\s]\S*)", text)] == [
        "agent",
        "deleg",
        "agent",
        "!!",
        "!!",
    ]
    assert "… 2 more spans (11 with their subtrees)" in text  # plan + the research delegation
    assert text.count("… ") == 4


def test_max_spans_without_marks_or_failures_shows_the_first_lines() -> None:
    generated = generated_trace(2000)
    trace = Trace(
        trace_id="g",
        name="g",
        started_at="",
        spans=tuple(s.replace(status="ok", error=None) for s in generated.spans),
    )
    text = render_tree(trace, max_spans=50, header=False)
    assert sum(1 for line in text.splitlines() if "…" not in line) == 50
    assert "more span" in text.splitlines()[-1]


def test_hostile_text_cannot_move_the_cursor() -> None:
    evil = "x\x1b[2J\x1b[31mred\rback\x07\u2028"
    trace = Trace(
        trace_id="t",
        name=evil,
        started_at="",
        spans=(
            Span(
                span_id="1",
                parent_id=None,
                kind="tool",
                name=evil,
                agent=evil,
                input={evil: evil},
                status="error",
                error={"type": evil, "message": evil},
            ),
        ),
    )
    for color in (False, True):
        text = render_tree(trace, color=color)
        assert "\x1b[2J" not in text and "\r" not in text and "\x07" not in text and "\u2028" not in text
        if not color:
            assert "\x1b" not in text


def test_spans_in_a_parent_cycle_are_counted_not_silently_lost() -> None:
    trace = Trace(
        trace_id="c",
        name="cycle",
        started_at="",
        spans=(
            Span(span_id="1", parent_id="2", kind="agent", name="a"),
            Span(span_id="2", parent_id="1", kind="agent", name="b"),
            Span(span_id="3", parent_id=None, kind="tool", name="root"),
        ),
    )
    lines = render_tree(trace, header=False).splitlines()
    assert lines == ["└─ tool root 0ns", "(2 spans not shown: their parent ids form a cycle)"]


def test_injection_trace_renders_as_plain_text() -> None:
    text = render_tree(injection_trace())
    assert "<script>alert(1)</script>" in text  # shown, not interpreted: it is a terminal


def test_deep_and_wide_traces_render_without_recursion() -> None:
    deep = tuple(
        Span(span_id=str(i), parent_id=str(i - 1) if i else None, kind="custom", name=f"s{i}", start_ns=i, end_ns=10**6)
        for i in range(5000)
    )
    text = render_tree(Trace(trace_id="d", name="deep", started_at="", spans=deep), compact=True, header=False)
    assert len(text.splitlines()) == 5000
    wide = render_tree(generated_trace(10_000), header=False)
    assert len(wide.splitlines()) == len(generated_trace(10_000).spans)


def test_two_hundred_span_trace_stays_readable() -> None:
    trace = generated_trace(200, agents=4)
    text = render_tree(trace, width=120)
    lines = text.splitlines()
    assert len(lines) == len(trace.spans) + 2  # header + versions line
    assert all(len(line) <= 120 for line in lines)
    errors = [line for line in lines if "✗" in line]
    assert errors and all("ToolError: simulated failure" in line for line in errors)


def test_terminal_safe_escapes_controls_and_keeps_plain_text() -> None:
    assert terminal_safe("plain text: ümlaut, 日本, emoji 🙂") == "plain text: ümlaut, 日本, emoji 🙂"
    assert terminal_safe("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert terminal_safe("\x1b[31mred\x1b]0;t\x07") == "\\x1b[31mred\\x1b]0;t\\x07"
    assert terminal_safe("\x7f\x85\x9b") == "\\x7f\\x85\\x9b"
    assert terminal_safe("x\u202ey\u2028") == "x\\u202ey\\u2028"
    assert terminal_safe("llm\u200bname\ufeff\u200e") == "llm\\u200bname\\ufeff\\u200e"  # look-alikes told apart


@given(st.text())
def test_terminal_safe_output_never_holds_a_control_character_property(text: str) -> None:
    safe = terminal_safe(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029\u202e\u200b\ufeff" for c in safe)
    # Not idempotent (escaping is injective, see test_terminal_edges.py): a second pass doubles backslashes.


def test_a_newline_in_a_span_name_is_shown_escaped_and_cannot_forge_a_line() -> None:
    trace = Trace(
        trace_id="t",
        name="t",
        started_at="",
        spans=(Span(span_id="1", parent_id=None, kind="tool", name="search\n└─ tool fake [ok]", agent="a"),),
    )
    text = render_tree(trace, color=False)
    assert "search\\n└─ tool fake [ok]" in text
    assert not any(line.startswith("└─ tool fake") for line in text.splitlines())


@pytest.mark.parametrize(
    ("ns", "text"),
    [(999, "999ns"), (1_234, "1.23µs"), (999_999, "1ms"), (999_999_999, "1s"), (59_999_000_000, "1m00s"), (125_000_000_000, "2m05s")],
)
def test_format_duration_never_prints_exponents(ns: int, text: str) -> None:
    from pytest_agenttrace.report.terminal import format_duration

    assert format_duration(ns) == text


@pytest.mark.parametrize("compact", [False, True])
def test_a_deep_tree_keeps_to_the_width_by_counting_its_outer_levels(compact: bool) -> None:
    rec = Recorder("deep")
    with rec.activate(), contextlib.ExitStack() as stack:
        for level in range(200):
            stack.enter_context(rec.agent(f"a{level}"))
    lines = render_tree(rec.finish(), color=False, width=100, compact=compact).splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "levels⋯" in lines[-1] and "agent a199" in lines[-1]
    assert "levels⋯" not in lines[10]  # shallow spans keep their guides


def test_a_cut_never_ends_on_half_an_escape() -> None:
    from pytest_agenttrace.report.terminal import _clean

    assert _clean("abcdef\x9bghij", 9) == "abcdef…"
    assert _clean("abcdef\u202ez" * 3, 11) == "abcdef…"
    assert _clean("ab\\xcdefgh", 6) == "ab\\\\x…"  # a backslash of the text itself is doubled: "\\x" is no escape
    assert _clean("ab\\xcdefgh", 4) == "ab…"  # ... and never cut in half
    assert _clean("ab\U000e0041cd", 10) == "ab…"  # the long escape too
    assert _clean("short", 9) == "short"


def test_the_trace_strategy_refuses_kinds_the_format_does_not_have() -> None:
    from pytest_agenttrace.strategies import traces

    @given(traces(kinds=("bogus",)))
    def uses(trace: Trace) -> None:
        raise AssertionError("no trace can be drawn")

    with pytest.raises(ValueError, match="takes span kinds of the trace format .* got \\['bogus'\\]"):
        uses()
