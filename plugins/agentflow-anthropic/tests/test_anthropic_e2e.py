"""Anthropic through agentflow's public API, over loopback HTTP against the emulation."""

from __future__ import annotations

import pytest

from agentflow import AgentFlow, HttpError, StreamingError, ValidationError
from agentflow.testing import Reply
from agentflow_anthropic._catalog import DEFAULT_MAX_TOKENS

pytestmark = pytest.mark.anyio
MODEL = "claude-sonnet-4-5"


async def test_a_plain_call(fake_agentflow):
    fake_agentflow.server.script("anthropic", Reply(text="Hello from Claude", usage=(3, 3)))
    response = await AgentFlow.model(MODEL).system("Be brief.").prompt("hi").execute_response()
    assert response.text == "Hello from Claude"
    assert response.request_id.startswith("req_")
    sent = fake_agentflow.server.requests[-1]
    assert sent.path == "/anthropic/v1/messages"
    assert sent.json["system"] == "Be brief."
    assert sent.json["max_tokens"] == DEFAULT_MAX_TOKENS
    assert sent.headers["anthropic-version"] == "2023-06-01"


async def test_temperature_above_one_is_refused_before_sending(fake_agentflow):
    with pytest.raises(ValidationError, match=r"0\.\.1"):
        await AgentFlow.model(MODEL).prompt("hi").temperature(1.2).execute()
    assert fake_agentflow.server.requests == []


async def test_temperature_with_top_p_gets_the_services_refusal(fake_agentflow):
    with pytest.raises(HttpError, match="cannot both be specified") as caught:
        await AgentFlow.model(MODEL).prompt("hi").temperature(0.5).top_p(0.9).execute()
    assert caught.value.status_code == 400
    assert len(fake_agentflow.server.requests) == 1


@pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")
async def test_overloaded_mid_stream_keeps_the_text(fake_agentflow):
    fake_agentflow.server.script("anthropic", Reply(text="one two three four", error_after=2,
                                                    error_message="Overloaded"))
    stream = await AgentFlow.model(MODEL).prompt("hi").execute_streaming()
    with pytest.raises(HttpError, match="overloaded") as caught:
        await stream.collect_all()
    assert caught.value.status_code == 529
    assert caught.value.partial_text == "one two"
    assert not isinstance(caught.value, StreamingError)


async def test_overloaded_before_the_answer_is_retried(fake_agentflow):
    fake_agentflow.server.script("anthropic", Reply(status=529, error_message="Overloaded"),
                                 Reply(text="after a breath"))
    assert await AgentFlow.model(MODEL).prompt("hi").execute() == "after a breath"
    assert len(fake_agentflow.server.requests) == 2


async def test_the_key_comes_from_anthropic_api_key(fake_llm_server, monkeypatch):
    from agentflow._runtime.runtime import Runtime
    from agentflow.config import Config, ProviderConfig

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment")
    runtime = Runtime()
    runtime.set_config(Config(providers={"anthropic": ProviderConfig(
        base_url=fake_llm_server.base_url("anthropic"))}))
    previous = AgentFlow.use_runtime(runtime)
    try:
        assert await AgentFlow.model(MODEL).prompt("hi").execute() == "You said: hi"
    finally:
        AgentFlow.use_runtime(previous)
        await runtime.aclose()
    assert fake_llm_server.requests[-1].headers["x-api-key"] == "sk-ant-from-the-environment"


def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"


async def test_the_agent_loop_ends_with_the_structured_answer(fake_agentflow):
    schema = {"type": "object", "properties": {"summary": {"type": "string"}},
              "required": ["summary"]}
    run = await AgentFlow.model(MODEL).prompt("weather in Oslo?").tools(get_weather).json_schema(
        schema, name="report").run_tools(max_steps=3)
    assert run.parsed == {"summary": "example"}
    assert [len(step.tool_runs) for step in run.steps] == [1, 0]
    first, second = (request.json for request in fake_agentflow.server.requests)
    assert [tool["name"] for tool in first["tools"]] == ["get_weather", "report"]
    assert first["tool_choice"] == second["tool_choice"] == {"type": "any"}
    assert second["messages"][-1]["content"][0]["content"] == "sunny in example"


async def test_one_call_at_a_time(fake_agentflow):
    await AgentFlow.model(MODEL).prompt("hi").tools(get_weather).parallel_tool_calls(
        False).execute()
    assert fake_agentflow.server.requests[-1].json["tool_choice"] == {
        "type": "auto", "disable_parallel_tool_use": True}


async def test_a_large_image_is_refused_before_sending(fake_agentflow):
    from agentflow.testing.conformance import PIXEL_PNG
    from agentflow_anthropic import MAX_IMAGE_BYTES

    fits = PIXEL_PNG + bytes(MAX_IMAGE_BYTES - len(PIXEL_PNG))
    await AgentFlow.model(MODEL).prompt("what?").image(fits).execute()
    sent = fake_agentflow.server.requests[-1].json["messages"][0]["content"][1]
    assert len(sent["source"]["data"]) == 5 * 1024 * 1024  # the service's limit, exactly
    with pytest.raises(ValidationError, match="more than"):
        await AgentFlow.model(MODEL).prompt("what?").image(fits + b"x").execute()
    assert len(fake_agentflow.server.requests) == 1
