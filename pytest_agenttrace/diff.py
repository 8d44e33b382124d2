"""Tree-aligned diffs of two traces, and the ``agenttrace diff`` command.

Both traces are normalised (:mod:`pytest_agenttrace.normalize`), then aligned
as trees: the roots, and then the children of every pair of aligned spans,
are matched by their key ``(kind, name, agent)``.  Per sibling list:

1. the common prefix and suffix of keys are paired (so one inserted span is
   one added subtree, whatever follows it);
2. the rest is aligned with a longest-matching-blocks pass
   (:class:`difflib.SequenceMatcher` without its junk heuristic);
3. spans still unpaired on both sides with the same key are paired as
   *moved*; the others are *added* or *removed* with their whole subtree.

Where a key repeats among the siblings of one side (three
``tool:web_search`` calls, say), the key alone cannot tell which is which,
so steps 1-3 first run on the key plus, for those spans, a digest of their
whole subtree: identical subtrees pair up, and inserting a repeated span
(a second ``agent coder`` with its own calls) before another is one added
subtree, not a change to every later one.  Spans left unpaired between two such anchors
are then paired by key alone, in order (*changed* where they differ), and
what is still unpaired on both sides with the same key is *moved*, as in
step 3.

The alignment is always computed in one canonical orientation (the
lexicographically smaller key list on the left) so that ``diff(A, B)`` is
exactly the mirror image of ``diff(B, A)``.  Equal subtrees are skipped with
one C-level ``==``; spans whose own fields differ are compared with DeepDiff
(an absolute ``float_tolerance`` becomes its ``math_epsilon``; an int and a
float within it, which DeepDiff calls a type change, are the same too), which
yields one *changed* record per field path.

A :class:`TraceDiff` also carries the version stamps that changed between
the two traces and per-agent call counts that changed (``tool web_search:
1 -> 3 calls under coder``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from .exceptions import InputError, TraceFileError
from .model import Trace
from .normalize import LEVELS, NormalizeOptions, node_key, normalize, subtree_digest
from .report.terminal import terminal_safe
from .snapfile import loads, node_fields

__all__ = [
    "MISSING",
    "Change",
    "CountChange",
    "TraceDiff",
    "VersionChange",
    "diff_normalized",
    "diff_traces",
    "load_any",
    "redacted_snapshot",
    "register",
    "version_changes",
]


class _Missing:
    """The value of a field that one side does not have."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "(missing)"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
_SUBTREE_LINES: Final = 12
_VALUE_CHARS: Final = 120


@dataclass(frozen=True, slots=True)
class VersionChange:
    """One version stamp that differs: ``key`` like ``prompt:summarizer``."""

    key: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        """``prompt summarizer v3 -> v4`` / ``config tools a1b2c3d4 -> 9f8e7d6c``."""
        kind, _, name = self.key.partition(":")
        if not name:
            kind, name = "version", kind
        old, new = _short_stamp(self.old), _short_stamp(self.new)
        if old == new:  # same label, different content
            old, new = self.old or "(none)", self.new or "(none)"
        return f"{kind} {name} {old} -> {new}"

    def mirror(self) -> VersionChange:
        """The change seen from the other side."""
        return VersionChange(self.key, self.new, self.old)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"key": self.key, "old": self.old, "new": self.new, "text": self.describe()}


def _short_stamp(stamp: str | None) -> str:
    """``summarizer@v3#1a2b3c4d`` -> ``v3``; ``tools#a1b2c3d4`` -> ``a1b2c3d4``."""
    if stamp is None:
        return "(none)"
    if "@" in stamp:
        return stamp.split("@", 1)[1].split("#", 1)[0]
    if "#" in stamp:
        return stamp.rsplit("#", 1)[1]
    return stamp


