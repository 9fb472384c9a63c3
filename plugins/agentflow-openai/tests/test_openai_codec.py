"""The Chat Completions codec: requests out, answers, stream events and errors in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

import agentflow_openai
from agentflow.errors import HttpError, ProviderError, RateLimitError, StreamingError
from agentflow.types import Message, ModelSettings, Request, Secret, StreamState, Usage
from agentflow_openai import _errors
from agentflow_openai import chat as _codec
from agentflow_openai._catalog import MODELS, model_options

OPENAI = agentflow_openai.DIALECTS["openai"]
COMPATIBLE = agentflow_openai.DIALECTS["openai_compatible"]
KEY = "sk-test-0123456789abcdef"


@dataclass(frozen=True)
class Event:
    """A stand-in for agentflow.sse.ServerSentEvent."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


def settings(provider: str = "openai", *, key: str | None = KEY,
             base_url: str = "https://api.openai.com/v1", model_id: str = "gpt-4o",
             **options: Any) -> ModelSettings:
    return ModelSettings(name=model_id, provider=provider, vendor=provider, model_id=model_id,
                         base_url=base_url, api_key=Secret(key) if key is not None else None,
                         options=options)


def request(model: str = "gpt-4o", **fields: Any) -> Request:
    messages = (Message(role="system", content="Be brief."), Message(role="user", content="Hi"))
    return Request(model=model, messages=messages, **fields)


def build(req: Request | None = None, **kwargs: Any) -> tuple[httpx.Request, dict[str, Any]]:
    req = req or request()
    model_settings = settings(model_id=req.model, **kwargs)
    dialect = agentflow_openai.DIALECTS[model_settings.vendor]
    http = _codec.build_request(dialect, req, model_settings)
    return http, json.loads(http.content)


def answer(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers)


# --- requests ----------------------------------------------------------------------------------


def test_minimal_request_sends_model_and_messages_only():
    http, body = build()
    assert http.method == "POST"
    assert str(http.url) == "https://api.openai.com/v1/chat/completions"
    assert body == {"model": "gpt-4o", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}


def test_headers_carry_bearer_key_json_and_user_agent():
    http, _ = build()
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert http.headers["content-type"] == "application/json"
    assert http.headers["accept"] == "application/json"
    assert http.headers["user-agent"] == f"agentflow-openai/{agentflow_openai.__version__}"


def test_every_parameter_reaches_the_body():
    _, body = build(request(temperature=0.7, top_p=0.9, max_tokens=100, stop=("END", "##")))
    assert body["temperature"] == 0.7
    assert body["top_p"] == 0.9
    assert body["max_tokens"] == 100
    assert body["stop"] == ["END", "##"]
    assert "max_completion_tokens" not in body
    assert "stream" not in body


def test_zero_values_are_sent_not_dropped():
    _, body = build(request(temperature=0.0, top_p=0.0))
    assert (body["temperature"], body["top_p"]) == (0.0, 0.0)


def test_body_is_compact_utf8_json():
    http, _ = build(Request(model="gpt-4o", messages=(Message(role="user", content="héllo 日本"),)))
    assert http.content == (b'{"model":"gpt-4o","messages":[{"role":"user","content":'
                            b'"h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac"}]}')
    assert http.headers["content-length"] == str(len(http.content))


def test_streaming_asks_for_usage_and_event_stream():
    http, body = build(request(stream=True))
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert http.headers["accept"] == "text/event-stream"


def test_stream_usage_can_be_turned_off_for_old_servers():
    _, body = build(request(stream=True), stream_include_usage=False)
    assert body["stream"] is True
    assert "stream_options" not in body


def test_max_completion_tokens_option_switches_the_field():
    _, body = build(request(max_tokens=50), max_completion_tokens=True)
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body


@pytest.mark.parametrize("model", ["o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini",
                                   "gpt-5-nano", "gpt-5.1", "gpt-5.5", "gpt-5.6-luna"])
def test_catalog_reasoning_models_use_max_completion_tokens(model):
    info = next(m for m in MODELS if m.name == model)
    _, body = build(request(model, max_tokens=64), **info.options)
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body


