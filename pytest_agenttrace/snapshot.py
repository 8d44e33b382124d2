"""Golden trace snapshots: a syrupy extension, the ``agenttrace_snapshot`` fixture and options.

``assert agenttrace.trace == agenttrace_snapshot`` normalises the trace
(:mod:`pytest_agenttrace.normalize`) and compares it with the golden file
``__snapshots__/<test file>/<test name>.agenttrace`` (one span per line, the
version stamps in the header).  ``pytest --snapshot-update`` writes and
refreshes goldens; syrupy reports (and with ``--snapshot-update`` deletes)
unused ones, also under pytest-xdist, where syrupy merges the workers' reports.
A test name a file cannot be named after (characters a file name cannot hold,
a secret-looking part, too long) is cleaned and followed by a hash of the id,
so distinct ids never share a golden; other names are used as they are.

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
Bad ini and command-line values are usage errors before any test runs.
``@pytest.mark.agenttrace(snapshot=True)`` (or a dict) on a test that does not
use the fixture checks its trace against the golden when the test body ends.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import pytest
from syrupy.assertion import DiffMode, SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation

from .diff import TraceDiff, diff_normalized, redacted_snapshot
from .exceptions import AgentTraceError, InputError, TraceFileError
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


#: Characters kept free after a hashed golden name's hash for its index suffix (".1", "[name]").
_SUFFIX_ROOM: Final = 16
#: "-" and the 8 hex digits of :func:`~pytest_agenttrace.versions.content_hash`.
_HASH_ROOM: Final = 9


def strip_matrix_id(name: str) -> str | None:
    """``test_x[case1-summarizer=v3]`` -> ``test_x[case1]``; ``None`` when there is no matrix id."""
    stripped, count = _MATRIX_ID.subn("", name, count=1)
    if not count:
        return None
    return stripped.replace("[-", "[").replace("[]", "")


def _prefix(test_location: PyTestLocation) -> str:
    return f"{test_location.classname}." if test_location.classname else ""


def _golden_testname(test_location: PyTestLocation) -> str:
    """The test's name as its golden is named: without the matrix parameter for a run of a version matrix."""
    stash = getattr(test_location.item, "stash", None)
    run = stash.get(MATRIX_KEY, None) if stash is not None else None
    return run.base_name if run is not None and run.base_name else str(test_location.testname)


def _name_hash(text: str) -> str:
    # surrogatepass: a test id may hold a lone surrogate; any other text hashes as content_hash(text).
    return content_hash(text.encode("utf-8", "surrogatepass"))


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

    def updated(
        self, values: Mapping[str, Any], *, where: str, names: Mapping[str, str] | None = None
    ) -> SnapshotSettings:
        """These settings with ``values`` (keys of :data:`_OPTION_KEYS`) applied.

        ``names`` gives the option names messages use for the keys (``agenttrace_diff_max_lines``
        for ``max_diff_lines``); a bad value is an :class:`InputError` starting with ``where``.
        """
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
        shown = dict(names or {})
        opts = self.options
        overlap = values.get("overlap_parallel", opts.overlap_parallel)
        if not isinstance(overlap, bool):
            raise InputError(
                f"{where}: {shown.get('overlap_parallel', 'overlap_parallel')} must be true or false, got {overlap!r}."
            )
        normalize_kwargs: dict[str, Any] = {
            "level": values.get("level", opts.level),
            "include": _as_list(values.get("include", opts.include), "include", where),
            "exclude": _as_list(values.get("exclude", opts.exclude), "exclude", where),
            "parallel": _as_list(values.get("parallel", opts.parallel), "parallel", where),
            "overlap_parallel": overlap,
            "duration_buckets": _as_list(values.get("duration_buckets", opts.duration_buckets), "", where),
        }
        try:
            options = NormalizeOptions.build(**normalize_kwargs)
        except InputError as exc:
            raise InputError(f"{where}: {exc.message}") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: {exc}") from None
        from .spec.selector import compile_selector

        for selector in options.parallel:  # a bad selector fails here, not in every snapshot assertion
            try:
                compile_selector(selector)
            except InputError as exc:
                raise InputError(f"{where}: {shown.get('parallel', 'parallel')}: {exc.message}") from None
        tolerance = _tolerance(values.get("float_tolerance", self.float_tolerance))
        if tolerance is None:
            raise InputError(
                f"{where}: {shown.get('float_tolerance', 'float_tolerance')} must be a number, 0 or more "
                f"(an absolute tolerance), got {values.get('float_tolerance')!r}."
            )
        max_lines = _line_count(values.get("max_diff_lines", self.max_diff_lines))
        if max_lines is None:
            raise InputError(
                f"{where}: {shown.get('max_diff_lines', 'max_diff_lines')} must be a whole number of lines, 0 or more "
                f"(0: no limit), got {values.get('max_diff_lines')!r}."
            )
        return replace(self, options=options, float_tolerance=tolerance, max_diff_lines=max_lines)


