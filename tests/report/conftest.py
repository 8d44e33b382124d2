"""Headless Chromium for the report's browser tests (system Chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_agenttrace.report._samples import CHROMIUM_ARGS
from pytest_agenttrace.report.html import ReportEntry, write_html


def chromium_path() -> str | None:
    """``AGENTTRACE_CHROMIUM``, else the system Chromium."""
    explicit = os.environ.get("AGENTTRACE_CHROMIUM")
    if explicit:
        return explicit
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        message = "no Chromium found: install the system package (apt-get install chromium) or set AGENTTRACE_CHROMIUM"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser must not pass as a skip there
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``AGENTTRACE_ARTIFACTS`` (CI uploads it), else a temporary directory."""
    configured = os.environ.get("AGENTTRACE_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class OpenedReport:
    """A report page open in the browser, with everything it said."""

    page: Any
    path: Path
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and dialogs: all must stay empty."""
        noisy = [f"console {kind}: {text}" for kind, text in self.console if kind in ("error", "warning")]
        return noisy + [f"page error: {e}" for e in self.errors] + [f"dialog: {d}" for d in self.dialogs]


@pytest.fixture
def open_report(browser: Any, tmp_path: Path) -> Iterator[Callable[..., OpenedReport]]:
    pages: list[Any] = []

    def opener(
        entries: list[ReportEntry], fragment: str = "", viewport: tuple[int, int] = (1400, 1000)
    ) -> OpenedReport:
        path = write_html(tmp_path / f"report{len(pages)}.html", entries)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        pages.append(page)
        opened = OpenedReport(page, path)
        page.on("console", lambda message: opened.console.append((message.type, message.text)))
        page.on("pageerror", lambda error: opened.errors.append(str(error)))
        page.on("dialog", lambda dialog: (opened.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", lambda request: opened.requests.append(request.url))
        page.goto(path.as_uri() + fragment)
        page.wait_for_function("window.agenttrace && window.agenttrace.ready", timeout=60_000)
        return opened

    yield opener
    for page in pages:
        page.close()
