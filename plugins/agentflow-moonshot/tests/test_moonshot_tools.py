"""Tools, structured answers and images as Moonshot takes them: the OpenAI codec with Kimi's
own rules (JSON mode instead of JSON Schema, functions strict unless told otherwise, images as
bytes only, Kimi's tool names)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import agentflow_moonshot
from agentflow import AgentFlow, HttpError, ValidationError
from agentflow.testing import Reply
from agentflow.testing.conformance import PIXEL_PNG
from agentflow.testing.fake import describe_image
from agentflow.types import (
    ImagePart,
    Message,
    ModelSettings,
    OutputSchema,
    Request,
    Secret,
    Tool,
    ToolChoice,
)

STRICT = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": False}
LOOSE = {"type": "object", "properties": {"city": {"type": "string"}}}


def sent_body(request: Request) -> dict[str, Any]:
    settings = ModelSettings(name="kimi-k2.6", provider="moonshot", vendor="moonshot",
                             model_id="kimi-k2.6", base_url="https://api.moonshot.ai/v1",
                             api_key=Secret("sk-test"))
    built = agentflow_moonshot.PLUGIN.agentflow_build_request(vendor="moonshot", request=request,
                                                       settings=settings)
    assert built is not None
    body: dict[str, Any] = json.loads(built.content)
    return body


def test_both_endpoints_declare_tools_schemas_and_inline_images_only():
    for spec in agentflow_moonshot.PLUGIN.agentflow_register_providers():
        assert spec.capabilities == {"streaming", "tools", "structured_output", "images"}
        assert spec.max_image_bytes == 10 * 1024 * 1024


def test_a_structured_answer_is_asked_for_in_json_mode_with_the_schema_first():
    request = Request(model="kimi-k2.6", messages=(Message.system("Be brief."),
                                                   Message.user("where?")),
                      output_schema=OutputSchema(name="place", schema=STRICT, strict=True))
    body = sent_body(request)
    assert body["response_format"] == {"type": "json_object"}
    first, system, user = body["messages"]
    assert first["role"] == "system"
    assert json.loads(first["content"].split("JSON Schema: ", 1)[1]) == STRICT
    assert "JSON object" in first["content"]
    assert (system, user) == ({"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "where?"})


def test_functions_are_strict_unless_their_schema_cannot_be():
    body = sent_body(Request(model="kimi-k2.6", messages=(Message.user("hi"),), tools=(
        Tool(name="strict_one", parameters=STRICT), Tool(name="loose_one", parameters=LOOSE)),
        tool_choice=ToolChoice(mode="tool", name="loose_one")))
    strict, loose = (tool["function"] for tool in body["tools"])
    assert "strict" not in strict
    assert loose["strict"] is False
    assert body["tool_choice"] == {"type": "function", "function": {"name": "loose_one"}}


def test_images_travel_as_data_urls():
    image = ImagePart.from_bytes(PIXEL_PNG)
    body = sent_body(Request(model="kimi-k2.6", messages=(Message.user("what?", image),)))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image.base64}"}}]


def test_both_endpoints_use_kimis_switches():
    for dialect in agentflow_moonshot.DIALECTS.values():
        assert (dialect.json_schema, dialect.strict_tools_by_default) == (False, True)



@pytest.mark.anyio
async def test_an_image_address_is_refused_before_sending(fake_agentflow):
    with pytest.raises(ValidationError, match="bytes"):
        await AgentFlow.model("kimi-k2.6").prompt("what?").image(
            "https://example.com/cat.png").execute()
    assert fake_agentflow.server.requests == []


@pytest.mark.anyio
async def test_an_image_reaches_the_emulation_and_is_described(fake_agentflow):
    text = await AgentFlow.model("kimi-k2.6").prompt("what?").image(PIXEL_PNG).execute()
    assert text == f"You said: what? {describe_image('image/png', PIXEL_PNG)}"


@pytest.mark.anyio
async def test_a_typed_answer_comes_back_through_json_mode(fake_agentflow):
    schema = {"type": "object", "properties": {"total": {"type": "integer"}},
              "required": ["total"], "additionalProperties": False}
    response = await AgentFlow.model("kimi-k2.6").prompt("sum?").json_schema(
        schema, name="sum").execute_response()
    assert response.parsed == {"total": 1}
    assert fake_agentflow.server.requests[-1].json["response_format"] == {"type": "json_object"}


@pytest.mark.anyio
async def test_a_tool_name_kimi_refuses_gets_kimis_400(fake_agentflow):
    def ab(city: str) -> str:
        """Too short a name for Kimi."""
        return city

    with pytest.raises(HttpError) as caught:
        await AgentFlow.model("kimi-k2.6").prompt("hi").tools(ab).execute()
    assert caught.value.status_code == 400
    assert "tools[0].function.name" in str(caught.value)


@pytest.mark.anyio
async def test_scripted_calls_come_back_parsed(fake_agentflow):
    from agentflow.testing.fake import FakeToolCall

    def get_weather(city: str) -> str:
        """The weather."""
        return city

    fake_agentflow.server.script("moonshot", Reply(tool_calls=[
        FakeToolCall(name="get_weather", arguments={"city": "Lima"})]))
    response = await AgentFlow.model("kimi-k2.6").prompt("weather?").tools(
        get_weather).execute_response()
    assert [(call.name, dict(call.arguments)) for call in response.tool_calls] == [
        ("get_weather", {"city": "Lima"})]
    assert response.finish_reason == "tool_calls"
