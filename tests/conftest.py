"""Shared configuration of the project's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import yaml  # noqa: F401 - see below
from hypothesis import HealthCheck, settings

from pytest_agenttrace import sanitize

pytest_plugins = ["pytester"]

# PyYAML is imported here, before any in-process pytester run: such a run unloads the modules it
# imported, but a C extension (yaml._yaml) keeps the node classes of its first import, and the
# reimported yaml's resolver, comparing against its new classes, then leaves every tag None (a
# spec check after such a run failed with "the tag None is not allowed in a spec").

# Trace strategies draw whole trees: generation is legitimately slower than for scalars,
# and the 2-core CI machine is shared, so wall-clock health checks only add noise.
settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    max_examples=60,
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _inner_sessions_are_not_xdist_workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytester session started inside an xdist worker must not believe it is one.

    syrupy (and others) read PYTEST_XDIST_WORKER and would leave their summary to a
    controller that the inner session does not have.
    """
    if "pytester" in request.fixturenames:
        for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_secret_outlives_its_test() -> Iterator[None]:
    """Secrets one test's recordings redacted must not scrub another test's failure output."""
    yield
    sanitize._forget_redacted()
