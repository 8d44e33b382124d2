"""Finishing turns each recording handle into its frozen span in place: what that promises."""

from __future__ import annotations

import dataclasses
import enum
import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agenttrace import Span, UsageError
from pytest_agenttrace.recorder import Recorder
from pytest_agenttrace.sanitize import REDACTED, Limits


def test_a_handle_kept_after_finish_is_its_frozen_span() -> None:
    rec = Recorder("t")
    with rec.activate(), rec.agent("a"), rec.tool("search", q="x") as handle:
        handle.set_output("ok")
    trace = rec.finish()
    assert trace.spans[1] is handle
    assert isinstance(handle, Span) and handle.ended
    assert handle.output == "ok" and handle.agent == "a"
    with pytest.raises(dataclasses.FrozenInstanceError):
        handle.name = "other"  # type: ignore[misc]


def test_finished_spans_without_attributes_links_or_events_share_one_empty_container_each() -> None:
    rec = Recorder("t")
    with rec.activate(), rec.agent("a"):
        with rec.tool("one"):
            pass
        with rec.tool("two", q="x"):
            pass
        with rec.tool("three"):
            pass
    trace = rec.finish()
    bare = [trace.spans[0], trace.spans[1], trace.spans[3]]
    assert all(span.attributes == {} for span in bare)
    assert len({id(span.attributes) for span in bare}) == 1  # fewer objects: a smaller trace to check
    assert trace.spans[2].attributes == {"q": "x"}
    assert len({id(span.links) for span in trace.spans}) == len({id(span.events) for span in trace.spans}) == 1


@pytest.mark.parametrize("call", ["set_output", "set_attribute", "link", "add_event", "end", "set_status"])
def test_changing_a_span_after_finish_is_a_one_sentence_usage_error(call: str) -> None:
    rec = Recorder("t")
    with rec.activate(), rec.tool("search") as handle:
        pass
    rec.finish()
    with pytest.raises(UsageError, match=r"belongs to a finished trace") as info:
        getattr(handle, call)("x")
    assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")


def test_a_missing_attribute_of_a_span_is_still_an_attribute_error() -> None:
    span = Span(span_id="1", parent_id=None, kind="tool", name="t")
    assert not hasattr(span, "no_such_thing")


def test_finishing_inside_an_open_with_block_closes_it_cleanly() -> None:
    rec = Recorder("t")
    with rec.activate(), rec.agent("a") as outer:
        trace = rec.finish()
    assert outer is trace.spans[0]
    assert outer.status == "error" and outer.error == {
        "type": "Unfinished",
        "message": "span was still open when the recording finished",
    }


def test_a_snapshot_taken_while_recording_does_not_change_afterwards() -> None:
    rec = Recorder("t")
    with rec.activate(), rec.tool("search", q="x") as handle:
        handle.link("7")
        snapshot = rec.trace
        handle.set_attribute("late", 1)
        handle.link("8")
    assert snapshot.spans[0] is not handle
    assert snapshot.spans[0].attributes == {"q": "x"} and snapshot.spans[0].links == ["7"]
    assert rec.finish().spans[0].attributes == {"q": "x", "late": 1}


def test_handle_lookup_by_id() -> None:
    rec = Recorder("t")
    with rec.activate(), rec.agent("a") as a, rec.tool("b") as b:
        pass
    assert rec.handle("1") is a and rec.handle("2") is b
    assert rec.handle("007") is None and rec.handle("3") is None and rec.handle("x") is None
    assert rec.handle("0") is None


def test_spans_started_by_racing_threads_get_unique_ids_and_can_be_looked_up() -> None:
    rec = Recorder("t")
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        for _ in range(300):
            with rec.tool("t"):
                pass

    with rec.activate():
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    trace = rec.finish()
    ids = [s.span_id for s in trace.spans]
    assert len(ids) == len(set(ids)) == 1200
    assert all(rec.handle(span_id) is trace.span(span_id) for span_id in ids)


def test_secret_keys_are_redacted_on_every_span_not_only_the_first() -> None:
    # Clean attributes are kept as they are once their keys and values are known to be safe:
    # a secret key must never become "known safe" because its first value was harmless.
    rec = Recorder("t")
    with rec.activate():
        for value in (None, REDACTED, 12345, "sk-abcdefghijklmnopqrstuvwxyz", True):
            with rec.tool("call", api_key=value, model="m1"):
                pass
    spans = rec.finish().spans
    assert [s.attributes["api_key"] for s in spans] == [None, REDACTED, REDACTED, REDACTED, REDACTED]
    assert all(s.attributes["model"] == "m1" for s in spans)


class _Note(str, enum.Enum):  # noqa: UP042 - equal to "note", but str() is "_Note.KEY" (not so in a StrEnum)
    KEY = "note"


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["model", "why", "token", "password", "tokens", "note", "auth_type", "secret_sauce", _Note.KEY]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=True, allow_infinity=True),
            st.text(max_size=30),
            st.sampled_from(["Bearer abcdefghijkl", "sk-proj-aaaaaaaaaaaaaaaaaaaaaaaa", "password=hunter22"]),
            st.lists(st.integers(), max_size=3),
        ),
        max_size=6,
    ),
    st.integers(min_value=1, max_value=3),
)
def test_attributes_kept_as_they_are_equal_a_full_clean_property(attrs: dict[str, object], repeats: int) -> None:
    from pytest_agenttrace.sanitize import clean

    rec = Recorder("t")
    with rec.activate():
        for _ in range(repeats):  # later spans take the "already clean" path for what earlier ones taught
            with rec.tool("t", **attrs):
                pass
    for span in rec.finish().spans:
        # Limits(): the full pass.  Compared as written (JSON): a str subclass key the fast path kept is
        # the same text, another object.
        assert json.dumps(span.attributes) == json.dumps(clean(dict(attrs), Limits()))


def test_from_dict_builds_full_and_partial_span_dicts_alike() -> None:
    from pytest_agenttrace import Trace

    full = Span(span_id="1", parent_id=None, kind="tool", name="t", attributes={"a": 1}).to_dict()
    partial = {"span_id": "2", "parent_id": "1", "kind": "llm", "name": "m"}
    trace = Trace.from_dict({"trace_id": "x", "name": "n", "started_at": "s", "spans": [full, partial]})
    assert trace.spans[0] == Span(**full) and trace.spans[1] == Span(**partial)
    with pytest.raises(TypeError, match="bogus"):
        Trace.from_dict({"trace_id": "x", "name": "n", "started_at": "s", "spans": [{**partial, "bogus": 1}]})
    swapped = dict(full)
    swapped["bogus"] = swapped.pop("links")  # 18 keys, one of them unknown
    with pytest.raises(TypeError, match="bogus"):
        Trace.from_dict({"trace_id": "x", "name": "n", "started_at": "s", "spans": [swapped]})


def test_span_ids_past_the_shared_table_are_still_their_numbers() -> None:
    from pytest_agenttrace import recorder

    table = len(recorder._SPAN_IDS)
    assert recorder._span_id(table + 5) == str(table + 5)
    assert all(recorder._SPAN_IDS[i] == str(i) for i in range(len(recorder._SPAN_IDS)))
    assert recorder._span_id(recorder._SPAN_IDS_MAX + 3) == str(recorder._SPAN_IDS_MAX + 3)
