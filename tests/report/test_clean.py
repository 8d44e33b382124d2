"""``report._clean``: what the report and ``agenttrace export`` copy from a trace file is redacted, ids alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_agenttrace.cli import main
from pytest_agenttrace.model import Span, Trace
from pytest_agenttrace.report._clean import RedactedIds, redacted_strings, sanitized

KEY = "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
OTHER = "sk-proj-Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2H1g0"


def dirty_trace() -> Trace:
    """Span ids, scopes, links and the start time holding keys; two ids that redact alike."""
    return Trace(
        trace_id="t",
        name="t",
        started_at=f"2026-01-01T00:00:00Z {KEY}",
        spans=(
            Span(span_id="1", parent_id=None, kind="agent", name="root", agent="a"),
            Span(span_id=f"id-{KEY}", parent_id="1", kind="delegation", name="d", agent="a"),
            Span(span_id=f"id-{OTHER}", parent_id="1", kind="delegation", name="e", agent="a"),
            Span(
                span_id="x",
                parent_id=f"id-{KEY}",
                kind="tool",
                name="t",
                agent="a",
                scope=f"id-{KEY}",
                scope_path=[f"id-{OTHER}", f"id-{KEY}"],
                links=[f"id-{OTHER}", f"gone-{KEY}"],
            ),
        ),
    )


def test_redacted_ids_keep_clean_ids_and_tell_redacted_ones_apart() -> None:
    ids = RedactedIds(["1", f"id-{KEY}", f"id-{OTHER}", "id-[REDACTED]"])
    assert ids("1") == "1" and ids(1) == "1" and ids(None) is None
    assert ids("id-[REDACTED]") == "id-[REDACTED]"  # a span's own id, already in the form: kept
    assert ids(f"id-{KEY}") == "id-[REDACTED]~2"
    assert ids(f"id-{OTHER}") == "id-[REDACTED]~3"
    assert ids(f"id-{KEY}") == "id-[REDACTED]~2"  # asked again: the same text
    assert ids(f"gone-{KEY}") == "gone-[REDACTED]"  # not a span's id: mapped when first asked for
    assert ids.known(f"id-{KEY}") == "id-[REDACTED]~2" and ids.known("1") is None


def test_redacted_ids_are_deterministic() -> None:
    given = ["1", f"id-{KEY}", f"id-{OTHER}", "2"]
    first, second = RedactedIds(given), RedactedIds(given)
    assert [first(i) for i in given] == [second(i) for i in reversed(given)][::-1]


def test_redacted_ids_of_clean_ids_are_the_ids() -> None:
    ids = RedactedIds(str(n) for n in range(100))
    assert not ids.changed
    assert ids.many(["3", "99", "404"]) == ["3", "99", "404"]


def test_a_clean_id_that_reads_like_a_redacted_one_is_renamed_not_merged() -> None:
    ids = RedactedIds([f"id-{KEY}"])
    assert ids(f"id-{KEY}") == "id-[REDACTED]"
    assert ids("id-[REDACTED]") == "id-[REDACTED]~2"  # a dangling link that happens to read alike


def test_sanitized_redacts_ids_alike_everywhere_so_the_tree_stays_intact() -> None:
    trace = sanitized(dirty_trace())
    text = json.dumps(trace.to_dict())
    assert KEY not in text and OTHER not in text
    assert trace.started_at == "2026-01-01T00:00:00Z [REDACTED]"
    _, d, e, tool = trace.spans
    assert (d.span_id, e.span_id) == ("id-[REDACTED]", "id-[REDACTED]~2")
    assert tool.parent_id == d.span_id and tool.scope == d.span_id
    assert tool.scope_path == [e.span_id, d.span_id]
    assert tool.links == [e.span_id, "gone-[REDACTED]"]
    assert [s.span_id for s in trace.children(d.span_id)] == ["x"]


def test_sanitized_redacts_kind_and_status_too() -> None:
    span = Span(span_id="1", parent_id=None, kind=f"k-{KEY}", name="n", status=f"s-{KEY}")
    clean = sanitized(Trace(trace_id="t", name="t", started_at="", spans=(span,))).spans[0]
    assert (clean.kind, clean.status) == ("k-[REDACTED]", "s-[REDACTED]")


def test_sanitized_leaves_a_clean_trace_equal() -> None:
    from pytest_agenttrace.report._samples import example_failure

    trace = example_failure()
    assert sanitized(trace) == trace


def test_redacted_strings_maps_known_ids_and_redacts_the_rest() -> None:
    ids = RedactedIds([f"id-{KEY}", f"id-{OTHER}"])
    value: dict[str, Any] = {"origin": f"id-{OTHER}", "why": f"key {KEY}", "cycle": (f"id-{KEY}", "a")}
    assert redacted_strings(value, ids=ids) == {
        "origin": "id-[REDACTED]~2",
        "why": "key [REDACTED]",
        "cycle": ["id-[REDACTED]", "a"],
    }


def test_export_of_a_trace_file_that_is_not_clean_redacts_ids_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_agenttrace.adapters.importing import import_trace
    from pytest_agenttrace.store import save_trace

    path = save_trace(dirty_trace(), tmp_path / "dirty.json")
    out = tmp_path / "otlp.json"
    assert main(["export", str(path), "-o", str(out)]) == 0
    capsys.readouterr()
    assert KEY not in out.read_text() and OTHER not in out.read_text()
    back = import_trace(out, "otlp")
    assert isinstance(back, Trace)
    tool = next(s for s in back.spans if s.name == "t")
    parent = back.parent(tool)
    assert parent is not None and parent.name == "d"  # the tree survived the redaction
    assert tool.scope == parent.span_id


def test_ids_of_odd_types_become_text() -> None:
    ids = RedactedIds(["1", 2])
    assert ids.many(["1", 2, ["x"]]) == ["1", "2", "['x']"]
