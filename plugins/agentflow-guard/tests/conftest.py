"""Every async test runs once under asyncio and once under trio; hypothesis has a quick
profile for development and a thorough one for CI."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None)
# nox's default ``tests`` session asks for the dev profile; CI's extended sessions get 200.
settings.load_profile(os.environ.get("AGENTFLOW_HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
