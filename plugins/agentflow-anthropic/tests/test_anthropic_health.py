"""The health check request, and the fake server answering it."""

from __future__ import annotations

import pytest

import agentflow_anthropic
from agentflow import AgentFlow
from agentflow.testing.pytest_plugin import FAKE_API_KEY, FAKE_API_KEY_ENV
from agentflow.types import ModelSettings, Secret


def settings(base_url: str) -> ModelSettings:
    return ModelSettings(name="", provider="anthropic", vendor="anthropic", model_id="",
                         base_url=base_url, api_key=Secret("sk-ant-k"))


@pytest.mark.parametrize("base_url", ["https://api.anthropic.com",
                                      "https://api.anthropic.com/v1/"])
def test_the_check_lists_one_model_with_the_key_and_version(base_url):
    request = agentflow_anthropic.PLUGIN.agentflow_check_provider(vendor="anthropic",
                                                           settings=settings(base_url))
    assert request is not None
    assert (request.method, str(request.url)) == (
        "GET", "https://api.anthropic.com/v1/models?limit=1")
    assert request.headers["x-api-key"] == "sk-ant-k"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers


def test_other_vendors_are_not_answered():
    assert agentflow_anthropic.PLUGIN.agentflow_check_provider(
        vendor="openai", settings=settings("https://x")) is None


@pytest.mark.anyio
async def test_the_fake_server_answers_the_check(fake_agentflow):
    [result] = await AgentFlow.check_providers(providers=["anthropic"])
    assert (result.status, result.status_code) == ("ok", 200)
    sent = fake_agentflow.server.requests[-1]
    assert (sent.method, sent.path) == ("GET", "/anthropic/v1/models")
    assert sent.headers["x-api-key"] == FAKE_API_KEY


@pytest.mark.anyio
async def test_a_wrong_key_is_rejected_by_the_fake_server(fake_agentflow, monkeypatch):
    monkeypatch.setenv(FAKE_API_KEY_ENV, "sk-ant not a key")
    [result] = await AgentFlow.check_providers(providers=["anthropic"])
    assert (result.status, result.status_code) == ("key_rejected", 401)
    assert "invalid x-api-key" in result.detail
    assert "not a key" not in repr(result)
