"""Declarative YAML trace specs: load them, check traces against them.

>>> from pytest_agenttrace.spec import load_spec, check_trace
>>> result = check_trace(trace, load_spec("specs/pipeline.yaml"))   # doctest: +SKIP
>>> result.passed, [v.rule for v in result.violations]                # doctest: +SKIP

A spec (``docs/specs.md``) is a list of rules (``handoff``, ``scope``,
``forbid``, ``order``, ``sequence``, ``expect``, ``detect``) that select spans
with the selector language of :mod:`.selector`, assert over them with the
expressions of :mod:`.expression`, or run the failure-mode detectors of
:mod:`.detectors`.  Ready-made packs (``failure-modes``,
``delegation-hygiene``, ...) are used with ``extends:``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .engine import CheckResult, check, check_trace
    from .loader import Spec, available_packs, lint_spec, load_spec, parse_spec, spec_schema
    from .rules import Rule
    from .violation import Violation

#: Where each public name lives, imported on first use: the pytest plugin imports this package at
#: every startup (its ``spec`` plugin module is in it), and the engine with JSON Schema costs
#: ~80 ms that a run checking no spec need not pay.
_LAZY: Final[dict[str, str]] = {
    "CheckResult": ".engine",
    "check": ".engine",
    "check_trace": ".engine",
    "Spec": ".loader",
    "available_packs": ".loader",
    "lint_spec": ".loader",
    "load_spec": ".loader",
    "parse_spec": ".loader",
    "spec_schema": ".loader",
    "Rule": ".rules",
    "Violation": ".violation",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # once: later reads are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "CheckResult",
    "Rule",
    "Spec",
    "Violation",
    "available_packs",
    "check",
    "check_trace",
    "lint_spec",
    "load_spec",
    "parse_spec",
    "spec_schema",
]
