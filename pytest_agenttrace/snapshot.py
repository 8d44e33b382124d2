"""Golden trace snapshots: a syrupy extension, the ``agenttrace_snapshot`` fixture and options.

``assert agenttrace.trace == agenttrace_snapshot`` normalises the trace
(:mod:`pytest_agenttrace.normalize`) and compares it with the golden file
``__snapshots__/<test file>/<test name>.agenttrace`` (one span per line, the
version stamps in the header).  ``pytest --snapshot-update`` writes and
refreshes goldens; syrupy reports (and with ``--snapshot-update`` deletes)
unused ones, also under pytest-xdist, where syrupy merges the workers' reports.

Goldens are compared as parsed data (span trees and level; the header's
version stamps are shown, never compared), with an optional absolute float
tolerance.  On a mismatch the failure starts with the version stamps that
changed, then the tree-aligned diff (:mod:`pytest_agenttrace.diff`), cut after
``agenttrace_diff_max_lines`` lines; the structured diff is also appended to
``recorder.results["snapshot_diffs"]`` of the test's recorder.

Options, later ones winning: ini (``agenttrace_snapshot_level``,
``agenttrace_snapshot_include``/``_exclude``/``_parallel`` (line lists),
``agenttrace_snapshot_overlap_parallel``, ``agenttrace_snapshot_duration_buckets``,
``agenttrace_snapshot_float_tolerance``, ``agenttrace_diff_max_lines``), the
command line (``--agenttrace-snapshot-level``, ``--agenttrace-diff-max-lines``),
the marker ``@pytest.mark.agenttrace(snapshot={...same keys without the prefix...})``
and arguments of one assertion: ``agenttrace_snapshot(level="structure", exclude=[...])``.
``@pytest.mark.agenttrace(snapshot=True)`` (or a dict) on a test that does not
use the fixture checks its trace against the golden when the test body ends.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import pytest
from syrupy.assertion import DiffMode, SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation

from .diff import TraceDiff, diff_normalized
from .exceptions import InputError, TraceFileError
from .matrix import MATRIX_KEY
from .model import Trace
from .normalize import LEVELS, NormalizeOptions, normalize
from .sanitize import redact_text
from .snapfile import dumps, loads
from .versions import content_hash

if TYPE_CHECKING:
    from syrupy.data import SnapshotCollection
    from syrupy.types import PropertyFilter, PropertyMatcher, SerializableData, SerializedData, SnapshotIndex

    from .recorder import Recorder

__all__ = [
    "COMPARISON_INI",
    "SnapshotSettings",
    "TraceSnapshot",
    "TraceSnapshotExtension",
    "agenttrace_snapshot",
    "comparison_ini_values",
]

# A version-matrix id inside a parametrized test name: ``summarizer=v3`` or ``a=v1,b=v2``.
_MATRIX_ID: Final = re.compile(r"(?:(?<=\[)|-)[\w.:]+=[^,\-\]]*(?:,[\w.:]+=[^,\-\]]*)*(?=-|\])")


#: Characters kept free after a long redacted golden name's hash for its index suffix (".1", "[name]").
_SUFFIX_ROOM: Final = 16


def _redacted_name(name: str) -> str:
    """A test name with secret-looking parts (a parametrized API key) redacted, for golden file names.

    Names without a secret are returned unchanged (existing goldens keep matching); a
    redacted one gets a hash of the raw name, so two secrets do not share a golden.
    """
    redacted = redact_text(name)
    if redacted == name:
        return name
    return f"{redacted}-{content_hash(name)}"


def strip_matrix_id(name: str) -> str | None:
    """``test_x[case1-summarizer=v3]`` -> ``test_x[case1]``; ``None`` when there is no matrix id."""
    stripped, count = _MATRIX_ID.subn("", name, count=1)
    if not count:
        return None
    return stripped.replace("[-", "[").replace("[]", "")


_OPTION_KEYS: Final = (
    "level",
    "include",
    "exclude",
    "parallel",
    "overlap_parallel",
    "duration_buckets",
    "float_tolerance",
    "max_diff_lines",
)


@dataclass(frozen=True, slots=True)
class SnapshotSettings:
    """Normalisation options plus comparison settings of one snapshot assertion."""

    options: NormalizeOptions = field(default_factory=NormalizeOptions)
    float_tolerance: float = 0.0
    max_diff_lines: int = 200
    refresh_header: bool = False

    def updated(self, values: Mapping[str, Any], *, where: str) -> SnapshotSettings:
        """These settings with ``values`` (keys of :data:`_OPTION_KEYS`) applied."""
        unknown = sorted(set(values) - set(_OPTION_KEYS))
        if unknown:
            hints = [
                f"did you mean {close[0]!r} for {name!r}?"
                for name in unknown
                if (close := difflib.get_close_matches(name, _OPTION_KEYS, n=1))
            ]
            raise InputError(
                f"{where}: unknown snapshot option(s) {', '.join(unknown)}; "
                + (" ".join(hints) + " " if hints else "")
                + f"use {', '.join(_OPTION_KEYS)}."
            )
        opts = self.options
        normalize_kwargs: dict[str, Any] = {
            "level": values.get("level", opts.level),
            "include": _as_list(values.get("include", opts.include), "include", where),
            "exclude": _as_list(values.get("exclude", opts.exclude), "exclude", where),
            "parallel": _as_list(values.get("parallel", opts.parallel), "parallel", where),
            "overlap_parallel": bool(values.get("overlap_parallel", opts.overlap_parallel)),
            "duration_buckets": _as_list(values.get("duration_buckets", opts.duration_buckets), "", where),
        }
        try:
            options = NormalizeOptions.build(**normalize_kwargs)
            tolerance = float(values.get("float_tolerance", self.float_tolerance))
            max_lines = int(values.get("max_diff_lines", self.max_diff_lines))
        except InputError as exc:
            raise InputError(f"{where}: {exc.message}") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: float_tolerance/max_diff_lines must be numbers ({exc}).") from None
        return replace(self, options=options, float_tolerance=tolerance, max_diff_lines=max_lines)


def _as_list(value: Any, name: str, where: str) -> list[Any]:
    if isinstance(value, str):
        return value.split() if not name else [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise InputError(f"{where}: snapshot option {name or 'duration_buckets'!r} must be a list, got {value!r}.")


class TraceSnapshotExtension(SingleFileSnapshotExtension):
    """Stores one normalised trace per test in a ``.agenttrace`` text file."""

    file_extension = "agenttrace"
    _write_mode = WriteMode.TEXT

    def __init__(self) -> None:
        self.settings = SnapshotSettings()
        #: The golden file the diff being explained was read from (its path names malformed lines).
        self.golden_path: str | None = None

    # -- naming: every run of a version matrix shares the golden of its test ----
    @classmethod
    def get_snapshot_name(cls, *, test_location: PyTestLocation, index: SnapshotIndex = 0) -> str:
        stash = getattr(test_location.item, "stash", None)
        run = stash.get(MATRIX_KEY, None) if stash is not None else None
        suffix = f"[{index}]" if isinstance(index, str) else (f".{index}" if index else "")
        prefix = f"{test_location.classname}." if test_location.classname else ""
        if run is None or not run.base_name:
            testname = test_location.testname
        else:
            testname = run.base_name
        if _redacted_name(testname) != testname:
            # Cut the readable part, never the hash that tells two redacted ids apart; the cut is the
            # same for every index of the test (room kept for a suffix), so each golden names it.
            hashed = cls._sanitize_filename(f"-{content_hash(testname)}")
            head = cls._sanitize_filename(f"{prefix}{redact_text(testname)}")
            room = cls._max_stem_length() - len(hashed) - _SUFFIX_ROOM
            return (head[: max(0, room)] + hashed + cls._sanitize_filename(suffix))[: cls._max_stem_length()]
        name = cls._sanitize_filename(f"{prefix}{testname}{suffix}")
        return name[: cls._max_stem_length()]

    @classmethod
    def matches_test_location(cls, *, test_location: PyTestLocation, snapshot_location: str) -> bool:
        if super().matches_test_location(test_location=test_location, snapshot_location=snapshot_location):
            return True
        location = Path(snapshot_location)
        testname = str(test_location.testname)
        if _redacted_name(testname) != testname and location.parent.name == test_location.basename:
            # A golden named after a redacted test id: syrupy compares with the raw id.
            stem = location.name[: -len(f".{cls.file_extension}")]
            expected = cls.get_snapshot_name(test_location=test_location)
            if stem == expected or stem.startswith((f"{expected}.", f"{expected}[")):
                return True
        stash = getattr(test_location.item, "stash", None)
        if stash is not None:
            if MATRIX_KEY not in stash:
                return False
            expected = cls.get_snapshot_name(test_location=test_location)
        else:
            # On an xdist controller items are rebuilt without a stash: strip the matrix id from the name.
            stripped = strip_matrix_id(test_location.snapshot_name_parametrized)
            if stripped is None:
                return False
            expected = cls._sanitize_filename(stripped)
        return location.name == f"{expected}.{cls.file_extension}" and location.parent.name == test_location.basename

    @classmethod
    def write_snapshot_collection(
        cls, *, snapshot_collection: SnapshotCollection, name_order: dict[str, int] | None = None
    ) -> None:
        """Write the golden atomically (temp file + rename): never a torn file, also under xdist."""
        from .store import write_atomic

        data = next(iter(snapshot_collection)).data
        if not isinstance(data, str):
            raise TypeError(f"a trace snapshot is text, got {type(data).__name__}")
        write_atomic(snapshot_collection.location, data.encode("utf-8"))

    # -- serialisation -------------------------------------------------------------
    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> SerializedData:
        return dumps(self.normalize(data))

    def normalize(self, data: Any) -> dict[str, Any]:
        """The normalised form of a Trace, a recorder, a trace dict or snapshot text."""
        if hasattr(data, "trace") and isinstance(data.trace, Trace):
            data = data.trace
        if isinstance(data, str):
            return loads(data)
        if isinstance(data, (Trace, Mapping)):
            return normalize(data, self.settings.options)
        raise TypeError(
            f"agenttrace_snapshot compares traces, not {type(data).__name__}; "
            "write `assert agenttrace.trace == agenttrace_snapshot`."
        )

    # -- comparison ----------------------------------------------------------------
    def matches(self, *, serialized_data: SerializableData, snapshot_data: SerializableData) -> bool:
        try:
            actual, golden = loads(str(serialized_data)), loads(str(snapshot_data), path=self.golden_path)
        except TraceFileError:
            return False
        if actual["level"] != golden["level"]:
            return False
        if self.settings.refresh_header and actual["versions"] != golden["versions"]:
            return False
        if actual["spans"] == golden["spans"]:
            return True
        if self.settings.float_tolerance:
            return diff_normalized(golden, actual, float_tolerance=self.settings.float_tolerance).same
        return False

    def trace_diff(self, serialized_data: SerializableData, snapshot_data: SerializableData) -> TraceDiff:
        """The structured diff golden -> actual (``TraceFileError`` if the golden is malformed)."""
        actual, golden = loads(str(serialized_data)), loads(str(snapshot_data), path=self.golden_path)
        return diff_normalized(golden, actual, float_tolerance=self.settings.float_tolerance)

    def diff_lines(self, serialized_data: SerializableData, snapshot_data: SerializableData) -> Iterator[str]:
        if not snapshot_data:
            yield "no golden snapshot yet: run pytest --snapshot-update to create it."
            return
        try:
            result = self.trace_diff(serialized_data, snapshot_data)
        except TraceFileError as exc:
            yield f"the golden snapshot cannot be read: {exc}"
            return
        lines = result.render(self.settings.max_diff_lines or None)
        golden_level = loads(str(snapshot_data))["level"]
        if golden_level != self.settings.options.level:
            lines.insert(
                1, f"the golden was written at level {golden_level}, this run uses {self.settings.options.level}"
            )
        if result.same:
            lines.append("(only the version stamps in the header differ)")
        if not result.version_changes and not result.same:
            # The first line is pytest's one-line summary: say what failed, not what did not change.
            count = len(result.changes)
            lines[0] = (
                f"trace differs from its golden snapshot: {count} change{'s' if count != 1 else ''} "
                "in the span tree, no version stamp changed"
            )
            lines.insert(1, "run pytest --snapshot-update if the change is intended")
        else:
            lines.insert(
                1, "trace differs from its golden snapshot; run pytest --snapshot-update if the change is intended"
            )
        yield from lines


class TraceSnapshot(SnapshotAssertion):
    """syrupy's snapshot assertion with the trace extension and agenttrace options.

    Call it with snapshot options for one assertion:
    ``assert trace == agenttrace_snapshot(level="structure", exclude=["attributes.usage"])``.
    """

    _agenttrace_item: pytest.Item | None = None

    @property
    def trace_extension(self) -> TraceSnapshotExtension:
        """The extension instance (holds the settings)."""
        extension = self.extension
        if not isinstance(extension, TraceSnapshotExtension):
            raise TypeError("agenttrace_snapshot was switched to another extension; use syrupy's `snapshot` then.")
        return extension

    def __call__(
        self,
        *,
        diff: SnapshotIndex | None = None,
        diff_data: SerializableData | None = None,
        exclude: Any = None,
        include: Any = None,
        extension_class: Any = None,
        matcher: PropertyMatcher | None = None,
        name: SnapshotIndex | None = None,
        **options: Any,
    ) -> TraceSnapshot:
        """Options for the next assertion: syrupy's keywords plus the snapshot options."""
        __tracebackhide__ = True  # a bad option points at the test's line, not at this method
        values = dict(options)
        # syrupy's include/exclude are property filters (callables); ours are path lists.
        if exclude is not None and not callable(exclude):
            values["exclude"], exclude = exclude, None
        if include is not None and not callable(include):
            values["include"], include = include, None
        if values:
            extension = self.trace_extension
            previous = extension.settings
            try:
                extension.settings = previous.updated(values, where="agenttrace_snapshot(...)")
            except InputError as error:
                raise error.with_traceback(None) from None
            self._post_assert_actions.append(lambda: setattr(extension, "settings", previous))
        super().__call__(
            diff=diff,
            diff_data=diff_data,
            exclude=exclude,
            include=include,
            extension_class=extension_class,
            matcher=matcher,
            name=name,
        )
        return self

    def _assert(self, data: SerializableData) -> bool:
        passed = super()._assert(data)
        if not passed:
            self._record_diff()
        return passed

    def _record_diff(self) -> None:
        item = self._agenttrace_item
        if item is None:
            return
        from .plugin import RECORDER_KEY

        recorder: Recorder | None = item.stash.get(RECORDER_KEY, None)
        result = self.executions.get(self.num_executions - 1)
        if recorder is None or result is None or result.recalled_data is None or result.asserted_data is None:
            return
        try:
            diff = self.trace_extension.trace_diff(result.asserted_data, result.recalled_data)
        except (TraceFileError, TypeError):
            return
        entry = diff.to_dict(test=item.nodeid)
        entry["snapshot"] = result.snapshot_location
        recorder.results.setdefault("snapshot_diffs", []).append(entry)

    def explanation(self, diff_mode: DiffMode) -> list[str]:
        """The failure message lines: version changes first, then the diff."""
        current = self.executions.get(self.num_executions - 1)
        self.trace_extension.golden_path = current.snapshot_location if current is not None else None
        if diff_mode != DiffMode.DISABLED:
            return self.get_assert_diff(diff_mode=diff_mode)
        result = self.executions.get(self.num_executions - 1)
        if result is None or result.recalled_data is None or result.asserted_data is None:
            return self.get_assert_diff(diff_mode=diff_mode)
        try:
            diff = self.trace_extension.trace_diff(result.asserted_data, result.recalled_data)
        except TraceFileError as exc:
            return [f"the golden snapshot cannot be read: {exc}"]
        return [
            diff.versions_line(),
            *(c.describe() for c in diff.counts),
            f"{len(diff.changes)} change(s) in the span tree (diff hidden by --snapshot-diff-mode=disabled)",
        ]


