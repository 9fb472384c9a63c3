"""The fake server's emulation of OpenAI, checked against the plugin's own codec.

The first part calls the route handlers directly with :class:`FakeCall` objects built from the
requests :func:`build_request` makes; the second goes through real loopback HTTP with the fake
server (``agentflow.testing.FakeServer``) and, last, through the whole agentflow request path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import agentflow_openai
from agentflow.errors import HttpError, RateLimitError, StreamingError
from agentflow.testing.fake import FakeCall, FakeJSON, FakeProvider, FakeStream, Reply
from agentflow.types import Message, ModelSettings, Request, Secret, StreamState
from agentflow_openai import chat as _codec
from agentflow_openai._catalog import MODELS
from agentflow_openai.testing import chat_completions_fake

pytestmark = pytest.mark.anyio

OPENAI = agentflow_openai.DIALECTS["openai"]
COMPATIBLE = agentflow_openai.DIALECTS["openai_compatible"]


@dataclass(frozen=True)
class Event:
    """A stand-in for agentflow.sse.ServerSentEvent."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


def fakes() -> dict[str, FakeProvider]:
    return {fake.provider: fake for fake in agentflow_openai.PLUGIN.agentflow_fake_routes()}


def handler(provider: str, method: str = "POST", path: str = "/chat/completions") -> Any:
    return next(r.handler for r in fakes()[provider].routes
                if (r.method, r.path) == (method, path))


def settings(provider: str = "openai", model: str = "gpt-4o", key: str | None = "sk-test",
             **options: Any) -> ModelSettings:
    return ModelSettings(name=model, provider=provider, vendor=provider, model_id=model,
                         base_url="http://fake/v1", api_key=Secret(key) if key else None,
                         options=options)


def chat(prompt: str = "one two three", model: str = "gpt-4o", **fields: Any) -> Request:
    return Request(model=model, messages=(Message(role="system", content="Be brief."),
                                          Message(role="user", content=prompt)), **fields)


def call_of(http: httpx.Request, provider: str = "openai", reply: Reply | None = None,
            headers: dict[str, str] | None = None, body: bytes | None = None) -> FakeCall:
    content = http.content if body is None else body
    try:
        parsed = json.loads(content)
    except ValueError:
        parsed = None
    return FakeCall(provider=provider, method=http.method, path="/chat/completions",
                    path_params={}, query={}, headers=headers if headers is not None else
                    dict(http.headers), body=content, json=parsed, reply=reply or Reply())


async def send(req: Request, provider: str = "openai", reply: Reply | None = None,
               model_settings: ModelSettings | None = None,
               **call_fields: Any) -> FakeJSON | FakeStream:
    model_settings = model_settings or settings(provider, req.model)
    http = _codec.build_request(agentflow_openai.DIALECTS[provider], req, model_settings)
    response = await handler(provider)(call_of(http, provider, reply, **call_fields))
    assert isinstance(response, (FakeJSON, FakeStream))
    return response


def as_http(response: FakeJSON) -> httpx.Response:
    return httpx.Response(response.status, headers=dict(response.headers),
                          content=json.dumps(response.body).encode())


def parse_events(events: Any, dialect: _codec.Dialect = OPENAI) -> list[Any]:
    state = StreamState(provider=dialect.vendor, model="m")
    chunks = []
    for item in events:
        data = item if isinstance(item, str) else item[1]
        chunks.extend(_codec.parse_stream_event(dialect, Event(data=data), state))
    return chunks


# --- the emulation, called directly ------------------------------------------------------------


def test_both_providers_are_emulated_under_v1():
    routes = fakes()
    assert set(routes) == {"openai", "openai_compatible", "azure_openai"}
    for name in ("openai", "openai_compatible"):
        assert routes[name].base_path == "/v1"
        assert {(r.method, r.path) for r in routes[name].routes} == {
            ("POST", "/chat/completions"), ("POST", "/responses"), ("GET", "/models")}
    assert routes["azure_openai"].base_path == ""


