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
    """Called once per recording test, when its recording has finished (right after the test body).

    Called exactly once, also when the test finished the recording itself
    (``agenttrace.finish()``) or never reached its body (a setup error).

    Return a failure message (a string) to fail the test with it, or ``None``.
    All implementations run; their messages are joined.  ``recorder.results``
    is a dict where implementations leave findings for others (the spec plugin
    puts ``"violations"`` there, the snapshot plugin ``"snapshot_diffs"``).
    ``recorder.results["body_passed"]`` is ``True`` when the test body returned
    normally, ``False`` when it raised (failure, error, skip, xfail) or did not
    run: the snapshot plugin then neither compares nor writes a golden.

    When the body raised, the test keeps its own outcome: returned messages and
    an exception raised here are added to its report as the section
    ``agenttrace``.  When the body passed, a message or an exception fails the
    test (but an exception stops the implementations after this one).
    """
