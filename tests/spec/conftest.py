"""Fixtures of the spec tests (builders in :mod:`tests.spec.spec_helpers`)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_agenttrace.model import Trace

from .spec_helpers import pipeline_trace


@pytest.fixture
def pipeline() -> Trace:
    """The clean pipeline run of :func:`pipeline_trace`."""
    return pipeline_trace()


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec file (dedented) into ``tmp_path`` and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write
