"""Loading spec files: YAML with positions, JSON Schema validation, packs.

A spec file is parsed with PyYAML's C loader when it is installed (the pure
Python one otherwise) into a node tree that keeps the line and column of
every key and value.  The document is validated against the JSON Schema
shipped in ``schema.json`` (Draft 2020-12), completed at run time with the
installed detectors' names and their ``with:`` parameters
(:func:`spec_schema`).  Selectors and expressions are compiled at load time
too.  Every problem becomes a :class:`~pytest_agenttrace.exceptions.SpecError`
naming ``file:line:column``, the offending key and what to write instead
(the closest valid key for a misspelling).

``extends: [NAME, ...]`` names a shipped pack (``pytest_agenttrace/packs/NAME.yaml``)
or a spec file relative to the extending file; the extending file's rules
replace pack rules with the same id, and ``disable: [ID, ...]`` drops
inherited rules.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..exceptions import SelectorError, SpecError
from .rules import RULE_KINDS, Rule, build_rule

__all__ = [
    "Spec",
    "available_packs",
    "lint_spec",
    "load_spec",
    "pack_path",
    "parse_spec",
    "spec_schema",
]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Upper bound on YAML nodes after alias expansion (guards against "billion laughs").
_MAX_NODES: Final = 200_000
_PACKS: Final = "packs"

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Spec:
    """A loaded spec: its rules (packs merged in) in order, ready to check traces."""

    name: str
    rules: tuple[Rule, ...]
    paths: tuple[str, ...] = ()
    description: str | None = None
    _by_id: dict[str, Rule] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update((r.id, r) for r in self.rules)

    def rule(self, rule_id: str) -> Rule:
        """The rule with ``rule_id``; ``KeyError`` if there is none."""
        return self._by_id[rule_id]

    @property
    def ids(self) -> list[str]:
        """Rule ids in order."""
        return [r.id for r in self.rules]

    def __len__(self) -> int:
        return len(self.rules)

    def merged(self, other: Spec) -> Spec:
        """This spec's rules plus ``other``'s; ``other`` wins on equal ids."""
        rules = {r.id: r for r in self.rules}
        rules.update((r.id, r) for r in other.rules)
        return Spec(
            name=f"{self.name} + {other.name}",
            rules=tuple(rules.values()),
            paths=(*self.paths, *other.paths),
            description=self.description,
        )


# -- public entry points ---------------------------------------------------------------


def load_spec(source: Any, *, base_dirs: Sequence[str | os.PathLike[str]] = ()) -> Spec:
    """Load one spec or several (merged in order; later files win on equal ids).

    ``source`` is a path, a :class:`Spec`, a mapping (an inline spec) or a
    sequence of those; a directory stands for its ``*.yaml``/``*.yml`` files.
    Relative paths are looked up in ``base_dirs`` first, then the working
    directory.  Raises :class:`SpecError` on any problem.
    """
    if isinstance(source, Spec):
        return source
    if isinstance(source, Mapping):
        try:
            text = yaml.safe_dump(dict(source), sort_keys=False)
        except yaml.YAMLError as error:
            raise SpecError(f"an inline spec holds only plain data (dicts, lists, strings, numbers): {error}") from None
        return parse_spec(text, path="<inline spec>")
    if isinstance(source, (str, os.PathLike)):
        sources: list[Any] = [source]
    elif isinstance(source, Iterable):
        sources = list(source)
    else:
        raise SpecError(f"cannot load a spec from {type(source).__name__}; pass a path, a Spec or a mapping")
    if not sources:
        raise SpecError("no spec given; pass at least one spec file")
    specs: list[Spec] = []
    for item in sources:
        if isinstance(item, (Spec, Mapping)):
            specs.append(load_spec(item))
            continue
        for path in _expand(_resolve(item, base_dirs)):
            specs.append(_load_file(path))
    result = specs[0]
    for spec in specs[1:]:
        result = result.merged(spec)
    return result


def parse_spec(text: str, *, path: str | None = None, base_dir: str | os.PathLike[str] | None = None) -> Spec:
    """A spec from YAML text; ``path`` names it in errors, ``base_dir`` resolves ``extends``."""
    problems, spec = _analyse(text, path, Path(base_dir) if base_dir else None, ())
    if problems:
        raise _first(problems)
    assert spec is not None
    return spec


def lint_spec(source: str | os.PathLike[str]) -> list[SpecError]:
    """Every problem found in a spec file (empty when it is valid), in file order."""
    path = Path(source)
    try:
        text = _read(path)
    except SpecError as error:
        return [error]
    problems, _ = _analyse(text, str(source), path.parent, (str(path.resolve()),))
    return problems


def available_packs() -> list[str]:
    """Names of the packs shipped with the package (usable in ``extends:``)."""
    folder = resources.files("pytest_agenttrace").joinpath(_PACKS)
    if not folder.is_dir():
        return []
    return sorted(p.name.rsplit(".", 1)[0] for p in folder.iterdir() if p.name.endswith((".yaml", ".yml")))


def pack_path(name: str) -> Path:
    """The file of a shipped pack; ``SpecError`` when there is no such pack."""
    for suffix in (".yaml", ".yml"):
        candidate = Path(str(resources.files("pytest_agenttrace").joinpath(_PACKS, name + suffix)))
        if candidate.is_file():
            return candidate
    raise SpecError(f"unknown pack {name!r}{_did_you_mean(name, available_packs())}")


def spec_schema() -> dict[str, Any]:
    """The spec JSON Schema: ``schema.json`` plus the installed detectors' ``with:`` schemas."""
    return copy.deepcopy(_schema())


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    text = resources.files("pytest_agenttrace.spec").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    detectors = _detectors()
    if detectors is not None:
        names, param_schema = detectors
        rule = schema["$defs"]["rule"]
        rule["properties"]["detect"]["enum"] = sorted(names)
        rule["allOf"] = [
            {
                "if": {"properties": {"detect": {"const": name}}, "required": ["detect"]},
                "then": {"properties": {"with": param_schema(name)}},
            }
            for name in sorted(names)
        ]
    return schema


