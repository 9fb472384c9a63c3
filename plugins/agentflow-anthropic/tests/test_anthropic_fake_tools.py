"""The emulated Messages API with tools, the answer tool and images: answers and refusals."""

from __future__ import annotations

import base64
import json

import anyio
import pytest

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
from agentflow_anthropic.testing import _service as _fake

WEATHER = {"name": "get_weather", "description": "The weather.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
SUM = {"name": "sum", "input_schema": {"type": "object",
                                        "properties": {"total": {"type": "integer"}}}}
PIXEL = base64.b64encode(PIXEL_PNG).decode()


def send(reply=None, **body):
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100,
            "messages": [{"role": "user", "content": "one two"}], **body}
    call = FakeCall(provider="anthropic", method="POST", path="/v1/messages", path_params={},
                    query={}, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                    body=json.dumps(body).encode(), json=body, reply=reply or Reply())
    return anyio.run(_fake._messages, call)


def answer(reply=None, **body):
    response = send(reply, **body)
    assert isinstance(response, FakeJSON)
    assert response.status == 200, response.body
    return response.body


def refusal(**body):
    response = send(**body)
    assert isinstance(response, FakeJSON)
    assert response.status == 400
    assert response.body["error"]["type"] == "invalid_request_error"
    return response.body["error"]["message"]


def events(reply=None, **body):
    response = send(reply, stream=True, **body)
    assert isinstance(response, FakeStream)
    return [(name, json.loads(data)) for name, data in response.events]


HISTORY = [
    {"role": "user", "content": "weather and sum?"},
    {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "toolu_b", "name": "sum", "input": {}}]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "snow"},
        {"type": "tool_result", "tool_use_id": "toolu_b",
         "content": [{"type": "text", "text": "3"}]}]},
]


# --- answers --------------------------------------------------------------------------------


def test_scripted_calls_come_after_the_text():
    reply = Reply(text="Let me check.", tool_calls=[
        FakeToolCall(name="get_weather", arguments={"city": "Paris"}, id="toolu_x"),
        FakeToolCall(name="sum", raw_arguments='{"total": ')])
    body = answer(reply, tools=[WEATHER, SUM])
    text, first, second = body["content"]
    assert text == {"type": "text", "text": "Let me check."}
    assert first == {"type": "tool_use", "id": "toolu_x", "name": "get_weather",
                     "input": {"city": "Paris"}}
    assert second["input"] == '{"total": '  # not an object: sent as the text it is
    assert second["id"].startswith("toolu_")
    assert body["stop_reason"] == "tool_use"


def test_scripted_calls_stream_their_input_in_pieces():
    reply = Reply(tool_calls=[FakeToolCall(name="get_weather", arguments={"city": "Paris"}),
                              FakeToolCall(name="sum")])
    sent = events(reply, tools=[WEATHER, SUM])
    assert [name for name, _ in sent] == [
        "message_start", "content_block_start", "ping", "content_block_delta",
        "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
        "message_stop"]
    starts = [data["content_block"] for name, data in sent if name == "content_block_start"]
    assert [(block["type"], block["name"], block["input"]) for block in starts] == [
        ("tool_use", "get_weather", {}), ("tool_use", "sum", {})]
    deltas = [(data["index"], data["delta"]["partial_json"]) for name, data in sent
              if name == "content_block_delta"]
    assert "".join(piece for index, piece in deltas if index == 0) == '{"city":"Paris"}'
    assert [piece for index, piece in deltas if index == 1] == [""]
    assert sent[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_chunks_sets_the_number_of_input_pieces():
    reply = Reply(chunks=5, tool_calls=[FakeToolCall(name="sum", raw_arguments='{"total": 12}')])
    deltas = [data["delta"]["partial_json"] for name, data in events(reply, tools=[SUM])
              if name == "content_block_delta"]
    assert len(deltas) == 5
    assert "".join(deltas) == '{"total": 12}'


def test_a_named_tool_choice_is_obeyed_with_an_example_input():
    body = answer(tools=[WEATHER, SUM], tool_choice={"type": "tool", "name": "sum"})
    (block,) = body["content"]
    assert (block["name"], block["input"]) == ("sum", example_instance(SUM["input_schema"]))
    assert body["stop_reason"] == "tool_use"


def test_any_calls_the_first_tool_then_the_last_after_results():
    first = answer(tools=[WEATHER, SUM], tool_choice={"type": "any"})
    assert first["content"][0]["name"] == "get_weather"
    later = answer(tools=[WEATHER, SUM], tool_choice={"type": "any"}, messages=HISTORY)
    assert later["content"][0]["name"] == "sum"


def test_a_scripted_text_is_the_forced_tools_input():
    forced = {"type": "tool", "name": "sum"}
    body = answer(Reply(text='{"total": 42}'), tools=[SUM], tool_choice=forced)
    assert body["content"][0]["input"] == {"total": 42}
    body = answer(Reply(text="no JSON here"), tools=[SUM], tool_choice=forced)
    assert body["content"][0]["input"] == "no JSON here"
    deltas = [data["delta"]["partial_json"] for name, data in
              events(Reply(text="no JSON here"), tools=[SUM], tool_choice=forced)
              if name == "content_block_delta"]
    assert "".join(deltas) == "no JSON here"


def test_tool_results_are_echoed():
    body = answer(tools=[WEATHER, SUM], messages=HISTORY)
    assert body["content"][0]["text"] == tool_result_text([("get_weather", "snow"),
                                                           ("sum", "3")])
    assert body["stop_reason"] == "end_turn"


def test_user_text_after_the_results_is_echoed_instead():
    messages = [*HISTORY[:2], {"role": "user", "content": [
        *HISTORY[2]["content"], {"type": "text", "text": "thanks"}]}]
    assert answer(tools=[WEATHER, SUM], messages=messages)["content"][0]["text"] == (
        "You said: thanks")


def test_images_are_echoed_after_the_text():
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                            "data": PIXEL}},
               {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]
    body = answer(messages=[{"role": "user", "content": content}])
    assert body["content"][0]["text"] == (
        f"You said: What is this? {describe_image('image/png', PIXEL_PNG)} "
        "[image at https://example.com/a.png]")


