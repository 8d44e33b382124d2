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

from ..exceptions import SelectorError, SpecError
from ._validation import Validators, describe, did_you_mean, schema_problems
from ._yaml import MAX_DEPTH, Doc, PathKey, excerpt, parse_yaml, plain
from .rules import Rule, build_rule

__all__ = [
    "Spec",
    "available_packs",
    "find_pack",
    "lint_spec",
    "load_spec",
    "pack_path",
    "parse_spec",
    "resolve_spec",
    "spec_files",
    "spec_schema",
]

_PACKS: Final = "packs"


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
    sequence of those; a directory stands for its ``*.yaml``/``*.yml`` files,
    and a shipped pack's name (``"failure-modes"``) for the pack when no file
    or directory of that name exists (a file wins).  Relative paths are looked
    up in ``base_dirs`` first, then the working directory.  Raises
    :class:`SpecError` on any problem.
    """
    if isinstance(source, Spec):
        return source
    if isinstance(source, Mapping):
        try:
            # No folding of long strings: every line of the text then holds a key or an item (see _at_key).
            text = yaml.safe_dump(dict(source), sort_keys=False, width=1 << 30)
        except yaml.YAMLError as error:
            raise SpecError(f"an inline spec holds only plain data (dicts, lists, strings, numbers): {error}") from None
        except RecursionError:
            raise SpecError(
                f"an inline spec is nested too deeply to read; a spec nests at most {MAX_DEPTH} levels"
            ) from None
        except ValueError as error:  # an int with more digits than sys.get_int_max_str_digits()
            raise SpecError(f"an inline spec holds a value that cannot be written out: {error}") from None
        try:
            return parse_spec(text, path=_INLINE)
        except SpecError as error:
            raise _at_key(error, text) from None
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
        found = _resolve(item, base_dirs)
        if not _probe(found.exists) and (pack := find_pack(item)) is not None:
            found = pack
        elif base_dirs and not found.is_absolute() and not _probe(found.exists):
            here = str(Path.cwd())
            places = [
                f"{place} (the working directory)" if place == here else place
                for place in dict.fromkeys([*(str(Path(base)) for base in base_dirs), here])
            ]
            listed = ", ".join(places[:-1]) + (" and " if len(places) > 1 else "") + places[-1]
            raise SpecError(
                f"spec file not found: looked for it in {listed}; check the path{_pack_hint(item)}", path=str(item)
            )
        elif not _probe(found.exists) and _pack_hint(item):
            raise SpecError(f"spec file not found; check the path{_pack_hint(item)}", path=str(item))
        for path in _expand(found):
            specs.append(_load_file(path))
    result = specs[0]
    for spec in specs[1:]:
        result = result.merged(spec)
    return result


def resolve_spec(source: str | os.PathLike[str]) -> list[Path]:
    """The spec files ``source`` names: a file itself, a directory's ``*.yaml``/``*.yml`` files (sorted),
    or a shipped pack's file when ``source`` is a pack name and no file or directory of that name exists.

    Raises :class:`SpecError` when there is no such file, directory or pack, or the directory holds no spec.
    """
    path = Path(source)
    _check_name(path)
    if not _probe(path.exists):
        pack = find_pack(source)
        if pack is None:
            raise SpecError(f"spec file not found; check the path{_pack_hint(source)}", path=str(source))
        return [pack]
    return _expand(path)


_INLINE: Final = "<inline spec>"


def _at_key(error: SpecError, text: str) -> SpecError:
    """``error`` of an inline spec located by key path (``rules[0].forbidd``), not by a line and column
    of the YAML text it was written out as (which the caller never saw)."""
    if error.line is None:
        return error
    try:
        doc = parse_yaml(text, None)
    except SpecError:
        return error
    places = [*doc.keys.items(), *((p, v[:2]) for p, v in doc.values.items())]
    for line in range(error.line, 0, -1):  # a multi-line string's later lines: the key it began at
        here = [path for path, (at, _) in places if at == line]
        if here:
            where = _key_path(max(here, key=len))
            return SpecError(error.message, path=f"{_INLINE} at {where}" if where else _INLINE)
    return SpecError(error.message, path=_INLINE)


def _key_path(path: PathKey) -> str:
    """``("rules", 0, "forbid")`` -> ``rules[0].forbid``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


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
        _check_name(path)
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
    raise SpecError(f"unknown pack {name!r}{did_you_mean(name, available_packs())}")