@pytest.mark.parametrize("model", ["o3", "o4-mini", "gpt-5", "gpt-5.6-sol"])
def test_models_accepting_only_the_default_temperature_get_none(model):
    info = next(m for m in MODELS if m.name == model)
    _, body = build(request(model, temperature=0.2, top_p=0.5), **info.options)
    assert "temperature" not in body
    assert "top_p" not in body


def test_gpt_5_1_keeps_temperature_while_reasoning_is_off_by_default():
    options = model_options("gpt-5.1")
    assert options is not None
    _, body = build(request("gpt-5.1", temperature=0.2), **options)
    assert body["temperature"] == 0.2
    _, body = build(request("gpt-5.1", temperature=0.2), **options, reasoning_effort="high")
    assert "temperature" not in body
    assert body["reasoning_effort"] == "high"


def test_gpt_5_5_takes_temperature_only_with_reasoning_none():
    options = model_options("gpt-5.5")
    assert options is not None
    _, body = build(request("gpt-5.5", temperature=0.2), **options)
    assert "temperature" not in body
    _, body = build(request("gpt-5.5", temperature=0.2), **options, reasoning_effort="none")
    assert body["temperature"] == 0.2
    assert body["reasoning_effort"] == "none"


def test_a_configured_snapshot_of_a_catalog_model_inherits_its_options():
    # A user model "my-o3: {vendor: openai, model_id: o3-2025-04-16}" has no catalog options.
    _, body = build(request("o3-2025-04-16", max_tokens=10, temperature=0.3))
    assert body["max_completion_tokens"] == 10
    assert "temperature" not in body


def test_unknown_openai_reasoning_ids_are_recognised_by_prefix():
    _, body = build(request("gpt-5.9-preview", max_tokens=10))
    assert body["max_completion_tokens"] == 10


def test_explicit_option_wins_over_the_catalog():
    _, body = build(request("o3", max_tokens=10, temperature=0.3), max_completion_tokens=False,
                    supports_temperature=True)
    assert body["max_tokens"] == 10
    assert body["temperature"] == 0.3


def test_compatible_servers_get_max_tokens_whatever_the_model_is_called():
    _, body = build(request("o3", max_tokens=10, temperature=0.3), provider="openai_compatible",
                    base_url="http://127.0.0.1:8000/v1", key=None)
    assert body["max_tokens"] == 10
    assert body["temperature"] == 0.3


@pytest.mark.parametrize("key", [None, ""])
def test_keyless_compatible_server_gets_no_authorization_header(key):
    http, _ = build(provider="openai_compatible", base_url="http://127.0.0.1:8000/v1", key=key)
    assert "authorization" not in http.headers
    assert str(http.url) == "http://127.0.0.1:8000/v1/chat/completions"


def test_compatible_server_with_a_key_gets_it():
    http, _ = build(provider="openai_compatible", base_url="http://10.0.0.5:8000/v1", key="tok")
    assert http.headers["authorization"] == "Bearer tok"


@pytest.mark.parametrize(("base_url", "expected"), [
    ("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
    ("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"),
    ("http://localhost:11434/v1//", "http://localhost:11434/v1/chat/completions"),
    ("https://gw.example/openai/v1?api-version=2", "https://gw.example/openai/v1/chat/completions"
                                                   "?api-version=2"),
    ("https://gw.example/v1/?k=v", "https://gw.example/v1/chat/completions?k=v"),
])
def test_url_join(base_url, expected):
    assert _codec.chat_completions_url(base_url) == expected
    http, _ = build(base_url=base_url)
    assert str(http.url) == expected


# --- answers -----------------------------------------------------------------------------------


def completion(content: Any = "Hello there!", finish: Any = "stop", **extra: Any) -> dict[str, Any]:
    """A chat.completion as the API reference shows it."""
    body: dict[str, Any] = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-2024-08-06",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": None,
                        "annotations": []},
            "logprobs": None,
            "finish_reason": finish,
        }],
        "usage": {
            "prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
    }
    body.update(extra)
    return body