def _tolerance(value: Any) -> float | None:
    """A float tolerance (finite, 0 or more) from a number or its text; ``None`` if ``value`` is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        tolerance = float(value)
    except (ValueError, OverflowError):
        return None
    return tolerance if math.isfinite(tolerance) and tolerance >= 0 else None


def _line_count(value: Any) -> int | None:
    """A line count (a whole number, 0 or more) from a number or its text; ``None`` if ``value`` is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        count = int(value)
    except (ValueError, OverflowError):
        return None
    if isinstance(value, float) and value != count:
        return None
    return count if count >= 0 else None


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
        suffix = f"[{index}]" if isinstance(index, str) else (f".{index}" if index else "")
        return cls._golden_stem(_prefix(test_location), _golden_testname(test_location), suffix)

    @classmethod
    def _golden_stem(cls, prefix: str, testname: str, suffix: str = "") -> str:
        """The golden's file name without extension: ``prefix + testname + suffix`` when a file can be named so.

        A name that needs no cleaning (no character a file name cannot hold, no
        secret-looking part) and fits the file system's limit is kept as it is,
        so existing goldens keep matching; any other is cleaned, redacted and cut,
        then gets a hash of the original name, so distinct ids never share a golden.
        """
        whole = f"{prefix}{testname}{suffix}"
        if (
            len(whole) <= cls._max_stem_length()
            and cls._sanitize_filename(whole) == whole
            and redact_text(testname) == testname
            and redact_text(suffix) == suffix
        ):
            return whole
        return cls._hashed_stem(prefix, testname, suffix)

    @classmethod
    def _hashed_head(cls, prefix: str, testname: str) -> tuple[str, str]:
        """The readable start of a hashed golden name (cleaned, redacted, cut) and the text its hash is of."""
        room = max(0, cls._max_stem_length() - _HASH_ROOM - _SUFFIX_ROOM)
        head = cls._sanitize_filename(f"{prefix}{redact_text(testname)}")
        # The class prefix is kept in the head; only when the cut reaches into it does the hash cover it too.
        key = testname if len(cls._sanitize_filename(prefix)) <= room else f"{prefix}{testname}"
        return head[:room], key

    @classmethod
    def _hashed_stem(cls, prefix: str, testname: str, suffix: str) -> str:
        # The cut is the same for every index of a test (room kept for a short suffix), so each golden
        # starts with the test's own name and hash; a suffix that is cleaned or cut is hashed as well.
        head, key = cls._hashed_head(prefix, testname)
        shown = cls._sanitize_filename(redact_text(suffix))
        if shown != suffix or len(head) + _HASH_ROOM + len(shown) > cls._max_stem_length():
            key += suffix
        return f"{head}-{_name_hash(key)}{shown}"[: cls._max_stem_length()]

    @classmethod
    def _is_golden_of(cls, stem: str, prefix: str, testname: str) -> bool:
        """Whether ``stem`` names a golden of the test ``prefix + testname`` (any index)."""
        head, key = cls._hashed_head(prefix, testname)
        for base in (cls._golden_stem(prefix, testname), f"{head}-{_name_hash(key)}"):
            if stem == base or stem.startswith((f"{base}.", f"{base}[")):
                return True
        # A named assertion whose name was cleaned or cut: its hash covers the name as well.
        return re.fullmatch(rf"{re.escape(head)}-[0-9a-f]{{8}}\[.*", stem, re.DOTALL) is not None

    @classmethod
    def matches_test_location(cls, *, test_location: PyTestLocation, snapshot_location: str) -> bool:
        if super().matches_test_location(test_location=test_location, snapshot_location=snapshot_location):
            return True
        location = Path(snapshot_location)
        extension = f".{cls.file_extension}"
        if not location.name.endswith(extension) or location.parent.name != test_location.basename:
            return False
        # In this test file's folder (syrupy's check, where the installed syrupy has it).
        in_site = getattr(test_location, "matches_snapshot_site", None)
        if in_site is not None and not in_site(snapshot_location):
            return False
        stem = location.name[: -len(extension)]
        if getattr(test_location.item, "stash", None) is not None:
            names = [_golden_testname(test_location)]
        else:
            # On an xdist controller items are rebuilt without a stash: a matrix run is told by its id.
            testname = str(test_location.testname)
            stripped = strip_matrix_id(testname)
            names = [testname] if stripped is None else [testname, stripped]
        prefix = _prefix(test_location)
        return any(cls._is_golden_of(stem, prefix, name) for name in names)

    # -- files: a golden that cannot be read or written is explained, never a traceback ----
    @classmethod
    def write_snapshot(
        cls,
        *,
        snapshot_location: str,
        snapshots: list[tuple[SerializedData, PyTestLocation, SnapshotIndex]],
        name_order: dict[str, int] | None = None,
    ) -> None:
        try:
            super().write_snapshot(snapshot_location=snapshot_location, snapshots=snapshots, name_order=name_order)
        except OSError as exc:  # a directory where the golden goes, a file where its folder goes, permissions
            raise _GoldenWriteError(_file_problem(snapshot_location, exc), path=snapshot_location) from None

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

    def read_snapshot_data_from_location(
        self, *, snapshot_location: str, snapshot_name: str, session_id: str
    ) -> SerializableData | None:
        """The golden's text; ``None`` if there is none, an :class:`_UnreadableGolden` if it cannot be read.

        An unreadable golden (not UTF-8, empty, a directory, ...) fails the assertion
        with what is wrong; ``--snapshot-update`` rewrites it where it can.
        """
        try:
            raw = Path(snapshot_location).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return _UnreadableGolden(TraceFileError(_file_problem(snapshot_location, exc), path=snapshot_location))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _UnreadableGolden(
                TraceFileError(
                    f"snapshot file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}). "
                    "Re-run pytest with --snapshot-update to rewrite it.",
                    path=snapshot_location,
                )
            )
        if not text.strip():  # syrupy takes "" for a missing golden: this one exists and is empty
            try:
                loads(text, path=snapshot_location)
            except TraceFileError as exc:
                return _UnreadableGolden(exc)
        return text

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
        """The normalised form of a Trace, a recorder, a trace dict or snapshot text.

        Anything else is a :class:`_NotATrace` (an ``InputError`` and a ``TypeError``) saying what is expected.
        """
        if hasattr(data, "trace") and isinstance(data.trace, Trace):
            data = data.trace
        if isinstance(data, str):
            try:
                return redacted_snapshot(loads(data))
            except TraceFileError as exc:
                reason = exc.message.removeprefix("snapshot file is malformed: ").partition(". Re-run pytest")[0]
                if exc.line is not None:
                    reason = f"line {exc.line}: {reason}"
                raise _NotATrace(
                    f"agenttrace_snapshot compares traces, not this str ({_shown(data)}): a str is compared only "
                    f"as the text of a snapshot file, and this is not one ({reason}); write `{_USAGE}`."
                ) from None
        if isinstance(data, Mapping):
            data = _trace_of_dict(data)
            if not isinstance(data, Trace):  # already normalised (hand-made): its secrets redacted all the same
                return normalize(redacted_snapshot(data), self.settings.options)
        if isinstance(data, Trace):
            # Only the recorder's traces are clean: a loaded or hand-built one is sanitised as the command
            # line sanitises a trace file (secrets redacted, nothing cut), so no secret reaches a golden.
            if not data._redacted:
                from .cli import JUDGING_LIMITS
                from .report._clean import sanitized

                data = sanitized(data, JUDGING_LIMITS)
            return normalize(data, self.settings.options)
        raise _NotATrace(f"agenttrace_snapshot compares traces, not {type(data).__name__}; write `{_USAGE}`.")

    # -- comparison ----------------------------------------------------------------
    def matches(self, *, serialized_data: SerializableData, snapshot_data: SerializableData) -> bool:
        if isinstance(snapshot_data, _UnreadableGolden):
            return False
        if str(serialized_data) == str(snapshot_data):  # the same text: the same trees (the common case)
            return True
        try:
            actual, golden = loads(str(serialized_data)), loads(str(snapshot_data), path=self.golden_path)
        except TraceFileError:
            return False
        if actual["level"] != golden["level"]:
            return False
        if self.settings.refresh_header and actual["versions"] != golden["versions"]:
            return False
        # As `agenttrace diff` compares (not Python's ==, for which true == 1).  The golden as it is: one
        # holding a secret the recording now redacts fails, so --snapshot-update removes the secret.
        return diff_normalized(golden, actual, float_tolerance=self.settings.float_tolerance).same

    def trace_diff(self, serialized_data: SerializableData, snapshot_data: SerializableData) -> TraceDiff:
        """The structured diff golden -> actual (``TraceFileError`` if the golden is malformed or unreadable)."""
        if isinstance(snapshot_data, _UnreadableGolden):
            raise snapshot_data.problem
        actual, golden = loads(str(serialized_data)), loads(str(snapshot_data), path=self.golden_path)
        golden = redacted_snapshot(golden)  # a golden written before secrets were redacted: not shown
        return diff_normalized(golden, actual, float_tolerance=self.settings.float_tolerance)

    def diff_lines(self, serialized_data: SerializableData, snapshot_data: SerializableData) -> Iterator[str]:
        if isinstance(snapshot_data, _UnreadableGolden):
            yield f"the golden snapshot cannot be read: {snapshot_data.problem}"
            return
        if not snapshot_data:
            yield "no golden snapshot yet: run pytest --snapshot-update to create it."
            return
        try:
            result = self.trace_diff(serialized_data, snapshot_data)
        except TraceFileError as exc:
            yield f"the golden snapshot cannot be read: {exc}"
            return
        if result.same and not result.version_changes and result.old.get("level") == result.new.get("level"):
            # Equal once the golden's secrets are redacted as the diff shows it: the golden holds them.
            yield "trace differs from its golden snapshot: the golden holds values the recording now redacts"
            yield "run pytest --snapshot-update to rewrite the golden without them (secrets, as [REDACTED])"
            return
        yield from self.explain(result)

    def explain(self, result: TraceDiff, *, tree_diff: bool = True) -> list[str]:
        """The failure message of a mismatch: its first line says what failed (pytest's one-line summary).

        ``tree_diff=False`` (``--snapshot-diff-mode=disabled``) keeps the summary, the
        version line, the count changes and the number of changes.
        """
        golden_level, level = result.old.get("level"), result.new.get("level")
        if golden_level != level:
            # Levels keep different fields: a diff across them would be noise, not a change in behaviour.
            lines = [
                f"the golden snapshot was written at level {golden_level}, this run compares at level {level}",
                f"run pytest --snapshot-update to rewrite it at level {level}, or compare at level {golden_level} "
                "(agenttrace_snapshot_level, --agenttrace-snapshot-level or the snapshot option level=)",
            ]
            if result.version_changes:
                lines.append(result.versions_line())
            return lines
        if tree_diff:
            lines = result.render(self.settings.max_diff_lines or None)
            if result.same:
                lines.append("(only the version stamps in the header differ)")
        else:
            lines = [
                result.versions_line(),
                *(c.describe() for c in result.counts),
                f"{len(result.changes)} change(s) in the span tree (diff hidden by --snapshot-diff-mode=disabled)",
            ]
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
        return lines


