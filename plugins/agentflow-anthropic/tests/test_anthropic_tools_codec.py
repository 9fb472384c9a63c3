"""Tools, the answer tool and images in the Messages API wire format: bodies, answers, streams."""

from __future__ import annotations

import json
from dataclasses import dataclass

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
from agentflow_anthropic import _codec
from agentflow_anthropic._content import ANSWER_TOOL_NOTE

WEATHER = Tool(name="get_weather", description="The weather.",
               parameters={"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]})
ADD = Tool(name="add", parameters={"type": "object", "properties": {"a": {"type": "integer"}}})
SUM = OutputSchema(name="sum", schema={"type": "object",
                                       "properties": {"total": {"type": "integer"}}})


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"


def settings():
    return ModelSettings(name="claude-sonnet-4-5", provider="anthropic", vendor="anthropic",
                         model_id="claude-sonnet-4-5", base_url="https://api.anthropic.com",
                         api_key=Secret("sk-ant-test"))


def chat(*messages, **fields):
    messages = messages or (Message.user("hi"),)
    return Request(model="claude-sonnet-4-5", messages=tuple(messages), **fields)


def body_of(request):
    return json.loads(_codec.build_request(request, settings()).content)


# --- tools in the request -------------------------------------------------------------------


def test_tools_are_sent_with_their_schema_and_no_choice_by_default():
    body = body_of(chat(tools=(WEATHER, ADD)))
    assert body["tools"] == [
        {"name": "get_weather", "description": "The weather.",
         "input_schema": dict(WEATHER.parameters)},
        {"name": "add", "input_schema": dict(ADD.parameters)}]
    assert "tool_choice" not in body


def test_no_tools_no_tool_fields():
    body = body_of(chat(tool_choice=ToolChoice(mode="auto"), parallel_tool_calls=False))
    assert "tools" not in body
    assert "tool_choice" not in body


@pytest.mark.parametrize(("choice", "sent"), [
    (ToolChoice(mode="auto"), {"type": "auto"}),
    (ToolChoice(mode="none"), {"type": "none"}),
    (ToolChoice(mode="required"), {"type": "any"}),
    (ToolChoice(mode="tool", name="add"), {"type": "tool", "name": "add"}),
])
def test_tool_choice(choice, sent):
    assert body_of(chat(tools=(WEATHER, ADD), tool_choice=choice))["tool_choice"] == sent


@pytest.mark.parametrize(("choice", "sent"), [
    (None, {"type": "auto", "disable_parallel_tool_use": True}),
    (ToolChoice(mode="required"), {"type": "any", "disable_parallel_tool_use": True}),
    (ToolChoice(mode="tool", name="add"),
     {"type": "tool", "name": "add", "disable_parallel_tool_use": True}),
    (ToolChoice(mode="none"), {"type": "none"}),
])
def test_parallel_tool_calls_off_goes_inside_tool_choice(choice, sent):
    body = body_of(chat(tools=(WEATHER, ADD), tool_choice=choice, parallel_tool_calls=False))
    assert body["tool_choice"] == sent


def test_parallel_tool_calls_on_is_the_default_and_not_sent():
    assert "tool_choice" not in body_of(chat(tools=(WEATHER,), parallel_tool_calls=True))


# --- the answer tool ------------------------------------------------------------------------


def test_an_output_schema_alone_is_a_forced_answer_tool():
    body = body_of(chat(output_schema=SUM))
    assert body["tools"] == [{"name": "sum", "description": ANSWER_TOOL_NOTE,
                              "input_schema": dict(SUM.schema)}]
    assert body["tool_choice"] == {"type": "tool", "name": "sum"}


def test_the_schema_description_comes_before_the_note():
    described = OutputSchema(name="sum", schema=SUM.schema, description="The total.")
    (tool,) = body_of(chat(output_schema=described))["tools"]
    assert tool["description"] == f"The total.\n\n{ANSWER_TOOL_NOTE}"


@pytest.mark.parametrize("choice", [None, ToolChoice(mode="auto")])
def test_with_user_tools_the_model_must_call_one_of_them_or_answer(choice):
    body = body_of(chat(tools=(WEATHER,), tool_choice=choice, output_schema=SUM))
    assert [tool["name"] for tool in body["tools"]] == ["get_weather", "sum"]
    assert body["tool_choice"] == {"type": "any"}


def test_a_forced_user_tool_leaves_the_answer_tool_out():
    for choice in (ToolChoice(mode="required"), ToolChoice(mode="tool", name="get_weather")):
        body = body_of(chat(tools=(WEATHER,), tool_choice=choice, output_schema=SUM))
        assert [tool["name"] for tool in body["tools"]] == ["get_weather"]


def test_tool_choice_none_with_an_output_schema_forces_the_answer():
    body = body_of(chat(tools=(WEATHER,), tool_choice=ToolChoice(mode="none"),
                        output_schema=SUM, parallel_tool_calls=False))
    assert body["tool_choice"] == {"type": "tool", "name": "sum",
                                   "disable_parallel_tool_use": True}


def test_an_output_schema_named_like_a_tool_is_refused():
    with pytest.raises(ValidationError, match="another name"):
        body_of(chat(tools=(Tool(name="sum"),), output_schema=SUM))


# --- history --------------------------------------------------------------------------------


CALLS = (ToolCall.of("toolu_1", "get_weather", {"city": "Oslo"}),
         ToolCall.of("toolu_2", "add", {"a": 1}))


def test_assistant_calls_and_grouped_results():
    body = body_of(chat(
        Message.system("sys"), Message.user("go"), Message.assistant("Let me look.", CALLS),
        Message.tool_result(CALLS[0], "snow"),
        Message.tool_result(CALLS[1], "Error: no", is_error=True),
        Message.user("and now?"), Message.assistant("done"), Message.user("bye")))
    assert body["messages"] == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_2", "name": "add", "input": {"a": 1}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "snow"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "Error: no",
             "is_error": True},
            {"type": "text", "text": "and now?"}]},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": "bye"}]
    assert body["system"] == "sys"


