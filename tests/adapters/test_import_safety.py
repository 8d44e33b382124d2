"""``agenttrace import`` on hostile and odd input: nothing secret gets out, whatever is written is valid.

The properties are checked on the real corpora, mutated: each format's
records, with values replaced, keys renamed or removed, and a secret planted.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_agenttrace.adapters import importing
from pytest_agenttrace.adapters.importing import import_trace, iso_from_unix_ns, unix_ns_from_iso
from pytest_agenttrace.adapters.otlp import encode_any_value, to_otlp
from pytest_agenttrace.cli import main
from pytest_agenttrace.exceptions import TraceFileError
from pytest_agenttrace.model import Trace
from pytest_agenttrace.store import load_trace

from .corpora import LANGFUSE, TAU_RUNS, WHO_AND_WHEN

S = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj"
S2 = "sk-proj-Zy9xWv8uTs7rQp6oNm5lKj4iHg3fEd2cBa1zYx0wVu"
HIDDEN = "hunter2-Qz8vLw3mPx7"  # a secret nothing but the key it is under gives away
AGENTS_EXPORT = Path(__file__).parent / "data" / "openai_agents_export.json"
TRACE_HEX = "5b8efff798038103d269b633813fc60c"


def leaks(text: str, secret: str = S) -> bool:
    """Whether ``text`` shows ``secret``, or 12 characters of it in a row, in any letter case."""
    lowered = text.lower()
    return any(secret[i : i + 12].lower() in lowered for i in range(len(secret) - 11))


# -- running the command line, everything it says captured ---------------------------


class Run:
    """One ``agenttrace import`` in this process: exit code, stdout, stderr, log and written files."""

    def __init__(self, code: int, out: str, err: str, log: str, files: dict[str, str]) -> None:
        self.code, self.out, self.err, self.log, self.files = code, out, err, log, files

    def everything(self) -> str:
        return "\n".join([self.out, self.err, self.log, *self.files.values()])


def run_import(document: Any, *args: str, raw: bytes | None = None) -> Run:
    """Write ``document`` (or ``raw`` bytes) to a file and import it with ``-o DIR/``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.json"
        path.write_bytes(raw if raw is not None else json.dumps(document).encode())
        out_dir = Path(tmp) / "out"
        stdout, stderr, log = io.BytesIO(), io.StringIO(), io.StringIO()
        handler = logging.StreamHandler(log)
        logger = logging.getLogger("pytest_agenttrace")
        logger.addHandler(handler)
        saved = sys.stdout, sys.stderr
        wrapper = io.TextIOWrapper(stdout, encoding="utf-8")
        sys.stdout, sys.stderr = wrapper, stderr
        try:
            code = main(["import", str(path), *args, "-o", f"{out_dir}/"])
        finally:
            sys.stdout, sys.stderr = saved
            logger.removeHandler(handler)
            wrapper.flush()
            wrapper.detach()  # closing the wrapper would close the buffer read below
        files = {p.name: p.read_text(encoding="utf-8") for p in sorted(out_dir.glob("*.json"))}
        for name in files:
            load_trace(out_dir / name, validate=True)  # what import writes, agenttrace reads
        return Run(code, stdout.getvalue().decode("utf-8"), stderr.getvalue(), log.getvalue(), files)


def written(run: Run) -> list[dict[str, Any]]:
    assert run.code == 0, run.err
    return [json.loads(text) for text in run.files.values()]


# -- one small document per format, from the corpora ---------------------------------


def _attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": encode_any_value(value)} for key, value in values.items()]


