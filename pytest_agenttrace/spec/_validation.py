"""Validating specs against the JSON Schema, with messages a person can act on.

jsonschema finds the errors; :func:`schema_problems` turns each into a
:class:`~pytest_agenttrace.exceptions.SpecError` at the offending key's line
and column, naming the key and what to write instead (the closest valid key
for a misspelling, ``[x]`` for a value that must be a list, the two shapes of
``scope``, ...).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, Final

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from ..exceptions import SpecError
from ._lexer import describe as short_describe
from ._yaml import Doc, PathKey, excerpt, plain
from .rules import RULE_KINDS

__all__ = ["Validators", "describe", "did_you_mean", "schema_problems"]


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


def _is_integer(checker: Any, instance: Any) -> bool:
    """An ``int`` and nothing else: JSON Schema's ``integer`` also accepts ``3.0``, which a slice or a loop cannot use."""
    return isinstance(instance, int) and not isinstance(instance, bool)


# Draft 2020-12 with "integer" meaning a whole number as written (`3`, not `3.0`): a float count bound or
# detector parameter is an error at load time, with its position, not a crash when the rule runs.
_Validator = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)
)


class Validators:
    """Validators derived from the spec schema, so that a rule is checked only against its own kind.

    Validating every rule against ``oneOf`` seven kinds and ``allOf`` one
    ``if``/``then`` per detector made jsonschema the bulk of loading time.
    The derived schemas are mechanical restrictions of :func:`spec_schema`
    (the rule schema with ``required: [id, KIND]`` and, for ``detect``, the
    detector's ``with:`` schema); a rule with no kind or several kinds is
    validated against the full rule schema, which says so.  ``integer``
    accepts only integers as written (``3``, not ``3.0``).
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        defs = schema["$defs"]
        top = {k: v for k, v in schema.items() if k != "properties"}
        top["properties"] = {**schema["properties"], "rules": {"type": "array"}}
        self.document = _Validator(top)
        rule = defs["rule"]
        base = {k: v for k, v in rule.items() if k not in ("oneOf", "allOf")}
        self.full_rule = _Validator({"$schema": schema["$schema"], **rule, "$defs": defs})
        self.by_kind: dict[str, Draft202012Validator] = {}
        self.by_detector: dict[str, Draft202012Validator] = {}
        for kind in RULE_KINDS:
            self.by_kind[kind] = _Validator(
                {"$schema": schema["$schema"], **base, "required": ["id", kind], "$defs": defs}
            )
        for branch in rule.get("allOf", ()):
            name = branch["if"]["properties"]["detect"]["const"]
            properties = {**base["properties"], "with": branch["then"]["properties"]["with"]}
            self.by_detector[name] = _Validator(
                {
                    "$schema": schema["$schema"],
                    **base,
                    "properties": properties,
                    "required": ["id", "detect"],
                    "$defs": defs,
                }
            )

    def iter_errors(self, data: Any) -> list[ValidationError]:
        """The schema errors of a whole spec document, paths from its root."""
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


def schema_problems(doc: Doc, validators: Validators) -> list[SpecError]:
    """Every schema error of ``doc``, as messages that say what to write instead."""
    errors = validators.iter_errors(doc.data)
    unknown_at = {tuple(e.absolute_path) for e in errors if e.validator == "additionalProperties"}
    # A value of the wrong type also "matches" oneOf branches of the form {required: [...]}
    # (they ignore anything but a mapping); its type error says all there is to say.
    typed_at = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    problems: list[SpecError] = []
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator in ("oneOf", "anyOf", "required", "dependentRequired") and path in unknown_at:
            continue  # a misspelt key explains these; report only the misspelling
        if error.validator in ("oneOf", "anyOf") and path in typed_at:
            continue
        if error.validator == "enum" and path[-1:] == ("detect",):
            continue  # reported by _semantic_problems with the closest detector name
        problems.extend(_translate(doc, error, path))
    return problems


def _translate(doc: Doc, error: ValidationError, path: PathKey) -> list[SpecError]:
    where = _where(doc, path)
    v = error.validator
    inst = error.instance
    if v == "additionalProperties" and isinstance(inst, dict):
        allowed = sorted(error.schema.get("properties", {}))
        out = []
        for key in inst:
            if key in allowed:
                continue
            hint = did_you_mean(key, allowed)
            if path[-1:] == ("with",):
                hint += f" (parameters of this detector: {', '.join(allowed) or 'none'})"
            elif not hint:
                hint = f"; valid keys here: {', '.join(allowed)}" if allowed else "; this mapping takes no keys"
            out.append(doc.error(f"{where}: unknown key {excerpt(key)}{hint}", doc.key_at((*path, key))))
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
        if len(path) == 2 and path[0] == "rules":
            return [
                doc.error(
                    f"{where} must be a mapping with an `id` and one rule key ({', '.join(RULE_KINDS)}), "
                    f'got {describe(inst)}; for example `- {{id: no-web-search, forbid: "tool[name=web_search]"}}`',
                    doc.value_at(path),
                )
            ]
        if path[2:] == ("scope",) and path[0] == "rules":
            return [doc.error(f"{where} {_scope_problem(inst)}; got {describe(inst)}", doc.value_at(path))]
        hint = ""
        if "integer" in wanted and isinstance(inst, float) and inst.is_integer():
            hint = f"; write {int(inst)}, not {inst!r}"
        elif "array" in wanted and isinstance(inst, (str, int, float)):
            hint = f"; write [{plain(str(inst), 40)}] for a one-item list"
        elif "string" in wanted and isinstance(inst, (dict, list)):
            hint = "; quote it if it is meant as text"
        return [doc.error(f"{where} must be {names}, got {describe(inst)}{hint}", doc.value_at(path))]
    if v == "enum":
        options = [str(o) for o in error.validator_value]
        hint = did_you_mean(str(inst), options) if isinstance(inst, str) else ""
        return [
            doc.error(f"{where} must be one of {', '.join(options)}; got {describe(inst)}{hint}", doc.value_at(path))
        ]
    if v == "oneOf" and len(path) == 2 and path[0] == "rules" and isinstance(inst, dict):
        kinds = [k for k in RULE_KINDS if k in inst]
        if not kinds:
            message = f"{where} has no rule kind; add exactly one of: {', '.join(RULE_KINDS)}"
        else:
            message = f"{where} has several rule kinds ({', '.join(kinds)}); a rule has exactly one, so split it into {len(kinds)} rules"
        return [doc.error(message, doc.value_at(path))]
    if v == "oneOf" and path[2:] == ("scope",) and path[0] == "rules":
        return [doc.error(f"{where} {_scope_problem(inst)}", doc.value_at(path))]
    if v == "anyOf" and path == ():
        return [doc.error("a spec needs `rules:` (a list of rules) or `extends:` (packs to use)", doc.value_at(()))]
    if v == "anyOf" and path[2:] == ("expect",) and path[0] == "rules":
        return [doc.error(f"{where} needs at least one of count, all, any, none", doc.value_at(path))]
    if v in ("oneOf", "anyOf"):
        return _alternatives(doc, error, path, where)
    if v == "dependentRequired":
        return [
            doc.error(f"{where}: `with:` only goes with `detect:` (detector parameters)", doc.key_at((*path, "with")))
        ]
    if v in ("minItems", "minLength", "minProperties"):
        extra = "; give at least one of min, max, exactly" if path and path[-1] == "count" else ""
        return [doc.error(f"{where} must not be empty{extra}", doc.value_at(path))]
    if v == "minimum":
        return [
            doc.error(f"{where} must be at least {error.validator_value}, got {describe(inst)}", doc.value_at(path))
        ]
    if v == "pattern" and path and path[-1] == "id" and inst == "":
        return [doc.error("rule id must not be empty; write a short name such as no-db-access", doc.value_at(path))]
    if v == "pattern" and path and path[-1] == "id":
        return [doc.error(f"rule id {_clip(inst)} must not contain spaces; use dashes", doc.value_at(path))]
    # Not reached by the shipped schema; jsonschema's words, cut short (they quote the value whole).
    return [doc.error(f"{where}: {plain(error.message, 120)}", doc.value_at(path))]


def _alternatives(doc: Doc, error: ValidationError, path: PathKey, where: str) -> list[SpecError]:
    """A ``oneOf``/``anyOf`` failure in the words of the branch it came closest to.

    ``anyOf: [SCHEMA, {type: null}]`` (a detector parameter that may be null) is
    reported as the problems with ``SCHEMA``, "or null" added to a wrong type.
    """
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    null = {"type": "null"}
    inner = [e for e in error.context or () if not (e.schema_path and _branch(branches, e.schema_path[0]) == null)]
    if null in branches and inner:
        out: list[SpecError] = []
        for sub in inner:
            sub_path = tuple(sub.absolute_path)
            if sub.validator == "type" and sub_path == path:
                wanted = sub.validator_value if isinstance(sub.validator_value, list) else [sub.validator_value]
                names = " or ".join(_TYPE_NAMES.get(str(w), str(w)) for w in wanted)
                inst = error.instance
                hint = (
                    f"; write {int(inst)}, not {inst!r}"
                    if "integer" in wanted and isinstance(inst, float) and inst.is_integer()
                    else ""
                )
                out.append(
                    doc.error(f"{where} must be {names} or null, got {describe(inst)}{hint}", doc.value_at(path))
                )
            else:
                out.extend(_translate(doc, sub, sub_path))
        return out
    if inner:
        # The branch meant is the one whose type the value has ({type: array} for a list); failing that,
        # jsonschema's guess.
        typed = [
            e
            for e in inner
            if e.schema_path
            and "type" in (_branch(branches, e.schema_path[0]) or {})
            and _Validator({"type": _branch(branches, e.schema_path[0])["type"]}).is_valid(error.instance)
        ]
        if typed:
            return [p for e in typed for p in _translate(doc, e, tuple(e.absolute_path))]
        closest = best_match(inner)
        return _translate(doc, closest, tuple(closest.absolute_path))
    return [
        doc.error(
            f"{where} fits more than one of the forms allowed here; keep the keys of one form only",
            doc.value_at(path),
        )
    ]


def _branch(branches: list[Any], index: Any) -> Any:
    return branches[index] if isinstance(index, int) and 0 <= index < len(branches) else None


def _clip(value: Any) -> str:
    """A value as written in a message: at most about 40 characters, control characters escaped."""
    return excerpt(value) if isinstance(value, str) else short_describe(value, limit=40)


_SCOPE_FORMS: Final = (
    ("tool", "only_agents", "the agents that may call the tool"),
    ("agent", "allow_tools", "the tools the agent may call"),
)


def _scope_problem(inst: Any) -> str:
    """What is wrong with a ``scope:`` body: the key its form lacks, a mix of forms, or a wrong type."""
    both = "it takes either {tool, only_agents} (who may call a tool) or {agent, allow_tools} (what an agent may call)"
    if not isinstance(inst, dict):
        return f"must be a mapping; {both}"
    used = [form for form in _SCOPE_FORMS if form[0] in inst or form[1] in inst]
    if len(used) > 1:
        return f"mixes the two forms ({', '.join(sorted(inst))}); {both}, not a mix"
    if not used:
        return f"is empty or has neither form; {both}"
    head, body, meaning = used[0]
    if head not in inst:
        return f"has `{body}` but no `{head}`; add `{head}:` (it takes {{{head}, {body}}})"
    if body not in inst:
        return f"has `{head}` but no `{body}`; add `{body}: [...]` ({meaning})"
    if not isinstance(inst[head], str):
        return f"`{head}` must be a name (a string), got {describe(inst[head])}"
    if not isinstance(inst[body], list) or not all(isinstance(item, str) for item in inst[body]):
        return f"`{body}` must be a list of names, got {describe(inst[body])}"
    return f"is not valid; {both}"


def _where(doc: Doc, path: PathKey) -> str:
    if not path:
        return "top level"
    if path[0] == "rules" and len(path) >= 2 and isinstance(path[1], int):
        rules = doc.data.get("rules")
        raw = rules[path[1]] if isinstance(rules, list) and path[1] < len(rules) else None
        rule_id = raw.get("id") if isinstance(raw, dict) else None
        who = f"rule {excerpt(rule_id)}" if isinstance(rule_id, str) else f"rules[{path[1]}]"
        rest = _dotted(path[2:])
        return f"{who}: {rest}" if rest else who
    return _dotted(path)


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(value: Any) -> str:
    """A value as a person would name it: ``the string 'x'``, ``a list``, ..."""
    if value is None:
        return "null (nothing)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {excerpt(value)}"
    return f"{type(value).__name__} {short_describe(value, limit=40)}"


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """``; did you mean 'X'?`` for the closest option, or an empty string."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