# -- file handling ---------------------------------------------------------------------

_CACHE: dict[str, tuple[tuple[tuple[str, int, int], ...], Spec]] = {}


def _load_file(path: Path, stack: tuple[str, ...] = ()) -> Spec:
    """A spec file, from the cache while neither it nor a file it extends has changed."""
    key = str(path.resolve())
    cached = _CACHE.get(key)
    if cached is not None and all(_stamp(p) == (p, m, s) for p, m, s in cached[0]):
        return cached[1]
    deps: list[str] = [key]
    text = _read(path)
    problems, spec = _analyse(text, str(path), path.parent, (*stack, key), deps)
    if problems:
        raise _first(problems)
    assert spec is not None
    _CACHE[key] = (tuple(_stamp(p) for p in deps), spec)
    return spec


def _stamp(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, st.st_mtime_ns, st.st_size)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("spec file not found; check the path", path=str(path)) from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", path=str(path)) from None
    except UnicodeDecodeError as error:
        raise SpecError(f"spec file is not UTF-8 text ({error.reason})", path=str(path)) from None
    except OSError as error:
        raise SpecError(f"cannot read spec file: {error.strerror}", path=str(path)) from None


def _resolve(item: str | os.PathLike[str], base_dirs: Sequence[str | os.PathLike[str]]) -> Path:
    path = Path(item)
    if not path.is_absolute():
        for base in base_dirs:
            candidate = Path(base) / path
            if candidate.exists():
                return candidate
    return path


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise SpecError("directory holds no *.yaml spec files", path=str(path))
        return files
    return [path]


def _first(problems: list[SpecError]) -> SpecError:
    first = problems[0]
    if len(problems) == 1:
        return first
    more = len(problems) - 1
    return SpecError(
        f"{first.message} (and {more} more problem{'s' if more != 1 else ''}; `agenttrace lint` lists them all)",
        path=first.path,
        line=first.line,
        column=first.column,
    )


# -- YAML with positions ---------------------------------------------------------------


@dataclass
class _Doc:
    """A YAML document as plain data plus the position of every key and value."""

    path: str | None
    data: Any = None
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    values: dict[PathKey, tuple[int, int, str | None, bool]] = field(default_factory=dict)

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
        return SpecError(message, path=self.path, line=at[0], column=at[1])


