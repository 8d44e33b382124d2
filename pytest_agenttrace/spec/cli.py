"""``agenttrace check``, ``agenttrace lint`` and ``agenttrace query``.

* ``check TRACE.json... --spec SPEC.yaml [--spec ...] [--format text|json]``:
  exit 0 when every rule holds in every trace, 1 on violations, 2 on bad
  input.  ``--format json`` prints ``{"passed": bool, "violations": [...]}``
  (with several traces each violation also names its ``"trace"``).
* ``lint SPEC.yaml...``: validates specs without a trace; exit 0 when all are
  valid, 2 when any has a problem (every problem is listed with
  ``file:line:column``).

A spec argument may be a directory (its ``*.yaml``/``*.yml`` files: merged by
``check``, reported one by one by ``lint``) or the name of a shipped pack
(``failure-modes``) when no file or directory of that name exists.
* ``query TRACE.json --select SELECTOR`` prints the matching spans with their
  path from the root, agent and scope; ``--scope ID`` prints the actions
  recorded under delegation scope ``ID`` and its footprint (what it touched).

Directories given as traces stand for the ``*.json`` trace files inside them
(:func:`pytest_agenttrace.cli.trace_paths`: other JSON files there are skipped
with a note).  What is printed comes from the trace sanitised
(:func:`pytest_agenttrace.cli.load_clean_trace`): a secret in a hand-made
trace file is not repeated on the terminal or in CI logs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from ..cli import load_clean_trace, trace_paths
from ..exceptions import InputError
from ..model import Span, Trace
from ..report.terminal import terminal_safe

__all__ = ["main", "register"]


def register(subparsers: Any) -> None:
    """Add the ``check``, ``lint`` and ``query`` sub-commands."""
    check = subparsers.add_parser(
        "check",
        help="check recorded traces against YAML specs",
        description="Check traces against specs. Exit 0: every rule holds; 1: violations; 2: bad input.",
    )
    check.add_argument("traces", nargs="+", metavar="TRACE.json", help="trace files (or directories of them)")
    check.add_argument(
        "--spec",
        action="append",
        required=True,
        dest="specs",
        metavar="SPEC.yaml",
        help="spec file, directory of spec files, or shipped pack name such as failure-modes (a file of that name "
        "wins); repeatable, later specs replace rules with the same id",
    )
    check.add_argument("--format", choices=("text", "json"), default="text", dest="format", help="output format")
    check.set_defaults(handler=run_check)

    lint = subparsers.add_parser(
        "lint",
        help="validate spec files without a trace",
        description="Validate specs (YAML, schema, selectors, expressions, detectors). Exit 0: valid; 2: problems.",
    )
    lint.add_argument(
        "specs",
        nargs="+",
        metavar="SPEC.yaml",
        help="spec files, directories of spec files (each file is linted), or shipped pack names (a file wins)",
    )
    lint.add_argument("--format", choices=("text", "json"), default="text", dest="format", help="output format")
    lint.set_defaults(handler=run_lint)

    query = subparsers.add_parser(
        "query",
        help="find spans by selector, or what a delegation scope did",
        description="Print the spans matching a selector, or the actions and footprint of a delegation scope.",
    )
    query.add_argument("trace", metavar="TRACE.json", help="a trace file")
    query.add_argument(
        "--select", dest="select", metavar="SELECTOR", help="a span selector, e.g. 'tool[name=web_search]'"
    )
    query.add_argument(
        "--scope",
        dest="scope",
        metavar="ID",
        help="a delegation scope: the delegation span's id, or the name of the agent it delegated to",
    )
    query.add_argument("--format", choices=("text", "json"), default="text", dest="format", help="output format")
    query.set_defaults(handler=run_query)


def main(argv: list[str] | None = None) -> int:
    """Run these commands alone (``python -m pytest_agenttrace.spec.cli``); returns the exit code."""
    parser = argparse.ArgumentParser(prog="agenttrace")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as error:
        sys.stderr.write(f"agenttrace {args.command}: error: {error}\n")
        return 2


# -- check -----------------------------------------------------------------------------


def run_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``agenttrace check``."""
    from .engine import check_trace
    from .loader import load_spec

    out = out or sys.stdout
    spec = load_spec(args.specs)
    paths = trace_paths(args.traces)
    results = [(path, check_trace(load_clean_trace(path), spec)) for path in paths]
    passed = all(r.passed for _, r in results)
    if args.format == "json":
        violations = []
        for path, result in results:
            for violation in result.violations:
                entry = violation.to_dict(result.trace)
                if len(results) > 1:
                    entry["trace"] = str(path)
                violations.append(entry)
        json.dump({"passed": passed, "violations": violations}, out, indent=2, default=str)
        out.write("\n")
        return 0 if passed else 1
    failed = 0
    total = 0
    for path, result in results:
        if result.passed:
            out.write(f"PASS {path} ({len(spec.rules)} rule{'s' if len(spec.rules) != 1 else ''})\n")
            continue
        failed += 1
        total += len(result.violations)
        out.write(f"FAIL {path}\n{result.format()}\n\n")
    counted = f"{total} violation{'s' if total != 1 else ''}"
    if len(results) == 1:
        out.write(
            f"the trace violates {spec.name!r}: {counted}\n" if failed else f"the trace satisfies {spec.name!r}\n"
        )
    elif failed:
        out.write(f"{failed} of {len(results)} traces violate {spec.name!r}: {counted}\n")
    else:
        out.write(f"all {len(results)} traces satisfy {spec.name!r}\n")
    return 0 if passed else 1


