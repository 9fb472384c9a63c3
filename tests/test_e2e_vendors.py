"""Every first-party vendor, installed together: one prompt, one shape of result.

Each vendor is reached through its own key variable (ANTHROPIC_API_KEY, ...) with only its
base URL pointed at the fake server, as a user who installed the plugin and exported the key
would, and the answers are compared field by field.
"""

from __future__ import annotations

import pytest

from agentflow import AgentFlow, MissingApiKeyError
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, ProviderConfig
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio

#: provider -> (a catalog model, the variables its key is read from, first wins)
VENDORS = {
    "openai": ("gpt-4o", ("OPENAI_API_KEY",)),
    "anthropic": ("claude-sonnet-4-5", ("ANTHROPIC_API_KEY",)),
    "google": ("gemini-2.5-flash", ("GOOGLE_API_KEY", "GEMINI_API_KEY")),
    "moonshot": ("moonshot-v1-8k", ("MOONSHOT_API_KEY",)),
}
ALL_KEYS = {variable for _, variables in VENDORS.values() for variable in variables}


@pytest.fixture
async def vendors(fake_llm_server, monkeypatch):
    """AgentFlow with every vendor's base URL on the fake server and no key set yet."""
    for variable in ALL_KEYS:
        monkeypatch.delenv(variable, raising=False)
    runtime = Runtime()
    runtime.set_config(Config(providers={
        name: ProviderConfig(base_url=fake_llm_server.base_url(name)) for name in VENDORS}))
    previous = AgentFlow.use_runtime(runtime)
    try:
        yield fake_llm_server
    finally:
        AgentFlow.use_runtime(previous)
        await runtime.aclose()


def test_every_first_party_vendor_is_installed_and_emulated(fake_llm_server):
    assert set(VENDORS) <= set(fake_llm_server.provider_names)
    assert set(AgentFlow.runtime().host.providers()) >= {*VENDORS, "moonshot_cn"}


@pytest.mark.parametrize("provider", sorted(VENDORS))
async def test_same_prompt_same_shape(vendors, monkeypatch, provider):
    model, variables = VENDORS[provider]
    monkeypatch.setenv(variables[0], f"{provider}-test-key")
    vendors.script(provider, Reply(text="The same answer everywhere", usage=(9, 4)))
    response = await (AgentFlow.model(model).system("Be brief.").prompt("Say something")
                      .temperature(0.5).max_tokens(50).execute_response())
    assert response.text == "The same answer everywhere"
    assert response.provider == provider
    assert response.model
    assert (response.finish_reason, bool(response.raw_finish_reason)) == ("stop", True)
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens,
            response.usage.total_tokens) == (9, 4, 13)
    assert response.request_id
    sent = vendors.requests[-1]
    assert any(f"{provider}-test-key" in value for value in sent.headers.values())


@pytest.mark.parametrize("provider", sorted(VENDORS))
async def test_same_stream_shape(vendors, monkeypatch, provider):
    model, variables = VENDORS[provider]
    monkeypatch.setenv(variables[0], f"{provider}-test-key")
    vendors.script(provider, Reply(text="one two three four", usage=(3, 4)))
    stream = await AgentFlow.model(model).prompt("Count").execute_streaming()
    async with stream:
        chunks = [chunk async for chunk in stream]
    assert "".join(chunk.content for chunk in chunks) == "one two three four"
    final = chunks[-1]
    assert final.is_final
    assert final.finish_reason == "stop"
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (3, 4)


@pytest.mark.parametrize("provider", sorted(VENDORS))
async def test_a_missing_key_names_the_vendors_variable(vendors, provider):
    model, variables = VENDORS[provider]
    with pytest.raises(MissingApiKeyError) as caught:
        await AgentFlow.model(model).prompt("hi").execute()
    assert caught.value.env_var == variables[0]
    assert all(variable in str(caught.value) for variable in variables)
    assert vendors.requests == []


@pytest.mark.parametrize("variable", ["GOOGLE_API_KEY", "GEMINI_API_KEY"])
async def test_gemini_key_from_either_variable(vendors, monkeypatch, variable):
    monkeypatch.setenv(variable, f"key-from-{variable}")
    await AgentFlow.model("gemini-2.5-flash").prompt("hi").execute()
    assert vendors.requests[-1].headers["x-goog-api-key"] == f"key-from-{variable}"


async def test_google_api_key_wins_when_both_are_set(vendors, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    await AgentFlow.model("gemini-2.5-flash").prompt("hi").execute()
    assert vendors.requests[-1].headers["x-goog-api-key"] == "google-key"


async def test_a_fallback_chain_across_vendors(fake_llm_server, monkeypatch):
    from agentflow import ExecutionEvent
    from agentflow.config import Defaults, ModelConfig

    monkeypatch.setenv("OPENAI_API_KEY", "openai-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-key")
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    runtime = Runtime()
    runtime.set_config(Config(
        providers={name: ProviderConfig(base_url=fake_llm_server.base_url(name))
                   for name in ("openai", "anthropic", "google")},
        models={"main": ModelConfig(vendor="openai", model_id="gpt-4o",
                                    fallbacks=("claude-sonnet-4-5", "gemini-2.5-flash"))},
        defaults=Defaults(max_retries=1, retry_delay_ms=1)))
    hops: list[ExecutionEvent] = []

    class Hops:
        def record_event(self, event):
            if event.event_type == "llm.fallback":
                hops.append(event)

    fake_llm_server.script("openai", Reply(status=503), Reply(status=503))
    fake_llm_server.script("anthropic", Reply(status=529), Reply(status=529))
    fake_llm_server.script("google", Reply(text="Gemini picked it up"))
    previous = AgentFlow.use_runtime(runtime)
    try:
        response = await AgentFlow.model("main").prompt("hi").with_metrics(Hops())\
            .execute_response()
    finally:
        AgentFlow.use_runtime(previous)
        await runtime.aclose()
    assert response.text == "Gemini picked it up"
    assert response.provider == "google"
    assert [r.provider for r in fake_llm_server.requests] == [
        "openai", "openai", "anthropic", "anthropic", "google"]
    assert [(e.metadata["from_model"], e.metadata["to_model"]) for e in hops] == [
        ("main", "claude-sonnet-4-5"), ("claude-sonnet-4-5", "gemini-2.5-flash")]
