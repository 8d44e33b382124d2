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

from .engine import CheckResult, check, check_trace
from .loader import Spec, available_packs, lint_spec, load_spec, parse_spec, spec_schema
from .rules import Rule
from .violation import Violation

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
