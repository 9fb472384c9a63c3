"""The Gemini wire format: requests built, answers, stream chunks and errors read."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from agentflow.errors import HttpError, ProviderError, RateLimitError, StreamingError
from agentflow.sse import SSEDecoder
from agentflow.testing.app import sse_frame
from agentflow.types import Message, ModelSettings, Request, Secret, StreamState
from agentflow_google import _codec


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"


def settings(base_url="https://generativelanguage.googleapis.com", key="AIza-test-key"):
    return ModelSettings(name="gemini-2.5-flash", provider="google", vendor="google",
                         model_id="gemini-2.5-flash", base_url=base_url,
                         api_key=Secret(key) if key else None)


def chat(*messages, **fields):
    messages = messages or (Message(role="user", content="hi"),)
    return Request(model="gemini-2.5-flash", messages=tuple(messages), **fields)


# --- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("base", "stream", "url"), [
    ("https://generativelanguage.googleapis.com", False,
     "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"),
    ("https://generativelanguage.googleapis.com/", True,
     "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"
     "streamGenerateContent?alt=sse"),
    ("https://gateway.example/google/v1", False,
     "https://gateway.example/google/v1/models/gemini-2.5-flash:generateContent"),
])
def test_url(base, stream, url):
    assert str(_codec.build_request(chat(stream=stream), settings(base)).url) == url


def test_the_key_is_a_header_and_never_in_the_url():
    http = _codec.build_request(chat(stream=True), settings())
    assert http.headers["x-goog-api-key"] == "AIza-test-key"
    assert "AIza" not in str(http.url)
    assert "key=" not in str(http.url)


def test_roles_system_instruction_and_generation_config():
    body = json.loads(_codec.build_request(chat(
        Message(role="system", content="Be brief."), Message(role="user", content="Q1"),
        Message(role="assistant", content="A1"), Message(role="user", content="Q2"),
        temperature=0.4, top_p=0.7, max_tokens=33, stop=("X",)), settings()).content)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Q1"}]},
                                {"role": "model", "parts": [{"text": "A1"}]},
                                {"role": "user", "parts": [{"text": "Q2"}]}]
    assert body["generationConfig"] == {"temperature": 0.4, "topP": 0.7,
                                        "maxOutputTokens": 33, "stopSequences": ["X"]}


def test_nothing_unset_is_sent():
    body = json.loads(_codec.build_request(chat(), settings()).content)
    assert body == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


# --- answers -------------------------------------------------------------------------------------


def answer(body):
    return httpx.Response(200, json=body)


RESPONSE = {
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "Let me think", "thought": True}, {"text": "Hello"}, {"text": " world"}]},
        "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 2,
                      "thoughtsTokenCount": 30, "cachedContentTokenCount": 4,
                      "totalTokenCount": 40},
    "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}


def test_text_skips_thoughts_and_usage_counts_them_as_completion():
    result = _codec.parse_response(answer(RESPONSE))
    assert result.text == "Hello world"
    assert (result.finish_reason, result.raw_finish_reason) == ("stop", "STOP")
    usage = result.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (8, 32, 40)
    assert (usage.reasoning_tokens, usage.cached_tokens) == (30, 4)
    assert (result.request_id, result.model) == ("resp-1", "gemini-2.5-flash")


@pytest.mark.parametrize(("raw", "normal"), [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"),
    ("MALFORMED_FUNCTION_CALL", "error"), ("OTHER", None), ("NEW_REASON", None),
])
def test_finish_reasons(raw, normal):
    assert _codec.normalise_finish_reason(raw) == normal


def test_a_blocked_prompt_is_an_error_naming_the_reason():
    body = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True},
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]}}
    with pytest.raises(ProviderError, match=r"blocked the prompt \(blockReason=SAFETY; "
                                            r"flagged: harassment\)") as caught:
        _codec.parse_response(answer(body))
    assert caught.value.retryable is False


def test_a_safety_stop_without_text_is_an_error_and_with_text_is_content_filter():
    empty = {"candidates": [{"finishReason": "RECITATION", "index": 0}]}
    with pytest.raises(ProviderError, match="finishReason=RECITATION"):
        _codec.parse_response(answer(empty))
    partial = {"candidates": [{"content": {"parts": [{"text": "Once upon"}]},
                               "finishReason": "SAFETY"}]}
    result = _codec.parse_response(answer(partial))
    assert (result.text, result.finish_reason) == ("Once upon", "content_filter")


@pytest.mark.parametrize("content", [b"nope", b"[]", b'{"candidates": [{"content": 5}]}'])
def test_unreadable_answers_are_provider_errors(content):
    with pytest.raises(ProviderError):
        _codec.parse_response(httpx.Response(200, content=content))


# --- streams -------------------------------------------------------------------------------------


def chunk(text, finish=None, usage=None):
    body = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                            "index": 0}], "responseId": "r"}
    if finish:
        body["candidates"][0]["finishReason"] = finish
    if usage:
        body["usageMetadata"] = usage
    return json.dumps(body)


STREAM = [chunk("Hel", usage={"promptTokenCount": 3, "totalTokenCount": 3}), chunk("lo"),
          chunk(" there", "STOP", {"promptTokenCount": 3, "candidatesTokenCount": 2,
                                   "totalTokenCount": 5})]


def parse_all(events, state=None):
    state = state or StreamState(provider="google", model="m")
    chunks = []
    for data in events:
        found = _codec.parse_stream_event(Event(data), state)
        state.text_parts.extend(c.content for c in found if c.content)
        chunks += found
    return chunks


def test_the_chunk_with_the_finish_reason_is_the_last():
    chunks = parse_all(STREAM)
    assert [c.content for c in chunks] == ["Hel", "lo", " there", ""]
    final = chunks[-1]
    assert final.is_final
    assert final.finish_reason == "stop"
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (3, 2)


def test_a_safety_stop_in_a_stream_before_any_text_raises():
    blocked = json.dumps({"candidates": [{"finishReason": "SAFETY", "index": 0}]})
    with pytest.raises(ProviderError, match="SAFETY"):
        parse_all([blocked])
    after_text = parse_all([chunk("Once"), blocked])
    assert after_text[-1].finish_reason == "content_filter"


@pytest.mark.parametrize(("status", "error", "code"), [
    ("UNAVAILABLE", HttpError, 503), ("RESOURCE_EXHAUSTED", RateLimitError, 429),
    ("INTERNAL", HttpError, 500)])
def test_an_error_object_in_the_stream_raises_what_it_denotes(status, error, code):
    data = json.dumps({"error": {"code": code, "message": "busy", "status": status}})
    with pytest.raises(error) as caught:
        parse_all([STREAM[0], data])
    assert caught.value.status_code == code


@pytest.mark.parametrize("data", ["{oops", "7", '{"candidates": [{"content": []}]}'])
def test_broken_chunks_are_streaming_errors(data):
    with pytest.raises(StreamingError):
        parse_all([data])


@hypothesis_settings(deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=20))
def test_any_chunking_decodes_the_same(cuts):
    wire = b"".join(sse_frame(data) for data in STREAM)
    points = sorted({min(cut, len(wire)) for cut in cuts})
    decoder = SSEDecoder()
    state = StreamState(provider="google", model="m")
    chunks = []
    for a, b in zip([0, *points], [*points, len(wire)], strict=True):
        chunks += parse_all([event.data for event in decoder.feed(wire[a:b])], state)
    assert "".join(c.content for c in chunks) == "Hello there"
    assert chunks[-1].is_final


# --- errors --------------------------------------------------------------------------------------


def error_answer(code, status, message="went wrong", details=(), headers=None):
    body = {"error": {"code": code, "message": message, "status": status,
                      "details": list(details)}}
    return httpx.Response(code, json=body, headers=headers or {})


def test_an_invalid_key_is_a_key_error_naming_both_variables():
    error = _codec.map_error(error_answer(
        400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
        [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]))
    assert error.status_code == 400
    assert "GOOGLE_API_KEY or GEMINI_API_KEY" in str(error)
    assert error.retryable is False


def test_no_key_at_all_is_a_key_error_too():
    error = _codec.map_error(error_answer(403, "PERMISSION_DENIED",
                                          "Method doesn't allow unregistered callers"))
    assert "GEMINI_API_KEY" in str(error)


def test_retry_info_gives_the_wait_when_there_is_no_header():
    error = _codec.map_error(error_answer(429, "RESOURCE_EXHAUSTED", "quota", [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13.5s"}]))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 13.5
    header = _codec.map_error(error_answer(429, "RESOURCE_EXHAUSTED",
                                           headers={"retry-after": "2"}))
    assert header.retry_after == 2


@pytest.mark.parametrize(("code", "status", "words"), [
    (400, "INVALID_ARGUMENT", "invalid"), (404, "NOT_FOUND", "no such model"),
    (500, "INTERNAL", "provider's side"), (503, "UNAVAILABLE", "provider's side"),
    (504, "DEADLINE_EXCEEDED", "provider's side")])
def test_statuses_keep_googles_words(code, status, words):
    error = _codec.map_error(error_answer(code, status, "what Google said"))
    assert (error.status_code, error.error_type) == (code, status)
    assert error.vendor_message == "what Google said"
    assert words in str(error)


def test_a_body_that_is_not_googles_is_quoted():
    error = _codec.map_error(httpx.Response(502, content=b"upstream connect error"))
    assert "upstream connect error" in str(error)
