"""The synchronous API, for scripts with no event loop."""

from __future__ import annotations

import pytest

from agentflow import AgentFlow, HttpError
from agentflow.config import Config, ProviderConfig
from agentflow.runtime import Runtime
from agentflow.sync import run_sync
from agentflow.testing import FakeServer, Reply


@pytest.fixture
def runtime(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sync-test-key")
    with FakeServer.from_plugins() as server:
        runtime = Runtime(config=Config(providers={
            "openai": ProviderConfig(base_url=server.base_url("openai"))}))
        previous = AgentFlow.use_runtime(runtime)
        try:
            yield server
        finally:
            run_sync(AgentFlow.aclose)  # the pools live on the synchronous API's own loop
            AgentFlow.use_runtime(previous)


def test_execute_sync_reuses_one_pool_across_calls(runtime):
    runtime.script("openai", Reply(text="first"), Reply(text="second"))
    assert AgentFlow.model("gpt-4o").prompt("a").execute_sync() == "first"
    response = AgentFlow.model("gpt-4o").prompt("b").execute_response_sync()
    assert response.text == "second"
    assert len(AgentFlow.runtime().pools) == 1


def test_sync_errors_are_the_same_errors(runtime):
    runtime.script("openai", Reply(status=400, error_message="bad shape"))
    with pytest.raises(HttpError, match="bad shape"):
        AgentFlow.model("gpt-4o").prompt("a").execute_sync()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_sync_call_inside_an_event_loop_is_refused(anyio_backend):
    with pytest.raises(RuntimeError, match="cannot run inside an event loop"):
        AgentFlow.model("gpt-4o").prompt("a").execute_sync()