# -- lint ------------------------------------------------------------------------------


def run_lint(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``agenttrace lint``."""
    from ..exceptions import SpecError
    from .loader import lint_spec, load_spec, resolve_spec

    out = out or sys.stdout
    reports: list[tuple[str, list[SpecError], int]] = []
    for name in args.specs:
        try:
            files = resolve_spec(name)
        except SpecError as error:
            reports.append((name, [error], 0))
            continue
        directory = Path(name).is_dir()
        for path in files:
            shown = str(path) if directory else name  # a pack is shown by its name, not its installed path
            problems = lint_spec(path)
            rules = len(load_spec(path).rules) if not problems else 0
            reports.append((shown, problems, rules))
    ok = all(not problems for _, problems, _ in reports)
    if args.format == "json":
        payload = {
            "valid": ok,
            "specs": [
                {
                    "path": name,
                    "valid": not problems,
                    "rules": rules,
                    "problems": [
                        {"message": p.message, "line": p.line, "column": p.column, "text": str(p)} for p in problems
                    ],
                }
                for name, problems, rules in reports
            ],
        }
        json.dump(payload, out, indent=2)
        out.write("\n")
        return 0 if ok else 2
    for name, problems, rules in reports:
        if not problems:
            out.write(f"OK   {name} ({rules} rule{'s' if rules != 1 else ''})\n")
            continue
        out.write(f"FAIL {name}: {len(problems)} problem{'s' if len(problems) != 1 else ''}\n")
        for problem in problems:
            where = problem.path or name
            if problem.line is not None:
                where += f":{problem.line}"
                if problem.column is not None:
                    where += f":{problem.column}"
            out.write(f"  {where}: {problem.message}\n")
    return 0 if ok else 2


# -- query -----------------------------------------------------------------------------


def run_query(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``agenttrace query``."""
    from .selector import compile_selector

    out = out or sys.stdout
    if not args.select and not args.scope:
        raise InputError("say what to query: --select SELECTOR (spans) or --scope ID (a delegation scope)")
    trace = load_clean_trace(args.trace)
    spans: list[Span] | None = None
    if args.select:
        spans = compile_selector(args.select).select(trace)
    if args.scope:
        return _query_scope(trace, args.scope, spans, args.format, out)
    assert spans is not None
    if args.format == "json":
        json.dump(
            {"selector": args.select, "count": len(spans), "spans": [_span_dict(trace, s) for s in spans]},
            out,
            indent=2,
            default=str,
        )
        out.write("\n")
        return 0
    out.write(_safe(f"{len(spans)} span{'s' if len(spans) != 1 else ''} match `{args.select}`\n"))
    for span in spans:
        out.write(_safe(_span_line(trace, span) + "\n"))
    return 0


def _query_scope(trace: Trace, scope_id: str, within: list[Span] | None, fmt: str, out: TextIO) -> int:
    delegation = trace.get_span(scope_id)
    if delegation is None and scope_id not in trace.index.by_scope:
        # Not an id: a delegated agent's name names its scope when only one delegation went to it.
        named = [d for d in trace.delegations if scope_id in (d.to_agent, d.name)]
        if len(named) > 1:
            ids = ", ".join(d.span_id for d in named)
            raise InputError(f"{len(named)} delegations went to {scope_id!r} (scopes {ids}); give one of these ids")
        if named:
            delegation = named[0]
            scope_id = delegation.span_id
    if scope_id not in trace.index.by_scope and (delegation is None or delegation.kind != "delegation"):
        scopes = [d.span_id for d in trace.delegations]
        listed = ", ".join(
            f"{d.span_id} ({d.from_agent or '?'} -> {d.to_agent or '?'})" for d in trace.delegations[:20]
        )
        raise InputError(
            f"no delegation scope {scope_id!r} in this trace; "
            + (f"its scopes are: {listed}" if scopes else "it records no delegations")
        )
    actions = trace.under_scope(scope_id)
    if within is not None:
        keep = {s.span_id for s in within}
        actions = [s for s in actions if s.span_id in keep]
    footprint = trace.footprint(scope_id)
    allowed = delegation.attributes.get("allowed_tools") if delegation is not None else None
    # Tools this delegation does not allow (by name, as out_of_scope_tool reads allowed_tools).
    allowed_names = {name for name in allowed if isinstance(name, str)} if isinstance(allowed, list) else None
    outside = [tool for tool in footprint.tools if tool not in allowed_names] if allowed_names is not None else []
    if fmt == "json":
        payload: dict[str, Any] = {
            "scope": scope_id,
            "delegation": _delegation_dict(trace, delegation) if delegation is not None else None,
            "actions": [_span_dict(trace, s) for s in actions],
            "footprint": footprint.to_dict(),
            "outside_allowed_tools": outside,
        }
        json.dump(payload, out, indent=2, default=str)
        out.write("\n")
        return 0
    if delegation is not None:
        out.write(
            _safe(
                f"scope {scope_id}: {delegation.kind}:{delegation.name} "
                f"{delegation.from_agent or '?'} -> {delegation.to_agent or '?'}\n"
            )
        )
        objective = delegation.attributes.get("objective")
        if objective:
            out.write(_safe(f"  objective: {objective}\n"))
        if allowed is not None:
            shown = ", ".join(map(str, allowed)) if isinstance(allowed, list) else str(allowed)
            out.write(_safe(f"  allowed tools: {shown or '(none)'}\n"))
        out.write(_safe(f"  path: {trace.path_str(delegation)}\n"))
    else:
        out.write(_safe(f"scope {scope_id}\n"))
    base = trace.depth(delegation) + 1 if delegation is not None else 0
    out.write(_safe(f"actions ({len(actions)} span{'s' if len(actions) != 1 else ''}):\n"))
    for span in _tree_order(trace, actions):
        indent = "  " * max(0, trace.depth(span) - base)
        mark = "  (not in allowed tools)" if span.kind == "tool" and span.name in outside else ""
        out.write(_safe(f"  {indent}{_span_summary(span)}{mark}\n"))
    fp = footprint
    out.write("footprint:\n")
    out.write(_safe(f"  agents:              {', '.join(fp.agents) or '(none)'}\n"))
    tools = ", ".join(f"{tool} (not allowed)" if tool in outside else tool for tool in fp.tools)
    out.write(_safe(f"  tools:               {tools or '(none)'}\n"))
    out.write(_safe(f"  memory keys read:    {', '.join(fp.memory_keys_read) or '(none)'}\n"))
    out.write(_safe(f"  memory keys written: {', '.join(fp.memory_keys_written) or '(none)'}\n"))
    out.write(_safe(f"  data sources:        {', '.join(fp.data_sources) or '(none)'}\n"))
    out.write(_safe(f"  llm calls:           {fp.llm_calls}\n"))
    return 0


# -- helpers ---------------------------------------------------------------------------


def _safe(line: str) -> str:
    """One output line whose trace data cannot drive the terminal (its final newline kept)."""
    body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
    return terminal_safe(body) + newline


def _tree_order(trace: Trace, spans: list[Span]) -> list[Span]:
    """``spans`` in depth-first order of the tree (parents before children)."""
    wanted = {s.span_id for s in spans}
    return [s for s, _ in trace.walk() if s.span_id in wanted]


def _span_summary(span: Span) -> str:
    text = f"[{span.span_id}] {span.kind}:{span.name}  agent={span.agent or '-'}"
    if span.status != "ok":
        text += f"  status={span.status}"
        if isinstance(span.error, dict):
            text += f" ({span.error.get('type') or 'error'}: {span.error.get('message') or ''})"
        elif span.error:
            text += f" ({span.error})"
    return text


def _span_line(trace: Trace, span: Span) -> str:
    return f"[{span.span_id}] {trace.path_str(span)}   agent={span.agent or '-'}  scope={span.scope or '-'}" + (
        f"  status={span.status}" if span.status != "ok" else ""
    )


def _span_dict(trace: Trace, span: Span) -> dict[str, Any]:
    return {
        "span_id": span.span_id,
        "kind": span.kind,
        "name": span.name,
        "agent": span.agent,
        "scope": span.scope,
        "scope_path": span.scope_path,
        "path": trace.path_str(span),
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "status": span.status,
        "error": span.error,
    }


def _delegation_dict(trace: Trace, span: Span) -> dict[str, Any]:
    out = _span_dict(trace, span)
    out.update(
        from_agent=span.from_agent,
        to_agent=span.to_agent,
        objective=span.attributes.get("objective"),
        allowed_tools=span.attributes.get("allowed_tools"),
        context=span.context,
    )
    return out


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
