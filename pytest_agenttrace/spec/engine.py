"""Checking traces against specs.

:func:`check_trace` runs every rule of a :class:`~.loader.Spec` whose ``when``
guard holds and collects the violations in a :class:`CheckResult`;
:func:`check` is the test-facing form that raises ``AssertionError`` with
the formatted violations (what ``agenttrace.check(spec)`` calls).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .._gc import collector_paused
from ..exceptions import InputError
from ..model import Trace
from ..report.terminal import terminal_safe
from .loader import Spec, load_spec
from .violation import Violation

__all__ = ["CheckResult", "check", "check_trace"]

#: Violations rendered in full by :meth:`CheckResult.format`; the rest are summarised.
MAX_VIOLATIONS_SHOWN: Final = 20


@dataclass(frozen=True)
class CheckResult:
    """The outcome of checking one trace against one spec."""

    passed: bool
    violations: tuple[Violation, ...]
    trace: Trace
    spec: Spec | None = None
    skipped: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.passed

    def format(self, *, max_violations: int = MAX_VIOLATIONS_SHOWN) -> str:
        """The assertion message: a headline, then every violation with its tree excerpt."""
        name = f"spec {self.spec.name!r}" if self.spec is not None else "the spec"
        rules = len(self.spec.rules) if self.spec is not None else 0
        if self.passed:
            return terminal_safe(
                f"trace {self.trace.name!r} satisfies {name} ({rules} rule{'s' if rules != 1 else ''})"
            )
        n = len(self.violations)
        by_rule: dict[str, int] = {}
        for v in self.violations:
            by_rule[v.rule] = by_rule.get(v.rule, 0) + 1
        summary = ", ".join(f"{rule} x{count}" if count > 1 else rule for rule, count in by_rule.items())
        lines = [
            terminal_safe(
                f"trace {self.trace.name!r} violates {name}: {n} violation{'s' if n != 1 else ''} "
                f"of {len(by_rule)} rule{'s' if len(by_rule) != 1 else ''} ({summary})"
            ),
        ]
        for number, violation in enumerate(self.violations[:max_violations], 1):
            lines.append("")
            text = violation.format(self.trace)
            lines.append(f"{number}. {text}")
        if n > max_violations:
            lines.append("")
            lines.append(
                f"... {n - max_violations} more violations not shown "
                "(run `agenttrace check TRACE --spec SPEC --format json` for all of them)"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """``{"passed": bool, "violations": [...]}`` as printed by ``agenttrace check --format json``."""
        return {"passed": self.passed, "violations": [v.to_dict(self.trace) for v in self.violations]}


def check_trace(trace: Trace, spec: Spec | Any) -> CheckResult:
    """Check ``trace`` against ``spec`` (a :class:`Spec`, a path, a mapping or a list of them)."""
    loaded = spec if isinstance(spec, Spec) else load_spec(spec)
    violations: list[Violation] = []
    skipped: list[str] = []
    with collector_paused():
        for rule in loaded.rules:
            if not rule.applies(trace):
                skipped.append(rule.id)
                continue
            violations.extend(rule.check(trace))
    return CheckResult(
        passed=not violations,
        violations=tuple(violations),
        trace=trace,
        spec=loaded,
        skipped=tuple(skipped),
    )


def check(
    trace: Trace,
    spec_or_path: Spec | str | os.PathLike[str] | Any,
    *,
    recorder: Any = None,
    results: MutableMapping[str, Any] | None = None,
    base_dirs: Sequence[str | os.PathLike[str]] = (),
) -> CheckResult:
    """Check ``trace`` and raise ``AssertionError`` listing every violation.

    The violations are also recorded under ``"violations"`` in ``results``
    (default: ``recorder.results``) for reports.  Relative spec paths are
    looked up in ``base_dirs`` (default: ``recorder.spec_base_dirs`` when the
    recorder has it), then the working directory.  Returns the passing result.
    """
    __tracebackhide__ = True  # a failing test shows its own line and the message, not this function
    if results is None and recorder is not None:
        results = getattr(recorder, "results", None)
    if not base_dirs and recorder is not None:
        base_dirs = tuple(getattr(recorder, "spec_base_dirs", ()) or ())
    try:
        spec = load_spec(spec_or_path, base_dirs=base_dirs)
    except InputError as error:
        # The message names the file, line and what to do; the loader's frames would only bury it.
        raise error.with_traceback(None) from None
    result = check_trace(trace, spec)
    if results is not None and result.violations:
        results.setdefault("violations", []).extend(result.violations)
    if not result.passed:
        raise AssertionError(result.format())
    return result