def test_an_assistant_turn_of_calls_only_has_no_text_block():
    body = body_of(chat(Message.user("go"), Message.assistant("", CALLS[:1]),
                        Message.tool_result(CALLS[0], {"t": 1})))
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"t": 1}'}]}


def test_results_of_two_turns_are_two_user_turns():
    first, second = CALLS
    body = body_of(chat(Message.user("go"), Message.assistant("", (first,)),
                        Message.tool_result(first, "a"), Message.assistant("", (second,)),
                        Message.tool_result(second, "b")))
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "assistant",
                                                     "user"]


def test_a_tool_result_without_a_call_id_is_refused():
    with pytest.raises(ValidationError, match="tool_call_id"):
        body_of(chat(Message.user("go"), Message(role="tool", content="x")))


# --- images ---------------------------------------------------------------------------------


def test_images_are_base64_or_url_blocks_in_order():
    pixel = ImagePart.from_bytes(PIXEL_PNG)
    remote = ImagePart.from_url("https://example.com/cat.png")
    body = body_of(chat(Message.user("What are these?", pixel, remote)))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What are these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": pixel.base64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}]


def test_an_image_without_text_has_no_empty_text_block():
    body = body_of(chat(Message.user("", ImagePart.from_bytes(PIXEL_PNG))))
    assert [block["type"] for block in body["messages"][0]["content"]] == ["image"]


# --- answers --------------------------------------------------------------------------------


def message(*content, stop_reason="tool_use"):
    return httpx.Response(200, json={
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": list(content), "stop_reason": stop_reason,
        "usage": {"input_tokens": 3, "output_tokens": 4}})


def use(name, given, id="toolu_1"):
    return {"type": "tool_use", "id": id, "name": name, "input": given}


def test_tool_use_blocks_are_tool_calls():
    result = _codec.parse_response(message(
        {"type": "text", "text": "Checking."}, use("get_weather", {"city": "Köln"}),
        use("add", {}, id="toolu_2")), chat(tools=(WEATHER, ADD)))
    assert result.text == "Checking."
    assert result.tool_calls == (
        ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Köln"},
                 raw_arguments='{"city":"Köln"}'),
        ToolCall(id="toolu_2", name="add", arguments={}, raw_arguments="{}"))
    assert (result.finish_reason, result.raw_finish_reason) == ("tool_calls", "tool_use")


def test_the_answer_tool_is_the_text_not_a_call():
    result = _codec.parse_response(message(use("sum", {"total": 42})), chat(output_schema=SUM))
    assert result.text == '{"total":42}'
    assert result.tool_calls == ()
    assert (result.finish_reason, result.raw_finish_reason) == ("stop", "tool_use")


def test_the_answer_tool_beside_a_user_call_keeps_the_call():
    result = _codec.parse_response(
        message(use("get_weather", {"city": "Rome"}), use("sum", {"total": 1}, id="toolu_2")),
        chat(tools=(WEATHER,), output_schema=SUM))
    assert [call.name for call in result.tool_calls] == ["get_weather"]
    assert result.text == '{"total":1}'  # as a stream would have sent it
    assert result.finish_reason == "tool_calls"


def test_without_the_request_a_tool_named_like_a_schema_is_a_call():
    result = _codec.parse_response(message(use("sum", {"total": 42})))
    assert [call.name for call in result.tool_calls] == ["sum"]


def test_an_answer_cut_at_max_tokens_stays_length():
    result = _codec.parse_response(message(use("sum", {}), stop_reason="max_tokens"),
                                   chat(output_schema=SUM))
    assert result.finish_reason == "length"


def test_answer_tool_input_that_is_text_is_kept_as_is():
    result = _codec.parse_response(message(use("sum", "not json")), chat(output_schema=SUM))
    assert result.text == "not json"


