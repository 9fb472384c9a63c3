"""Tools, structured output and images in the Chat Completions codec and its emulation."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import agentflow_openai
from agentflow.errors import ProviderError
from agentflow.testing.conformance import PIXEL_PNG
from agentflow.testing.fake import (
    FakeCall,
    FakeJSON,
    FakeStream,
    FakeToolCall,
    Reply,
    describe_image,
    tool_result_text,
)
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
    ToolCallAssembler,
    ToolChoice,
)
from agentflow_openai import chat as _codec
from agentflow_openai.testing import ToolRules, chat_completions_fake

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


def test_calls_streamed_without_an_index_are_told_apart_by_id() -> None:
    state = StreamState(provider="openai", model="gpt-4o")
    for delta in ({"id": "a", "function": {"name": "f", "arguments": '{"x"'}},
                  {"function": {"arguments": ": 1}"}},
                  {"id": "b", "function": {"name": "g", "arguments": "{}"}}):
        _codec.parse_stream_event(OPENAI, delta_event({"tool_calls": [delta]}), state)
    assert [(c.id, c.name, dict(c.arguments)) for c in state.tool_calls.complete("openai")] == [
        ("a", "f", {"x": 1}), ("b", "g", {})]


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


def test_a_vendor_strict_by_default_is_told_only_when_a_schema_is_not_strict() -> None:
    request = Request(model="m", messages=(Message.user("hi"),), tools=(
        Tool(name="strict", parameters=STRICT), Tool(name="loose", parameters=LOOSE)))
    openai_tools = [t["function"] for t in body(request)["tools"]]
    assert [f.get("strict") for f in openai_tools] == [True, None]
    kimi_like = attrs_evolve(OPENAI, strict_tools_by_default=True)
    assert [f.get("strict") for f in (t["function"] for t in body(request, kimi_like)["tools"])
            ] == [None, False]
    assert "strict" not in body(request, kimi_like)["tools"][0]["function"]


def _call(call_id: str, name: str = "lookup") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}


_USER = {"role": "user", "content": "hi"}
_PNG_URL = f"data:image/png;base64,{ImagePart.from_bytes(PIXEL_PNG).base64}"


@pytest.mark.anyio
@pytest.mark.parametrize(("sent", "fragment"), [
    ({"messages": [_USER, {"role": "assistant", "content": None,
                           "tool_calls": [_call("a"), _call("b")]},
                   {"role": "tool", "tool_call_id": "a", "content": "r"}]},
     "did not have response messages: b"),
    ({"messages": [_USER, {"role": "assistant", "content": None, "tool_calls": [_call("a")]},
                   _USER]}, "did not have response messages: a"),
    ({"messages": [_USER, {"role": "assistant", "content": None, "tool_calls": [_call("a")]},
                   {"role": "tool", "tool_call_id": "a", "content": "r"}, _USER,
                   {"role": "tool", "tool_call_id": "a", "content": "again"}]},
     "must be a response to a preceeding message"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": LOOSE,
                                                  "strict": True}}]}, "with strict set"),
    ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": LOOSE, "strict": True}}}, "response_format 'x'"),
    ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "bad name", "schema": STRICT}}}, "json_schema.name"),
    ({"tools": [{"type": "function", "function": {"name": f"t{n}"}} for n in range(129)]},
     "maximum length 128"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/bmp;base64,Qk0="}}]}]}, "unsupported image"),
])
async def test_the_emulation_refuses_broken_conversations_and_schemas(
        sent: dict[str, Any], fragment: str) -> None:
    answered = await ask({"model": "gpt-4o", "messages": [_USER], **sent})
    assert isinstance(answered, FakeJSON)
    assert answered.status == 400
    assert answered.body["error"]["type"] == "invalid_request_error"
    assert fragment in answered.body["error"]["message"]


WEATHER = Tool(name="get_weather", parameters={
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer",
                                                                          "minimum": 1}},
    "required": ["city"]})
ADD = Tool(name="add", parameters={"type": "object", "properties": {
    "a": {"type": "integer"}, "b": {"type": "integer"}}})


def message_of(answered: FakeJSON | FakeStream) -> dict[str, Any]:
    assert isinstance(answered, FakeJSON)
    assert answered.status == 200, answered.body
    message: dict[str, Any] = answered.body["choices"][0]["message"]
    return message


@pytest.mark.anyio
@pytest.mark.parametrize(("choice", "called"), [
    (ToolChoice(mode="required"), "get_weather"), (ToolChoice(mode="tool", name="add"), "add")])
async def test_a_forced_choice_gets_a_call_with_example_arguments(choice: ToolChoice,
                                                                  called: str) -> None:
    answered = await ask(request_body(Message.user("go"), tools=(WEATHER, ADD),
                                      tool_choice=choice))
    message = message_of(answered)
    (call,) = message["tool_calls"]
    assert message["content"] is None
    assert call["function"]["name"] == called
    assert json.loads(call["function"]["arguments"]) == (
        {"city": "example", "days": 1} if called == "get_weather" else {"a": 1, "b": 1})
    assert isinstance(answered, FakeJSON)
    assert answered.body["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.anyio
async def test_after_tool_results_the_echo_lists_them() -> None:
    calls = (ToolCall.of("c1", "get_weather", {"city": "Oslo"}), ToolCall.of("c2", "add", {}))
    answered = await ask(request_body(
        Message.user("go"), Message.assistant("", calls),
        Message.tool_result(calls[0], "snow"), Message.tool_result(calls[1], 3,
                                                                    is_error=True),
        tools=(WEATHER, ADD)))
    assert message_of(answered)["content"] == tool_result_text(
        [("get_weather", "snow"), ("add", "Error: 3")])


@pytest.mark.anyio
async def test_images_are_echoed_after_the_text() -> None:
    answered = await ask(request_body(Message.user(
        "what?", ImagePart.from_bytes(PIXEL_PNG), ImagePart.from_url("https://e.com/a.png"))))
    assert message_of(answered)["content"] == " ".join([
        "You said: what?", describe_image("image/png", PIXEL_PNG),
        describe_image(None, url="https://e.com/a.png")])


@pytest.mark.anyio
async def test_a_json_schema_request_gets_an_example_or_the_scripted_text() -> None:
    sent = request_body(Message.user("hi"), output_schema=OutputSchema(
        name="city", schema=STRICT, strict=True))
    assert json.loads(message_of(await ask(sent))["content"]) == {"city": "example"}
    scripted = await ask(sent, Reply(text='{"town": 1}'))
    assert message_of(scripted)["content"] == '{"town": 1}'


@pytest.mark.anyio
async def test_image_rules_of_a_vendor_without_web_addresses() -> None:
    fake = chat_completions_fake("kimi_like", require_key=False, tool_rules=ToolRules(
        tool_name=re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]{2,63}"), image_urls=False))
    route = next(r for r in fake.routes if r.path == "/chat/completions")

    async def send(content: Any, tools: Any = None) -> FakeJSON:
        sent: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": content}]}
        if tools:
            sent["tools"] = tools
        answered = await route.handler(FakeCall(
            provider="kimi_like", method="POST", path="/v1/chat/completions", path_params={},
            query={}, headers={}, body=json.dumps(sent).encode(), json=sent, reply=Reply()))
        assert isinstance(answered, FakeJSON)
        return answered

    def image(url: str) -> list[dict[str, Any]]:
        return [{"type": "image_url", "image_url": {"url": url}}]

    assert (await send(image("https://e.com/a.png"))).status == 400
    assert (await send(image("ms://file-1"))).status == 200
    assert (await send(image(_PNG_URL))).status == 200
    short = await send("hi", [{"type": "function", "function": {"name": "ab"}}])
    assert short.status == 400
    assert "^[a-zA-Z_][a-zA-Z0-9_-]{2,63}$" in short.body["error"]["message"]
