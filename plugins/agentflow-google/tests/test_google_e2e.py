"""Gemini through agentflow's public API, over loopback HTTP against the emulation."""

from __future__ import annotations

import pytest

from agentflow import AgentFlow, HttpError, ProviderError, RateLimitError
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, ModelConfig, ProviderConfig
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio
# Under trio, httpx's byte iterator of a stream that failed part-way is left to the garbage
# collector (see docs/streaming.md); the connection itself is released.
TRIO_STREAM_WARNING = pytest.mark.filterwarnings(
    "ignore:Async generator 'http:ResourceWarning")
MODEL = "gemini-2.5-flash"
KEY = "fake-key-not-a-secret"  # what fake_agentflow configures


async def test_a_plain_call_and_a_stream(fake_agentflow):
    server = fake_agentflow.server
    server.script("google", Reply(text="Hello from Gemini"), Reply(text="Hello from Gemini"))
    response = await AgentFlow.model(MODEL).system("Be brief.").prompt("hi").execute_response()
    stream = await AgentFlow.model(MODEL).prompt("hi").execute_streaming()
    assert response.text == await stream.collect_all() == "Hello from Gemini"
    assert response.request_id
    assert stream.request_id
    assert stream.request_id != response.request_id
    plain, streamed = server.requests
    assert plain.path == "/google/v1beta/models/gemini-2.5-flash:generateContent"
    assert plain.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert streamed.path == "/google/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert streamed.query == {"alt": "sse"}


async def answer(builder, stream):
    """The answer's text, streamed or not."""
    if stream:
        return await (await builder.execute_streaming()).collect_all()
    return await builder.execute()


@pytest.mark.parametrize("stream", [False, True])
async def test_the_key_is_never_in_the_url(fake_agentflow, stream):
    await answer(AgentFlow.model(MODEL).prompt("hi"), stream)
    (request,) = fake_agentflow.server.requests
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in request.path
    assert "key" not in request.query
    assert not any(KEY in value for value in request.query.values())
    assert KEY.encode() not in request.body


async def test_errors_never_show_the_key(fake_agentflow):
    fake_agentflow.server.script("google", Reply(status=400, error_message="bad request"))
    with pytest.raises(HttpError) as caught:
        await AgentFlow.model(MODEL).prompt("hi").execute()
    error = caught.value
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert all(KEY not in str(value) for value in vars(error).values())


async def test_a_blocked_prompt_is_a_clear_error_not_retried(fake_agentflow):
    fake_agentflow.server.script("google", Reply(finish_reason="blocked:PROHIBITED_CONTENT"))
    with pytest.raises(ProviderError, match="blockReason=PROHIBITED_CONTENT") as caught:
        await AgentFlow.model(MODEL).prompt("something forbidden").execute()
    assert caught.value.provider == "google"
    assert caught.value.request_id
    assert len(fake_agentflow.server.requests) == 1


@TRIO_STREAM_WARNING
@pytest.mark.parametrize("stream", [False, True])
async def test_a_safety_stop_is_a_clear_error(fake_agentflow, stream):
    fake_agentflow.server.script("google", Reply(finish_reason="SAFETY"))
    with pytest.raises(ProviderError, match=r"finishReason=SAFETY; flagged: harassment"):
        await answer(AgentFlow.model(MODEL).prompt("hi"), stream)
    assert len(fake_agentflow.server.requests) == 1


@TRIO_STREAM_WARNING
async def test_an_error_inside_the_stream_keeps_the_partial_text_and_the_id(fake_agentflow):
    fake_agentflow.server.script("google", Reply(text="one two three", error_after=2))
    stream = await AgentFlow.model(MODEL).prompt("hi").execute_streaming()
    with pytest.raises(HttpError, match="in the stream") as caught:
        await stream.collect_all()
    error = caught.value
    assert (error.status_code, error.error_type, error.partial_text) == (
        503, "UNAVAILABLE", "one two")
    assert error.request_id == stream.request_id
    assert error.request_id


async def test_a_rejected_key(fake_agentflow, monkeypatch):
    monkeypatch.setenv("AGENTFLOW_FAKE_API_KEY", "not a valid key")
    with pytest.raises(HttpError, match="GOOGLE_API_KEY or GEMINI_API_KEY") as caught:
        await AgentFlow.model(MODEL).prompt("hi").execute()
    assert caught.value.status_code == 400
    assert "not a valid key" not in str(caught.value)
    assert len(fake_agentflow.server.requests) == 1


