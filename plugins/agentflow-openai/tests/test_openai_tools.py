"""Tools, structured output and images in the Chat Completions codec and its emulation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import agentflow_openai
from agentflow.errors import ProviderError
from agentflow.testing.conformance import PIXEL_PNG
from agentflow.testing.fake import FakeCall, FakeJSON, FakeStream, FakeToolCall, Reply
from agentflow.tools import ToolCallAssembler
from agentflow.types import (
    ImagePart,
    Message,
    ModelSettings,
    OutputSchema,
    Request,
    Secret,
    StreamState,
    Tool,
    ToolCall,
    ToolChoice,
)
from agentflow_openai import _codec
from agentflow_openai._fake import chat_completions_fake

OPENAI = agentflow_openai.DIALECTS["openai"]
STRICT = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
          "additionalProperties": False}
LOOSE = {"type": "object", "properties": {"city": {"type": "string"}}}


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


def settings() -> ModelSettings:
    return ModelSettings(name="gpt-4o", provider="openai", vendor="openai", model_id="gpt-4o",
                         base_url="https://api.openai.com/v1", api_key=Secret("sk-test"))


def body(request: Request, dialect: Any = OPENAI) -> dict[str, Any]:
    return json.loads(_codec.build_request(dialect, request, settings()).content)


def test_tools_choice_and_parallel_calls_are_sent() -> None:
    sent = body(Request(model="gpt-4o", messages=(Message.user("hi"),),
                        tools=(Tool(name="strict", parameters=STRICT),
                               Tool(name="loose", description="d", parameters=LOOSE)),
                        tool_choice=ToolChoice(mode="tool", name="loose"),
                        parallel_tool_calls=False))
    assert sent["tools"] == [
        {"type": "function", "function": {"name": "strict", "parameters": STRICT,
                                          "strict": True}},
        {"type": "function", "function": {"name": "loose", "description": "d",
                                          "parameters": LOOSE}}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "loose"}}
    assert sent["parallel_tool_calls"] is False


def test_nothing_tool_related_is_sent_without_tools() -> None:
    sent = body(Request(model="gpt-4o", messages=(Message.user("hi"),),
                        tool_choice=ToolChoice(mode="none"), parallel_tool_calls=True))
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(sent)


def test_history_with_calls_results_and_images() -> None:
    call = ToolCall.of("call_1", "lookup", {"city": "Oslo"})
    image = ImagePart.from_bytes(PIXEL_PNG)
    sent = body(Request(model="gpt-4o", messages=(
        Message.user("look", image, ImagePart.from_url("https://e.com/a.png")),
        Message.assistant("", (call,)),
        Message.tool_result(call, "down", is_error=True),
        Message.tool_result(call, "Error: already marked", is_error=True),
    )))
    user, assistant, failed, marked = sent["messages"]
    assert user["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image.base64}"}},
        {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}]
    assert assistant == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "lookup", "arguments": '{"city":"Oslo"}'}}]}
    assert failed == {"role": "tool", "tool_call_id": "call_1", "content": "Error: down"}
    assert marked["content"] == "Error: already marked"


def test_output_schema_as_json_schema_or_json_mode() -> None:
    output = OutputSchema(name="city", schema=STRICT, description="A city.", strict=True)
    request = Request(model="m", messages=(Message.user("hi"),), output_schema=output)
    assert body(request)["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "city", "schema": STRICT, "strict": True, "description": "A city."}}
    json_mode = attrs_evolve(OPENAI, json_schema=False)
    sent = body(request, json_mode)
    assert sent["response_format"] == {"type": "json_object"}
    instruction = sent["messages"][0]
    assert instruction["role"] == "system"
    assert json.loads(instruction["content"].split("JSON Schema: ", 1)[1]) == STRICT


def attrs_evolve(dialect: Any, **changes: Any) -> Any:
    import attrs

    return attrs.evolve(dialect, **changes)


def answer(message: dict[str, Any], finish: str | None = "tool_calls") -> httpx.Response:
    return httpx.Response(200, json={"model": "gpt-4o", "choices": [
        {"index": 0, "message": message, "finish_reason": finish}]})


def test_tool_calls_in_an_answer() -> None:
    response = _codec.parse_response(OPENAI, answer({"role": "assistant", "content": None,
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "lookup", "arguments": '{"city": "Oslo"}'}}]}))
    assert response.text == ""
    assert response.tool_calls == (ToolCall(id="c1", name="lookup", arguments={"city": "Oslo"},
                                            raw_arguments='{"city": "Oslo"}'),)
    assert response.finish_reason == "tool_calls"


@pytest.mark.parametrize("finish", ["stop", None])
def test_a_server_that_reports_calls_as_stop_still_gives_tool_calls(finish: str | None) -> None:
    response = _codec.parse_response(OPENAI, answer({"role": "assistant", "content": "ok",
        "tool_calls": [{"id": "c1", "function": {"name": "now", "arguments": ""}}]}, finish))
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls[0].arguments == {}


def test_malformed_arguments_in_an_answer_keep_the_text() -> None:
    with pytest.raises(ProviderError) as caught:
        _codec.parse_response(OPENAI, answer({"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "lookup",
                                                     "arguments": '{"city": '}}]}))
    assert caught.value.raw_arguments == '{"city": '
    assert "OpenAI sent arguments for tool 'lookup'" in str(caught.value)


def delta_event(delta: dict[str, Any], finish: str | None = None) -> Event:
    return Event(json.dumps({"model": "gpt-4o", "choices": [
        {"index": 0, "delta": delta, "finish_reason": finish}]}))


_ARGUMENTS = st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=6),
                             max_size=4)


@given(st.lists(_ARGUMENTS, min_size=1, max_size=3), st.data())
def test_any_split_of_streamed_arguments_gives_the_same_calls(
        calls: list[dict[str, Any]], data: st.DataObject) -> None:
    state = StreamState(provider="openai", model="gpt-4o")
    for index, arguments in enumerate(calls):
        text = json.dumps(arguments)
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=5)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        _codec.parse_stream_event(OPENAI, delta_event({"tool_calls": [
            {"index": index, "id": f"c{index}", "type": "function",
             "function": {"name": f"t{index}", "arguments": ""}}]}), state)
        for piece in pieces:
            _codec.parse_stream_event(OPENAI, delta_event({"tool_calls": [
                {"index": index, "function": {"arguments": piece}}]}), state)
    _codec.parse_stream_event(OPENAI, delta_event({}, "tool_calls"), state)
    (final,) = _codec.parse_stream_event(OPENAI, Event("[DONE]"), state)
    assert final.finish_reason == "tool_calls"
    assembled = state.tool_calls.complete("openai")
    assert [(c.id, c.name, dict(c.arguments)) for c in assembled] == [
        (f"c{i}", f"t{i}", arguments) for i, arguments in enumerate(calls)]


def test_text_and_a_call_in_one_delta_are_both_kept() -> None:
    state = StreamState(provider="openai", model="gpt-4o")
    chunks = _codec.parse_stream_event(OPENAI, delta_event({"content": "Let me look.",
        "tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}]}),
        state)
    assert [c.content for c in chunks] == ["Let me look."]
    assert len(state.tool_calls) == 1


def test_assembler_type_is_the_cores() -> None:
    assert isinstance(StreamState(provider="p", model="m").tool_calls, ToolCallAssembler)


# --- the emulation ---------------------------------------------------------------------------

FAKE = chat_completions_fake("openai", require_key=False)
ROUTE = next(route for route in FAKE.routes if route.path == "/chat/completions")


async def ask(sent: dict[str, Any], reply: Reply | None = None) -> FakeJSON | FakeStream:
    call = FakeCall(provider="openai", method="POST", path="/v1/chat/completions",
                    path_params={}, query={}, headers={}, body=json.dumps(sent).encode(),
                    json=sent, reply=reply or Reply())
    answered = await ROUTE.handler(call)
    assert isinstance(answered, FakeJSON | FakeStream)
    return answered


def request_body(*messages: Message, **fields: Any) -> dict[str, Any]:
    return body(Request(model="gpt-4o", messages=messages, **fields))


@pytest.mark.anyio
@pytest.mark.parametrize(("sent", "fragment"), [
    ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "does not match"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters":
                                                  {"type": "array"}}}]}, "type: \"object\""),
    ({"tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": {"type": "function", "function": {"name": "g"}}}, "tool 'g' not found"),
    ({"messages": [{"role": "user", "content": "x"},
                   {"role": "tool", "tool_call_id": "nope", "content": "r"}]},
     "must be a response to a preceeding message"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/jpeg;base64,iVBORw0KGgo="}}]}]}, "unsupported image"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/png;base64,@@"}}]}]}, "base64-encoded data URL"),
])
async def test_the_emulation_refuses_what_the_service_refuses(sent: dict[str, Any],
                                                              fragment: str) -> None:
    base = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    answered = await ask({**base, **sent})
    assert isinstance(answered, FakeJSON)
    assert answered.status == 400
    assert fragment in answered.body["error"]["message"]


@pytest.mark.anyio
async def test_scripted_calls_stream_as_id_and_name_then_fragments() -> None:
    sent = {**request_body(Message.user("hi")), "stream": True}
    reply = Reply(tool_calls=[FakeToolCall(name="lookup", arguments={"city": "Oslo"}, id="c9")],
                  chunks=4)
    answered = await ask(sent, reply)
    assert isinstance(answered, FakeStream)
    deltas = [json.loads(e)["choices"][0]["delta"] for e in answered.events
              if isinstance(e, str) and e.startswith("{") and json.loads(e)["choices"]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0] == {"index": 0, "id": "c9", "type": "function",
                        "function": {"name": "lookup", "arguments": ""}}
    assert len(calls) == 5
    assert "".join(c["function"]["arguments"] for c in calls) == '{"city":"Oslo"}'


@pytest.mark.anyio
async def test_a_json_mode_request_gets_an_example_of_the_stated_schema() -> None:
    sent = body(Request(model="m", messages=(Message.user("hi"),), output_schema=OutputSchema(
        name="city", schema=STRICT)), attrs_evolve(OPENAI, json_schema=False))
    answered = await ask(sent)
    assert isinstance(answered, FakeJSON)
    assert json.loads(answered.body["choices"][0]["message"]["content"]) == {"city": "example"}
