"""The Responses API codec: requests out, answers, typed stream events and errors in.

Each test cites the page of OpenAI's API reference the shape comes from.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import agentflow_openai
from agentflow.errors import (
    ConfigurationError,
    HttpError,
    RateLimitError,
    StreamingError,
    ValidationError,
)
from agentflow.types import (
    ImagePart,
    Message,
    ModelSettings,
    OutputSchema,
    Request,
    Secret,
    StreamState,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from agentflow_openai import responses

OPENAI = agentflow_openai.DIALECTS["openai"]
SWITCH = agentflow_openai.CODECS["openai"]
KEY = f"test-{secrets.token_hex(12)}"
REFERENCE = "https://platform.openai.com/docs/api-reference/responses/create"
STREAMING = "https://platform.openai.com/docs/api-reference/responses-streaming"


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"


def settings(model: str = "gpt-4o", **options: Any) -> ModelSettings:
    return ModelSettings(name=model, provider="openai", vendor="openai", model_id=model,
                         base_url="https://api.openai.com/v1", api_key=Secret(KEY),
                         options={"api": "responses", **options})


def request(model: str = "gpt-4o", **fields: Any) -> Request:
    return Request(model=model, messages=(Message(role="system", content="Be brief."),
                                          Message(role="user", content="Hi")), **fields)


def build(req: Request | None = None, **options: Any) -> tuple[httpx.Request, dict[str, Any]]:
    req = req or request()
    http = SWITCH.build_request(req, settings(req.model, **options))
    return http, json.loads(http.content)


def answer(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body, request=httpx.Request(
        "POST", "https://api.openai.com/v1/responses"))


def stream(events: list[dict[str, Any]]) -> tuple[list[Any], StreamState]:
    state = StreamState(provider="openai", model="gpt-4o")
    chunks = [chunk for body in events
              for chunk in SWITCH.parse_stream_event(Event(json.dumps(body), body["type"]),
                                                     state)]
    return chunks, state


def test_request_goes_to_responses_with_the_whole_conversation() -> None:
    """https://platform.openai.com/docs/api-reference/responses/create: ``input`` items,
    ``store``, ``max_output_tokens``, bearer authentication."""
    http, body = build(request(temperature=0.3, max_tokens=50))
    assert str(http.url) == "https://api.openai.com/v1/responses"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert body == {"model": "gpt-4o", "input": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "temperature": 0.3, "max_output_tokens": 50, "store": False}


def test_chat_stays_the_default_and_unknown_api_is_refused() -> None:
    """https://platform.openai.com/docs/api-reference/responses/create (the alternative)."""
    http = SWITCH.build_request(request(), attrs.evolve(settings(), options={}))
    assert http.url.path.endswith("/chat/completions")
    with pytest.raises(ConfigurationError, match="option api of model 'gpt-4o'"):
        build(api="assistants")


def test_catalog_sends_responses_only_models_there() -> None:
    """https://platform.openai.com/docs/models/o3-pro: served by the Responses API only."""
    http = SWITCH.build_request(request("o3-pro", max_tokens=5, temperature=0.2),
                                attrs.evolve(settings("o3-pro"), options={}))
    body = json.loads(http.content)
    assert http.url.path.endswith("/responses")
    assert "temperature" not in body
    assert body["max_output_tokens"] == 5


def test_stop_is_refused_before_sending() -> None:
    """https://platform.openai.com/docs/api-reference/responses/create has no ``stop``."""
    with pytest.raises(ValidationError, match="no stop sequences"):
        build(request(stop=("END",)))


def test_store_and_previous_response_only_when_asked() -> None:
    """https://platform.openai.com/docs/api-reference/responses/create: ``store``,
    ``previous_response_id``, ``reasoning.effort``."""
    _, body = build(store=True, previous_response_id="resp_1", reasoning_effort="low")
    assert (body["store"], body["previous_response_id"], body["reasoning"]) == (
        True, "resp_1", {"effort": "low"})


