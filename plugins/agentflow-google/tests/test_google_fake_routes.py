"""The fake server's emulation of the Gemini API, checked against the plugin's own codec.

The first part calls the route handlers directly with :class:`FakeCall` objects built from the
requests :func:`build_request` makes; the second goes through real loopback HTTP with the fake
server (the ``fake_llm_server`` fixture).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import agentflow_google
from agentflow.errors import HttpError, ProviderError, RateLimitError, StreamingError
from agentflow.testing.fake import FakeCall, FakeJSON, FakeStream, Reply
from agentflow.types import Message, ModelSettings, Request, Secret, StreamState
from agentflow_google import _codec, _errors
from agentflow_google._catalog import MODELS
from agentflow_google.testing import THOUGHT_TOKENS

pytestmark = pytest.mark.anyio

MODEL = "gemini-3.8-flash"


@dataclass(frozen=True)
class Event:
    """A stand-in for agentflow.sse.ServerSentEvent."""

    data: str
    event: str = "message"


def routes() -> dict[tuple[str, str], Any]:
    (fake,) = agentflow_google.PLUGIN.agentflow_fake_routes()
    return {(route.method, route.path): route.handler for route in fake.routes}


def settings(key: str | None = "AIza-fake-key", base_url: str = "http://fake/google",
             **options: Any) -> ModelSettings:
    return ModelSettings(name=MODEL, provider="google", vendor="google", model_id=MODEL,
                         base_url=base_url, api_key=Secret(key) if key else None,
                         options=options)


def chat(prompt: str = "one two three", *, system: str | None = "Be brief.",
         model: str = MODEL, **fields: Any) -> Request:
    messages = [Message(role="system", content=system)] if system else []
    return Request(model=model, messages=(*messages, Message(role="user", content=prompt)),
                   **fields)


async def send(request: Request | None = None, reply: Reply | None = None, *,
               model_settings: ModelSettings | None = None, body: Any = ...,
               headers: dict[str, str] | None = None,
               query: dict[str, str] | None = None) -> FakeJSON | FakeStream:
    """Build the request with the codec and hand it to the route it is addressed to."""
    request = request or chat()
    http = _codec.build_request(request, model_settings or settings())
    path = http.url.path.removeprefix("/google")
    model, method = path.removeprefix("/v1beta/models/").split(":")
    content = http.content if body is ... else json.dumps(body).encode()
    call = FakeCall(
        provider="google", method="POST", path=path, path_params={"model": model},
        query=dict(http.url.params) if query is None else query,
        headers={k.lower(): v for k, v in http.headers.items()} if headers is None else headers,
        body=content, json=json.loads(content), reply=reply or Reply())
    response = await routes()[("POST", f"/v1beta/models/{{model}}:{method}")](call)
    assert isinstance(response, (FakeJSON, FakeStream))
    return response


def as_http(response: FakeJSON) -> httpx.Response:
    return httpx.Response(response.status, headers=dict(response.headers),
                          content=json.dumps(response.body).encode())


def stream_chunks(response: FakeStream) -> tuple[list[Any], StreamState]:
    state = StreamState(provider="google", model=MODEL)
    chunks = []
    for item in response.events:
        assert isinstance(item, str), "Gemini's events have no names"
        found = _codec.parse_stream_event(Event(item), state)
        state.text_parts.extend(c.content for c in found if c.content)
        chunks += found
    return chunks, state


# --- routes and answers --------------------------------------------------------------------------


def test_the_routes_are_googles():
    (fake,) = agentflow_google.PLUGIN.agentflow_fake_routes()
    assert (fake.provider, fake.base_path) == ("google", "")
    assert set(routes()) == {
        ("POST", "/v1beta/models/{model}:generateContent"),
        ("POST", "/v1beta/models/{model}:streamGenerateContent"),
        ("GET", "/v1beta/models"), ("GET", "/v1beta/models/{model}")}


async def test_an_answer_has_the_services_shape():
    response = await send()
    assert isinstance(response, FakeJSON)
    assert response.status == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert not {"x-request-id", "request-id"} & set(response.headers)
    body = response.body
    assert body["candidates"] == [{"content": {"parts": [{"text": "You said: one two three"}],
                                               "role": "model"},
                                   "finishReason": "STOP", "index": 0}]
    assert body["usageMetadata"] == {
        "promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}]}
    assert body["modelVersion"] == MODEL
    assert isinstance(body["responseId"], str)
    assert len(body["responseId"]) > 10


async def test_the_codec_reads_the_answer():
    result = _codec.parse_response(as_http(await send(reply=Reply(text="alpha beta"))))
    assert (result.text, result.finish_reason, result.raw_finish_reason) == (
        "alpha beta", "stop", "STOP")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (5, 2)
    assert result.request_id


async def test_scripted_usage_and_finish_reason():
    result = _codec.parse_response(as_http(await send(
        reply=Reply(text="x y", usage=(120, 30), finish_reason="LANGUAGE"))))
    assert (result.usage.prompt_tokens, result.usage.completion_tokens,
            result.usage.total_tokens) == (120, 30, 150)
    assert (result.text, result.finish_reason, result.raw_finish_reason) == (
        "x y", "error", "LANGUAGE")


async def test_max_output_tokens_cuts_the_answer_with_max_tokens():
    body = (await send(chat(max_tokens=2), Reply(text="one two three four"))).body
    candidate = body["candidates"][0]
    assert candidate["content"]["parts"] == [{"text": "one two"}]
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert body["usageMetadata"]["candidatesTokenCount"] == 2


async def test_a_stop_sequence_cuts_the_answer_with_stop():
    body = (await send(chat(stop=("END", "never")), Reply(text="alpha beta END gamma"))).body
    assert body["candidates"][0]["content"]["parts"] == [{"text": "alpha beta "}]
    assert body["candidates"][0]["finishReason"] == "STOP"


async def test_the_stream_is_data_events_the_last_with_finish_and_usage():
    response = await send(chat(stream=True), Reply(text="one two three"))
    assert isinstance(response, FakeStream)
    events = [json.loads(item) for item in response.events]
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in events] == [
        "one", " two", " three"]
    assert [e["candidates"][0].get("finishReason") for e in events] == [None, None, "STOP"]
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == 3
    assert len({e["responseId"] for e in events}) == 1
    assert "[DONE]" not in response.events
    chunks, state = stream_chunks(response)
    assert "".join(c.content for c in chunks) == "one two three"
    assert chunks[-1].is_final
    assert chunks[-1].usage.total_tokens == 8
    assert state.request_id == events[0]["responseId"]


async def test_without_alt_sse_the_stream_is_one_json_array():
    response = await send(chat(stream=True), Reply(text="a b"), query={})
    assert isinstance(response, FakeJSON)
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in response.body] == [
        "a", " b"]


async def test_an_empty_answer_still_ends_the_stream():
    chunks, _ = stream_chunks(await send(chat(stream=True), Reply(text="")))
    assert [(c.content, c.is_final) for c in chunks] == [("", True)]


async def test_scripted_error_inside_the_stream():
    response = await send(chat(stream=True), Reply(
        text="one two three", error_after=2, error_message="The model is overloaded."))
    assert isinstance(response, FakeStream)
    *content, failure = response.events
    assert json.loads(failure) == {"error": {"code": 503, "message": "The model is overloaded.",
                                             "status": "UNAVAILABLE"}}
    chunks, state = stream_chunks(FakeStream(events=content))
    assert [c.content for c in chunks] == ["one", " two"]
    with pytest.raises(HttpError, match="overloaded") as caught:
        _codec.parse_stream_event(Event(failure), state)
    assert (caught.value.status_code, caught.value.error_type) == (503, "UNAVAILABLE")


async def test_a_scripted_in_stream_status():
    response = await send(chat(stream=True), Reply(text="a b", error_after=0,
                                                   error_type="RESOURCE_EXHAUSTED"))
    (failure,) = response.events
    with pytest.raises(RateLimitError):
        _codec.parse_stream_event(Event(failure), StreamState(provider="google", model="m"))


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT",
                                    "SPII", "IMAGE_SAFETY"])
async def test_a_filter_stop_withholds_the_answer_in_both_modes(reason):
    plain = (await send(reply=Reply(text="some words", finish_reason=reason))).body
    (candidate,) = plain["candidates"]
    assert "content" not in candidate
    assert candidate["finishReason"] == reason
    assert ("safetyRatings" in candidate) is (reason == "SAFETY")
    with pytest.raises(ProviderError, match=f"finishReason={reason}"):
        _codec.parse_response(as_http(FakeJSON(body=plain)))
    stream = await send(chat(stream=True), Reply(text="some words", finish_reason=reason))
    assert len(stream.events) == 1
    with pytest.raises(ProviderError, match=f"finishReason={reason}"):
        stream_chunks(stream)


async def test_a_safety_stop_flags_a_category():
    body = (await send(reply=Reply(finish_reason="SAFETY"))).body
    with pytest.raises(ProviderError, match=r"flagged: harassment \(HIGH\)"):
        _codec.parse_response(as_http(FakeJSON(body=body)))


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT", "OTHER"])
async def test_a_blocked_prompt_in_both_modes(reason):
    body = (await send(reply=Reply(finish_reason=f"blocked:{reason}"))).body
    assert "candidates" not in body
    assert body["promptFeedback"]["blockReason"] == reason
    assert body["usageMetadata"]["promptTokenCount"] == 5
    with pytest.raises(ProviderError, match=f"blockReason={reason}"):
        _codec.parse_response(as_http(FakeJSON(body=body)))
    stream = await send(chat(stream=True), Reply(finish_reason=f"blocked:{reason}"))
    with pytest.raises(ProviderError, match=f"blockReason={reason}"):
        stream_chunks(stream)


async def test_thinking_is_reported_and_thoughts_are_skipped():
    thinking = settings(thinking_level="high")
    body = (await send(model_settings=thinking)).body
    assert body["usageMetadata"]["thoughtsTokenCount"] == THOUGHT_TOKENS
    result = _codec.parse_response(as_http(FakeJSON(body=body)))
    assert (result.usage.reasoning_tokens, result.usage.completion_tokens) == (
        THOUGHT_TOKENS, 5 + THOUGHT_TOKENS)
    assert result.usage.total_tokens == 5 + 5 + THOUGHT_TOKENS
    off = (await send(model_settings=settings(thinking_budget=0))).body
    assert "thoughtsTokenCount" not in off["usageMetadata"]


async def test_included_thoughts_come_first_and_are_not_text():
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {
        "thinkingConfig": {"thinkingLevel": "low", "includeThoughts": True}}}
    plain = (await send(body=body)).body
    parts = plain["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True
    assert _codec.parse_response(as_http(FakeJSON(body=plain))).text == "You said: hi"
    stream = await send(chat(stream=True), body=body)
    first = json.loads(stream.events[0])
    assert first["candidates"][0]["content"]["parts"][0]["thought"] is True
    chunks, _ = stream_chunks(stream)
    assert "".join(c.content for c in chunks) == "You said: hi"


# --- what the service refuses --------------------------------------------------------------------


async def test_no_key_is_a_403_about_unregistered_callers():
    response = await send(headers={"content-type": "application/json"})
    assert response.status == 403
    assert response.body["error"]["status"] == "PERMISSION_DENIED"
    error = _errors.map_error(as_http(response))
    assert "received no API key" in str(error)


@pytest.mark.parametrize("key", ["", "two words", "tab\tkey"])
async def test_a_malformed_key_is_a_400_api_key_invalid(key):
    response = await send(headers={"x-goog-api-key": key})
    assert response.status == 400
    error = response.body["error"]
    assert (error["status"], error["message"]) == (
        "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
    assert error["details"][0]["reason"] == "API_KEY_INVALID"
    mapped = _errors.map_error(as_http(response))
    assert "rejected the API key" in str(mapped)
    assert mapped.status_code == 400


async def test_a_bearer_token_instead_of_a_key_is_a_401():
    response = await send(headers={"authorization": "Bearer AIza-fake-key"})
    assert response.status == 401
    assert response.body["error"]["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"


async def test_the_key_is_also_accepted_in_the_query_as_google_does():
    response = await send(headers={}, query={"key": "AIza-fake-key"})
    assert response.status == 200


async def test_an_unknown_model_is_a_404():
    response = await send(chat(model="palm-2"))
    assert response.status == 404
    assert response.body["error"]["message"].startswith(
        "models/palm-2 is not found for API version v1beta")
    error = _errors.map_error(as_http(response))
    assert "no such model" in str(error)


@pytest.mark.parametrize("model", [m.name for m in MODELS] + ["gemini-9-future", "gemma-3-4b"])
async def test_catalog_and_family_models_are_served(model):
    assert (await send(chat(model=model))).status == 200


CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]


@pytest.mark.parametrize(("body", "words", "field"), [
    ({}, "contents is not specified", None),
    ({"contents": []}, "contents is not specified", None),
    ({"contents": "hi"}, "Invalid value at 'contents'", "contents"),
    ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
     "Please use a valid role: user, model.", None),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "valid role", None),
    ({"contents": [*CONTENTS, {"role": "model", "parts": []}]},
     "contents[1].parts: contents.parts must not be empty", None),
    ({"contents": CONTENTS, "temperatur": 1}, 'Unknown name "temperatur": Cannot find field',
     ""),
    ({"contents": CONTENTS, "generationConfig": {"max_tokens": 5}},
     "Unknown name \"max_tokens\" at 'generation_config'", "generation_config"),
    ({"contents": CONTENTS, "generationConfig": 5}, "Invalid value at 'generation_config'",
     "generation_config"),
    ({"contents": CONTENTS, "generationConfig": {"temperature": 2.5}},
     "temperature value of 2.5 but the supported range is from 0 (inclusive) to 2.0001", None),
    ({"contents": CONTENTS, "generationConfig": {"temperature": "hot"}},
     "Invalid value at 'generation_config.temperature' (TYPE_FLOAT)",
     "generation_config.temperature"),
    ({"contents": CONTENTS, "generationConfig": {"topP": 1.5}}, "topP value of 1.5", None),
    ({"contents": CONTENTS, "generationConfig": {"maxOutputTokens": 0}},
     "maxOutputTokens value of 0", None),
    ({"contents": CONTENTS, "generationConfig": {"maxOutputTokens": 2.5}},
     "(TYPE_INT32)", "generation_config.max_output_tokens"),
    ({"contents": CONTENTS, "generationConfig": {"stopSequences": list("abcdef")}},
     "more than 5 stop sequences", None),
    ({"contents": CONTENTS, "generationConfig": {"stopSequences": "END"}}, "(TYPE_STRING)",
     "generation_config.stop_sequences"),
    ({"contents": CONTENTS, "generationConfig": {"thinkingConfig": {"thinkingLevel": "max"}}},
     "(TYPE_ENUM)", "generation_config.thinking_config.thinking_level"),
    ({"contents": CONTENTS, "generationConfig": {"thinkingConfig": {"thinkingBudget": "a"}}},
     "(TYPE_INT32)", "generation_config.thinking_config.thinking_budget"),
])
async def test_invalid_requests_get_the_services_400(body, words, field):
    response = await send(body=body)
    assert response.status == 400
    error = response.body["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert words in error["message"]
    violations = [v for d in error.get("details", ()) for v in d["fieldViolations"]]
    assert [v.get("field") for v in violations] == ([] if field is None else [field or None])


async def test_both_spellings_of_field_names_are_accepted():
    body = {"contents": CONTENTS, "system_instruction": {"parts": [{"text": "sys"}]},
            "generation_config": {"max_output_tokens": 1, "stop_sequences": ["Z"]}}
    response = await send(body=body)
    assert response.status == 200
    assert response.body["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert response.body["usageMetadata"]["promptTokenCount"] == 2


async def test_what_the_codec_sends_is_always_accepted():
    request = Request(model=MODEL, stream=True, temperature=2.0, top_p=1.0, max_tokens=10,
                      stop=("a", "b", "c", "d", "e"), messages=(
                          Message(role="system", content="s"), Message(role="user", content="q"),
                          Message(role="assistant", content="a"),
                          Message(role="user", content="q2")))
    response = await send(request, model_settings=settings(thinking_level="medium",
                                                           thinking_budget=128))
    assert isinstance(response, FakeStream)


@pytest.mark.parametrize(("status", "name"), [
    (400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"),
    (404, "NOT_FOUND"), (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE"),
    (504, "DEADLINE_EXCEEDED"), (418, "UNKNOWN")])
async def test_scripted_statuses_get_googles_error_body(status, name):
    response = await send(reply=Reply(status=status, error_message="scripted words"))
    assert response.status == status
    error = response.body["error"]
    assert (error["code"], error["message"], error["status"]) == (status, "scripted words", name)


async def test_a_scripted_429_carries_quota_help_and_retry_info():
    response = await send(reply=Reply(status=429, retry_after=7))
    kinds = [d["@type"].rsplit(".", 1)[-1] for d in response.body["error"]["details"]]
    assert kinds == ["QuotaFailure", "Help", "RetryInfo"]
    assert response.body["error"]["details"][-1]["retryDelay"] == "7s"
    error = _errors.map_error(as_http(response))
    assert isinstance(error, RateLimitError)
    assert (error.retry_after, error.retryable) == (7, None)


async def test_scripted_error_types_name_a_status_a_reason_or_a_quota():
    by_status = (await send(reply=Reply(status=400, error_type="FAILED_PRECONDITION"))).body
    assert by_status["error"]["status"] == "FAILED_PRECONDITION"
    by_reason = await send(reply=Reply(status=400, error_type="API_KEY_INVALID",
                                       error_message="API key not valid."))
    assert by_reason.body["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert "rejected the API key" in str(_errors.map_error(as_http(by_reason)))
    daily = await send(reply=Reply(
        status=429, error_type="GenerateRequestsPerDayPerProjectPerModel-FreeTier"))
    error = _errors.map_error(as_http(daily))
    assert isinstance(error, RateLimitError)
    assert error.retryable is False


async def test_models_are_listed_and_fetched():
    http = _codec.build_request(chat(), settings())
    headers = {k.lower(): v for k, v in http.headers.items()}

    def call(path: str, **params: str) -> FakeCall:
        return FakeCall(provider="google", method="GET", path=path, path_params=params,
                        query={}, headers=headers, body=b"", json=None, reply=Reply())

    listed = await routes()[("GET", "/v1beta/models")](call("/v1beta/models"))
    names = [m["name"] for m in listed.body["models"]]
    assert names == [f"models/{m.name}" for m in MODELS]
    first = listed.body["models"][0]
    assert {"inputTokenLimit", "outputTokenLimit", "supportedGenerationMethods"} <= set(first)
    one = await routes()[("GET", "/v1beta/models/{model}")](
        call("/v1beta/models/gemini-4-argon", model="gemini-4-argon"))
    assert (one.body["name"], one.body["displayName"]) == ("models/gemini-4-argon",
                                                           "Gemini 4 Argon")
    missing = await routes()[("GET", "/v1beta/models/{model}")](
        call("/v1beta/models/palm", model="palm"))
    assert missing.status == 404
    refused = await routes()[("GET", "/v1beta/models")](
        FakeCall(provider="google", method="GET", path="/v1beta/models", path_params={},
                 query={}, headers={}, body=b"", json=None, reply=Reply()))
    assert refused.status == 403


# --- over loopback HTTP, with the fake server ----------------------------------------------------


def over_http(server: Any, key: str | None = "AIza-fake-key") -> ModelSettings:
    return settings(key=key, base_url=server.base_url("google"))


async def test_http_round_trip(fake_llm_server):
    fake_llm_server.script("google", Reply(text="over the wire"))
    async with httpx.AsyncClient() as client:
        response = await client.send(_codec.build_request(chat(), over_http(fake_llm_server)))
    result = _codec.parse_response(response)
    assert result.text == "over the wire"
    (recorded,) = fake_llm_server.requests
    assert recorded.path == f"/google/v1beta/models/{MODEL}:generateContent"
    assert recorded.headers["x-goog-api-key"] == "AIza-fake-key"
    assert recorded.query == {}
    assert response.headers["server"] == "scaffolding on HTTPServer2"


async def test_http_stream_round_trip(fake_llm_server):
    from agentflow.sse import SSEDecoder

    fake_llm_server.script("google", Reply(text="one two three four", chunks=3))
    state = StreamState(provider="google", model=MODEL)
    chunks = []
    async with httpx.AsyncClient() as client:
        http = _codec.build_request(chat(stream=True), over_http(fake_llm_server))
        async with client.stream(http.method, http.url, headers=http.headers,
                                 content=http.content) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            decoder = SSEDecoder()
            async for data in response.aiter_bytes():
                for event in decoder.feed(data):
                    chunks += _codec.parse_stream_event(event, state)
    assert "".join(c.content for c in chunks) == "one two three four"
    assert chunks[-1].is_final
    assert fake_llm_server.requests[-1].query == {"alt": "sse"}


async def test_http_missing_key(fake_llm_server):
    async with httpx.AsyncClient() as client:
        response = await client.send(_codec.build_request(chat(), over_http(fake_llm_server,
                                                                            key=None)))
    assert response.status_code == 403
    assert "received no API key" in str(_errors.map_error(response))


async def test_http_malformed_answer(fake_llm_server):
    fake_llm_server.script("google", Reply(malformed=True))
    async with httpx.AsyncClient() as client:
        response = await client.send(_codec.build_request(chat(), over_http(fake_llm_server)))
    with pytest.raises(ProviderError, match="not JSON"):
        _codec.parse_response(response)


async def test_malformed_stream_event_is_a_streaming_error_for_the_codec():
    response = await send(chat(stream=True))
    with pytest.raises(StreamingError, match="not JSON"):
        _codec.parse_stream_event(Event(response.malformed_event),
                                  StreamState(provider="google", model="m"))