async def test_answer_is_a_real_chat_completion():
    response = await send(chat())
    assert isinstance(response, FakeJSON)
    assert response.status == 200
    body = response.body
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "gpt-4o"
    assert body["system_fingerprint"].startswith("fp_")
    assert body["choices"] == [{
        "index": 0,
        "message": {"role": "assistant", "content": "You said: one two three", "refusal": None,
                    "annotations": []},
        "logprobs": None,
        "finish_reason": "stop",
    }]
    usage = body["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        5, 5, 10)
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert response.headers["x-request-id"].startswith("req_")


async def test_round_trip_through_the_codec():
    response = await send(chat("hello"), reply=Reply(text="Hi! How can I help?"))
    assert isinstance(response, FakeJSON)
    result = _codec.parse_response(OPENAI, as_http(response), chat())
    assert result.text == "Hi! How can I help?"
    assert (result.finish_reason, result.model) == ("stop", "gpt-4o")
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (3, 5)
    assert result.request_id == response.headers["x-request-id"]


async def test_scripted_usage_and_finish_reason():
    response = await send(chat(), reply=Reply(text="x", usage=(11, 22),
                                              finish_reason="content_filter"))
    result = _codec.parse_response(OPENAI, as_http(response))
    assert result.finish_reason == "content_filter"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens,
            result.usage.total_tokens) == (11, 22, 33)


async def test_stream_is_role_delta_pieces_finish_usage_then_done():
    response = await send(chat(stream=True), reply=Reply(text="Hello big world"))
    assert isinstance(response, FakeStream)
    assert response.headers["x-request-id"].startswith("req_")
    events = [json.loads(e) if e != "[DONE]" else e for e in response.events]
    assert events[-1] == "[DONE]"
    first, *pieces, finish, usage, _ = events
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [p["choices"][0]["delta"]["content"] for p in pieces] == ["Hello", " big", " world"]
    assert all(p["choices"][0]["finish_reason"] is None and p["usage"] is None for p in pieces)
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None,
                                    "finish_reason": "stop"}
    assert usage["choices"] == []
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + 3
    assert len({e["id"] for e in events[:-1]}) == 1


async def test_stream_round_trip_through_the_codec():
    response = await send(chat(stream=True), reply=Reply(text="abcdefghij", chunks=4))
    assert isinstance(response, FakeStream)
    chunks = parse_events(response.events)
    assert [c.content for c in chunks[:-1]] == ["abc", "def", "gh", "ij"]
    final = chunks[-1]
    assert final.is_final
    assert final.finish_reason == "stop"
    assert final.usage is not None
    assert final.usage.completion_tokens == 1


async def test_stream_without_include_usage_has_no_usage_chunk():
    response = await send(chat(stream=True), model_settings=settings(stream_include_usage=False))
    assert isinstance(response, FakeStream)
    assert all("usage" not in json.loads(e) for e in response.events[:-1])
    assert parse_events(response.events)[-1].usage is None


async def test_max_tokens_truncates_with_finish_length():
    response = await send(chat(max_tokens=2), reply=Reply(text="one two three four"))
    result = _codec.parse_response(OPENAI, as_http(response))
    assert (result.text, result.finish_reason) == ("one two", "length")
    assert result.usage is not None
    assert result.usage.completion_tokens == 2


async def test_max_completion_tokens_truncates_a_reasoning_model_stream():
    o3 = next(m for m in MODELS if m.name == "o3")
    response = await send(chat(model="o3", max_tokens=1, stream=True),
                          reply=Reply(text="alpha beta"),
                          model_settings=settings(model="o3", **o3.options))
    chunks = parse_events(response.events)
    assert "".join(c.content for c in chunks) == "alpha"
    assert chunks[-1].finish_reason == "length"


