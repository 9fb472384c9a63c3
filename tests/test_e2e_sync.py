"""The synchronous API, for scripts with no event loop."""

from __future__ import annotations

import pytest

from agentflow import AgentFlow, HttpError
from agentflow._api.sync import run_sync
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, ProviderConfig
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


def test_run_tools_and_execute_parsed_sync(runtime):
    import attrs

    from agentflow.testing import FakeToolCall

    @attrs.frozen
    class Total:
        total: int

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    runtime.script("openai", Reply(tool_calls=[FakeToolCall(name="add",
                                                            arguments={"a": 2, "b": 3})]),
                   Reply(text="5"), Reply(text='{"total": 5}'))
    run = AgentFlow.model("gpt-4o").prompt("2+3?").tools(add).run_tools_sync()
    assert run.text == "5"
    assert run.steps[0].tool_runs[0].value == 5
    assert AgentFlow.model("gpt-4o").prompt("total?").output_type(
        Total).execute_parsed_sync() == Total(total=5)
