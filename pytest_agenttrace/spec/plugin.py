"""The pytest side of specs: the ``spec=`` marker key and the ``agenttrace_specs`` ini option.

Every test that records (uses the ``agenttrace`` fixture) is checked, right
after its body, against

* the specs listed in the ini option ``agenttrace_specs`` (paths relative to
  the rootdir), and
* ``@pytest.mark.agenttrace(spec="specs/x.yaml")`` (a path or a list of
  paths, relative to the test file's directory first, then the rootdir).

A path may name a directory (its ``*.yaml`` files) or, when no such file
exists, a shipped pack (``failure-modes``).  The ini specs are loaded once at
configure time (in the controller under xdist): a missing or invalid one is a
usage error before any test runs.  A marker's specs are loaded at the test's
setup, so a missing or invalid one is a setup error and the body never runs.

Violations fail the test with the formatted report and are left in
``recorder.results["violations"]`` for the HTML report.  The marker's
``snapshot=`` key belongs to the snapshot plugin and is ignored here; the
marker as a whole is validated here, for both plugins: a key other than
:data:`MARKER_KEYS` (a typo such as ``specs=``) or a positional argument fails
the test at setup with a message naming the key and the closest valid one, and so
does a ``spec=`` that is not a path or a list of paths, or a ``snapshot=`` that is
neither a bool nor a dict.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Generator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from ..exceptions import SpecError

if TYPE_CHECKING:
    from ..model import Trace
    from ..recorder import Recorder

__all__ = [
    "MARKER_KEYS",
    "marker_problem",
    "pytest_addoption",
    "pytest_agenttrace_trace_finished",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_call",
    "pytest_runtest_setup",
    "specs_for_item",
]

#: The keywords ``@pytest.mark.agenttrace(...)`` takes: ``spec`` (here) and ``snapshot`` (the snapshot plugin).
MARKER_KEYS: Final = ("spec", "snapshot")

#: Set on a test whose marker's specs could not be loaded at setup (it failed there, saying why).
_SPEC_INVALID_KEY: Final = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "agenttrace_specs",
        "spec files (relative to the rootdir) checked against every test that records a trace",
        type="linelist",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    """Load the ini ``agenttrace_specs`` that exist once: an invalid one is a usage error before any test runs.

    One not there yet may be written by a hook or a session fixture, so it is
    looked for again at the setup of each test that records (where a missing
    one fails the test before its body runs).  Under xdist the controller
    checks them (before it starts the workers); ``pytest --help`` is left alone.
    """
    if hasattr(config, "workerinput") or config.getoption("help", False):
        return
    from .loader import load_spec

    try:
        paths = _ini_spec_paths(config, missing_ok=True)
        if paths:
            load_spec(paths)
    except SpecError as error:
        raise pytest.UsageError(f"ini option agenttrace_specs: {error}") from None


def _ini_spec_paths(config: pytest.Config, *, missing_ok: bool = False) -> list[Path]:
    """The ini ``agenttrace_specs`` entries resolved against the rootdir (a pack name when no such file exists).

    A missing file is a :class:`SpecError`, or left out with ``missing_ok``.
    """
    from .loader import find_pack

    root = config.rootpath
    paths = []
    for entry in config.getini("agenttrace_specs") or []:
        path = root / entry
        if not _exists(path):
            pack = find_pack(entry)
            if pack is None and missing_ok:
                continue
            if pack is None:
                raise SpecError(
                    f"spec file not found in the rootdir ({root}); check the path (it is relative to the rootdir)",
                    path=entry,
                )
            path = pack
        paths.append(path)
    return paths


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``agenttrace(spec=...)`` or ``agenttrace(snapshot=...)`` records even if it does
    not ask for the fixture (its agents record through the module-level API into the active recorder)."""
    for item in items:
        fixturenames = getattr(item, "fixturenames", None)
        if fixturenames is None or "agenttrace" in fixturenames:
            continue
        if marked_to_record(item.iter_markers("agenttrace")):
            fixturenames.append("agenttrace")


def marked_to_record(markers: Iterable[pytest.Mark]) -> bool:
    """Whether these ``agenttrace`` markers make a test record: one names a spec or a snapshot."""
    return any(m.kwargs.get("spec") is not None or m.kwargs.get("snapshot") not in (None, False) for m in markers)