def test_tool_input_and_results_count_as_tokens():
    body = answer(Reply(tool_calls=[FakeToolCall(name="get_weather",
                                                 raw_arguments='{"city": "Rio de Janeiro"}')]),
                  tools=[WEATHER, SUM], messages=HISTORY)
    # "weather and sum?" 3, {"city": "Oslo"} 2, {} 1, "snow" 1, "3" 1; out: 4 words of JSON
    assert (body["usage"]["input_tokens"], body["usage"]["output_tokens"]) == (8, 4)


# --- refusals -------------------------------------------------------------------------------


def test_a_result_for_no_call_of_the_previous_turn_is_refused():
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_z",
                                              "content": "x"}]}]
    assert refusal(messages=messages) == (
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_z. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
        "message.")


def test_a_call_without_its_result_right_after_is_refused():
    messages = [*HISTORY[:2], {"role": "user", "content": [
        {"type": "text", "text": "first"}, *HISTORY[2]["content"]]}]
    assert refusal(messages=messages).startswith(
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_a, toolu_b.")


@pytest.mark.parametrize(("source", "words"), [
    ({"type": "base64", "media_type": "image/png", "data": "not base64!"}, "not valid base64"),
    ({"type": "base64", "media_type": "image/jpeg", "data": PIXEL},
     "does not match the provided media type image/jpeg"),
    ({"type": "base64", "media_type": "image/bmp", "data": PIXEL}, "media_type: Input should"),
    ({"type": "base64", "media_type": "image/png", "data": "A" * (5 * 1024 * 1024 + 4)},
     "image exceeds 5 MB maximum: 5242884 bytes > 5242880 bytes"),
    ({"type": "url", "url": "ftp://example.com/a.png"}, "valid URL"),
    ({"type": "file", "file_id": "f"}, "expected tags"),
])
def test_bad_images_are_refused(source, words):
    message = refusal(messages=[{"role": "user", "content": [
        {"type": "text", "text": "look"}, {"type": "image", "source": source}]}])
    assert message.startswith("messages.0.content.1.image.source")
    assert words in message


def test_images_belong_to_user_turns():
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": PIXEL}}]}]
    assert "only allowed in `user` messages" in refusal(messages=messages)


@pytest.mark.parametrize(("fields", "words"), [
    ({"tools": [{**WEATHER, "name": "get.weather"}]},
     "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"),
    ({"tools": [WEATHER, WEATHER]}, "tools: Tool names must be unique."),
    ({"tools": [{**SUM, "input_schema": {"type": "array"}}]},
     "tools.0.custom.input_schema.type: Input should be 'object'"),
    ({"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "add"}},
     "no tool named 'add'"),
    ({"tools": [WEATHER], "tool_choice": {"type": "required"}}, "tool_choice.type"),
    ({"tool_choice": {"type": "any"}}, "needs `tools`"),
    ({"tools": [WEATHER], "tool_choice": {"type": "auto", "disable_parallel_tool_use": "y"}},
     "disable_parallel_tool_use"),
])
def test_bad_tools_and_choices_are_refused(fields, words):
    assert words in refusal(**fields)


def test_empty_text_blocks_are_refused():
    messages = [{"role": "user", "content": [{"type": "text", "text": ""}]}]
    assert "text content blocks must be non-empty" in refusal(messages=messages)
