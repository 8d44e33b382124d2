"""Deterministic normalisation of a trace for golden snapshots and diffs.

A normalised trace is a JSON-ready dict::

    {"format": 1, "level": "io", "versions": {...}, "spans": [NODE, ...]}

where each ``NODE`` is a dict with ``kind``, ``name`` and, when they carry
information, ``agent``, ``scope``, ``status``, ``error``, ``duration``,
``context_keys``, ``context``, ``attributes``, ``input``, ``output``,
``links``, ``events``, and ``children`` (nodes in start order).

The rules, in the order they are applied:

* **Identity.** Span ids become stable references ``KIND:NAME#N``: the N-th
  span of that kind and name in depth-first order.  ``links`` use them;
  ``scope`` appears only when it is *not* the one inherited from the tree (the
  nearest enclosing delegation), since the tree already shows scopes.
  ``trace_id``, ``name``, ``started_at``, ``metadata`` and per-span
  ``versions`` are dropped; the trace-level ``versions`` are kept in a header
  that is shown on a mismatch but never compared.
* **Time.** ``start_ns``/``end_ns`` are dropped (sibling order keeps the start
  order).  Durations are dropped unless ``duration_buckets`` is set, in which
  case ``duration`` is a bucket label such as ``"10ms-100ms"``.  Event times
  are dropped.
* **Level.** ``structure``: kind, name, agent, scope, status, error type,
  links, the keys of a handoff/delegation ``context`` and the structural
  attributes (:data:`STRUCTURAL_ATTRIBUTES`).  ``io`` (default): also every
  attribute, ``input``, ``output``, ``context`` values and the error message.
  ``full``: also ``events`` (name and attributes).
* **Include/exclude paths.** Dotted paths relative to a span
  (``attributes.usage``, ``output.*.id``; ``*`` matches one segment), optionally
  limited to one kind with a ``KIND:`` prefix (``llm:attributes.usage``).
  Grammar: ``[KIND ":"] SEGMENT ("." SEGMENT)*``, where a segment is bare text
  without ``.`` or ``"``, or a JSON string for a key that holds them
  (``attributes."otel.app.latency.ms"``).  ``kind``, ``name`` and
  ``children`` cannot start a path.
  ``include`` keeps a path the level would drop; ``exclude`` drops it, and wins.
  In ``exclude``, ``*`` also matches every item of a list (``output.tool_calls.*.id``).
  :data:`DEFAULT_EXCLUDE` lists volatile attributes dropped unless included.
* **Parallel siblings.** Children of spans matching one of the ``parallel``
  selectors, and (with ``overlap_parallel``) runs of siblings whose time
  intervals overlap, are sorted canonically, so their recorded order does not
  matter.

Normalisation is idempotent: ``normalize(to_trace(n)) == n`` for a normalised
``n`` (a property test checks it).

The snapshot file format is in :mod:`pytest_agenttrace.snapfile`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .exceptions import InputError
from .model import Span, Trace

__all__ = [
    "DEFAULT_EXCLUDE",
    "FORMAT",
    "LEVELS",
    "NODE_FIELDS",
    "STRUCTURAL_ATTRIBUTES",
    "Level",
    "NormalizeOptions",
    "node_key",
    "normalize",
    "parse_duration",
    "to_trace",
]

Level = Literal["structure", "io", "full"]
LEVELS: Final[tuple[str, ...]] = ("structure", "io", "full")
FORMAT: Final = 1
"""Version of the normalised form and of the snapshot file format."""

STRUCTURAL_ATTRIBUTES: Final[tuple[str, ...]] = (
    "from_agent",
    "to_agent",
    "objective",
    "allowed_tools",
    "required_context",
    "key",
    "waiting_on",
    "model",
)
"""Attributes kept at level ``structure``: they describe who hands what to whom."""

DEFAULT_EXCLUDE: Final[tuple[str, ...]] = (
    "attributes.tool_call_id",
    "attributes.request_id",
    "attributes.response_id",
    "attributes.timestamp",
)
"""Volatile attributes dropped at every level unless listed in ``include``."""

# Field order of a node line in the snapshot file (``kind``/``name`` lead the line).
NODE_FIELDS: Final[tuple[str, ...]] = (
    "agent",
    "scope",
    "status",
    "error",
    "duration",
    "context_keys",
    "context",
    "attributes",
    "input",
    "output",
    "links",
    "events",
)

_UNITS: Final[dict[str, int]] = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000}
_DURATION_RE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m)\s*$")


def parse_duration(text: str) -> int:
    """``"1.5ms"`` -> ``1500000`` (nanoseconds); units ``ns us ms s m``."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise InputError(
            f"duration {text!r} is not a number followed by a unit; write it like '10ms' or '1.5s' "
            "(units: ns, us, ms, s, m)."
        )
    return round(float(match.group(1)) * _UNITS[match.group(2)])