def test_parses_a_documented_completion():
    result = _codec.parse_response(OPENAI, answer(completion(), **{"x-request-id": "req_42"}),
                                   request())
    assert result.text == "Hello there!"
    assert result.model == "gpt-4o-2024-08-06"
    assert result.provider == "openai"
    assert (result.finish_reason, result.raw_finish_reason) == ("stop", "stop")
    assert result.usage == Usage(prompt_tokens=19, completion_tokens=10, total_tokens=29,
                                 cached_tokens=4, reasoning_tokens=3)
    assert result.request_id == "req_42"


@pytest.mark.parametrize(("raw", "normalised"), [
    ("stop", "stop"), ("length", "length"), ("tool_calls", "tool_calls"),
    ("function_call", "tool_calls"), ("content_filter", "content_filter"),
    ("eos", "stop"), ("eos_token", "stop"), ("stop_sequence", "stop"), ("abort", "error"),
    ("something_new", None), (None, None),
])
def test_every_finish_reason(raw, normalised):
    result = _codec.parse_response(OPENAI, answer(completion(finish=raw)))
    assert (result.finish_reason, result.raw_finish_reason) == (normalised, raw)


def test_null_content_is_empty_text():
    result = _codec.parse_response(OPENAI, answer(completion(content=None, finish="tool_calls")))
    assert (result.text, result.finish_reason) == ("", "tool_calls")


def test_refusal_is_the_text_and_a_content_filter_finish():
    body = completion(content=None)
    body["choices"][0]["message"]["refusal"] = "I can't help with that."
    result = _codec.parse_response(OPENAI, answer(body))
    assert result.text == "I can't help with that."
    assert (result.finish_reason, result.raw_finish_reason) == ("content_filter", "stop")


def test_usage_without_details_or_total():
    body = completion(usage={"prompt_tokens": 3, "completion_tokens": 4})
    result = _codec.parse_response(COMPATIBLE, answer(body))
    assert result.usage == Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)
    assert result.provider == "openai_compatible"


def test_missing_usage_and_model_fall_back():
    body = completion()
    del body["usage"], body["model"]
    result = _codec.parse_response(OPENAI, answer(body), request("gpt-4o"))
    assert (result.usage, result.model, result.request_id) == (None, "gpt-4o", None)


def test_malformed_json_is_a_provider_error_with_a_short_excerpt():
    junk = b"<html>" + b"x" * 1000
    with pytest.raises(ProviderError) as caught:
        _codec.parse_response(OPENAI, answer(junk))
    message = caught.value.message
    assert "OpenAI sent an answer that is not JSON" in message
    assert "<html>xxx" in message
    assert "x" * 201 not in message
    assert len(message) < 400


@pytest.mark.parametrize(("body", "words"), [
    ({"id": "x", "object": "chat.completion"}, "no 'choices' list"),
    ({"choices": []}, "an empty 'choices' list"),
    ({"choices": "nope"}, "no 'choices' list"),
    ([1, 2], "not a JSON object"),
])
def test_answers_without_choices_are_provider_errors(body, words):
    with pytest.raises(ProviderError, match=words):
        _codec.parse_response(OPENAI, answer(body))


@pytest.mark.parametrize("body", [
    completion(usage={"prompt_tokens": "ten", "completion_tokens": 1}),
    completion(content=["not", "text"]),
    {"choices": ["not an object"]},
])
def test_answers_of_the_wrong_shape_are_provider_errors(body):
    with pytest.raises(ProviderError, match="unexpected shape"):
        _codec.parse_response(OPENAI, answer(body))


def test_error_object_in_a_200_answer_is_raised_as_what_it_is():
    body = {"error": {"message": "The server had an error", "type": "server_error",
                      "param": None, "code": None}}
    with pytest.raises(HttpError) as caught:
        _codec.parse_response(COMPATIBLE, answer(body))
    assert caught.value.status_code == 500
    assert caught.value.vendor_message == "The server had an error"


# --- streams -----------------------------------------------------------------------------------


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None,
          usage: Any = None, choices: list[Any] | None = None) -> str:
    body = {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
            "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb",
            "choices": choices if choices is not None else [
                {"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
            "usage": usage}
    return json.dumps(body)


STREAM_USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0}}


