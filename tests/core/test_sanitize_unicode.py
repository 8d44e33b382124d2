"""Lone surrogates: every string sanitize returns encodes as UTF-8, so every output can be written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace.sanitize import Limits, clean, redact_label, redact_stamps, redact_text

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

# Text with lone surrogates among ASCII, other non-ASCII text and secrets.
_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_texts = st.lists(
    st.one_of(
        _surrogates,
        st.text(max_size=6),
        st.sampled_from(["é", "😀", "Bearer abcdefghij1234", "sk-proj-abcdefghijklmnopqrstu", "\\ud83d"]),
    ),
    max_size=8,
).map("".join)
_values = st.recursive(
    st.none() | st.integers() | _texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_texts, inner, max_size=4),
    max_leaves=12,
)


def _strings(value: Any) -> list[str]:
    """Every string in clean JSON data, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [key, *_strings(item)]]
    return []


@given(_values, st.booleans(), st.integers(1, 40))
def test_property_every_string_clean_returns_encodes_as_utf8(value: object, redact: bool, max_string: int) -> None:
    limits = Limits(max_string=max_string, max_items=3, max_depth=3, redact=redact)
    out = clean(value, limits)
    for text in _strings(out):
        text.encode("utf-8")
    json.dumps(out, ensure_ascii=False).encode("utf-8")
    assert clean(out, limits) == out  # the escape is ASCII: cleaning again changes nothing


@given(_texts)
def test_property_redact_text_and_labels_encode_as_utf8(text: str) -> None:
    redact_text(text).encode("utf-8")
    redact_label(text).encode("utf-8")
    redact_label(text).encode("utf-8")  # from the cache
    for key, stamp in redact_stamps({text: text}).items():
        key.encode("utf-8")
        stamp.encode("utf-8")


@given(st.text())
def test_property_text_without_surrogates_is_kept_as_it_is(text: str) -> None:
    """Hypothesis's text has no surrogates: the escape changes nothing else."""
    assert clean(text, Limits(max_string=10**6, redact=False)) is text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("truncated emoji \ud83d", "truncated emoji \\ud83d"),  # half of 😀 (U+D83D U+DE00)
        ("\ud83d", "\\ud83d"),  # short strings too
        ("caf\xe9 \udcff", "caf\xe9 \\udcff"),  # a byte os.fsdecode could not decode
        ("\ud83d\ude00", "\\ud83d\\ude00"),  # both halves, as two code points: no emoji either
        ("😀 and é", "😀 and é"),  # other text as it is
        (["x", "\udc80"], ["x", "\\udc80"]),
        ({"k\ud83d": "v"}, {"k\\ud83d": "v"}),
        ({"q": "\ud83d"}, {"q": "\\ud83d"}),  # a short value, inlined by the mapping pass
    ],
)
def test_lone_surrogates_are_written_as_their_escape(value: object, expected: object) -> None:
    assert clean(value) == expected
    assert clean(value, Limits(redact=False)) == expected


def test_labels_and_stamps_escape_lone_surrogates() -> None:
    assert redact_label("ab\ud83d") == "ab\\ud83d"
    assert redact_label("search tool \ud83d") == "search tool \\ud83d"
    assert redact_label("search tool \ud83d") == "search tool \\ud83d"  # cached
    assert redact_text("Bearer abcdefghij1234\ud83d") == "Bearer [REDACTED]\\ud83d"
    assert redact_stamps({"prompt:p\ud83d": "p@v1\udc80"}) == {"prompt:p\\ud83d": "p@v1\\udc80"}


def test_a_key_escaped_like_a_key_given_as_such_keeps_both() -> None:
    assert clean({"\ud83d": 1, "\\ud83d": 2}) == {"\\ud83d": 1, "\\ud83d'": 2}
    assert clean({"\\ud83d": 1, "\ud83d": 2}) == {"\\ud83d": 1, "\\ud83d'": 2}


def test_an_escaped_secret_key_is_still_redacted_once_per_key() -> None:
    assert clean({"api_key": "\ud83dsecret", "api_key\ud83d": "x"}) == {"api_key": "[REDACTED]", "api_key\\ud83d": "x"}


SURROGATE_TESTS = r"""
import pytest_agenttrace as at


def test_cut_emoji(agenttrace):
    with at.agent("agent one \ud83d"):
        with agenttrace.tool("search tool \ud83d", input={"q\udc80": "\ud83d", "text": "caf\xe9 \ud83d"}) as c:
            c.set_output("truncated emoji \ud83d")
        with at.tool("t\ud83d"):  # a name too short to hold a secret is escaped all the same
            pass
    assert agenttrace.trace.spans[1].output == "truncated emoji \\ud83d"


def test_cut_emoji_fails(agenttrace):
    with agenttrace.tool("search tool \ud83d", input={"q": "\ud83d"}) as c:
        c.set_output("truncated emoji \ud83d")
    assert False, "shows the trace tree"
"""


