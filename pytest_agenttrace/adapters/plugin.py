"""The pytest side of live capture: which frameworks' spans a test's trace receives.

Option ``--agenttrace-capture=SOURCES`` (ini ``agenttrace_capture``), a
comma-separated list of ``otel``, ``openai-agents`` and ``langchain``, or
``auto`` (the default: every one whose package is installed) or ``none``.

The selected sources' global hooks are installed once for the process: the
OpenTelemetry span processor at startup (so tracer providers created while
test modules are imported are joined too), the Agents SDK trace processor and
LangChain's configure hook when a test that uses the ``agenttrace`` fixture
is set up.  With ``auto`` the plugin does not import those frameworks itself
(the Agents SDK takes seconds to import, and its top-level package
``agents`` would shadow a project's own ``agents`` module): one the tests
have imported by then is hooked at once; one not yet imported is hooked as
soon as anything imports it (a finder on ``sys.meta_path`` watches for its
modules), so agent code importing its framework lazily, inside the first
recording test, is captured too.  A source named explicitly is imported.
From then on each hook routes spans to whichever recorder is active and
does nothing between tests.  With ``auto`` a missing package is skipped
silently; naming a source whose package is missing fails every test that
records, at its setup, with what to ``pip install`` (tests that do not
record still run).

Fixture ``agenttrace_otlp_receiver``: an OTLP/HTTP receiver on 127.0.0.1
feeding the test's recorder (see :func:`pytest_agenttrace.adapters.otel.otlp_receiver`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

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
#: The modules whose import completes a framework for its hook (auto capture installs it then):
#: the package first, so a project's own ``agents`` module without ``agents.tracing`` never counts.
_WATCHED_MODULES: Final[dict[str, tuple[str, ...]]] = {
    "openai-agents": ("agents", "agents.tracing"),
    "langchain": ("langchain_core", "langchain_core.callbacks", "langchain_core.tracers.context"),
}
_installed: set[str] = set()


class _InstallOnImport:
    """A ``sys.meta_path`` finder that installs an auto-captured source once its framework is imported.

    It finds nothing itself: for a watched module it asks the finders after it and wraps the
    loader of the spec they return so that the source is installed when the last of its watched
    modules has finished executing (never halfway through an import chain).  Every other import
    costs one dictionary lookup.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: watched module -> its source, for the modules not imported yet
        self.pending: dict[str, str] = {}
        #: source -> how many sessions watch it (an in-process pytester run inside a test is one more)
        self.watchers: dict[str, int] = {}

    def watch(self, source: str) -> bool:
        """Watch ``source``'s modules; ``False`` when they are all imported already."""
        missing = [m for m in _WATCHED_MODULES.get(source, ()) if m not in sys.modules]
        if not missing:
            return False
        with self._lock:
            self.watchers[source] = self.watchers.get(source, 0) + 1
            for module in missing:
                self.pending[module] = source
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)
        return True

    def forget(self, sources: Iterable[str]) -> None:
        """One session stops watching ``sources``: a source no session watches any more is dropped
        (the finder leaves ``sys.meta_path`` when nothing is watched)."""
        drop = set()
        with self._lock:
            for source in set(sources):
                left = self.watchers.get(source, 0) - 1
                if left > 0:
                    self.watchers[source] = left
                else:
                    self.watchers.pop(source, None)
                    drop.add(source)
            self.pending = {m: s for m, s in self.pending.items() if s not in drop}
            if not self.pending and self in sys.meta_path:
                sys.meta_path.remove(self)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.pending:
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _NotifyingLoader(spec.loader, self._imported)
        return spec

    def _imported(self, fullname: str) -> None:
        with self._lock:
            source = self.pending.pop(fullname, None)
            if source is None or source in self.pending.values():
                return
            if not self.pending and self in sys.meta_path:
                sys.meta_path.remove(self)
        try:
            install_sources((source,), explicit=False)
        except Exception:  # noqa: BLE001 - never break the user's import
            _context.log.warning("agenttrace: could not install %s capture; skipped", source, exc_info=True)


class _NotifyingLoader:
    """Runs the real loader, puts it back on the module, then says the module is imported."""

    def __init__(self, loader: Any, imported: Callable[[str], None]) -> None:
        self._loader = loader
        self._imported = imported

    def create_module(self, spec: Any) -> Any:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        try:
            self._loader.exec_module(module)
        finally:
            # The module keeps its own loader (resources, source lookups, reloads).
            spec = module.__spec__
            if spec is not None and getattr(spec, "loader", None) is self:
                spec.loader = self._loader
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._loader
        self._imported(module.__name__)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


_WATCHER: Final = _InstallOnImport()


@dataclass
class CaptureState:
    """What this session captures: the selected sources, and whether they were named explicitly."""

    sources: tuple[str, ...]
    explicit: bool
    installed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    previous: frozenset[str] | None = None
    #: Auto sources not imported yet, watched for their import.
    watching: set[str] = field(default_factory=set)


CAPTURE_KEY: Final = pytest.StashKey[CaptureState]()


def parse_capture(value: str, *, source: str = "--agenttrace-capture") -> tuple[tuple[str, ...], bool]:
    """``(sources, explicit)`` from an option value; raises ``ValueError`` on unknown names.

    ``source`` names where the value came from (the option, or ``ini option agenttrace_capture``), for the message.
    """
    text = (value or "auto").strip().lower()
    if text == "auto":
        return tuple(_SOURCES), False
    if text == "none":
        return (), True
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in _SOURCES]
    if unknown or not names:
        raise ValueError(
            f"{source}: unknown source {', '.join(map(repr, unknown)) or repr(value)}; "
            f"use auto, none or a comma-separated list of {', '.join(_SOURCES)}."
        )
    return names, True


#: source -> whether its package is installed, asked once per pytest session (a metadata lookup costs
#: about 85 µs, and auto capture asks at every recording test for each framework not hooked yet)
_AVAILABLE: dict[str, bool] = {}


def _available(source: str) -> bool:
    known = _AVAILABLE.get(source)
    if known is None:
        try:
            importlib.metadata.distribution(_SOURCES[source][1])
        except importlib.metadata.PackageNotFoundError:
            known = False
        else:
            known = True
        _AVAILABLE[source] = known
    return known


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
    _AVAILABLE.clear()  # each session looks again (a package installed since is found)
    value = config.getoption("agenttrace_capture", None)
    source = "--agenttrace-capture"
    if not value:
        value, source = str(config.getini("agenttrace_capture") or "auto"), "ini option agenttrace_capture"
    try:
        sources, explicit = parse_capture(value, source=source)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[CAPTURE_KEY] = CaptureState(sources=sources, explicit=explicit, previous=_context.get_enabled())
    _context.set_enabled(sources)
    if "otel" in sources and (not explicit or _available("otel")):
        # Now rather than at the first recording test: tracer providers made while test
        # modules are imported must be joined too.  Cheap (the SDK imports in ~40 ms).  A named
        # source that is missing fails the tests that record, at their setup (not the session).
        install_sources(("otel",), explicit=explicit)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(CAPTURE_KEY, None)
    if state is not None:
        _context.set_enabled(state.previous)  # an in-process pytester run hands back the outer setting
        if state.watching:
            _WATCHER.forget(state.watching)


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
    if not state.explicit:
        # A framework imported later (lazily, by the agent code under test) is hooked on import.
        for source in state.skipped:
            if (
                source in _WATCHED_MODULES
                and source not in state.watching | _installed
                and _available(source)
                and _WATCHER.watch(source)
            ):
                state.watching.add(source)


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
