"""The rule kinds of a spec and what each one checks.

Every rule has an ``id``, an optional ``description``, an optional ``when``
guard and exactly one kind: ``handoff``, ``scope``, ``forbid``, ``order``,
``sequence``, ``expect`` or ``detect`` (semantics: ``docs/specs.md``).  Rules
are built by :mod:`.loader` from validated YAML and are immutable; each
``check`` reads the trace index (kind/name/agent buckets) and stays linear
in the number of spans apart from sorting.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol

from ..model import Span, Trace, TraceIndex
from ._lexer import format_duration
from .violation import Violation

__all__ = [
    "RULE_KINDS",
    "Compiler",
    "DetectRule",
    "ExpectRule",
    "ForbidRule",
    "HandoffRule",
    "OrderRule",
    "Rule",
    "ScopeRule",
    "SequenceRule",
    "build_rule",
]

#: Names shown per line of a sequence's expected/found text before eliding.
_MAX_NAMES: Final = 12


class _Selector(Protocol):
    text: str

    def select(self, trace: Trace) -> list[Span]: ...


class _Expression(Protocol):
    text: str

    def evaluate(self, span: Span) -> bool: ...

    def explain(self, span: Span) -> str: ...


class Compiler(Protocol):
    """What the loader hands to rule builders: compilers that locate their errors.

    ``path`` is the position of the text inside the rule (``("order", "first")``),
    so a syntax error names the file, line and column of the bad character.
    """

    def selector(self, text: str, *path: str | int) -> _Selector: ...

    def expression(self, text: str, *path: str | int) -> _Expression: ...


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A rule of a spec: common fields; subclasses add their body and ``check``."""

    kind: ClassVar[str] = ""

    id: str
    description: str | None = None
    when: _Selector | None = None
    source: str | None = None
    body: Any = None

    def applies(self, trace: Trace) -> bool:
        """False when a ``when`` guard selects nothing in ``trace``."""
        return self.when is None or bool(self.when.select(trace))

    def check(self, trace: Trace) -> list[Violation]:
        """The violations of this rule in ``trace`` (ignores ``when``; see :meth:`applies`)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The rule as written (kind and body), JSON-ready."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.description:
            out["description"] = self.description
        if self.when is not None:
            out["when"] = self.when.text
        out[self.kind] = self.body
        if self.source:
            out["source"] = self.source
        return out

    def _violation(self, message: str, **fields: Any) -> Violation:
        return Violation(
            rule=self.id,
            description=self.description,
            kind=self.kind,
            source=self.source,
            message=message,
            **fields,
        )


# -- handoff ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HandoffRule(Rule):
    """Handoffs/delegations to (and from) matching agents carry the required context keys."""

    kind: ClassVar[str] = "handoff"

    to: str
    from_: str | None = None
    requires: tuple[str, ...] = ()
    required: bool = False

    def check(self, trace: Trace) -> list[Violation]:
        candidates = trace.index.of_kinds(("handoff", "delegation"))
        to_ok, from_ok = _glob(self.to), _glob(self.from_) if self.from_ is not None else None
        out: list[Violation] = []
        matched = 0
        for span in candidates:
            if not to_ok(span.to_agent or "") or (from_ok is not None and not from_ok(span.from_agent or "")):
                continue
            matched += 1
            context = span.context if isinstance(span.context, Mapping) else {}
            for key in self.requires:
                value = _context_value(context, key)
                if value is not None:
                    continue
                if span.context is None:
                    found = "no context was handed over"
                elif _context_has(context, key):
                    found = f"{key!r} is null"
                else:
                    keys = ", ".join(map(str, context)) or "(none)"
                    found = f"{key!r} is missing; keys handed over: {keys}"
                out.append(
                    self._violation(
                        f"{_label(span)} ({_arrow(span)}) does not hand over {key!r}",
                        spans=(span.span_id,),
                        expected=f"context has a non-null {key!r}",
                        found=found,
                        details={"missing_key": key},
                    )
                )
        if matched == 0 and self.required:
            target = f"to {self.to!r}" + (f" from {self.from_!r}" if self.from_ is not None else "")
            out.append(
                self._violation(
                    f"no handoff or delegation {target} was recorded (required: true)",
                    expected=f"at least one handoff/delegation {target}",
                    found=f"{len(candidates)} handoffs/delegations, none {target}",
                )
            )
        return out


# -- scope -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ScopeRule(Rule):
    """``{tool, only_agents}``: who may call a tool; ``{agent, allow_tools}``: what an agent may call."""

    kind: ClassVar[str] = "scope"

    tool: str | None = None
    only_agents: tuple[str, ...] = ()
    agent: str | None = None
    allow_tools: tuple[str, ...] = ()

    def check(self, trace: Trace) -> list[Violation]:
        index = trace.index
        out: list[Violation] = []
        if self.tool is not None:
            tools = _bucket(index, "name", self.tool)
            tool_ok = _glob(self.tool)
            agent_ok = _any_glob(self.only_agents)
            for span in tools:
                # A tool span with no agent fails: no pattern, not even "*", matches a missing agent.
                if span.kind != "tool" or not tool_ok(span.name) or (span.agent and agent_ok(span.agent)):
                    continue
                allowed = ", ".join(self.only_agents)
                out.append(
                    self._violation(
                        f"{_label(span)} was called by {_agent_text(span)}; only {allowed} may call {span.name!r}",
                        spans=(span.span_id,),
                        expected=f"{span.name!r} called only by: {allowed}",
                        found=f"called by {_agent_text(span)}",
                    )
                )
        else:
            assert self.agent is not None
            spans = _bucket(index, "agent", self.agent)
            agent_ok = _glob(self.agent)
            tool_ok = _any_glob(self.allow_tools)
            allowed = ", ".join(self.allow_tools) or "(no tools)"
            for span in spans:
                # A tool span with no agent is no agent's call, not even one of agent "*".
                if span.kind != "tool" or not span.agent or not agent_ok(span.agent) or tool_ok(span.name):
                    continue
                out.append(
                    self._violation(
                        f"{_label(span)}: agent {span.agent!r} may not call {span.name!r} (allowed: {allowed})",
                        spans=(span.span_id,),
                        expected=f"{span.agent} calls only: {allowed}",
                        found=f"tool {span.name!r}",
                    )
                )
        return out


# -- forbid ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ForbidRule(Rule):
    """The selection must be empty; every match is a violation."""

    kind: ClassVar[str] = "forbid"

    selector: _Selector

    def check(self, trace: Trace) -> list[Violation]:
        return [
            self._violation(
                f"forbidden span {_label(span)} matches `{self.selector.text}`",
                spans=(span.span_id,),
                expected=f"no span matches `{self.selector.text}`",
                found=f"{_label(span)} agent={span.agent or '(none)'}",
            )
            for span in self.selector.select(trace)
        ]


# -- order -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OrderRule(Rule):
    """Each ``then`` span starts at or after the end of some ``first`` span."""

    kind: ClassVar[str] = "order"

    first: _Selector
    then: _Selector

    def check(self, trace: Trace) -> list[Violation]:
        thens = self.then.select(trace)
        if not thens:
            return []
        firsts = self.first.select(trace)
        earliest = min((s.end_ns for s in firsts), default=None)
        out: list[Violation] = []
        for span in thens:
            if earliest is not None and span.start_ns >= earliest:
                continue
            if earliest is None:
                found = f"no span matches `{self.first.text}` at all"
            else:
                found = (
                    f"it started at {_time(span.start_ns)}; the earliest `{self.first.text}` ended at {_time(earliest)}"
                )
            out.append(
                self._violation(
                    f"{_label(span)} ran before any `{self.first.text}` had finished",
                    spans=(span.span_id,),
                    expected=f"`{self.then.text}` starts after a `{self.first.text}` has ended",
                    found=found,
                )
            )
        return out


# -- sequence --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SequenceRule(Rule):
    """The names of the selected spans, in start order, compared with ``steps``."""

    kind: ClassVar[str] = "sequence"

    selector: _Selector
    mode: str = "exact"
    steps: tuple[str, ...] = ()

    def check(self, trace: Trace) -> list[Violation]:
        spans = self.selector.select(trace)
        names = [s.name for s in spans]
        problem, culprit = _SEQUENCE_MODES[self.mode](names, list(self.steps))
        if problem is None:
            return []
        expected = {
            "exact": "exactly: ",
            "in_order": "in this order (others may stand between): ",
            "same_set": "the same set of names as: ",
            "contains": "each of (any order): ",
        }[self.mode] + _names(self.steps)
        culprit_ids = (spans[culprit].span_id,) if culprit is not None and culprit < len(spans) else ()
        return [
            self._violation(
                f"sequence of `{self.selector.text}` ({self.mode}): {problem}",
                spans=culprit_ids,
                expected=expected,
                found=_names(names) if names else "no span matches the selector",
                details={"mode": self.mode, "steps": list(self.steps), "names": names},
            )
        ]


def _seq_exact(names: list[str], steps: list[str]) -> tuple[str | None, int | None]:
    for i, (name, step) in enumerate(zip(names, steps)):
        if name != step:
            return f"step {i + 1} is {name!r}, expected {step!r}", i
    if len(names) < len(steps):
        return f"it stops after {len(names)} steps; missing {_names(steps[len(names) :])}", None
    if len(names) > len(steps):
        return f"{len(names) - len(steps)} extra steps after the expected end: {_names(names[len(steps) :])}", len(
            steps
        )
    return None, None


def _seq_in_order(names: list[str], steps: list[str]) -> tuple[str | None, int | None]:
    position = 0
    last = None
    for step_number, step in enumerate(steps):
        while position < len(names) and names[position] != step:
            position += 1
        if position == len(names):
            after = f" after {last!r} (step {step_number})" if last is not None else ""
            where = "does not appear" + after if step in names else "never appears"
            return f"step {step_number + 1} {step!r} {where}", None
        last = step
        position += 1
    return None, None


def _seq_same_set(names: list[str], steps: list[str]) -> tuple[str | None, int | None]:
    present = set(names)
    missing = [s for s in dict.fromkeys(steps) if s not in present]
    wanted = set(steps)
    extra = [n for n in dict.fromkeys(names) if n not in wanted]
    if not missing and not extra:
        return None, None
    parts = []
    if missing:
        parts.append(f"missing {_names(missing)}")
    if extra:
        parts.append(f"unexpected {_names(extra)}")
    culprit = names.index(extra[0]) if extra else None
    return "; ".join(parts), culprit


def _seq_contains(names: list[str], steps: list[str]) -> tuple[str | None, int | None]:
    present = set(names)
    missing = [s for s in dict.fromkeys(steps) if s not in present]
    if not missing:
        return None, None
    return f"missing {_names(missing)}", None


_SEQUENCE_MODES: Final[dict[str, Callable[[list[str], list[str]], tuple[str | None, int | None]]]] = {
    "exact": _seq_exact,
    "in_order": _seq_in_order,
    "same_set": _seq_same_set,
    "contains": _seq_contains,
}


# -- expect ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExpectRule(Rule):
    """Count and expression assertions over a selection (``all``/``any``/``none``)."""

    kind: ClassVar[str] = "expect"

    selector: _Selector
    count_min: int | None = None
    count_max: int | None = None
    count_exactly: int | None = None
    all: tuple[_Expression, ...] = ()
    any: tuple[_Expression, ...] = ()
    none: tuple[_Expression, ...] = ()

    def check(self, trace: Trace) -> list[Violation]:
        spans = self.selector.select(trace)
        sel = f"`{self.selector.text}`"
        out = self._check_count(spans, sel)
        for span in spans:
            for expr in self.all:
                if not expr.evaluate(span):
                    out.append(
                        self._violation(
                            f"{_label(span)} fails `{expr.text}`",
                            spans=(span.span_id,),
                            expected=f"every span matching {sel} satisfies `{expr.text}`",
                            found=expr.explain(span),
                            details={"expression": expr.text},
                        )
                    )
            for expr in self.none:
                if expr.evaluate(span):
                    out.append(
                        self._violation(
                            f"{_label(span)} satisfies `{expr.text}`, which no span may",
                            spans=(span.span_id,),
                            expected=f"no span matching {sel} satisfies `{expr.text}`",
                            found=f"`{expr.text}` holds for {_label(span)}",
                            details={"expression": expr.text},
                        )
                    )
        if self.any and not any(all(e.evaluate(s) for e in self.any) for s in spans):
            wanted = " and ".join(f"`{e.text}`" for e in self.any)
            if spans:
                samples = []
                for span in spans[:3]:
                    failing = next(e for e in self.any if not e.evaluate(span))
                    samples.append(f"{_label(span)}: {failing.explain(span)}")
                found = f"{len(spans)} spans, none qualifies; " + "; ".join(samples)
            else:
                found = f"no span matches {sel}"
            out.append(
                self._violation(
                    f"no span matching {sel} satisfies {wanted}",
                    spans=tuple(s.span_id for s in spans[:3]),
                    expected=f"at least one span matching {sel} satisfies {wanted}",
                    found=found,
                    details={"expressions": [e.text for e in self.any]},
                )
            )
        return out

    def _check_count(self, spans: list[Span], sel: str) -> list[Violation]:
        n = len(spans)
        checks: list[tuple[bool, str, tuple[str, ...]]] = []
        if self.count_exactly is not None:
            extra = tuple(s.span_id for s in spans[self.count_exactly :])
            checks.append((n == self.count_exactly, f"exactly {self.count_exactly}", extra))
        if self.count_min is not None:
            checks.append((n >= self.count_min, f"at least {self.count_min}", ()))
        if self.count_max is not None:
            checks.append(
                (n <= self.count_max, f"at most {self.count_max}", tuple(s.span_id for s in spans[self.count_max :]))
            )
        return [
            self._violation(
                f"{n} span{'s' if n != 1 else ''} match {sel}; expected {wanted}",
                spans=extra,
                expected=f"{wanted} spans matching {sel}",
                found=f"{n}",
                details={"count": n},
            )
            for ok, wanted, extra in checks
            if not ok
        ]


# -- detect ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DetectRule(Rule):
    """Runs a failure-mode detector from :mod:`.detectors` with ``with:`` parameters."""

    kind: ClassVar[str] = "detect"

    detector: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def check(self, trace: Trace) -> list[Violation]:
        from .detectors import run_detector

        return [
            self._violation(
                finding.message,
                spans=tuple(finding.spans),
                expected=finding.expected,
                found=finding.found,
                chain=tuple(finding.chain),
                details={"detector": self.detector, **dict(finding.details)},
            )
            for finding in run_detector(self.detector, trace, dict(self.params))
        ]

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.params:
            out["with"] = dict(self.params)
        return out


# -- building --------------------------------------------------------------------------

RULE_KINDS: Final[tuple[str, ...]] = ("handoff", "scope", "forbid", "order", "sequence", "expect", "detect")


def build_rule(raw: Mapping[str, Any], compiler: Compiler, *, source: str | None = None) -> Rule:
    """A rule from its validated mapping; selectors and expressions are compiled here."""
    kind = next(k for k in RULE_KINDS if k in raw)
    body = raw[kind]
    common: dict[str, Any] = {
        "id": raw["id"],
        "description": raw.get("description"),
        "when": compiler.selector(raw["when"], "when") if "when" in raw else None,
        "source": source,
        "body": body,
    }
    if kind == "handoff":
        return HandoffRule(
            **common,
            to=body["to"],
            from_=body.get("from"),
            requires=tuple(body["requires"]),
            required=bool(body.get("required", False)),
        )
    if kind == "scope":
        return ScopeRule(
            **common,
            tool=body.get("tool"),
            only_agents=tuple(body.get("only_agents", ())),
            agent=body.get("agent"),
            allow_tools=tuple(body.get("allow_tools", ())),
        )
    if kind == "forbid":
        return ForbidRule(**common, selector=compiler.selector(body, "forbid"))
    if kind == "order":
        return OrderRule(
            **common,
            first=compiler.selector(body["first"], "order", "first"),
            then=compiler.selector(body["then"], "order", "then"),
        )
    if kind == "sequence":
        return SequenceRule(
            **common,
            selector=compiler.selector(body["select"], "sequence", "select"),
            mode=body.get("mode", "exact"),
            steps=tuple(body["steps"]),
        )
    if kind == "expect":
        count = body.get("count") or {}

        def exprs(key: str) -> tuple[_Expression, ...]:
            return tuple(compiler.expression(t, "expect", key, i) for i, t in enumerate(body.get(key, ())))

        return ExpectRule(
            **common,
            selector=compiler.selector(body["select"], "expect", "select"),
            count_min=count.get("min"),
            count_max=count.get("max"),
            count_exactly=count.get("exactly"),
            all=exprs("all"),
            any=exprs("any"),
            none=exprs("none"),
        )
    return DetectRule(**common, detector=body, params=dict(raw.get("with") or {}))


# -- helpers ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _glob(pattern: str) -> Callable[[str], bool]:
    if not any(c in pattern for c in "*?["):
        return pattern.__eq__
    regex = re.compile(fnmatch.translate(pattern))
    return lambda text: regex.match(text) is not None


def _any_glob(patterns: Sequence[str]) -> Callable[[str], bool]:
    tests = [_glob(p) for p in patterns]
    return lambda text: any(test(text) for test in tests)


def _bucket(index: TraceIndex, field: str, pattern: str) -> list[Span]:
    """The tool spans whose ``field`` is a literal ``pattern``; every tool span for a glob (callers re-check)."""
    if any(c in pattern for c in "*?["):
        return index.by_kind.get("tool", [])
    return index.matching("tool", field, pattern)


def _context_value(context: Mapping[str, Any], key: str, missing: Any = None) -> Any:
    """The value of ``key`` (a key, or a dotted path inside) in ``context``; ``missing`` if absent."""
    if key in context or "." not in key:
        return context.get(key, missing)
    value: Any = context
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return missing
        value = value[part]
    return value


_ABSENT: Any = object()


def _context_has(context: Mapping[str, Any], key: str) -> bool:
    """Whether ``key`` (dotted or not) is present in ``context``, null or not; read only for a violation."""
    return _context_value(context, key, _ABSENT) is not _ABSENT


def _label(span: Span) -> str:
    return f"{span.kind}:{span.name} [{span.span_id}]"


def _arrow(span: Span) -> str:
    return f"{span.from_agent or '?'} -> {span.to_agent or '?'}"


def _agent_text(span: Span) -> str:
    return f"agent {span.agent!r}" if span.agent else "no agent"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMES])
    if len(names) > _MAX_NAMES:
        shown += f", ... ({len(names) - _MAX_NAMES} more)"
    return shown or "(none)"


def _time(ns: int) -> str:
    """A relative time for people: ``1.5s``, ``20ms``, ``300us``, ``12ns``."""
    if abs(ns) >= 1e300:  # ns / size would overflow for an integer beyond float range
        return format_duration(ns)
    for unit, size in (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)):
        if abs(ns) >= size:
            return f"{ns / size:.3g}{unit}"
    return f"{ns}ns"
