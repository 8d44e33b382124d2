"""Span ids are unique in a trace: a trace (dict or file) that repeats one is refused, saying where.

Everything downstream (parent lookups, diffs, specs, the report) finds spans by id; with two spans
under one id it silently reads the wrong one.  The JSON Schema cannot say "unique by this key"
(``uniqueItems`` compares whole items), so the loader and :meth:`Trace.from_dict` check it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.cli import main
from pytest_agenttrace.model import Trace
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.store import check_types, load_trace, validate_trace_dict


def _trace_dict(repeat: tuple[int, int] | None = None) -> dict[str, Any]:
    """Four spans ("1" agent > "2" tool, "3" llm, "4" tool); ``repeat=(i, j)`` gives span j the id of span i."""
    rec = Recorder("tests/test_x.py::test_y")
    with rec.activate(), rec.agent("a"):
        for name in ("t", "m", "u"):
            with rec.span("tool" if name != "m" else "llm", name):
                pass
    data = rec.finish().to_dict()
    if repeat is not None:
        first, again = repeat
        data["spans"][again]["span_id"] = data["spans"][first]["span_id"]
    return data


def test_trace_from_dict_refuses_a_repeated_span_id_naming_both_places() -> None:
    with pytest.raises(at.TraceFileError) as info:
        Trace.from_dict(_trace_dict(repeat=(1, 3)))
    message = str(info.value)
    assert "span #3" in message and "span #1" in message and "'2'" in message
    assert "unique" in message


def test_trace_from_dict_takes_unique_ids() -> None:
    trace = Trace.from_dict(_trace_dict())
    assert [span.span_id for span in trace.spans] == ["1", "2", "3", "4"]
    assert trace.parent("4") is trace.span("1")


def test_loading_a_file_with_a_repeated_span_id_names_the_file_the_id_and_both_places(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(_trace_dict(repeat=(0, 2))))
    with pytest.raises(at.TraceFileError) as info:
        load_trace(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "duplicate span_id '1'" in message and "span #2" in message and "span #0" in message


def test_check_types_names_both_places_of_a_repeated_span_id() -> None:
    data = _trace_dict()
    trace = Trace.from_dict(data)
    spans = (*trace.spans, trace.spans[1].replace(start_ns=trace.spans[-1].start_ns))
    with pytest.raises(at.TraceFileError, match=r"span #4: duplicate span_id '2' \(first at span #1\)"):
        check_types(Trace(trace_id="t", name="n", started_at="s", spans=spans))


def test_the_schema_alone_cannot_see_a_repeated_span_id() -> None:
    # Documents why the check is the loader's: this file passes the schema.
    validate_trace_dict(_trace_dict(repeat=(0, 2)))


@pytest.mark.parametrize(
    "command", [["show", "{bad}"], ["diff", "{bad}", "{bad}"], ["check", "{bad}", "--spec", "{spec}"]]
)
def test_commands_exit_2_on_a_repeated_span_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_trace_dict(repeat=(1, 2))))
    spec = tmp_path / "spec.yaml"
    spec.write_text("rules:\n  - id: r\n    forbid: '[kind=tool]'\n")
    assert main([part.format(bad=bad, spec=spec) for part in command]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "duplicate span_id '2'" in err and err.strip().count("\n") == 0
