"""Bad answers over loopback HTTP: each is a clear error, never a crash or a hang."""

from __future__ import annotations

import pytest
from echo_vendor import EchoVendor
from raw_server import RawServer, send_chunked

import agentflow._call.client
import agentflow.sse
from agentflow import LLMClientBuilder, ProviderError, StreamingError
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio
cut_short = pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")


def runtime_for(base_url):
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=base_url)},
        defaults=Defaults(max_retries=2, retry_delay_ms=1)))


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    runtime = runtime_for(server.base_url("echo"))
    yield runtime
    await runtime.aclose()


def ask(runtime):
    return LLMClientBuilder("echo-1", runtime=runtime).prompt("hi")


async def test_malformed_json_is_a_provider_error_and_not_retried(runtime, server):
    server.script("echo", Reply(malformed=True), Reply(text="never"))
    with pytest.raises(ProviderError, match="not understood"):
        await ask(runtime).execute()
    assert len(server.requests) == 1


@cut_short
async def test_a_truncated_body_is_a_provider_error(runtime, server):
    server.script("echo", Reply(text="a b c d e f", cut_after=1))
    with pytest.raises(ProviderError) as caught:
        await ask(runtime).execute()
    assert "before the answer was complete" in str(caught.value)


async def test_an_oversized_answer_is_refused_unread(runtime, server, monkeypatch):
    monkeypatch.setattr(agentflow._call.client, "MAX_ANSWER_BYTES", 1000)
    server.script("echo", Reply(text="word " * 500), Reply(text="never"))
    with pytest.raises(ProviderError, match="larger than") as caught:
        await ask(runtime).execute()
    assert caught.value.retryable is False
    assert len(server.requests) == 1
    server.clear()
    server.script("echo", Reply(text="short"))
    assert await ask(runtime).execute() == "short"  # the connection was not left half-read


@cut_short
async def test_an_event_that_never_ends_stops_the_stream(runtime, server, monkeypatch):
    monkeypatch.setattr(agentflow.sse, "MAX_EVENT_SIZE", 200)
    server.script("echo", Reply(text="small " + "x" * 400))
    stream = await ask(runtime).execute_streaming()
    with pytest.raises(StreamingError, match="more than 200 characters") as caught:
        await stream.collect_all()
    assert caught.value.partial_text == "small"


@cut_short
async def test_an_oversized_chunked_answer_is_refused_while_reading(monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    monkeypatch.setattr(agentflow._call.client, "MAX_ANSWER_BYTES", 5000)
    with RawServer(lambda conn, _, __: send_chunked(conn, 50_000)) as chunked:
        runtime = runtime_for(chunked.base_url)
        try:
            with pytest.raises(ProviderError, match="larger than"):
                await ask(runtime).execute()
        finally:
            await runtime.aclose()


async def test_a_chunked_answer_within_the_limit_is_read(monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    with RawServer(lambda conn, _, __: send_chunked(conn, 1000)) as chunked:
        runtime = runtime_for(chunked.base_url)
        try:  # a body of x's: read whole, then refused by the plugin as not JSON
            with pytest.raises(ProviderError, match="not understood"):
                await ask(runtime).execute()
        finally:
            await runtime.aclose()