def test_tools_calls_results_images_and_schema() -> None:
    """https://platform.openai.com/docs/api-reference/responses/create: function tools,
    ``function_call`` / ``function_call_output`` items, ``input_image``, ``text.format``."""
    closed = {"type": "object", "properties": {"city": {"type": "string"}},
              "required": ["city"], "additionalProperties": False}
    call = ToolCall(id="call_1", name="weather", arguments={"city": "Oslo"},
                    raw_arguments='{"city":"Oslo"}')
    messages = (
        Message(role="user", content=(TextPart(text="look"),
                                      ImagePart(url="https://example.com/a.png"))),
        Message(role="assistant", content="", tool_calls=(call,)),
        Message(role="tool", content="boom", tool_call_id="call_1", is_error=True))
    req = Request(model="gpt-4o", messages=messages,
                  tools=(Tool(name="weather", description="Weather", parameters=closed),
                         Tool(name="loose", parameters={"type": "object"})),
                  tool_choice=ToolChoice(mode="tool", name="weather"), parallel_tool_calls=False,
                  output_schema=OutputSchema(name="Answer", schema=closed, strict=True))
    _, body = build(req)
    assert body["input"] == [
        {"role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"}]},
        {"type": "function_call", "call_id": "call_1", "name": "weather",
         "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "Error: boom"}]
    assert body["tools"] == [
        {"type": "function", "name": "weather", "description": "Weather", "parameters": closed,
         "strict": True},
        {"type": "function", "name": "loose", "parameters": {"type": "object"}, "strict": False}]
    assert body["tool_choice"] == {"type": "function", "name": "weather"}
    assert body["parallel_tool_calls"] is False
    assert body["text"] == {"format": {"type": "json_schema", "name": "Answer",
                                       "schema": closed, "strict": True}}


def test_response_object_is_read() -> None:
    """https://platform.openai.com/docs/api-reference/responses/object: ``output`` items,
    ``usage`` with cached and reasoning tokens."""
    body = {"id": "resp_1", "object": "response", "status": "completed", "model": "o3",
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": "Hel", "annotations": []},
                    {"type": "output_text", "text": "lo", "annotations": []}]},
                {"type": "function_call", "call_id": "call_9", "name": "f",
                 "arguments": '{"a":1}'}],
            "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
                      "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3},
                      "total_tokens": 17}}
    result = SWITCH.parse_response(answer(body), request())
    assert (result.text, result.model, result.finish_reason, result.raw_finish_reason) == (
        "Hello", "o3", "tool_calls", "completed")
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [("call_9", "f", {"a": 1})]
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens,
            result.usage.total_tokens, result.usage.cached_tokens,
            result.usage.reasoning_tokens) == (10, 7, 17, 4, 3)


@pytest.mark.parametrize(("details", "expected"), [
    ({"reason": "max_output_tokens"}, ("length", "max_output_tokens")),
    ({"reason": "content_filter"}, ("content_filter", "content_filter")),
    ({"reason": "something_new"}, (None, "something_new")),
])
def test_incomplete_details_give_the_finish_reason(details: dict[str, str],
                                                   expected: tuple[Any, Any]) -> None:
    """https://platform.openai.com/docs/api-reference/responses/object: ``status``
    ``incomplete`` and ``incomplete_details.reason``."""
    body = {"object": "response", "status": "incomplete", "incomplete_details": details,
            "output": [], "model": "gpt-4o"}
    result = SWITCH.parse_response(answer(body), request())
    assert (result.finish_reason, result.raw_finish_reason) == expected


def test_refusal_is_the_text_with_content_filter() -> None:
    """https://platform.openai.com/docs/api-reference/responses/object: a ``refusal`` part."""
    body = {"object": "response", "status": "completed", "model": "gpt-4o", "output": [
        {"type": "message", "content": [{"type": "refusal", "refusal": "I can't."}]}]}
    result = SWITCH.parse_response(answer(body), request())
    assert (result.text, result.finish_reason) == ("I can't.", "content_filter")


def test_failed_response_raises_its_error() -> None:
    """https://platform.openai.com/docs/api-reference/responses/object: ``status: failed``
    with ``error.code``."""
    body = {"object": "response", "status": "failed", "output": [],
            "error": {"code": "rate_limit_exceeded", "message": "slow down"}}
    with pytest.raises(RateLimitError, match="slow down"):
        SWITCH.parse_response(answer(body), request())