def marker_problem(marker: pytest.Mark) -> str | None:
    """What is wrong with one ``agenttrace`` marker (unknown keywords, positional arguments), or ``None``."""
    valid = ", ".join(f"{key}=" for key in MARKER_KEYS)
    unknown = []
    for key in marker.kwargs:
        if key not in MARKER_KEYS:
            close = difflib.get_close_matches(key, MARKER_KEYS, n=1, cutoff=0.5)
            unknown.append(f"{key}= (did you mean {close[0]}=?)" if close else f"{key}=")
    problems = []
    if "spec" in marker.kwargs and not _valid_spec_value(marker.kwargs["spec"]):
        problems.append(f"spec= takes a path or a list of paths, got {marker.kwargs['spec']!r}")
    snapshot = marker.kwargs.get("snapshot")
    if snapshot is not None and not isinstance(snapshot, (bool, Mapping)):
        problems.append(f"snapshot= takes True or a dict of snapshot options, got {snapshot!r}")
    if unknown:
        problems.append(f"unknown keyword{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    if marker.args:
        problems.append(f"positional arguments {marker.args!r} are not accepted")
    if not problems:
        return None
    if unknown or marker.args:
        return f"@pytest.mark.agenttrace: {'; '.join(problems)}; it takes only the keywords {valid}"
    return f"@pytest.mark.agenttrace: {'; '.join(problems)}"


def _valid_spec_value(value: Any) -> bool:
    if value is None or isinstance(value, (str, os.PathLike)):
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(v, (str, os.PathLike)) for v in value)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Fail a test whose ``agenttrace`` marker has a key neither plugin reads (a typo would pass silently),
    a value of the wrong type, or a ``spec=`` naming a missing or invalid spec, at setup.

    Checked once the fixtures are set up (a session fixture may write a spec),
    so a test that records still leaves its (empty) trace, and appears in the
    HTML report with the error; its body never runs (no paid LLM calls for a
    check that cannot happen).  The ini ``agenttrace_specs`` are looked for
    here too, for every test that records.
    """
    from .loader import load_spec

    item.stash[_SPEC_INVALID_KEY] = False  # a rerun of the test judges its specs afresh
    result = yield
    markers = list(item.iter_markers("agenttrace"))
    for marker in markers:
        problem = marker_problem(marker)
        if problem is not None:
            pytest.fail(problem, pytrace=False)
    option = item.config.option
    runs_body = not (getattr(option, "setuponly", False) or getattr(option, "setupplan", False))
    records = "agenttrace" in getattr(item, "fixturenames", ())
    if runs_body and records and (item.config.getini("agenttrace_specs") or marked_to_record(markers)):
        invalid: SpecError | None = None
        try:
            paths = specs_for_item(item)  # spec=[] and no ini specs: nothing to check, nothing to load
            if paths:
                load_spec(paths)  # cached: the check after the body reads the files again only if changed
        except SpecError as error:
            invalid = error
        if invalid is not None:  # failed outside the except block: the message alone, no exception chain
            item.stash[_SPEC_INVALID_KEY] = True
            pytest.fail(f"agenttrace: the spec for this test is invalid: {invalid}", pytrace=False)
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Let ``agenttrace.check("x.yaml")`` find specs next to the test file, then in the rootdir."""
    recorder = getattr(item, "funcargs", {}).get("agenttrace")
    if recorder is not None:
        recorder.spec_base_dirs = (Path(str(item.path)).parent, item.config.rootpath)


def specs_for_item(item: pytest.Item) -> list[Path]:
    """The spec files that apply to ``item``: ini ``agenttrace_specs`` then marker ``spec=``."""
    root = item.config.rootpath
    paths = _ini_spec_paths(item.config)
    test_dir = Path(str(item.path)).parent
    for marker in reversed(list(item.iter_markers("agenttrace"))):
        spec = marker.kwargs.get("spec")
        if spec is None:
            continue
        for entry in _as_list(spec, marker):
            paths.append(_resolve(entry, test_dir, root))
    return list(dict.fromkeys(paths))


@pytest.hookimpl
def pytest_agenttrace_trace_finished(item: pytest.Item, recorder: Recorder, trace: Trace) -> str | None:
    """Check the finished trace against the test's specs; return the failure message."""
    from .engine import check_trace
    from .loader import load_spec

    if item.stash.get(_SPEC_INVALID_KEY, False) or any(
        marker_problem(marker) for marker in item.iter_markers("agenttrace")
    ):
        return None  # the test already failed at setup, saying what is wrong with the marker or its spec
    try:
        paths = specs_for_item(item)
        if not paths:
            return None
        spec = load_spec(paths)
    except SpecError as error:
        return f"agenttrace: the spec for this test is invalid: {error}"
    result = check_trace(trace, spec)
    if result.passed:
        return None
    recorder.results.setdefault("violations", []).extend(result.violations)
    return result.format()


def _as_list(value: Any, marker: pytest.Mark) -> Iterable[str]:
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, os.PathLike)) for v in value):
        return [os.fspath(v) for v in value]
    raise pytest.UsageError(
        f"@pytest.mark.agenttrace(spec=...) takes a path or a list of paths, got {value!r} ({marker})"
    )


def _resolve(entry: str, test_dir: Path, root: Path) -> Path:
    path = Path(entry)
    if path.is_absolute():
        return path
    near = test_dir / path
    if _exists(near):
        return near
    in_root = root / path
    if not _exists(in_root):
        from .loader import find_pack

        pack = find_pack(entry)
        if pack is not None:
            return pack
        raise SpecError(
            f"spec file not found: looked for it next to the test file ({test_dir}) and in the rootdir ({root}); "
            "check the path",
            path=entry,
        )
    return in_root


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name the system refuses (too long, a NUL character)
        return False
