"""The guard in real calls over loopback HTTP: what the vendor receives, what never leaves,
and which guard acts when one is also registered in code."""

from __future__ import annotations

import pytest

import agentflow_guard
import agentflow_openai
from agentflow import AgentFlow, LLMClientBuilder, MetricsCollector
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config
from agentflow.testing import FakeServer
from agentflow_guard import GUARD, PromptGuard, PromptRejectedError

pytestmark = pytest.mark.anyio
KEY = "sk-test-guard-0123456789abcdefgh"
CONFIG = """\
providers:
  openai: {{base_url: "{base_url}"}}
plugins:
  guard:
    max_prompt_chars: 200
    max_prompt_tokens: 40
    redact: [api_keys, emails, card_numbers]
    deny:
      - {{name: secrets, pattern: "internal use only", message: "internal documents stay inside"}}
"""


@pytest.fixture(scope="module")
def server():
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN)
    with FakeServer.from_plugins(host) as running:
        yield running


@pytest.fixture
async def runtime(server, monkeypatch, tmp_path):
    """The OpenAI plugin and the guard's module, as their entry points register them, with
    the guard configured in agentflow.yml."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.clear()
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN)
    host.register(agentflow_guard, name="guard")
    path = tmp_path / "agentflow.yml"
    path.write_text(CONFIG.format(base_url=server.base_url("openai")))
    runtime = Runtime(host=host)
    runtime.load_config(path)
    yield runtime
    await runtime.aclose()
    GUARD.configure(Config())  # the module's guard is the process's: leave it as found


def user_text(server):
    return [m["content"] for m in server.requests[-1].json["messages"] if m["role"] == "user"]


async def call(runtime, prompt, *, stream=False):
    builder = LLMClientBuilder("gpt-4o", runtime=runtime).prompt(prompt)
    if stream:
        return await (await builder.execute_streaming()).collect_all()
    return await builder.execute()


@pytest.mark.parametrize("stream", [False, True])
async def test_the_vendor_receives_the_redacted_prompt(runtime, server, stream):
    text = await call(runtime, f"mail bob@example.com, card 4242-4242-4242-4242, key {KEY}",
                      stream=stream)
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


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("prompt", "rule"), [
    ("this is for internal use only", "secrets"),
    ("x" * 201, "max_prompt_chars"),
    ("x " * 90, "max_prompt_tokens"),
])
async def test_refused_prompts_never_reach_the_server(runtime, server, prompt, rule, stream):
    with pytest.raises(PromptRejectedError) as caught:
        await call(runtime, prompt, stream=stream)
    assert caught.value.rule == rule
    assert prompt not in str(caught.value)
    assert server.requests == []


async def test_a_refusal_makes_no_call_events(runtime, server):
    seen = []

    class Recorder(MetricsCollector):
        def record_event(self, event):
            seen.append(event.event_type)

    with pytest.raises(PromptRejectedError):
        await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("internal use only") \
            .with_metrics(Recorder()).execute()
    assert seen == []


async def test_a_guard_registered_in_code_takes_the_installed_ones_place(runtime, server):
    with pytest.raises(PromptRejectedError):
        await call(runtime, "for internal use only")
    runtime.host.register(PromptGuard(redact=["emails"], max_prompt_chars=1000), name="mine")
    # Only the guard in code acts now: no deny rule, and a key is not its business.
    await call(runtime, f"for internal use only: ana@example.com {KEY}")
    assert user_text(server) == [f"for internal use only: [REDACTED:email] {KEY}"]
    runtime.host.unregister("mine")
    with pytest.raises(PromptRejectedError):
        await call(runtime, "for internal use only")


async def test_a_disabled_guard_in_code_leaves_the_calls_to_the_installed_one(runtime, server):
    runtime.host.register(PromptGuard(enabled=False), name="mine")
    await call(runtime, "ana@example.com")
    assert user_text(server) == ["[REDACTED:email]"]


async def test_installed_it_redacts_keys_with_no_settings_at_all(fake_agentflow):
    """Through the real entry point (the fake_agentflow fixture loads installed plugins)."""
    own_key = "fake-key-not-a-secret"  # the provider's key, in the fixture's variable
    await AgentFlow.model("gpt-4o").prompt(f"keys {KEY} and {own_key}, mail a@example.com") \
        .execute()
    sent = fake_agentflow.server.requests[-1].json["messages"][-1]["content"]
    assert sent == "keys [REDACTED:api_key] and [REDACTED:api_key], mail a@example.com"


async def test_a_message_with_an_image_has_its_text_redacted_and_its_image_kept(runtime, server):
    from agentflow.testing.conformance import PIXEL_PNG

    await LLMClientBuilder("gpt-4o", runtime=runtime).prompt(
        "mail bob@example.com about this").image(PIXEL_PNG).execute()
    (user,) = [m for m in server.requests[-1].json["messages"] if m["role"] == "user"]
    text, image = user["content"]
    assert text == {"type": "text", "text": "mail [REDACTED:email] about this"}
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
