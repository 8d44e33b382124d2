"""The pytest side of live capture: which frameworks' spans a test's trace receives.

Option ``--agenttrace-capture=SOURCES`` (ini ``agenttrace_capture``), a
comma-separated list of ``otel``, ``openai-agents`` and ``langchain``, or
``auto`` (the default: every one whose package is installed) or ``none``.

The selected sources' global hooks are installed once for the process: the
OpenTelemetry span processor at startup (so tracer providers created while
test modules are imported are joined too), the Agents SDK trace processor and
LangChain's configure hook when a test that uses the ``agenttrace`` fixture
is set up.  With ``auto`` those two are hooked once the tests have imported
the framework (at module level, as tests usually do); the plugin does not
import them itself: the Agents SDK takes seconds to import, and its
top-level package ``agents`` would shadow a project's own ``agents``
module.  A source named explicitly is imported.  From then on each hook
routes spans to whichever recorder is active and does nothing between
tests.  With ``auto`` a missing package is skipped silently; naming a source
whose package is missing is a usage error that says what to ``pip install``.

Fixture ``agenttrace_otlp_receiver``: an OTLP/HTTP receiver on 127.0.0.1
feeding the test's recorder (see :func:`pytest_agenttrace.adapters.otel.otlp_receiver`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import pytest

from ..exceptions import MissingExtraError
from . import _context

if TYPE_CHECKING:
    from ..recorder import Recorder
    from .otel import OTLPReceiver

__all__ = ["CAPTURE_KEY", "CaptureState", "agenttrace_otlp_receiver", "install_sources", "parse_capture"]

#: source -> (module with install(), distribution to look for, extra, feature text)
_SOURCES: Final[dict[str, tuple[str, str, str, str]]] = {
    "otel": ("pytest_agenttrace.adapters.otel", "opentelemetry-sdk", "otel", "OpenTelemetry capture"),
    "openai-agents": (
        "pytest_agenttrace.adapters.openai_agents",
        "openai-agents",
        "openai-agents",
        "OpenAI Agents SDK capture",
    ),
    "langchain": ("pytest_agenttrace.adapters.langchain", "langchain-core", "langchain", "LangChain/LangGraph capture"),
}
#: With auto capture a framework is hooked once the tests have imported it (this module is
#: in ``sys.modules``): importing it ourselves would cost seconds (the Agents SDK) and could
#: shadow a project's own top-level module of the same name (``agents``).
_IMPORTED_MARKERS: Final[dict[str, str]] = {
    "otel": "opentelemetry.trace",
    "openai-agents": "agents.tracing",
    "langchain": "langchain_core.callbacks",
}
_installed: set[str] = set()


@dataclass
class CaptureState:
    """What this session captures: the selected sources, and whether they were named explicitly."""

    sources: tuple[str, ...]
    explicit: bool
    installed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    previous: frozenset[str] | None = None


CAPTURE_KEY: Final = pytest.StashKey[CaptureState]()


def parse_capture(value: str) -> tuple[tuple[str, ...], bool]:
    """``(sources, explicit)`` from an option value; raises ``ValueError`` on unknown names."""
    text = (value or "auto").strip().lower()
    if text == "auto":
        return tuple(_SOURCES), False
    if text == "none":
        return (), True
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in _SOURCES]
    if unknown or not names:
        raise ValueError(
            f"--agenttrace-capture: unknown source {', '.join(map(repr, unknown)) or repr(value)}; "
            f"use auto, none or a comma-separated list of {', '.join(_SOURCES)}."
        )
    return names, True


def _available(source: str) -> bool:
    try:
        importlib.metadata.distribution(_SOURCES[source][1])
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def install_sources(
    sources: tuple[str, ...], *, explicit: bool, imported_only: bool = False
) -> tuple[list[str], list[str]]:
    """Install the global hooks of ``sources`` once per process; ``(installed, skipped)``.

    An explicitly requested source whose package is missing raises
    :class:`~pytest_agenttrace.exceptions.MissingExtraError`; with auto
    capture it is skipped.  ``imported_only`` skips the frameworks nothing
    has imported yet.  Idempotent: an installed hook is only re-checked.
    """
    installed: list[str] = []
    skipped: list[str] = []
    for source in sources:
        module_name, dist, extra, feature = _SOURCES[source]
        if imported_only and _IMPORTED_MARKERS[source] not in sys.modules:
            skipped.append(source)
            continue
        if source not in _installed and not _available(source):
            if explicit:
                raise MissingExtraError(feature, extra, dist)
            skipped.append(source)
            continue
        try:
            importlib.import_module(module_name).install()
        except MissingExtraError:
            if explicit:
                raise
            skipped.append(source)
            continue
        except Exception:
            if explicit:
                raise
            _context.log.warning("agenttrace: could not install %s capture; skipped", source, exc_info=True)
            skipped.append(source)
            continue
        _installed.add(source)
        installed.append(source)
    return installed, skipped


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agenttrace")
    group.addoption(
        "--agenttrace-capture",
        default=None,
        dest="agenttrace_capture",
        metavar="SOURCES",
        help="framework spans to capture into traces: auto (default), none, or a comma list of otel,openai-agents,langchain.",
    )
    parser.addini(
        "agenttrace_capture",
        "framework spans to capture: auto, none, or a comma list of otel,openai-agents,langchain",
        default="auto",
    )


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption("agenttrace_capture", None) or str(config.getini("agenttrace_capture") or "auto")
    try:
        sources, explicit = parse_capture(value)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if explicit:
        for source in sources:
            if not _available(source):
                _module, dist, extra, feature = _SOURCES[source]
                raise pytest.UsageError(str(MissingExtraError(feature, extra, dist)))
    config.stash[CAPTURE_KEY] = CaptureState(sources=sources, explicit=explicit, previous=_context.get_enabled())
    _context.set_enabled(sources)
    if "otel" in sources:
        # Now rather than at the first recording test: tracer providers made while test
        # modules are imported must be joined too.  Cheap (the SDK imports in ~40 ms).
        install_sources(("otel",), explicit=explicit)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(CAPTURE_KEY, None)
    if state is not None:
        _context.set_enabled(state.previous)  # an in-process pytester run hands back the outer setting


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if "agenttrace" not in getattr(item, "fixturenames", ()):
        return
    state = item.config.stash.get(CAPTURE_KEY, None)
    if state is None or not state.sources:
        return
    # Every recording test: hook what the tests have imported by now (auto) or everything
    # named (explicit), and re-check hooks already in place (cheap): user code may have
    # replaced a framework's processor list since (``set_trace_processors([...])``).
    state.installed, state.skipped = install_sources(
        state.sources, explicit=state.explicit, imported_only=not state.explicit
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(CAPTURE_KEY, None)
    if state is None or not state.explicit:
        return []
    return [f"agenttrace capture: {', '.join(state.sources) or 'none'}"]


@pytest.fixture
def agenttrace_otlp_receiver(agenttrace: Recorder) -> Iterator[OTLPReceiver]:
    """An OTLP/HTTP receiver on 127.0.0.1 feeding this test's trace.

    ``receiver.env()`` is the environment for a child process (exporter
    endpoint, ``TRACEPARENT``, ``BAGGAGE``): its spans land under the span
    open when ``env()`` was called.
    """
    from .otel import otlp_receiver

    with otlp_receiver(agenttrace) as receiver:
        yield receiver
