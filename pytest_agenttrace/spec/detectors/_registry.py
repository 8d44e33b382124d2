"""The detector contract: findings, parameter specs, the registry and validation.

Every detector is a function ``run(trace, **params) -> list[Finding]``
registered with :func:`detector` together with its parameters.  Callers go
through :func:`run_detector`, which fills in defaults and validates what a spec
file passed in ``with:`` before the detector sees it.
"""

from __future__ import annotations

import difflib
import json
import math
import reprlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

from ...exceptions import SpecError
from ...model import Span, Trace
from .._lexer import format_duration

__all__ = [
    "DetectorInfo",
    "Finding",
    "ParamSpec",
    "ParamType",
    "detector",
    "detector_param_schema",
    "lookup",
    "run_detector",
]

ParamType = Literal["int", "number", "string", "list", "bool"]

_JSON_TYPES: dict[str, str] = {
    "int": "integer",
    "number": "number",
    "string": "string",
    "list": "array",
    "bool": "boolean",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One failure a detector found in a trace.

    ``message`` is one line a person can act on; ``spans`` are the offending
    span ids, most relevant first; ``chain`` is the lineage from an origin to
    its victims (``cascading_error``, ``context_pollution``, ``context_collapse``);
    ``details`` holds JSON-ready extras.
    """

    message: str
    spans: tuple[str, ...]
    expected: str
    found: str
    chain: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict."""
        return {
            "message": self.message,
            "spans": list(self.spans),
            "expected": self.expected,
            "found": self.found,
            "chain": list(self.chain),
            "details": self.details,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamSpec:
    """One tunable parameter of a detector (the ``with:`` mapping of a rule).

    ``choices`` restricts a string, or the items of a list; ``minimum`` bounds a
    number, or the length of a list; ``nullable`` lets ``null`` through (meaning
    "use the default rule").  List parameters always hold strings.
    """

    type: ParamType
    default: Any
    description: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    nullable: bool = False

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema fragment for this parameter."""
        schema: dict[str, Any] = {"type": _JSON_TYPES[self.type]}
        if self.type == "list":
            items: dict[str, Any] = {"type": "string"}
            if self.choices is not None:
                items["enum"] = list(self.choices)
            schema["items"] = items
        elif self.choices is not None:
            schema["enum"] = list(self.choices)
        if self.minimum is not None:
            schema["minItems" if self.type == "list" else "minimum"] = self.minimum
        if self.nullable:
            schema = {"anyOf": [schema, {"type": "null"}]}
        schema["description"] = self.description
        schema["default"] = list(self.default) if isinstance(self.default, tuple) else self.default
        return schema


@dataclass(frozen=True)
class DetectorInfo:
    """A registered detector: its name, what it finds, its parameters and its function."""

    name: str
    description: str
    params: Mapping[str, ParamSpec]
    run: Callable[..., list[Finding]]

    def defaults(self) -> dict[str, Any]:
        """The default value of every parameter."""
        return {key: spec.default for key, spec in self.params.items()}


_REGISTRY: dict[str, DetectorInfo] = {}


def detector(
    name: str, description: str, **params: ParamSpec
) -> Callable[[Callable[..., list[Finding]]], Callable[..., list[Finding]]]:
    """Register the decorated function as detector ``name`` with ``params``."""

    def register(run: Callable[..., list[Finding]]) -> Callable[..., list[Finding]]:
        if name in _REGISTRY:
            raise RuntimeError(f"detector {name!r} registered twice")
        _REGISTRY[name] = DetectorInfo(name=name, description=description, params=dict(params), run=run)
        return run

    return register


def lookup(name: str) -> DetectorInfo:
    """The detector called ``name``; a :class:`SpecError` naming the closest one if unknown."""
    info = _REGISTRY.get(name) if isinstance(name, str) else None
    if info is None:
        raise SpecError(
            f"unknown detector {name!r}{_did_you_mean(str(name), _REGISTRY)}; "
            f"known detectors: {', '.join(sorted(_REGISTRY))}."
        )
    return info


def run_detector(name: str, trace: Trace, params: Mapping[str, Any] | None = None) -> list[Finding]:
    """Run detector ``name`` over ``trace`` with ``params`` (validated, defaults filled in).

    An unknown detector, an unknown parameter or a value of the wrong type
    raises :class:`~pytest_agenttrace.exceptions.SpecError` naming it and the
    valid choices.
    """
    info = lookup(name)
    return info.run(trace, **validate_params(info, params))


def detector_param_schema(name: str) -> dict[str, Any]:
    """JSON Schema of the ``with:`` mapping of detector ``name`` (no extra keys allowed)."""
    info = lookup(name)
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {key: spec.json_schema() for key, spec in info.params.items()},
    }


def validate_params(info: DetectorInfo, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` checked against ``info.params`` and completed with defaults."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise SpecError(f"'with' of detector {info.name!r} must be a mapping of parameters, got {_type_name(params)}.")
    values = info.defaults()
    for key, value in params.items():
        spec = info.params.get(key) if isinstance(key, str) else None
        if spec is None:
            valid = ", ".join(sorted(info.params)) or "none"
            raise SpecError(
                f"detector {info.name!r} has no parameter {key!r}{_did_you_mean(str(key), info.params)}; "
                f"valid parameters: {valid}."
            )
        values[key] = _check_value(info.name, key, spec, value)
    return values


def _check_value(detector_name: str, key: str, spec: ParamSpec, value: Any) -> Any:
    where = f"parameter {key!r} of detector {detector_name!r}"
    if value is None:
        if spec.nullable:
            return None
        raise SpecError(f"{where} must be {_expected(spec)}, got null.")
    ok: bool
    if spec.type == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif spec.type == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif spec.type == "string":
        ok = isinstance(value, str)
    elif spec.type == "bool":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    if not ok:
        raise SpecError(f"{where} must be {_expected(spec)}, got {value!r} ({_type_name(value)}).")
    if spec.minimum is not None:
        if spec.type == "list" and len(value) < spec.minimum:
            raise SpecError(f"{where} must list at least {spec.minimum:g} item(s), got {list(value)!r}.")
        if spec.type != "list" and value < spec.minimum:
            raise SpecError(f"{where} must be at least {spec.minimum:g}, got {value!r}.")
    if spec.choices is not None:
        for item in value if spec.type == "list" else (value,):
            if item not in spec.choices:
                raise SpecError(
                    f"{where} does not accept {item!r}{_did_you_mean(item, spec.choices)}; "
                    f"choose from: {', '.join(spec.choices)}."
                )
    return tuple(value) if spec.type == "list" else value


def _expected(spec: ParamSpec) -> str:
    text = {
        "int": "an integer",
        "number": "a number",
        "string": "a string",
        "bool": "true or false",
        "list": "a list of strings",
    }[spec.type]
    return text + (" or null" if spec.nullable else "")


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__
    )


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- helpers shared by the detectors ------------------------------------------


def label(span: Span, note: str | None = None) -> str:
    """``tool 'web_search' (span 7)``: how findings name a span; ``note`` joins the parentheses."""
    return f"{span.kind} {span.name!r} (span {span.span_id}{', ' + note if note else ''})"


def duration_text(ns: int) -> str:
    """A readable duration with at most three significant figures: ``800ns``, ``50us``, ``1.2ms``, ``3.4s``, ``2m05s``."""
    if ns < 0:
        return "-" + duration_text(-ns)
    if ns >= 1e300:  # no real duration: ns / size would overflow for an integer beyond float range
        return format_duration(ns)
    if ns < 1_000:
        return f"{ns}ns"
    for unit, size in (("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)):
        value = ns / size
        digits = 2 if value < 10 else 1 if value < 100 else 0
        rounded = round(value, digits)
        if rounded < 1_000 and (unit != "s" or rounded < 60):
            text = f"{rounded:.{digits}f}"
            return (text.rstrip("0").rstrip(".") if "." in text else text) + unit
    minutes, seconds = divmod(round(ns / 1_000_000_000), 60)
    return f"{minutes}m{seconds:02d}s"


def agent_name(agent: str | None) -> str:
    """An agent for a message; ``(no agent)`` when missing."""
    return agent if agent else "(no agent)"


def confidence_of(span: Span) -> float | None:
    """``attributes.confidence`` when it is a number, else ``None`` (absent means not low)."""
    value = span.attributes.get("confidence")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range (a trace may hold 10**400)
            return math.inf if value > 0 else -math.inf
    return None


def is_low_confidence(span: Span, minimum: float) -> bool:
    """True when the span carries a numeric confidence below ``minimum``."""
    value = confidence_of(span)
    return value is not None and value < minimum


def excerpt(value: Any, limit: int = 60) -> str:
    """A short one-line JSON rendering of ``value`` for messages."""
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    except RecursionError:  # nested deeper than json (and repr) go: reprlib stops at a few levels
        text = reprlib.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quoted(names: Any) -> str:
    """``'a', 'b'`` for a message."""
    return ", ".join(repr(n) for n in names)


def of_kinds(trace: Trace, kinds: Iterable[str]) -> list[Span]:
    """The spans of ``kinds`` in start order (the trace's order, which the trace file keeps).

    A new list: the index merges the kind buckets by position, so the cost is
    proportional to the spans of those kinds, not to the trace.
    """
    return list(trace.index.of_kinds(kinds))


def in_trace_order(spans: Iterable[Span], trace: Trace) -> list[Span]:
    """``spans`` (spans of ``trace``) sorted by their position in the trace, i.e. in start order."""
    listed = list(spans)
    position = trace.index.positions_of(listed)
    return sorted(listed, key=lambda span: position[id(span)])


def str_list(value: Any) -> list[str]:
    """A list-of-strings attribute; a single string counts as a list of one; anything else is empty."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def matches_any(patterns: tuple[str, ...], name: str) -> bool:
    """Whether ``name`` matches one of the glob ``patterns`` (``ignore_*`` parameters)."""
    return any(fnmatchcase(name, pattern) for pattern in patterns)