@pytest.mark.parametrize("given", ['{"city": "Par', "[1, 2]", [1, 2]])
def test_tool_input_that_is_not_an_object_keeps_the_raw_text(given):
    with pytest.raises(ProviderError) as caught:
        _codec.parse_response(message(use("get_weather", given)), chat(tools=(WEATHER,)))
    assert caught.value.raw_arguments == (given if isinstance(given, str) else "[1,2]")
    assert "get_weather" in str(caught.value)


# --- streams --------------------------------------------------------------------------------


def tool_stream(name, fragments, index=1, text="Sure."):
    events = [{"type": "message_start", "message": {"model": "claude-sonnet-4-5",
                                                    "usage": {"input_tokens": 5}}}]
    if text:
        events += [{"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}},
                   {"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": text}},
                   {"type": "content_block_stop", "index": 0}]
    events.append({"type": "content_block_start", "index": index, "content_block": {
        "type": "tool_use", "id": f"toolu_{index}", "name": name, "input": {}}})
    events += [{"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": fragment}}
               for fragment in fragments]
    events += [{"type": "content_block_stop", "index": index},
               {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 9}},
               {"type": "message_stop"}]
    return events


def run_stream(events, request=None):
    """The chunks, and the calls as the core assembles them."""
    state = StreamState(provider="anthropic", model="m", request=request)
    chunks = []
    for payload in events:
        chunks += _codec.parse_stream_event(Event(json.dumps(payload), payload["type"]), state)
    return chunks, state.tool_calls.complete("anthropic")


def test_a_streamed_tool_call_is_assembled_from_its_fragments():
    chunks, calls = run_stream(tool_stream("get_weather", ['{"ci', 'ty": "Os', 'lo"}']),
                               chat(tools=(WEATHER,)))
    assert "".join(chunk.content for chunk in chunks) == "Sure."
    assert calls == (ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Oslo"},
                              raw_arguments='{"city": "Oslo"}'),)
    final = chunks[-1]
    assert (final.finish_reason, final.raw_finish_reason) == ("tool_calls", "tool_use")


def test_a_tool_without_input_streams_one_empty_fragment_or_none():
    for fragments in ([""], []):
        _, calls = run_stream(tool_stream("add", fragments), chat(tools=(ADD,)))
        assert (calls[0].arguments, calls[0].raw_arguments) == ({}, "{}")


def test_the_streamed_answer_tool_is_content():
    chunks, calls = run_stream(tool_stream("sum", ['{"to', 'tal": ', "", "42}"], index=0,
                                           text=""), chat(output_schema=SUM))
    assert calls == ()
    assert [chunk.content for chunk in chunks[:-1]] == ['{"to', 'tal": ', "42}"]
    final = chunks[-1]
    assert (final.finish_reason, final.raw_finish_reason) == ("stop", "tool_use")


def test_without_the_request_a_streamed_tool_is_a_call():
    _, calls = run_stream(tool_stream("sum", ['{"total": 1}']))
    assert [call.name for call in calls] == ["sum"]


def test_malformed_streamed_arguments_keep_the_raw_text():
    with pytest.raises(StreamingError) as caught:
        run_stream(tool_stream("get_weather", ['{"city": ', '"Par']), chat(tools=(WEATHER,)))
    assert caught.value.raw_arguments == '{"city": "Par'


def test_arguments_for_a_block_never_started_are_a_streaming_error():
    state = StreamState(provider="anthropic", model="m")
    delta = {"type": "content_block_delta", "index": 3,
             "delta": {"type": "input_json_delta", "partial_json": "{}"}}
    with pytest.raises(StreamingError):
        _codec.parse_stream_event(Event(json.dumps(delta)), state)


@pytest.mark.parametrize("delta", [{"type": "input_json_delta"},
                                   {"type": "input_json_delta", "partial_json": 5}])
def test_a_broken_input_json_delta_is_a_streaming_error(delta):
    events = tool_stream("get_weather", [])
    events.insert(-3, {"type": "content_block_delta", "index": 1, "delta": delta})
    with pytest.raises(StreamingError, match="unexpected shape"):
        run_stream(events, chat(tools=(WEATHER,)))


ARGUMENTS = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.integers(), st.text(max_size=12), st.booleans(), st.none(),
              st.lists(st.integers(), max_size=3)), max_size=5)


@hypothesis_settings(deadline=None)
@given(arguments=ARGUMENTS, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
       answer=st.booleans())
def test_any_split_of_the_input_json_assembles_the_same(arguments, cuts, answer):
    raw = json.dumps(arguments, ensure_ascii=False)
    points = sorted({min(cut, len(raw)) for cut in cuts})
    fragments = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    if answer:
        chunks, calls = run_stream(tool_stream("sum", fragments), chat(output_schema=SUM))
        assert calls == ()
        assert json.loads("".join(c.content for c in chunks).removeprefix("Sure.")) == arguments
    else:
        _, (call,) = run_stream(tool_stream("get_weather", fragments), chat(tools=(WEATHER,)))
        assert (call.arguments, call.raw_arguments) == (arguments, raw)