# -- pytest integration ------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agenttrace")
    group.addoption(
        "--agenttrace-snapshot-level",
        default=None,
        choices=LEVELS,
        dest="agenttrace_snapshot_level",
        help="what trace snapshots keep: structure, io (default) or full.",
    )
    group.addoption(
        "--agenttrace-diff-max-lines",
        default=None,
        type=int,
        dest="agenttrace_diff_max_lines",
        metavar="N",
        help="cut trace snapshot diffs after N lines (0: no limit; default: ini agenttrace_diff_max_lines, 200).",
    )
    parser.addini("agenttrace_snapshot_level", "trace snapshot level: structure, io or full", default="io")
    helps = {
        "agenttrace_snapshot_include": "span paths trace snapshots keep",
        "agenttrace_snapshot_exclude": "span paths trace snapshots drop",
        "agenttrace_snapshot_parallel": "selectors of spans whose children are order-insensitive in snapshots",
        "agenttrace_snapshot_overlap_parallel": "siblings that overlap in time are order-insensitive in snapshots",
        "agenttrace_snapshot_duration_buckets": (
            "keep span durations as buckets with these bounds (e.g. '10ms 100ms 1s'); empty drops durations"
        ),
        "agenttrace_snapshot_float_tolerance": "absolute float tolerance of snapshots",
    }
    for name, (kind, default) in COMPARISON_INI.items():
        parser.addini(name, helps[name], type=kind, default=default)
    parser.addini("agenttrace_diff_max_lines", "cut trace snapshot diffs after this many lines (0: all)", default="200")