def version_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[VersionChange]:
    """Stamps that differ between two ``versions`` mappings, sorted by key."""
    return [
        VersionChange(key, old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


@dataclass(frozen=True, slots=True)
class CountChange:
    """How often spans of one ``(kind, name, agent)`` ran, before and after."""

    kind: str
    name: str
    agent: str
    old: int
    new: int

    def describe(self) -> str:
        """``tool web_search: 1 -> 3 calls under coder``."""
        unit = "calls" if self.kind in ("tool", "llm", "retrieval") else "spans"
        return f"{self.kind} {self.name}: {self.old} -> {self.new} {unit} under {self.agent or '(no agent)'}"

    def mirror(self) -> CountChange:
        """The change seen from the other side."""
        return replace(self, old=self.new, new=self.old)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "name": self.name,
            "agent": self.agent or None,
            "old": self.old,
            "new": self.new,
            "text": self.describe(),
        }


_MIRROR_OP: Final = {"added": "removed", "removed": "added", "moved": "moved", "changed": "changed"}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between the trees.

    ``op`` is ``added``/``removed`` (a whole subtree, in ``node``), ``moved``
    (the same span at another position among its siblings; 1-based
    ``old_position``/``new_position``) or ``changed`` (one field: ``field`` is
    its dotted path, ``old``/``new`` the values, :data:`MISSING` for a side
    without it).  ``old_path``/``new_path`` locate the span in each tree
    (``agent:orchestrator > tool:web_search[2]``); ``None`` where it is absent.
    """

    op: str
    old_path: str | None
    new_path: str | None
    field: str | None = None
    old: Any = None
    new: Any = None
    node: Mapping[str, Any] | None = None
    old_position: int | None = None
    new_position: int | None = None

    @property
    def path(self) -> str:
        """The path shown to a reader: the new one, else the old one."""
        return self.new_path or self.old_path or ""

    def mirror(self) -> Change:
        """The change seen from the other side."""
        return Change(
            op=_MIRROR_OP[self.op],
            old_path=self.new_path,
            new_path=self.old_path,
            field=self.field,
            old=self.new,
            new=self.old,
            node=self.node,
            old_position=self.new_position,
            new_position=self.old_position,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a missing value is left out)."""
        out: dict[str, Any] = {"op": self.op, "path": self.path, "old_path": self.old_path, "new_path": self.new_path}
        if self.op == "changed":
            out["field"] = self.field
            if self.old is not MISSING:
                out["old"] = self.old
            if self.new is not MISSING:
                out["new"] = self.new
        elif self.op == "moved":
            out["old_position"] = self.old_position
            out["new_position"] = self.new_position
        else:
            out["node"] = self.node
        return out

    def render(self) -> list[str]:
        """Human-readable lines, safe for a terminal (trace data escaped once: see :func:`_display_json`)."""
        path = terminal_safe(self.path)
        if self.op == "changed":
            return [f"~ {path}: {terminal_safe(self.field or '')}: {_show(self.old)} -> {_show(self.new)}"]
        if self.op == "moved":
            return [f"> {path}: moved from position {self.old_position} to {self.new_position}"]
        sign = "+" if self.op == "added" else "-"
        lines = [f"{sign} {terminal_safe(self.path)}"]
        body = _display_lines(self.node) if self.node is not None else []
        for line in body[:_SUBTREE_LINES]:
            lines.append(f"{sign} {line}")
        if len(body) > _SUBTREE_LINES:
            lines.append(f"{sign}   ... {len(body) - _SUBTREE_LINES} more spans in this subtree")
        return lines


def _show(value: Any) -> str:
    if value is MISSING:
        return "(missing)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return _display_json(text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "...")


def _display_json(text: str) -> str:
    """JSON text made safe for a terminal, escaped once.

    JSON has escaped backslashes, quotes and C0 controls already (a backslash
    of the data is ``\\\\``); :func:`terminal_safe` escapes what JSON leaves
    as it is (DEL, C1 controls, bidi and invisible characters, surrogates) in
    the text between backslashes, so it doubles none of them: ``C:\\tmp``
    shows as ``"C:\\\\tmp"``, as in the snapshot file.
    """
    if "\\" not in text:
        return terminal_safe(text)
    return "\\".join(terminal_safe(part) for part in text.split("\\"))


#: A kind or name the snapshot file writes bare (else as a JSON string).
_BARE_NAME: Final = re.compile(r'[^\s"{}]+')


def _display_token(text: str) -> str:
    """A kind or name as the snapshot file writes it (bare or a JSON string), safe for a terminal."""
    if _BARE_NAME.fullmatch(text) and "\\" not in text and terminal_safe(text) == text:
        return text
    return _display_json(json.dumps(text, ensure_ascii=False))


def _display_lines(node: Mapping[str, Any]) -> list[str]:
    """The snapshot file lines of ``node``'s subtree (one level deep), safe for a terminal."""
    lines: list[str] = []
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        line = f"{'  ' * depth}- {_display_token(current['kind'])} {_display_token(current['name'])}"
        fields = node_fields(current)
        lines.append(f"{line} {_display_json(fields)}" if fields else line)
        stack.extend((c, depth + 1) for c in reversed(current.get("children", ())))
    return lines


@dataclass(frozen=True, slots=True)
class TraceDiff:
    """The difference between an old (golden) and a new trace."""

    changes: tuple[Change, ...] = ()
    counts: tuple[CountChange, ...] = ()
    version_changes: tuple[VersionChange, ...] = ()
    old: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    new: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def same(self) -> bool:
        """True when the trees do not differ (version stamps alone do not count)."""
        return not self.changes

    def __bool__(self) -> bool:
        return not self.same

    def mirror(self) -> TraceDiff:
        """The diff seen from the other side (``diff(B, A)``)."""
        return TraceDiff(
            changes=tuple(c.mirror() for c in self.changes),
            counts=tuple(c.mirror() for c in self.counts),
            version_changes=tuple(v.mirror() for v in self.version_changes),
            old=self.new,
            new=self.old,
        )

    def versions_line(self) -> str:
        """``prompt summarizer v3 -> v4; config tools a1b2c3d4 -> 9f8e7d6c`` (or a note)."""
        if not self.version_changes:
            return "no version stamp changed"
        return "; ".join(v.describe() for v in self.version_changes)

    def render(self, max_lines: int | None = None) -> list[str]:
        """The diff for a reader: version changes, counts, then the tree changes."""
        # Names and values come from trace data: escaped where they are put in a line, once.
        lines = [terminal_safe(self.versions_line())]
        lines.extend(terminal_safe(c.describe()) for c in self.counts)
        if self.same:
            lines.append("the span trees are the same")
            return lines
        for change in self.changes:
            lines.extend(change.render())
        if max_lines and len(lines) > max_lines:
            hidden = len(lines) - max_lines
            lines = lines[:max_lines]
            lines.append(
                f"... {hidden} more lines of diff; set agenttrace_diff_max_lines = 0 (ini) or "
                "--agenttrace-diff-max-lines=0 to see them all."
            )
        return lines

    def to_dict(self, *, test: str | None = None, include_trees: bool = True) -> dict[str, Any]:
        """The JSON-ready structured diff (``recorder.results["snapshot_diffs"]`` entries)."""
        out: dict[str, Any] = {
            "test": test,
            "same": self.same,
            "version_changes": [v.to_dict() for v in self.version_changes],
            "counts": [c.to_dict() for c in self.counts],
            "changes": [c.to_dict() for c in self.changes],
        }
        if include_trees:
            out["golden"] = dict(self.old)
            out["actual"] = dict(self.new)
        return out


# -- alignment -------------------------------------------------------------------


def _labels(nodes: Sequence[Mapping[str, Any]], parent: str) -> list[str]:
    """Display paths of siblings: ``parent > kind:name`` with ``[n]`` when the key repeats."""
    totals = Counter((n["kind"], n["name"]) for n in nodes)
    seen: Counter[tuple[str, str]] = Counter()
    out = []
    prefix = f"{parent} > " if parent else ""
    for node in nodes:
        key = (node["kind"], node["name"])
        seen[key] += 1
        suffix = f"[{seen[key]}]" if totals[key] > 1 else ""
        out.append(f"{prefix}{node['kind']}:{node['name']}{suffix}")
    return out


_Pair = tuple[int | None, int | None, bool]  # (left index, right index, moved)


def _align_keys(ka: Sequence[Any], kb: Sequence[Any]) -> list[_Pair]:
    """Align two key lists; returns pairs in merged order (see the module docstring)."""
    la, lb = len(ka), len(kb)
    prefix = 0
    while prefix < la and prefix < lb and ka[prefix] == kb[prefix]:
        prefix += 1
    suffix = 0
    while suffix < la - prefix and suffix < lb - prefix and ka[la - 1 - suffix] == kb[lb - 1 - suffix]:
        suffix += 1
    pairs: list[_Pair] = [(i, i, False) for i in range(prefix)]
    mid_a, mid_b = ka[prefix : la - suffix], kb[prefix : lb - suffix]
    unmatched_a: list[int] = []
    unmatched_b: list[int] = []
    middle: list[_Pair] = []
    if mid_a or mid_b:
        i = j = 0
        blocks = SequenceMatcher(None, mid_a, mid_b, autojunk=False).get_matching_blocks() if mid_a and mid_b else []
        for block in [*blocks, None]:
            end_a, end_b = (block.a, block.b) if block is not None else (len(mid_a), len(mid_b))
            for x in range(i, end_a):
                unmatched_a.append(prefix + x)
                middle.append((prefix + x, None, False))
            for y in range(j, end_b):
                unmatched_b.append(prefix + y)
                middle.append((None, prefix + y, False))
            if block is not None:
                middle.extend((prefix + block.a + n, prefix + block.b + n, False) for n in range(block.size))
                i, j = block.a + block.size, block.b + block.size
    if unmatched_a and unmatched_b:
        # Same key on both sides but not in sequence: a move, not a remove plus an add.
        waiting: dict[tuple[str, str, str], list[int]] = {}
        for y in unmatched_b:
            waiting.setdefault(kb[y], []).append(y)
        moved_to: dict[int, int] = {}
        for x in unmatched_a:
            candidates = waiting.get(ka[x])
            if candidates:
                moved_to[x] = candidates.pop(0)
        moved_from = set(moved_to.values())
        rebuilt: list[_Pair] = []
        for left, right, _ in middle:
            if left is not None and left in moved_to:
                rebuilt.append((left, moved_to[left], left != moved_to[left]))
            elif right is not None and right in moved_from:
                continue
            else:
                rebuilt.append((left, right, False))
        middle = rebuilt
    pairs.extend(middle)
    pairs.extend((la - suffix + n, lb - suffix + n, False) for n in range(suffix))
    return pairs


def _key_list(nodes: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    return [node_key(n) for n in nodes]


def _content_keys(
    nodes: Sequence[Mapping[str, Any]],
    keys: list[tuple[str, str, str]],
    repeated: set[tuple[str, str, str]],
    digests: dict[int, str],
) -> list[Any]:
    """The keys, each with a digest of the span's whole subtree when its key is in ``repeated``.

    Identical subtrees then pair up first, so one inserted copy of a repeated
    span is one added subtree.  A digest is the span's own fields and its
    children's digests, computed once per node per diff (``digests``, by node
    identity), so the cost stays linear.  Spans of keys that do not repeat
    get ``""``: the key alone names them.
    """
    return [
        (key, _subtree_digest(node, digests)) if key in repeated else (key, "")
        for key, node in zip(keys, nodes, strict=True)
    ]


def _subtree_digest(node: Mapping[str, Any], digests: dict[int, str]) -> str:
    """A digest of ``node``'s subtree (each node's canonical JSON, bottom-up, without recursion)."""
    return subtree_digest(node, digests, _own_canonical)


def _own_canonical(node: Mapping[str, Any]) -> str:
    return _canonical({k: v for k, v in node.items() if k != "children"})


#: Sibling lists longer than this (both sides together) are aligned on keys alone: the matching
#: pass is quadratic at worst, and content makes more distinct values for it to weigh.
_CONTENT_ALIGN_MAX: Final = 4000


def _repeated(*key_lists: Sequence[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """The keys found more than once in one of the lists."""
    out: set[tuple[str, str, str]] = set()
    for keys in key_lists:
        out.update(key for key, count in Counter(keys).items() if count > 1)
    return out


def _align(ea: Sequence[Any], eb: Sequence[Any], ka: Sequence[Any], kb: Sequence[Any]) -> list[_Pair]:
    """Align siblings on their content keys, then pair what is left by key (see the module docstring)."""
    pairs = _align_keys(ea, eb)
    if ea is ka:
        return pairs
    out: list[_Pair] = []
    gap: list[_Pair] = []
    for pair in [*pairs, None]:
        if pair is not None and (pair[0] is None or pair[1] is None):
            gap.append(pair)
            continue
        if gap:
            out.extend(_pair_by_key(gap, ka, kb, moved=False))
            gap = []
        if pair is not None:
            out.append(pair)
    # Still unpaired on both sides with the same key, across anchors: a move (step 3 on keys).
    return _pair_by_key(out, ka, kb, moved=True)


def _pair_by_key(pairs: list[_Pair], ka: Sequence[Any], kb: Sequence[Any], *, moved: bool) -> list[_Pair]:
    """The n-th unpaired left span and the n-th unpaired right span of a key become a pair.

    The pair takes the left span's place; ``moved`` marks it as a move.
    """
    waiting: dict[Any, list[int]] = {}
    for i, j, _ in pairs:
        if i is None and j is not None:
            waiting.setdefault(kb[j], []).append(j)
    if not waiting:
        return pairs
    paired: dict[int, int] = {}
    for i, j, _ in pairs:
        if j is None and i is not None and waiting.get(ka[i]):
            paired[i] = waiting[ka[i]].pop(0)
    if not paired:
        return pairs
    taken = set(paired.values())
    return [
        (i, paired[i], moved and i != paired[i]) if j is None and i is not None and i in paired else (i, j, was_moved)
        for i, j, was_moved in pairs
        if not (i is None and j is not None and j in taken)
    ]


def _field_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _field_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], float_tolerance: float
) -> list[tuple[str, Any, Any]]:
    """``(field path, old, new)`` per difference, computed by DeepDiff in a canonical orientation."""
    left, right = dict(old), dict(new)
    left.pop("children", None)
    right.pop("children", None)
    if _equal(left, right):
        return []
    try:
        swapped = _canonical(left) > _canonical(right)
    except (TypeError, ValueError, RecursionError):
        # Content JSON cannot order (dict keys of mixed types) or nesting too deep: one change per field.
        return _whole_field_changes(left, right)
    if swapped:
        left, right = right, left
    # DeepDiff hashes list items, and hash(True) == hash(1): inside a list it would call them the same.
    # A bool is a marker text while DeepDiff looks, and itself again in what is reported.
    left, right = _mark_bools(left), _mark_bools(right)
    # Imported here: deepdiff costs ~0.3 s to import, and every pytest start loads this module.
    from deepdiff import DeepDiff
    from deepdiff.helper import NotPresent

    kwargs: dict[str, Any] = {"view": "tree", "verbose_level": 2}
    if float_tolerance:
        kwargs["math_epsilon"] = float_tolerance
    try:
        result = DeepDiff(left, right, **kwargs)
    except RecursionError:
        pairs = _whole_field_changes(left, right)
        return [(p, b, a) for p, a, b in pairs] if swapped else pairs
    found: list[tuple[str, Any, Any]] = []
    for report, levels in result.items():
        for level in levels:
            a = MISSING if isinstance(level.t1, NotPresent) else _unmark_bools(level.t1)
            b = MISSING if isinstance(level.t2, NotPresent) else _unmark_bools(level.t2)
            if report == "type_changes" and _within(a, b, float_tolerance):
                continue
            found.append((_field_path(level.path(output_format="list")), a, b))
    found.sort(key=lambda item: item[0])
    return [(p, b, a) for p, a, b in found] if swapped else found


#: What a bool is while DeepDiff compares (see _field_changes); no trace text holds these.
_BOOL_MARKS: Final = {True: "\x00agenttrace:true\x00", False: "\x00agenttrace:false\x00"}
_MARKED_BOOLS: Final = {mark: value for value, mark in _BOOL_MARKS.items()}


def _mark_bools(value: Any) -> Any:
    """``value`` with every bool replaced by its marker text (new containers; others kept)."""
    if value is True or value is False:
        return _BOOL_MARKS[value]
    if isinstance(value, dict):
        return {key: _mark_bools(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark_bools(item) for item in value]
    return value


def _unmark_bools(value: Any) -> Any:
    """:func:`_mark_bools` undone."""
    if type(value) is str:
        return _MARKED_BOOLS.get(value, value)
    if isinstance(value, dict):
        return {key: _unmark_bools(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unmark_bools(item) for item in value]
    return value


def _within(a: Any, b: Any, tolerance: float) -> bool:
    """Whether an int and a float (DeepDiff: a type change, whatever its ``math_epsilon``) are within ``tolerance``.

    The tolerance applies to every number, so ``1`` against ``0.995`` is a value compared like two floats;
    a bool is not a number here (``True`` against ``1`` stays a change).
    """
    numbers = (int, float)
    if not (isinstance(a, numbers) and isinstance(b, numbers)):  # tolerance 0: equal values (1 and 1.0)
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if not tolerance:
        return bool(a == b)  # exact: Python compares an int with a float without rounding either
    try:  # exact too: a float is a fraction, and ``a - b`` in floats would round a large int
        return abs(Fraction(a) - Fraction(b)) <= Fraction(tolerance)
    except (OverflowError, ValueError):  # an infinity or NaN
        return False


def _whole_field_changes(left: Mapping[str, Any], right: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """One ``(field, old, new)`` per top-level field that differs, for values DeepDiff cannot walk.

    Values nested deeper than the recursion limit cannot be compared at all:
    such a field is reported as changed.
    """
    out = []
    for key in sorted(set(left) | set(right), key=str):
        a, b = left.get(key, MISSING), right.get(key, MISSING)
        if not _equal(a, b):
            out.append((str(key), a, b))
    return out


def _equal(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same JSON data, at C speed; ``False`` means "look closer".

    ``==`` first, then, for an equal pair, their canonical JSON texts: Python
    calls ``True == 1`` and ``{"v": 1} == {"v": 1.0}``, where a snapshot holds
    ``true`` against ``1`` (a change) or ``1`` against ``1.0`` (compared by
    value under the float tolerance when looked at closer).  ``False`` for
    trees deeper than the recursion limit is safe too: the caller then
    descends level by level and compares each span's own fields.
    """
    try:
        if a != b:
            return False
        if a is b:
            return True
        try:
            return _canonical(a) == _canonical(b)
        except (TypeError, ValueError):  # keys sort_keys cannot order: == stands
            return True
    except RecursionError:
        return False


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def _count(spans: Sequence[Mapping[str, Any]], keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    """How many spans of each of ``keys`` the forest has."""
    counts = dict.fromkeys(keys, 0)
    stack: list[Sequence[Mapping[str, Any]]] = [spans]
    while stack:
        for node in stack.pop():
            key = (node["kind"], node["name"], node.get("agent") or "")
            if key in counts:
                counts[key] += 1
            children = node.get("children")
            if children:
                stack.append(children)
    return counts


def _subtree_keys(node: Mapping[str, Any]) -> Counter[tuple[str, str, str]]:
    keys: Counter[tuple[str, str, str]] = Counter()
    stack = [node]
    while stack:
        current = stack.pop()
        keys[node_key(current)] += 1
        stack.extend(current.get("children", ()))
    return keys


def diff_normalized(old: Mapping[str, Any], new: Mapping[str, Any], *, float_tolerance: float = 0.0) -> TraceDiff:
    """Diff two normalised traces (see :func:`pytest_agenttrace.normalize.normalize`)."""
    changes: list[Change] = []
    # Work list of sibling lists to align: (old nodes, new nodes, old parent path, new parent path).
    work: list[tuple[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]], str, str]] = [
        (old.get("spans", ()), new.get("spans", ()), "", "")
    ]
    if _equal(work[0][0], work[0][1]):
        work.clear()
    digests: dict[int, str] = {}  # subtree digests of spans with repeated keys, by node identity
    while work:
        a_nodes, b_nodes, a_parent, b_parent = work.pop()
        ka, kb = _key_list(a_nodes), _key_list(b_nodes)
        ea: list[Any] = ka
        eb: list[Any] = kb
        repeated = _repeated(ka, kb) if len(ka) + len(kb) <= _CONTENT_ALIGN_MAX else None
        if repeated:  # a key names more than one sibling on a side: its spans' content tells them apart
            try:
                ea, eb = _content_keys(a_nodes, ka, repeated, digests), _content_keys(b_nodes, kb, repeated, digests)
            except (RecursionError, TypeError, ValueError):  # content JSON cannot hold: the keys alone
                ea, eb = ka, kb
        swapped = (ea, ka) > (eb, kb)
        pairs = _align(eb, ea, kb, ka) if swapped else _align(ea, eb, ka, kb)
        if swapped:
            pairs = [(j, i, moved) for i, j, moved in pairs]
        a_labels, b_labels = _labels(a_nodes, a_parent), _labels(b_nodes, b_parent)
        nested: list[tuple[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]], str, str]] = []
        for i, j, moved in pairs:
            if i is None and j is not None:
                changes.append(Change("added", None, b_labels[j], node=b_nodes[j]))
                continue
            if j is None and i is not None:
                changes.append(Change("removed", a_labels[i], None, node=a_nodes[i]))
                continue
            assert i is not None and j is not None
            na, nb = a_nodes[i], b_nodes[j]
            if moved:
                changes.append(Change("moved", a_labels[i], b_labels[j], old_position=i + 1, new_position=j + 1))
            if _equal(na, nb):
                continue
            for path, va, vb in _field_changes(na, nb, float_tolerance):
                changes.append(Change("changed", a_labels[i], b_labels[j], field=path, old=va, new=vb))
            ca, cb = na.get("children", ()), nb.get("children", ())
            if not _equal(ca, cb):
                nested.append((ca, cb, a_labels[i], b_labels[j]))
        # Depth first, in merged order: the work list is a stack.
        work.extend(reversed(nested))
    # Only added/removed subtrees change how often a (kind, name, agent) occurs: count just those keys.
    delta: Counter[tuple[str, str, str]] = Counter()
    for change in changes:
        if change.node is not None:
            sign = 1 if change.op == "added" else -1
            for key, n in _subtree_keys(change.node).items():
                delta[key] += sign * n
    changed_keys = {k for k, v in delta.items() if v}
    counts_old = _count(old.get("spans", ()), changed_keys) if changed_keys else {}
    counts_new = _count(new.get("spans", ()), changed_keys) if changed_keys else {}
    counts = tuple(
        CountChange(k[0], k[1], k[2], counts_old[k], counts_new[k])
        for k in sorted(changed_keys)
        if counts_old[k] != counts_new[k]
    )
    return TraceDiff(
        changes=tuple(changes),
        counts=counts,
        version_changes=tuple(version_changes(old.get("versions", {}), new.get("versions", {}))),
        old=old,
        new=new,
    )


def diff_traces(
    old: Trace | Mapping[str, Any],
    new: Trace | Mapping[str, Any],
    options: NormalizeOptions | None = None,
    *,
    float_tolerance: float = 0.0,
) -> TraceDiff:
    """Normalise both traces with ``options`` and diff them."""
    return diff_normalized(normalize(old, options), normalize(new, options), float_tolerance=float_tolerance)


# -- command line ----------------------------------------------------------------


def _head(path: str | Path) -> bytes:
    """A file's first bytes, leading whitespace stripped (enough to tell a snapshot from a trace)."""
    with open(path, "rb") as file:
        head = file.read(512)
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()  # a UTF-8 BOM (some editors save one) is no content


def _is_snapshot_head(head: bytes) -> bool:
    """Whether a file's first bytes (leading whitespace stripped) are a snapshot file's."""
    return head.startswith(b"# agenttrace snapshot") or head.startswith(b"format ")


def load_any(path: str, options: NormalizeOptions | None = None) -> dict[str, Any]:
    """Load a trace file or a snapshot file as a normalised trace, sanitised.

    A snapshot file keeps the level it was written at; ``options`` apply to
    trace files (``TraceFileError`` for unreadable or foreign files).  Either
    kind may be hand-made: a trace file is sanitised before it is normalised
    (:func:`pytest_agenttrace.cli.load_clean_trace`), a snapshot file's
    strings have their secrets redacted, so a diff never shows a secret.
    """
    read = _read(path)
    return normalize(read, options) if isinstance(read, Trace) else read


def _read(path: str) -> dict[str, Any] | Trace:
    """A snapshot file's normalised trace (redacted), or a trace file's trace (sanitised), read once."""
    p = Path(path)
    try:
        head = _head(p)
    except FileNotFoundError:
        raise TraceFileError("no such file; check the path.", path=path) from None
    except OSError as exc:
        raise TraceFileError(f"cannot read the file: {exc.strerror}.", path=path) from None
    if _is_snapshot_head(head):
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise TraceFileError("the snapshot file is not UTF-8 text.", path=path) from None
        return redacted_snapshot(loads(text, path=path))
    if head and not head.startswith(b"{"):
        # Not a JSON object, so no trace file: a golden that starts with a comment of its own or with its
        # header lines in another order still reads as one (as pytest reads it); anything else is
        # reported as the trace file it is not.
        try:
            return redacted_snapshot(loads(p.read_text(encoding="utf-8"), path=path))
        except (UnicodeDecodeError, TraceFileError, OSError):
            pass
    from .cli import load_clean_trace

    return load_clean_trace(p)


#: Span fields whose value is a name, a reference or a label: their text is redacted, no key is judged.
_NAME_FIELDS: Final = frozenset({"kind", "name", "agent", "scope", "status", "duration", "context_keys", "links"})


def redacted_snapshot(normalized: Mapping[str, Any]) -> dict[str, Any]:
    """A normalised trace (a snapshot file's, a hand-made one) with its secrets redacted.

    As a trace file is sanitised before it is normalised: names, references
    and version stamps have secret-looking text redacted, and every other
    field passes through :func:`pytest_agenttrace.sanitize.clean` with the
    command line's limits (nothing shortened), so values under secret key
    names (``password``, ``api_key``) are ``[REDACTED]`` too.  A clean tree
    comes back equal.
    """
    from .cli import JUDGING_LIMITS
    from .report._clean import redacted_strings
    from .sanitize import clean

    def node_of(node: Mapping[str, Any]) -> dict[str, Any]:
        return {
            key: value
            if key == "children"
            else redacted_strings(value)
            if key in _NAME_FIELDS
            else clean(value, JUDGING_LIMITS)
            for key, value in node.items()
        }

    out = dict(normalized)
    out["versions"] = redacted_strings(normalized.get("versions", {}))
    roots = [node_of(n) for n in normalized.get("spans", ())]
    stack = list(roots)
    while stack:  # without recursion: a hand-made file may nest deeply
        node = stack.pop()
        if "children" in node:
            node["children"] = [node_of(c) for c in node["children"]]
            stack.extend(node["children"])
    out["spans"] = roots
    return out


def _options(args: argparse.Namespace, level: str) -> NormalizeOptions:
    return NormalizeOptions.build(
        level=level,
        include=args.include,
        exclude=args.exclude,
        parallel=args.parallel,
        overlap_parallel=args.overlap_parallel,
        duration_buckets=args.duration_buckets.split() if args.duration_buckets else (),
    )


def _run(args: argparse.Namespace, out: Callable[[str], Any] | None = None) -> int:
    write = out or sys.stdout.write
    old_read, new_read = _read(args.old), _read(args.new)  # each file read once
    level = args.level
    if level is None:
        # No --level: a trace file is compared at the level of the snapshot on the other side.
        snapshots = [read for read in (old_read, new_read) if not isinstance(read, Trace)]
        level = str(snapshots[0].get("level")) if len(snapshots) == 1 else "io"
    old = normalize(old_read, _options(args, level)) if isinstance(old_read, Trace) else old_read
    new = normalize(new_read, _options(args, level)) if isinstance(new_read, Trace) else new_read
    if old.get("level") != new.get("level"):
        raise InputError(_level_mismatch((args.old, old.get("level")), (args.new, new.get("level"))))
    result = diff_normalized(old, new, float_tolerance=args.float_tolerance)
    if args.format == "json":
        write(json.dumps(result.to_dict(include_trees=False), ensure_ascii=False, default=str, indent=2) + "\n")
    else:
        write("\n".join(result.render(args.max_lines or None)) + "\n")
    return 1 if result else 0


def _level_mismatch(*sides: tuple[str, Any]) -> str:
    """What to do when the two sides are at different levels (a snapshot file keeps its own)."""
    snapshots = [(path, level) for path, level in sides if not _head(path).startswith(b"{")]  # both were read
    if len(snapshots) == 1:
        path, level = snapshots[0]
        return f"{path} is a snapshot at level {level}; pass --level {level} to compare the trace with it."
    (old_path, old_level), (new_path, new_level) = sides
    return (
        f"{old_path} is a snapshot at level {old_level} and {new_path} one at level {new_level}: they keep "
        "different fields; compare snapshots written at the same level."
    )


def register(subparsers: Any) -> None:
    """Add ``agenttrace diff OLD NEW`` to the command line."""
    from .cli import non_negative_float, non_negative_int

    parser = subparsers.add_parser(
        "diff",
        help="tree-aligned diff of two traces (trace files or snapshot files)",
        description=(
            "Normalise two traces and print what differs: version stamps, call counts, added/removed "
            "subtrees (+/-), moved spans (>) and changed fields (~). Exit 0 when the span trees are the "
            "same, 1 when they differ, 2 on bad input."
        ),
    )
    parser.add_argument("old", help="the old (golden) trace: a trace JSON file or a snapshot file")
    parser.add_argument("new", help="the new trace: a trace JSON file or a snapshot file")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--level",
        choices=LEVELS,
        default=None,
        help="normalisation level of trace files (default: the level of a snapshot file on the other side, else io)",
    )
    parser.add_argument(
        "--include", action="append", default=[], metavar="PATH", help="keep this span path (repeatable)"
    )
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="PATH", help="drop this span path (repeatable)"
    )
    parser.add_argument(
        "--parallel",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="children of spans matching SELECTOR are order-insensitive (repeatable)",
    )
    parser.add_argument(
        "--overlap-parallel", action="store_true", help="siblings overlapping in time are order-insensitive"
    )
    parser.add_argument(
        "--duration-buckets", default="", metavar="'10ms 1s'", help="keep durations as buckets with these bounds"
    )
    parser.add_argument(
        "--float-tolerance",
        type=non_negative_float,
        default=0.0,
        metavar="EPS",
        help="absolute tolerance for floats (0 or more)",
    )
    parser.add_argument(
        "--max-lines", type=non_negative_int, default=0, metavar="N", help="cut the text diff after N lines (0: all)"
    )
    parser.set_defaults(handler=_run)
