"""Seeing a run: the span tree in the terminal and a self-contained HTML report.

* :func:`render_tree` (:mod:`.terminal`): the tree as text, coloured on a
  terminal, with the spans that violations flag marked; ``agenttrace show``.
* :func:`write_html` / :func:`render_html` (:mod:`.html`): one HTML file per
  session with, per test, the span tree, a timeline with one lane per agent,
  the violations linked to their spans and the snapshot diff;
  ``pytest --agenttrace-report=FILE.html`` (:mod:`.plugin`) and
  ``agenttrace report`` (:mod:`.cli`) write it.

See ``docs/report.md``.
"""

from __future__ import annotations

from .html import ReportEntry, encode_record, render_html, write_html
from .terminal import render_tree

__all__ = ["ReportEntry", "encode_record", "render_html", "render_tree", "write_html"]
