"""The ten failure-mode detectors behind ``detect: NAME`` rules.

Each detector looks for one shape of multi-agent failure in a finished trace
and returns :class:`Finding` objects; ``with:`` in a spec tunes it.  Names and
default semantics are a contract (design, *Failure-mode detectors*):

=========================  ====================================================
``handoff_context_loss``   a handoff/delegation lacks a key of its ``required_context``
``out_of_scope_tool``      a tool outside the ``allowed_tools`` of an enclosing delegation
``unattributed_action``    a tool span with no agent
``retry_storm``            more than ``max_repeats`` (3) identical calls
``tool_loop``              a cycle of 1..``max_period`` (4) tools repeated ``min_cycles`` (3) times
``deadlock``               overlapping waits whose agents wait on each other in a cycle
``context_collapse``       a tracked key lost further down a handoff chain
``cascading_error``        a failed/low-confidence output consumed by a successful span
``context_pollution``      a bad memory write read by other agents
``lost_update``            two agents' writes of one key based on the same version
=========================  ====================================================

Use::

    findings = run_detector("retry_storm", trace, {"max_repeats": 5})

Every detector is linear or ``n log n`` in spans: it groups with dicts, reads
the trace index's kind buckets, and sweeps sorted intervals.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Importing the detector modules registers their detectors.
from . import deadlock, delegation, lineage, memory, repetition  # noqa: F401
from ._registry import (
    _REGISTRY,
    DetectorInfo,
    Finding,
    ParamSpec,
    detector_param_schema,
    run_detector,
)

__all__ = [
    "DETECTORS",
    "DetectorInfo",
    "Finding",
    "ParamSpec",
    "detector_param_schema",
    "run_detector",
]

_ORDER = (
    "handoff_context_loss",
    "out_of_scope_tool",
    "unattributed_action",
    "retry_storm",
    "tool_loop",
    "deadlock",
    "context_collapse",
    "cascading_error",
    "context_pollution",
    "lost_update",
)

DETECTORS: Mapping[str, DetectorInfo] = MappingProxyType({name: _REGISTRY[name] for name in _ORDER})
"""Every detector by name, in the order of the design's list."""
