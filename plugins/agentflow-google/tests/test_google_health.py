"""The health check request, and the fake server answering it."""

from __future__ import annotations

import pytest

import agentflow_google
from agentflow import AgentFlow
from agentflow.testing.pytest_plugin import FAKE_API_KEY, FAKE_API_KEY_ENV
from agentflow.types import ModelSettings, Secret


def settings(base_url: str) -> ModelSettings:
    return ModelSettings(name="", provider="google", vendor="google", model_id="",
                         base_url=base_url, api_key=Secret("AIza-k"))


@pytest.mark.parametrize(("base_url", "url"), [
    ("https://generativelanguage.googleapis.com",
     "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1"),
    ("https://gw.example/v1/", "https://gw.example/v1/models?pageSize=1"),
    ("https://gw.example?tenant=a", "https://gw.example/v1beta/models?pageSize=1&tenant=a"),
])
def test_the_check_lists_one_model_with_the_key_in_a_header(base_url, url):
    request = agentflow_google.PLUGIN.agentflow_check_provider(vendor="google",
                                                        settings=settings(base_url))
    assert request is not None
    assert (request.method, str(request.url)) == ("GET", url)
    assert request.headers["x-goog-api-key"] == "AIza-k"
    assert "key=" not in str(request.url)


def test_other_vendors_are_not_answered():
    assert agentflow_google.PLUGIN.agentflow_check_provider(
        vendor="openai", settings=settings("https://x")) is None


@pytest.mark.anyio
async def test_the_fake_server_answers_the_check(fake_agentflow):
    [result] = await AgentFlow.check_providers(providers=["google"])
    assert (result.status, result.status_code) == ("ok", 200)
    sent = fake_agentflow.server.requests[-1]
    assert (sent.method, sent.path) == ("GET", "/google/v1beta/models")
    assert sent.headers["x-goog-api-key"] == FAKE_API_KEY


@pytest.mark.anyio
async def test_an_invalid_key_is_rejected_though_gemini_answers_400(fake_agentflow,
                                                                    monkeypatch):
    monkeypatch.setenv(FAKE_API_KEY_ENV, "AIza not a key")
    [result] = await AgentFlow.check_providers(providers=["google"])
    assert (result.status, result.status_code) == ("key_rejected", 400)
    assert "API key not valid" in result.detail
    assert "not a key" not in repr(result)
