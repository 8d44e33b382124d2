"""The golden snapshot file format: a normalised trace as reviewable text.

The format (:func:`dumps` / :func:`loads`) is line based so that it reviews
well in a pull request: a header, then one span per line,
indented two spaces per depth, ``- KIND NAME {json of the other fields}``::

    # agenttrace snapshot: normalised span tree, one span per line
    format 1
    level io
    version prompt:summarizer "summarizer@v3#1a2b3c4d"
    spans
    - agent orchestrator {"agent": "orchestrator"}
      - tool web_search {"agent": "orchestrator", "input": {"q": "x"}}

Names are written bare unless they contain whitespace, quotes or braces (then
as JSON strings); the fields after the name are one JSON object with a fixed
key order (nested keys sorted).  :func:`loads` reports a malformed file as a
``TraceFileError`` with its line and column.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .exceptions import TraceFileError
from .model import KINDS
from .normalize import FORMAT, LEVELS, NODE_FIELDS

__all__ = ["dump_lines", "dumps", "loads", "node_fields"]

_HEADER: Final = "# agenttrace snapshot: normalised span tree, one span per line (indent = depth)"
_BARE_TOKEN: Final = re.compile(r'[^\s"{}]+')


def _token(text: str) -> str:
    return text if _BARE_TOKEN.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except RecursionError:  # a hand-built trace nested deeper than the JSON encoder goes
        return json.dumps(_depth_capped(value, _MAX_DEPTH), sort_keys=True, ensure_ascii=False, default=str)
    except ValueError:  # an integer past sys.get_int_max_str_digits() (a marker), or a cycle (cut at a depth)
        try:
            capped = _depth_capped(value, sys.getrecursionlimit())
            return json.dumps(capped, sort_keys=True, ensure_ascii=False, default=str)
        except RecursionError:
            return json.dumps(_depth_capped(value, _MAX_DEPTH), sort_keys=True, ensure_ascii=False, default=str)


#: Nesting kept when a value is too deep to encode (recorded values are capped far below: sanitize.Limits).
_MAX_DEPTH: Final = 200


def _long_integer_marker(value: int) -> str | None:
    """``…[agenttrace: integer of 5001 digits, 1234567890…]`` for an int too long to write, else ``None``.

    The marker of the trace file writer (``store``), marked as sanitize marks
    cut text; the digits are counted without converting the int to text.
    """
    limit = sys.get_int_max_str_digits()
    size = abs(value)
    if not limit or size.bit_length() * 0.30103 < limit - 1:  # surely within the limit
        return None
    digits = int((size.bit_length() - 1) * 0.30102999566398120) + 1  # log10(2): exact or one short
    if size >= 10**digits:
        digits += 1
    if digits <= limit:
        return None
    first = size // 10 ** (digits - 10)
    return f"…[agenttrace: integer of {digits} digits, {'-' if value < 0 else ''}{first}…]"


def _depth_capped(value: Any, max_depth: int) -> Any:
    """A copy of ``value`` (built without recursion) that JSON can write.

    Containers below ``max_depth`` and integers too long
    for Python to write (:func:`_long_integer_marker`) become markers.
    """
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, holder, 0, 0)]
    while stack:
        item, parent, key, depth = stack.pop()
        if isinstance(item, int) and not isinstance(item, bool):
            marker = _long_integer_marker(item)
            parent[key] = item if marker is None else marker
        elif isinstance(item, (dict, list, tuple)) and depth >= max_depth:
            parent[key] = f"…[agenttrace: nested deeper than {max_depth}]"
        elif isinstance(item, dict):
            mapping: dict[Any, Any] = dict.fromkeys(item)
            parent[key] = mapping
            stack.extend((inner, mapping, name, depth + 1) for name, inner in item.items())
        elif isinstance(item, (list, tuple)):
            items: list[Any] = [None] * len(item)
            parent[key] = items
            stack.extend((inner, items, index, depth + 1) for index, inner in enumerate(item))
        else:
            parent[key] = item
    return holder[0]


def node_fields(node: Mapping[str, Any]) -> str:
    """The JSON object a span line ends with (``""`` when the node has no field besides kind, name, children)."""
    fields = ", ".join(f"{json.dumps(k)}: {_json(node[k])}" for k in NODE_FIELDS if k in node)
    extra = ", ".join(
        f"{json.dumps(k)}: {_json(v)}"
        for k, v in sorted(node.items())
        if k not in NODE_FIELDS and k not in ("kind", "name", "children")
    )
    body = ", ".join(p for p in (fields, extra) if p)
    return f"{{{body}}}" if body else ""


def _node_line(node: Mapping[str, Any], depth: int) -> str:
    body = node_fields(node)
    line = f"{'  ' * depth}- {_token(node['kind'])} {_token(node['name'])}"
    return f"{line} {body}" if body else line


def dump_lines(spans: Sequence[Mapping[str, Any]], depth: int = 0) -> list[str]:
    """The span lines of the file format for ``spans`` (nodes) starting at ``depth``."""
    lines: list[str] = []
    stack = [(n, depth) for n in reversed(spans)]
    while stack:
        node, d = stack.pop()
        lines.append(_node_line(node, d))
        stack.extend((c, d + 1) for c in reversed(node.get("children", ())))
    return lines


def dumps(normalized: Mapping[str, Any]) -> str:
    """The snapshot file text of a normalised trace (ends with a newline)."""
    lines = [_HEADER, f"format {normalized.get('format', FORMAT)}", f"level {normalized.get('level', 'io')}"]
    for key, value in sorted(normalized.get("versions", {}).items()):
        lines.append(f"version {_token(key)} {json.dumps(value, ensure_ascii=False)}")
    lines.append("spans")
    lines.extend(dump_lines(normalized.get("spans", ())))
    return "\n".join(lines) + "\n"


def _read_token(text: str, pos: int, where: _Where) -> tuple[str, int]:
    if pos < len(text) and text[pos] == '"':
        try:
            value, end = json.JSONDecoder().raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise where.error(f"bad quoted name: {exc.msg}", pos + 1) from None
        if not isinstance(value, str):
            raise where.error("expected a quoted string", pos + 1)
        return value, end
    end = pos
    while end < len(text) and not text[end].isspace():
        end += 1
    if end == pos:
        raise where.error("expected a kind and a name after '- '", pos + 1)
    return text[pos:end], end


@dataclass(frozen=True, slots=True)
class _Where:
    path: str | None
    line: int

    def error(self, message: str, column: int | None = None) -> TraceFileError:
        return TraceFileError(
            f"snapshot file is malformed: {message}. Re-run pytest with --snapshot-update to rewrite it.",
            path=self.path,
            line=self.line,
            column=column,
        )


def _read_json(text: str, where: _Where, what: str, column: int) -> Any:
    """``text`` as JSON; ``column`` is where ``text`` starts on the line (1-based).

    ``what`` begins the messages: ``"span fields are not a JSON object"``.
    """
    stripped = text.lstrip()
    column += len(text) - len(stripped)  # errors point into the JSON, not at the blank before it
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise where.error(f"{what}: {exc.msg}", column + exc.pos) from None
    except ValueError:  # an integer longer than sys.get_int_max_str_digits()
        raise where.error(
            f"{what}: a number has more than {sys.get_int_max_str_digits()} digits, which Python cannot read",
            column,
        ) from None
    except RecursionError:
        raise where.error(f"{what}: it is nested too deeply to read", column) from None


#: JSON types of the fields a span line may carry (others, added by ``include`` paths, may be anything).
_FIELD_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "agent": (str, type(None)),
    "scope": (str,),
    "status": (str,),
    "error": (dict, type(None)),
    "duration": (str,),
    "context_keys": (list,),
    "attributes": (dict,),
    "links": (list,),
    "events": (list,),
}


def _check_fields(body: Mapping[str, Any], where: _Where, column: int) -> None:
    """Refuse fields that the line's own syntax states (kind, name, children) or of the wrong JSON type."""
    for key in ("kind", "name", "children"):
        if key in body:
            place = "the indentation gives children" if key == "children" else f"the {key} leads the line"
            raise where.error(f"span fields cannot hold {key!r}: {place}", column)
    for key, types in _FIELD_TYPES.items():
        if key in body and not isinstance(body[key], types):
            wanted = " or ".join(_JSON_NAMES[t] for t in types)
            raise where.error(
                f"span field {key!r} must be {wanted}, not {_JSON_NAMES.get(type(body[key]), 'that')}", column
            )
    for key in ("links", "context_keys"):
        if not all(isinstance(item, str) for item in body.get(key, ())):
            raise where.error(f"span field {key!r} must be a list of strings", column)
    if not all(isinstance(event, dict) for event in body.get("events", ())):
        raise where.error("span field 'events' must be a list of JSON objects", column)


