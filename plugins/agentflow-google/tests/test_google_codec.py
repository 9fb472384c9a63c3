"""The Gemini wire format: requests built, answers and stream chunks read."""

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

BASE = "https://generativelanguage.googleapis.com"


@dataclass(frozen=True)
class Event:
    """A stand-in for agentflow.sse.ServerSentEvent."""

    data: str
    event: str = "message"


def settings(base_url=BASE, key="AIza-test-key", **options):
    return ModelSettings(name="gemini-2.5-flash", provider="google", vendor="google",
                         model_id="gemini-2.5-flash", base_url=base_url,
                         api_key=Secret(key) if key else None, options=options)


def chat(*messages, model="gemini-2.5-flash", **fields):
    messages = messages or (Message(role="user", content="hi"),)
    return Request(model=model, messages=tuple(messages), **fields)


def sent(request=None, **settings_fields):
    return json.loads(_codec.build_request(request or chat(), settings(**settings_fields)).content)


# --- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("base", "model", "stream", "url"), [
    (BASE, "gemini-2.5-flash", False,
     f"{BASE}/v1beta/models/gemini-2.5-flash:generateContent"),
    (f"{BASE}/", "gemini-2.5-flash", True,
     f"{BASE}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
    (f"{BASE}/v1", "gemini-2.5-flash", False, f"{BASE}/v1/models/gemini-2.5-flash:generateContent"),
    (f"{BASE}/v1beta/", "gemini-3.8-flash", False,
     f"{BASE}/v1beta/models/gemini-3.8-flash:generateContent"),
    ("https://gateway.example/acct/google-ai-studio", "gemini-4-argon", False,
     "https://gateway.example/acct/google-ai-studio/v1beta/models/gemini-4-argon:generateContent"),
    ("https://gw.example/v1beta?project=p1", "gemini-2.5-pro", True,
     "https://gw.example/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&project=p1"),
    (BASE, "models/gemini-2.5-flash", False,
     f"{BASE}/v1beta/models/gemini-2.5-flash:generateContent"),
    (BASE, "tunedModels/my-model-7", False,
     f"{BASE}/v1beta/tunedModels/my-model-7:generateContent"),
])
def test_url(base, model, stream, url):
    assert _codec.model_url(base, model, stream=stream) == url


def test_headers_and_the_key_only_in_a_header():
    http = _codec.build_request(chat(stream=True), settings(key=" AIza-test-key\n"))
    assert http.method == "POST"
    assert http.headers["x-goog-api-key"] == "AIza-test-key"
    assert http.headers["content-type"] == "application/json"
    assert http.headers["accept"] == "text/event-stream"
    assert http.headers["user-agent"].startswith("agentflow-google/")
    assert "AIza" not in str(http.url)
    assert "key=" not in str(http.url)
    assert b"AIza" not in http.content
    assert "authorization" not in http.headers


def test_no_key_no_header():
    assert "x-goog-api-key" not in _codec.build_request(chat(), settings(key=None)).headers


def test_roles_system_instruction_and_generation_config():
    body = sent(chat(
        Message(role="system", content="Be brief."), Message(role="user", content="Q1"),
        Message(role="assistant", content="A1"), Message(role="system", content="Use French."),
        Message(role="user", content="Q2"),
        temperature=0.4, top_p=0.7, max_tokens=33, stop=("X", "Y")))
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."},
                                                   {"text": "Use French."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Q1"}]},
                                {"role": "model", "parts": [{"text": "A1"}]},
                                {"role": "user", "parts": [{"text": "Q2"}]}]
    assert body["generationConfig"] == {"temperature": 0.4, "topP": 0.7,
                                        "maxOutputTokens": 33, "stopSequences": ["X", "Y"]}


def test_nothing_unset_is_sent():
    assert sent() == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_zero_values_are_sent():
    assert sent(chat(temperature=0.0, top_p=0.0))["generationConfig"] == {"temperature": 0.0,
                                                                          "topP": 0.0}


def test_thinking_options_become_thinking_config():
    assert sent(thinking_level="low")["generationConfig"] == {
        "thinkingConfig": {"thinkingLevel": "low"}}
    assert sent(chat(max_tokens=9), thinking_budget=0)["generationConfig"] == {
        "maxOutputTokens": 9, "thinkingConfig": {"thinkingBudget": 0}}


