"""Detectors of the space between agents: handoffs, delegation scopes, attribution.

``handoff_context_loss``, ``out_of_scope_tool``, ``unattributed_action`` and
``context_collapse``.  All read the reserved attributes of ``handoff`` and
``delegation`` spans (``from_agent``, ``to_agent``, ``allowed_tools``,
``required_context``, ``critical_keys``) and their ``context``.
"""

from __future__ import annotations

from typing import Any

from ...model import KINDS, Span, Trace
from ._registry import (
    Finding,
    ParamSpec,
    agent_name,
    detector,
    in_trace_order,
    label,
    matches_any,
    of_kinds,
    quoted,
    str_list,
)

__all__ = ["context_collapse", "handoff_context_loss", "out_of_scope_tool", "unattributed_action"]

_HANDOFF_KINDS = ("handoff", "delegation")


def _has_value(context: dict[str, Any] | None, key: str, null_is_missing: bool = True) -> bool:
    if not context or key not in context:
        return False
    return not (null_is_missing and context[key] is None)


def _route(span: Span) -> str:
    return f"{agent_name(span.from_agent)} -> {agent_name(span.to_agent)}"


# -- handoff_context_loss ---------------------------------------------------------


@detector(
    "handoff_context_loss",
    "A handoff or delegation whose attributes.required_context keys are not all in its context.",
    null_is_missing=ParamSpec(
        type="bool",
        default=True,
        description="A required key whose value is null counts as missing.",
    ),
)
def handoff_context_loss(trace: Trace, *, null_is_missing: bool) -> list[Finding]:
    """One finding per handoff/delegation span listing its missing required keys."""
    findings: list[Finding] = []
    for span in of_kinds(trace, _HANDOFF_KINDS):
        required = str_list(span.attributes.get("required_context"))
        if not required:
            continue
        missing = [k for k in required if not _has_value(span.context, k, null_is_missing)]
        if not missing:
            continue
        present = [k for k in required if k not in missing]
        findings.append(
            Finding(
                message=(
                    f"{label(span, _route(span))} is missing required context "
                    f"{quoted(missing)}: pass {'it' if len(missing) == 1 else 'them'} in the handoff context"
                ),
                spans=(span.span_id,),
                expected=f"context keys {quoted(required)}",
                found=f"missing {quoted(missing)}" + (f"; present {quoted(present)}" if present else ""),
                details={"missing": missing, "required": required, "present": present},
            )
        )
    return findings


# -- out_of_scope_tool ------------------------------------------------------------


@detector(
    "out_of_scope_tool",
    "A tool span not allowed by every enclosing delegation that declares allowed_tools.",
    ignore_tools=ParamSpec(
        type="list",
        default=(),
        description="Tool names never reported (globs allowed), e.g. harmless read-only helpers.",
    ),
)
def out_of_scope_tool(trace: Trace, *, ignore_tools: tuple[str, ...]) -> list[Finding]:
    """A tool span whose name some enclosing delegation's ``allowed_tools`` leaves out.

    Scopes narrow, never widen: every delegation on the span's ``scope_path``
    that declares ``allowed_tools`` list it by name (as the tool gateway
    checks); ``ignore_tools`` takes globs.
    """
    index = trace.index
    allowed_by: dict[str, frozenset[str] | None] = {}
    for delegation in index.by_kind.get("delegation", ()):
        value = delegation.attributes.get("allowed_tools")
        allowed_by[delegation.span_id] = frozenset(str_list(value)) if isinstance(value, list | tuple) else None
    if not any(v is not None for v in allowed_by.values()):
        return []
    findings: list[Finding] = []
    for span in index.by_kind.get("tool", ()):
        path = span.scope_path or ([span.scope] if span.scope else [])
        if span.scope and span.scope not in path:
            path = [*path, span.scope]
        refusing = [d for d in path if (allowed := allowed_by.get(d)) is not None and span.name not in allowed]
        if not refusing or matches_any(ignore_tools, span.name):
            continue
        refusing.reverse()  # innermost first: the narrowest scope is the one to look at
        inner = index.by_id[refusing[0]]
        narrowest = sorted(allowed_by[inner.span_id] or ())
        findings.append(
            Finding(
                message=(
                    f"{label(span)} called by {agent_name(span.agent)} under {label(inner, _route(inner))}, "
                    f"which allows only [{quoted(narrowest)}]"
                ),
                spans=(span.span_id, *refusing),
                expected=f"a tool in allowed_tools [{quoted(narrowest)}] of every enclosing delegation",
                found=f"tool {span.name!r} refused by {len(refusing)} delegation(s): {', '.join(refusing)}",
                details={
                    "tool": span.name,
                    "agent": span.agent,
                    "scope": span.scope,
                    "refused_by": refusing,
                    "allowed_tools": {d: sorted(allowed_by[d] or ()) for d in refusing},
                },
            )
        )
    return findings


