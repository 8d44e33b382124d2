"""Trace files: atomic writes, clear errors for bad files, the schema."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.store import (
    check_types,
    load_trace,
    save_trace,
    schema,
    trace_filename,
    validate_trace_dict,
    write_atomic,
)


def small_trace() -> at.Trace:
    rec = Recorder("tests/test_x.py::test_y")
    with rec.activate(), rec.agent("a"), rec.tool("t", input={"q": "<script>"}) as t:
        t.set_output([1, 2.5, None, True])
    return rec.finish()


def test_round_trip_and_schema(tmp_path: Path) -> None:
    trace = small_trace()
    path = save_trace(trace, tmp_path / "deep" / "t.json")
    loaded = load_trace(path, validate=True)
    assert loaded == trace
    assert json.loads(path.read_text())["format_version"] == 1


def test_written_file_follows_the_contract_example_shape(tmp_path: Path) -> None:
    data = json.loads(save_trace(small_trace(), tmp_path / "t.json").read_text())
    assert list(data) == ["format_version", "trace_id", "name", "started_at", "metadata", "versions", "spans"]
    assert list(data["spans"][0]) == [
        "span_id", "parent_id", "kind", "name", "agent", "scope", "scope_path", "start_ns", "end_ns",
        "status", "error", "input", "output", "attributes", "versions", "context", "links", "events",
    ]  # fmt: skip


def test_write_atomic_leaves_no_temp_files_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    write_atomic(target, b"1")
    write_atomic(target, b"2")
    assert target.read_bytes() == b"2"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_write_atomic_to_a_name_at_the_length_limit(tmp_path: Path) -> None:
    # The temporary file must not be named after the target: ".<255 chars>.xyz.tmp" is too long.
    target = tmp_path / ("x" * 240 + ".agenttrace")
    write_atomic(target, b"1")
    assert target.read_bytes() == b"1"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b'{"format_version": 1, "trace_id": "x"', "not valid JSON .*the file ends early.*truncated"),
        (b'{"format_version": 1, "trace_id": "x', "not valid JSON .*the file ends early.*truncated"),
        (b'{"format_version": 1 "trace_id": "x"}', "not valid JSON .*the file is corrupt or not a trace file"),
        (b"spec: x\nrules: []\n", "not valid JSON .*the file is corrupt or not a trace file"),
        (b"\x1f\x8b\x08\x00gzipped", "not valid JSON .*the file is corrupt or not a trace file"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"resourceSpans": []}', "agenttrace import"),
        (b'{"format_version": 9, "trace_id": "x", "name": "n", "started_at": "s", "spans": []}', "format_version 9"),
        (b'{"format_version": 1, "trace_id": "x", "name": "n", "started_at": "s", "spans": [{"span_id": "1"}]}', "span #0 missing"),
        (b'{"format_version": 1, "trace_id": "x", "name": "n", "started_at": "s", "spans": {}}', "must be a list"),
    ],
)
def test_corrupt_files_fail_with_one_clear_message(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(at.TraceFileError, match=message) as info:
        load_trace(path)
    assert str(path) in str(info.value)


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    import os

    mask = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "f.json", b"{}")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(at.TraceFileError, match="no such trace file"):
        load_trace(tmp_path / "nope.json")


def test_json_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "format_version": 1,\n  oops\n}')
    with pytest.raises(at.TraceFileError) as info:
        load_trace(path)
    assert info.value.line == 3


def test_schema_rejects_what_the_contract_forbids() -> None:
    data = small_trace().to_dict()
    data["spans"][0]["kind"] = "banana"
    with pytest.raises(at.TraceFileError, match="spans/0/kind"):
        validate_trace_dict(data)
    assert schema()["properties"]["format_version"] == {"const": 1}


@pytest.mark.parametrize(
    ("nodeid", "readable"),
    [
        ("tests/test_x.py::test_y", "tests_test_x.py__test_y-"),
        ("tests/test_x.py::test_y[a/b c]", "tests_test_x.py__test_y_a_b_c-"),
        ("../../etc/passwd", "etc_passwd-"),
    ],
)
def test_trace_filename_is_safe_and_readable(nodeid: str, readable: str) -> None:
    name = trace_filename(nodeid)
    assert "/" not in name and not name.startswith(".")
    assert name.startswith(readable) and name.endswith(".json")


def test_trace_filenames_do_not_collide() -> None:
    assert trace_filename("a/test_b.py::test_t") != trace_filename("a_test_b.py::test_t")
    assert trace_filename("t.py::test[a/b]") != trace_filename("t.py::test[a_b]")


def test_trace_filename_long_ids_are_hashed() -> None:
    assert len(trace_filename("t.py::" + "x" * 500)) < 200
    assert trace_filename("t.py::" + "x" * 500) != trace_filename("t.py::" + "x" * 499 + "y")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("attributes", None, "attributes must be an object"),
        ("attributes", "x", "attributes must be an object"),
        ("versions", [1], "versions must be an object of strings"),
        ("name", 3, "name must be a string"),
        ("agent", 3, "agent must be a string or null"),
        ("error", "boom", "error must be null or"),
        ("events", "x", "events must be a list"),
        ("events", [{"time_ns": 1}], "events must be a list"),
        ("kind", "bogus", "kind must be one of"),
        ("start_ns", 1.5, "start_ns must be an integer"),
        ("links", [1], "links must be a list of span ids"),
        ("status", "fine", "status must be 'ok' or 'error'"),
        ("parent_id", 7, "parent_id must be a string or null"),
        ("scope", ["d1"], "scope must be a string or null"),
        ("scope_path", [3], "scope_path must be a list of strings"),
        ("context", ["k"], "context must be an object or null"),
        ("error", {"type": "E"}, "error must be null or"),
        ("span_id", "", "span_id must be a non-empty string"),
        ("end_ns", True, "end_ns must be an integer"),
    ],
)
def test_wrong_field_types_are_input_errors(tmp_path: Path, field: str, value: object, message: str) -> None:
    data = small_trace().to_dict()
    data["spans"][1][field] = value
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match=message) as info:
        load_trace(path)
    assert "span #1" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda span: span.update({"bogus": span.pop("links")}), "span #1 missing links; unknown bogus"),
        (lambda span: span.pop("events"), "span #1 missing events"),
        (lambda span: span.update({"extra": 1}), "span #1 unknown extra"),
    ],
)
def test_span_keys_other_than_the_contract_fields_are_input_errors(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    data = small_trace().to_dict()
    change(data["spans"][1])
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match=message):
        load_trace(path)


def test_top_level_field_types_are_input_errors(tmp_path: Path) -> None:
    data = small_trace().to_dict()
    data["metadata"] = ["not", "an", "object"]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match="metadata and versions objects"):
        load_trace(path)


def test_loaded_spans_are_frozen_and_equal_to_the_saved_ones(tmp_path: Path) -> None:
    trace = small_trace()
    loaded = load_trace(save_trace(trace, tmp_path / "t.json"))
    assert loaded.spans == trace.spans
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.spans[0].name = "changed"  # type: ignore[misc]


def test_loaded_values_that_repeat_are_one_object_each(tmp_path: Path) -> None:
    rec = Recorder("shared")
    with rec:
        rec.stamp("prompt:planner", "v1")
        with at.agent("orchestrator"), at.delegate("coder"):
            with at.agent("coder"):
                first = at.tool("search")
                first.end()
                at.tool("search").link(first).end()
    trace = rec.finish()
    loaded = load_trace(save_trace(trace, tmp_path / "t.json"))
    assert loaded.spans == trace.spans
    by_id = {s.span_id: s for s in loaded.spans}
    for span in loaded.spans:
        if span.parent_id is not None:
            assert span.parent_id is by_id[span.parent_id].span_id  # a lookup by id matches on identity
        for link in span.links:
            assert link is by_id[link].span_id
    tools = [s for s in loaded.spans if s.kind == "tool"]
    assert tools[0].name is tools[1].name and tools[0].agent is tools[1].agent
    assert tools[0].scope_path is tools[1].scope_path and tools[0].scope is tools[0].scope_path[-1]
    assert tools[0].kind is "tool"  # noqa: F632 - the kind's one object, not a copy of the text
    assert len({id(s.versions) for s in loaded.spans}) == 1
    assert loaded.spans[0].links is loaded.spans[1].links == []


def test_duplicate_span_ids_are_input_errors(tmp_path: Path) -> None:
    data = small_trace().to_dict()
    data["spans"][1]["span_id"] = data["spans"][0]["span_id"]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match="duplicate span_id"):
        load_trace(path)


def test_deeply_nested_json_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(at.TraceFileError, match="nested too deeply"):
        load_trace(path)


def test_without_orjson_the_standard_library_writes_the_same_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_agenttrace import store

    trace = small_trace()
    fast = json.loads(save_trace(trace, tmp_path / "fast.json").read_bytes())
    monkeypatch.setattr(store, "_orjson", None)
    slow = json.loads(save_trace(trace, tmp_path / "slow.json").read_bytes())
    assert fast == slow == json.loads(json.dumps(trace.to_dict()))
    assert load_trace(tmp_path / "slow.json").spans == trace.spans


def test_integers_beyond_64_bits_fall_back_to_the_standard_library(tmp_path: Path) -> None:
    rec = Recorder("big ints")
    with rec.activate(), rec.tool("t") as t:
        t.set_output(2**70)
    trace = rec.finish()
    assert load_trace(save_trace(trace, tmp_path / "t.json")).spans[0].output == 2**70


def _three_spans() -> dict[str, Any]:
    """A saved trace of three spans: a root agent, a tool under it, an llm under the tool."""
    rec = Recorder("tests/test_x.py::test_tree")
    with rec.activate(), rec.agent("a"), rec.tool("t"), rec.llm("m"):
        pass
    data = rec.finish().to_dict()
    assert [s["parent_id"] for s in data["spans"]] == [None, "1", "2"]
    return data


@pytest.mark.parametrize(
    ("parents", "message"),
    [
        ([None, "3", "2"], r"span #1 \(id '2'\): following parent_id goes round in a cycle \('2' -> '3' -> '2'\)"),
        ([None, "1", "3"], r"span #2 \(id '3'\): following parent_id goes round in a cycle \('3' -> '3'\)"),
        (["3", "1", "2"], r"span #0 \(id '1'\): following parent_id goes round in a cycle"),
    ],
)
def test_a_broken_span_tree_is_an_input_error(tmp_path: Path, parents: list[str | None], message: str) -> None:
    data = _three_spans()
    for span, parent in zip(data["spans"], parents, strict=True):
        span["parent_id"] = parent
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match=message) as info:
        load_trace(path)
    assert str(path) in str(info.value) and "the file is corrupt" in str(info.value)
    with pytest.raises(at.TraceFileError, match=message):
        check_types(at.Trace.from_dict(data))


def test_a_parent_outside_the_trace_makes_a_root(tmp_path: Path) -> None:
    rec = Recorder("tests/test_x.py::test_foreign")
    with rec.activate():
        with rec.start_span("agent", "worker", parent_id="upstream-7"):  # a parent in another process
            pass
    path = save_trace(rec.finish(), tmp_path / "t.json")
    loaded = load_trace(path)
    assert [(s.name, s.parent_id) for s in loaded.spans] == [("worker", "upstream-7")]
    assert loaded.index.roots == list(loaded.spans)
    check_types(loaded)


def test_a_parent_listed_after_its_child_is_a_valid_tree(tmp_path: Path) -> None:
    data = _three_spans()
    data["spans"].reverse()  # children before parents: odd, but every parent exists and there is no cycle
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    loaded = load_trace(path)
    assert [(s.span_id, s.parent_id) for s in loaded.spans] == [("3", "2"), ("2", "1"), ("1", None)]
    check_types(loaded)


def test_a_wrong_value_is_quoted_and_a_wrong_container_named(tmp_path: Path) -> None:
    data = small_trace().to_dict()
    data["spans"][1]["kind"] = "banana"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match=r"kind must be one of .*, found 'banana'"):
        load_trace(path)
    data["spans"][1]["kind"] = "tool"
    data["spans"][1]["name"] = {"nested": "x" * 100}
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match=r"name must be a string, found dict;"):
        load_trace(path)
    data["spans"][1]["name"] = "search"
    data["spans"][1]["kind"] = "k" * 100  # a long value is named by its type
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match=r"kind must be one of .*, found str;"):
        load_trace(path)
