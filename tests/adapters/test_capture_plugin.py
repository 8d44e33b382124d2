"""The capture option, automatic installation and the receiver fixture, through pytester."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from pytest_agenttrace.adapters import plugin as capture_plugin
from pytest_agenttrace.adapters.plugin import parse_capture

OTEL_TEST = """
from opentelemetry.sdk.trace import TracerProvider

provider = TracerProvider()  # the user's own provider, no agenttrace code

def test_run(agenttrace):
    tracer = provider.get_tracer("app")
    with agenttrace.agent("boss"):
        with tracer.start_as_current_span("execute_tool grep", attributes={"gen_ai.tool.name": "grep"}):
            pass
    kinds = [(s.kind, s.name, s.agent) for s in agenttrace.trace.spans]
    print("SPANS", kinds)
    assert kinds == EXPECTED
"""


def test_auto_capture_needs_no_code_change(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        OTEL_TEST.replace("EXPECTED", "[('agent', 'boss', 'boss'), ('tool', 'grep', 'boss')]")
        + "\n\ndef test_frameworks_the_tests_do_not_import_stay_unimported(agenttrace):\n"
        + "    import sys\n    assert 'agents' not in sys.modules and 'langchain_core' not in sys.modules\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_capture_none_switches_sources_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(OTEL_TEST.replace("EXPECTED", "[('agent', 'boss', 'boss')]"))
    pytester.runpytest("--agenttrace-capture=none").assert_outcomes(passed=1)


def test_ini_selects_sources(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_capture = langchain\n")
    pytester.makepyfile(OTEL_TEST.replace("EXPECTED", "[('agent', 'boss', 'boss')]"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["agenttrace capture: langchain"])


def test_unknown_source_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--agenttrace-capture=otel,crewai")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown source 'crewai'*use auto, none or a comma-separated list of otel, openai-agents, langchain*"]
    )


def test_an_unknown_source_in_the_ini_names_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_capture = bogus\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini option agenttrace_capture: unknown source 'bogus'; use auto, none or *"])
    result = pytester.runpytest("--agenttrace-capture=crewai")  # the option wins over the ini, and is named
    result.stderr.fnmatch_lines(["ERROR: --agenttrace-capture: unknown source 'crewai'; *"])


def test_explicit_missing_source_fails_the_recording_tests_and_says_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture_plugin, "_available", lambda source: source != "langchain")
    monkeypatch.setattr(capture_plugin, "_installed", set())
    pytester.makepyfile("def test_records(agenttrace): pass\n\ndef test_plain(): pass\n")
    result = pytester.runpytest("--agenttrace-capture=otel,langchain")
    # As documented: an error at the setup of each test that records; the others still run
    # (before the fix: a usage error, and no test ran).
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*LangChain/LangGraph capture needs the 'langchain-core' package: pip install 'pytest-agenttrace?langchain?'*"]
    )


def test_auto_hooks_a_framework_the_agent_code_imports_lazily(pytester: pytest.Pytester) -> None:
    pytest.importorskip("langchain_core")
    pytester.makepyfile(
        """
        import sys

        def run_agent():
            from langchain_core.language_models.fake_chat_models import FakeListChatModel
            return FakeListChatModel(responses=["hi"]).invoke("hello")

        def test_first(agenttrace):
            assert "langchain_core" not in sys.modules
            run_agent()
            assert [s.kind for s in agenttrace.trace.spans] == ["llm"]

        def test_second(agenttrace):
            run_agent()
            assert [s.kind for s in agenttrace.trace.spans] == ["llm"]
            from pytest_agenttrace.adapters.plugin import _WATCHER

            assert not [m for m in _WATCHER.pending if m.startswith("langchain")]  # done watching LangChain
            loader = sys.modules["langchain_core.callbacks"].__spec__.loader
            assert type(loader).__name__ != "_NotifyingLoader"  # the module keeps its own loader
        """
    )
    # Before the fix: the first test failed (nothing captured), the second passed.
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_auto_skips_missing_sources_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_plugin, "_available", lambda source: False)
    monkeypatch.setattr(capture_plugin, "_installed", set())
    assert capture_plugin.install_sources(("otel", "langchain"), explicit=False) == ([], ["otel", "langchain"])
    from pytest_agenttrace.exceptions import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"pip install 'pytest-agenttrace\[otel\]'"):
        capture_plugin.install_sources(("otel",), explicit=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", (("otel", "openai-agents", "langchain"), False)),
        ("", (("otel", "openai-agents", "langchain"), False)),
        ("none", ((), True)),
        ("otel", (("otel",), True)),
        (" LangChain , otel,otel", (("langchain", "otel"), True)),
    ],
)
def test_parse_capture_table(value: str, expected: tuple[tuple[str, ...], bool]) -> None:
    assert parse_capture(value) == expected


def test_receiver_fixture_feeds_the_test_trace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import json, time, urllib.request

        def test_receive(agenttrace, agenttrace_otlp_receiver):
            span = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b7", "name": "execute_tool ls",
                    "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns() + 10),
                    "attributes": [{"key": "gen_ai.tool.name", "value": {"stringValue": "ls"}}]}
            body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
            request = urllib.request.Request(agenttrace_otlp_receiver.traces_url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            assert [s.name for s in agenttrace.trace.find("tool")] == ["ls"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_nested_session_stops_only_its_own_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-process pytester run inside a recording test watches and forgets too: the outer
    session's watch of a framework not imported yet must survive it (found by a review)."""
    import sys

    monkeypatch.setitem(capture_plugin._WATCHED_MODULES, "fake", ("agenttrace_fake_fw", "agenttrace_fake_fw.tracing"))
    watcher = capture_plugin._InstallOnImport()
    try:
        assert watcher.watch("fake")  # the outer session
        assert watcher.watch("fake")  # an inner session
        watcher.forget({"fake"})  # the inner one ends
        assert set(watcher.pending) == {"agenttrace_fake_fw", "agenttrace_fake_fw.tracing"}
        assert watcher in sys.meta_path
        watcher.forget({"fake"})  # the outer one ends
        assert not watcher.pending and watcher not in sys.meta_path
    finally:
        if watcher in sys.meta_path:
            sys.meta_path.remove(watcher)


def test_whether_a_framework_is_installed_is_looked_up_once_per_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Auto capture asks at every recording test; the metadata lookup (about 85 µs) runs once."""
    import importlib.metadata

    calls: list[str] = []
    real = importlib.metadata.distribution

    def counting(name: str) -> Any:
        calls.append(name)
        return real(name)

    monkeypatch.setattr(capture_plugin, "_AVAILABLE", {})
    monkeypatch.setattr(importlib.metadata, "distribution", counting)
    assert capture_plugin._available("otel") and capture_plugin._available("otel")
    assert len(calls) == 1
    capture_plugin._AVAILABLE.clear()  # what pytest_configure does at a session's start
    assert capture_plugin._available("otel") and len(calls) == 2
