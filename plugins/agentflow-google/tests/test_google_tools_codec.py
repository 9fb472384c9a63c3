"""Tools, tool results, structured output and images in the Gemini wire format."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from types import MappingProxyType

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from agentflow.errors import ProviderError, StreamingError, ValidationError
from agentflow.testing.conformance import PIXEL_PNG
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

WEATHER = Tool(name="get_weather", description="Today's weather.", parameters={
    "type": "object", "properties": {"city": {"type": "string"},
                                     "unit": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                                     "at": {"type": "array", "prefixItems": [
                                         {"type": "number"}, {"type": "number"}]}},
    "required": ["city"], "additionalProperties": False})
ADD = Tool(name="add", parameters={"type": "object", "properties": {
    "a": {"type": "integer"}, "b": {"type": "integer"}}})


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"


def settings(model="gemini-3.8-flash"):
    return ModelSettings(name=model, provider="google", vendor="google", model_id=model,
                         base_url="https://generativelanguage.googleapis.com",
                         api_key=Secret("AIza-test"))


def sent(*messages, model="gemini-3.8-flash", **fields):
    request = Request(model=model, messages=messages or (Message.user("hi"),), **fields)
    return json.loads(_codec.build_request(request, settings(model)).content)


def answer(parts, finish="STOP"):
    return httpx.Response(200, json={"candidates": [{"content": {"role": "model",
                                                                 "parts": parts},
                                                     "finishReason": finish}],
                                     "responseId": "r1"})


# --- requests: tools ---------------------------------------------------------------------------


def test_tools_go_as_function_declarations_with_their_json_schema_unconverted():
    body = sent(tools=(WEATHER, ADD))
    assert body["tools"] == [{"functionDeclarations": [
        {"name": "get_weather", "description": "Today's weather.",
         "parametersJsonSchema": dict(WEATHER.parameters)},
        {"name": "add", "description": "", "parametersJsonSchema": dict(ADD.parameters)}]}]
    assert "toolConfig" not in body


@pytest.mark.parametrize(("choice", "config"), [
    (ToolChoice(mode="auto"), {"mode": "AUTO"}),
    (ToolChoice(mode="none"), {"mode": "NONE"}),
    (ToolChoice(mode="required"), {"mode": "ANY"}),
    (ToolChoice(mode="tool", name="add"), {"mode": "ANY", "allowedFunctionNames": ["add"]}),
])
def test_tool_choice_becomes_the_function_calling_mode(choice, config):
    body = sent(tools=(WEATHER, ADD), tool_choice=choice)
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_parallel_tool_calls_has_no_gemini_field_and_no_tools_sends_no_config():
    body = sent(tools=(ADD,), parallel_tool_calls=False)
    assert set(body) == {"contents", "tools"}
    assert set(sent(tool_choice=ToolChoice(mode="none"))) == {"contents"}


def test_schemas_held_in_read_only_mappings_are_sent():
    tool = Tool(name="t", parameters=MappingProxyType({"type": "object", "properties": (
        MappingProxyType({"x": MappingProxyType({"type": "string"})}))}))
    assert sent(tools=(tool,))["tools"][0]["functionDeclarations"][0][
        "parametersJsonSchema"] == {"type": "object", "properties": {"x": {"type": "string"}}}


# --- requests: structured output and images ----------------------------------------------------


def test_an_output_schema_asks_for_json_matching_it():
    schema = {"type": "object", "properties": {"total": {"type": "integer"}},
              "required": ["total"], "additionalProperties": False}
    body = sent(output_schema=OutputSchema(name="sum", schema=schema, strict=True),
                temperature=0.2)
    assert body["generationConfig"] == {"temperature": 0.2,
                                        "responseMimeType": "application/json",
                                        "responseJsonSchema": schema}


def test_images_go_inline_or_as_file_uris_in_their_place():
    message = Message(role="user", content=(
        ImagePart.from_bytes(PIXEL_PNG),
        *Message.user("What are these?").parts,
        ImagePart.from_url("https://example.com/cat.JPG?size=2"),
        ImagePart.from_url("https://example.com/render", media_type="image/webp"),
        ImagePart.from_url("https://example.com/unknown")))
    assert sent(message)["contents"] == [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "image/png",
                        "data": base64.b64encode(PIXEL_PNG).decode()}},
        {"text": "What are these?"},
        {"fileData": {"fileUri": "https://example.com/cat.JPG?size=2",
                      "mimeType": "image/jpeg"}},
        {"fileData": {"fileUri": "https://example.com/render", "mimeType": "image/webp"}},
        {"fileData": {"fileUri": "https://example.com/unknown"}}]}]


def test_an_image_without_text_sends_only_the_image():
    (turn,) = sent(Message.user("", ImagePart.from_bytes(PIXEL_PNG)))["contents"]
    assert [list(part) for part in turn["parts"]] == [["inlineData"]]


# --- requests: history -------------------------------------------------------------------------


def history(*calls, text="", results=("snow", 3), errors=(False, False)):
    return (Message.user("weather and sum?"), Message.assistant(text, calls),
            *(Message.tool_result(call, result, is_error=error)
              for call, result, error in zip(calls, results, errors, strict=False)))


def test_calls_and_their_results_are_model_and_user_turns():
    calls = (ToolCall.of("fc-1", "get_weather", {"city": "Oslo"}),
             ToolCall.of("fc-2", "add", {"a": 1, "b": 2}))
    contents = sent(*history(*calls, text="Checking."), model="gemini-2.5-flash")["contents"]
    assert contents[1:] == [
        {"role": "model", "parts": [
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "fc-1"}},
            {"functionCall": {"name": "add", "args": {"a": 1, "b": 2}, "id": "fc-2"}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "snow"},
                                  "id": "fc-1"}},
            {"functionResponse": {"name": "add", "response": {"result": 3}, "id": "fc-2"}}]}]


@pytest.mark.parametrize(("text", "is_error", "response"), [
    ('{"temp": 21, "sky": "clear"}', False, {"temp": 21, "sky": "clear"}),
    ("[1, 2]", False, {"result": [1, 2]}),
    ("true", False, {"result": True}),
    ("sunny in Lima", False, {"result": "sunny in Lima"}),
    ("NaN", False, {"result": "NaN"}),
    ("Error: the service is down", True, {"error": "Error: the service is down"}),
    ('{"code": 7}', True, {"error": '{"code": 7}'}),
])
def test_a_result_is_sent_as_an_object_and_reads_back(text, is_error, response):
    assert _content.response_object(text, is_error) == response
    assert _content.response_text(response) == (text, is_error)


def test_ids_gemini_never_sent_are_not_sent_back():
    call = ToolCall.of("gemini_call_0", "add", {"a": 1, "b": 2})
    contents = sent(*history(call), model="gemini-2.5-flash")["contents"]
    assert contents[1]["parts"] == [{"functionCall": {"name": "add", "args": {"a": 1, "b": 2}}}]
    assert contents[2]["parts"] == [{"functionResponse": {"name": "add",
                                                          "response": {"result": "snow"}}}]


def test_a_signature_kept_in_the_id_goes_back_on_its_call_and_only_there():
    signature = base64.b64encode(b"\xfb\xef\xbe\xff\xff\xff-signed-").decode()
    signed = ToolCall.of(_content.call_id(None, 0), "get_weather", {"city": "Rome"},
                         extra=_content.call_extra(signature))
    other = ToolCall.of(_content.call_id(None, 1), "add", {"a": 1, "b": 2})
    contents = sent(*history(signed, other))["contents"]
    assert contents[1]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}},
         "thoughtSignature": signature},
        {"functionCall": {"name": "add", "args": {"a": 1, "b": 2}}}]
    assert [p["functionResponse"]["name"] for p in contents[2]["parts"]] == ["get_weather",
                                                                             "add"]


def test_unsigned_calls_get_googles_placeholder_on_gemini_3_and_later_only():
    call = ToolCall.of("call_w", "get_weather", {"city": "Oslo"})
    (first, *_) = sent(*history(call))["contents"][1]["parts"]
    assert first["thoughtSignature"] == _content.PLACEHOLDER_SIGNATURE
    (first, *_) = sent(*history(call), model="gemini-2.5-pro")["contents"][1]["parts"]
    assert "thoughtSignature" not in first


def test_a_result_finds_its_tools_name_from_the_call():
    call = ToolCall.of("c1", "add", {"a": 1, "b": 2})
    result = Message(role="tool", content="3", tool_call_id="c1")
    contents = sent(Message.user("sum?"), Message.assistant("", (call,)), result)["contents"]
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "add"
    orphan = Message(role="tool", content="3", tool_call_id="nowhere")
    with pytest.raises(ValidationError, match="names no tool"):
        sent(Message.user("sum?"), orphan)


def test_results_in_separate_runs_are_separate_turns():
    first = ToolCall.of("c1", "add", {"a": 1, "b": 2})
    second = ToolCall.of("c2", "add", {"a": 3, "b": 4})
    contents = sent(Message.user("sum?"), Message.assistant("", (first,)),
                    Message.tool_result(first, 3), Message.assistant("", (second,)),
                    Message.tool_result(second, 7))["contents"]
    assert [(c["role"], len(c["parts"])) for c in contents] == [
        ("user", 1), ("model", 1), ("user", 1), ("model", 1), ("user", 1)]


@hypothesis_settings(deadline=None, max_examples=100)
@given(wire_id=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True)),
       index=st.integers(0, 50))
def test_an_id_gives_back_the_wire_id_only_when_gemini_sent_one(wire_id, index):
    value = _content.call_id(wire_id, index)
    assert all(ch.isalnum() or ch in "_-" for ch in value)
    assert _content.wire_call_id(value) == wire_id


# --- answers -----------------------------------------------------------------------------------


def test_function_calls_are_returned_parsed_with_their_finish_reason():
    result = _codec.parse_response(answer([
        {"text": "Let me look."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
         "thoughtSignature": "c2lnbmVk"},
        {"functionCall": {"name": "add", "args": {"a": 40, "b": 2}, "id": "fc-9"}},
        {"functionCall": {"name": "ping"}}]))
    assert result.text == "Let me look."
    assert (result.finish_reason, result.raw_finish_reason) == ("tool_calls", "STOP")
    assert [(c.name, dict(c.arguments), c.raw_arguments) for c in result.tool_calls] == [
        ("get_weather", {"city": "Paris"}, '{"city":"Paris"}'),
        ("add", {"a": 40, "b": 2}, '{"a":40,"b":2}'), ("ping", {}, "{}")]
    ids = [call.id for call in result.tool_calls]
    assert [_content.wire_call_id(i) for i in ids] == [None, "fc-9", None]
    assert [call.extra for call in result.tool_calls] == [
        {"thought_signature": "c2lnbmVk"}, {}, {}]
    assert len(set(ids)) == 3


def test_a_length_stop_with_calls_stays_length():
    result = _codec.parse_response(answer([{"functionCall": {"name": "add", "args": {}}}],
                                          finish="MAX_TOKENS"))
    assert result.finish_reason == "length"
    assert len(result.tool_calls) == 1


@pytest.mark.parametrize("args", [["Paris"], "Paris", 3])
def test_arguments_that_are_not_an_object_are_refused_keeping_their_json(args):
    with pytest.raises(ProviderError) as caught:
        _codec.parse_response(answer([{"functionCall": {"name": "get_weather",
                                                        "args": args}}]))
    assert caught.value.raw_arguments == json.dumps(args)
    assert "get_weather" in str(caught.value)
    assert caught.value.provider is None  # the core names the provider
    assert caught.value.request_id == "r1"


def test_a_call_without_a_name_is_an_answer_of_an_unexpected_shape():
    with pytest.raises(ProviderError, match="unexpected shape"):
        _codec.parse_response(answer([{"functionCall": {"args": {}}}]))


def stream(*events):
    state = StreamState(provider="google", model="gemini-3.8-flash")
    chunks = [chunk for body in events
              for chunk in _codec.parse_stream_event(Event(json.dumps(body)), state)]
    return chunks, state


def event(parts, finish=None):
    candidate = {"content": {"role": "model", "parts": parts}}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "responseId": "r2"}


def test_streamed_calls_arrive_whole_and_the_final_chunk_says_tool_calls():
    chunks, state = stream(
        event([{"text": "Checking"}]),
        event([{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
                "thoughtSignature": "AAAA"}]),
        event([{"functionCall": {"name": "add", "args": {"a": 1, "b": 2}}}], "STOP"))
    assert [c.content for c in chunks] == ["Checking", ""]
    assert (chunks[-1].is_final, chunks[-1].finish_reason) == (True, "tool_calls")
    calls = state.tool_calls.complete("google")
    assert [(c.name, dict(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Oslo"}), ("add", {"a": 1, "b": 2})]
    assert [(_content.wire_call_id(c.id), c.extra) for c in calls] == [
        (None, {"thought_signature": "AAAA"}), (None, {})]
    assert calls[0].id != calls[1].id


def test_a_stream_without_calls_still_stops():
    chunks, state = stream(event([{"text": "Hi"}], "STOP"))
    assert chunks[-1].finish_reason == "stop"
    assert not state.tool_calls


def test_streamed_arguments_that_are_not_an_object_fail_when_the_stream_ends():
    _, state = stream(event([{"functionCall": {"name": "get_weather", "args": [1]}}], "STOP"))
    with pytest.raises(StreamingError) as caught:
        state.tool_calls.complete("google")
    assert caught.value.raw_arguments == "[1]"