_BASE_KEY: Final = pytest.StashKey[SnapshotSettings]()


def pytest_configure(config: pytest.Config) -> None:
    _base_settings(config)  # bad ini values are usage errors before any test runs


#: The ini keys (their pytest ini types and defaults) that decide how a trace is compared with a golden,
#: apart from the level, which a golden records itself; ``agenttrace bisect --snapshot`` reads them too.
COMPARISON_INI: Final[dict[str, tuple[Literal["string", "linelist", "bool"], Any]]] = {
    "agenttrace_snapshot_include": ("linelist", []),
    "agenttrace_snapshot_exclude": ("linelist", []),
    "agenttrace_snapshot_parallel": ("linelist", []),
    "agenttrace_snapshot_overlap_parallel": ("bool", False),
    "agenttrace_snapshot_duration_buckets": ("string", ""),
    "agenttrace_snapshot_float_tolerance": ("string", "0"),
}


def comparison_ini_values(getini: Callable[[str], Any]) -> dict[str, Any]:
    """The :data:`COMPARISON_INI` options as :meth:`SnapshotSettings.updated` values (``getini``: typed as pytest's)."""
    return {
        "include": list(getini("agenttrace_snapshot_include")),
        "exclude": list(getini("agenttrace_snapshot_exclude")),
        "parallel": list(getini("agenttrace_snapshot_parallel")),
        "overlap_parallel": bool(getini("agenttrace_snapshot_overlap_parallel")),
        "duration_buckets": str(getini("agenttrace_snapshot_duration_buckets")).split(),
        "float_tolerance": getini("agenttrace_snapshot_float_tolerance"),
    }


