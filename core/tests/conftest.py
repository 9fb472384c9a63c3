"""Shared fixtures: every async test runs once under asyncio and once under trio; ``server``
is the fake provider server with the echo vendor, one per test module (a module needing other
emulations defines its own ``server``)."""

from __future__ import annotations

import os

import pytest
from echo_vendor import EchoVendor
from hypothesis import HealthCheck, settings

from agentflow._plugins.host import PluginHost
from agentflow.testing import FakeServer

settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None)
# nox's default ``tests`` session asks for the dev profile; CI's extended sessions get 200.
settings.load_profile(os.environ.get("AGENTFLOW_HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") else "dev"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "soak: a long load test (thousands of calls); nox runs these in the "
        "tests_soak session, the default sessions leave them out with -m 'not soak'")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def server():
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    with FakeServer.from_plugins(host) as running:
        yield running
