"""Fallbacks over loopback HTTP: which failures move on to the next model, and what is told."""

from __future__ import annotations

import pytest
from echo_vendor import EchoVendor

from agentflow import (
    ExecutionEvent,
    HttpError,
    LLMClientBuilder,
    LLMTimeoutError,
    MissingApiKeyError,
)
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ModelConfig, ProviderConfig
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    server.clear()
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    url = server.base_url("echo")
    runtime = Runtime(host=host, config=Config(
        providers={
            "east": ProviderConfig(vendor="echo", base_url=url),
            "west": ProviderConfig(vendor="echo", base_url=url),
            "keyless": ProviderConfig(vendor="echo", base_url=url, api_key_env="NO_SUCH_KEY"),
        },
        models={
            "main": ModelConfig(vendor="east", model_id="main-1",
                                fallbacks=("backup", "spare")),
            "backup": ModelConfig(vendor="west", model_id="backup-1", fallbacks=("spare",)),
            "spare": ModelConfig(vendor="west", model_id="spare-1"),
            "locked": ModelConfig(vendor="keyless", model_id="locked-1"),
            "guarded": ModelConfig(vendor="east", model_id="guarded-1",
                                   fallbacks=("locked", "spare")),
        },
        defaults=Defaults(max_retries=1, retry_delay_ms=1)))
    yield runtime
    await runtime.aclose()


class Events:
    def __init__(self):
        self.seen: list[ExecutionEvent] = []

    def record_event(self, event):
        self.seen.append(event)

    def hops(self):
        return [(e.metadata["from_model"], e.metadata["to_model"]) for e in self.seen
                if e.event_type == "llm.fallback"]


def ask(runtime, model="main"):
    return LLMClientBuilder(model, runtime=runtime).prompt("hi")


def models_asked(server):
    return [request.json["model"] for request in server.requests]


async def test_the_next_model_answers_after_a_transient_failure(runtime, server):
    server.script("echo", Reply(status=503), Reply(status=503), Reply(text="from backup"))
    events = Events()
    response = await ask(runtime).with_metrics(events).execute_response()
    assert response.text == "from backup"
    assert response.model == "backup-1"
    assert models_asked(server) == ["main-1", "main-1", "backup-1"]
    assert events.hops() == [("main", "backup")]


async def test_a_client_error_is_not_a_reason_to_fall_back(runtime, server):
    server.script("echo", Reply(status=400, error_message="bad parameter"))
    with pytest.raises(HttpError) as caught:
        await ask(runtime).execute()
    assert caught.value.status_code == 400
    assert models_asked(server) == ["main-1"]


async def test_the_whole_chain_failing_says_what_each_model_did(runtime, server):
    server.script("echo", *[Reply(status=503)] * 6)
    with pytest.raises(HttpError) as caught:
        await ask(runtime).execute()
    assert models_asked(server) == ["main-1"] * 2 + ["backup-1"] * 2 + ["spare-1"] * 2
    assert ("[models tried: main: HttpError 503; backup: HttpError 503; "
            "spare: HttpError 503]") in str(caught.value)


async def test_a_fallbacks_own_fallbacks_are_not_followed(runtime, server):
    server.script("echo", *[Reply(status=503)] * 4)
    with pytest.raises(HttpError):
        await ask(runtime, "backup").execute()
    assert models_asked(server) == ["backup-1"] * 2 + ["spare-1"] * 2


async def test_an_unusable_fallback_is_skipped(runtime, server):
    server.script("echo", Reply(status=502), Reply(status=502), Reply(text="spare answers"))
    events = Events()
    assert await ask(runtime, "guarded").with_metrics(events).execute() == "spare answers"
    assert models_asked(server) == ["guarded-1", "guarded-1", "spare-1"]
    assert events.hops() == [("guarded", "locked"), ("locked", "spare")]


async def test_an_unusable_last_fallback_ends_the_chain_with_its_reason(runtime, server,
                                                                         monkeypatch):
    runtime.set_config(Config(
        providers=runtime.registry.config.providers,
        models={"guarded": ModelConfig(vendor="east", model_id="g", fallbacks=("locked",)),
                "locked": ModelConfig(vendor="keyless", model_id="locked-1")},
        defaults=Defaults(max_retries=0)))
    server.script("echo", Reply(status=503))
    with pytest.raises(MissingApiKeyError, match="models tried: guarded: HttpError 503"):
        await ask(runtime, "guarded").execute()


async def test_a_timeout_falls_back(runtime, server):
    server.script("echo", Reply(delay=1.0), Reply(delay=1.0), Reply(text="in time"))
    assert await ask(runtime).timeout(5, read=0.1).execute() == "in time"


async def test_a_stream_falls_back_before_it_starts(runtime, server):
    server.script("echo", Reply(status=529), Reply(status=529), Reply(text="streamed backup"))
    stream = await ask(runtime).execute_streaming()
    assert await stream.collect_all() == "streamed backup"
    assert models_asked(server)[-1] == "backup-1"


async def test_a_timeout_on_every_model_is_still_a_timeout(runtime, server):
    server.script("echo", *[Reply(delay=1.0)] * 6)
    with pytest.raises(LLMTimeoutError):
        await ask(runtime).timeout(5, read=0.05).execute()