async def test_stop_sequence_cuts_the_answer():
    response = await send(chat(stop=("END",)), reply=Reply(text="first END second"))
    result = _codec.parse_response(OPENAI, as_http(response))
    assert (result.text, result.finish_reason) == ("first ", "stop")


async def test_openai_refuses_a_request_without_a_key():
    response = await send(chat(), model_settings=settings(key=None))
    assert isinstance(response, FakeJSON)
    assert response.status == 401
    assert response.body["error"]["type"] == "invalid_request_error"
    assert response.body["error"]["code"] is None
    assert "didn't provide an API key" in response.body["error"]["message"]
    error = _codec.map_error(OPENAI, as_http(response))
    assert isinstance(error, HttpError)
    assert error.status_code == 401
    assert "OPENAI_API_KEY" in error.message


@pytest.mark.parametrize("auth", ["Token sk-abc", "Bearer", "Bearer  ", "Bearer a b"])
async def test_openai_refuses_an_ill_formed_authorization(auth):
    http = _codec.build_request(OPENAI, chat(), settings())
    headers = {**dict(http.headers), "authorization": auth}
    response = await handler("openai")(call_of(http, headers=headers))
    assert response.status == 401
    assert response.body["error"]["code"] == "invalid_api_key"


async def test_header_names_are_matched_whatever_their_case():
    http = _codec.build_request(OPENAI, chat(), settings())
    headers = {"Authorization": "Bearer sk-x", "Content-Type": "application/json"}
    response = await handler("openai")(call_of(http, headers=headers))
    assert response.status == 200


async def test_compatible_server_needs_no_key():
    response = await send(chat(), "openai_compatible",
                          model_settings=settings("openai_compatible", key=None))
    assert isinstance(response, FakeJSON)
    assert response.status == 200