def _base_settings(config: pytest.Config) -> SnapshotSettings:
    cached = config.stash.get(_BASE_KEY, None)
    if cached is not None:
        return cached
    values: dict[str, Any] = {
        "level": config.getoption("agenttrace_snapshot_level") or config.getini("agenttrace_snapshot_level"),
        **comparison_ini_values(config.getini),
        "max_diff_lines": config.getoption("agenttrace_diff_max_lines")
        if config.getoption("agenttrace_diff_max_lines") is not None
        else config.getini("agenttrace_diff_max_lines"),
    }
    try:
        settings = SnapshotSettings().updated(values, where="agenttrace snapshot ini options")
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_BASE_KEY] = settings
    return settings


def _marker_options(item: pytest.Item) -> Any:
    """The ``snapshot=`` value of the closest ``agenttrace`` marker that has one (``None`` if none has).

    Markers merge as the spec plugin merges them: a class-level ``snapshot=True``
    still applies to a method whose own marker gives only ``spec=``.
    """
    for marker in item.iter_markers("agenttrace"):
        if "snapshot" in marker.kwargs:
            return marker.kwargs["snapshot"]
    return None


def _wants_snapshot(value: Any) -> bool:
    """``snapshot=True`` or a dict of options (an empty dict too) asks for a golden check."""
    return value is not None and value is not False