def _parse_yaml(text: str, path: str | None) -> _Doc:
    doc = _Doc(path=path)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(p for p in (error.context, error.problem) if p)
        hint = "check the indentation and quoting here"
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]:
            hint = "YAML does not allow tabs for indentation; use spaces"
        raise SpecError(
            f"invalid YAML: {problem}; {hint}",
            path=path,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as error:
        raise SpecError(f"invalid YAML: {error}", path=path) from None
    if root is None:
        raise SpecError("the spec file is empty; start with `rules:` (see docs/specs.md)", path=path, line=1, column=1)
    constructor = yaml.constructor.SafeConstructor()
    budget = [_MAX_NODES]
    doc.data = _build(root, (), doc, constructor, budget, set())
    return doc


def _build(
    node: yaml.Node,
    path: PathKey,
    doc: _Doc,
    constructor: yaml.constructor.SafeConstructor,
    budget: list[int],
    active: set[int],
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise doc.error("the spec expands to too many YAML nodes (alias bomb?)", _mark(node))
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


_STR_TAG: Final = "tag:yaml.org,2002:str"
_PLAIN_TAGS: Final = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary")
)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


# -- analysis: every problem, then the Spec --------------------------------------------


def _analyse(
    text: str,
    path: str | None,
    base_dir: Path | None,
    stack: tuple[str, ...],
    deps: list[str] | None = None,
) -> tuple[list[SpecError], Spec | None]:
    try:
        doc = _parse_yaml(text, path)
    except SpecError as error:
        return [error], None
    if not isinstance(doc.data, dict):
        return [doc.error(f"a spec is a mapping with `rules:`, got {_describe(doc.data)}", doc.value_at(()))], None
    problems = _schema_problems(doc)
    compiled: dict[PathKey, Any] = {}
    problems.extend(_semantic_problems(doc, compiled))
    if problems:
        return _sorted(problems), None
    data = doc.data
    inherited: dict[str, Rule] = {}
    for i, name in enumerate(data.get("extends", ())):
        at = doc.value_at(("extends", i))
        try:
            target = _resolve_extends(name, base_dir)
        except SpecError as error:
            return [doc.error(error.message, at)], None
        key = str(target.resolve())
        if key in stack:
            chain = " -> ".join([*stack, key])
            return [doc.error(f"`extends` forms a cycle: {chain}; remove one of the links", at)], None
        try:
            parent = _load_file(target, stack)
        except SpecError as error:
            return [doc.error(f"in extended spec {name!r}: {error}", at)], None
        if deps is not None:
            deps.extend(p for p, _, _ in _CACHE[key][0])
        inherited.update((r.id, r) for r in parent.rules)
    for i, rule_id in enumerate(data.get("disable", ())):
        if rule_id not in inherited:
            hint = _did_you_mean(rule_id, list(inherited))
            return [
                doc.error(
                    f"`disable` names {rule_id!r}, which no extended pack defines{hint}", doc.value_at(("disable", i))
                )
            ], None
        del inherited[rule_id]
    rules = dict(inherited)
    for i, raw in enumerate(data.get("rules", ())):
        line, _ = doc.value_at(("rules", i))
        source = f"{_display(path)}:{line}" if path and line else path
        rule = build_rule(raw, _Precompiled(compiled, ("rules", i)), source=source)
        rules[rule.id] = rule
    name = data.get("spec") or (
        Path(path).stem if path and not path.startswith("<") else (path or "<spec>").strip("<>")
    )
    spec = Spec(
        name=name, rules=tuple(rules.values()), paths=(path,) if path else (), description=data.get("description")
    )
    return [], spec


def _display(path: str) -> str:
    """``pack failure-modes`` for shipped packs, the path as given otherwise."""
    candidate = Path(path)
    if candidate.parent.name == _PACKS and candidate.parent.parent.name == "pytest_agenttrace":
        return f"pack {candidate.stem}"
    return path


def _resolve_extends(name: str, base_dir: Path | None) -> Path:
    looks_like_path = "/" in name or "\\" in name or name.endswith((".yaml", ".yml"))
    if not looks_like_path and name in available_packs():
        return pack_path(name)
    base = base_dir or Path.cwd()
    for candidate in (base / name, base / f"{name}.yaml", base / f"{name}.yml"):
        if candidate.is_file():
            return candidate
    packs = available_packs()
    hint = _did_you_mean(name, packs)
    raise SpecError(
        f"`extends` names {name!r}, which is neither a shipped pack ({', '.join(packs) or 'none'}) "
        f"nor a spec file next to this one{hint}"
    )


class _Precompiled:
    """Hands out the selectors/expressions compiled during analysis, by rule-relative path."""

    def __init__(self, compiled: Mapping[PathKey, Any], prefix: PathKey) -> None:
        self._compiled = compiled
        self._prefix = prefix

    def selector(self, text: str, *path: str | int) -> Any:
        return self._compiled[(*self._prefix, *path)]

    def expression(self, text: str, *path: str | int) -> Any:
        return self._compiled[(*self._prefix, *path)]


def _semantic_problems(doc: _Doc, compiled: dict[PathKey, Any]) -> list[SpecError]:
    """Duplicate ids, unknown detectors, bad selectors and expressions (type-guarded)."""
    from .expression import compile_expression
    from .selector import compile_selector

    problems: list[SpecError] = []
    rules = doc.data.get("rules")
    if not isinstance(rules, list):
        return problems
    seen: dict[str, int] = {}
    detectors = _detectors()
    for i, raw in enumerate(rules):
        if not isinstance(raw, dict):
            continue
        here: PathKey = ("rules", i)
        rule_id = raw.get("id")
        if isinstance(rule_id, str):
            if rule_id in seen:
                problems.append(
                    doc.error(
                        f"rule id {rule_id!r} is used twice (first at line {seen[rule_id]}); ids must be unique in a file",
                        doc.value_at((*here, "id")),
                    )
                )
            else:
                seen[rule_id] = doc.value_at((*here, "id"))[0] or 0
        who = f"rule {rule_id!r}" if isinstance(rule_id, str) else f"rules[{i}]"
        detect = raw.get("detect")
        if isinstance(detect, str) and detectors is not None and detect not in detectors[0]:
            known = sorted(detectors[0])
            problems.append(
                doc.error(
                    f"{who}: unknown detector {detect!r}{_did_you_mean(detect, known)} (detectors: {', '.join(known)})",
                    doc.value_at((*here, "detect")),
                )
            )
        for sub, text in _texts(raw, _SELECTOR_PLACES):
            problems.extend(_compile(doc, compiled, (*here, *sub), text, compile_selector, who, "selector"))
        for sub, text in _texts(raw, _EXPRESSION_PLACES):
            problems.extend(_compile(doc, compiled, (*here, *sub), text, compile_expression, who, "expression"))
    return problems


_SELECTOR_PLACES: Final = (
    ("when",),
    ("forbid",),
    ("order", "first"),
    ("order", "then"),
    ("sequence", "select"),
    ("expect", "select"),
)
_EXPRESSION_PLACES: Final = (("expect", "all"), ("expect", "any"), ("expect", "none"))


def _texts(raw: Mapping[str, Any], places: Iterable[tuple[str, ...]]) -> Iterable[tuple[PathKey, str]]:
    for place in places:
        value: Any = raw
        for part in place:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            yield place, value
        elif isinstance(value, list):
            for j, item in enumerate(value):
                if isinstance(item, str) and item:
                    yield (*place, j), item


def _compile(
    doc: _Doc,
    compiled: dict[PathKey, Any],
    path: PathKey,
    text: str,
    compiler: Callable[[str], Any],
    who: str,
    what: str,
) -> list[SpecError]:
    try:
        compiled[path] = compiler(text)
    except SelectorError as error:
        line, column = doc.value_at(path)
        entry = doc.values.get(path)
        if entry is not None and error.column is not None and not entry[3] and entry[2] in (None, "", "'", '"'):
            # Single-line scalar: point at the offending character itself.
            column = entry[1] + (1 if entry[2] in ("'", '"') else 0) + error.column - 1
        key = ".".join(str(p) for p in path[2:] if isinstance(p, str))
        return [doc.error(f"{who}: bad {what} in `{key}`: {error.message}", (line, column))]
    return []


_TYPE_NAMES: Final = {
    "array": "a list",
    "object": "a mapping",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}

_MISSING_HINTS: Final = {
    "id": "add `id: a-unique-name`",
    "to": "add `to: AGENT` (a glob such as `tester` or `*`)",
    "requires": "add `requires: [key, ...]`",
    "first": "add `first: SELECTOR`",
    "then": "add `then: SELECTOR`",
    "select": "add `select: SELECTOR`",
    "steps": "add `steps: [name, ...]`",
}


class _Validators:
    """Validators derived from the spec schema, so that a rule is checked only against its own kind.

    Validating every rule against ``oneOf`` seven kinds and ``allOf`` one
    ``if``/``then`` per detector made jsonschema the bulk of loading time.
    The derived schemas are mechanical restrictions of :func:`spec_schema`
    (the rule schema with ``required: [id, KIND]`` and, for ``detect``, the
    detector's ``with:`` schema); a rule with no kind or several kinds is
    validated against the full rule schema, which says so.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        defs = schema["$defs"]
        top = {k: v for k, v in schema.items() if k != "properties"}
        top["properties"] = {**schema["properties"], "rules": {"type": "array"}}
        self.document = Draft202012Validator(top)
        rule = defs["rule"]
        base = {k: v for k, v in rule.items() if k not in ("oneOf", "allOf")}
        self.full_rule = Draft202012Validator({"$schema": schema["$schema"], **rule, "$defs": defs})
        self.by_kind: dict[str, Draft202012Validator] = {}
        self.by_detector: dict[str, Draft202012Validator] = {}
        for kind in RULE_KINDS:
            self.by_kind[kind] = Draft202012Validator(
                {"$schema": schema["$schema"], **base, "required": ["id", kind], "$defs": defs}
            )
        for branch in rule.get("allOf", ()):
            name = branch["if"]["properties"]["detect"]["const"]
            properties = {**base["properties"], "with": branch["then"]["properties"]["with"]}
            self.by_detector[name] = Draft202012Validator(
                {
                    "$schema": schema["$schema"],
                    **base,
                    "properties": properties,
                    "required": ["id", "detect"],
                    "$defs": defs,
                }
            )

    def iter_errors(self, data: Any) -> list[ValidationError]:
        errors = list(self.document.iter_errors(data))
        rules = data.get("rules") if isinstance(data, dict) else None
        if not isinstance(rules, list):
            return errors
        for i, raw in enumerate(rules):
            validator = self.full_rule
            if isinstance(raw, dict):
                kinds = [k for k in RULE_KINDS if k in raw]
                if len(kinds) == 1:
                    validator = self.by_kind[kinds[0]]
                    if kinds[0] == "detect" and isinstance(raw["detect"], str):
                        validator = self.by_detector.get(raw["detect"], validator)
            for error in validator.iter_errors(raw):
                error.path.extendleft(reversed(("rules", i)))
                errors.append(error)
        return errors


@functools.lru_cache(maxsize=1)
def _validators() -> _Validators:
    return _Validators(_schema())


def _schema_problems(doc: _Doc) -> list[SpecError]:
    errors = _validators().iter_errors(doc.data)
    unknown_at = {tuple(e.absolute_path) for e in errors if e.validator == "additionalProperties"}
    problems: list[SpecError] = []
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator in ("oneOf", "anyOf", "required", "dependentRequired") and path in unknown_at:
            continue  # a misspelt key explains these; report only the misspelling
        if error.validator == "enum" and path[-1:] == ("detect",):
            continue  # reported by _semantic_problems with the closest detector name
        problems.extend(_translate(doc, error, path))
    return problems


def _translate(doc: _Doc, error: ValidationError, path: PathKey) -> list[SpecError]:
    where = _where(doc, path)
    v = error.validator
    inst = error.instance
    if v == "additionalProperties" and isinstance(inst, dict):
        allowed = sorted(error.schema.get("properties", {}))
        out = []
        for key in inst:
            if key in allowed:
                continue
            hint = _did_you_mean(key, allowed)
            if path[-1:] == ("with",):
                hint += f" (parameters of this detector: {', '.join(allowed) or 'none'})"
            elif not hint:
                hint = f"; valid keys here: {', '.join(allowed)}" if allowed else "; this mapping takes no keys"
            out.append(doc.error(f"{where}: unknown key {key!r}{hint}", doc.key_at((*path, key))))
        return out
    if v == "required" and isinstance(inst, dict):
        return [
            doc.error(f"{where}: missing key {key!r}; {_MISSING_HINTS.get(key, f'add `{key}:`')}", doc.value_at(path))
            for key in error.validator_value
            if key not in inst
        ]
    if v == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        names = " or ".join(_TYPE_NAMES.get(str(w), str(w)) for w in wanted)
        hint = ""
        if "array" in wanted and isinstance(inst, (str, int, float)):
            hint = f"; write [{inst}] for a one-item list"
        elif "string" in wanted and isinstance(inst, (dict, list)):
            hint = "; quote it if it is meant as text"
        return [doc.error(f"{where} must be {names}, got {_describe(inst)}{hint}", doc.value_at(path))]
    if v == "enum":
        options = [str(o) for o in error.validator_value]
        hint = _did_you_mean(str(inst), options)
        return [doc.error(f"{where} must be one of {', '.join(options)}; got {inst!r}{hint}", doc.value_at(path))]
    if v == "oneOf" and len(path) == 2 and path[0] == "rules" and isinstance(inst, dict):
        kinds = [k for k in RULE_KINDS if k in inst]
        if not kinds:
            message = f"{where} has no rule kind; add exactly one of: {', '.join(RULE_KINDS)}"
        else:
            message = f"{where} has several rule kinds ({', '.join(kinds)}); a rule has exactly one, so split it into {len(kinds)} rules"
        return [doc.error(message, doc.value_at(path))]
    if v == "oneOf" and path and path[-1] == "scope":
        return [
            doc.error(
                f"{where} takes either {{tool, only_agents}} (who may call a tool) or "
                "{agent, allow_tools} (what an agent may call), not a mix",
                doc.value_at(path),
            )
        ]
    if v == "anyOf" and path == ():
        return [doc.error("a spec needs `rules:` (a list of rules) or `extends:` (packs to use)", doc.value_at(()))]
    if v == "anyOf" and path and path[-1] == "expect":
        return [doc.error(f"{where} needs at least one of count, all, any, none", doc.value_at(path))]
    if v == "dependentRequired":
        return [
            doc.error(f"{where}: `with:` only goes with `detect:` (detector parameters)", doc.key_at((*path, "with")))
        ]
    if v in ("minItems", "minLength", "minProperties"):
        extra = "; give at least one of min, max, exactly" if path and path[-1] == "count" else ""
        return [doc.error(f"{where} must not be empty{extra}", doc.value_at(path))]
    if v == "minimum":
        return [doc.error(f"{where} must be at least {error.validator_value}, got {inst!r}", doc.value_at(path))]
    if v == "pattern" and path and path[-1] == "id":
        return [doc.error(f"rule id {inst!r} must not contain spaces; use dashes", doc.value_at(path))]
    return [doc.error(f"{where}: {error.message}", doc.value_at(path))]


def _where(doc: _Doc, path: PathKey) -> str:
    if not path:
        return "top level"
    if path[0] == "rules" and len(path) >= 2 and isinstance(path[1], int):
        rules = doc.data.get("rules")
        raw = rules[path[1]] if isinstance(rules, list) and path[1] < len(rules) else None
        rule_id = raw.get("id") if isinstance(raw, dict) else None
        who = f"rule {rule_id!r}" if isinstance(rule_id, str) else f"rules[{path[1]}]"
        rest = _dotted(path[2:])
        return f"{who}: {rest}" if rest else who
    return _dotted(path)


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(value: Any) -> str:
    if value is None:
        return "null (nothing)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _sorted(problems: list[SpecError]) -> list[SpecError]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _detectors() -> tuple[frozenset[str], Callable[[str], dict[str, Any]]] | None:
    """Detector names and their param-schema function, or None if unavailable."""
    try:
        from .detectors import DETECTORS, detector_param_schema
    except ImportError:
        return None
    return frozenset(DETECTORS), detector_param_schema


def _clear_caches() -> None:
    """Forget cached schemas and files (tests that swap detectors use this)."""
    _schema.cache_clear()
    _validators.cache_clear()
    _CACHE.clear()