@pytest.mark.parametrize(("body", "param", "code", "words"), [
    (b'{"messages": [{"role": "user", "content": "hi"}]}', None, None,
     "you must provide a model parameter"),
    (b'{"model": "gpt-4o"}', "messages", "missing_required_parameter",
     "Missing required parameter: 'messages'"),
    (b'{"model": "gpt-4o", "messages": []}', "messages", "empty_array", "empty array"),
    (b'{"model": "gpt-4o", "messages": "hi"}', "messages", "invalid_type", "Invalid type"),
    (b'{"model": "gpt-4o", "messages": [{"role": "robot", "content": "hi"}]}',
     "messages[0].role", "invalid_value", "Invalid value: 'robot'"),
    (b'{"model": "gpt-4o", "messages": [{"role": "user"}]}', "messages[0].content",
     "missing_required_parameter", "messages[0].content"),
    (b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "temperature": 3}',
     "temperature", "decimal_above_max_value", "Expected a value <= 2, but got 3"),
    (b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "top_p": -1}',
     "top_p", "decimal_below_min_value", "Expected a value >= 0"),
    (b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
     "max_tokens", "integer_below_min_value", "Expected a value >= 1"),
    (b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], '
     b'"stop": ["a", "b", "c", "d", "e"]}', "stop", "array_above_max_length", "maximum length 4"),
    (b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], '
     b'"stream_options": {"include_usage": true}}', "stream_options", "invalid_value",
     "only allowed when 'stream' is enabled"),
    (b'{"model": "o3", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5}',
     "max_tokens", "unsupported_parameter", "Use 'max_completion_tokens' instead"),
    (b'{"model": "o4-mini", "messages": [{"role": "user", "content": "x"}], '
     b'"temperature": 0.5}', "temperature", "unsupported_value",
     "Only the default (1) value is supported"),
    (b'{"model": "gpt-5.5", "messages": [{"role": "user", "content": "x"}], "top_p": 0.5}',
     "top_p", "unsupported_value", "does not support 0.5"),
    (b"not json", None, None, "could not parse the JSON body"),
])
async def test_invalid_requests_get_the_services_400(body, param, code, words):
    http = _codec.build_request(OPENAI, chat(), settings())
    response = await handler("openai")(call_of(http, body=body))
    assert response.status == 400
    error = response.body["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert words in error["message"]
    mapped = _codec.map_error(OPENAI, as_http(response))
    assert isinstance(mapped, HttpError)
    assert mapped.status_code == 400
    assert words in mapped.message


async def test_reasoning_models_accept_what_the_codec_sends():
    for info in MODELS:
        response = await send(chat(model=info.name, temperature=0.5, top_p=0.5, max_tokens=50),
                              model_settings=settings(model=info.name, **info.options))
        assert response.status == 200, (info.name, getattr(response, "body", None))


async def test_gpt_5_1_takes_temperature_without_reasoning_but_not_with_it():
    base = b'{"model": "gpt-5.1", "messages": [{"role": "user", "content": "x"}], '
    http = _codec.build_request(OPENAI, chat(), settings())
    ok = await handler("openai")(call_of(http, body=base + b'"temperature": 0.5}'))
    refused = await handler("openai")(call_of(
        http, body=base + b'"temperature": 0.5, "reasoning_effort": "high"}'))
    assert (ok.status, refused.status) == (200, 400)


@pytest.mark.parametrize(("status", "type_", "code"), [
    (400, "invalid_request_error", None),
    (401, "invalid_request_error", "invalid_api_key"),
    (403, "invalid_request_error", None),
    (404, "invalid_request_error", "model_not_found"),
    (429, "requests", "rate_limit_exceeded"),
    (500, "server_error", None),
    (503, "service_unavailable_error", "server_is_overloaded"),
    (504, "server_error", None),
])
async def test_scripted_error_statuses_get_the_services_body(status, type_, code):
    response = await send(chat(), reply=Reply(status=status, error_message="scripted"))
    assert isinstance(response, FakeJSON)
    assert response.status == status
    assert response.body == {"error": {"message": "scripted", "type": type_, "param": None,
                                       "code": code}}
    error = _codec.map_error(OPENAI, as_http(response))
    assert error.status_code == status
    assert error.request_id == response.headers["x-request-id"]


async def test_scripted_429_with_retry_after_maps_to_rate_limit_error():
    response = await send(chat(), reply=Reply(status=429, retry_after=2.5,
                                              error_message="Rate limit reached"))
    assert response.headers["retry-after"] == "2.5"
    error = _codec.map_error(OPENAI, as_http(response))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 2.5


async def test_scripted_insufficient_quota():
    response = await send(chat(), reply=Reply(status=429, error_type="insufficient_quota",
                                              error_message="You exceeded your current quota"))
    assert response.body["error"]["code"] == "insufficient_quota"
    error = _codec.map_error(OPENAI, as_http(response))
    assert isinstance(error, RateLimitError)
    assert error.error_type == "insufficient_quota"


async def test_scripted_headers_are_sent():
    response = await send(chat(), reply=Reply(headers={"openai-processing-ms": "12"}))
    assert response.headers["openai-processing-ms"] == "12"


async def test_malformed_stream_event_is_a_streaming_error_for_the_codec():
    response = await send(chat(stream=True))
    assert isinstance(response, FakeStream)
    with pytest.raises(StreamingError):
        parse_events([response.events[0], response.malformed_event])


async def test_models_are_listed():
    http = _codec.build_request(OPENAI, chat(), settings())
    call = call_of(http)
    response = await handler("openai", "GET", "/models")(call)
    assert response.status == 200
    assert response.body["object"] == "list"
    ids = [m["id"] for m in response.body["data"]]
    assert ids[0] == "gpt-4o"
    assert {"o3", "gpt-5", "gpt-5.5"} <= set(ids)
    assert all(m["object"] == "model" for m in response.body["data"])
    refused = await handler("openai", "GET", "/models")(call_of(http, headers={}))
    assert refused.status == 401
    local = await handler("openai_compatible", "GET", "/models")(call_of(http, headers={}))
    assert [m["id"] for m in local.body["data"]] == ["local-model"]


# --- over loopback HTTP, with the fake server ---------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Any:
    server_module = pytest.importorskip("agentflow.testing.server")
    from agentflow._plugins.host import PluginHost

    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN, "openai")
    with server_module.FakeServer.from_plugins(host) as running:
        yield running