def run_stream(events: list[str],
               dialect: _codec.Dialect = OPENAI) -> tuple[list[Any], StreamState]:
    state = StreamState(provider=dialect.vendor, model="m")
    chunks = []
    for data in events:
        chunks.extend(_codec.parse_stream_event(dialect, Event(data=data), state))
    return chunks, state


def test_stream_sequence_ends_with_a_final_chunk_carrying_usage_and_finish():
    chunks, state = run_stream([
        chunk({"role": "assistant", "content": "", "refusal": None}),
        chunk({"content": "Hello"}),
        chunk({"content": " world"}),
        chunk({}, finish="stop"),
        chunk(choices=[], usage=STREAM_USAGE),
        "[DONE]",
    ])
    assert [c.content for c in chunks] == ["Hello", " world", ""]
    assert not any(c.is_final for c in chunks[:-1])
    final = chunks[-1]
    assert final.is_final
    assert (final.finish_reason, final.raw_finish_reason) == ("stop", "stop")
    assert final.usage == Usage(prompt_tokens=9, completion_tokens=3, total_tokens=12,
                                cached_tokens=0, reasoning_tokens=0)
    assert state.data["finish_reason"] == "stop"


def test_stream_without_usage_chunk_has_a_final_chunk_without_usage():
    chunks, _ = run_stream([chunk({"content": "Hi"}), chunk({}, finish="length"), "[DONE]"])
    assert chunks[-1].is_final
    assert chunks[-1].usage is None
    assert chunks[-1].finish_reason == "length"


def test_role_only_and_empty_events_give_no_chunks():
    chunks, _ = run_stream([chunk({"role": "assistant"}), ""])
    assert chunks == []


def test_usage_in_the_last_content_chunk_is_kept_too():
    # Some compatible servers attach usage to the finish chunk instead of a choices=[] chunk.
    chunks, _ = run_stream([chunk({"content": "x"}, finish="stop", usage=STREAM_USAGE), "[DONE]"])
    assert chunks[0].content == "x"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 12


def test_streamed_refusal_ends_with_content_filter():
    chunks, _ = run_stream([chunk({"refusal": "I can't"}), chunk({"refusal": " do that."}),
                            chunk({}, finish="stop"), "[DONE]"])
    assert "".join(c.content for c in chunks) == "I can't do that."
    assert (chunks[-1].finish_reason, chunks[-1].raw_finish_reason) == ("content_filter", "stop")


def test_error_event_mid_stream_raises_the_mapped_error():
    error = json.dumps({"error": {"message": "The server had an error while processing your "
                                  "request.", "type": "server_error", "param": None,
                                  "code": None}})
    state = StreamState(provider="openai", model="m")
    _codec.parse_stream_event(OPENAI, Event(data=chunk({"content": "Hal"})), state)
    with pytest.raises(HttpError) as caught:
        _codec.parse_stream_event(OPENAI, Event(data=error), state)
    assert caught.value.status_code == 500
    assert caught.value.error_type == "server_error"
    assert "in the stream" in caught.value.message
    assert "The server had an error" in caught.value.message


def test_rate_limit_error_event_mid_stream_is_a_rate_limit_error():
    error = json.dumps({"error": {"message": "Rate limit reached", "type": "tokens",
                                  "code": "rate_limit_exceeded"}})
    with pytest.raises(RateLimitError):
        run_stream([error])


def test_error_event_with_a_numeric_code_takes_it_as_status():
    error = json.dumps({"error": {"code": 400, "message": "context too long",
                                  "type": "invalid_request_error"}})
    with pytest.raises(HttpError) as caught:
        run_stream([error], COMPATIBLE)
    assert caught.value.status_code == 400


def test_error_event_of_unknown_kind_is_a_streaming_error():
    error = json.dumps({"error": {"message": "something odd", "type": "mystery"}})
    with pytest.raises(StreamingError, match="something odd"):
        run_stream([error])


@pytest.mark.parametrize("data", ['{"truncated": ', "not json at all"])
def test_malformed_stream_event_is_a_streaming_error(data):
    with pytest.raises(StreamingError, match="stream event that is not JSON") as caught:
        run_stream([chunk({"content": "a"}), data])
    assert repr(data.strip()) in caught.value.message