# -- unattributed_action ----------------------------------------------------------


@detector(
    "unattributed_action",
    "A tool span (or a span of the listed kinds) recorded with no agent.",
    kinds=ParamSpec(
        type="list",
        default=("tool",),
        description="Span kinds that must name their agent.",
        minimum=1,
        choices=tuple(kind for kind in KINDS if kind != "agent"),
    ),
)
def unattributed_action(trace: Trace, *, kinds: tuple[str, ...]) -> list[Finding]:
    """One finding per span of ``kinds`` whose ``agent`` is missing or empty."""
    spans = [s for s in of_kinds(trace, kinds) if not s.agent]
    return [
        Finding(
            message=(
                f"{label(span)} ran with no agent: record it inside an agent span "
                "or call it through the tool gateway with the agent set"
            ),
            spans=(span.span_id,),
            expected="an agent for every action",
            found="agent is missing",
            details={"kind": span.kind, "name": span.name, "scope": span.scope},
        )
        for span in spans
    ]


# -- context_collapse -------------------------------------------------------------


@detector(
    "context_collapse",
    "A tracked context key handed to an agent that is lost further down the handoff chain "
    "(missing from a later handoff's context, or dropped by a truncated llm call).",
    keys=ParamSpec(
        type="list",
        default=None,
        nullable=True,
        description="Keys tracked on every handoff/delegation; null tracks each span's "
        "attributes.critical_keys instead.",
    ),
)
def context_collapse(trace: Trace, *, keys: tuple[str, ...] | None) -> list[Finding]:
    """Follow tracked keys from agent to agent and report where one is lost.

    One sweep in start order: a handoff/delegation that carries a tracked key
    to ``to_agent`` makes that agent a holder of the key (remembering the
    origin); a later handoff *from* a holder without the key in its context,
    or a truncated ``llm`` span of a holder whose ``dropped_keys`` name it, is
    a finding.  A key is reported where it is lost, not again downstream.
    """
    truncated = [s for s in trace.index.by_kind.get("llm", ()) if s.attributes.get("truncated") is True]
    spans = in_trace_order([*of_kinds(trace, _HANDOFF_KINDS), *truncated], trace)
    # holder agent -> key -> (origin span id, last carrier span id)
    held: dict[str, dict[str, tuple[str, str]]] = {}
    findings: list[Finding] = []
    for span in spans:
        holdings = held.get(span.agent or "") if span.kind == "llm" else held.get(span.from_agent or "")
        if span.kind == "llm":
            if holdings:
                dropped = [k for k in str_list(span.attributes.get("dropped_keys")) if k in holdings]
                for key in dropped:
                    findings.append(_collapse_finding(trace, span, key, holdings.pop(key), truncated=True))
            continue
        if holdings:
            for key in [k for k in holdings if not _has_value(span.context, k)]:
                findings.append(_collapse_finding(trace, span, key, holdings[key], truncated=False))
        receiver = span.to_agent
        if receiver is None:
            continue
        tracked = keys if keys is not None else tuple(str_list(span.attributes.get("critical_keys")))
        carried = dict.fromkeys(k for k in tracked if _has_value(span.context, k))
        if holdings:
            carried.update(dict.fromkeys(k for k in holdings if _has_value(span.context, k)))
        if carried:
            target = held.setdefault(receiver, {})
            for key in carried:
                origin = holdings[key][0] if holdings and key in holdings else span.span_id
                target[key] = (origin, span.span_id)
    return findings


def _collapse_finding(trace: Trace, span: Span, key: str, source: tuple[str, str], *, truncated: bool) -> Finding:
    origin_id, carrier_id = source
    origin = trace.index.by_id[origin_id]
    chain = tuple(dict.fromkeys((origin_id, carrier_id, span.span_id)))
    holder = span.agent if truncated else span.from_agent
    if truncated:
        message = (
            f"context key {key!r} handed to {agent_name(holder)} by {label(origin)} was dropped "
            f"when {label(span)} truncated its context"
        )
        found = f"{key!r} in dropped_keys of a truncated llm call"
    else:
        message = (
            f"context key {key!r} handed to {agent_name(holder)} by {label(origin)} is missing from "
            f"{label(span, _route(span))}: pass it on"
        )
        found = f"{key!r} missing from the context of span {span.span_id}"
    return Finding(
        message=message,
        spans=(span.span_id, origin_id),
        expected=f"{key!r} kept along the handoff chain from span {origin_id}",
        found=found,
        chain=chain,
        details={"key": key, "agent": holder, "origin": origin_id, "truncated": truncated},
    )
