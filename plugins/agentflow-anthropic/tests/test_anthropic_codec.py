"""The Messages API wire format: requests built, answers, stream events and errors read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from agentflow.errors import HttpError, ProviderError, RateLimitError, StreamingError
from agentflow.sse import SSEDecoder
from agentflow.testing.app import sse_frame
from agentflow.testing.fake import FakeCall, FakeJSON, FakeStream, Reply
from agentflow.types import Message, ModelSettings, Request, Secret, StreamState
from agentflow_anthropic import _codec
from agentflow_anthropic._catalog import DEFAULT_MAX_TOKENS, MODELS, model_options
from agentflow_anthropic.testing import _service as _fake


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"


def settings(base_url="https://api.anthropic.com", key="sk-ant-test", **options):
    return ModelSettings(name="claude-sonnet-4-5", provider="anthropic", vendor="anthropic",
                         model_id="claude-sonnet-4-5", base_url=base_url,
                         api_key=Secret(key) if key else None, options=options)


def chat(*messages, **fields):
    messages = messages or (Message(role="user", content="hi"),)
    return Request(model="claude-sonnet-4-5", messages=tuple(messages), **fields)


def sent(http):
    return json.loads(http.content)


# --- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("base", "url"), [
    ("https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
    ("https://api.anthropic.com/", "https://api.anthropic.com/v1/messages"),
    ("https://proxy.example/v1", "https://proxy.example/v1/messages"),
    ("https://proxy.example/anthropic/v1/", "https://proxy.example/anthropic/v1/messages"),
])
def test_url(base, url):
    assert str(_codec.build_request(chat(), settings(base)).url) == url


def test_headers_carry_the_key_and_the_version():
    http = _codec.build_request(chat(), settings())
    assert http.headers["x-api-key"] == "sk-ant-test"
    assert http.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in http.headers
    assert http.headers["content-type"] == "application/json"


def test_system_messages_go_to_the_top_level_field():
    body = sent(_codec.build_request(chat(
        Message(role="system", content="Be brief."), Message(role="user", content="Q1"),
        Message(role="assistant", content="A1"), Message(role="system", content="Be kind."),
        Message(role="user", content="Q2")), settings()))
    assert body["system"] == "Be brief.\n\nBe kind."
    assert body["messages"] == [{"role": "user", "content": "Q1"},
                                {"role": "assistant", "content": "A1"},
                                {"role": "user", "content": "Q2"}]


def test_only_what_is_set_is_sent_but_max_tokens_always():
    body = sent(_codec.build_request(chat(), settings()))
    assert body == {"model": "claude-sonnet-4-5", "max_tokens": DEFAULT_MAX_TOKENS,
                    "messages": [{"role": "user", "content": "hi"}]}


def test_every_parameter():
    body = sent(_codec.build_request(chat(temperature=0.2, top_p=0.8, max_tokens=99,
                                          stop=("END",), stream=True), settings()))
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.8, 99)
    assert body["stop_sequences"] == ["END"]
    assert body["stream"] is True


def test_options_change_the_default_limit_and_the_version():
    http = _codec.build_request(chat(), settings(default_max_tokens=500,
                                                 anthropic_version="2099-01-01"))
    assert sent(http)["max_tokens"] == 500
    assert http.headers["anthropic-version"] == "2099-01-01"


def test_catalog_knows_dated_snapshots():
    assert model_options("claude-sonnet-4-5-20250929") == model_options("claude-sonnet-4-5")
    assert model_options("claude-unknown") is None
    assert all(m.context_window and m.max_output_tokens for m in MODELS)


# --- answers -------------------------------------------------------------------------------------


def answer(body, status=200, headers=None):
    return httpx.Response(status, json=body,
                          headers={"request-id": "req_1"} if headers is None else headers)


MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
           "content": [{"type": "thinking", "thinking": "hmm", "signature": "x"},
                       {"type": "text", "text": "Hello"},
                       {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                       {"type": "text", "text": " there"}],
           "stop_reason": "end_turn", "stop_sequence": None,
           "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5,
                     "cache_read_input_tokens": 20, "output_tokens": 7}}


def test_text_blocks_joined_and_usage_counts_the_cache():
    result = _codec.parse_response(answer(MESSAGE))
    assert result.text == "Hello there"
    assert (result.finish_reason, result.raw_finish_reason) == ("stop", "end_turn")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens,
            result.usage.total_tokens, result.usage.cached_tokens) == (35, 7, 42, 20)
    assert result.request_id == "req_1"
    assert result.provider == "anthropic"


@pytest.mark.parametrize(("raw", "normal"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"), ("pause_turn", None), ("something_new", None),
])
def test_stop_reasons(raw, normal):
    assert _codec.normalise_stop_reason(raw) == normal


def test_the_message_id_stands_in_for_a_missing_request_id():
    assert _codec.parse_response(answer(MESSAGE, headers={})).request_id == "msg_1"


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b'{"type": "message"}',
                                     b'{"content": [{"type": "text"}]}'])
def test_unreadable_answers_are_provider_errors(content):
    with pytest.raises(ProviderError):
        _codec.parse_response(httpx.Response(200, content=content))


def test_an_error_object_in_a_200_answer_is_raised():
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(HttpError) as caught:
        _codec.parse_response(answer(body))
    assert caught.value.status_code == 529


# --- streams -------------------------------------------------------------------------------------


def stream_of(reply=None, stream=True, **body):
    """The event list the emulation sends for ``reply``."""
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
            "messages": [{"role": "user", "content": "one two"}], **body}
    call = FakeCall(provider="anthropic", method="POST", path="/v1/messages", path_params={},
                    query={}, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                    body=json.dumps(body).encode(), json=body, reply=reply or Reply())
    import anyio

    response = anyio.run(_fake._messages, call)
    assert isinstance(response, (FakeStream, FakeJSON))
    return response


def parse_all(events):
    state = StreamState(provider="anthropic", model="m")
    chunks = []
    for name, data in events:
        chunks += _codec.parse_stream_event(Event(data=data, event=name), state)
    return chunks


def test_the_whole_event_sequence():
    response = stream_of(Reply(text="Hi there friend", usage=(4, 3)))
    names = [name for name, _ in response.events]
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta",
                     "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    chunks = parse_all(response.events)
    assert [c.content for c in chunks[:-1]] == ["Hi", " there", " friend"]
    final = chunks[-1]
    assert final.is_final
    assert (final.finish_reason, final.raw_finish_reason) == ("stop", "end_turn")
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (4, 3)


def test_unknown_ping_and_thinking_events_are_skipped():
    state = StreamState(provider="anthropic", model="m")
    for name, payload in [
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "hm"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": "s"}}),
        ("brand_new_event", {"type": "brand_new_event", "anything": [1, 2]}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]:
        assert _codec.parse_stream_event(Event(json.dumps(payload), name), state) == []


def test_message_delta_usage_is_cumulative_and_may_restate_input():
    state = StreamState(provider="anthropic", model="m")
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 9,
                                                        "output_tokens": 1}}},
        {"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"output_tokens": 5}},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
         "usage": {"input_tokens": 9, "cache_read_input_tokens": 3, "output_tokens": 12}},
    ]
    for payload in events:
        _codec.parse_stream_event(Event(json.dumps(payload)), state)
    final = _codec.parse_stream_event(Event('{"type": "message_stop"}'), state)[0]
    assert (final.usage.prompt_tokens, final.usage.completion_tokens,
            final.usage.cached_tokens) == (12, 12, 3)
    assert final.finish_reason == "length"


@pytest.mark.parametrize(("type_", "error", "status"), [
    ("overloaded_error", HttpError, 529), ("api_error", HttpError, 500),
    ("rate_limit_error", RateLimitError, 429), ("invalid_request_error", HttpError, 400),
])
def test_an_error_event_raises_what_its_type_denotes(type_, error, status):
    payload = {"type": "error", "error": {"type": type_, "message": "Overloaded"}}
    state = StreamState(provider="anthropic", model="m")
    with pytest.raises(error) as caught:
        _codec.parse_stream_event(Event(json.dumps(payload), "error"), state)
    assert caught.value.status_code == status
    assert "in the stream" in str(caught.value)


def test_an_error_event_of_an_unknown_type_is_a_streaming_error():
    payload = {"type": "error", "error": {"type": "mystery_error", "message": "??"}}
    with pytest.raises(StreamingError, match="mystery_error"):
        _codec.parse_stream_event(Event(json.dumps(payload), "error"),
                                  StreamState(provider="anthropic", model="m"))


@pytest.mark.parametrize("data", ["{not json", "[1]", '{"type": "content_block_delta"}'])
def test_broken_events_are_streaming_errors(data):
    with pytest.raises(StreamingError):
        _codec.parse_stream_event(Event(data), StreamState(provider="anthropic", model="m"))


@hypothesis_settings(deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=30))
def test_any_chunking_of_the_stream_decodes_the_same(cuts):
    events = stream_of(Reply(text="alpha beta gamma delta epsilon", usage=(2, 5))).events
    wire = b"".join(sse_frame(data, name) for name, data in events)
    points = sorted({min(cut, len(wire)) for cut in cuts})
    pieces = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    decoder = SSEDecoder()
    state = StreamState(provider="anthropic", model="m")
    chunks = []
    for piece in pieces:
        for event in decoder.feed(piece):
            chunks += _codec.parse_stream_event(event, state)
    assert "".join(c.content for c in chunks) == "alpha beta gamma delta epsilon"
    assert chunks[-1].is_final
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (2, 5)


# --- errors --------------------------------------------------------------------------------------


def error_answer(status, type_, message="boom", headers=None):
    body = {"type": "error", "error": {"type": type_, "message": message},
            "request_id": "req_body"}
    return httpx.Response(status, json=body, headers=headers or {})


@pytest.mark.parametrize(("status", "type_", "words"), [
    (400, "invalid_request_error", "invalid"), (401, "authentication_error", "ANTHROPIC_API_KEY"),
    (403, "permission_error", "refused access"), (404, "not_found_error", "no such model"),
    (413, "request_too_large", "too large"), (500, "api_error", "provider's side"),
    (529, "overloaded_error", "overloaded"),
])
def test_each_status_keeps_anthropics_words_and_says_what_to_do(status, type_, words):
    error = _codec.map_error(error_answer(status, type_, "what Anthropic said"))
    assert type(error) is HttpError
    assert (error.status_code, error.error_type) == (status, type_)
    assert error.vendor_message == "what Anthropic said"
    assert words in str(error)
    assert error.request_id == "req_body"


def test_the_request_id_header_wins_over_the_body():
    error = _codec.map_error(error_answer(500, "api_error", headers={"request-id": "req_h"}))
    assert error.request_id == "req_h"


def test_429_carries_retry_after():
    error = _codec.map_error(error_answer(429, "rate_limit_error",
                                          headers={"retry-after": "12"}))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 12


def test_429_without_retry_after_uses_the_reset_header_of_the_used_up_limit():
    soon = (datetime.now(timezone.utc) + timedelta(seconds=20)).isoformat()
    later = (datetime.now(timezone.utc) + timedelta(seconds=50)).isoformat()
    error = _codec.map_error(error_answer(429, "rate_limit_error", headers={
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": soon,
        "anthropic-ratelimit-tokens-remaining": "5000",
        "anthropic-ratelimit-tokens-reset": later,
    }))
    assert 15 < error.retry_after <= 20


def test_an_error_body_that_is_not_anthropics_is_quoted():
    error = _codec.map_error(httpx.Response(502, content=b"<html>Bad gateway</html>"))
    assert error.status_code == 502
    assert "Bad gateway" in str(error)
