"""The public API with the installed OpenAI plugin, over real HTTP against its emulation."""

from __future__ import annotations

import anyio
import pytest

from agentflow import (
    AgentFlow,
    HttpError,
    LLMTimeoutError,
    MetricsCollector,
    ProviderError,
    RateLimitError,
    StreamingError,
)
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(fake_agentflow):
    return fake_agentflow.server


async def test_execute(fake_agentflow, server):
    server.script("openai", Reply(text="Hello!"))
    assert await AgentFlow.model("gpt-4o").prompt("Hi").temperature(0.7).max_tokens(100)\
        .execute() == "Hello!"
    sent = server.requests[-1].json
    assert (sent["temperature"], sent["max_tokens"]) == (0.7, 100)
    assert server.requests[-1].headers["authorization"] == "Bearer fake-key-not-a-secret"


async def test_execute_response_per_contract(fake_agentflow, server):
    server.script("openai", Reply(text="Hi there", usage=(5, 2)))
    resp = await AgentFlow.model("gpt-4o").system("Be brief").prompt("Hi").execute_response()
    assert resp.text == "Hi there"
    assert resp.model.startswith("gpt-4o")
    assert resp.finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (5, 2)
    assert resp.request_id
    assert server.requests[-1].json["messages"][0] == {"role": "system", "content": "Be brief"}


async def test_reasoning_model_sends_max_completion_tokens(fake_agentflow, server):
    await AgentFlow.model("o3").prompt("Hi").max_tokens(50).execute()
    sent = server.requests[-1].json
    assert sent["max_completion_tokens"] == 50
    assert "max_tokens" not in sent


async def test_streaming_per_contract(fake_agentflow, server):
    server.script("openai", Reply(text="Once upon a time", usage=(3, 4)))
    stream = await AgentFlow.model("gpt-4o").prompt("Story").execute_streaming()
    pieces = []
    async for chunk in stream:
        pieces.append(chunk)
    assert "".join(c.content for c in pieces) == "Once upon a time"
    final = pieces[-1]
    assert final.is_final
    assert final.finish_reason == "stop"
    assert final.usage.completion_tokens == 4
    sent = server.requests[-1].json
    assert sent["stream_options"] == {"include_usage": True}


async def test_streaming_equals_plain_text(fake_agentflow, server):
    plain = await AgentFlow.model("gpt-4o").prompt("same words here").execute()
    stream = await AgentFlow.model("gpt-4o").prompt("same words here").execute_streaming()
    assert await stream.collect_all() == plain


@pytest.mark.parametrize(("status", "error_class"), [
    (400, HttpError), (401, HttpError), (403, HttpError), (404, HttpError),
    (422, HttpError), (429, RateLimitError), (500, HttpError), (503, HttpError),
])
async def test_every_status_maps_to_its_class(fake_agentflow, server, status, error_class):
    server.script("openai", *[Reply(status=status, error_message="vendor words",
                                    retry_after=0)] * 3)
    with pytest.raises(error_class) as caught:
        await AgentFlow.model("gpt-4o").prompt("Hi").execute()
    error = caught.value
    assert error.status_code == status
    assert "vendor words" in str(error)
    assert error.provider == "openai"
    assert error.model == "gpt-4o"
    assert "fake-key-not-a-secret" not in f"{error!s}{error!r}{vars(error)}"


async def test_quota_exhausted_is_not_retried(fake_agentflow, server):
    server.script("openai", Reply(status=429, error_type="insufficient_quota",
                                  error_message="You exceeded your current quota"))
    with pytest.raises(RateLimitError, match="quota"):
        await AgentFlow.model("gpt-4o").prompt("Hi").execute()
    assert len(server.requests) == 1


@pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")
async def test_cut_stream_raises_with_partial_text(fake_agentflow, server):
    server.script("openai", Reply(text="one two three four five", cut_after=3))
    stream = await AgentFlow.model("gpt-4o").prompt("Hi").execute_streaming()
    with pytest.raises(StreamingError) as caught:
        await stream.collect_all()
    assert caught.value.partial_text == "one two"


async def test_malformed_body_is_a_provider_error(fake_agentflow, server):
    server.script("openai", Reply(malformed=True))
    with pytest.raises(ProviderError):
        await AgentFlow.model("gpt-4o").prompt("Hi").execute()


async def test_slow_server_times_out(fake_agentflow, server):
    server.script("openai", Reply(delay=3))
    with pytest.raises(LLMTimeoutError):
        await AgentFlow.model("gpt-4o").prompt("Hi").timeout(0.2).execute()


async def test_two_hundred_concurrent_requests(fake_agentflow):
    metrics = MetricsCollector()
    answers: dict[int, str] = {}

    async def one(i: int) -> None:
        answers[i] = await AgentFlow.model("gpt-4o").prompt(f"q{i}").with_metrics(metrics)\
            .execute()

    async with anyio.create_task_group() as group:
        for i in range(200):
            group.start_soon(one, i)
    assert answers == {i: f"You said: q{i}" for i in range(200)}
    assert metrics.snapshot()["llm.requests.success"] == 200


async def test_available_models_include_the_catalog(fake_agentflow):
    names = await AgentFlow.available_models()
    assert {"gpt-4o", "gpt-4o-mini", "o3", "acme-large"} <= set(names)