@pytest.fixture
def fresh(server: Any) -> Any:
    server.clear()
    return server


def over_http(server: Any, provider: str = "openai", key: str | None = "sk-test",
              model: str = "gpt-4o", **options: Any) -> ModelSettings:
    return ModelSettings(name=model, provider=provider, vendor=provider, model_id=model,
                         base_url=server.base_url(provider),
                         api_key=Secret(key) if key else None, options=options)


async def test_http_round_trip(fresh):
    model_settings = over_http(fresh)
    request = chat("hello there", temperature=0.2, max_tokens=50)
    async with httpx.AsyncClient() as client:
        response = await client.send(_codec.build_request(OPENAI, request, model_settings))
    assert response.status_code == 200
    result = _codec.parse_response(OPENAI, response, request)
    assert result.text == "You said: hello there"
    assert result.finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.total_tokens == 4 + 4
    assert result.request_id == response.headers["x-request-id"]
    sent = fresh.requests[-1].json
    assert (sent["temperature"], sent["max_tokens"]) == (0.2, 50)


@pytest.mark.parametrize("provider", ["openai", "openai_compatible"])
async def test_http_stream_round_trip(fresh, provider):
    sse = pytest.importorskip("agentflow.sse")
    dialect = agentflow_openai.DIALECTS[provider]
    fresh.script(provider, Reply(text="one two three four"))
    state = StreamState(provider=provider, model="m")
    chunks = []
    request = chat(stream=True)
    async with httpx.AsyncClient() as client:
        http = _codec.build_request(dialect, request, over_http(fresh, provider))
        async with client.stream(http.method, http.url, headers=http.headers,
                                 content=http.content) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            decoder = sse.SSEDecoder()
            async for data in response.aiter_bytes():
                for event in decoder.feed(data):
                    chunks.extend(_codec.parse_stream_event(dialect, event, state))
    assert "".join(c.content for c in chunks) == "one two three four"
    final = chunks[-1]
    assert final.is_final
    assert final.finish_reason == "stop"
    assert final.usage is not None
    assert final.usage.completion_tokens == 4


async def test_http_missing_key_is_401(fresh):
    async with httpx.AsyncClient() as client:
        response = await client.send(_codec.build_request(OPENAI, chat(),
                                                          over_http(fresh, key=None)))
    error = _codec.map_error(OPENAI, response)
    assert isinstance(error, HttpError)
    assert error.status_code == 401
    assert "OPENAI_API_KEY" in error.message


async def test_http_scripted_rate_limit(fresh):
    fresh.script("openai", Reply(status=429, retry_after=3, error_message="Rate limit reached"))
    async with httpx.AsyncClient() as client:
        response = await client.send(_codec.build_request(OPENAI, chat(), over_http(fresh)))
    error = _codec.map_error(OPENAI, response)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 3.0
    assert "Rate limit reached" in error.message