async def test_a_daily_quota_is_not_retried_but_an_overload_is(fake_agentflow):
    server = fake_agentflow.server
    server.script("google", Reply(status=429,
                                  error_type="GenerateRequestsPerDayPerProjectPerModel"))
    with pytest.raises(RateLimitError, match="daily quota"):
        await AgentFlow.model(MODEL).prompt("hi").execute()
    assert len(server.requests) == 1
    server.clear()
    server.script("google", Reply(status=503, error_message="The model is overloaded."),
                  Reply(text="second time lucky"))
    assert await AgentFlow.model(MODEL).prompt("hi").execute() == "second time lucky"
    assert len(server.requests) == 2


async def test_thinking_options_reach_the_wire_and_thoughts_count_as_completion(
        fake_agentflow):
    fake_agentflow.runtime.set_config(Config(
        providers=fake_agentflow.config.providers,
        models={"thinker": ModelConfig(vendor="google", model_id="gemini-3.8-flash",
                                       options={"thinking_level": "high"})}))
    response = await AgentFlow.model("thinker").prompt("two words").execute_response()
    sent = fake_agentflow.server.requests[-1].json
    assert sent["generationConfig"] == {"thinkingConfig": {"thinkingLevel": "high"}}
    usage = response.usage
    assert usage.reasoning_tokens == 8
    assert usage.completion_tokens == 4 + 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_an_unknown_model_is_a_404(fake_agentflow):
    fake_agentflow.runtime.set_config(Config(
        providers=fake_agentflow.config.providers,
        models={"mystery": ModelConfig(vendor="google", model_id="palm-2")}))
    with pytest.raises(HttpError, match="not found for API version v1beta") as caught:
        await AgentFlow.model("mystery").prompt("hi").execute()
    assert caught.value.status_code == 404


@pytest.mark.parametrize("variable", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
async def test_the_key_comes_from_either_variable(fake_llm_server, monkeypatch, variable):
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, f"key-in-{variable}")
    runtime = Runtime()
    runtime.set_config(Config(providers={"google": ProviderConfig(
        base_url=fake_llm_server.base_url("google"))}))
    previous = AgentFlow.use_runtime(runtime)
    try:
        assert await AgentFlow.model(MODEL).prompt("hi").execute() == "You said: hi"
    finally:
        AgentFlow.use_runtime(previous)
        await runtime.aclose()
    assert fake_llm_server.requests[-1].headers["x-goog-api-key"] == f"key-in-{variable}"


async def test_google_api_key_wins_over_gemini_api_key(fake_llm_server, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    runtime = Runtime()
    runtime.set_config(Config(providers={"google": ProviderConfig(
        base_url=fake_llm_server.base_url("google"))}))
    try:
        from agentflow import LLMClientBuilder

        await LLMClientBuilder(MODEL, runtime=runtime).prompt("hi").execute()
    finally:
        await runtime.aclose()
    assert fake_llm_server.requests[-1].headers["x-goog-api-key"] == "google-key"


def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"


@pytest.mark.parametrize("model", [MODEL, "gemini-3.8-flash"])
async def test_an_agent_loop_keeps_the_calls_signatures(fake_agentflow, model):
    from agentflow.testing import FakeToolCall

    server = fake_agentflow.server
    server.script("google", Reply(tool_calls=[FakeToolCall(name="get_weather",
                                                           arguments={"city": "Rome"})]))
    run = await AgentFlow.model(model).prompt("weather?").tools(get_weather).run_tools()
    assert run.text == "Tool results: get_weather -> sunny in Rome"
    first, second = server.requests
    sent = second.json["contents"][1]["parts"][0]
    signed = "thoughtSignature" in sent
    assert signed is (model != MODEL)
    if signed:  # the signature the emulation made (base64 "++++////..."), given back as it came
        assert sent["thoughtSignature"].startswith("++++////")
        assert sent["thoughtSignature"].endswith("==")
    assert first.json["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


async def test_an_image_url_and_a_typed_answer(fake_agentflow):
    schema = {"type": "object", "properties": {"animal": {"type": "string",
                                                          "enum": ["cat", "dog"]}}}
    response = await AgentFlow.model(MODEL).prompt("What is it?").image(
        "https://example.com/pet.webp").json_schema(schema).execute_response()
    assert response.parsed == {"animal": "cat"}
    (request,) = fake_agentflow.server.requests
    assert request.json["contents"][0]["parts"][1] == {
        "fileData": {"fileUri": "https://example.com/pet.webp", "mimeType": "image/webp"}}
    assert request.json["generationConfig"]["responseJsonSchema"] == schema