def _format_duration(ns: int) -> str:
    for unit in ("m", "s", "ms", "us"):
        size = _UNITS[unit]
        if ns >= size and ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


@dataclass(frozen=True, slots=True, kw_only=True)
class NormalizeOptions:
    """How a trace is normalised; see the module docstring for the rules."""

    level: Level = "io"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    parallel: tuple[str, ...] = ()
    overlap_parallel: bool = False
    duration_buckets: tuple[int, ...] = ()
    _patterns: tuple[tuple[_Pattern, ...], tuple[_Pattern, ...]] = field(
        init=False, repr=False, compare=False, default=((), ())
    )

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise InputError(f"unknown snapshot level {self.level!r}; use one of {', '.join(LEVELS)}.")
        if list(self.duration_buckets) != sorted(set(self.duration_buckets)):
            raise InputError("duration buckets must be increasing and distinct, e.g. '10ms 100ms 1s'.")
        include = tuple(_Pattern.parse(p) for p in self.include)
        defaults = [p for p in DEFAULT_EXCLUDE if p not in self.include]  # include re-enables a default
        exclude = tuple(_Pattern.parse(p) for p in (*defaults, *self.exclude))
        object.__setattr__(self, "_patterns", (include, exclude))

    @classmethod
    def build(
        cls,
        *,
        level: str = "io",
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        parallel: Iterable[str] = (),
        overlap_parallel: bool = False,
        duration_buckets: Iterable[str | int] = (),
    ) -> NormalizeOptions:
        """Options from loosely typed values (ini lines, marker kwargs, CLI args)."""
        buckets = tuple(parse_duration(b) if isinstance(b, str) else int(b) for b in duration_buckets)
        return cls(
            level=level,  # type: ignore[arg-type]  # checked in __post_init__
            include=tuple(include),
            exclude=tuple(exclude),
            parallel=tuple(parallel),
            overlap_parallel=overlap_parallel,
            duration_buckets=buckets,
        )


