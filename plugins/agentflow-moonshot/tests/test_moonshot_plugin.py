"""What Moonshot does differently from OpenAI, end to end over loopback HTTP."""

from __future__ import annotations

import httpx
import pytest

import agentflow_moonshot
from agentflow import AgentFlow, HttpError, RateLimitError, ValidationError
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, ProviderConfig
from agentflow.testing import Reply
from agentflow_moonshot import _catalog
from agentflow_openai import chat as _codec

pytestmark = pytest.mark.anyio


def test_both_endpoints_are_registered_with_moonshots_limits():
    specs = {spec.name: spec for spec in agentflow_moonshot.PLUGIN.agentflow_register_providers()}
    assert specs["moonshot"].default_base_url == "https://api.moonshot.ai/v1"
    assert specs["moonshot_cn"].default_base_url == "https://api.moonshot.cn/v1"
    assert {spec.api_key_env for spec in specs.values()} == {"MOONSHOT_API_KEY"}
    assert {spec.temperature_range for spec in specs.values()} == {(0.0, 1.0)}


def test_the_catalog_has_current_kimi_and_v1_models():
    names = {model.name for model in _catalog.MODELS}
    assert {"kimi-k3", "kimi-k2.6", "moonshot-v1-8k", "moonshot-v1-128k"} <= names
    assert all(model.provider == "moonshot" and model.context_window for model in _catalog.MODELS)
    assert _catalog.model_options("kimi-k2.6") == {"supports_temperature": False}
    assert _catalog.model_options("unknown") is None


def test_hooks_leave_other_vendors_alone():
    assert agentflow_moonshot.PLUGIN.agentflow_build_request(
        vendor="openai", request=None, settings=None) is None
    assert agentflow_moonshot.PLUGIN.agentflow_map_error(vendor="openai", response=None) is None


async def test_temperature_above_one_is_refused_before_sending(fake_agentflow):
    with pytest.raises(ValidationError, match=r"0\.\.1"):
        await AgentFlow.model("moonshot-v1-8k").prompt("hi").temperature(1.5).execute()
    assert fake_agentflow.server.requests == []


async def test_kimi_models_get_no_sampling_parameters(fake_agentflow):
    await AgentFlow.model("kimi-k2.6").prompt("hi").temperature(0.3).top_p(0.5).execute()
    sent = fake_agentflow.server.requests[-1].json
    assert "temperature" not in sent
    assert "top_p" not in sent
    assert sent["model"] == "kimi-k2.6"


async def test_a_used_up_quota_is_not_retried(fake_agentflow):
    fake_agentflow.server.script("moonshot", Reply(
        status=429, error_type="exceeded_current_quota_error",
        error_message="You exceeded your current quota, please check your plan and billing "
                      "details"))
    with pytest.raises(RateLimitError, match="quota") as caught:
        await AgentFlow.model("moonshot-v1-8k").prompt("hi").execute()
    assert caught.value.retryable is False
    assert caught.value.error_type == "exceeded_current_quota_error"
    assert len(fake_agentflow.server.requests) == 1


async def test_an_overloaded_engine_is_retried(fake_agentflow):
    fake_agentflow.server.script("moonshot", Reply(
        status=429, error_type="engine_overloaded_error", retry_after=0.01,
        error_message="The engine is currently overloaded, please try again later"),
        Reply(text="second time lucky"))
    assert await AgentFlow.model("moonshot-v1-8k").prompt("hi").execute() == "second time lucky"


async def test_a_rejected_key_names_the_variable(fake_agentflow):
    fake_agentflow.server.script("moonshot", Reply(status=401,
                                                   error_message="Invalid Authentication"))
    with pytest.raises(HttpError, match="MOONSHOT_API_KEY"):
        await AgentFlow.model("moonshot-v1-8k").prompt("hi").execute()


def test_cached_tokens_at_the_top_of_usage_are_read():
    body = (b'{"id":"x","model":"kimi-k2.6","choices":[{"index":0,"message":{"role":"assistant",'
            b'"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,'
            b'"completion_tokens":2,"total_tokens":12,"cached_tokens":8}}')
    response = httpx.Response(200, content=body)
    result = _codec.parse_response(agentflow_moonshot.DIALECTS["moonshot"], response)
    assert result.usage.cached_tokens == 8
    assert result.provider == "moonshot"


async def test_the_china_endpoint_is_one_line_of_configuration(fake_llm_server, monkeypatch):
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot-test")
    runtime = Runtime()
    runtime.set_config(Config(providers={
        "moonshot": ProviderConfig(vendor="moonshot_cn",
                                   base_url=fake_llm_server.base_url("moonshot_cn"))}))
    previous = AgentFlow.use_runtime(runtime)
    try:
        fake_llm_server.script("moonshot_cn", Reply(text="你好"))
        response = await AgentFlow.model("kimi-k2.6").prompt("hi").execute_response()
    finally:
        AgentFlow.use_runtime(previous)
        await runtime.aclose()
    assert response.text == "你好"
    assert response.provider == "moonshot_cn"
    request = fake_llm_server.requests[-1]
    assert request.provider == "moonshot_cn"
    assert request.headers["authorization"] == "Bearer sk-moonshot-test"