def test_text_is_sent_as_it_is():
    text = "naïve — 日本語 \"quoted\"\nnew line"
    assert sent(chat(Message(role="user", content=text)))["contents"][0]["parts"] == [
        {"text": text}]


# --- answers -------------------------------------------------------------------------------------


def answer(body, headers=None):
    return httpx.Response(200, json=body, headers=headers or {})


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
    assert (result.request_id, result.model, result.provider) == (
        "resp-1", "gemini-2.5-flash", "google")


def test_usage_without_thinking_or_cache():
    usage = _codec.parse_usage({"promptTokenCount": 3, "candidatesTokenCount": 5,
                                "totalTokenCount": 8})
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (3, 5, 8)
    assert (usage.reasoning_tokens, usage.cached_tokens) == (None, None)


def test_tool_use_prompt_tokens_count_as_prompt_so_the_total_adds_up():
    usage = _codec.parse_usage({"promptTokenCount": 10, "toolUsePromptTokenCount": 5,
                                "candidatesTokenCount": 2, "thoughtsTokenCount": 3,
                                "totalTokenCount": 20})
    assert usage.prompt_tokens + usage.completion_tokens == usage.total_tokens == 20


def test_a_missing_total_is_computed_and_bad_counts_refused():
    assert _codec.parse_usage({"promptTokenCount": 2}).total_tokens == 2
    assert _codec.parse_usage("nope") is None
    with pytest.raises(TypeError):
        _codec.parse_usage({"promptTokenCount": "2"})


def test_model_falls_back_to_the_request_and_missing_ids_stay_none():
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]}
    result = _codec.parse_response(answer(body), chat(model="gemini-4-argon"))
    assert (result.model, result.request_id, result.usage) == ("gemini-4-argon", None, None)


def test_non_text_parts_are_skipped():
    body = {"candidates": [{"content": {"parts": [
        {"text": "Here: "}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
        {"executableCode": {"code": "print(1)"}}, {"text": "done"}]}, "finishReason": "STOP"}]}
    assert _codec.parse_response(answer(body)).text == "Here: done"


@pytest.mark.parametrize(("raw", "normal"), [
    ("STOP", "stop"), ("MAX_TOKENS", "length"),
    *[(raw, "content_filter") for raw in (
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION")],
    *[(raw, "error") for raw in ("LANGUAGE", "MALFORMED_FUNCTION_CALL",
                                 "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "NO_IMAGE")],
    ("OTHER", None), ("FINISH_REASON_UNSPECIFIED", None), ("IMAGE_OTHER", None),
    ("SOMETHING_NEW", None), (None, None),
])
def test_finish_reasons(raw, normal):
    assert _codec.normalise_finish_reason(raw) == normal


def test_max_tokens_keeps_the_text_and_an_empty_length_stop_is_not_an_error():
    cut = {"candidates": [{"content": {"parts": [{"text": "one two"}]},
                           "finishReason": "MAX_TOKENS"}]}
    assert _codec.parse_response(answer(cut)).finish_reason == "length"
    thought_out = {"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}]}
    result = _codec.parse_response(answer(thought_out))
    assert (result.text, result.finish_reason) == ("", "length")


def test_a_blocked_prompt_is_an_error_naming_the_reason_and_categories():
    body = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "MEDIUM"},
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]},
        "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}
    with pytest.raises(ProviderError) as caught:
        _codec.parse_response(answer(body))
    message = str(caught.value)
    assert "blocked the prompt (blockReason=SAFETY; flagged: harassment (HIGH), " \
           "dangerous_content (MEDIUM))" in message
    assert "hate_speech" not in message
    assert caught.value.retryable is False


def test_errors_raised_for_an_answer_carry_its_response_id():
    with pytest.raises(ProviderError) as caught:
        _codec.parse_response(answer({"promptFeedback": {"blockReason": "OTHER"},
                                      "responseId": "resp-7"}))
    assert caught.value.request_id == "resp-7"


def test_a_blocked_prompt_without_ratings():
    with pytest.raises(ProviderError, match=r"blockReason=PROHIBITED_CONTENT\) and gave no"):
        _codec.parse_response(answer({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))


def test_a_filter_stop_without_text_is_an_error_and_with_text_is_content_filter():
    empty = {"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
        {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "HIGH",
         "blocked": True}]}]}
    with pytest.raises(ProviderError, match=r"finishReason=SAFETY; flagged: sexually_explicit "
                                            r"\(HIGH\)\)") as caught:
        _codec.parse_response(answer(empty))
    assert caught.value.retryable is False
    with pytest.raises(ProviderError, match="finishReason=RECITATION"):
        _codec.parse_response(answer({"candidates": [{"finishReason": "RECITATION"}]}))
    partial = {"candidates": [{"content": {"parts": [{"text": "Once upon"}]},
                               "finishReason": "SAFETY"}]}
    result = _codec.parse_response(answer(partial))
    assert (result.text, result.finish_reason, result.raw_finish_reason) == (
        "Once upon", "content_filter", "SAFETY")


