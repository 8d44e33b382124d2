"""``--git-file`` in a copy of the tree tests the copy, also when the package is installed editable."""

from __future__ import annotations

import os
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from bisect_helpers import commit_file
from test_bisect_cli import FAST, run_cli

from pytest_agenttrace.bisect_run import GitFileTarget

PACKAGE = textwrap.dedent(
    """
    from pathlib import Path

    PROMPT = (Path(__file__).parent / "prompt.txt").read_text()
    """
)
TEST = "import mypkg\n\ndef test_prompt():\n    assert 'tier' in mypkg.PROMPT\n"


@pytest.fixture
def src_layout(git: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """A src-layout project installed editable: a .pth file names <repo>/src, as pip install -e writes it."""
    repo = tmp_path / "repo"
    commit_file(git, repo, "src/mypkg/__init__.py", PACKAGE, "package")
    commit_file(git, repo, "tests/test_prompt.py", TEST, "test")
    shas = [commit_file(git, repo, "src/mypkg/prompt.txt", f"pass the tier ({n})\n", f"r{n}") for n in (1, 2)]
    shas += [commit_file(git, repo, "src/mypkg/prompt.txt", f"pass the id only ({n})\n", f"r{n}") for n in (3, 4)]
    # The runs' interpreter reads the .pth through site.addsitedir, as for site-packages (after PYTHONPATH).
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "__editable__.mypkg.pth").write_text(f"{repo / 'src'}\n")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(f"import site\nsite.addsitedir({str(site_dir)!r})\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setattr(sys, "path", [*sys.path, str(repo / "src")])  # this process has read the .pth too
    monkeypatch.chdir(repo)
    return repo, shas


def test_a_copy_of_the_tree_puts_its_own_src_folder_first_on_the_import_path(
    src_layout: tuple[Path, list[str]],
) -> None:
    repo, shas = src_layout
    target = GitFileTarget("src/mypkg/prompt.txt", None, None, repo)
    with target.prepare(shas[0]) as (cwd, _, env):
        entries = env["PYTHONPATH"].split(os.pathsep)
        copy_src = cwd / "src"
        assert entries[0] == str(copy_src)
        assert (copy_src / "mypkg" / "prompt.txt").read_text() == "pass the tier (1)\n"
        assert os.environ["PYTHONPATH"].split(os.pathsep) == entries[1:]  # what was there stays, after


@pytest.mark.slow
def test_git_file_bisect_of_an_editable_src_layout_package_tests_each_commit(
    src_layout: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, shas = src_layout
    argv = ["bisect", "--git-file", "src/mypkg/prompt.txt", "--no-cache", "--", "tests/test_prompt.py", *FAST]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, out + err
    assert f"first bad version: src/mypkg/prompt.txt@{shas[2]}" in out
    assert f"last good version: src/mypkg/prompt.txt@{shas[1]}" in out


def test_a_package_mapped_by_a_setuptools_editable_finder_is_imported_from_the_copy(
    git: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    commit_file(git, repo, "src/mypkg/__init__.py", PACKAGE, "package")
    sha = commit_file(git, repo, "src/mypkg/prompt.txt", "pass the tier\n", "r1")
    commit_file(git, repo, "src/mypkg/prompt.txt", "pass the id\n", "r2")
    # setuptools' editable finder (no sys.path entry): a module __editable___<dist>_finder with MAPPING.
    finder = types.ModuleType("__editable___mypkg_0_1_finder")
    finder.MAPPING = {"mypkg": str(repo / "src" / "mypkg")}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, finder.__name__, finder)
    target = GitFileTarget("src/mypkg/prompt.txt", None, None, repo)
    with target.prepare(sha) as (cwd, _, env):
        assert env["PYTHONPATH"].split(os.pathsep)[0] == str(cwd / "src")
