"""The terminal tree at its edges: surrogates, hidden characters, injected values, long and deep traces, width."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _pytest._io.wcwidth import wcswidth  # pytest's own measure of terminal columns: an independent judge
from hypothesis import given
from hypothesis import strategies as st

import pytest_agenttrace as agenttrace
from pytest_agenttrace import store
from pytest_agenttrace.cli import main
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.plugin import _TREE_WIDTH_UNKNOWN, _tree_width
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.report._samples import example_failure, generated_trace
from pytest_agenttrace.report.terminal import render_tree, terminal_safe

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# The escaped set, as (first, last) code points: the Unicode format characters and
# Default_Ignorable_Code_Points, the controls, the line separators and the surrogates.
ESCAPED_RANGES = [
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x34F, 0x34F),
    (0x61C, 0x61C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x2028, 0x2029),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xD800, 0xDFFF),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
]
ESCAPED = frozenset(code for first, last in ESCAPED_RANGES for code in range(first, last + 1))
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_of(code: int) -> str:
    char = chr(code)
    if char in NAMED:
        return NAMED[char]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def unescape(safe: str) -> str:
    """The inverse of terminal_safe: that it exists is what makes terminal_safe injective."""
    out: list[str] = []
    i = 0
    while i < len(safe):
        char = safe[i]
        after = safe[i + 1 : i + 2]
        if char != "\\" or after not in ("\\", "n", "r", "t", "x", "u", "U"):
            out.append(char)  # a backslash before anything else is the text's own
            i += 1
        elif after == "\\":
            out.append("\\")
            i += 2
        elif after in "nrt":
            out.append({"n": "\n", "r": "\r", "t": "\t"}[after])
            i += 2
        else:
            digits = {"x": 2, "u": 4, "U": 8}[after]
            hexa = safe[i + 2 : i + 2 + digits]
            assert re.fullmatch(f"[0-9a-f]{{{digits}}}", hexa), (safe, i)
            assert ord(chr(int(hexa, 16))) in ESCAPED, (safe, i)  # only escaped characters are written so
            out.append(chr(int(hexa, 16)))
            i += 2 + digits
    return "".join(out)


def unsafe_in(text: str) -> list[str]:
    return [c for c in text if ord(c) in ESCAPED and c != "\n"]


def columns(line: str) -> int:
    width = wcswidth(ANSI.sub("", line))
    assert width >= 0, repr(line)  # -1: a control character
    return width


# -- surrogates --------------------------------------------------------------------------------


def test_terminal_safe_shows_lone_surrogates_as_escapes() -> None:
    assert terminal_safe("cut \ud83d here") == "cut \\ud83d here"
    assert terminal_safe("\udc00\udfff") == "\\udc00\\udfff"
    assert terminal_safe("ok 🙂") == "ok 🙂"  # a whole emoji is no surrogate


def surrogate_trace() -> Trace:
    s = "x\ud83d y\udc00"  # a high and a low surrogate, each alone
    return Trace(
        trace_id="t",
        name=f"test_{s}",
        started_at="",
        versions={"prompt:a": f"a@{s}"},
        spans=(
            Span(span_id="1", parent_id=None, kind="agent", name=s, agent=s, scope_path=[], versions={"p": s}),
            Span(
                span_id="2",
                parent_id="1",
                kind="llm",
                name=s,
                agent=s,
                attributes={"model": s, "usage": {"input_tokens": s, "output_tokens": 3}, "confidence": 0.5},
                status="error",
                error={"type": s, "message": s},
            ),
            Span(span_id="3", parent_id="1", kind="tool", name=s, agent=s, input={s: s, "n": [s]}),
            Span(span_id="4", parent_id="1", kind="handoff", name=s, attributes={"from_agent": s, "to_agent": s}),
        ),
    )


@pytest.mark.parametrize("options", [{}, {"compact": True}, {"color": True}, {"width": 60}, {"max_spans": 2}])
def test_a_tree_with_lone_surrogates_is_utf8_and_keeps_its_lines(options: dict[str, Any]) -> None:
    text = render_tree(surrogate_trace(), highlight={"3": ["rule\ud83d"]}, **options)
    text.encode("utf-8")  # strict: a surrogate would raise
    assert "x\\ud83d y\\udc00" in text
    assert all(line.isprintable() or "\x1b[" in line for line in text.splitlines())


def test_show_prints_a_trace_file_with_a_lone_surrogate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # orjson refuses lone surrogates; the standard library reads them, as older files may hold them.
    monkeypatch.setattr(store, "_orjson", None)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(surrogate_trace().to_dict()), encoding="utf-8")
    assert "\\ud83d" in path.read_text(encoding="utf-8")
    assert main(["show", str(path), "--color", "no"]) == 0
    out = capsys.readouterr().out
    out.encode("utf-8")
    # show sanitises the file: the surrogates become escape text, whose backslash the terminal doubles.
    assert "llm x\\\\ud83d y\\\\udc00 @x\\\\ud83d y\\\\udc00" in out


def surrogate_test_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        r"""
        import pytest_agenttrace as at

        def test_run(agenttrace):
            with at.agent("orchestrator"):
                with at.tool("emoji \ud83d cut"):
                    pass
            assert False, "the agent did the wrong thing"
        """
    )


def tree_section(stdout: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(stdout) if "agenttrace trace" in line)
    end = next(i for i, line in enumerate(stdout) if i > start and line.startswith(("===", "___")))
    return stdout[start + 1 : end]


def test_the_failure_tree_with_a_lone_surrogate_keeps_its_lines(pytester: pytest.Pytester) -> None:
    # pytest writes a section in one piece and, if that cannot be encoded, writes all of it
    # as one line of \n and \u2514 escapes: the tree must be UTF-8 whatever the trace holds.
    surrogate_test_file(pytester)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    section = tree_section(result.stdout.lines)
    assert len(section) == 3, section
    assert section[1].startswith("└─ agent orchestrator")
    assert section[2].startswith("   └─ tool emoji ")
    assert "\\u2514" not in result.stdout.str()


def test_the_failure_tree_with_a_lone_surrogate_crosses_to_the_xdist_controller(pytester: pytest.Pytester) -> None:
    # execnet refuses strings that are not UTF-8: the report of the worker would be an INTERNALERROR.
    pytest.importorskip("xdist")
    surrogate_test_file(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "1")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(failed=1)
    section = tree_section(result.stdout.lines)
    assert section[1].startswith("└─ agent orchestrator") and section[2].startswith("   └─ tool emoji ")


# -- values injected through any field ----------------------------------------------------------


def test_token_counts_cannot_inject_an_escape_sequence_or_a_line() -> None:
    rec = Recorder("t")
    with rec.activate(), agenttrace.agent("a") as a:
        a.set_attribute("usage", {"input_tokens": "\x1b[2J\x1b[31mFAKE\nLINE", "output_tokens": 1})
    text = render_tree(rec.finish(), header=False)
    assert "\x1b" not in text and "\n" not in text
    assert "tok '\\x1b[2J\\x1b[3…→1" in text


def test_the_failure_tree_and_show_print_no_escape_sequence_from_a_token_count(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(
        r"""
        import json
        import pytest_agenttrace as at

        def test_run(agenttrace):
            with at.agent("a") as a:
                a.set_attribute("usage", {"input_tokens": "\x1b[2J\x1b[31mFAKE\nLINE", "output_tokens": 1})
            with open("trace.json", "w") as f:
                json.dump(agenttrace.trace.to_dict(), f)
            assert 0
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert "\x1b[2J" not in result.stdout.str()
    assert not any(line.startswith("LINE") for line in result.stdout.lines)
    assert main(["show", str(pytester.path / "trace.json"), "--color", "no"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and not any(line.startswith("LINE") for line in out.splitlines())


HOSTILE = st.text(
    st.one_of(
        st.sampled_from(
            ["\x1b", "[", "2", "J", "\n", "\r", "\x9b", "\u2028", "\u202e", "\u200b", "\ud83d", "\U000e0041", "\\"]
        ),
        st.characters(exclude_categories=()),
    ),
    max_size=12,
)


@st.composite
def hostile_traces(draw: st.DrawFn) -> Trace:
    text = lambda: draw(HOSTILE)  # noqa: E731 - one fresh value per field
    kind = draw(st.sampled_from(["agent", "llm", "tool", "handoff", "delegation", "memory_write", "wait", "x\x1b"]))
    attributes: dict[str, Any] = {
        "model": text(),
        "usage": {"input_tokens": text(), "output_tokens": draw(st.one_of(st.integers(), HOSTILE, st.none()))},
        "confidence": draw(st.floats()),
        "from_agent": text(),
        "to_agent": text(),
        "objective": text(),
        "truncated": True,
        "dropped_keys": [text()],
        "key": text(),
        "version": text(),
        "valid": False,
        "waiting_on": text(),
    }
    child = Span(
        span_id="2",
        parent_id="1",
        kind=kind,
        name=text(),
        agent=text(),
        scope="1",
        input=draw(st.one_of(HOSTILE, st.dictionaries(HOSTILE, HOSTILE, max_size=3))),
        attributes=attributes,
        versions={text(): text()},
        context={text(): text()},
        status=draw(st.sampled_from(["ok", "error", text()])),
        error={"type": text(), "message": text()},
    )
    root = Span(span_id="1", parent_id=None, kind="delegation", name=text(), agent=text())
    return Trace(trace_id="t", name=text(), started_at="", versions={"a": text()}, spans=(root, child))


@given(hostile_traces(), st.sampled_from([{}, {"compact": True}, {"color": True}, {"width": 50}]), HOSTILE)
def test_no_trace_text_reaches_the_terminal_raw_property(trace: Trace, options: dict[str, Any], rule: str) -> None:
    text = render_tree(trace, header=False, highlight={"2": [rule]}, **options)
    text.encode("utf-8")
    lines = ANSI.sub("", text).split("\n")
    assert len(lines) == 2  # one line per span: nothing forged a line
    assert not [c for line in lines for c in unsafe_in(line)]
    full = render_tree(trace, **options)
    assert not unsafe_in(ANSI.sub("", full))


# -- excerpts of long traces ---------------------------------------------------------------------


def payment_trace(retries: int = 0) -> Trace:
    rec = Recorder("payments")
    with rec.activate(), contextlib.suppress(ConnectionError), agenttrace.agent("orch"):
        for _ in range(500):
            with agenttrace.tool("ok_call"):
                pass
        for _ in range(retries):
            with contextlib.suppress(TimeoutError), agenttrace.tool("flaky_api"):
                raise TimeoutError("try again")
        with agenttrace.tool("payment_api"):
            raise ConnectionError("payment gateway refused the charge")
    return rec.finish()


def test_the_excerpt_keeps_the_span_that_failed() -> None:
    text = render_tree(payment_trace(), max_spans=200)
    payment = [line for line in text.splitlines() if "tool payment_api" in line]
    assert len(payment) == 1 and "✗ ConnectionError: payment gateway refused the charge" in payment[0]
    assert "   ├─ … 500 more spans" in text.splitlines()


def test_the_latest_failures_are_kept_first() -> None:
    # 300 caught failures before the one that failed the test: the budget goes to the latest.
    text = render_tree(payment_trace(retries=300), max_spans=200)
    assert "ConnectionError: payment gateway refused the charge" in text
    assert "tool flaky_api ×300" in text  # the retries it kept and those it did not: one line


def test_flagged_spans_are_kept_before_failed_ones() -> None:
    trace = payment_trace(retries=300)
    first_ok = next(s for s in trace.spans if s.name == "ok_call")
    text = render_tree(trace, max_spans=2, highlight={first_ok.span_id: ["looked_at"]})
    assert "◀ looked_at" in text and "payment_api" not in text


def test_an_excerpt_folds_runs_of_alike_leaves_into_one_line() -> None:
    rec = Recorder("fold")
    with rec.activate(), agenttrace.agent("orch"):
        for _ in range(500):
            with agenttrace.tool("ok_call"):
                pass
        for n in range(3):
            with agenttrace.tool("search", input={"query": f"q{n}"}):
                pass
    lines = render_tree(rec.finish(), max_spans=200).splitlines()
    assert [line for line in lines if "ok_call" in line] == [lines[-4]]
    assert re.fullmatch(r"   ├─ tool ok_call ×500 \(\S+ total\) @orch", lines[-4])
    assert [line.split(" @")[0] for line in lines[-3:]] == [
        "   ├─ tool search (query='q0')",  # alike but for their inputs: one line each
        "   ├─ tool search (query='q1')",
        "   └─ tool search (query='q2')",
    ]
    assert not any("excerpt" in line for line in lines)  # all 504 spans are shown, folded


def test_the_failure_tree_shows_the_span_that_failed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest_agenttrace as agenttrace

        def test_run(agenttrace):
            with agenttrace.agent("orch"):
                for i in range(500):
                    with agenttrace.tool("ok_call"):
                        pass
                with agenttrace.tool("payment_api"):
                    raise ConnectionError("payment gateway refused the charge")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    section = tree_section(result.stdout.lines)
    assert len(section) < 10
    result.stdout.fnmatch_lines(["*└─ tool payment_api @orch * ✗ ConnectionError: payment gateway refused*"])


# -- width ---------------------------------------------------------------------------------------


def deep_trace(levels: int) -> Trace:
    spans = tuple(
        Span(
            span_id=str(i),
            parent_id=str(i - 1) if i else None,
            kind="agent" if i % 2 else "tool",
            name=f"level_{i}_with_a_rather_long_name",
            agent=f"agent_{i}",
            start_ns=i,
            end_ns=10**9,
        )
        for i in range(levels)
    )
    return Trace(trace_id="d", name="deep " * 40, started_at="", spans=spans)


def wide_text_trace() -> Trace:
    names = ["日本語の名前" * 8, "emoji 🙂" * 12, "e\u0301" * 50, "plain" * 30]
    spans = [Span(span_id="0", parent_id=None, kind="agent", name="root")]
    spans += [
        Span(span_id=str(i), parent_id="0", kind="tool", name=n, agent=n, status="error", error={"message": n})
        for i, n in enumerate(names, 1)
    ]
    return Trace(trace_id="w", name="w", started_at="", spans=tuple(spans))


TRACES = {
    "example": (example_failure, {"20": ["cascading_error", "tester-gets-confidence", "a" * 90], "18": ["x"]}),
    "deep": (lambda: deep_trace(3000), {"2999": ["too_deep"]}),
    "wide_text": (wide_text_trace, {"2": ["wide"]}),
    "generated": (lambda: generated_trace(400), {}),
}


@pytest.mark.parametrize("name", sorted(TRACES))
@pytest.mark.parametrize("width", [40, 80, 120])
@pytest.mark.parametrize("options", [{}, {"compact": True}, {"color": True}, {"max_spans": 50}])
def test_no_line_is_wider_than_the_width(name: str, width: int, options: dict[str, Any]) -> None:
    make, marks = TRACES[name]
    lines = render_tree(make(), width=width, highlight=marks, **options).splitlines()
    assert max(columns(line) for line in lines) <= width


def test_a_3000_level_trace_at_80_columns_counts_its_outer_levels() -> None:
    lines = render_tree(deep_trace(3000), width=80, header=False).splitlines()
    assert max(columns(line) for line in lines) <= 80
    # 2989 outer levels counted, the 10 inner ones drawn (all blank: each span is its parent's last child).
    assert re.fullmatch(r"⋯2989 levels⋯ {31}└─ agent level_2999_with_a_rather_l…", lines[-1])


def test_the_failure_tree_fits_the_terminal_width(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    pytester.makepyfile(
        textwrap.dedent(
            """
            import contextlib
            import pytest_agenttrace as at

            def test_run(agenttrace):
                with contextlib.ExitStack() as stack:
                    for level in range(150):
                        stack.enter_context(at.agent(f"agent_{level}_" + "with_a_long_name" * 3))
                    with at.tool("call", input={"query": "x" * 300}):
                        pass
                assert False
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    section = tree_section(result.stdout.lines)
    assert len(section) == 1 + 151
    assert max(columns(line) for line in section) <= 80
    assert "levels⋯" in section[-1]


def test_the_tree_width_is_columns_or_the_terminal_or_120(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "97")
    assert _tree_width() == 97
    monkeypatch.setenv("COLUMNS", "20")
    assert _tree_width() == 40  # narrower than any tree can use
    monkeypatch.delenv("COLUMNS")

    def no_terminal(fd: int = 1) -> os.terminal_size:
        raise OSError("not a terminal")

    monkeypatch.setattr(os, "get_terminal_size", no_terminal)
    assert _tree_width() == _TREE_WIDTH_UNKNOWN == 120  # piped output, an xdist worker


# -- characters that show as nothing --------------------------------------------------------------


@pytest.mark.parametrize(("first", "last"), ESCAPED_RANGES, ids=[f"U+{a:04X}-U+{b:04X}" for a, b in ESCAPED_RANGES])
def test_each_range_of_invisible_characters_is_escaped_from_first_to_last(first: int, last: int) -> None:
    for code in (first, last):
        assert terminal_safe(f"a{chr(code)}b") == f"a{escape_of(code)}b"


def test_exactly_the_documented_set_is_escaped() -> None:
    changed = {code for code in range(0x110000) if terminal_safe(chr(code)) != chr(code)}
    assert changed == ESCAPED


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("coder\U000e0041\U000e0042", "coder\\U000e0041\\U000e0042"),
        ("coder\u00ad", "coder\\xad"),
        ("coder\u2063", "coder\\u2063"),
        ("coder\u180e", "coder\\u180e"),
        ("coder\ufe0f", "coder\\ufe0f"),
        ("\u3164coder", "\\u3164coder"),
    ],
)
def test_an_agent_name_with_an_invisible_character_does_not_look_like_another(name: str, shown: str) -> None:
    trace = Trace(
        trace_id="t",
        name="t",
        started_at="",
        spans=(
            Span(span_id="1", parent_id=None, kind="agent", name="coder"),
            Span(span_id="2", parent_id=None, kind="agent", name=name),
        ),
    )
    lines = render_tree(trace, header=False).splitlines()
    assert lines == ["├─ agent coder 0ns", f"└─ agent {shown} 0ns"]


def test_a_literal_escape_in_the_text_differs_from_the_escaped_character() -> None:
    assert terminal_safe("\u200b") == "\\u200b"
    assert terminal_safe("\\u200b") == "\\\\u200b"
    assert terminal_safe("\\\u200b") == "\\\\\\u200b"
    assert terminal_safe("\\n") == "\\\\n" != terminal_safe("\n")
    assert terminal_safe("C:\\Program Files\\") == "C:\\Program Files\\"  # other backslashes stay as they are


TRICKY = st.text(
    st.one_of(
        st.sampled_from("\\xuUnrt0123456789abcdef"),
        st.sampled_from([chr(code) for pair in ESCAPED_RANGES for code in pair]),
        st.characters(exclude_categories=()),
    )
)


@given(TRICKY)
def test_terminal_safe_is_free_of_the_set_utf8_and_injective_property(text: str) -> None:
    safe = terminal_safe(text)
    assert not [c for c in safe if ord(c) in ESCAPED]
    safe.encode("utf-8")
    assert unescape(safe) == text  # an inverse exists: no two texts give the same output


@given(TRICKY, TRICKY)
def test_two_different_texts_never_look_the_same_property(a: str, b: str) -> None:
    assert (terminal_safe(a) == terminal_safe(b)) == (a == b)


def test_the_escapes_reach_a_strict_utf8_stream() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    stream.write(render_tree(surrogate_trace(), color=True) + "\n")
    stream.flush()


def test_huge_integers_in_usage_and_confidence_show_as_magnitudes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 400-digit confidence overflowed the float format; a token count past Python's int-to-str limit raised."""
    span = Span(
        span_id="1",
        parent_id=None,
        kind="llm",
        name="call",
        start_ns=0,
        end_ns=1,
        attributes={"confidence": 10**400, "usage": {"input_tokens": 10**5000, "output_tokens": 10**20}},
        input={"n": 10**5000},
    )
    trace = Trace(trace_id="t", name="big", started_at="2024-01-01T00:00:00Z", spans=(span,))
    assert render_tree(trace).splitlines()[-1] == "└─ llm call 1ns tok ~1e5000→~1e20 conf=~1e400"

    # From a trace file (JSON integers of up to 4300 digits load): `agenttrace show` printed a traceback.
    data = trace.to_dict() | {"format_version": 1}
    data["spans"][0]["attributes"]["usage"]["input_tokens"] = 10**4000
    data["spans"][0]["input"] = None
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["show", str(path), "--color", "no", "--width", "80"]) == 0
    assert "tok ~1e4000→~1e20 conf=~1e400" in capsys.readouterr().out