@pytest.mark.parametrize("flags", [(), ("-n", "2")])
def test_a_recorded_lone_surrogate_reaches_every_output_as_its_escape(
    pytester: pytest.Pytester, flags: tuple[str, ...]
) -> None:
    # Before: the HTML report raised UnicodeEncodeError, --agenttrace-save errored at teardown and
    # under xdist the session died with INTERNALERROR (execnet sends only UTF-8 encodable strings).
    if flags:
        pytest.importorskip("xdist")
    pytester.makepyfile(test_cut=SURROGATE_TESTS)
    result = pytester.runpytest("-p", "no:randomly", "--agenttrace-save", "--agenttrace-report=r.html", *flags)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    # The failing test's trace tree: the recorded text "\\ud83d" shows with its backslash doubled, as the
    # terminal shows a backslash before "u" (a lone surrogate itself would show as "\\ud83d").
    result.stdout.fnmatch_lines(["*tool search tool \\\\ud83d (q='\\\\ud83d')*"])
    saved = sorted((pytester.path / ".agenttrace").glob("*.json"))
    assert len(saved) == 2
    written = [path.read_bytes().decode("utf-8") for path in [pytester.path / "r.html", *saved]]
    trace = json.loads(written[1])  # test_cut_emoji
    assert [(s["name"], s.get("agent")) for s in trace["spans"]] == [
        ("agent one \\ud83d", "agent one \\ud83d"),
        ("search tool \\ud83d", "agent one \\ud83d"),
        ("t\\ud83d", "agent one \\ud83d"),
    ]
    assert trace["spans"][1]["input"] == {"q\\udc80": "\\ud83d", "text": "caf\xe9 \\ud83d"}
    assert trace["spans"][1]["output"] == "truncated emoji \\ud83d"
    assert "search tool \\\\ud83d" in written[0]  # in the report's JSON blocks, escaped once more by JSON


@pytest.mark.parametrize("flags", [(), ("-n", "2")])
def test_a_failure_message_quoting_a_lone_surrogate_keeps_the_session_alive(
    pytester: pytest.Pytester, flags: tuple[str, ...]
) -> None:
    # The assertion quotes the model's output itself (not the recorded copy): pytest printed the whole
    # report as one escaped line, and under xdist the worker could not send it (INTERNALERROR).
    if flags:
        pytest.importorskip("xdist")
    pytester.makepyfile(
        test_cut=r'''
def test_reply_is_whole():
    reply = "truncated emoji \ud83d"
    print("model said", reply)
    assert reply.endswith("!"), reply
'''
    )
    result = pytester.runpytest("-p", "no:randomly", *flags)
    result.assert_outcomes(failed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    result.stdout.fnmatch_lines(["*AssertionError: truncated emoji \\ud83d*", "*model said truncated emoji ?*"])


def test_without_redaction_lone_surrogates_are_still_escaped_everywhere(tmp_path: Any) -> None:
    # Limits(redact=False) skipped the labels' pass, which escapes too: saving raised UnicodeEncodeError.
    from pytest_agenttrace.recorder import Recorder
    from pytest_agenttrace.store import load_trace, save_trace

    rec = Recorder("test_x[\ud83d]", limits=Limits(redact=False))
    with rec:
        rec.config("tools\ud83d", {"k": "v\udc80"})
        with rec.agent("agent \udc80"), rec.tool("t\ud83d", q="sk-proj-abcdefghijklmnopqrstuvwx"):
            during = rec.trace  # a snapshot, taken while recording
    for trace in (during, rec.finish()):
        json.dumps(trace.to_dict()).encode("utf-8")  # strict: no lone surrogate anywhere
        tool = trace.spans[-1]
        assert (trace.name, tool.name, tool.agent) == ("test_x[\\ud83d]", "t\\ud83d", "agent \\udc80")
        assert "config:tools\\ud83d" in tool.versions and "config:tools\\ud83d" in trace.versions
        assert tool.attributes["q"] == "sk-proj-abcdefghijklmnopqrstuvwx"  # nothing redacted, as asked
    assert load_trace(save_trace(rec.finish(), tmp_path / "t.json")).name == "test_x[\\ud83d]"


def test_a_secret_in_a_test_id_is_redacted_from_the_trace_name() -> None:
    from pytest_agenttrace.recorder import Recorder

    rec = Recorder("test_call[sk-proj-abcdefghijklmnopqrstuvwx]")
    with rec:
        pass
    assert rec.finish().name == "test_call[[REDACTED]]"