def test_an_error_reason_without_text_is_returned_with_its_reason():
    body = {"candidates": [{"content": {"parts": []}, "finishReason": "MALFORMED_FUNCTION_CALL",
                            "finishMessage": "bad call"}]}
    result = _codec.parse_response(answer(body))
    assert (result.text, result.finish_reason) == ("", "error")


@pytest.mark.parametrize("content", [
    b"nope", b"", b"[]", b"7", b'{"candidates": []}', b"{}", b'{"candidates": [5]}',
    b'{"candidates": [{"content": 5}]}', b'{"candidates": [{"content": {"parts": [7]}}]}',
    b'{"candidates": [{"content": {"parts": [{"text": 7}]}}]}',
    b'{"candidates": [{"content": {"parts": [{"text": "x"}]}}], "usageMetadata": '
    b'{"promptTokenCount": "many"}}',
])
def test_unreadable_answers_are_provider_errors(content):
    with pytest.raises(ProviderError) as caught:
        _codec.parse_response(httpx.Response(200, content=content))
    assert type(caught.value) is ProviderError


def test_an_unreadable_answer_is_quoted_short_and_without_keys():
    content = b"<html>" + b"AIzaSyA1234567890abcdefghijklmnopqrstu " * 50
    with pytest.raises(ProviderError) as caught:
        _codec.parse_response(httpx.Response(200, content=content))
    assert "AIzaSyA1234567890" not in str(caught.value)
    assert len(str(caught.value)) < 400


def test_an_error_object_in_a_200_answer_raises_what_it_denotes():
    body = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    with pytest.raises(HttpError) as caught:
        _codec.parse_response(answer(body))
    assert (caught.value.status_code, caught.value.error_type) == (503, "UNAVAILABLE")
    assert "in a 200 answer" in str(caught.value)
    with pytest.raises(ProviderError, match="no status given"):
        _codec.parse_response(answer({"error": {"message": "??"}}))


# --- streams -------------------------------------------------------------------------------------


def chunk(text, finish=None, usage=None, response_id="resp-9", thought=False):
    part = {"text": text, "thought": True} if thought else {"text": text}
    body = {"candidates": [{"content": {"parts": [part], "role": "model"}, "index": 0}],
            "modelVersion": "gemini-2.5-flash", "responseId": response_id}
    if finish:
        body["candidates"][0]["finishReason"] = finish
    if usage:
        body["usageMetadata"] = usage
    return json.dumps(body)


OPENING = {"promptTokenCount": 3, "totalTokenCount": 3}
STREAM = [chunk("Hel", usage=OPENING), chunk("lo", usage=OPENING),
          chunk(" there", "STOP", {"promptTokenCount": 3, "candidatesTokenCount": 2,
                                   "thoughtsTokenCount": 4, "totalTokenCount": 9})]


def parse_all(events, state=None):
    """Feed events as the core does: it keeps the text of the chunks returned."""
    state = state or StreamState(provider="google", model="m")
    chunks = []
    for data in events:
        found = _codec.parse_stream_event(Event(data), state)
        state.text_parts.extend(c.content for c in found if c.content)
        chunks += found
    return chunks


def test_the_chunk_with_the_finish_reason_gives_the_final_chunk():
    state = StreamState(provider="google", model="m")
    chunks = parse_all(STREAM, state)
    assert [c.content for c in chunks] == ["Hel", "lo", " there", ""]
    assert [c.is_final for c in chunks] == [False, False, False, True]
    final = chunks[-1]
    assert (final.finish_reason, final.raw_finish_reason) == ("stop", "STOP")
    usage = final.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens,
            usage.reasoning_tokens) == (3, 6, 9, 4)
    assert state.request_id == "resp-9"


