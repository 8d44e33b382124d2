"""pytest-agenttrace's own hooks, registered through ``pytest_addhooks``.

Sub-plugins of the package (specs, snapshots, report, adapters) and users'
``conftest.py`` files implement them to act on a finished recording.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy
import pytest

if TYPE_CHECKING:
    from .model import Trace
    from .recorder import Recorder

_spec = pluggy.HookspecMarker("pytest")


@_spec
def pytest_agenttrace_trace_finished(item: pytest.Item, recorder: Recorder, trace: Trace) -> Any:
    """Called once a test's recording has finished (right after the test body).

    Return a failure message (a string) to fail the test with it, or ``None``.
    All implementations run; their messages are joined.  ``recorder.results``
    is a dict where implementations leave findings for others (the spec plugin
    puts ``"violations"`` there, the snapshot plugin ``"snapshot_diffs"``).
    """
