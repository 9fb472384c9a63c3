"""The tutorial plugin's health check, against its emulation."""

from __future__ import annotations

import pytest

import agentflow_acme
from agentflow import AgentFlow
from agentflow.testing import Reply
from agentflow.types import ModelSettings, Secret


def test_the_check_lists_models_with_the_key():
    settings = ModelSettings(name="", provider="acme", vendor="acme", model_id="",
                             base_url="https://api.acme.example/v1", api_key=Secret("k-1"))
    request = agentflow_acme.PLUGIN.agentflow_check_provider(vendor="acme", settings=settings)
    assert request is not None
    assert (request.method, str(request.url)) == ("GET", "https://api.acme.example/v1/models")
    assert request.headers["x-acme-key"] == "k-1"


@pytest.mark.anyio
async def test_a_working_key_is_ok(fake_agentflow):
    [result] = await AgentFlow.check_providers(providers=["acme"])
    assert result.status == "ok"
    assert fake_agentflow.server.requests[-1].path == "/acme/v1/models"


@pytest.mark.anyio
async def test_a_refused_key_is_rejected(fake_agentflow):
    fake_agentflow.server.script("acme", Reply(status=401, error_message="unknown key"))
    [result] = await AgentFlow.check_providers(providers=["acme"])
    assert result.status == "key_rejected"
    assert "unknown key" in result.detail