_USAGE: Final = "assert agenttrace.trace == agenttrace_snapshot"


class _NotATrace(InputError, TypeError):
    """The value compared with ``agenttrace_snapshot`` is not a trace (a ``TypeError`` as well, as it was)."""


class _GoldenWriteError(TraceFileError):
    """A golden snapshot cannot be written where it belongs."""


class _UnreadableGolden(str):
    """What syrupy is given for a golden that exists but cannot be read: a note (pytest shows it), and the reason.

    It never matches; ``--snapshot-update`` rewrites the golden where it can.
    """

    problem: TraceFileError

    def __new__(cls, problem: TraceFileError) -> _UnreadableGolden:
        golden = super().__new__(cls, "(the golden snapshot cannot be read)")
        golden.problem = problem
        return golden


def _file_problem(location: str, error: OSError) -> str:
    """What is wrong with the path of a golden that could not be read or written, and what to do."""
    path = Path(location)
    blocker = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if blocker is not None:
        return (
            f"{blocker} is a file, not the directory the golden goes in; move or remove that file, "
            "then run pytest --snapshot-update to write the golden."
        )
    if path.is_dir():
        return (
            "it is a directory, not a snapshot file; move or remove it, "
            "then run pytest --snapshot-update to write the golden."
        )
    return f"{error.strerror or error}; check the permissions of the file and of its folder."


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37]) + "..."