async def test_the_whole_agentflow_path(fresh, monkeypatch):
    pytest.importorskip("agentflow.sse")
    from agentflow import LLMClientBuilder
    from agentflow._plugins.host import PluginHost
    from agentflow._runtime.runtime import Runtime
    from agentflow.config import Config, Defaults, ModelConfig, ProviderConfig

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN, "openai")
    config = Config(
        providers={
            "openai": ProviderConfig(base_url=fresh.base_url("openai")),
            "local": ProviderConfig(vendor="openai_compatible",
                                    base_url=fresh.base_url("openai_compatible")),
        },
        models={"llama": ModelConfig(vendor="local", model_id="llama3.2")},
        defaults=Defaults(max_retries=0),
    )
    runtime = Runtime(host=host, config=config)
    try:
        response = await LLMClientBuilder("o3", runtime=runtime).system("Be brief.").prompt(
            "hi there").temperature(0.5).max_tokens(20).execute_response()
        assert response.text == "You said: hi there"
        assert response.usage is not None
        sent = fresh.requests[-1].json
        assert sent["max_completion_tokens"] == 20
        assert "temperature" not in sent

        local = LLMClientBuilder("llama", runtime=runtime)
        stream = await local.prompt("count").execute_streaming()
        text = await stream.collect_all()
        assert text == "You said: count"
        assert stream.final_chunk is not None
        assert stream.final_chunk.usage is not None
        assert "authorization" not in {k.lower() for k in fresh.requests[-1].headers}

        fresh.script("openai", Reply(status=404, error_message="The model `gpt-4o` does not "
                                     "exist or you do not have access to it."))
        with pytest.raises(HttpError) as caught:
            await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("x").execute()
        assert caught.value.status_code == 404
        assert "has no such model" in caught.value.message
        assert caught.value.request_id
    finally:
        await runtime.aclose()


@pytest.mark.parametrize("reply", [Reply(text="alpha beta gamma", malformed=True),
                                   Reply(text="alpha beta gamma", cut_after=2)])
async def test_broken_streams_over_http(fresh, reply):
    sse = pytest.importorskip("agentflow.sse")
    fresh.script("openai", reply)
    state = StreamState(provider="openai", model="m")
    received, errors = [], []
    async with httpx.AsyncClient() as client:
        http = _codec.build_request(OPENAI, chat(stream=True), over_http(fresh))
        async with client.stream(http.method, http.url, headers=http.headers,
                                 content=http.content) as response:
            decoder = sse.SSEDecoder()
            try:
                # Read to the end even after a bad event: leaving httpx's byte iterator early
                # leaves async generators for the garbage collector under trio.
                async for data in response.aiter_bytes():
                    for event in decoder.feed(data):
                        try:
                            received.extend(_codec.parse_stream_event(OPENAI, event, state))
                        except StreamingError as exc:
                            errors.append(exc)
            except httpx.TransportError as exc:
                errors.append(exc)
    assert errors
    if reply.malformed:  # the core stops at the error; the server sends the rest regardless
        assert isinstance(errors[0], StreamingError)
        assert "not JSON" in errors[0].message
    else:
        assert not any(chunk.is_final for chunk in received)


async def test_scripted_error_inside_the_stream():
    response = await send(chat(stream=True), reply=Reply(
        text="one two three", error_after=2, error_type="server_error",
        error_message="The server had an error while processing your request."))
    assert isinstance(response, FakeStream)
    assert "[DONE]" not in response.events
    assert json.loads(response.events[-1])["error"]["type"] == "server_error"
    state = StreamState(provider="openai", model="gpt-4o")
    *content, failure = response.events
    chunks = [chunk for data in content
              for chunk in _codec.parse_stream_event(OPENAI, Event(data=data), state)]
    with pytest.raises(HttpError, match="while processing") as caught:
        _codec.parse_stream_event(OPENAI, Event(data=failure), state)
    assert [c.content for c in chunks] == ["one", " two"]
    assert caught.value.status_code == 500


async def test_a_narrower_temperature_range_is_enforced():
    fake = chat_completions_fake("narrow", require_key=False, temperature_range=(0.0, 1.0))
    route = next(r.handler for r in fake.routes if r.path == "/chat/completions")
    http = _codec.build_request(COMPATIBLE, chat(temperature=1.5),
                                settings("openai_compatible", key=None))
    response = await route(call_of(http, "narrow"))
    assert isinstance(response, FakeJSON)
    assert response.status == 400
    assert "Expected a value <= 1" in response.body["error"]["message"]