def test_stream_text_tools_usage_and_unknown_events() -> None:
    """https://platform.openai.com/docs/api-reference/responses-streaming: the typed events."""
    chunks, state = stream([
        {"type": "response.created", "response": {"model": "gpt-4o-2024-08-06"}},
        {"type": "response.reasoning_summary_text.delta", "delta": "thinking"},
        {"type": "response.something_new", "x": 1},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "Hi "},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "there"},
        {"type": "response.output_item.added", "output_index": 1, "item": {
            "type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"a"'},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": ":2}"},
        {"type": "response.function_call_arguments.done", "output_index": 1,
         "arguments": '{"a":2}'},
        {"type": "response.output_item.done", "output_index": 1, "item": {
            "type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"a":2}'}},
        {"type": "response.completed", "response": {
            "status": "completed", "usage": {"input_tokens": 3, "output_tokens": 2,
                                             "total_tokens": 5}}},
    ])
    assert "".join(c.content for c in chunks) == "Hi there"
    final = chunks[-1]
    assert final.is_final
    assert (final.finish_reason, final.raw_finish_reason) == ("tool_calls", "completed")
    assert final.usage is not None
    assert final.usage.total_tokens == 5
    assert state.response_model == "gpt-4o-2024-08-06"
    assert [(c.name, c.arguments) for c in state.tool_calls.complete("openai")] == [
        ("f", {"a": 2})]


def test_stream_incomplete_gives_length() -> None:
    """https://platform.openai.com/docs/api-reference/responses-streaming/response/incomplete"""
    chunks, _ = stream([
        {"type": "response.output_text.delta", "delta": "cut"},
        {"type": "response.incomplete", "response": {
            "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}])
    assert (chunks[-1].finish_reason, chunks[-1].raw_finish_reason) == (
        "length", "max_output_tokens")


@pytest.mark.parametrize(("event", "error"), [
    ({"type": "error", "code": "server_error", "message": "it broke", "param": None},
     HttpError),
    ({"type": "response.failed", "response": {"status": "failed", "error": {
        "code": "server_error", "message": "it broke"}}}, HttpError),
])
def test_stream_errors_raise(event: dict[str, Any], error: type[Exception]) -> None:
    """https://platform.openai.com/docs/api-reference/responses-streaming/error and
    https://platform.openai.com/docs/api-reference/responses-streaming/response/failed"""
    with pytest.raises(error, match="it broke") as caught:
        stream([{"type": "response.created", "response": {}}, event])
    assert getattr(caught.value, "status_code", None) == 500


def test_stream_event_that_is_not_json() -> None:
    """https://platform.openai.com/docs/api-reference/responses-streaming"""
    state = StreamState(provider="openai", model="gpt-4o")
    with pytest.raises(StreamingError):
        SWITCH.parse_stream_event(Event("{nope", "response.output_text.delta"), state)


@given(st.lists(st.text(max_size=12), max_size=8))
def test_streamed_deltas_join_to_the_text(pieces: list[str]) -> None:
    """https://platform.openai.com/docs/api-reference/responses-streaming/response/output_text/delta"""
    events = [{"type": "response.output_text.delta", "delta": piece} for piece in pieces]
    chunks, _ = stream([*events, {"type": "response.completed",
                                  "response": {"status": "completed"}}])
    assert "".join(c.content for c in chunks) == "".join(pieces)
    assert chunks[-1].finish_reason == "stop"


def test_usage_counts_must_be_numbers() -> None:
    """https://platform.openai.com/docs/api-reference/responses/object (``usage``)"""
    with pytest.raises(TypeError):
        responses.parse_usage({"input_tokens": "many"})
    assert responses.parse_usage(None) is None


def test_provider_option_chooses_the_api_and_unknown_values_are_located(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """https://platform.openai.com/docs/api-reference/responses (chosen per provider entry);
    an unknown ``api`` is refused at its line by the plugin's ``agentflow_configure``."""
    from agentflow._plugins.host import PluginHost
    from agentflow._runtime.runtime import Runtime
    from agentflow.config import load_config, load_config_text

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN, "openai")
    runtime = Runtime(host=host)
    runtime.set_config(load_config_text(
        "providers:\n  openai:\n    options:\n      api: responses\n"
        "models:\n  fast:\n    vendor: openai\n    model_id: gpt-4o\n"
        "    options:\n      api: chat\n"))
    assert runtime.resolve("gpt-4o").options["api"] == "responses"
    assert runtime.resolve("fast").options["api"] == "chat"
    path = tmp_path / "agentflow.yml"
    path.write_text("models:\n  fast:\n    vendor: openai\n    options:\n"
                    "      api: assistants\n")
    bad = load_config(path)
    with pytest.raises(ConfigurationError) as caught:
        runtime.set_config(bad)
    assert f"{path}:5:12: models.fast.options.api: must be 'chat' or 'responses', " \
        "got 'assistants'" in str(caught.value)
    assert runtime.resolve("fast").options["api"] == "chat"  # the previous one stays


@given(st.one_of(st.text(max_size=12), st.integers(), st.none(), st.booleans()))
def test_only_the_two_apis_are_accepted(value: object) -> None:
    """https://platform.openai.com/docs/api-reference/responses: ``chat`` or ``responses``."""
    if value in responses.APIS:
        assert responses.api_of(OPENAI, "gpt-4o", {"api": value}) == value
    else:
        with pytest.raises(ConfigurationError, match="must be one of 'chat', 'responses'"):
            responses.api_of(OPENAI, "gpt-4o", {"api": value})
