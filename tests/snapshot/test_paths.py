"""Include/exclude paths: what they may name."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_agenttrace.cli import main
from pytest_agenttrace.exceptions import InputError
from pytest_agenttrace.normalize import NormalizeOptions, normalize
from pytest_agenttrace.store import save_trace

from .helpers import pipeline


@pytest.mark.parametrize("path", ["kind", "name", "children", "llm:name", "children.x"])
@pytest.mark.parametrize("option", ["include", "exclude"])
def test_paths_naming_the_tree_itself_are_input_errors(option: str, path: str) -> None:
    with pytest.raises(InputError, match=r"start a path with one of agent, scope"):
        NormalizeOptions.build(**{option: [path]})


@pytest.mark.parametrize("path", ["agent", "output", "tool:input.q", "attributes.*", "namespace", "kinds"])
def test_other_paths_are_accepted(path: str) -> None:
    normalize(pipeline(), NormalizeOptions.build(exclude=[path]))


@pytest.mark.parametrize("path", ["name", "kind"])
def test_diff_exclude_of_name_or_kind_exits_2_without_a_traceback(
    path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_agenttrace.model import Trace

    trace = tmp_path / "t.json"
    save_trace(Trace.from_dict(pipeline()), trace)
    assert main(["diff", str(trace), str(trace), "--exclude", path]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"snapshot path '{path}'" in err


def test_an_ini_exclude_of_name_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_snapshot_exclude = name\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *snapshot path 'name'*"])


@pytest.mark.parametrize(
    ("text", "kind", "segments"),
    [
        ("attributes.usage", None, ("attributes", "usage")),
        ("llm:output.*.id", "llm", ("output", "*", "id")),
        ('attributes."otel.app.latency.ms"', None, ("attributes", "otel.app.latency.ms")),
        ('tool:attributes."http:status".code', "tool", ("attributes", "http:status", "code")),
        ('input."a\\"b"', None, ("input", 'a"b')),
        ('"attributes".x', None, ("attributes", "x")),
    ],
)
def test_path_grammar_valid(text: str, kind: str | None, segments: tuple[str, ...]) -> None:
    from pytest_agenttrace.normalize import _Pattern

    pattern = _Pattern.parse(text)
    assert (pattern.kind, pattern.segments) == (kind, segments)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "it is empty"),
        ("llm:", "it is empty"),
        ("a..b", "an empty segment at column 3"),
        ("a.", "it ends with '.'"),
        ('attributes."x', "a quoted segment at column 12 is not a JSON string"),
        ('attributes."x"y', "expected '.' after a quoted segment at column 15"),
        ('at"tr', "a quote inside the segment"),
        ('attributes.""', "an empty segment"),
    ],
)
def test_path_grammar_invalid(text: str, problem: str) -> None:
    with pytest.raises(InputError, match="is not a dotted path") as info:
        NormalizeOptions.build(exclude=[text])
    assert problem in str(info.value)


def test_a_quoted_segment_targets_an_attribute_key_with_dots() -> None:
    data = pipeline()
    data["spans"][3]["attributes"] = {"otel.app.latency.ms": 12, "otel": {"app": 1}, "why": "x"}
    dropped = normalize(data, NormalizeOptions.build(exclude=['tool:attributes."otel.app.latency.ms"']))
    tool = dropped["spans"][0]["children"][0]["children"][0]["children"][0]
    assert tool["attributes"] == {"otel": {"app": 1}, "why": "x"}
    kept = normalize(data, NormalizeOptions.build(level="structure", include=['attributes."otel.app.latency.ms"']))
    tool = kept["spans"][0]["children"][0]["children"][0]["children"][0]
    assert tool["attributes"] == {"otel.app.latency.ms": 12}