_JSON_NAMES: Final[dict[type, str]] = {
    str: "a string",
    type(None): "null",
    dict: "an object",
    list: "a list",
    int: "a number",
    float: "a number",
    bool: "true or false",
}


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut to 40 characters."""
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


def loads(text: str, *, path: str | None = None) -> dict[str, Any]:
    """Parse snapshot file text back into a normalised trace (``TraceFileError`` if malformed).

    A leading byte order mark (an editor may add one) is skipped; empty text is an error of its own.
    """
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise TraceFileError(
            "snapshot file is empty (it was probably not written completely). "
            "Re-run pytest with --snapshot-update to rewrite it.",
            path=path,
        )
    result: dict[str, Any] = {"format": FORMAT, "level": "io", "versions": {}, "spans": []}
    # Only "\n" ends a line: str.splitlines() would also split on U+0085/U+2028 inside JSON strings.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    in_spans = False
    parents: list[dict[str, Any]] = []  # parents[d] = last node at depth d
    seen_format = False
    for number, raw in enumerate(lines, start=1):
        where = _Where(path, number)
        if not raw.strip() or (not in_spans and raw.startswith("#")):
            continue
        if not in_spans:
            word, _, rest = raw.partition(" ")
            if word == "format":
                if rest.strip() != str(FORMAT):
                    raise where.error(f"format {rest.strip()!r} is not supported (expected {FORMAT})")
                seen_format = True
            elif word == "level":
                if rest.strip() not in LEVELS:
                    raise where.error(f"unknown level {rest.strip()!r}")
                result["level"] = rest.strip()
            elif word == "version":
                key, end = _read_token(rest, 0, where)
                text = rest[end:]
                value = _read_json(text, where, "version value is not JSON", len(word) + 2 + end)
                if not isinstance(value, str):
                    value_at = len(word) + 2 + end + len(text) - len(text.lstrip())
                    raise where.error('a version value is a JSON string ("name@label#sha8")', value_at)
                result["versions"][key] = value
            elif word == "spans" and not rest:
                in_spans = True
            else:
                raise where.error(f"unexpected header line {raw[:40]!r}", 1)
            continue
        stripped = raw.lstrip(" ")
        indent = len(raw) - len(stripped)
        if indent % 2 or not stripped.startswith("- "):
            raise where.error("a span line is '- KIND NAME {...}' indented by two spaces per depth", indent + 1)
        depth = indent // 2
        if depth > len(parents):
            raise where.error(f"indented {depth} levels under a span at depth {len(parents) - 1}", indent + 1)
        pos = indent + 2
        kind_at = pos
        kind, pos = _read_token(raw, pos, where)
        if kind not in KINDS:
            raise where.error(f"unknown span kind {_shown(kind)} (known kinds: {', '.join(KINDS)})", kind_at + 1)
        pos += 1
        name, pos = _read_token(raw, pos, where)
        node: dict[str, Any] = {"kind": kind, "name": name}
        rest = raw[pos:]
        if rest.strip():
            body_at = pos + len(rest) - len(rest.lstrip()) + 1
            body = _read_json(rest, where, "span fields are not a JSON object", pos + 1)
            if not isinstance(body, dict):
                raise where.error("span fields are not a JSON object", body_at)
            _check_fields(body, where, body_at)
            node.update(body)
        del parents[depth:]
        if depth == 0:
            result["spans"].append(node)
        else:
            parents[-1].setdefault("children", []).append(node)
        parents.append(node)
    if not seen_format or not in_spans:
        raise _Where(path, max(1, len(text.rstrip("\n").split("\n")))).error(
            "missing the 'format' or 'spans' header line"
        )
    return result
