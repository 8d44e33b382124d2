"""Trace files: atomic writes, clear errors for bad files, the schema."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pytest_agenttrace as at
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.store import (
    OutputError,
    check_types,
    load_trace,
    refuse_overwriting,
    save_trace,
    schema,
    trace_filename,
    validate_trace_dict,
    write_atomic,
    write_output,
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
        (
            b'\xef\xbb\xbf{"format_version": 1, "trace_id": "x", "name": "n", "started_at": "s", "spans": []}',
            "byte-order mark.*remove the mark",
        ),
        (b'{"resourceSpans": []}', "agenttrace import"),
        (b'{"format_version": 9, "trace_id": "x", "name": "n", "started_at": "s", "spans": []}', "format_version 9"),
        (
            b'{"format_version": 1, "trace_id": "x", "name": "n", "started_at": "s", "spans": [{"span_id": "1"}]}',
            "span #0 missing",
        ),
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
        ("kind", ["agent"], "kind must be one of .*found list"),  # unhashable: no TypeError from the set lookup
        ("kind", {"agent": 1}, "kind must be one of .*found dict"),
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
        (lambda span: span.update({"bogus": span.pop("links")}), "span #1 missing 'links'; unknown key 'bogus'; the"),
        (lambda span: span.update({"link": span.pop("links")}), r"missing 'links'; unknown key 'link' \(did you mean"),
        (lambda span: span.pop("events"), "span #1 missing 'events'; the file is corrupt or was written by a newer"),
        (lambda span: span.update({"extra": 1}), "span #1 unknown key 'extra'; the file"),
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


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"extra_field": 1}, r"unknown top-level key 'extra_field'; the file is corrupt or was written by a newer"),
        ({"metdata": {}}, r"unknown top-level key 'metdata' \(did you mean 'metadata'\?\)"),
        ({"b": 1, "a": 2}, r"unknown top-level keys 'a', 'b'; "),
    ],
)
def test_top_level_keys_other_than_the_contract_fields_are_input_errors(
    tmp_path: Path, extra: dict[str, Any], message: str
) -> None:
    # The shipped schema allows no other top-level key (additionalProperties: false): the loader agrees.
    data = {**small_trace().to_dict(), **extra}
    with pytest.raises(at.TraceFileError, match="does not match the trace schema"):
        validate_trace_dict(data)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError, match=message) as info:
        load_trace(path)
    assert str(path) in str(info.value)


def test_an_unknown_top_level_key_holding_a_secret_is_redacted(tmp_path: Path) -> None:
    secret = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**small_trace().to_dict(), secret: 1}))
    with pytest.raises(at.TraceFileError, match="unknown top-level key") as info:
        load_trace(path)
    assert secret not in str(info.value)


def test_every_writer_writes_only_the_keys_the_schema_allows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The loader refuses any other key: what the package writes must never carry one.
    from pytest_agenttrace import store

    allowed = set(schema()["properties"])
    span_allowed = set(schema()["$defs"]["span"]["properties"])
    trace = small_trace()
    written = [save_trace(trace, tmp_path / "fast.json")]
    monkeypatch.setattr(store, "_orjson", None)
    written.append(save_trace(trace, tmp_path / "slow.json"))
    for path in written:
        data = json.loads(path.read_text())
        assert set(data) == allowed and all(set(span) == span_allowed for span in data["spans"])
        assert load_trace(path, validate=True) == trace


def test_traces_the_plugin_saves_for_the_example_team_load_and_match_the_schema(pytester: pytest.Pytester) -> None:
    # Realistic traces (delegations, handoffs, memory, retries, errors, version stamps) written by the plugin.
    import shutil

    examples = Path(__file__).resolve().parents[2] / "examples"
    shutil.copytree(examples / "agentsys", pytester.path / "agentsys")
    shutil.copytree(examples / "prompts", pytester.path / "prompts")
    pytester.makeini("[pytest]\npythonpath = .\nagenttrace_prompts = prompts\n")
    pytester.makepyfile(
        """
        import pytest
        from agentsys import TICKETS, run_ticket

        @pytest.mark.parametrize("ticket", sorted(TICKETS))
        def test_ticket(agenttrace, ticket):
            run_ticket(ticket)
        """
    )
    result = pytester.runpytest_inprocess("--agenttrace-save", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    saved = sorted((pytester.path / ".agenttrace").iterdir())
    assert len(saved) == 4
    for path in saved:
        data = json.loads(path.read_text())
        assert set(data) == set(schema()["properties"])
        assert load_trace(path, validate=True).to_dict() == data


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


def test_loaded_empty_lists_and_equal_stamp_sets_are_one_object_each(tmp_path: Path) -> None:
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


def test_without_orjson_the_standard_library_writes_the_same_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
        t.set_output(2**70 + 1)  # not 2**70: that one a float holds exactly, so a float would pass
    trace = rec.finish()
    assert load_trace(save_trace(trace, tmp_path / "t.json")).spans[0].output == 2**70 + 1


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
    # Loaded without error, and back in start order (the format lists spans in start order).
    assert [(s.span_id, s.parent_id) for s in loaded.spans] == [("1", None), ("2", "1"), ("3", "2")]
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


# -- writing where -o points -------------------------------------------------------------------


def test_write_atomic_writes_into_a_fifo_instead_of_replacing_it(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there: opening to write does not block
    try:
        assert write_atomic(fifo, b'{"a": 1}') == fifo
        assert os.read(reader, 100) == b'{"a": 1}'
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_write_atomic_through_a_link_to_a_file_descriptor_writes_to_that_descriptor(tmp_path: Path) -> None:
    # As `ln -s /proc/self/fd/1 fakestdout; agenttrace export ... -o fakestdout`, on a pipe of our own.
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)  # nothing written must fail the test, not hang it
    try:
        link = tmp_path / "fakestdout"
        link.symlink_to(f"/proc/self/fd/{write_end}")
        write_atomic(link, b"through")
        try:
            written = os.read(read_end, 100)
        except BlockingIOError:
            written = b""
        assert written == b"through"
        assert link.is_symlink() and os.readlink(link) == f"/proc/self/fd/{write_end}"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_write_atomic_through_a_link_to_a_regular_file_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    real.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to("real.json")
    write_atomic(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert real.stat().st_mode & 0o777 == 0o600  # a replaced file keeps its permissions
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to("sub/target.json")
    write_atomic(dangling, b"made")  # as open() would: the file the link names is created
    assert dangling.is_symlink() and (tmp_path / "sub" / "target.json").read_bytes() == b"made"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("", "the output path is empty"),
        ("outdir", "is a directory; give the name of a file"),
        ("newdir/", "ends with a separator, so it names a directory"),
        ("afile/x.json", "cannot create its directory: .*afile is a file, not a directory"),
        ("afile/deeper/x.json", "cannot create its directory: .*afile is a file, not a directory"),
    ],
)
def test_bad_output_paths_are_output_errors_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outdir").mkdir()
    (tmp_path / "afile").write_text("a file")
    with pytest.raises(OutputError, match=message) as info:
        write_atomic(output, b"{}")
    assert isinstance(info.value, at.InputError) and isinstance(info.value, OSError)
    assert str(info.value).startswith(output) or not output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "outdir"]  # nothing written, nothing left


def test_a_directory_that_cannot_be_created_is_an_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a user who is not root gets for a typo like `-o /nonexistent-root-dir/x`.
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    target = tmp_path / "typo-dir" / "x.json"
    with pytest.raises(
        OutputError, match=r"cannot create its directory .*typo-dir \(Permission denied\); check the path"
    ):
        write_atomic(target, b"{}")


def test_a_place_where_no_file_can_be_created_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `-o /proc/r.html`: the directory exists, but no file can be created in it.
    import tempfile

    def refuse(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"r\.html: cannot create a file in .*\(No such file or directory\)"):
        write_atomic(tmp_path / "r.html", b"{}")


def test_refuse_overwriting_an_input_file(tmp_path: Path) -> None:
    trace = save_trace(small_trace(), tmp_path / "x.json")
    (tmp_path / "alias.json").symlink_to("x.json")
    for output in (trace, tmp_path / "alias.json", tmp_path / "sub" / ".." / "x.json"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match=r"is also an input of this command .*x\.json.*Give another output path"):
            refuse_overwriting(output, [trace])
    refuse_overwriting(tmp_path / "other.json", [trace])  # a new file, or another one: fine
    refuse_overwriting("-", [trace])


def test_refuse_writing_what_the_next_run_would_read_in_an_input_directory(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    save_trace(small_trace(), folder / "a.json")
    with pytest.raises(OutputError, match="is inside the input directory .*traces, whose \\*.json files"):
        refuse_overwriting(folder / "report.json", [folder])
    with pytest.raises(OutputError, match="is inside the input directory"):
        refuse_overwriting(folder / "deep" / "out.json", [str(folder) + "/"])
    refuse_overwriting(folder / "report.html", [folder])  # not read as a trace
    refuse_overwriting(tmp_path / "report.json", [folder])


def test_write_output_dash_is_standard_output(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert write_output("-", b"data\n") is None
    assert capfd.readouterr().out == "data\n"
    assert write_output(tmp_path / "f", b"x") == tmp_path / "f"
    assert (tmp_path / "f").read_bytes() == b"x"


# -- reading what orjson or Python cannot read as it is -------------------------------------


def test_integers_beyond_64_bits_load_exactly(tmp_path: Path) -> None:
    # 2**70 is a float exactly: the values here are not, nor is a negative one below -2**63.
    values = {"big": 2**70 + 1, "neg": -(2**63) - 1, "huge": 123456789012345678901234567890, "u64": 2**64 - 1}
    rec = Recorder("big ints")
    with rec.activate(), rec.tool("t") as t:
        t.set_output(values)
    path = save_trace(rec.finish(), tmp_path / "t.json")
    output = load_trace(path).spans[0].output
    assert output == values and all(type(v) is int for v in output.values())
    data = json.loads(path.read_text())
    data["spans"][0]["start_ns"] = 10**25  # an integer, if an absurd one: not "found 1e+25"
    data["spans"][0]["end_ns"] = 10**25 + 1
    path.write_text(json.dumps(data))
    assert load_trace(path).spans[0].start_ns == 10**25


def test_an_integer_longer_than_python_reads_is_an_input_error_with_its_place(tmp_path: Path) -> None:
    data = small_trace().to_dict()
    data["spans"][1]["output"] = "PLACEHOLDER"
    text = json.dumps(data, indent=2).replace('"PLACEHOLDER"', "9" * 5000)
    path = tmp_path / "t.json"
    path.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "9" * 100 in row)
    with pytest.raises(at.TraceFileError, match=r"an integer of 5000 digits is longer than Python reads") as info:
        load_trace(path)
    assert info.value.line == line and info.value.column == text.splitlines()[line - 1].index("9999") + 1
    assert str(path) in str(info.value)


@pytest.mark.parametrize("version", ["true", "1.0", '"1"'])
def test_format_version_must_be_the_integer_1(tmp_path: Path, version: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(small_trace().to_dict()).replace('"format_version": 1', f'"format_version": {version}'))
    with pytest.raises(at.TraceFileError, match=r"format_version must be the integer 1, found"):
        load_trace(path)


def test_a_file_that_is_not_utf8_says_so_and_where(tmp_path: Path) -> None:
    data = small_trace().to_dict()
    data["name"] = "café"
    text = json.dumps(data, ensure_ascii=False, indent=2)
    path = tmp_path / "latin1.json"
    path.write_bytes(text.encode("latin-1"))
    offset = text.encode("latin-1").index(b"\xe9")
    with pytest.raises(at.TraceFileError, match=rf"not UTF-8 text: byte 0xe9 at byte offset {offset} ") as info:
        load_trace(path)
    assert info.value.line == 4  # {, format_version, trace_id, name
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(at.TraceFileError, match="not UTF-8 text .*UTF-16"):
        load_trace(path)


S = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["spans"][1].update(kind=S),
        lambda d: (
            d["spans"][1].update(span_id="AKIAABCDEFGHIJKLMNOP", parent_id=None)
            or d["spans"][0].update(span_id="AKIAABCDEFGHIJKLMNOP")
        ),
        lambda d: d["spans"][1].update({S: 1}),
        lambda d: d.update(format_version=S),
        lambda d: d["spans"][0].update(parent_id=S) or d["spans"][1].update(span_id=S, parent_id="1"),
    ],
    ids=["kind", "duplicate-id", "unknown-key", "format-version", "cycle"],
)
def test_loader_messages_redact_the_values_they_quote(tmp_path: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    data = small_trace().to_dict()
    change(data)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(at.TraceFileError) as info:
        load_trace(path)
    message = str(info.value)
    assert S not in message and "AKIAABCDEFGHIJKLMNOP" not in message
    assert "[REDACTED]" in message


def test_each_span_keeps_the_order_of_its_version_stamps(tmp_path: Path) -> None:
    data = small_trace().to_dict()
    data["spans"][0]["versions"] = {"a": "1", "b": "2"}
    data["spans"][1]["versions"] = {"b": "2", "a": "1"}  # equal, in another order
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    loaded = load_trace(path)
    assert [list(span.versions) for span in loaded.spans[:2]] == [["a", "b"], ["b", "a"]]