def foreign_otlp(spans: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Three GenAI spans (agent, llm, failing tool with an event and a link), or ``spans``."""
    base = 1_750_000_000_000_000_000
    default = [
        {
            "traceId": TRACE_HEX,
            "spanId": "00f067aa0ba902b7",
            "parentSpanId": "",
            "name": "invoke_agent weather",
            "startTimeUnixNano": str(base),
            "endTimeUnixNano": str(base + 5000),
            "attributes": _attrs({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather"}),
        },
        {
            "traceId": TRACE_HEX,
            "spanId": "00f067aa0ba902b8",
            "parentSpanId": "00f067aa0ba902b7",
            "name": "chat gpt-4o",
            "startTimeUnixNano": str(base + 1000),
            "endTimeUnixNano": str(base + 2000),
            "attributes": _attrs({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3}),
            "links": [{"traceId": TRACE_HEX, "spanId": "00f067aa0ba902b7"}],
        },
        {
            "traceId": TRACE_HEX,
            "spanId": "00f067aa0ba902b9",
            "parentSpanId": "00f067aa0ba902b7",
            "name": "execute_tool get_weather",
            "startTimeUnixNano": str(base + 2000),
            "endTimeUnixNano": str(base + 3000),
            "attributes": _attrs({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"}),
            "events": [{"name": "retry", "timeUnixNano": str(base + 2500), "attributes": _attrs({"n": 2})}],
            "status": {"code": 2, "message": "too slow"},
        },
    ]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs({"service.name": "svc"})},
                "scopeSpans": [{"scope": {"name": "x"}, "spans": default if spans is None else spans}],
            }
        ]
    }


def native_otlp(span_attrs: dict[str, Any] | None = None) -> dict[str, Any]:
    """agenttrace's own export of a short run; ``span_attrs`` overrides the first span's own attributes."""
    document = _native_export()
    if span_attrs:
        first = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        kept = [item for item in first["attributes"] if item["key"] not in span_attrs]
        first["attributes"] = kept[:1] + _attrs(span_attrs) + kept[1:]
    return document


def _native_export() -> dict[str, Any]:
    trace = import_trace(LANGFUSE / "openai-agents-2025-09-30.json", "langfuse")
    assert isinstance(trace, Trace)
    document: dict[str, Any] = json.loads(json.dumps(to_otlp(trace)))
    return document


@functools.cache
def _bases() -> dict[str, list[Any]]:
    langfuse = [
        json.loads((LANGFUSE / f"{stem}.json").read_text()) for stem in ("openai-agents-2025-09-30", "koog-2025-08-26")
    ]
    who = json.loads((WHO_AND_WHEN / "Hand-Crafted" / "1.json").read_text())
    who["history"] = who["history"][:8]
    tau = json.loads(TAU_RUNS.read_text())[0]
    tau["traj"] = tau["traj"][:8]
    return {
        "langfuse": langfuse,
        "openai-agents": [json.loads(AGENTS_EXPORT.read_text())],
        "otlp": [foreign_otlp(), _native_export()],
        "messages": [who, [tau], {"messages": tau["traj"]}],
    }


def base_documents(fmt: str) -> list[Any]:
    return copy.deepcopy(_bases()[fmt])


# -- mutations -----------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "99999999999999999999999",
    "-62135596800000000001",
    "NaN",
    "2025-01-01T00:00:00Z",
    "{}",
    "[]",
    "agent",
    "agenttrace.kind",
    "application/json",
    "\x1b[31m",
    S,
    f"id-{S}",
]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**64, -(2**63) - 1, 10**23, -(10**20)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(ODD_STRINGS)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


def slots(document: Any, depth: int | None = None) -> list[tuple[Any, Any]]:
    """Every (container, key) of ``document``, depth first; only those ``depth`` levels down when given."""
    found: list[tuple[Any, Any]] = []
    stack = [(document, 1)]
    while stack:
        value, level = stack.pop()
        pairs = (
            list(value.items())
            if isinstance(value, dict)
            else list(enumerate(value))
            if isinstance(value, list)
            else []
        )
        for key, item in pairs:
            if depth is None or level == depth:
                found.append((value, key))
            stack.append((item, level + 1))
    return found


ODD_VALUES = [*ODD_STRINGS, None, True, 0, -1, 10**23, -(10**20), 2**64, 1.5, [], {}, [None], {"a": None}]


def records(document: Any) -> list[dict[str, Any]]:
    """The objects of ``document`` that stand for one record, in any of the formats.

    Observations and their trace, exported SDK spans and their ``span_data``,
    OTLP spans and the value objects of our own attributes (``agenttrace.span_id``
    and the rest), messages and their tool calls: where the fields that
    importers read are.
    """
    found: list[dict[str, Any]] = []
    for container, key in slots(document):
        item = container[key]
        if not isinstance(item, dict):
            continue
        named = key in ("trace", "span_data", "function") or (
            key == "value" and str(container.get("key", "")).startswith(("agenttrace.", "input.", "output."))
        )
        if named or (isinstance(key, int) and {"spanId", "role", "object", "startTime", "traj"} & item.keys()):
            found.append(item)
    return found


#: The fields every format's importer reads ids, parents and times from: a field mutation picks one of
#: these (when the record has it) as often as any of the record's fields.
KEY_FIELDS = (
    "id", "parentObservationId", "startTime", "endTime", "trace_id", "parent_id", "started_at", "ended_at",
    "spanId", "parentSpanId", "traceId", "startTimeUnixNano", "endTimeUnixNano", "stringValue", "role", "name",
    "type", "tool_call_id",
)  # fmt: skip

# A mutation sets a record's field (most bugs are there) or any slot of the document: for those, how deep
# it is is drawn first, since shallow levels are the records' own fields and a uniform pick over all slots
# would spend most draws inside payloads.
field_mutation = st.tuples(
    st.just("field"),
    st.integers(min_value=0),
    st.integers(min_value=0),
    st.sampled_from(ODD_VALUES) | st.sampled_from(ODD_VALUES) | json_values,
)
slot_mutation = st.tuples(
    st.sampled_from(["value", "value", "key", "delete"]),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=0),
    json_values,
)
mutations = st.lists(field_mutation | field_mutation | slot_mutation, min_size=1, max_size=4)


def mutate(document: Any, changes: list[tuple[str, int, int, Any]]) -> Any:
    for how, first, second, value in changes:
        if how == "field":
            found = [record for record in records(document) if record]
            if found:
                record = found[first % len(found)]
                keys = [key for key in KEY_FIELDS if key in record] if second % 2 else []
                keys = keys or sorted(record)
                record[keys[second // 2 % len(keys)]] = value
            continue
        places = slots(document, first) or slots(document)
        if not places:
            return document
        container, key = places[second % len(places)]
        if how == "value":
            container[key] = value
        elif how == "delete":
            del container[key]
        elif isinstance(container, dict):
            # a drawn string becomes the key whole: cut short, a planted secret would be a fragment
            # the input never held in full, which no redaction can tell from other text
            container[value if isinstance(value, str) else str(value)[:20]] = container.pop(key)
        else:
            container.insert(key, value)
    return document


def plant(document: Any, index: int, how: str, secret: str = S) -> Any:
    """``secret`` written into one string of ``document`` (a value or a key), replacing or inside it.

    ``how="object"`` replaces any value with ``{"api_key": HIDDEN}`` instead: a
    secret only its key tells apart (text redaction cannot see it).
    """
    if how == "object":
        places = slots(document)
        assume(places)
        container, key = places[index % len(places)]
        container[key] = {"api_key": HIDDEN}
        return document
    places = [
        (container, key)
        for container, key in slots(document)
        if isinstance(container[key], str) or isinstance(key, str)
    ]
    assume(places)  # a mutation may have left no string at all
    container, key = places[index % len(places)]
    if isinstance(key, str) and (how == "key" or not isinstance(container[key], str)):
        container[f"{key}{secret}" if key else secret] = container.pop(key)
        return document
    text = container[key]
    planted = {"replace": secret, "prefix": secret + text, "suffix": text + " " + secret}.get(how, secret)
    container[key] = planted
    return document


FORMATS = ["langfuse", "openai-agents", "otlp", "messages"]


# -- the properties --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@given(data=st.data())
def test_property_whatever_an_importer_accepts_is_a_valid_trace_file(fmt: str, data: st.DataObject) -> None:
    documents = base_documents(fmt)
    document = mutate(documents[data.draw(st.integers(0, len(documents) - 1))], data.draw(mutations))
    run = run_import(document, "--from", fmt)  # run_import loads every written file with validate=True
    assert run.code in (0, 2), run.err
    assert "Traceback" not in run.err
    if run.code == 2:
        assert run.err.startswith("agenttrace import: error: ") and run.err.count("\n") == 1
        assert not run.files
    else:
        assert run.files


@pytest.mark.parametrize("fmt", FORMATS)
@given(
    data=st.data(),
    index=st.integers(min_value=0),
    how=st.sampled_from(["replace", "prefix", "suffix", "key", "object"]),
)
def test_property_a_secret_planted_anywhere_never_reaches_the_output_stdout_stderr_or_log(
    fmt: str, data: st.DataObject, index: int, how: str
) -> None:
    documents = base_documents(fmt)
    document = documents[data.draw(st.integers(0, len(documents) - 1))]
    if data.draw(st.booleans()):
        document = mutate(document, data.draw(mutations))
    document = plant(document, index, how)
    assert (HIDDEN if how == "object" else S) in json.dumps(document)
    run = run_import(document, "--from", fmt, "--validate")
    assert run.code in (0, 2), run.err
    assert not leaks(run.everything()) and not leaks(run.everything(), HIDDEN)


def test_a_secret_inside_a_key_that_names_a_secret_is_redacted() -> None:
    attributes = _attrs({"agenttrace.kind": "tool", "agenttrace.attributes": {f"{S}.token": "x"}})
    run = run_import(foreign_otlp([{"traceId": TRACE_HEX, "spanId": "00f067aa0ba902b7", "name": "a",
                                    "startTimeUnixNano": "1", "attributes": attributes}]))  # fmt: skip
    assert run.code == 0 and not leaks(run.everything())


# -- secrets in ids, warnings and errors (the audit's repros) ------------------------------


def langfuse_with_secret_ids() -> dict[str, Any]:
    return {
        "trace": {"id": "t1", "name": "run"},
        "observations": [
            {
                "id": f"o-{S}",
                "type": "SPAN",
                "parentObservationId": f"p-{S}",
                "startTime": "2025-01-01T00:00:00Z",
                "endTime": "2025-01-01T00:00:01Z",
                "name": "a",
            },
            {"id": "o2", "type": "SPAN", "startTime": f"bad {S}", "name": "b"},
        ],
    }


SECRET_REPROS = {
    "langfuse": langfuse_with_secret_ids(),
    "otlp-foreign": foreign_otlp(
        [
            {
                "traceId": S,
                "spanId": S.upper(),
                "parentSpanId": f"p-{S}",
                "name": "a",
                "startTimeUnixNano": "1",
                "links": [{"spanId": S}],
            },
            {"traceId": S, "spanId": "00f067aa0ba902b9", "name": "b", "startTimeUnixNano": f"x{S}"},
        ]
    ),
    "otlp-native": native_otlp({"agenttrace.span_id": S, "agenttrace.kind": f"kind {S}", "agenttrace.scope": S}),
    "openai-agents": [
        {
            "object": "trace.span",
            "id": S,
            "trace_id": S,
            "started_at": "2025-01-01T00:00:00Z",
            "span_data": {"type": "custom", "name": "a"},
        },
        {"object": "trace.span", "id": f"x{S}", "trace_id": S, "started_at": "x", "span_data": {"type": "x"}},
    ],
    "messages": {"messages": [{"role": "tool", "tool_call_id": S, "content": "done"}]},
}


@pytest.mark.parametrize("case", SECRET_REPROS, ids=str)
def test_secrets_in_ids_warnings_and_errors_are_redacted(case: str) -> None:
    run = run_import(SECRET_REPROS[case])
    assert run.code == 0, run.err
    assert not leaks(run.everything())
    assert "[REDACTED]" in run.log


def test_a_file_with_only_secret_bad_records_exits_2_without_the_secret() -> None:
    run = run_import([{"object": "trace.span", "id": S, "span_data": "x"}])
    assert run.code == 2
    assert "holds no span that could be imported (span '[REDACTED]' skipped" in run.err
    assert not leaks(run.everything())


def test_the_command_line_itself_prints_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "lf_leak.json"
    path.write_text(json.dumps(langfuse_with_secret_ids()))
    done = subprocess.run(
        [sys.executable, "-m", "pytest_agenttrace.cli", "import", str(path), "-o", str(tmp_path / "out.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[REDACTED]" in done.stderr
    assert not leaks(done.stdout + done.stderr + (tmp_path / "out.json").read_text())


def test_ids_redact_consistently_so_parentage_and_links_survive() -> None:
    observations = [
        {"id": f"root-{S}", "type": "AGENT", "startTime": "2025-01-01T00:00:00Z", "name": "boss"},
        {"id": f"kid-{S}", "parentObservationId": f"root-{S}", "type": "TOOL", "startTime": "2025-01-01T00:00:01Z"},
        {"id": f"kid-{S2}", "parentObservationId": f"root-{S}", "type": "TOOL", "startTime": "2025-01-01T00:00:02Z"},
        {
            "id": "kid-[REDACTED]",
            "parentObservationId": f"kid-{S2}",
            "type": "SPAN",
            "startTime": "2025-01-01T00:00:03Z",
        },
    ]
    [trace] = written(run_import({"trace": {"id": "t"}, "observations": observations}))
    spans = {span["span_id"]: span for span in trace["spans"]}
    assert set(spans) == {"root-[REDACTED]", "kid-[REDACTED]", "kid-[REDACTED]~2", "kid-[REDACTED]~3"}
    # The file's own "kid-[REDACTED]" keeps its id; the redacted ids are made distinct from it.
    assert spans["kid-[REDACTED]"]["parent_id"] == "kid-[REDACTED]~3"
    assert spans["kid-[REDACTED]~2"]["parent_id"] == spans["kid-[REDACTED]~3"]["parent_id"] == "root-[REDACTED]"
    assert {span["agent"] for span in spans.values()} == {"boss"}


def test_native_ids_links_and_scopes_redact_alike() -> None:
    def span(span_id: str, parent: str | None, kind: str, start: int, **fields: Any) -> dict[str, Any]:
        return {
            "span_id": span_id, "parent_id": parent, "kind": kind, "name": span_id[:4], "agent": None,
            "scope": None, "scope_path": [], "start_ns": start, "end_ns": 100, "status": "ok", "error": None,
            "input": None, "output": None, "attributes": {}, "versions": {}, "context": None, "links": [],
            "events": [], **fields,
        }  # fmt: skip

    root, kid = f"root-{S}", f"kid-{S2}"
    spans = [
        span(root, None, "delegation", 0),
        span(kid, root, "tool", 1, scope=root, scope_path=[root], links=[root]),
        span("ok", kid, "tool", 2, scope=root, scope_path=[root], links=[kid, "elsewhere"]),
    ]
    top = {"format_version": 1, "trace_id": S, "name": "n", "started_at": "2026-01-01T00:00:00Z", "metadata": {}}
    unclean = Trace.from_dict({**top, "versions": {}, "spans": spans})
    [trace] = written(run_import(to_otlp(unclean)))  # to_otlp copies as given: the import cleans
    assert [(s["span_id"], s["parent_id"], s["scope"], s["scope_path"], s["links"]) for s in trace["spans"]] == [
        ("root-[REDACTED]", None, None, [], []),
        ("kid-[REDACTED]", "root-[REDACTED]", "root-[REDACTED]", ["root-[REDACTED]"], ["root-[REDACTED]"]),
        ("ok", "kid-[REDACTED]", "root-[REDACTED]", ["root-[REDACTED]"], ["kid-[REDACTED]", "elsewhere"]),
    ]
    assert trace["trace_id"] == "[REDACTED]"


def test_ids_too_long_for_a_value_are_shortened_and_stay_distinct() -> None:
    long_a, long_b = "a" * 4999 + "x", "a" * 4999 + "y"
    observations = [
        {"id": long_a, "type": "AGENT", "startTime": "2025-01-01T00:00:00Z", "name": "boss"},
        {"id": long_b, "parentObservationId": long_a, "type": "TOOL", "startTime": "2025-01-01T00:00:01Z"},
        {"id": "c", "parentObservationId": long_b, "type": "TOOL", "startTime": "2025-01-01T00:00:02Z"},
    ]
    [trace] = written(run_import({"trace": {"id": "t"}, "observations": observations}))
    first, second, third = trace["spans"]
    assert len(first["span_id"]) < 4100 and first["span_id"] != second["span_id"]
    assert (second["parent_id"], third["parent_id"]) == (first["span_id"], second["span_id"])


def test_validate_errors_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_agenttrace import store

    def reject(data: Any, *, where: str = "<trace>") -> None:
        raise TraceFileError(f"does not match the trace schema at spans/0: {S!r} is not valid.", path=where)

    monkeypatch.setattr(store, "validate_trace_dict", reject)
    run = run_import(langfuse_with_secret_ids(), "--validate")
    assert run.code == 2 and "does not match the trace schema" in run.err
    assert not leaks(run.everything())


def test_warnings_quote_values_cleaned_before_they_are_shortened() -> None:
    long_prefix = "x" * 40
    observations = [
        {"id": "a", "type": "SPAN", "startTime": "2025-01-01T00:00:00Z"},
        {"id": "b", "type": "SPAN", "startTime": f"{long_prefix} {S}"},  # S starts past the quote's width
        {"id": {"api_key": "hunter2-hunter2"}, "type": "SPAN", "startTime": 5},
    ]
    run = run_import({"trace": {"id": "t"}, "observations": observations})
    assert run.code == 0
    assert not leaks(run.everything()) and "hunter2" not in run.everything()
    assert "observation #1 (id 'b') skipped: startTime 'xxx" in run.log


# -- times out of datetime's range ---------------------------------------------------------

OUT_OF_RANGE = {
    "openai-agents": [
        {
            "object": "trace.span",
            "id": "s1",
            "trace_id": "trace_1",
            "parent_id": None,
            "started_at": "0001-01-01T00:00:00+14:00",
            "ended_at": "0001-01-01T00:00:01+14:00",
            "span_data": {"type": "custom", "name": "a"},
            "error": None,
        }
    ],
    "langfuse": {
        "trace": {"id": "t1", "name": "run"},
        "observations": [{"id": "o1", "type": "SPAN", "startTime": "0001-01-01T00:00:00+14:00", "name": "a"}],
    },
    "otlp-late": foreign_otlp(
        [
            {
                "traceId": TRACE_HEX,
                "spanId": "00f067aa0ba902b7",
                "name": "a",
                "startTimeUnixNano": "99999999999999999999999",
            }
        ]
    ),
    "otlp-early": foreign_otlp(
        [
            {
                "traceId": TRACE_HEX,
                "spanId": "00f067aa0ba902b7",
                "name": "a",
                "startTimeUnixNano": "-62135596800000000001",
            }
        ]
    ),
}


@pytest.mark.parametrize("case", OUT_OF_RANGE, ids=str)
def test_a_time_outside_years_1_to_9999_is_clamped_with_a_warning(case: str) -> None:
    run = run_import(OUT_OF_RANGE[case])
    [trace] = written(run)
    assert "outside the years 1 to 9999 (UTC); its times were clamped" in run.log
    assert trace["started_at"] in ("0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z")
    assert unix_ns_from_iso(trace["started_at"]) is not None
    assert any("clamped" in note for note in trace["metadata"]["import_warnings"])


@pytest.mark.parametrize(
    ("far", "started"),
    [
        ("99999999999999999999999", "2025-06-15T15:06:40."),
        (str(2**64), "2025-06-15T15:06:40."),
        ("-62135596800000000001", "1879-04-26T"),  # 146 years before the run's middle
        (str(-(2**64)), "1879-04-26T"),
    ],
)
def test_one_span_centuries_away_is_clamped_near_the_run(far: str, started: str) -> None:
    document = foreign_otlp()
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[2]["startTimeUnixNano"] = spans[2]["endTimeUnixNano"] = far
    run = run_import(document)
    [trace] = written(run)  # start_ns fits a 64-bit integer, or load_trace would have refused it
    assert "over 146 years away from the rest of the run; its times were clamped" in run.log
    assert trace["started_at"].startswith(started)
    first, second = (span for span in trace["spans"] if span["name"] != "get_weather")
    assert second["start_ns"] - first["start_ns"] == 1000  # the other spans keep their times


def test_iso_from_unix_ns_clamps_and_pads_the_year() -> None:
    assert iso_from_unix_ns(-(10**30)) == "0001-01-01T00:00:00.000000Z"
    assert iso_from_unix_ns(10**30) == "9999-12-31T23:59:59.999999Z"
    early = unix_ns_from_iso("0037-01-06T03:06:40Z")
    assert early is not None and iso_from_unix_ns(early) == "0037-01-06T03:06:40.000000Z"


# -- empty ids ---------------------------------------------------------------------------

EMPTY_IDS = {
    "langfuse": {
        "trace": {"id": "t1", "name": "run", "timestamp": "2025-09-30T09:03:59.962Z"},
        "observations": [
            {
                "id": "",
                "traceId": "t1",
                "type": "SPAN",
                "parentObservationId": None,
                "startTime": "2025-09-30T09:03:59.962Z",
                "endTime": "2025-09-30T09:04:00.000Z",
                "name": "a",
            },
            {"id": "", "type": "SPAN", "startTime": "2025-09-30T09:04:00Z", "name": "b"},
        ],
    },
    "openai-agents": [
        {
            "object": "trace.span",
            "id": "",
            "trace_id": "t",
            "started_at": "2025-01-01T00:00:00Z",
            "span_data": {"type": "custom"},
        }
    ],
    "otlp": native_otlp({"agenttrace.span_id": ""}),
}


@pytest.mark.parametrize("case", EMPTY_IDS, ids=str)
def test_an_empty_span_id_is_replaced_with_a_warning(case: str) -> None:
    run = run_import(EMPTY_IDS[case])
    [trace] = written(run)  # and load_trace(validate=True) read it
    assert "has an empty id; it was given the id 'imported-1'" in run.log
    ids = [span["span_id"] for span in trace["spans"]]
    assert "" not in ids and "imported-1" in ids and len(set(ids)) == len(ids)


def test_show_reads_what_import_wrote_from_an_empty_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps(EMPTY_IDS["langfuse"]))
    assert main(["import", str(path), "-o", str(tmp_path / "out.json")]) == 0
    assert main(["show", str(tmp_path / "out.json")]) == 0
    assert "2 spans" in capsys.readouterr().out


# -- deep nesting ------------------------------------------------------------------------


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": value}
    return value


def nested_json(levels: int) -> str:
    """:func:`nested` as JSON text (``json.dumps`` itself recurses too deep for it)."""
    return '{"a": ' * levels + '"bottom"' + "}" * levels


def test_deeply_nested_langfuse_values_are_cut_with_a_marker() -> None:
    # The sanitizer cuts the value at its depth limit (with a marker in the value): nothing to warn about.
    observation = '{"id": "a", "type": "SPAN", "startTime": "2025-01-01T00:00:00Z", "input": ' + nested_json(1010) + "}"
    run = run_import(None, raw=f'{{"trace": {{"id": "t"}}, "observations": [{observation}]}}'.encode())
    [trace] = written(run)
    assert run.code == 0 and "nested deeper than" in json.dumps(trace["spans"][0]["input"])


def test_deeply_nested_who_and_when_labels_are_cut_with_a_marker() -> None:
    text = '{"history": [{"role": "user", "content": "hi"}], "mistake_reason": ' + nested_json(1010) + "}"
    run = run_import(None, raw=text.encode())
    [trace] = written(run)
    assert run.code == 0 and "nested deeper than" in json.dumps(trace["metadata"]["labels"]["mistake_reason"])


def test_deep_text_that_is_json_is_kept_as_text() -> None:
    deep_json = "[" * 100_000 + "]" * 100_000
    observation = {
        "id": "a",
        "type": "SPAN",
        "startTime": "2025-01-01T00:00:00Z",
        "metadata": deep_json.replace("[", "{", 1),
    }
    [trace] = written(run_import({"trace": {"id": "t"}, "observations": [observation]}))
    assert len(trace["spans"]) == 1
    tau = {"task_id": 1, "traj": deep_json}
    run = run_import([tau], "--from", "messages")
    assert run.code == 2 and "holds no span" in run.err and "not JSON (or is nested too deeply)" in run.err


def test_cut_deep_values_walks_any_depth_without_recursion() -> None:
    document = {"x": [nested(5000)]}
    cut = importing._cut_deep_values(document, 10)
    assert len(cut) == 1 and cut[0] == "x[0].a.a.a.a…(10 levels down)"
    assert json.dumps(document).count("nested deeper than 10 levels") == 1


# -- secrets under secret-named keys, where text redaction alone cannot see them ------------


def test_names_ids_and_metadata_made_of_objects_keep_key_secrets_redacted() -> None:
    hidden = {"api_key": "hunter2-hunter2", "note": "x"}
    document = {
        "trace": {"id": hidden, "name": hidden, "tags": {"labels": ["a"], "password": "hunter2-hunter2"}},
        "observations": [
            {"id": hidden, "type": "SPAN", "startTime": "2025-01-01T00:00:00Z", "name": hidden, "promptName": "p",
             "promptVersion": hidden},
            {"id": "kid", "parentObservationId": hidden, "type": "SPAN", "startTime": "2025-01-01T00:00:01Z"},
        ],
    }  # fmt: skip
    run = run_import(document)
    [trace] = written(run)
    assert "hunter2" not in run.everything()
    assert trace["metadata"]["tags"] == {"labels": ["a"], "password": "[REDACTED]"}
    root, kid = trace["spans"]
    assert kid["parent_id"] == root["span_id"] == "{'api_key': '[REDACTED]', 'note': 'x'}"


def test_objects_in_sdk_span_names_and_otlp_event_names_keep_key_secrets_redacted() -> None:
    hidden = {"api_key": HIDDEN}
    spans = [
        {"object": "trace.span", "id": "a", "trace_id": "t", "started_at": "2025-01-01T00:00:00Z",
         "span_data": {"type": "agent", "name": hidden}},
        {"object": "trace.span", "id": "b", "trace_id": "t", "started_at": "2025-01-01T00:00:01Z",
         "span_data": {"type": "custom", "data": {"sdk_span_type": hidden}}},
        {"object": "trace.span", "id": "c", "trace_id": "t", "started_at": "2025-01-01T00:00:02Z",
         "span_data": {"type": hidden}},
    ]  # fmt: skip
    run = run_import(spans)
    assert len(written(run)[0]["spans"]) == 3 and not leaks(run.everything(), HIDDEN)
    document = foreign_otlp()
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][2]["events"][0]["name"] = hidden
    run = run_import(document)
    assert written(run)[0]["spans"][2]["events"][0]["name"] == "{'api_key': '[REDACTED]'}"
    assert not leaks(run.everything(), HIDDEN)


def test_session_ids_stay_in_the_metadata() -> None:
    document = {"trace": {"id": "t", "sessionId": "sess-1"}, "observations": EMPTY_IDS["langfuse"]["observations"]}
    [trace] = written(run_import(document))
    assert trace["metadata"]["session_id"] == "sess-1"