@pytest.mark.parametrize("data", ["[1, 2]", '"text"', '{"choices": {"0": {}}}',
                                  '{"choices": [{"delta": "text"}]}'])
def test_stream_events_of_the_wrong_shape_are_streaming_errors(data):
    with pytest.raises(StreamingError):
        run_stream([data])


def test_unknown_objects_in_the_stream_are_skipped():
    chunks, _ = run_stream(['{"object": "keepalive"}', chunk({"content": "a"})])
    assert [c.content for c in chunks] == ["a"]


def test_done_without_anything_before_is_a_bare_final_chunk():
    chunks, _ = run_stream(["[DONE]"])
    assert len(chunks) == 1
    assert chunks[0].is_final
    assert (chunks[0].finish_reason, chunks[0].usage) == (None, None)


# --- errors ------------------------------------------------------------------------------------


def error_answer(status: int, message: str = "Something went wrong.", type_: str | None = None,
                 code: str | None = None, param: str | None = None,
                 **headers: str) -> httpx.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return answer(body, status, **{"x-request-id": "req_err", **headers})


@pytest.mark.parametrize(("status", "type_", "code", "cls", "words"), [
    (400, "invalid_request_error", None, HttpError, "rejected the request as invalid"),
    (401, "invalid_request_error", "invalid_api_key", HttpError, "rejected the API key"),
    (403, "invalid_request_error", "unsupported_country_region_territory", HttpError,
     "refused access"),
    (404, "invalid_request_error", "model_not_found", HttpError, "has no such model"),
    (409, "invalid_request_error", None, HttpError, "conflict"),
    (422, "invalid_request_error", None, HttpError, "could not process"),
    (429, "requests", "rate_limit_exceeded", RateLimitError, "rate limiting"),
    (500, "server_error", None, HttpError, "failed to handle the request"),
    (502, None, None, HttpError, "failed to handle the request"),
    (503, "service_unavailable_error", "server_is_overloaded", HttpError, "failed to handle"),
    (418, "teapot", None, HttpError, "answered with an error"),
])
def test_each_status_maps_to_its_class_with_the_vendors_words(status, type_, code, cls, words):
    error = _codec.map_error(OPENAI, error_answer(status, "Vendor says no.", type_, code))
    assert type(error) is cls
    assert error.status_code == status
    assert words in error.message
    assert "Vendor says no." in error.message
    assert f"HTTP {status}" in error.message
    assert error.vendor_message == "Vendor says no."
    assert error.error_type == type_
    assert error.request_id == "req_err"
    if code:
        assert f"code={code}" in error.message


def test_400_names_the_parameter():
    error = _codec.map_error(OPENAI, error_answer(
        400, "Invalid 'temperature': decimal above maximum value.", "invalid_request_error",
        "decimal_above_max_value", "temperature"))
    assert "param=temperature" in error.message


def test_401_says_to_check_the_key_variable_and_quotes_no_key():
    vendor = ("Incorrect API key provided: sk-proj-abc*************************wxyz. You can "
              "find your API key at https://platform.openai.com/account/api-keys.")
    error = _codec.map_error(OPENAI, error_answer(401, vendor, "invalid_request_error",
                                                  "invalid_api_key"))
    assert "OPENAI_API_KEY" in error.message
    assert "sk-proj-abc" not in str(error)
    assert "wxyz" not in str(error)
    assert "sk-***" in error.message


def test_401_of_a_compatible_server_names_its_variable():
    error = _codec.map_error(COMPATIBLE, error_answer(401, "Unauthorized: Bearer abc.def"))
    assert "OPENAI_COMPATIBLE_API_KEY" in error.message
    assert "abc.def" not in error.message
    assert error.message.startswith("The OpenAI-compatible server rejected the API key")


def test_404_without_a_model_word_points_at_the_base_url():
    error = _codec.map_error(COMPATIBLE, answer(b"404 page not found", 404))
    assert "base_url" in error.message
    assert "404 page not found" in error.message