def test_the_stream_request_id_is_the_first_response_id_unless_a_header_gave_one():
    state = StreamState(provider="google", model="m", request_id="from-header")
    parse_all(STREAM, state)
    assert state.request_id == "from-header"


def test_thought_chunks_give_no_text():
    chunks = parse_all([chunk("pondering", thought=True), *STREAM])
    assert "".join(c.content for c in chunks) == "Hello there"


def test_a_final_chunk_without_usage_reports_the_last_usage_seen():
    chunks = parse_all([chunk("a", usage=OPENING), chunk("b", "MAX_TOKENS")])
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage.prompt_tokens == 3
    assert parse_all([chunk("a", "STOP")])[-1].usage is None


@pytest.mark.parametrize("data", ["", "  ", json.dumps({"usageMetadata": OPENING}),
                                  json.dumps({"candidates": [{"index": 0}]})])
def test_events_without_text_or_finish_give_nothing(data):
    assert parse_all([data]) == []


def test_a_blocked_prompt_in_a_stream_raises():
    data = json.dumps({"promptFeedback": {"blockReason": "OTHER"}, "usageMetadata": OPENING})
    with pytest.raises(ProviderError, match="blockReason=OTHER"):
        parse_all([data])


def test_a_filter_stop_before_any_text_raises_and_after_text_ends_the_stream():
    blocked = json.dumps({"candidates": [{"finishReason": "SAFETY", "index": 0}]})
    with pytest.raises(ProviderError, match="SAFETY"):
        parse_all([blocked])
    after_text = parse_all([chunk("Once"), blocked])
    assert [c.content for c in after_text] == ["Once", ""]
    assert (after_text[-1].is_final, after_text[-1].finish_reason) == (True, "content_filter")


@pytest.mark.parametrize(("status", "code", "error"), [
    ("UNAVAILABLE", 503, HttpError), ("RESOURCE_EXHAUSTED", 429, RateLimitError),
    ("INTERNAL", 500, HttpError), ("DEADLINE_EXCEEDED", 504, HttpError)])
def test_an_error_object_in_the_stream_raises_what_it_denotes(status, code, error):
    data = json.dumps({"error": {"code": code, "message": "busy", "status": status}})
    with pytest.raises(error) as caught:
        parse_all([STREAM[0], data])
    assert type(caught.value) is error
    assert (caught.value.status_code, caught.value.error_type) == (code, status)
    assert "in the stream" in str(caught.value)


def test_an_in_stream_error_with_a_status_only_or_nothing_known():
    by_status = json.dumps({"error": {"message": "slow", "status": "UNAVAILABLE"}})
    with pytest.raises(HttpError) as caught:
        parse_all([by_status])
    assert caught.value.status_code == 503
    unknown = json.dumps({"error": {"message": "odd", "status": "WEIRD"}})
    with pytest.raises(StreamingError, match="status=WEIRD"):
        parse_all([unknown])
    as_list = json.dumps([{"error": {"code": 500, "message": "x", "status": "INTERNAL"}}])
    with pytest.raises(HttpError):
        parse_all([as_list])


@pytest.mark.parametrize("data", [
    "{oops", "7", "[1, 2]", '{"candidates": [{"content": []}]}',
    '{"candidates": [{"content": {"parts": [{"text": 5}]}}]}',
    '{"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"}], '
    '"usageMetadata": {"promptTokenCount": [1]}}',
])
def test_broken_chunks_are_streaming_errors(data):
    with pytest.raises(StreamingError):
        parse_all([data])


@hypothesis_settings(deadline=None, max_examples=50)
@given(cuts=st.lists(st.integers(min_value=0, max_value=700), max_size=20))
def test_any_chunking_decodes_the_same(cuts):
    wire = b"".join(sse_frame(data) for data in STREAM).replace(b"\n", b"\r\n")
    points = sorted({min(cut, len(wire)) for cut in cuts})
    decoder = SSEDecoder()
    state = StreamState(provider="google", model="m")
    chunks = []
    for a, b in zip([0, *points], [*points, len(wire)], strict=True):
        chunks += parse_all([event.data for event in decoder.feed(wire[a:b])], state)
    assert "".join(c.content for c in chunks) == "Hello there"
    assert chunks[-1].is_final
    assert sum(c.is_final for c in chunks) == 1
