"""The health check request of both providers, and the fake server answering it."""

from __future__ import annotations

import pytest

import agentflow_openai
from agentflow import AgentFlow
from agentflow.testing import Reply
from agentflow.testing.pytest_plugin import FAKE_API_KEY, FAKE_API_KEY_ENV
from agentflow.types import ModelSettings, Secret


def settings(provider: str, base_url: str, key: str | None) -> ModelSettings:
    return ModelSettings(name="", provider=provider, vendor=provider, model_id="",
                         base_url=base_url, api_key=Secret(key) if key else None)


def test_the_check_lists_models_with_the_bearer_key():
    request = agentflow_openai.PLUGIN.agentflow_check_provider(
        vendor="openai", settings=settings("openai", "https://api.openai.com/v1/", "sk-k"))
    assert request is not None
    assert (request.method, str(request.url)) == ("GET", "https://api.openai.com/v1/models")
    assert request.headers["authorization"] == "Bearer sk-k"
    assert request.content == b""


def test_an_unset_optional_key_sends_no_authorization_and_a_query_is_kept():
    request = agentflow_openai.PLUGIN.agentflow_check_provider(
        vendor="openai_compatible",
        settings=settings("openai_compatible", "http://127.0.0.1:8000/v1?tenant=a", None))
    assert request is not None
    assert str(request.url) == "http://127.0.0.1:8000/v1/models?tenant=a"
    assert "authorization" not in request.headers


def test_other_vendors_are_not_answered():
    assert agentflow_openai.PLUGIN.agentflow_check_provider(
        vendor="anthropic", settings=settings("anthropic", "https://x", "k")) is None


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["openai", "openai_compatible"])
async def test_the_fake_server_answers_the_check(fake_agentflow, provider):
    [result] = await AgentFlow.check_providers(providers=[provider])
    assert (result.status, result.status_code) == ("ok", 200)
    sent = fake_agentflow.server.requests[-1]
    assert (sent.method, sent.path) == ("GET", f"/{provider}/v1/models")
    assert sent.headers["authorization"] == f"Bearer {FAKE_API_KEY}"


@pytest.mark.anyio
async def test_a_wrong_key_is_rejected_by_the_fake_server(fake_agentflow, monkeypatch):
    monkeypatch.setenv(FAKE_API_KEY_ENV, "sk-not a key")
    [result] = await AgentFlow.check_providers(providers=["openai"])
    assert (result.status, result.status_code) == ("key_rejected", 401)
    assert "Incorrect API key provided" in result.detail
    assert "not a key" not in repr(result)


@pytest.mark.anyio
async def test_a_scripted_outage_is_an_error(fake_agentflow):
    fake_agentflow.server.script("openai", Reply(status=503, error_message="overloaded"))
    [result] = await AgentFlow.check_providers(providers=["openai"])
    assert (result.status, result.status_code) == ("error", 503)
    assert "overloaded" in result.detail
