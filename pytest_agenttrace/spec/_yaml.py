"""YAML for specs: safe parsing that keeps the line and column of every key and value.

PyYAML's C loader (``CSafeLoader``) composes the node tree when it is
installed, the pure-Python ``SafeLoader`` otherwise; plain data is then built
from the nodes here, recording positions by path (``("rules", 2, "forbid")``)
so that schema errors point into the file.  Only YAML's plain tags are
accepted (no ``!!python/...``), duplicate keys are errors, merge keys
(``<<: *base``) work, and alias bombs and recursive aliases are refused.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from ..exceptions import SpecError

__all__ = ["LOADER", "MAX_DEPTH", "Doc", "PathKey", "excerpt", "parse_yaml", "plain"]

#: The loader class used to compose documents (the C one when PyYAML has it).
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Upper bound on YAML nodes after alias expansion (guards against "billion laughs").
_MAX_NODES: Final = 200_000
#: Upper bound on nesting (no spec needs more; deeper input would exhaust the stack).
MAX_DEPTH: Final = 64
#: Nesting the C composer is trusted with unchecked (it recurses on the C stack: about 500 bytes a
#: level, so 20,000 levels crash the main thread and 1,000 a thread with a 256 KiB stack).
_SAFE_COMPOSE_DEPTH: Final = 1000

PathKey = tuple[str | int, ...]


@dataclass
class Doc:
    """A YAML document as plain data plus the position of every key and value."""

    path: str | None
    data: Any = None
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    values: dict[PathKey, tuple[int, int, str | None, bool]] = field(default_factory=dict)
    #: The source text (to tell whether a scalar's value is written as it is, without escapes).
    text: str = ""

    def key_at(self, path: PathKey) -> tuple[int | None, int | None]:
        """Position of the key that holds ``path`` (or of the value for list items)."""
        if path in self.keys:
            return self.keys[path]
        return self.value_at(path)

    def value_at(self, path: PathKey) -> tuple[int | None, int | None]:
        """Position of the value at ``path``, or of its nearest located parent."""
        while path:
            if path in self.values:
                line, column, _, _ = self.values[path]
                return line, column
            path = path[:-1]
        if () in self.values:
            return self.values[()][:2]
        return None, None

    def error(self, message: str, at: tuple[int | None, int | None]) -> SpecError:
        """A :class:`SpecError` at ``at`` (line, column) in this document."""
        return SpecError(message, path=self.path, line=at[0], column=at[1])


def parse_yaml(text: str, path: str | None) -> Doc:
    """Parse ``text``; every problem is a :class:`SpecError` with its line and column."""
    doc = Doc(path=path, text=text)
    try:
        if _depth_bound(text) > _SAFE_COMPOSE_DEPTH:
            _check_depth(text, path)
        root = yaml.compose(text, Loader=LOADER)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(p for p in (error.context, error.problem) if p)
        hint = "check the indentation and quoting here"
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]:
            hint = "YAML does not allow tabs for indentation; use spaces"
        opened = error.context_mark
        if opened is not None and mark is not None and (opened.line, opened.column) != (mark.line, mark.column):
            # An unclosed bracket or quote is found where the parser gave up: say where it began too.
            hint += f" (what it was reading began at line {opened.line + 1}, column {opened.column + 1})"
        raise SpecError(
            f"invalid YAML: {plain(problem)}; {hint}",
            path=path,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.reader.ReaderError as error:  # a character YAML does not allow (NUL, most control characters)
        line, column = _position(text, error.position)
        code = error.character if isinstance(error.character, int) else ord(error.character)
        raise SpecError(
            f"invalid YAML: the character U+{code:04X} is not allowed in YAML ({error.reason}); "
            "remove it (is this a spec file?)",
            path=path,
            line=line,
            column=column,
        ) from None
    except yaml.YAMLError as error:
        raise SpecError(
            f"invalid YAML: {plain(str(error).splitlines()[0] if str(error) else type(error).__name__)}", path=path
        ) from None
    except RecursionError:
        raise SpecError(
            f"the YAML is nested too deeply to read; a spec nests at most {MAX_DEPTH} levels", path=path
        ) from None
    if root is None:
        raise SpecError("the spec file is empty; start with `rules:` (see docs/specs.md)", path=path, line=1, column=1)
    constructor = yaml.constructor.SafeConstructor()
    budget = [_MAX_NODES]
    doc.data = _build(root, (), doc, constructor, budget, set())
    return doc


def _depth_bound(text: str) -> int:
    """An upper bound on the nesting of ``text``'s collections, cheap to compute.

    A nested block collection starts at a greater column than its parent (a sequence under a key may
    share the key's column, once per two levels), so block nesting is at most twice the longest line;
    each flow level needs a ``[`` or ``{`` (a ``[a: b]`` pair adds a mapping, so twice that too).
    """
    flow = text.count("[") + text.count("{")
    longest = max(map(len, text.split("\n")))  # YAML's other line breaks only make lines look longer
    return 2 * flow + 2 * (longest + 1)


def _check_depth(text: str, path: str | None) -> None:
    """Refuse nesting past :data:`MAX_DEPTH` from the parser's events, before anything recurses on it."""
    depth = 0
    starts = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
    ends = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, starts):
            depth += 1
            # The same limit as _build's: a collection at depth d has a path of d - 1 keys.
            if depth > MAX_DEPTH + 1:
                mark = event.start_mark
                raise SpecError(
                    f"the YAML is nested more than {MAX_DEPTH} levels deep here; a spec never needs that much nesting",
                    path=path,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                )
        elif isinstance(event, ends):
            depth -= 1


def _build(
    node: yaml.Node,
    path: PathKey,
    doc: Doc,
    constructor: yaml.constructor.SafeConstructor,
    budget: list[int],
    active: set[int],
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise doc.error("the spec expands to too many YAML nodes (alias bomb?)", _mark(node))
    if len(path) > MAX_DEPTH:
        raise doc.error(
            f"the YAML is nested more than {MAX_DEPTH} levels deep here; a spec never needs that much nesting",
            _mark(node),
        )
    style = getattr(node, "style", None)
    multiline = node.start_mark.line != node.end_mark.line
    doc.values.setdefault(path, (*_mark(node), style, multiline))
    if id(node) in active:
        raise doc.error("a YAML alias refers to itself; specs cannot be recursive", _mark(node))
    if node.tag not in _PLAIN_TAGS:
        raise doc.error(f"invalid YAML: the tag {node.tag!r} is not allowed in a spec; write plain values", _mark(node))
    if isinstance(node, yaml.MappingNode):
        active.add(id(node))
        own: dict[str, tuple[int, int]] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise doc.error("a key must be a plain name, not a list or a mapping", _mark(key_node))
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = str(key_node.value)
            if key in own:
                raise doc.error(
                    f"duplicate key {key!r} (first at line {own[key][0]}); keep one of them",
                    _mark(key_node),
                )
            own[key] = _mark(key_node)
        try:
            constructor.flatten_mapping(node)  # `<<: *alias` merges; the mapping's own keys win
        except yaml.MarkedYAMLError as error:
            raise doc.error(f"invalid YAML merge: {error.problem}", _mark(node)) from None
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise doc.error("a key must be a plain name, not a list or a mapping", _mark(key_node))
            key = str(key_node.value)
            doc.keys[(*path, key)] = _mark(key_node)
            doc.values.pop((*path, key), None)
            out[key] = _build(value_node, (*path, key), doc, constructor, budget, active)
        active.discard(id(node))
        return out
    if isinstance(node, yaml.SequenceNode):
        active.add(id(node))
        items = [_build(item, (*path, i), doc, constructor, budget, active) for i, item in enumerate(node.value)]
        active.discard(id(node))
        return items
    if node.tag == _STR_TAG:
        return node.value  # the common case, without the constructor's bookkeeping
    try:
        return constructor.construct_object(node)
    except yaml.YAMLError as error:
        raise doc.error(f"invalid YAML value: {error}", _mark(node)) from None
    except Exception as error:  # noqa: BLE001 -- a value a tag forces on text it cannot read:
        # an integer past Python's digit limit, a 30th of February, `!!bool "maybe"` (KeyError),
        # `!!int ""` (IndexError), `!!timestamp "soon"` (AttributeError)
        raise doc.error(_unreadable(node, error), _mark(node)) from None


_STR_TAG: Final = "tag:yaml.org,2002:str"
_PLAIN_TAGS: Final = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary")
)


def _unreadable(node: yaml.Node, error: Exception) -> str:
    """Why a plain scalar that YAML types (a number, a date) cannot be read, and what to write instead."""
    text = str(node.value)
    digits = sum(char.isdigit() for char in text)
    limit = sys.get_int_max_str_digits()
    if node.tag == "tag:yaml.org,2002:int" and limit and digits > limit:
        return (
            f"the number {excerpt(text, 20)} has {digits} digits, more than the {limit} Python reads; "
            "write a smaller number, or quote it if it is meant as text"
        )
    if not isinstance(error, (ValueError, OverflowError)):  # PyYAML's own reason would name its internals
        tag = str(node.tag).rsplit(":", 1)[-1]
        return f"invalid YAML value {excerpt(text)}: not a valid !!{tag}; fix the value, or drop the tag"
    return f"invalid YAML value {excerpt(text)}: {error}; fix the value, or quote it if it is meant as text"


def excerpt(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message: at most ``limit`` characters, control characters escaped."""
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(shown)


def plain(text: str, limit: int = 200) -> str:
    """``text`` unquoted for a message: at most ``limit`` characters, control characters escaped."""
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in shown)


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character ``offset`` of ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1
