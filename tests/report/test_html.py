"""The HTML page as text: self-contained, escaped, data complete (the browser tests drive it)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.report._samples import (
    example_failure,
    example_violations,
    injection_trace,
    injection_violations,
)
from pytest_agenttrace.report.html import ReportEntry, encode_record, normalize_violation, render_html, write_html
from pytest_agenttrace.sanitize import is_secret_key, redact_text
from pytest_agenttrace.spec import Violation

from .helpers import entries_by_name, read_report

ASSETS = Path(__file__).parents[2] / "pytest_agenttrace" / "report" / "assets"


def example_page() -> str:
    return render_html(
        [
            ReportEntry.from_trace(example_failure(), outcome="failed", violations=example_violations(), duration=1.5),
            ReportEntry.from_trace(injection_trace(), outcome="passed", violations=injection_violations()),
            ReportEntry(name="tests/test_x.py::test_without_trace", outcome="skipped"),
        ],
        title="demo <b>report</b>",
    )


def test_page_is_self_contained() -> None:
    page = example_page()
    markup = re.sub(r"(<script[^>]*>).*?</script>", r"\1</script>", page, flags=re.S)  # tags only
    assert "<link" not in markup
    assert not re.search(r"""\b(src|href)\s*=""", markup)  # nothing is loaded from anywhere
    assert "http://" not in page and "https://" not in page
    assert page.count("<script>") == 1  # the page's own script, inlined
    assert page.count("<style>") == 1


def test_csp_allows_only_the_inlined_script_and_style() -> None:
    page = example_page()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    for text in (script, style):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy


def test_title_is_escaped() -> None:
    assert "<title>demo &lt;b&gt;report&lt;/b&gt;</title>" in example_page()


def test_assets_cannot_close_their_own_element() -> None:
    assets = [p for p in ASSETS.rglob("*") if p.is_file()]
    assert len(assets) >= 2
    for asset in assets:
        assert "</" not in asset.read_text(encoding="utf-8"), asset.name


def test_index_lists_every_entry_with_outcome_and_summary() -> None:
    entries = entries_by_name(example_page())
    failing = entries["tests/test_refactor.py::test_rename_pipeline"]
    assert failing["outcome"] == "failed"
    assert failing["duration"] == 1.5
    assert failing["summary"] == {
        "spans": 27,
        "agents": 6,
        "errors": 1,
        "violations": 8,
        "snapshot_diffs": 0,
        "trace_name": "tests/test_refactor.py::test_rename_pipeline",
    }
    assert entries["tests/test_x.py::test_without_trace"]["data"] is None
    assert entries["tests/test_x.py::test_without_trace"]["outcome"] == "skipped"


def test_unknown_outcomes_are_shown_as_unknown() -> None:
    index, _ = read_report(render_html([ReportEntry(name="x", outcome="<weird>")]))
    assert index["entries"][0]["outcome"] == "unknown"


def test_record_carries_the_trace_without_default_fields() -> None:
    trace = example_failure()
    data = encode_record(trace)
    payload = json.loads(data["json"])["trace"]
    assert [s["span_id"] for s in payload["spans"]] == [s.span_id for s in trace.spans]
    root = payload["spans"][0]
    assert "parent_id" not in root and "status" not in root and "links" not in root  # defaults left out
    full = {**dict.fromkeys(("parent_id", "agent", "scope", "error", "input", "output", "context")), "status": "ok"}
    for span, original in zip(payload["spans"], trace.spans):
        restored = {
            **full,
            "scope_path": [],
            "attributes": {},
            "versions": {},
            "links": [],
            "events": [],
            **span,
        }
        assert restored == original.to_dict()


def test_violations_are_normalised_from_spec_objects() -> None:
    found = {
        v["rule"]: v
        for v in json.loads(encode_record(example_failure(), violations=example_violations())["json"])["violations"]
    }
    storm = found["retry_storm"]
    assert storm["spans"] == ["6", "8", "10", "12"]
    assert storm["detector"] == "retry_storm"
    assert storm["expected"] == "at most 3 identical calls"
    assert storm["details"]["count"] == 4 and "detector" not in storm["details"]
    assert found["cascading_error"]["chain"][:2] == ["13", "16"]
    assert found["tester-gets-confidence"]["detector"] is None  # a plain rule, not a detector


@pytest.mark.parametrize(
    ("violation", "spans", "detector"),
    [
        ({"rule": "r", "message": "m", "spans": ["1", 2]}, ["1", "2"], None),
        ({"rule": "r", "message": "m", "spans": [{"span_id": "7", "path": "a > b"}, {"id": 8}]}, ["7", "8"], None),
        ({"rule": "deadlock", "message": "m", "kind": "detect"}, [], "deadlock"),
        ({"rule": "x", "message": "m", "details": {"detector": "tool_loop"}}, [], "tool_loop"),
        (Violation(rule="v", message="m", spans=("3",), kind="forbid"), ["3"], None),
        (ValueError("odd"), [], None),
    ],
)
def test_normalize_violation(violation: object, spans: list[str], detector: str | None) -> None:
    out = normalize_violation(violation)
    assert out["spans"] == spans
    assert out["detector"] == detector
    assert out["message"]


def test_snapshot_diffs_travel_as_given() -> None:
    diff = {
        "test": "t",
        "version_changes": [{"key": "prompt:a", "old": "a@v1#1", "new": "a@v2#2", "text": "prompt a v1 -> v2"}],
        "golden": {"spans": []},
        "actual": {"spans": []},
        "changes": [],
    }
    record = encode_record(example_failure(), snapshot_diffs=[diff])
    assert record["summary"]["snapshot_diffs"] == 1
    assert json.loads(record["json"])["snapshot_diffs"] == [diff]


def test_non_finite_numbers_do_not_break_the_page_data() -> None:
    trace = Trace(
        trace_id="t",
        name="n",
        started_at="",
        spans=(Span(span_id="1", parent_id=None, kind="llm", name="x", attributes={"confidence": float("nan")}),),
    )
    _, records = read_report(render_html([ReportEntry.from_trace(trace)]))
    assert records[0]["trace"]["spans"][0]["attributes"]["confidence"] in ("nan", None)  # orjson writes null


def test_injection_cannot_leave_the_data_blocks() -> None:
    page = example_page()
    # Every element that can run code or load something is the page's own.
    assert page.count("<script") == 1 + 1 + 2  # the script, the index and two trace records
    assert page.count("</script>") == 4
    assert "<img" not in page and "<svg" not in page and "<!--" not in page
    blocks = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert len(blocks) == 3
    for block in blocks:
        assert not set(block) & {"<", ">", "&", "\u2028", "\u2029"}
    entries = entries_by_name(page)
    name = injection_trace().name
    assert name in entries  # the hostile test name comes back intact from the escaped JSON
    assert entries[name]["data"]["trace"]["spans"][3]["name"] == "</script>"


# Text the report shows as it is: no secret shape, and keys that name no secret (a generated
# {"TOKEN": ""} is rightly shown as {"TOKEN": "[REDACTED]"}).
_PLAIN_TEXT = st.text().filter(lambda t: redact_text(t) == t)
_PLAIN_KEYS = _PLAIN_TEXT.filter(lambda k: not is_secret_key(k))


@given(_PLAIN_TEXT, st.dictionaries(_PLAIN_KEYS, _PLAIN_TEXT | st.integers() | st.none(), max_size=4))
def test_embedded_json_round_trips_any_text_and_never_holds_markup_characters(text: str, attributes: dict) -> None:
    trace = Trace(
        trace_id="t",
        name=text,
        started_at="",
        spans=(
            Span(span_id="1", parent_id=None, kind="tool", name=text, agent=text, attributes=attributes, input=text),
        ),
    )
    page = render_html([ReportEntry.from_trace(trace, violations=[{"rule": text, "message": text, "spans": ["1"]}])])
    for block in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S):
        assert not set(block) & {"<", ">", "&", "\u2028", "\u2029"}
    index, records = read_report(page)
    assert index["entries"][0]["name"] == text
    span = records[0]["trace"]["spans"][0]
    assert span["name"] == text and span["agent"] == text and span.get("attributes", {}) == attributes
    assert records[0]["violations"][0]["rule"] == (text or "violation")


def test_write_html_writes_the_page(tmp_path: Path) -> None:
    target = write_html(tmp_path / "deep" / "report.html", [ReportEntry.from_trace(example_failure())])
    assert target == tmp_path / "deep" / "report.html"
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temporary file left


def test_empty_report_is_a_valid_page() -> None:
    index, records = read_report(render_html([]))
    assert index["entries"] == [] and records == {}


LEAK = "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"


def test_normalize_violation_redacts_every_text_it_copies() -> None:
    violation = {
        "rule": f"rule-{LEAK}",
        "message": f"tool leak_{LEAK} is forbidden",
        "expected": f"no {LEAK}",
        "found": {"name": f"leak_{LEAK}"},
        "description": f"about {LEAK}",
        "source": f"/specs/{LEAK}.yaml:3",
        "kind": f"kind-{LEAK}",
        "details": {"detector": f"det-{LEAK}", "names": [f"leak_{LEAK}"], "api_key": "hunter2-long-value"},
        "spans": [f"id-{LEAK}"],
        "chain": [{"span_id": f"id-{LEAK}"}],
    }
    out = normalize_violation(violation)
    text = json.dumps(out)
    assert LEAK not in text and "hunter2" not in text
    assert out["message"] == "tool leak_[REDACTED] is forbidden"
    assert out["found"] == '{"name":"leak_[REDACTED]"}'
    assert out["details"] == {"names": ["leak_[REDACTED]"], "api_key": "[REDACTED]"}
    assert out["detector"] == "det-[REDACTED]"
    assert out["spans"] == out["chain"] == ["id-[REDACTED]"]


def test_encode_record_gives_ids_one_redacted_text_in_the_trace_violations_and_selections() -> None:
    other = LEAK[::-1]
    spans = (
        Span(span_id=f"id-{LEAK}", parent_id=None, kind="agent", name="a"),
        Span(span_id=f"id-sk-{other}", parent_id=f"id-{LEAK}", kind="tool", name="b", links=[f"id-{LEAK}"]),
    )
    trace = Trace(trace_id="t", name="t", started_at="", spans=spans)
    violation = {"rule": "r", "message": "m", "spans": [f"id-sk-{other}"], "details": {"origin": f"id-{LEAK}"}}
    record = json.loads(encode_record(trace, violations=[violation], selections={"tool": [f"id-sk-{other}"]})["json"])
    root, tool = record["trace"]["spans"]
    assert root["span_id"] != tool["span_id"]  # both redact to "id-[REDACTED]": told apart
    assert tool["parent_id"] == root["span_id"] and tool["links"] == [root["span_id"]]
    assert record["violations"][0]["spans"] == [tool["span_id"]]
    assert record["violations"][0]["details"] == {"origin": root["span_id"]}
    assert record["selections"][0]["spans"] == [tool["span_id"]]
    assert LEAK not in json.dumps(record) and other not in json.dumps(record)


def test_a_lone_surrogate_is_written_as_an_escape() -> None:
    trace = Trace(
        trace_id="t",
        name="t",
        started_at="",
        spans=(Span(span_id="1", parent_id=None, kind="tool", name="x\ud83d", input={"k\udc00": "\udfff"}),),
    )
    page = render_html([ReportEntry.from_trace(trace, name="n\ud800", message="m\udbff")], title="\ud83d")
    page.encode("utf-8")  # no lone surrogate left: the page can be written
    index, records = read_report(page)
    # The entry's texts and the trace pass through the sanitiser, which writes each lone surrogate as its
    # escape text; the page's own escaping is the guard for whatever would reach it otherwise.
    assert (index["entries"][0]["name"], index["entries"][0]["message"]) == ("n\\ud800", "m\\udbff")
    span = records[0]["trace"]["spans"][0]
    assert span["name"] == "x\\ud83d" and span["input"] == {"k\\udc00": "\\udfff"}


def test_violations_past_the_cap_of_a_rule_keep_only_their_rule_and_spans() -> None:
    from pytest_agenttrace.report.html import MAX_VIOLATION_TEXTS

    many = [Violation(rule="loop", message=f"call {n}", spans=(str(n),), chain=("1", str(n))) for n in range(1500)]
    few = [Violation(rule="other", message="m", spans=("1",))] * 3
    record = encode_record(example_failure(), violations=[*many[:10], *few, *many[10:]])
    assert record["summary"]["violations"] == 1503
    found = json.loads(record["json"])["violations"]
    assert len(found) == 1503
    full = [v for v in found if not v.get("cut")]
    assert len(full) == MAX_VIOLATION_TEXTS + 3 == 1003
    assert [v["message"] for v in full if v["rule"] == "loop"] == [f"call {n}" for n in range(MAX_VIOLATION_TEXTS)]
    cut = [v for v in found if v.get("cut")]
    assert cut[0] == {"rule": "loop", "spans": ["1000"], "chain": ["1", "1000"], "cut": True}
    assert [v["spans"] for v in cut] == [[str(n)] for n in range(1000, 1500)]
