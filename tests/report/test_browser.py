"""The report page in headless Chromium: renders, links, filters, scales, and executes nothing from a trace."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.report._samples import (
    example_failure,
    example_snapshot_diff,
    example_violations,
    generated_trace,
    injection_trace,
    injection_violations,
)
from pytest_agenttrace.report.html import ReportEntry

from .conftest import OpenedReport

pytestmark = pytest.mark.browser

Opener = Callable[..., OpenedReport]


def example_entry(**extra: Any) -> ReportEntry:
    return ReportEntry.from_trace(
        example_failure(),
        outcome="failed",
        violations=example_violations(),
        message="AssertionError: trace violates spec 'refactor-pipeline': 8 violations",
        duration=2.31,
        **extra,
    )


def span_ids(report: OpenedReport, selector: str) -> list[str]:
    return list(report.page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.dataset.span)"))


def timeline_highlight(report: OpenedReport) -> set[str]:
    return set(
        report.page.evaluate(
            "Array.from(window.agenttrace.view.timeline.highlight).map(i => window.agenttrace.view.model.spans[i].span_id)"
        )
    )


def test_example_failure_renders_tree_timeline_and_violations(open_report: Opener) -> None:
    report = open_report([example_entry(), ReportEntry.from_trace(generated_trace(300), outcome="passed")])
    page = report.page
    assert report.problems() == []
    assert page.text_content(".pill.failed") == "1 failed"
    assert page.text_content(".pill.passed") == "1 passed"
    assert page.locator(".tests tr").count() == 2
    assert page.text_content(".tests tr.current .badge") == "failed"  # a failure opens first
    spans = len(example_failure().spans)
    assert page.locator(".tree .row").count() == spans  # small traces open fully expanded
    assert page.get_attribute(".tree", "data-visible") == str(spans)
    assert page.get_attribute(".tl-scroll canvas", "data-spans") == str(spans)
    assert page.get_attribute(".tl-scroll canvas", "data-lanes") == str(len(example_failure().agents))
    assert page.locator(".violation").count() == 8
    assert page.locator(".violation .tag", has_text="detector").count() == 7  # all but the handoff rule
    flagged = {sid for v in example_violations() for sid in v.spans}
    assert set(span_ids(report, ".tree .row:has(.flag)")) == flagged
    assert report.requests == [report.path.as_uri()]  # nothing else is fetched


def test_clicking_a_violation_highlights_its_spans_and_chain(open_report: Opener) -> None:
    report = open_report([example_entry()])
    page = report.page
    by_rule = {v.rule: v for v in example_violations()}

    page.locator(".violation", has_text="tester-gets-confidence").click()
    assert span_ids(report, ".tree .row.hl") == ["21"]
    assert span_ids(report, ".tree .row.sel") == ["21"]
    assert timeline_highlight(report) == {"21"}
    assert page.locator(".violation.active .rule").text_content() == "tester-gets-confidence"
    assert "handoff" in page.text_content(".details .head")

    cascade = by_rule["cascading_error"]
    page.locator(".violation", has_text="cascading_error").click()
    expected = set(cascade.spans) | set(cascade.chain)
    assert set(span_ids(report, ".tree .row.hl")) == expected
    assert timeline_highlight(report) == expected
    assert page.evaluate("window.agenttrace.view.timeline.chain.length") == len(cascade.chain)

    page.locator(".violation", has_text="context_pollution").locator(".spanref", has_text="memory_read").click()
    assert span_ids(report, ".tree .row.sel") == ["23"]
    assert "Flagged by" in page.text_content(".details")
    assert report.problems() == []


def test_a_collapsed_span_is_revealed_when_its_violation_is_clicked(open_report: Opener) -> None:
    report = open_report([example_entry()])
    page = report.page
    page.click("text=collapse all")
    assert page.get_attribute(".tree", "data-visible") == "1"
    page.locator(".violation", has_text="out_of_scope_tool").click()
    assert "18" in span_ids(report, ".tree .row.hl")
    assert span_ids(report, ".tree .row.sel") == ["18"]


def test_tree_expands_collapses_and_selects_from_the_timeline(open_report: Opener) -> None:
    report = open_report([example_entry()])
    page = report.page
    page.click("text=collapse all")
    page.locator(".tree .row .tog").first.click()
    roots_children = len(example_failure().children("1"))
    assert page.get_attribute(".tree", "data-visible") == str(1 + roots_children)
    page.click("text=expand all")
    assert page.get_attribute(".tree", "data-visible") == str(len(example_failure().spans))

    point = page.evaluate(
        """() => {
          const v = window.agenttrace.view, i = v.model.idx.get('16');
          const box = v.timeline.canvas.getBoundingClientRect();
          return [box.left + v.timeline.x((v.model.start[i] + v.model.end[i]) / 2), box.top + v.timeline.barY(i) + 8];
        }"""
    )
    page.mouse.click(point[0], point[1])
    assert span_ids(report, ".tree .row.sel") == ["16"]
    assert "write_patch" in page.text_content(".details .head")
    assert page.locator(".details button.link", has_text="summarize_findings").count() == 1  # lineage: consumed


def test_search_and_filters(open_report: Opener) -> None:
    report = open_report([example_entry()])
    page = report.page
    trace = example_failure()
    page.fill(".filters input[type=search]", "name:web_*")
    page.press(".filters input[type=search]", "Enter")
    matches = [s.span_id for s in trace.spans if s.name == "web_search"]
    assert page.text_content(".filters .count:last-child") == f"{len(matches)} of {len(trace.spans)} spans match"
    assert set(span_ids(report, ".tree .row.match")) == set(matches)
    assert span_ids(report, ".tree .row.sel") == [matches[0]]

    page.fill(".filters input[type=search]", "kind:tool agent:coder")
    page.press(".filters input[type=search]", "Enter")
    tools = [s.span_id for s in trace.spans if s.kind == "tool" and s.agent == "coder"]
    assert set(span_ids(report, ".tree .row.match")) == set(tools)

    page.fill(".filters input[type=search]", "web_search")  # free text reaches attributes ...
    page.press(".filters input[type=search]", "Enter")
    assert set(span_ids(report, ".tree .row.match")) == {*matches, "3"}  # the delegation allows web_search

    page.fill(".filters input[type=search]", "rate limited")  # ... and outputs
    page.press(".filters input[type=search]", "Enter")
    assert set(span_ids(report, ".tree .row.match")) == {"6", "8", "10", "13"}  # tool outputs, an llm note

    page.fill(".filters input[type=search]", "")
    page.select_option(".filters select[aria-label=status]", "error")
    assert span_ids(report, ".tree .row.match") == ["20"]
    page.select_option(".filters select[aria-label=status]", "")
    assert page.locator(".filters select[aria-label=selector]").count() == 0  # no selectors were given
    page.check(".filters input[type=checkbox]")
    assert set(span_ids(report, ".tree .row.match")) == {sid for v in example_violations() for sid in v.spans}
    assert report.problems() == []


def test_selector_results_filter_the_tree(open_report: Opener) -> None:
    trace = example_failure()
    selections = {
        sel: [s.span_id for s in trace.select(sel)] for sel in ("tool[name=web_search]", "llm[confidence<0.5]")
    }
    report = open_report([ReportEntry.from_trace(trace, selections=selections)])
    page = report.page
    page.select_option(".filters select[aria-label=selector]", label="llm[confidence<0.5] (1)")
    assert span_ids(report, ".tree .row.match") == ["13"]
    page.select_option(".filters select[aria-label=selector]", label="tool[name=web_search] (5)")
    assert set(span_ids(report, ".tree .row.match")) == set(selections["tool[name=web_search]"])
    assert report.problems() == []


def test_snapshot_mismatch_shows_version_changes_first_and_a_side_by_side_tree(open_report: Opener) -> None:
    report = open_report([example_entry(snapshot_diffs=[example_snapshot_diff()])])
    page = report.page
    summary = page.text_content("details.snapshot > summary")
    assert "prompt researcher v3 -> v4" in summary and "4 change(s)" in summary
    page.click("details.snapshot > summary")
    assert page.locator(".version-changes div").first.text_content() == "Version stamps changed since the golden:"
    assert "tool web_search: 1 -> 4 calls under researcher" in page.text_content(".version-changes")
    assert page.locator(".sbs .ln.add").count() == 3  # the three extra searches
    assert page.locator(".sbs .ln.gap").count() == 3  # ... facing gaps on the golden side
    assert page.locator(".sbs .ln.chg").count() == 2  # summarize_findings consumed other outputs
    assert page.locator("ul.changes li").count() == 4
    changed_stamp = page.locator(".entry-head ~ .stamps .stamp.changed")
    assert changed_stamp.count() == 1 and changed_stamp.text_content() == "researcher@v4#9c8b7a61"
    assert report.problems() == []


def test_injection_trace_executes_nothing_and_shows_the_text(open_report: Opener) -> None:
    report = open_report(
        [ReportEntry.from_trace(injection_trace(), outcome="failed", violations=injection_violations())]
    )
    page = report.page
    page.evaluate(
        "() => { window.__pwned = 0; window.alert = window.confirm = window.prompt = () => { window.__pwned = 1; }; }"
    )
    # Touch everything: every row, the violation, hover and click the timeline, search for markup.
    rows = page.locator(".tree .row")
    for number in range(rows.count()):
        rows.nth(number).click()
    page.locator(".violation").first.click()
    box = page.locator(".tl-scroll canvas").bounding_box()
    assert box is not None
    for x in range(160, int(box["width"]) - 10, 60):
        page.mouse.move(box["x"] + x, box["y"] + 40)
        page.mouse.click(box["x"] + x, box["y"] + 40)
    page.fill(".filters input[type=search]", "<script>")
    page.press(".filters input[type=search]", "Enter")

    assert report.dialogs == []
    assert page.evaluate("window.__pwned") == 0
    assert report.problems() == []  # a CSP-blocked inline script would show up here as a console error
    assert page.evaluate("document.scripts.length") == 3  # the page's script, the index and the record
    assert page.evaluate("document.querySelectorAll('img, svg, iframe, object, embed, a, form').length") == 0
    assert page.evaluate("document.querySelectorAll('[onerror], [onload], [onclick]').length") == 0
    assert page.locator(".tree .row").count() == 4
    assert "<script>alert(1)</script>" in page.text_content(".tree")  # shown as text
    assert page.locator(".tree .row.match").count() == 4
    assert "</script>" in page.text_content(".details")
    assert report.requests == [report.path.as_uri()]


def test_large_trace_is_virtualised_and_usable(open_report: Opener) -> None:
    trace = generated_trace(10_000)
    report = open_report([ReportEntry.from_trace(trace, outcome="passed")])
    page = report.page
    assert page.get_attribute(".tl-scroll canvas", "data-spans") == str(len(trace.spans))
    assert int(page.get_attribute(".tree", "data-visible") or 0) <= 3000  # opened partly collapsed
    page.click("text=expand all")
    assert page.get_attribute(".tree", "data-visible") == str(len(trace.spans))
    assert page.locator(".tree .row").count() < 120  # only the rows in view exist
    page.eval_on_selector(".tree", "t => { t.scrollTop = t.scrollHeight; t.dispatchEvent(new Event('scroll')); }")
    page.wait_for_function(
        "last => Array.from(document.querySelectorAll('.tree .row')).some(r => r.dataset.span === last)",
        arg=[s.span_id for s, _ in trace.walk()][-1],
    )
    page.fill(".filters input[type=search]", "kind:llm")
    page.press(".filters input[type=search]", "Enter")
    llm = sum(1 for s in trace.spans if s.kind == "llm")
    assert page.text_content(".filters .count:last-child") == f"{llm} of {len(trace.spans)} spans match"
    assert report.problems() == []


def test_odd_traces_render_without_errors(open_report: Opener) -> None:
    empty = Trace(trace_id="e", name="empty", started_at="", spans=())
    odd = Trace(
        trace_id="o",
        name="odd",
        started_at="",
        spans=(
            Span(span_id="1", parent_id="2", kind="agent", name="a", agent="a", start_ns=5, end_ns=5),
            Span(span_id="2", parent_id="1", kind="no-such-kind", name="b", start_ns=5, end_ns=3),
            Span(span_id="3", parent_id="404", kind="tool", name="orphan", agent="a", links=["nope"]),
            Span(span_id="4", parent_id="4", kind="wait", name="self", agent="a", attributes={"waiting_on": "a"}),
        ),
    )
    violation = {"rule": "r", "message": "m", "spans": ["1", "404"], "chain": ["3", "1"]}
    entries = [
        ReportEntry.from_trace(empty, violations=[violation]),
        ReportEntry.from_trace(odd, violations=[violation]),
        ReportEntry(name="no trace", outcome="error", message="boom"),
    ]
    for number, spans in ((0, 0), (1, 4), (2, None)):
        report = open_report(entries, fragment=f"#t{number}")
        page = report.page
        if spans is not None:
            assert page.get_attribute(".tl-scroll canvas", "data-spans") == str(spans)
            assert page.get_attribute(".tree", "data-visible") == str(spans)  # a parent cycle is cut, not lost
            page.locator(".violation").first.click()
            page.click("text=collapse all")
            page.click("text=expand all")
        else:
            assert page.text_content("#entry .hint") == "This test recorded no trace."
        assert report.problems() == []


def test_screenshot_of_the_example_failure(open_report: Opener, artifacts: Path) -> None:
    report = open_report([example_entry(snapshot_diffs=[example_snapshot_diff()])], viewport=(1400, 1100))
    page = report.page
    page.locator(".violation", has_text="cascading_error").click()
    page.mouse.move(0, 0)
    target = artifacts / "report-example-failure.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 50_000
    docs = os.environ.get("AGENTTRACE_SCREENSHOT")  # refresh the README image: see docs/report.md
    if docs:
        page.set_viewport_size({"width": 1400, "height": 1250})
        page.screenshot(path=docs, full_page=False)
    shutil.copy(report.path, artifacts / "report-example-failure.html")
    assert report.problems() == []


def test_durations_read_as_in_the_terminal(open_report: Opener) -> None:
    from pytest_agenttrace.report.terminal import format_duration

    report = open_report([example_entry()])
    durations = [1, 999, 1_000, 1_234, 999_499, 999_999, 1_000_000, 340_000_000, 999_999_999, 1_250_000_000,
                 59_000_000_000, 59_999_000_000, 88_500_000_000, 119_600_000_000, 125_000_000_000, 3_600_000_000_000,
                 -2_000_000]  # fmt: skip
    shown = report.page.evaluate("ns => ns.map(window.agenttrace.fmtDur)", durations)
    assert shown == [format_duration(ns) for ns in durations]


def test_a_failure_without_violations_opens_on_its_first_failed_span(open_report: Opener) -> None:
    from pytest_agenttrace.recorder import Recorder

    rec = Recorder("tests/test_x.py::test_plain_assert")
    with rec.activate(), rec.agent("orchestrator"):
        with rec.tool("web_search"):
            pass
        with contextlib.suppress(RuntimeError), rec.tool("read_file"):
            raise RuntimeError("disk gone")
    trace = rec.finish()
    failed_id = next(s.span_id for s in trace.spans if s.status == "error")
    report = open_report(
        [
            ReportEntry.from_trace(trace, outcome="failed", message="assert 'x' == 'y'"),
            ReportEntry.from_trace(trace, outcome="passed"),
        ]
    )
    assert span_ids(report, ".tree .row.sel") == [failed_id]
    assert "1 span" not in report.page.text_content(".entry-head")  # counts read "3 spans", "1 agent"
    assert "1 agent " in report.page.text_content(".entry-head")
    report.page.evaluate("window.agenttrace.show(1)")  # a passing test opens with nothing selected
    assert span_ids(report, ".tree .row.sel") == []
    assert report.problems() == []


def test_bidi_overrides_and_invisible_characters_in_trace_data_are_shown_as_escapes(open_report: Opener) -> None:
    from pytest_agenttrace.recorder import Recorder

    rec = Recorder("tests/test_x.py::test_bidi")
    with rec.activate(), rec.agent("orch\u202eevil"):
        with rec.tool("web\u200bsearch", input={"q": "a\u2066b"}):
            pass
    trace = rec.finish()
    report = open_report([ReportEntry.from_trace(trace, outcome="failed", message="name\u202eeman")])
    page = report.page
    page.locator(".tree .row", has_text="search").first.click()  # the details panel shows the tool's fields
    text = page.evaluate("document.body.innerText")
    for raw in ("\u202e", "\u200b", "\u2066"):
        assert raw not in text
    assert "orch\\u202eevil" in text and "web\\u200bsearch" in text and "name\\u202eeman" in text
    assert report.problems() == []


def test_a_trace_file_with_lone_surrogates_opens_without_errors(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from pytest_agenttrace import store
    from pytest_agenttrace.cli import main

    monkeypatch.setattr(store, "_orjson", None)  # orjson refuses to load it; the standard library reads it
    trace = example_failure().to_dict()
    trace["spans"][1]["name"] = "half \ud83d emoji"
    trace["spans"][1]["agent"] = "agent\udfff"
    trace["spans"][1]["output"] = {"text": "\ud83d"}
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps(trace))  # "\ud83d" escapes: valid JSON
    target = tmp_path / "r.html"
    assert main(["report", str(path), "-o", str(target)]) == 0
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(target.as_uri())
    page.wait_for_function("window.agenttrace && window.agenttrace.ready", timeout=60_000)
    page.locator(".tree .row", has_text="emoji").click()
    assert page.locator(".tree .row").count() == len(trace["spans"])
    assert "half \\ud83d emoji" in page.text_content(".details .head")  # shown as an escape
    agents = page.eval_on_selector_all(".filters select[aria-label=agent] option", "os => os.map(o => o.text)")
    assert "agent\\udfff" in agents
    assert errors == []
    page.close()


def test_many_violations_are_grouped_by_rule_and_every_one_stays_findable(open_report: Opener) -> None:
    trace = generated_trace(400)
    ids = [s.span_id for s in trace.spans]
    # 1,000 violations naming one span, then 2,000 (past the texts a record keeps) naming 100 others.
    loops = [{"rule": "loop", "message": f"call {n}", "spans": [ids[1]]} for n in range(1000)]
    loops += [{"rule": "loop", "message": f"call {n}", "spans": [ids[2 + n % 100]]} for n in range(1000, 3000)]
    single = {"rule": "single", "message": "only one", "spans": [ids[300]], "kind": "detect"}
    report = open_report([ReportEntry.from_trace(trace, outcome="failed", violations=[single, *loops])])
    page = report.page
    assert "Violations (3001)" in page.text_content("#entry")
    group = page.locator(".vgroup[data-rule=loop]")
    assert group.locator(".vhead").text_content() == "\u25beloop3000 violations"
    assert group.locator(".violation").count() == 20  # the first 20 of the rule ...
    assert page.locator(".violation").count() == 21  # ... and the rule with one violation
    assert page.evaluate("document.getElementsByTagName('*').length") < 3000
    group.locator(".vmore button").click()
    assert group.locator(".violation").count() == 120
    assert group.locator(".vmore button").text_content() == "show 100 more (2880 not shown)"
    group.locator(".vhead").click()  # folds the rule
    assert group.locator(".vitems").is_hidden()
    # Every violation's spans are flagged, also those whose text the record did not keep.
    page.check(".filters input[type=checkbox]")
    assert page.text_content(".filters .count:last-child") == f"102 of {len(ids)} spans match"
    page.evaluate("window.agenttrace.view.activate(2999)")  # a violation whose text was not kept
    assert timeline_highlight(report) == {ids[2 + 2998 % 100]}
    assert report.problems() == []


# The characters the page shows as escapes (as the terminal does), as a Python pattern: what the page
# shows must hold none of them (newlines and tabs are kept in blocks of text only).
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u2028\u2029\u202a-\u202e\u2060-\u206f\u3164\ud800-\udfff\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
LOOKALIKES = {  # an agent name that shows as "coder" unless escaped -> how the page shows it
    "coder\U000e0041\U000e0042": "coder\\U000e0041\\U000e0042",
    "coder\u00ad": "coder\\xad",
    "coder\u2063": "coder\\u2063",
    "coder\u180e": "coder\\u180e",
    "coder\ufe0f": "coder\\ufe0f",
    "\u3164coder": "\\u3164coder",
    "coder\x1b[31m": "coder\\x1b[31m",
    "coder\u202e": "coder\\u202e",
}


def lookalike_trace() -> Trace:
    spans = [Span(span_id="1", parent_id=None, kind="agent", name="orchestrator", agent="orchestrator")]
    for number, agent in enumerate(LOOKALIKES, 2):
        spans.append(
            Span(
                span_id=str(number),
                parent_id="1",
                kind="tool",
                name=f"run {agent}",
                agent=agent,
                start_ns=number * 10,
                end_ns=number * 10 + 5,
                versions={"prompt:x": f"x@{agent}"},
                input={"who": agent},
                output="line one\nline\u200btwo",
            )
        )
    return Trace(trace_id="t", name="lookalikes", started_at="", spans=tuple(spans))


def test_invisible_characters_show_as_escapes_in_menus_tree_timeline_and_tooltips(browser: Any, tmp_path: Path) -> None:
    from pytest_agenttrace.report.html import write_html

    path = write_html(tmp_path / "r.html", [ReportEntry.from_trace(lookalike_trace(), outcome="failed")])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Record what the timeline draws on its canvas.
    page.add_init_script(
        "window.__drawn = []; const fill = CanvasRenderingContext2D.prototype.fillText;"
        "CanvasRenderingContext2D.prototype.fillText = function (t, ...rest) {"
        " window.__drawn.push(String(t)); return fill.call(this, t, ...rest); };"
    )
    page.goto(path.as_uri())
    page.wait_for_function("window.agenttrace && window.agenttrace.ready", timeout=60_000)
    menu = page.eval_on_selector_all(".filters select[aria-label=agent] option", "os => os.map(o => o.textContent)")
    tree = page.eval_on_selector_all(".tree .row .agent", "ns => ns.map(n => n.textContent)")
    drawn = page.evaluate("window.__drawn")
    for raw, shown in LOOKALIKES.items():
        assert shown in menu and shown in tree and shown in drawn, raw
    assert "coder" not in menu and "coder" not in tree and "coder" not in drawn
    page.locator(".tree .row", has_text="run coder\\xad").click()  # details: names, stamps and payload block
    titles = page.evaluate("Array.from(document.querySelectorAll('[title]')).map(n => n.title)")
    assert "run coder\\xad" in titles and "agent: coder\\u202e" in titles
    point = page.evaluate(
        """() => {
          const v = window.agenttrace.view, i = v.model.idx.get('3');
          const box = v.timeline.canvas.getBoundingClientRect();
          return [box.left + v.timeline.x((v.model.start[i] + v.model.end[i]) / 2), box.top + v.timeline.barY(i) + 8];
        }"""
    )
    page.mouse.move(point[0], point[1])  # the bar's tooltip
    assert "agent: coder\\xad" in page.text_content(".tooltip")
    shown_text = page.evaluate(
        "document.body.innerText + '\\n' + Array.from(document.querySelectorAll('[title]')).map(n => n.title).join('\\n')"
        " + '\\n' + document.querySelector('.tooltip').textContent"
    )
    assert UNSAFE.findall(shown_text) == []
    assert "line one\nline\\u200btwo" in page.text_content(".details")  # a block of text keeps its lines
    assert errors == []
    page.close()


def test_search_matches_names_as_shown_and_as_stored(open_report: Opener) -> None:
    trace = lookalike_trace()
    report = open_report([ReportEntry.from_trace(trace, outcome="failed")])
    page = report.page
    search = ".filters input[type=search]"

    def matches(query: str) -> list[str]:
        page.fill(search, query)
        page.press(search, "Enter")
        return span_ids(report, ".tree .row.match")

    assert matches("coder\\xad") == ["3"]  # what the page shows ...
    assert matches("coder\u00ad") == ["3"]  # ... and the text itself
    assert matches("agent:coder\\U000e0041*") == ["2"]
    assert matches("agent:coder") == []  # none of them is "coder"
    assert matches('name:"run coder\\u2063"') == ["4"]  # a quoted value keeps its space
    assert matches('"run coder\\ufe0f"') == ["6"]
    assert matches("null") == []  # a missing agent or scope is not the text "null"
    assert report.problems() == []


def test_the_page_escapes_exactly_the_characters_the_terminal_escapes(open_report: Opener) -> None:
    from pytest_agenttrace.report.terminal import terminal_safe

    report = open_report([example_entry()])
    # Every code point through visible() and visibleLines() (via a block of the details pane is slower:
    # the functions themselves), as ranges: [first, last] of each run of changed code points.
    ranges = report.page.evaluate(
        """() => {
          const visible = window.agenttrace.visible, out = [];
          let first = -1;
          for (let code = 0; code <= 0x110000; code++) {
            const changed = code < 0x110000 && visible(String.fromCodePoint(code)) !== String.fromCodePoint(code);
            if (changed && first < 0) first = code;
            if (!changed && first >= 0) { out.push([first, code - 1]); first = -1; }
          }
          return out;
        }"""
    )
    page = {code for first, last in ranges for code in range(first, last + 1)}
    terminal = {code for code in range(0x110000) if terminal_safe(chr(code)) != chr(code)} - {ord("\\")}
    assert page == terminal
    assert report.problems() == []


def test_text_is_cut_between_escapes_and_characters_never_inside_one(open_report: Opener) -> None:
    report = open_report([example_entry()])
    cases = [
        ("a\u200b" * 20, 12),
        ("ab\U000e0041" * 20, 15),
        ("x\U0001f600" * 20, 8),
        ("\x1b" * 30, 11),
        ("plain text that is long", 10),
    ]
    for text, limit in cases:
        shown = report.page.evaluate("([t, n]) => window.agenttrace.shortText(t, n)", [text, limit])
        full = report.page.evaluate("t => window.agenttrace.visible(t)", text)
        assert shown.endswith("…") and len(shown) <= limit
        assert full.startswith(shown[:-1])  # a prefix of the whole escaped text ...
        assert re.search(r"\\(x[0-9a-f]?|u[0-9a-f]{0,3}|U[0-9a-f]{0,7})?…$", shown) is None  # ... cut between escapes
        assert not ("\ud800" <= shown[-2] <= "\udbff")


def test_free_text_search_reads_4000_characters_of_each_payload(open_report: Opener) -> None:
    spans = (
        Span(span_id="1", parent_id=None, kind="llm", name="a", output="x" * 3000 + " needle"),
        Span(span_id="2", parent_id=None, kind="llm", name="b", output="x" * 4000 + " needle"),
    )
    report = open_report([ReportEntry.from_trace(Trace(trace_id="t", name="t", started_at="", spans=spans))])
    report.page.fill(".filters input[type=search]", "needle")
    report.page.press(".filters input[type=search]", "Enter")
    assert span_ids(report, ".tree .row.match") == ["1"]  # past the 4,000 characters is not searched (documented)


def test_failure_messages_are_red_and_skip_reasons_are_notes(open_report: Opener) -> None:
    trace = example_failure()
    both = "AssertionError: the call failed\n\nerror in teardown: ZeroDivisionError: teardown broke"
    report = open_report(
        [
            ReportEntry.from_trace(trace, name="t::both", outcome="error", message=both),
            ReportEntry.from_trace(trace, name="t::skip", outcome="skipped", message="Skipped: not today"),
        ]
    )
    page = report.page
    assert page.text_content("pre.message") == both  # both failures, on their lines
    assert page.locator("pre.message.note").count() == 0
    page.locator(".tests tr", has_text="t::skip").click()
    assert page.text_content("pre.message.note") == "Skipped: not today"
    assert report.problems() == []


def test_changing_the_address_fragment_opens_that_test(open_report: Opener) -> None:
    trace = example_failure()
    report = open_report(
        [ReportEntry.from_trace(trace, name=f"t::test_{n}", outcome="passed") for n in range(3)], fragment="#t0"
    )
    page = report.page
    assert page.text_content(".entry-head .title") == "t::test_0"
    page.evaluate("location.hash = '#t2'")
    page.wait_for_function("document.querySelector('.entry-head .title').textContent === 't::test_2'")
    assert page.text_content(".tests tr.current .name") == "t::test_2"
    page.go_back()  # the history entry the hash change made
    page.wait_for_function("document.querySelector('.entry-head .title').textContent === 't::test_0'")
    page.evaluate("location.hash = '#t99'")  # no such test: the page stays as it is
    assert page.text_content(".entry-head .title") == "t::test_0"
    assert report.problems() == []


def test_a_very_long_test_id_is_cut_in_the_middle_with_the_whole_id_at_hand(open_report: Opener) -> None:
    long_id = "tests/test_x.py::test_param[" + "ab\u200b" * 1000 + "-end]"
    report = open_report([ReportEntry.from_trace(example_failure(), name=long_id, outcome="failed")])
    page = report.page
    shown = long_id.replace("\u200b", "\\u200b")
    for selector in (".tests tr .name", ".entry-head .title"):
        text = page.text_content(selector)
        assert len(text) <= 160 and "…" in text
        head, tail = text.split("…")
        assert shown.startswith(head) and shown.endswith(tail) and tail.endswith("-end]")
        assert page.get_attribute(selector, "title") == shown
        box = page.locator(selector).bounding_box()
        assert box is not None and box["height"] < 70  # a few lines, not fifteen
    page.click(".entry-head .title")  # the whole id, to select and copy
    assert page.text_content(".entry-head .title") == shown
    page.click(".entry-head .title")
    assert len(page.text_content(".entry-head .title")) <= 160
    assert report.problems() == []