def make_snapshot(item: pytest.Item) -> TraceSnapshot:
    """A :class:`TraceSnapshot` for ``item`` with the ini, option and marker settings."""
    config = item.config
    session = getattr(config, "_syrupy", None)  # syrupy keeps its session there
    if session is None:
        raise pytest.UsageError("agenttrace_snapshot needs the syrupy plugin; do not disable it (-p no:syrupy).")
    run = item.stash.get(MATRIX_KEY, None)
    follower = run is not None and not run.baseline
    update = bool(config.option.update_snapshots) and not follower
    snapshot = TraceSnapshot(
        update_snapshots=update,
        update_new_snapshots_only=bool(config.option.update_new_snapshots_only) and not follower,
        extension_class=TraceSnapshotExtension,
        test_location=PyTestLocation(item),
        session=session,
    )
    snapshot._agenttrace_item = item
    settings = _base_settings(config)
    marker = _marker_options(item)
    if isinstance(marker, Mapping):
        problem = None
        try:
            settings = settings.updated(marker, where=f"{item.nodeid}: @pytest.mark.agenttrace(snapshot=...)")
        except InputError as exc:
            problem = str(exc)
        if problem is not None:  # failed outside the handler: pytest would print the error twice inside it
            pytest.fail(problem, pytrace=False)
    elif marker not in (None, True, False):
        pytest.fail(
            f"{item.nodeid}: @pytest.mark.agenttrace(snapshot=...) takes True or a dict of snapshot options, "
            f"got {marker!r}.",
            pytrace=False,
        )
    snapshot.trace_extension.settings = replace(settings, refresh_header=update)
    return snapshot


