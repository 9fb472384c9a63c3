"""The Acme plugin, tested the way the tutorial shows: through agentflow's public API, over real
HTTP against the fake provider server (the ``fake_agentflow`` fixture comes with
agentflow-core[testing])."""

import pytest

from agentflow import AgentFlow, HttpError, RateLimitError, StreamingError, ValidationError
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio


async def test_answer_text_usage_and_finish_reason(fake_agentflow):
    fake_agentflow.server.script("acme", Reply(text="Hello from Acme"))
    response = await AgentFlow.model("acme-large").prompt("hi").execute_response()
    assert response.text == "Hello from Acme"
    assert response.finish_reason == "stop"
    assert response.usage.completion_tokens == 3


async def test_parameters_reach_the_wire(fake_agentflow):
    await (AgentFlow.model("acme-large").system("be brief").prompt("hi")
           .temperature(0.5).max_tokens(20).execute())
    sent = fake_agentflow.server.requests[-1].json
    assert sent["model"] == "acme-large-2026-01"
    assert sent["input"] == [{"role": "system", "text": "be brief"},
                             {"role": "user", "text": "hi"}]
    assert (sent["temperature"], sent["max_tokens"]) == (0.5, 20)


async def test_acme_temperature_limit_is_checked_before_sending(fake_agentflow):
    with pytest.raises(ValidationError):
        await AgentFlow.model("acme-large").prompt("hi").temperature(1.5).execute()
    assert fake_agentflow.server.requests == []


async def test_streaming_matches_the_plain_answer(fake_agentflow):
    fake_agentflow.server.script("acme", Reply(text="one two three"),
                                 Reply(text="one two three"))
    plain = await AgentFlow.model("acme-large").prompt("hi").execute()
    stream = await AgentFlow.model("acme-large").prompt("hi").execute_streaming()
    chunks = [chunk async for chunk in stream]
    assert "".join(c.content for c in chunks) == plain
    assert chunks[-1].is_final
    assert chunks[-1].finish_reason == "stop"


async def test_errors_keep_acme_words(fake_agentflow):
    fake_agentflow.server.script("acme", Reply(status=403, error_message="plan too small"))
    with pytest.raises(HttpError, match="plan too small") as caught:
        await AgentFlow.model("acme-large").prompt("hi").execute()
    assert caught.value.status_code == 403


async def test_rate_limit_carries_retry_after(fake_agentflow):
    fake_agentflow.server.script("acme", Reply(status=429, retry_after=3600))
    with pytest.raises(RateLimitError) as caught:
        await AgentFlow.model("acme-large").prompt("hi").execute()
    assert caught.value.retry_after == 3600


async def test_cut_stream_keeps_partial_text(fake_agentflow):
    fake_agentflow.server.script("acme", Reply(text="a b c d", cut_after=2))
    stream = await AgentFlow.model("acme-large").prompt("hi").execute_streaming()
    with pytest.raises(StreamingError) as caught:
        await stream.collect_all()
    assert caught.value.partial_text == "a b"
