"""pytest fixtures for testing code that uses agentflow, offline (entry point ``pytest11``).

``fake_llm_server``
    A running :class:`~agentflow.testing.FakeServer` with the emulation of every installed
    vendor plugin. One server serves the whole session; each test starts with no scripted
    reply and no recorded request.
``fake_agentflow``
    ``fake_llm_server`` plus an :class:`~agentflow.AgentFlow` pointed at it: every provider's
    ``base_url`` is the fake server and its API key a dummy one, so
    ``await AgentFlow.model("gpt-4o").prompt("hi").execute()`` runs offline, along the real
    path. An async fixture: use it in tests marked ``@pytest.mark.anyio``.

pytest imports this module at start-up, so it imports nothing but pytest; the server and
agentflow's runtime load when a test first asks for a fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from agentflow._runtime.runtime import Runtime
    from agentflow.config import Config
    from agentflow.testing.server import FakeServer

#: The environment variable that holds the dummy API key ``fake_agentflow`` configures.
FAKE_API_KEY_ENV = "AGENTFLOW_FAKE_API_KEY"
FAKE_API_KEY = "fake-key-not-a-secret"


class FakeAgentFlow:
    """What ``fake_agentflow`` yields: the fake server, and the runtime and configuration that
    the ``AgentFlow`` facade uses during the test."""

    def __init__(self, server: FakeServer, runtime: Runtime, config: Config) -> None:
        self.server = server
        self.runtime = runtime
        self.config = config

    def __repr__(self) -> str:
        return f"<FakeAgentFlow server={self.server!r}>"


@pytest.fixture(scope="session")
def fake_llm_server_session() -> Iterator[FakeServer]:
    """The session's fake provider server, with every installed plugin's emulation.

    Tests normally use ``fake_llm_server``, which resets it around each test.
    """
    from agentflow.testing.server import FakeServer

    with FakeServer.from_plugins() as server:
        yield server


@pytest.fixture
def fake_llm_server(fake_llm_server_session: FakeServer) -> Iterator[FakeServer]:
    """The fake provider server, with no scripted reply and no recorded request."""
    fake_llm_server_session.clear()
    yield fake_llm_server_session
    fake_llm_server_session.clear()


@pytest.fixture
async def fake_agentflow(fake_llm_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                         anyio_backend: object) -> AsyncIterator[FakeAgentFlow]:
    """``AgentFlow`` with every provider pointed at ``fake_llm_server``, for one test.

    Its runtime uses the process's plugin host, with the installed plugins; a plugin the test
    registers (``AgentFlow.register_plugin``) is unregistered when the test ends, so no later
    test runs with it.
    """
    from agentflow._api.facade import AgentFlow
    from agentflow._runtime.runtime import Runtime
    from agentflow.testing.wiring import fake_config

    monkeypatch.setenv(FAKE_API_KEY_ENV, FAKE_API_KEY)
    runtime = Runtime()
    registered = set(runtime.host.plugin_names())
    config = fake_config(fake_llm_server, runtime.host.providers(), api_key_env=FAKE_API_KEY_ENV)
    runtime.set_config(config)
    previous = AgentFlow.use_runtime(runtime)
    try:
        yield FakeAgentFlow(fake_llm_server, runtime, config)
    finally:
        AgentFlow.use_runtime(previous)
        await runtime.aclose()
        for name in runtime.host.plugin_names():
            if name not in registered:
                runtime.host.unregister(name)