#: A ``KIND:`` prefix: text before the first ``:``, when no ``.`` or ``"`` comes first.
_KIND_PREFIX: Final = re.compile(r'([^.":]*):')
_DECODER: Final = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A parsed include/exclude path: optional kind, then segments (``*`` = any one)."""

    kind: str | None
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> _Pattern:
        """``[KIND:]SEGMENT(.SEGMENT)*``; a segment is bare, ``*``, or a JSON string (``"otel.latency.ms"``)."""
        prefix = _KIND_PREFIX.match(text)
        kind, rest = (prefix.group(1), text[prefix.end() :]) if prefix else ("", text)
        segments: list[str] = []
        pos = 0
        problem = "it is empty" if not rest else None
        while problem is None:
            if rest.startswith('"', pos):
                try:
                    segment, pos = _DECODER.raw_decode(rest, pos)
                except json.JSONDecodeError as exc:
                    problem = (
                        f"a quoted segment at column {len(text) - len(rest) + pos + 1} is not a JSON string ({exc.msg})"
                    )
                    break
            else:
                end = rest.find(".", pos)
                end = len(rest) if end < 0 else end
                segment, pos = rest[pos:end], end
                if '"' in segment:
                    problem = f"a quote inside the segment {segment!r}: quote a whole segment"
                    break
            if not segment:
                problem = f"an empty segment at column {len(text) - len(rest) + pos + 1}"
                break
            segments.append(segment)
            if pos == len(rest):
                break
            if rest[pos] != ".":
                problem = f"expected '.' after a quoted segment at column {len(text) - len(rest) + pos + 1}"
                break
            pos += 1
            if pos == len(rest):
                problem = "it ends with '.'"
        if problem is not None:
            raise InputError(
                f"snapshot path {text!r} is not a dotted path: {problem}; write it like 'attributes.usage', "
                "'llm:output.*.id' or, for a key with dots, 'attributes.\"otel.latency.ms\"'."
            )
        if segments[0] in ("kind", "name", "children"):
            raise InputError(
                f"snapshot path {text!r} names {segments[0]!r}, which the tree itself is made of and cannot be kept "
                f"or dropped; start a path with one of {', '.join(NODE_FIELDS)} (or a trace field such as 'versions')."
            )
        return cls(kind or None, tuple(segments))

    def applies(self, kind: str) -> bool:
        return self.kind is None or self.kind == kind


def node_key(node: Mapping[str, Any]) -> tuple[str, str, str]:
    """The alignment key of a normalised node: ``(kind, name, agent or "")``."""
    return (node["kind"], node["name"], node.get("agent") or "")


def _bucket(ns: int, buckets: Sequence[int]) -> str:
    if ns < buckets[0]:
        return f"<{_format_duration(buckets[0])}"
    for low, high in itertools.pairwise(buckets):
        if low <= ns < high:
            return f"{_format_duration(low)}-{_format_duration(high)}"
    return f">={_format_duration(buckets[-1])}"


def _get_path(value: Any, segments: Sequence[str]) -> Iterable[tuple[tuple[str, ...], Any]]:
    """Every (concrete path, value) reached by ``segments`` (``*`` fans out)."""
    if not segments:
        yield (), value
        return
    head, rest = segments[0], segments[1:]
    if isinstance(value, Mapping):
        keys: Iterable[str] = value.keys() if head == "*" else ([head] if head in value else [])
        for key in keys:
            for path, found in _get_path(value[key], rest):
                yield (key, *path), found


def _set_path(target: dict[str, Any], path: Sequence[str], value: Any) -> None:
    """Set ``value`` at ``path``, copying the dicts on the way (they may be the span's own)."""
    for key in path[:-1]:
        nxt = target.get(key)
        nxt = dict(nxt) if isinstance(nxt, Mapping) else {}
        target[key] = nxt
        target = nxt
    target[path[-1]] = value


def _drop_path(target: Any, segments: Sequence[str]) -> Any:
    """``target`` without the values at ``segments``; copies only what it changes.

    ``*`` also matches every item of a list (``output.tool_calls.*.id``), so a
    volatile value inside a list can be dropped.
    """
    if not segments:
        return target
    head, rest = segments[0], segments[1:]
    if isinstance(target, list) and head == "*":
        return [_drop_path(item, rest) for item in target] if rest else []
    if not isinstance(target, Mapping):
        return target
    keys = list(target.keys()) if head == "*" else ([head] if head in target else [])
    if not keys:
        return target
    out = dict(target)
    for key in keys:
        if rest:
            out[key] = _drop_path(out[key], rest)
        else:
            del out[key]
    return out


class _Normalizer:
    def __init__(self, trace: Trace, options: NormalizeOptions) -> None:
        self.trace = trace
        self.options = options
        self.include, self.exclude = options._patterns
        self.level = options.level
        self.parallel_parents: set[str] = set()
        for selector in options.parallel:
            self.parallel_parents.update(s.span_id for s in trace.select(selector))

    def payload(self, span: Span, inherited_scope: str | None) -> dict[str, Any]:
        level = self.level
        node: dict[str, Any] = {"kind": span.kind, "name": span.name}
        if span.agent is not None:
            node["agent"] = span.agent
        if span.scope is not None and span.scope != inherited_scope and span.scope != span.span_id:
            node["scope"] = span.scope  # a span id for now; replaced by a reference later
        if span.status != "ok":
            node["status"] = span.status
        if span.error:
            node["error"] = {"type": span.error.get("type")} if level == "structure" else dict(span.error)
        if self.options.duration_buckets:
            node["duration"] = _bucket(span.end_ns - span.start_ns, self.options.duration_buckets)
        if span.context is not None:
            if level == "structure":
                node["context_keys"] = sorted(span.context)
            else:
                node["context"] = span.context
        if span.attributes:
            if level == "structure":
                attrs = {k: span.attributes[k] for k in STRUCTURAL_ATTRIBUTES if k in span.attributes}
            else:
                attrs = span.attributes
            if attrs:
                node["attributes"] = attrs
        if level != "structure":
            if span.input is not None:
                node["input"] = span.input
            if span.output is not None:
                node["output"] = span.output
        if span.links:
            node["links"] = list(span.links)  # span ids for now
        if level == "full" and span.events:
            node["events"] = [
                {"name": e.get("name"), **({"attributes": e["attributes"]} if e.get("attributes") else {})}
                for e in span.events
            ]
        if self.include:
            source = span.to_dict()
            for pattern in self.include:
                if pattern.applies(span.kind):
                    for path, value in _get_path(source, pattern.segments):
                        if path[0] in ("span_id", "parent_id", "start_ns", "end_ns", "scope", "links"):
                            continue
                        if len(path) == 1 or path[0] not in node or isinstance(node[path[0]], dict):
                            _set_path(node, path, value)
        for pattern in self.exclude:
            segments = pattern.segments
            head = segments[0]
            if head not in node or (pattern.kind is not None and pattern.kind != span.kind):
                continue
            if len(segments) == 1:
                del node[head]
                continue
            value = node[head]
            # Fast path for the common 'field.key' pattern: copy only when the key is there.
            if len(segments) == 2 and segments[1] != "*":
                if type(value) is not dict or segments[1] not in value:
                    continue
                value = dict(value)
                del value[segments[1]]
            else:
                value = _drop_path(value, segments[1:])
            if value == {}:
                del node[head]
            else:
                node[head] = value
        return node

    def build(self) -> list[dict[str, Any]]:
        index = self.trace.index
        children_of = index.children
        by_id = index.by_id
        # Pre-order walk (iterative: deep traces must not recurse), then build bottom-up in reverse.
        order: list[Span] = []
        seen: set[str] = set()
        stack = list(reversed(index.roots))
        while stack:
            span = stack.pop()
            if span.span_id in seen:
                continue
            seen.add(span.span_id)
            order.append(span)
            kids = children_of.get(span.span_id)
            if kids:
                stack.extend(reversed(kids))
        built: dict[str, dict[str, Any]] = {}
        parent_of: dict[int, dict[str, Any]] = {}
        referring: list[dict[str, Any]] = []
        parallel = self.parallel_parents
        overlap = self.options.overlap_parallel
        payload = self.payload
        signatures = _Signatures(by_id, built, parent_of)  # by node identity: nodes live until build returns
        for span in reversed(order):
            parent = by_id.get(span.parent_id) if span.parent_id is not None else None
            inherited = None if parent is None else parent.span_id if parent.kind == "delegation" else parent.scope
            node = payload(span, inherited)
            if "links" in node or "scope" in node:
                referring.append(node)
            kids = children_of.get(span.span_id)
            if kids:
                present = [c for c in kids if c.span_id in built]
                child_nodes = [built[c.span_id] for c in present]
                if span.span_id in parallel:
                    child_nodes = _canonical_sort(child_nodes, signatures)
                elif overlap:
                    child_nodes = _sort_overlapping(child_nodes, present, signatures)
                if child_nodes:
                    node["children"] = child_nodes
                    for child in child_nodes:
                        parent_of[id(child)] = node
            built[span.span_id] = node
        roots = [built[r.span_id] for r in index.roots if r.span_id in built]
        if overlap:
            roots = _sort_overlapping(roots, [r for r in index.roots if r.span_id in built], signatures)
        if referring:
            tree = _Tree(roots, parent_of)
            for node in referring:
                if "scope" in node:
                    target = built.get(node["scope"])
                    node["scope"] = tree.ref(node, target) if target is not None else "?"
                if "links" in node:
                    node["links"] = [tree.ref(node, built[link]) if link in built else "?" for link in node["links"]]
        return roots


class _Signatures:
    """Order-free content of subtrees, for sorting parallel siblings: no span id at any depth.

    Until the sort is done ``links`` and ``scope`` are raw span ids, which
    depend on timing, and most references they become depend on the order
    being decided.  The signature a node is sorted by is its own fields as
    JSON, where a reference is its target's ``KIND:NAME``, then a digest of
    each child's subtree.  A digest is asked for only once the child's own
    siblings are in their final order (the tree is built bottom-up), so in
    it a reference to a sibling is exact (``tool:search#2``).  Each text and
    digest is computed once per node, without recursion: linear in spans.
    """

    def __init__(
        self, spans: Mapping[str, Span], built: Mapping[str, dict[str, Any]], parent_of: Mapping[int, dict[str, Any]]
    ) -> None:
        self.spans = spans
        self.built = built
        self.parent_of = parent_of
        self.texts: dict[int, str] = {}
        self.digests: dict[int, str] = {}
        self.positions: dict[int, dict[int, int]] = {}  # parent identity -> child identity -> n of KIND:NAME#n

    def target(self, span_id: Any, parent: dict[str, Any] | None) -> str:
        """``span_id``'s ``KIND:NAME``, with ``#n`` for a sibling under ``parent``; ``?`` when dangling."""
        node = self.built.get(span_id) if isinstance(span_id, str) else None
        if node is None:
            span = self.spans.get(span_id) if isinstance(span_id, str) else None
            return "?" if span is None else f"{span.kind}:{span.name}"
        if parent is None or self.parent_of.get(id(node)) is not parent:
            return f"{node['kind']}:{node['name']}"
        positions = self.positions.get(id(parent))
        if positions is None:
            positions = self.positions[id(parent)] = {}
            seen: Counter[tuple[str, str]] = Counter()
            for child in parent["children"]:
                seen[child["kind"], child["name"]] += 1
                positions[id(child)] = seen[child["kind"], child["name"]]
        return f"{node['kind']}:{node['name']}#{positions[id(node)]}"

    def own(self, node: Mapping[str, Any], parent: dict[str, Any] | None) -> str:
        own = {k: v for k, v in node.items() if k != "children"}
        if "scope" in own:
            own["scope"] = self.target(own["scope"], parent)
        if "links" in own:
            own["links"] = [self.target(link, parent) for link in own["links"]]
        try:
            return json.dumps(own, sort_keys=True, default=str, ensure_ascii=False)
        except RecursionError:  # a pathologically deep value: its keys must do
            return json.dumps(sorted(own), ensure_ascii=False)
        except ValueError:  # an integer past sys.get_int_max_str_digits(), or a cycle: as the golden writes it
            from .snapfile import _json

            return _json(own)

    def digest(self, node: dict[str, Any]) -> str:
        """A digest of ``node``'s subtree (its siblings are in their final order)."""
        return subtree_digest(node, self.digests, lambda current: self.own(current, self.parent_of.get(id(current))))

    def signature(self, node: dict[str, Any]) -> str:
        """What ``node`` is sorted by among its siblings."""
        found = self.texts.get(id(node))
        if found is None:
            parts = [self.own(node, None), *(self.digest(c) for c in node.get("children", ()))]
            found = self.texts[id(node)] = " ".join(parts)
        return found


def subtree_digest(node: Mapping[str, Any], digests: dict[int, str], own: Callable[[Mapping[str, Any]], str]) -> str:
    """A digest of ``node``'s subtree: ``own(n)`` of each node and its children's digests, bottom-up.

    Without recursion however deep the tree; ``digests`` (``id(node)`` -> digest) is filled in and
    reused, so digesting every node of a tree is linear.
    """
    found = digests.get(id(node))
    if found is not None:
        return found
    stack: list[tuple[Mapping[str, Any], bool]] = [(node, False)]
    while stack:
        current, ready = stack.pop()
        if id(current) in digests:
            continue
        children = current.get("children", ())
        if not ready:
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in digests)
            continue
        text = " ".join([own(current), *(digests[id(c)] for c in children)])
        digests[id(current)] = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return digests[id(node)]