@pytest.fixture
def agenttrace_snapshot(request: pytest.FixtureRequest) -> TraceSnapshot:
    """syrupy's snapshot with the trace extension: ``assert agenttrace.trace == agenttrace_snapshot``."""
    return make_snapshot(request.node)


@pytest.hookimpl(wrapper=True)
def pytest_assertrepr_compare(config: pytest.Config, op: str, left: Any, right: Any) -> Any:
    results = yield
    snapshot = left if isinstance(left, TraceSnapshot) else right if isinstance(right, TraceSnapshot) else None
    if snapshot is None or op != "==" or not snapshot.executions:
        return results
    lines = snapshot.explanation(getattr(config.option, "diff_mode", DiffMode.DETAILED))
    return [lines, *results] if lines else results


def pytest_agenttrace_trace_finished(item: pytest.Item, recorder: Recorder, trace: Trace) -> str | None:
    """``@pytest.mark.agenttrace(snapshot=...)`` without the fixture: check the golden now.

    Only when the test body passed (``recorder.results["body_passed"]``): the
    trace of a body that raised (failure, error, skip, xfail) is incomplete, so
    it is neither compared nor written as a golden, as the fixture form never
    reaches its assertion then.
    """
    if recorder.results.get("body_passed", True) is False:
        return None
    if not _wants_snapshot(_marker_options(item)) or "agenttrace_snapshot" in getattr(item, "fixturenames", ()):
        return None
    snapshot = make_snapshot(item)
    if snapshot == trace:
        return None
    lines = snapshot.explanation(getattr(item.config.option, "diff_mode", DiffMode.DETAILED))
    return "\n".join(lines)
