"""The guard in real calls over loopback HTTP: what the vendor receives, what never leaves."""

from __future__ import annotations

import pytest

import agentflow_openai
from agentflow import LLMClientBuilder, MetricsCollector
from agentflow.config import Config, ProviderConfig
from agentflow.plugins import PluginHost
from agentflow.runtime import Runtime
from agentflow.testing import FakeServer
from agentflow_guard import PromptGuard, PromptRejectedError

pytestmark = pytest.mark.anyio
KEY = "sk-test-guard-0123456789abcdefgh"


@pytest.fixture(scope="module")
def server():
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai)
    with FakeServer.from_plugins(host) as running:
        yield running


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.clear()
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai)
    host.register(PromptGuard(), name="guard-under-test")
    runtime = Runtime(host=host, config=Config(
        providers={"openai": ProviderConfig(base_url=server.base_url("openai"))},
        plugins={"guard": {"redact": ["api_keys", "emails", "card_numbers"],
                           "deny": [{"name": "secrets", "pattern": "internal use only",
                                     "message": "internal documents stay inside"}],
                           "max_prompt_chars": 200}}))
    yield runtime
    await runtime.aclose()


def user_text(server):
    return [m["content"] for m in server.requests[-1].json["messages"] if m["role"] == "user"]


@pytest.mark.parametrize("stream", [False, True])
async def test_the_vendor_receives_the_redacted_prompt(runtime, server, stream):
    builder = LLMClientBuilder("gpt-4o", runtime=runtime).prompt(
        f"mail bob@example.com, card 4242-4242-4242-4242, key {KEY}")
    if stream:
        text = await (await builder.execute_streaming()).collect_all()
    else:
        text = await builder.execute()
    expected = "mail [REDACTED:email], card [REDACTED:card_number], key [REDACTED:api_key]"
    assert user_text(server) == [expected]
    assert text == f"You said: {expected}"  # the echo shows what left the process


async def test_events_see_the_redacted_prompt_too(runtime, server):
    runtime.include_text = True
    seen = []

    class Recorder(MetricsCollector):
        def record_event(self, event):
            seen.append(event)

    await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("ping ana@example.com") \
        .with_metrics(Recorder()).execute()
    start = next(e for e in seen if e.event_type == "llm.request.start")
    assert start.metadata["prompt"] == ({"role": "user", "content": "ping [REDACTED:email]"},)


@pytest.mark.parametrize(("prompt", "rule"), [
    ("this is for internal use only", "secrets"),
    ("x" * 201, "max_prompt_chars"),
])
async def test_refused_prompts_never_reach_the_server(runtime, server, prompt, rule):
    with pytest.raises(PromptRejectedError) as caught:
        await LLMClientBuilder("gpt-4o", runtime=runtime).prompt(prompt).execute()
    assert caught.value.rule == rule
    with pytest.raises(PromptRejectedError):
        await LLMClientBuilder("gpt-4o", runtime=runtime).prompt(prompt).execute_streaming()
    assert server.requests == []
