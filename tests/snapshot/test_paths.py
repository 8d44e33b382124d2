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