#: The keys of a trace-file dict that :meth:`Trace.from_dict` needs.
_TRACE_KEYS: Final = ("trace_id", "name", "started_at", "spans")


def _trace_of_dict(data: Mapping[str, Any]) -> Trace | Mapping[str, Any]:
    """A trace-file dict as a :class:`Trace` (a normalised dict as it is); :class:`_NotATrace` for any other dict."""
    if "format" in data and "spans" in data and "trace_id" not in data:
        return data
    missing = [key for key in _TRACE_KEYS if key not in data]
    if missing:
        problem = f"it has no {', '.join(map(repr, missing))}"
    else:
        try:
            return Trace.from_dict(data)
        except TraceFileError as exc:  # e.g. two spans with one id
            problem = f"its spans cannot be read ({exc})"
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problem = f"its spans cannot be read ({type(exc).__name__}: {exc})"
    raise _NotATrace(
        f"agenttrace_snapshot compares traces, not this dict: {problem}. Compare a Trace (agenttrace.trace) "
        f"or a trace file's dict ({', '.join(_TRACE_KEYS)}); write `{_USAGE}`."
    )


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
        result = self.executions.get(self.num_executions - 1)
        self.trace_extension.golden_path = result.snapshot_location if result is not None else None
        if result is not None and isinstance(result.exception, AgentTraceError):
            # Our own errors say what is wrong and what to do: no traceback through syrupy.
            if isinstance(result.exception, _GoldenWriteError):
                return [f"the golden snapshot cannot be written: {result.exception}"]
            return [str(result.exception)]
        if diff_mode != DiffMode.DISABLED:
            return self.get_assert_diff(diff_mode=diff_mode)
        if result is None or result.recalled_data is None or result.asserted_data is None:
            return self.get_assert_diff(diff_mode=diff_mode)
        try:
            diff = self.trace_extension.trace_diff(result.asserted_data, result.recalled_data)
        except TraceFileError as exc:
            return [f"the golden snapshot cannot be read: {exc}"]
        return self.trace_extension.explain(diff, tree_diff=False)


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
    """The :data:`COMPARISON_INI` options as :meth:`SnapshotSettings.updated` values (``getini``: typed as pytest's).

    A bool option that is not a boolean is an :class:`InputError` naming it.
    """
    try:
        overlap = bool(getini("agenttrace_snapshot_overlap_parallel"))
    except ValueError as exc:  # pytest's getini: "invalid truth value 'maybe'"
        raise InputError(
            f"ini option agenttrace_snapshot_overlap_parallel is not a boolean ({exc}); write true or false."
        ) from None
    return {
        "include": list(getini("agenttrace_snapshot_include")),
        "exclude": list(getini("agenttrace_snapshot_exclude")),
        "parallel": list(getini("agenttrace_snapshot_parallel")),
        "overlap_parallel": overlap,
        "duration_buckets": str(getini("agenttrace_snapshot_duration_buckets")).split(),
        "float_tolerance": getini("agenttrace_snapshot_float_tolerance"),
    }


