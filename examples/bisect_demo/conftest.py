"""Point the recorder's prompt registry at this demo's own ``prompts/`` folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_agenttrace import Recorder
from pytest_agenttrace.versions import PromptRegistry

HERE = Path(__file__).parent


@pytest.fixture
def triage_recorder(agenttrace: Recorder) -> Recorder:
    """The test's recorder, resolving prompts from ``examples/bisect_demo/prompts``."""
    assert agenttrace.version_context is not None
    agenttrace.version_context.prompts = PromptRegistry(HERE / "prompts")
    return agenttrace