def find_pack(name: str | os.PathLike[str]) -> Path | None:
    """The file of the shipped pack ``name`` names (a bare name such as ``failure-modes``), else ``None``."""
    if not isinstance(name, str) or not _bare(name) or name not in available_packs():
        return None
    return pack_path(name)


def _bare(name: str) -> bool:
    """Whether ``name`` could be a pack's name rather than a path (no separator, no ``.yaml`` suffix)."""
    return "/" not in name and "\\" not in name and not name.endswith((".yaml", ".yml"))


def _pack_hint(name: str | os.PathLike[str]) -> str:
    """``; did you mean the shipped pack 'failure-modes'?`` for a bare name close to a pack's, else nothing."""
    if not isinstance(name, str) or not _bare(name):
        return ""
    close = difflib.get_close_matches(name, available_packs(), n=1, cutoff=0.6)
    return f"; did you mean the shipped pack {close[0]!r}?" if close else ""


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
    _check_name(path)
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


def spec_files(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The files the spec file at ``path`` (or the shipped pack it names) is read from: itself, then every
    file it extends (resolved).

    What a cache of verdicts on the spec must hash (``agenttrace bisect``'s run log).  Raises
    :class:`SpecError` as :func:`load_spec` does.
    """
    target = Path(path)
    if not _probe(target.exists):
        target = find_pack(path) or target  # a shipped pack named as load_spec takes it
    _load_file(target)
    return tuple(dict.fromkeys(p for p, _, _ in _CACHE[str(target.resolve())][0]))


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
    _check_name(path)
    if not path.is_absolute():
        for base in base_dirs:
            candidate = Path(base) / path
            if _probe(candidate.exists):
                # "tests/../specs/x.yaml" is named "specs/x.yaml" in messages, unless a symbolic link
                # makes ".." lead elsewhere than the shortened path does.
                shorter = Path(os.path.normpath(candidate))
                return shorter if shorter.exists() and os.path.samefile(shorter, candidate) else candidate
    return path


def _expand(path: Path) -> list[Path]:
    if _probe(path.is_dir):
        try:
            files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        except OSError as error:
            raise SpecError(f"cannot list the spec directory: {error.strerror}", path=str(path)) from None
        if not files:
            raise SpecError("directory holds no *.yaml spec files", path=str(path))
        return files
    return [path]


def _probe(test: Callable[[], bool]) -> bool:
    """``path.exists()``/``is_file()``/``is_dir()``, false for a name the system refuses (too long, ...)."""
    try:
        return test()
    except (OSError, ValueError):
        return False


def _check_name(path: Path) -> None:
    """Refuse a file name no system accepts (a NUL character) before it reaches ``os`` calls."""
    if "\0" in str(path):
        raise SpecError(f"{plain(str(path), 80)}: a file name cannot contain a NUL character; check the path")


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


# -- analysis: every problem, then the Spec --------------------------------------------


def _analyse(
    text: str,
    path: str | None,
    base_dir: Path | None,
    stack: tuple[str, ...],
    deps: list[str] | None = None,
) -> tuple[list[SpecError], Spec | None]:
    try:
        doc = parse_yaml(text, path)
    except SpecError as error:
        return [error], None
    if not isinstance(doc.data, dict):
        return [doc.error(f"a spec is a mapping with `rules:`, got {describe(doc.data)}", doc.value_at(()))], None
    problems = schema_problems(doc, _validators())
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
            return [doc.error(f"in extended spec {excerpt(name)}: {error}", at)], None
        if deps is not None:
            deps.extend(p for p, _, _ in _CACHE[key][0])
        inherited.update((r.id, r) for r in parent.rules)
    for i, rule_id in enumerate(data.get("disable", ())):
        if rule_id not in inherited:
            hint = did_you_mean(rule_id, list(inherited))
            return [
                doc.error(
                    f"`disable` names {excerpt(rule_id)}, which no extended pack defines{hint}",
                    doc.value_at(("disable", i)),
                )
            ], None
        del inherited[rule_id]
    rules = dict(inherited)
    for i, raw in enumerate(data.get("rules", ())):
        line, _ = doc.value_at(("rules", i))
        source = (
            f"{_INLINE} rules[{i}]"  # its line in the text it was written out as means nothing
            if path == _INLINE
            else f"{_display(path)}:{line}"
            if path and line
            else path
        )
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
    pack = find_pack(name)
    if pack is not None:
        return pack
    base = base_dir or Path.cwd()
    for candidate in (base / name, base / f"{name}.yaml", base / f"{name}.yml"):
        if _probe(candidate.is_file):
            return candidate
    packs = available_packs()
    hint = did_you_mean(name, packs)
    raise SpecError(
        f"`extends` names {excerpt(name)}, which is neither a shipped pack ({', '.join(packs) or 'none'}) "
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


def _semantic_problems(doc: Doc, compiled: dict[PathKey, Any]) -> list[SpecError]:
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
                        f"rule id {excerpt(rule_id)} is used twice (first at line {seen[rule_id]}); "
                        "ids must be unique in a file",
                        doc.value_at((*here, "id")),
                    )
                )
            else:
                seen[rule_id] = doc.value_at((*here, "id"))[0] or 0
        who = f"rule {excerpt(rule_id)}" if isinstance(rule_id, str) else f"rules[{i}]"
        detect = raw.get("detect")
        if isinstance(detect, str) and detectors is not None and detect not in detectors[0]:
            known = sorted(detectors[0])
            problems.append(
                doc.error(
                    f"{who}: unknown detector {excerpt(detect)}{did_you_mean(detect, known)} "
                    f"(detectors: {', '.join(known)})",
                    doc.value_at((*here, "detect")),
                )
            )
        problems.extend(_count_problems(doc, raw, here, who))
        for sub, text in _texts(raw, _SELECTOR_PLACES):
            problems.extend(_compile(doc, compiled, (*here, *sub), text, compile_selector, who, "selector"))
        for sub, text in _texts(raw, _EXPRESSION_PLACES):
            problems.extend(_compile(doc, compiled, (*here, *sub), text, compile_expression, who, "expression"))
    return problems


def _count_problems(doc: Doc, raw: Mapping[str, Any], here: PathKey, who: str) -> list[SpecError]:
    """``expect.count`` bounds that no selection can meet (``min`` above ``max``, ``exactly`` outside them)."""
    expect = raw.get("expect")
    count = expect.get("count") if isinstance(expect, dict) else None
    if not isinstance(count, dict):
        return []
    bounds = {
        key: value
        for key, value in count.items()
        if key in ("min", "max", "exactly") and isinstance(value, int) and not isinstance(value, bool)
    }
    low, high, exactly = bounds.get("min"), bounds.get("max"), bounds.get("exactly")
    path = (*here, "expect", "count")
    if low is not None and high is not None and low > high:
        return [
            doc.error(
                f"{who}: expect.count has min {low} above max {high}, so no trace can pass; swap them or fix one bound",
                doc.value_at((*path, "min")),
            )
        ]
    if exactly is not None and ((low is not None and exactly < low) or (high is not None and exactly > high)):
        return [
            doc.error(
                f"{who}: expect.count has exactly {exactly} outside min/max "
                f"({low if low is not None else '-'}..{high if high is not None else '-'}), so no trace can pass; "
                "give `exactly` alone or bounds that contain it",
                doc.value_at((*path, "exactly")),
            )
        ]
    return []


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
    doc: Doc,
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
            # Single-line scalar written as it is (no escapes): point at the offending character itself.
            start = entry[1] - 1 + (1 if entry[2] in ("'", '"') else 0)
            lines = doc.text.split("\n")
            source = lines[entry[0] - 1] if 0 < entry[0] <= len(lines) else ""
            if source[start : start + len(text)] == text:
                column = start + error.column
        key = ".".join(str(p) for p in path[2:] if isinstance(p, str))
        return [doc.error(f"{who}: bad {what} in `{key}`: {error.message}", (line, column))]
    return []


@functools.lru_cache(maxsize=1)
def _validators() -> Validators:
    return Validators(_schema())


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
