"""The Gemini emulation's function calling, structured output and images, read by the codec."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import agentflow_google
from agentflow.testing.conformance import PIXEL_PNG
from agentflow.testing.fake import (
    FakeCall,
    FakeJSON,
    FakeStream,
    FakeToolCall,
    Reply,
    describe_image,
    example_instance,
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
    ToolChoice,
)
from agentflow_google import _codec, _content

pytestmark = pytest.mark.anyio

MODEL = "gemini-3.8-flash"
WEATHER = Tool(name="get_weather", description="Weather.", parameters={
    "type": "object", "properties": {"city": {"type": "string"},
                                     "days": {"type": "integer", "minimum": 1}},
    "required": ["city"]})
ADD = Tool(name="add", parameters={"type": "object", "properties": {
    "a": {"type": "integer"}, "b": {"type": "integer"}}})


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"


def request(*messages: Message, model: str = MODEL, **fields: Any) -> Request:
    return Request(model=model, messages=messages or (Message.user("weather?"),), **fields)


def body_of(chat: Request) -> dict[str, Any]:
    settings = ModelSettings(name=chat.model, provider="google", vendor="google",
                             model_id=chat.model, base_url="http://fake/google",
                             api_key=Secret("AIza-fake"))
    return json.loads(_codec.build_request(chat, settings).content)


async def send(chat: Request | None = None, reply: Reply | None = None, *,
               body: dict[str, Any] | None = None, model: str = MODEL,
               stream: bool = False) -> FakeJSON | FakeStream:
    (fake,) = agentflow_google.PLUGIN.agentflow_fake_routes()
    method = "streamGenerateContent" if stream else "generateContent"
    handler = next(route.handler for route in fake.routes
                   if route.path == f"/v1beta/models/{{model}}:{method}")
    payload = body if body is not None else body_of(chat or request(model=model))
    call = FakeCall(provider="google", method="POST",
                    path=f"/v1beta/models/{model}:{method}", path_params={"model": model},
                    query={"alt": "sse"} if stream else {},
                    headers={"x-goog-api-key": "AIza-fake"},
                    body=json.dumps(payload).encode(), json=payload, reply=reply or Reply())
    return await handler(call)


async def answer(chat: Request | None = None, reply: Reply | None = None,
                 **kwargs: Any) -> Any:
    response = await send(chat, reply, **kwargs)
    assert isinstance(response, FakeJSON), response
    assert response.status == 200, response.body
    return _codec.parse_response(httpx.Response(200, json=response.body))


async def refused(chat: Request | None = None, *, body: dict[str, Any] | None = None,
                  model: str = MODEL) -> str:
    response = await send(chat, body=body, model=model)
    assert isinstance(response, FakeJSON)
    assert response.status == 400, response.body
    assert response.body["error"]["status"] == "INVALID_ARGUMENT"
    return str(response.body["error"]["message"])


# --- calls -------------------------------------------------------------------------------------


async def test_scripted_calls_are_function_call_parts_after_the_text():
    reply = Reply(text="Let me check.", tool_calls=[
        FakeToolCall(name="get_weather", arguments={"city": "Paris"}),
        FakeToolCall(name="add", arguments={"a": 1, "b": 2}, id="fc-7")])
    response = await send(request(tools=(WEATHER, ADD)), reply)
    (candidate,) = response.body["candidates"]
    parts = candidate["content"]["parts"]
    assert parts[0] == {"text": "Let me check."}
    assert parts[1]["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}}
    assert parts[1]["thoughtSignature"]
    assert parts[2] == {"functionCall": {"name": "add", "args": {"a": 1, "b": 2},
                                         "id": "fc-7"}}
    assert candidate["finishReason"] == "STOP"
    result = _codec.parse_response(httpx.Response(200, json=response.body))
    assert result.finish_reason == "tool_calls"
    assert [c.name for c in result.tool_calls] == ["get_weather", "add"]
    assert _content.wire_call_id(result.tool_calls[1].id) == "fc-7"
    assert result.tool_calls[0].extra["thought_signature"]
    assert result.tool_calls[1].extra == {}


async def test_gemini_2_models_do_not_sign_their_calls():
    reply = Reply(tool_calls=[FakeToolCall(name="add", arguments={"a": 1, "b": 2})])
    response = await send(request(model="gemini-2.5-flash", tools=(ADD,)), reply,
                          model="gemini-2.5-flash")
    (part,) = response.body["candidates"][0]["content"]["parts"]
    assert set(part) == {"functionCall"}


async def test_calls_count_as_answer_tokens():
    reply = Reply(tool_calls=[FakeToolCall(name="add", arguments={"a": 1, "b": 2})])
    response = await send(request(tools=(ADD,)), reply)
    assert response.body["usageMetadata"]["candidatesTokenCount"] == len(
        json.dumps({"a": 1, "b": 2}).split())


async def test_a_stream_sends_each_call_whole_in_the_last_event():
    reply = Reply(text="one two", tool_calls=[
        FakeToolCall(name="get_weather", arguments={"city": "Oslo"}),
        FakeToolCall(name="add", arguments={"a": 1, "b": 2})])
    response = await send(request(stream=True, tools=(WEATHER, ADD)), reply, stream=True)
    assert isinstance(response, FakeStream)
    events = [json.loads(str(e)) for e in response.events]
    assert [list(p) for p in events[-1]["candidates"][0]["content"]["parts"]] == [
        ["functionCall", "thoughtSignature"], ["functionCall"]]
    state = StreamState(provider="google", model=MODEL)
    chunks = [c for e in response.events for c in _codec.parse_stream_event(Event(str(e)), state)]
    assert "".join(c.content for c in chunks) == "one two"
    assert chunks[-1].finish_reason == "tool_calls"
    assert [c.name for c in state.tool_calls.complete("google")] == ["get_weather", "add"]


@pytest.mark.parametrize(("choice", "called"), [
    (ToolChoice(mode="required"), "get_weather"), (ToolChoice(mode="tool", name="add"), "add")])
async def test_mode_any_forces_a_call_with_example_arguments(choice, called):
    result = await answer(request(tools=(WEATHER, ADD), tool_choice=choice))
    (call,) = result.tool_calls
    tool = WEATHER if called == "get_weather" else ADD
    assert (call.name, dict(call.arguments)) == (called, example_instance(tool.parameters))
    assert (result.text, result.finish_reason) == ("", "tool_calls")


@pytest.mark.parametrize("mode", ["auto", "none"])
async def test_other_modes_answer_with_text(mode):
    result = await answer(request(tools=(WEATHER,), tool_choice=ToolChoice(mode=mode)))
    assert (result.text, result.tool_calls) == ("You said: weather?", ())


async def test_calls_sent_back_get_the_results_echoed():
    first = await answer(request(tools=(WEATHER, ADD)), Reply(tool_calls=[
        FakeToolCall(name="get_weather", arguments={"city": "Lima"}),
        FakeToolCall(name="add", arguments={"a": 2, "b": 5})]))
    calls = first.tool_calls
    history = (Message.user("weather and sum?"), first.message(),
               Message.tool_result(calls[0], {"sky": "clear"}),
               Message.tool_result(calls[1], "Error: overflow", is_error=True))
    result = await answer(request(*history, tools=(WEATHER, ADD)))
    assert result.text == tool_result_text([("get_weather", '{"sky": "clear"}'),
                                            ("add", "Error: overflow")])
    assert result.finish_reason == "stop"


# --- structured output and images --------------------------------------------------------------


SUM = {"type": "object", "properties": {"total": {"type": "integer"},
                                        "note": {"anyOf": [{"type": "string"},
                                                           {"type": "null"}]}}}


async def test_a_response_schema_gets_an_example_answer_unless_text_is_scripted():
    chat = request(output_schema=OutputSchema(name="sum", schema=SUM))
    assert json.loads((await answer(chat)).text) == example_instance(SUM)
    assert (await answer(chat, Reply(text='{"total": "x"}'))).text == '{"total": "x"}'


async def test_an_openapi_response_schema_is_read_too():
    body = {"contents": [{"role": "user", "parts": [{"text": "n?"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": {
                "type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}}}
    response = await send(body=body)
    assert json.loads(response.body["candidates"][0]["content"]["parts"][0]["text"]) == {
        "n": 1}


async def test_images_are_echoed_after_the_text():
    chat = request(Message.user("What is this?", ImagePart.from_bytes(PIXEL_PNG),
                                ImagePart.from_url("https://example.com/cat.png")))
    assert (await answer(chat)).text == " ".join([
        "You said: What is this?", describe_image("image/png", PIXEL_PNG),
        describe_image("image/png", url="https://example.com/cat.png")])


# --- what the service refuses ------------------------------------------------------------------


def with_part(part: dict[str, Any]) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "look"}, part]}]}


@pytest.mark.parametrize(("part", "words"), [
    ({"inlineData": {"mimeType": "image/png", "data": "not base64!"}}, "Base64 decoding failed"),
    ({"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(PIXEL_PNG).decode()}},
     "Unable to process input image"),
    ({"inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"junk").decode()}},
     "Unable to process input image"),
    ({"inlineData": {"mimeType": "image/gif", "data": base64.b64encode(b"GIF89a").decode()}},
     "Unsupported MIME type: image/gif"),
    ({"inlineData": {"data": base64.b64encode(PIXEL_PNG).decode()}}, "mime_type"),
    ({"fileData": {"fileUri": "ftp://example.com/cat.png"}}, "Unsupported file uri"),
])
async def test_bad_media_is_refused(part, words):
    assert words in await refused(body=with_part(part))


async def test_heic_cannot_be_checked_and_is_taken():
    response = await send(body=with_part({"inlineData": {
        "mimeType": "image/heic", "data": base64.b64encode(b"\0\0\0\x18ftypheic").decode()}}))
    assert response.status == 200


def tools_body(*declarations: dict[str, Any], config: dict[str, Any] | None = None,
               ) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "go"}]}],
                            "tools": [{"functionDeclarations": list(declarations)}]}
    if config is not None:
        body["toolConfig"] = {"functionCallingConfig": config}
    return body


OBJECT = {"type": "object", "properties": {}}


@pytest.mark.parametrize(("body", "words"), [
    (tools_body({"name": "9lives", "parametersJsonSchema": OBJECT}), "Invalid function name"),
    (tools_body({"name": "has space"}), "Invalid function name"),
    (tools_body({"name": "f"}, {"name": "f"}), "Duplicate function declaration found: f"),
    (tools_body({"name": "f", "parametersJsonSchema": OBJECT, "parameters": {"type": "OBJECT"}}),
     "mutually exclusive"),
    (tools_body({"name": "f", "parametersJsonSchema": {"type": "string"}}), "describe an object"),
    (tools_body({"name": "f"}, config={"mode": "ANY", "allowedFunctionNames": ["g"]}),
     "'g' is not among the function declarations"),
    (tools_body({"name": "f"}, config={"mode": "AUTO", "allowedFunctionNames": ["f"]}),
     "only be set when mode is ANY"),
    (tools_body({"name": "f"}, config={"mode": "SOMETIMES"}), "Invalid value"),
    (tools_body(config={"mode": "ANY"}), "needs function declarations"),
])
async def test_bad_tool_definitions_are_refused(body, words):
    assert words in await refused(body=body)


def turns(model_parts: list[dict[str, Any]], responses: list[dict[str, Any]],
          ) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "go"}]},
                         {"role": "model", "parts": model_parts},
                         {"role": "user", "parts": responses}]}


CALL = {"functionCall": {"name": "f", "args": {}},
        "thoughtSignature": _content.PLACEHOLDER_SIGNATURE}


def answered(name: str = "f", response: Any = None) -> dict[str, Any]:
    return {"functionResponse": {"name": name, "response": response or {"result": 1}}}


@pytest.mark.parametrize(("body", "words"), [
    (turns([{"text": "no calls"}], [answered()]),
     "function response turn comes immediately after a function call turn"),
    (turns([CALL], [answered(), answered()]), "number of function response parts"),
    (turns([CALL], [answered("g")]), "answers no function call"),
    (turns([CALL], [answered(response=[1])]), "Invalid value"),
    ({"contents": [{"role": "model", "parts": [CALL]}]},
     "function call turn comes immediately after a user turn"),
    (turns([{"functionCall": {"name": "f", "args": {}}}], [answered()]),
     "missing a thought_signature"),
    (turns([{"functionCall": "f"}], [answered()]), "Invalid value"),
    (turns([{**CALL, "thoughtSignature": "c2lnbmVk"}], [answered()]),
     "Corrupted thought signature"),
    (turns([{**CALL, "thoughtSignature": "not-base64!"}], [answered()]),
     "Corrupted thought signature"),
])
async def test_misplaced_calls_and_responses_are_refused(body, words):
    assert words in await refused(body=body)


async def test_gemini_2_takes_unsigned_calls_and_earlier_turns_need_no_signature():
    unsigned = turns([{"functionCall": {"name": "f", "args": {}}}], [answered()])
    assert (await send(body=unsigned, model="gemini-2.5-flash")).status == 200
    later = copy.deepcopy(unsigned)
    later["contents"] += [{"role": "model", "parts": [{"text": "done"}]},
                          {"role": "user", "parts": [{"text": "thanks"}]}]
    assert (await send(body=later)).status == 200


@pytest.mark.parametrize(("config", "words"), [
    ({"responseJsonSchema": OBJECT}, "response_mime_type must be application/json"),
    ({"responseMimeType": "application/json", "responseJsonSchema": OBJECT,
      "responseSchema": {"type": "OBJECT"}}, "mutually exclusive"),
])
async def test_bad_response_schemas_are_refused(config, words):
    body = {"contents": [{"role": "user", "parts": [{"text": "go"}]}],
            "generationConfig": config}
    assert words in await refused(body=body)


async def test_what_the_codec_sends_for_tools_images_and_schemas_is_accepted():
    signed = await answer(request(tools=(WEATHER,)), Reply(tool_calls=[
        FakeToolCall(name="get_weather", arguments={"city": "Rome"})]))
    by_hand = ToolCall.of("call_1", "add", {"a": 1, "b": 2})
    chats = [
        request(Message.user("weather?", ImagePart.from_bytes(PIXEL_PNG)), signed.message(),
                Message.tool_result(signed.tool_calls[0], "sunny"), tools=(WEATHER, ADD),
                tool_choice=ToolChoice(mode="tool", name="add")),
        request(Message.user("sum?"), Message.assistant("", (by_hand,)),
                Message.tool_result(by_hand, 3), tools=(ADD,),
                output_schema=OutputSchema(name="sum", schema=SUM)),
    ]
    for chat in chats:
        response = await send(chat)
        assert response.status == 200, response.body
