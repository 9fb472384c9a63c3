"""The health check request of both endpoints, and the fake server answering it."""

from __future__ import annotations

import pytest

import agentflow_moonshot
from agentflow import AgentFlow
from agentflow.testing.pytest_plugin import FAKE_API_KEY, FAKE_API_KEY_ENV
from agentflow.types import ModelSettings, Secret


def settings(provider: str, base_url: str) -> ModelSettings:
    return ModelSettings(name="", provider=provider, vendor=provider, model_id="",
                         base_url=base_url, api_key=Secret("sk-moon"))


@pytest.mark.parametrize(("provider", "base_url"), [
    ("moonshot", "https://api.moonshot.ai/v1"), ("moonshot_cn", "https://api.moonshot.cn/v1")])
def test_the_check_lists_models_with_the_bearer_key(provider, base_url):
    request = agentflow_moonshot.PLUGIN.agentflow_check_provider(
        vendor=provider, settings=settings(provider, base_url))
    assert request is not None
    assert (request.method, str(request.url)) == ("GET", f"{base_url}/models")
    assert request.headers["authorization"] == "Bearer sk-moon"
    assert request.headers["user-agent"] == agentflow_moonshot.USER_AGENT


def test_other_vendors_are_not_answered():
    assert agentflow_moonshot.PLUGIN.agentflow_check_provider(
        vendor="openai", settings=settings("openai", "https://x")) is None


@pytest.mark.anyio
async def test_the_fake_server_answers_the_check(fake_agentflow):
    results = await AgentFlow.check_providers(providers=["moonshot", "moonshot_cn"])
    assert [(r.provider, r.status) for r in results] == [("moonshot", "ok"),
                                                         ("moonshot_cn", "ok")]
    paths = sorted(r.path for r in fake_agentflow.server.requests)
    assert paths == ["/moonshot/v1/models", "/moonshot_cn/v1/models"]
    assert {r.headers["authorization"] for r in fake_agentflow.server.requests} == {
        f"Bearer {FAKE_API_KEY}"}


@pytest.mark.anyio
async def test_a_wrong_key_is_rejected_by_the_fake_server(fake_agentflow, monkeypatch):
    monkeypatch.setenv(FAKE_API_KEY_ENV, "sk-not a key")
    [result] = await AgentFlow.check_providers(providers=["moonshot"])
    assert (result.status, result.status_code) == ("key_rejected", 401)
    assert "not a key" not in repr(result)
