"""Benchmark of the HTML report and the terminal tree (a measurement, not a test).

Run from the repository root::

    python benchmarks/bench_report.py                 # 1k, 10k and 100k spans
    python benchmarks/bench_report.py --sizes 1000 10000 --no-browser

For each trace size it prints

* ``generate``: encoding the trace and writing the page (best of 3), the goal
  is under 1 s for 10k spans; ``bytes/span``: the page size per span;
* ``terminal``: rendering the whole tree as text;
* in headless Chromium (system executable, as the browser tests use it):
  ``tti``: from navigation start until the page is drawn and answers input
  (``window.agenttrace.tti``; the goal is under 2 s for 10k spans), then the
  time of ``expand all``, a field search (``kind:llm``), a first free-text
  search (builds the search index) and a scroll to the end of the tree.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_agenttrace.model import Trace
from pytest_agenttrace.report._samples import CHROMIUM_ARGS, generated_trace
from pytest_agenttrace.report.html import ReportEntry, write_html
from pytest_agenttrace.report.terminal import render_tree

_SEARCH = """(query) => {
  const input = document.querySelector('.filters input[type=search]');
  input.value = query;
  const t = performance.now();
  input.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));
  document.body.offsetHeight;
  return performance.now() - t;
}"""

_EXPAND = """() => {
  const t = performance.now();
  window.agenttrace.view.tree.setAll(true);
  document.body.offsetHeight;
  return performance.now() - t;
}"""

_SCROLL = """() => {
  const tree = document.querySelector('.tree');
  const t = performance.now();
  tree.scrollTop = tree.scrollHeight;
  window.agenttrace.view.tree.render();
  document.body.offsetHeight;
  return performance.now() - t;
}"""


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def write_report(path: Path, trace: Trace) -> None:
    write_html(path, [ReportEntry.from_trace(trace, outcome="passed")])


def browser_numbers(path: Path, executable: str) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        page.wait_for_function("window.agenttrace && window.agenttrace.ready", timeout=120_000)
        numbers = {
            "tti_ms": page.evaluate("window.agenttrace.tti"),
            "expand_all_ms": page.evaluate(_EXPAND),
            "field_search_ms": page.evaluate(_SEARCH, "kind:llm"),
            "text_search_ms": page.evaluate(_SEARCH, "simulated"),
            "scroll_end_ms": page.evaluate(_SCROLL),
        }
        browser.close()
    if errors:
        raise SystemExit(f"the page failed: {errors}")
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measurements")
    parser.add_argument("--chromium", default=os.environ.get("AGENTTRACE_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    browser = not args.no_browser and Path(args.chromium).exists()
    header = f"{'spans':>8} {'generate':>9} {'bytes/span':>10} {'terminal':>9}"
    if browser:
        header += f" {'tti':>8} {'expand all':>10} {'kind:llm':>9} {'text':>8} {'scroll':>7}"
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            trace = generated_trace(size)
            path = Path(tmp) / f"report-{size}.html"
            generate = best_of(3, functools.partial(write_report, path, trace))
            per_span = path.stat().st_size / len(trace.spans)
            terminal = best_of(1, functools.partial(render_tree, trace))
            line = f"{len(trace.spans):>8} {generate:>8.3f}s {per_span:>10.0f} {terminal:>8.3f}s"
            if browser:
                b = browser_numbers(path, args.chromium)
                line += (
                    f" {b['tti_ms'] / 1000:>7.2f}s {b['expand_all_ms']:>8.0f}ms {b['field_search_ms']:>7.0f}ms"
                    f" {b['text_search_ms']:>6.0f}ms {b['scroll_end_ms']:>5.0f}ms"
                )
            print(line, flush=True)
    if not browser:
        print("(no browser numbers: Chromium not found or --no-browser)")


if __name__ == "__main__":
    main()
