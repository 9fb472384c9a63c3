"""Gemini through agentflow's public API, over loopback HTTP against the emulation."""

from __future__ import annotations

import pytest

from agentflow import AgentFlow, HttpError, ProviderError
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio
MODEL = "gemini-2.5-flash"


async def test_a_plain_call_and_a_stream(fake_agentflow):
    server = fake_agentflow.server
    server.script("google", Reply(text="Hello from Gemini"), Reply(text="Hello from Gemini"))
    response = await AgentFlow.model(MODEL).system("Be brief.").prompt("hi").execute_response()
    stream = await AgentFlow.model(MODEL).prompt("hi").execute_streaming()
    assert response.text == await stream.collect_all() == "Hello from Gemini"
    plain, streamed = server.requests
    assert plain.path == "/google/v1beta/models/gemini-2.5-flash:generateContent"
    assert streamed.path == "/google/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert streamed.query == {"alt": "sse"}
    assert "key" not in plain.query


async def test_a_blocked_prompt_is_a_clear_error(fake_agentflow):
    fake_agentflow.server.script("google", Reply(finish_reason="blocked:PROHIBITED_CONTENT"))
    with pytest.raises(ProviderError, match="blockReason=PROHIBITED_CONTENT"):
        await AgentFlow.model(MODEL).prompt("something forbidden").execute()
    assert len(fake_agentflow.server.requests) == 1


async def test_a_safety_stop_is_a_clear_error(fake_agentflow):
    fake_agentflow.server.script("google", Reply(finish_reason="SAFETY"))
    with pytest.raises(ProviderError, match="finishReason=SAFETY; flagged: harassment"):
        await AgentFlow.model(MODEL).prompt("hi").execute()


async def test_a_rejected_key(fake_agentflow, monkeypatch):
    monkeypatch.setenv("AGENTFLOW_FAKE_API_KEY", "not a valid key")
    with pytest.raises(HttpError, match="GOOGLE_API_KEY or GEMINI_API_KEY") as caught:
        await AgentFlow.model(MODEL).prompt("hi").execute()
    assert caught.value.status_code == 400
    assert len(fake_agentflow.server.requests) == 1


async def test_an_unknown_model_is_a_404(fake_agentflow):
    from agentflow.config import ModelConfig

    fake_agentflow.runtime.set_config(fake_agentflow.config.__class__(
        providers=fake_agentflow.config.providers,
        models={"mystery": ModelConfig(vendor="google", model_id="palm-2")}))
    with pytest.raises(HttpError, match="not found for API version v1beta") as caught:
        await AgentFlow.model("mystery").prompt("hi").execute()
    assert caught.value.status_code == 404


@pytest.mark.parametrize("variable", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
async def test_the_key_comes_from_either_variable(fake_llm_server, monkeypatch, variable):
    from agentflow.config import Config, ProviderConfig
    from agentflow.runtime import Runtime

    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, f"key-in-{variable}")
    runtime = Runtime()
    runtime.set_config(Config(providers={"google": ProviderConfig(
        base_url=fake_llm_server.base_url("google"))}))
    previous = AgentFlow.use_runtime(runtime)
    try:
        assert await AgentFlow.model(MODEL).prompt("hi").execute() == "You said: hi"
    finally:
        AgentFlow.use_runtime(previous)
        await runtime.aclose()
    assert fake_llm_server.requests[-1].headers["x-goog-api-key"] == f"key-in-{variable}"