def _canonical_sort(nodes: list[dict[str, Any]], cache: _Signatures) -> list[dict[str, Any]]:
    return sorted(nodes, key=lambda n: (node_key(n), cache.signature(n)))


def _sort_overlapping(nodes: list[dict[str, Any]], spans: list[Span], cache: _Signatures) -> list[dict[str, Any]]:
    """Runs of siblings whose intervals overlap, each sorted canonically.

    Spans that start at the same instant overlap too, even with zero duration:
    on a coarse clock (or with instant fakes) parallel calls share one time
    stamp, and their recorded order is then arbitrary.
    """
    out: list[dict[str, Any]] = []
    group: list[dict[str, Any]] = []
    group_end = last_start = -1
    for node, span in zip(nodes, spans, strict=True):
        if group and (span.start_ns < group_end or span.start_ns == last_start):
            group.append(node)
            group_end = max(group_end, span.end_ns)
        else:
            out.extend(_canonical_sort(group, cache) if len(group) > 1 else group)
            group, group_end = [node], span.end_ns
        last_start = span.start_ns
    out.extend(_canonical_sort(group, cache) if len(group) > 1 else group)
    return out


class _Tree:
    """Parents and sibling segments of a normalised forest, for references.

    A reference names the target by its path from the referring span's parent
    (``tool:web_search#2`` is the second ``web_search`` sibling; ``../`` climbs
    one level), so inserting a span elsewhere in the tree changes no reference.
    Segments are computed per sibling list on first use.
    """

    def __init__(self, roots: Sequence[dict[str, Any]], parent_of: Mapping[int, dict[str, Any]]) -> None:
        self.roots = roots
        self.parent_of = parent_of
        self.segments: dict[int, str] = {}

    @classmethod
    def of(cls, roots: Sequence[dict[str, Any]]) -> _Tree:
        """A tree with every parent link computed up front."""
        parent_of: dict[int, dict[str, Any]] = {}
        for node in _preorder(roots):
            for child in node.get("children", ()):
                parent_of[id(child)] = node
        return cls(roots, parent_of)

    def segment(self, node: dict[str, Any]) -> str:
        found = self.segments.get(id(node))
        if found is None:
            parent = self.parent_of.get(id(node))
            siblings = parent["children"] if parent is not None else self.roots
            seen: dict[tuple[str, str], int] = {}
            for sibling in siblings:
                key = (sibling["kind"], sibling["name"])
                seen[key] = seen.get(key, 0) + 1
                self.segments[id(sibling)] = f"{sibling['kind']}:{sibling['name']}#{seen[key]}"
            found = self.segments[id(node)]
        return found

    def path(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        current: dict[str, Any] | None = node
        while current is not None:
            out.append(current)
            current = self.parent_of.get(id(current))
        out.reverse()
        return out

    def ref(self, source: dict[str, Any], target: dict[str, Any]) -> str:
        """``target`` as seen from ``source``'s parent: ``../`` per level up, then segments."""
        if self.parent_of.get(id(source)) is self.parent_of.get(id(target)):  # siblings: the common case
            return self.segment(target)
        base = self.path(source)[:-1]
        goal = self.path(target)
        common = 0
        while common < len(base) and common < len(goal) and base[common] is goal[common]:
            common += 1
        if common == len(goal):  # an ancestor: climb to its parent and name it
            common -= 1
        up = len(base) - common
        return "../" * up + " > ".join(self.segment(n) for n in goal[common:])


def normalize(trace: Trace | Mapping[str, Any], options: NormalizeOptions | None = None) -> dict[str, Any]:
    """The normalised, JSON-ready form of ``trace`` (a :class:`Trace` or a trace-file dict).

    An already normalised dict (one with ``"format"``) is returned as it is.
    """
    if isinstance(trace, Mapping):
        if "format" in trace and "spans" in trace and "trace_id" not in trace:
            return dict(trace)
        trace = Trace.from_dict(trace)
    options = options or NormalizeOptions()
    return {
        "format": FORMAT,
        "level": options.level,
        "versions": dict(sorted(trace.versions.items())),
        "spans": _Normalizer(trace, options).build(),
    }


def to_trace(normalized: Mapping[str, Any]) -> Trace:
    """A :class:`Trace` whose normalisation is ``normalized``.

    Span ids are ``n1``, ``n2``, ... in depth-first order; references are
    resolved back to them (by matching every candidate, so this is quadratic:
    meant for tests and tools, not for hot paths).  Times are synthetic (one
    tick per span, parents enclose children) and ``context_keys`` become a
    context with null values.
    """
    roots = [_copy_tree(n) for n in normalized.get("spans", ())]
    tree = _Tree.of(roots)
    candidates = _preorder(roots)
    span_id = {id(node): f"n{position + 1}" for position, node in enumerate(_preorder(roots))}

    def resolve(source: dict[str, Any], ref: str) -> str:
        for candidate in candidates:
            if tree.ref(source, candidate) == ref:
                return span_id[id(candidate)]
        return ref  # dangling ("?"): keep it dangling

    spans: list[Span] = []
    clock = 0
    stack: list[tuple[dict[str, Any], str | None, str | None]] = [(n, None, None) for n in reversed(roots)]
    while stack:
        node, parent, inherited = stack.pop()
        own_id = span_id[id(node)]
        scope = resolve(node, node["scope"]) if "scope" in node else inherited
        context = node.get("context")
        if context is None and "context_keys" in node:
            context = dict.fromkeys(node["context_keys"])
        size = _count(node)
        spans.append(
            Span(
                span_id=own_id,
                parent_id=parent,
                kind=node["kind"],
                name=node["name"],
                agent=node.get("agent"),
                scope=scope,
                start_ns=clock,
                end_ns=clock + size,
                status=node.get("status", "ok"),
                error=node.get("error"),
                input=node.get("input"),
                output=node.get("output"),
                attributes=dict(node.get("attributes", {})),
                context=context,
                links=[resolve(node, link) for link in node.get("links", ())],
                events=[{"time_ns": clock, **e} for e in node.get("events", ())],
            )
        )
        clock += 1
        child_scope = own_id if node["kind"] == "delegation" else scope
        stack.extend((c, own_id, child_scope) for c in reversed(node.get("children", ())))
    return Trace(
        trace_id="normalized",
        name="normalized",
        started_at="1970-01-01T00:00:00Z",
        versions=dict(normalized.get("versions", {})),
        spans=tuple(spans),
    )


def _copy_tree(node: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(node)
    if "children" in out:
        out["children"] = [_copy_tree(c) for c in out["children"]]
    return out


def _preorder(roots: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.get("children", ())))
    return out


def _count(node: Mapping[str, Any]) -> int:
    total = 0
    stack = [node]
    while stack:
        current = stack.pop()
        total += 1
        stack.extend(current.get("children", ()))
    return total
