"""Version matrices: run one test across several versions of a prompt or config.

``@pytest.mark.agenttrace_versions(summarizer=["v3", "v4"], tools=["a", "b"])``
runs the test once per combination (ids like ``summarizer=v3,tools=a``), and
``--agenttrace-matrix NAME=L1,L2`` (repeatable) does the same for every test
that records: one that uses the ``agenttrace`` fixture, has an
``agenttrace(spec=..., snapshot=...)`` marker, or has ``agenttrace_versions``.
For a NAME the marker also lists, the command line's labels replace the
marker's; the marker's other NAMEs stay, and the test runs the product.
Each run's labels are put in ``item.stash[versions.ITEM_OVERRIDES]``, which
the ``agenttrace`` fixture applies on top of ``--agenttrace-version``; the
fixture ``agenttrace_matrix`` gives them to the test as a dict.  That fixture
is the core plugin's (:mod:`pytest_agenttrace.plugin`), not this module's: with
this plugin turned off (``-p no:pytest_agenttrace.matrix``) a matrix test runs
once, unpinned, and its ``agenttrace_matrix`` is empty.

Every run of a matrix compares with **one** golden snapshot, named as the test
without the matrix parameter.  The first label of every NAME is the
*baseline*: only the baseline run writes the golden under
``--snapshot-update``; the other runs only compare, so a pull request that
changes a prompt shows, per version, what the agents now do differently.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import pytest

from .versions import ITEM_OVERRIDES

__all__ = ["FIXTURE", "MATRIX_KEY", "MatrixRun", "matrix_axes", "parse_matrix_option"]

FIXTURE: Final = "agenttrace_matrix"


@dataclass(frozen=True, slots=True)
class MatrixRun:
    """One cell of a version matrix: the labels to use and whether it is the baseline."""

    overrides: Mapping[str, str]
    id: str
    baseline: bool
    base_name: str = field(default="", compare=False)

    def __repr__(self) -> str:
        return self.id


MATRIX_KEY: Final = pytest.StashKey[MatrixRun]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agenttrace")
    group.addoption(
        "--agenttrace-matrix",
        action="append",
        default=[],
        dest="agenttrace_matrix",
        metavar="NAME=L1,L2",
        help=(
            "run every recording test (agenttrace fixture, agenttrace or agenttrace_versions marker) once per "
            "listed version of prompt/config NAME (repeatable; wins over agenttrace_versions for the same NAME)."
        ),
    )


def parse_matrix_option(values: list[str]) -> dict[str, list[str]]:
    """``["summarizer=v3,v4"]`` -> ``{"summarizer": ["v3", "v4"]}`` (``pytest.UsageError`` if malformed)."""
    axes: dict[str, list[str]] = {}
    for value in values:
        name, sep, labels = value.partition("=")
        items = [label.strip() for label in labels.split(",") if label.strip()]
        if not sep or not name.strip() or not items:
            raise pytest.UsageError(
                f"--agenttrace-matrix {value!r} is not NAME=LABEL1,LABEL2; write e.g. "
                "--agenttrace-matrix summarizer=v3,v4"
            )
        axes[name.strip()] = list(dict.fromkeys(items))
    return axes


def matrix_axes(metafunc: pytest.Metafunc) -> dict[str, list[str]]:
    """The matrix of a test: its closest ``agenttrace_versions`` markers, then the option (if the test records)."""
    axes: dict[str, list[str]] = {}
    for marker in metafunc.definition.iter_markers("agenttrace_versions"):
        if marker.args:
            pytest.fail(
                f"{metafunc.definition.nodeid}: agenttrace_versions takes keyword arguments only, "
                "e.g. @pytest.mark.agenttrace_versions(summarizer=['v3', 'v4']).",
                pytrace=False,
            )
        for name, labels in marker.kwargs.items():
            if isinstance(labels, str) or not isinstance(labels, (list, tuple)) or not labels:
                pytest.fail(
                    f"{metafunc.definition.nodeid}: agenttrace_versions({name}=...) needs a non-empty list "
                    f"of labels, got {labels!r}; write {name}=['v3', 'v4'].",
                    pytrace=False,
                )
            if not all(isinstance(label, str) for label in labels):
                pytest.fail(
                    f"{metafunc.definition.nodeid}: the labels of agenttrace_versions({name}=...) must be "
                    f"strings, got {labels!r}.",
                    pytrace=False,
                )
            axes.setdefault(name, list(dict.fromkeys(labels)))
            _check_labels(metafunc, name, labels)
    if axes or _records(metafunc):  # a test with a version marker records (see pytest_collection_modifyitems)
        from_option: dict[str, list[str]] = metafunc.config.stash.get(_OPTION_KEY, {})
        axes.update(from_option)
    return axes


def _records(metafunc: pytest.Metafunc) -> bool:
    """Whether the test records: it asks for the ``agenttrace`` fixture, or has a marker that makes it record."""
    if "agenttrace" in metafunc.fixturenames:
        return True
    # The spec plugin adds the fixture to these tests (and does not when it is turned off with -p no:).
    if not metafunc.config.pluginmanager.has_plugin("pytest_agenttrace.spec.plugin"):
        return False
    from .spec.plugin import marked_to_record

    return marked_to_record(metafunc.definition.iter_markers("agenttrace"))


def _check_labels(metafunc: pytest.Metafunc, name: str, labels: Any) -> None:
    """A marker's label that the registry holding ``name`` lacks fails the test's collection, naming it."""
    from .plugin import STATE_KEY, misspelling, unknown_label

    state = metafunc.config.stash.get(STATE_KEY, None)
    if state is None:
        return
    source = "the agenttrace_versions marker"
    for label in labels:
        problem = unknown_label(name, label, state.prompts_dir, state.configs_dir, source)
        if problem is not None:
            pytest.fail(f"{metafunc.definition.nodeid}: agenttrace_versions({name}=...): {problem}", pytrace=False)
    hint = misspelling(name, state.prompts_dir, state.configs_dir, source)
    if hint is not None:  # a warning only: the name may be an inline config's
        message = f"{metafunc.definition.nodeid}: agenttrace_versions({name}=...): {hint}"
        warnings.warn(pytest.PytestWarning(message), stacklevel=2)


_OPTION_KEY: Final = pytest.StashKey[dict[str, list[str]]]()


def pytest_configure(config: pytest.Config) -> None:
    # Parsed here so that a malformed option is a usage error before collection starts.
    config.stash[_OPTION_KEY] = parse_matrix_option(config.getoption("agenttrace_matrix") or [])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    axes = matrix_axes(metafunc)
    if not axes:
        return
    names = list(axes)
    runs = [
        MatrixRun(
            overrides=dict(zip(names, combo, strict=True)),
            id=",".join(f"{name}={label}" for name, label in zip(names, combo, strict=True)),
            baseline=position == 0,
        )
        for position, combo in enumerate(itertools.product(*(axes[n] for n in names)))
    ]
    if FIXTURE not in metafunc.fixturenames:
        metafunc.fixturenames.append(FIXTURE)
    metafunc.parametrize(FIXTURE, runs, ids=[run.id for run in runs], indirect=True)


def _base_name(item: pytest.Item, run_id: str) -> str:
    """The test's name without the matrix parameter (``test_x[case1]`` for ``test_x[case1-summarizer=v3]``)."""
    original = getattr(item, "originalname", item.name)
    callspec = getattr(item, "callspec", None)
    full = callspec.id if callspec is not None else ""
    if full == run_id:
        rest = ""
    elif full.endswith(f"-{run_id}"):
        rest = full[: -len(run_id) - 1]
    elif full.startswith(f"{run_id}-"):
        rest = full[len(run_id) + 1 :]
    else:
        rest = full.replace(f"-{run_id}-", "-", 1)
    return f"{original}[{rest}]" if rest else original


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        run = callspec.params.get(FIXTURE) if callspec is not None else None
        if isinstance(run, MatrixRun):
            current: dict[str, str] = item.stash.get(ITEM_OVERRIDES, {})
            item.stash[ITEM_OVERRIDES] = {**current, **run.overrides}
            item.stash[MATRIX_KEY] = replace(run, base_name=_base_name(item, run.id))
            # The pins act through the test's recorder: a matrix test records even without the fixture,
            # or every run would silently use the same (unpinned) versions.
            # First, so that the test's own fixtures already see the pinned versions.
            fixturenames = getattr(item, "fixturenames", None)
            if fixturenames is not None and "agenttrace" not in fixturenames:
                fixturenames.insert(0, "agenttrace")