def test_429_retry_after_in_seconds():
    error = _codec.map_error(OPENAI, error_answer(429, "Rate limit reached for requests",
                                                  "requests", "rate_limit_exceeded",
                                                  **{"retry-after": "7"}))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0
    assert "7 s" in error.message


def test_429_retry_after_as_http_date():
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    error = _codec.map_error(OPENAI, error_answer(
        429, "slow down", **{"retry-after": format_datetime(when, usegmt=True)}))
    assert isinstance(error, RateLimitError)
    assert error.retry_after is not None
    assert 25 <= error.retry_after <= 31


def test_429_retry_after_ms_wins():
    error = _codec.map_error(OPENAI, error_answer(
        429, "slow down", **{"retry-after": "9", "retry-after-ms": "1500"}))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 1.5


@pytest.mark.parametrize("headers", [{}, {"retry-after": "soon"}, {"retry-after": "nan"},
                                     {"retry-after-ms": "x"}, {"retry-after": "-3"}])
def test_unusable_or_missing_retry_after(headers):
    expected = 0.0 if headers == {"retry-after": "-3"} else None
    assert _codec.retry_after_seconds(httpx.Headers(headers)) == expected


def test_insufficient_quota_keeps_its_type_and_says_retrying_will_not_help():
    error = _codec.map_error(OPENAI, error_answer(
        429, "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota", "insufficient_quota"))
    assert isinstance(error, RateLimitError)
    assert error.error_type == "insufficient_quota"
    assert "quota is used up" in error.message
    assert "retrying will not help" in error.message


def test_non_json_error_body_is_quoted_briefly():
    html = b"<html><body>" + b"Bad gateway " * 100 + b"</body></html>"
    error = _codec.map_error(OPENAI, answer(html, 502, **{"x-request-id": "req_gw"}))
    assert isinstance(error, HttpError)
    assert error.status_code == 502
    assert "<html><body>Bad gateway" in error.message
    assert len(error.vendor_message or "") <= 210
    assert error.error_type is None
    assert error.request_id == "req_gw"


def test_empty_error_body():
    error = _codec.map_error(OPENAI, answer(b"", 500))
    assert "(empty body)" in error.message


@pytest.mark.parametrize(("body", "message", "type_"), [
    ({"object": "error", "message": "model gone", "type": "NotFoundError", "code": 404},
     "model gone", "NotFoundError"),  # older vLLM
    ({"error": {"code": 404, "message": "model gone", "type": "not_found_error"}},
     "model gone", "not_found_error"),  # llama.cpp server
    ({"error": "model gone"}, "model gone", None),
])
def test_error_bodies_of_compatible_servers(body, message, type_):
    error = _codec.map_error(COMPATIBLE, answer(body, 404))
    assert isinstance(error, HttpError)
    assert (error.vendor_message, error.error_type) == (message, type_)


def test_read_error_body_keeps_all_fields():
    body = _codec.read_error_body(json.dumps({"error": {
        "message": "m", "type": "t", "param": "p", "code": "c"}}).encode())
    assert body == _codec.ErrorBody(message="m", type="t", param="p", code="c")


def test_no_error_message_holds_the_key():
    for status in (400, 401, 403, 404, 429, 500):
        error = _codec.map_error(OPENAI, error_answer(status, f"echoing {KEY}"))
        assert KEY not in str(error)
        assert KEY not in repr(error)


@pytest.mark.parametrize(("text", "seconds"), [
    ("1s", 1.0), ("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("20ms", 0.02), ("2m", 120.0),
    ("", None), ("soon", None)])
def test_openai_durations(text, seconds):
    assert _errors.duration_seconds(text) == seconds


def test_a_429_without_retry_after_waits_for_the_used_up_limit_to_reset():
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s",
               "x-ratelimit-remaining-tokens": "9000", "x-ratelimit-reset-tokens": "6m0s"}
    assert _codec.retry_after_seconds(headers) == 1.5
    headers["x-ratelimit-remaining-tokens"] = "0"
    assert _codec.retry_after_seconds(headers) == 360.0
    assert _codec.retry_after_seconds({"retry-after": "2", **headers}) == 2
