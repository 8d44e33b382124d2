"""The snapshot file parser on hostile input: every problem is a TraceFileError naming the line.

Whatever :func:`loads` accepts, the diff and :func:`to_trace` can use (a property test over
mutated valid files checks both).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_agenttrace.cli import main
from pytest_agenttrace.diff import diff_normalized
from pytest_agenttrace.exceptions import TraceFileError
from pytest_agenttrace.model import KINDS
from pytest_agenttrace.normalize import NormalizeOptions, normalize, to_trace
from pytest_agenttrace.snapfile import dumps, loads

from .helpers import pipeline

BIG = "9" * 5000
HEAD = "# agenttrace snapshot\nformat 1\nlevel io\n"


@pytest.mark.parametrize(
    ("body", "line", "column", "message"),
    [
        pytest.param('spans\n- agent a {"input": ' + BIG + "}\n", 5, 11, "more than 4300 digits", id="big-int"),
        pytest.param(f'version prompt:x "a"\nversion prompt:y {BIG}\nspans\n', 5, 18, "4300 digits", id="big-version"),
        pytest.param(
            'spans\n- agent a {"input": ' + "[" * 5000 + "]" * 5000 + "}\n", 5, 11, "nested too deeply", id="deep"
        ),
        pytest.param(
            "spans\n- agent a\n  - bogus orchestrator {}\n", 6, 5, "unknown span kind 'bogus'", id="unknown-kind"
        ),
        pytest.param('spans\n- agent a {"children": 1}\n  - tool t\n', 5, 11, "cannot hold 'children'", id="children"),
        pytest.param('spans\n- agent a {"kind": "tool"}\n', 5, 11, "cannot hold 'kind'", id="kind"),
        pytest.param('spans\n- agent a {"name": 1}\n', 5, 11, "cannot hold 'name'", id="name"),
        pytest.param('spans\n- agent a {"links": [1]}\n', 5, 11, "'links' must be a list of strings", id="links"),
        pytest.param('spans\n- agent a {"attributes": 3}\n', 5, 11, "'attributes' must be an object", id="attributes"),
        pytest.param(
            'spans\n- agent a {"events": [1]}\n', 5, 11, "'events' must be a list of JSON objects", id="events"
        ),
        pytest.param('spans\n- agent a {"error": "boom"}\n', 5, 11, "'error' must be an object or null", id="error"),
        pytest.param('spans\n- agent a {"agent": ["x"]}\n', 5, 11, "'agent' must be a string or null", id="agent"),
        pytest.param("version prompt:x 5\nspans\n", 4, 18, "a version value is a JSON string", id="version-type"),
    ],
)
def test_bad_span_lines_are_trace_file_errors(body: str, line: int, column: int, message: str) -> None:
    with pytest.raises(TraceFileError) as info:
        loads(HEAD + body, path="golden.agenttrace")
    error = info.value
    assert message in error.message
    assert (error.line, error.column) == (line, column), str(error)
    assert "--snapshot-update" in error.message
    assert len(str(error)) < 400


def test_an_unknown_kind_lists_the_known_kinds() -> None:
    with pytest.raises(TraceFileError) as info:
        loads(HEAD + "spans\n- bogus orchestrator {}\n")
    assert f"known kinds: {', '.join(KINDS)}" in info.value.message


def test_agenttrace_diff_of_a_snapshot_with_a_huge_number_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "golden.agenttrace"
    golden.write_text(HEAD + 'spans\n- agent a {"input": ' + BIG + "}\n", encoding="utf-8")
    assert main(["diff", str(golden), str(golden)]) == 2
    err = capsys.readouterr().err
    assert f"{golden}:5:11: snapshot file is malformed" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- property: mutated valid files ------------------------------------------------------------------------------

_VALID = [dumps(normalize(pipeline(), NormalizeOptions.build(level=level))) for level in ("structure", "io", "full")]
_PIECES = [
    "{", "}", "[", "]", '"', ":", ",", " ", "  ", "\n", "- ", "null", "1", BIG, "\\", "\x00", "\u2028", "\r",
    '"x"', "-1e999", "#", "spans", "format 1", "version a 5", "bogus", "tool",
]  # fmt: skip
_VALUES = st.sampled_from([1, "x", None, [1], ["x"], {}, {"a": 1}, [{}], [[]], True, 1.5, -1, [None]])
_KEYS = st.sampled_from(
    [
        *("children", "links", "attributes", "events", "error", "scope", "status", "context", "context_keys"),
        *("input", "agent", "duration", "kind", "name", "extra"),
    ]
)


@st.composite
def mutated_files(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_VALID))
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate", "field"]))
        if action == "insert":
            text = text[:at] + draw(st.sampled_from(_PIECES)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif action == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(lines)))
            text = "\n".join(lines)
        else:  # set one field of a span line to a value of any JSON type
            number = draw(st.integers(0, len(lines) - 1))
            head, brace, body = lines[number].partition(" {")
            try:
                fields = json.loads("{" + body) if brace else None
            except (ValueError, RecursionError):  # an earlier mutation broke the line already
                fields = None
            if isinstance(fields, dict):
                fields[draw(_KEYS)] = draw(_VALUES)
                lines[number] = f"{head} {json.dumps(fields)}"
                text = "\n".join(lines)
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_property_loads_raises_only_trace_file_errors_and_what_it_accepts_is_usable(text: str) -> None:
    try:
        loaded = loads(text, path="golden.agenttrace")
    except TraceFileError as error:
        assert error.line is not None
        return
    golden = loads(_VALID[1])
    diff_normalized(golden, loaded).render(40)
    diff_normalized(loaded, golden).render(40)
    to_trace(loaded)
    assert loads(dumps(loaded)) == loaded


def test_a_value_nested_5000_levels_is_written_with_a_depth_marker() -> None:
    deep: object = 1
    for _ in range(5000):
        deep = {"a": [deep]}
    data = pipeline()
    data["spans"][0]["attributes"] = {"deep": deep}
    text = dumps(normalize(data))
    assert text.count("…[agenttrace: nested deeper than 200]") == 1
    assert dumps(loads(text)) == text  # stable once written