#: The names messages give the snapshot settings set by ini options and by command-line options.
_INI_NAMES: Final = {
    **{key: f"agenttrace_snapshot_{key}" for key in ("parallel", "overlap_parallel", "float_tolerance")},
    "max_diff_lines": "agenttrace_diff_max_lines",
}
_OPTION_NAMES: Final = {"level": "--agenttrace-snapshot-level", "max_diff_lines": "--agenttrace-diff-max-lines"}


def _base_settings(config: pytest.Config) -> SnapshotSettings:
    cached = config.stash.get(_BASE_KEY, None)
    if cached is not None:
        return cached
    options: dict[str, Any] = {
        key: value
        for key, dest in (("level", "agenttrace_snapshot_level"), ("max_diff_lines", "agenttrace_diff_max_lines"))
        if (value := config.getoption(dest)) is not None
    }
    try:
        ini: dict[str, Any] = {
            "level": config.getini("agenttrace_snapshot_level"),
            **comparison_ini_values(config.getini),
            "max_diff_lines": config.getini("agenttrace_diff_max_lines"),
        }
        settings = SnapshotSettings().updated(ini, where="agenttrace snapshot ini options", names=_INI_NAMES)
        settings = settings.updated(options, where="agenttrace snapshot command-line options", names=_OPTION_NAMES)
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
