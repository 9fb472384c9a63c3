"""The request path end to end over loopback HTTP, against the echo vendor's fake routes.

Every test runs under asyncio and under trio.
"""

from __future__ import annotations

import anyio
import pytest
from echo_vendor import EchoVendor

from agentflow import (
    ExecutionEvent,
    HttpError,
    LLMClientBuilder,
    LLMTimeoutError,
    MetricsCollector,
    ProviderError,
    RateLimitError,
    StreamingError,
    ValidationError,
)
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ModelConfig, ProviderConfig
from agentflow.hookspecs import hookimpl
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio

# Closing an httpx response before its body has ended leaves httpx's and httpcore's inner async
# generators to the garbage collector; trio then closes them itself and says so with a
# ResourceWarning. The connection is released either way (the tests below check it is reused).
httpx_generators_left_to_gc = pytest.mark.filterwarnings(
    "ignore:Async generator 'http:ResourceWarning")


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    config = Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"))},
        defaults=Defaults(retry_delay_ms=1),
        models={"fast": ModelConfig(vendor="echo", model_id="echo-fast", temperature=0.3)},
    )
    runtime = Runtime(host=host, config=config)
    yield runtime
    await runtime.aclose()


def ask(runtime, model="echo-1"):
    return LLMClientBuilder(model, runtime=runtime)


async def test_execute_returns_text(runtime, server):
    server.script("echo", Reply(text="Hello there"))
    assert await ask(runtime).prompt("hi").execute() == "Hello there"


async def test_execute_response_carries_usage_finish_and_request_id(runtime):
    response = await ask(runtime).prompt("one two three").execute_response()
    assert response.text == "You said: one two three"
    assert response.model == "echo-1-2026"
    assert response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (3, 5)
    assert response.usage.total_tokens == 8
    assert response.request_id == "req-echo-1"


async def test_parameters_and_layers_reach_the_wire(runtime, server):
    await (ask(runtime, "fast").system("be brief").prompt("hi").max_tokens(7).top_p(0.5)
           .stop("END").execute())
    body = server.requests[-1].json
    assert body["model"] == "echo-fast"
    assert body["temperature"] == 0.3  # from the model's configuration
    assert (body["max_tokens"], body["top_p"], body["stop"]) == (7, 0.5, ["END"])
    assert body["messages"] == [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "hi"}]


async def test_call_parameter_overrides_configuration(runtime, server):
    await ask(runtime, "fast").prompt("hi").temperature(1.0).execute()
    assert server.requests[-1].json["temperature"] == 1.0


async def test_vendor_temperature_range_checked_before_sending(runtime, server):
    with pytest.raises(ValidationError, match=r"outside 0\.\.1\.5, the range echo accepts"):
        await ask(runtime).prompt("hi").temperature(1.8).execute()
    assert server.requests == []


async def test_streaming_yields_chunks_then_a_final_one(runtime, server):
    server.script("echo", Reply(text="a b c d"))
    stream = await ask(runtime).prompt("hi").execute_streaming()
    chunks = [chunk async for chunk in stream]
    assert [c.content for c in chunks] == ["a", " b", " c", " d", ""]
    assert [c.is_final for c in chunks] == [False] * 4 + [True]
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == 4
    assert stream.request_id == "req-echo-stream"
    assert await stream.next_chunk() is None


async def test_collect_all_and_next_chunk(runtime, server):
    server.script("echo", Reply(text="x y z"), Reply(text="p q"))
    stream = await ask(runtime).prompt("hi").execute_streaming()
    assert await stream.collect_all() == "x y z"
    stream = await ask(runtime).prompt("hi").execute_streaming()
    first = await stream.next_chunk()
    assert first.content == "p"
    assert await stream.collect_all() == "p q"


async def test_execute_with_streaming_gathers_the_stream(runtime, server):
    server.script("echo", Reply(text="all of it"))
    assert await ask(runtime).prompt("hi").streaming().execute() == "all of it"
    assert server.requests[-1].json["stream"] is True


async def test_model_without_streaming_refuses_a_stream(runtime):
    with pytest.raises(ValidationError, match="does not support streaming"):
        await ask(runtime, "echo-nostream").prompt("hi").execute_streaming()


@httpx_generators_left_to_gc
async def test_stream_cut_midway_keeps_partial_text(runtime, server):
    server.script("echo", Reply(text="one two three four", cut_after=2))
    stream = await ask(runtime).prompt("hi").execute_streaming()
    with pytest.raises(StreamingError) as caught:
        async for _ in stream:
            pass
    assert caught.value.partial_text == "one two"
    assert "kept in .partial_text" in str(caught.value)
    assert caught.value.provider == "echo"
    assert caught.value.model == "echo-1"


@httpx_generators_left_to_gc
async def test_malformed_stream_event_is_a_streaming_error(runtime, server):
    server.script("echo", Reply(text="x y", malformed=True))
    stream = await ask(runtime).prompt("hi").execute_streaming()
    with pytest.raises(StreamingError, match="not JSON"):
        await stream.collect_all()


async def test_malformed_json_body_is_a_provider_error(runtime, server):
    server.script("echo", Reply(text="x", malformed=True))
    with pytest.raises(ProviderError, match="not understood") as caught:
        await ask(runtime).prompt("hi").execute()
    assert caught.value.request_id == "req-echo-1"


async def test_http_error_mapped_by_the_plugin_without_retry(runtime, server):
    server.script("echo", Reply(status=400, error_message="bad request shape"))
    with pytest.raises(HttpError) as caught:
        await ask(runtime).prompt("hi").execute()
    error = caught.value
    assert (error.status_code, error.vendor_message) == (400, "bad request shape")
    assert (error.provider, error.model) == ("echo", "echo-1")
    assert len(server.requests) == 1


async def test_retry_after_is_honoured_then_success(runtime, server):
    server.script("echo", Reply(status=429, retry_after=0.05), Reply(text="finally"))
    metrics = MetricsCollector()
    assert await ask(runtime).prompt("hi").with_metrics(metrics).execute() == "finally"
    # How long it waited is test_retry.py's test_retry_after_is_waited_for, on virtual time.
    assert len(server.requests) == 2
    assert metrics.snapshot()["llm.retries"] == 1


async def test_retries_exhausted_lists_every_attempt(runtime, server):
    server.script("echo", *[Reply(status=503)] * 3)
    with pytest.raises(HttpError) as caught:
        await ask(runtime).prompt("hi").execute()
    assert caught.value.attempts == ("503", "503", "503")
    assert "[3 attempts: 503, 503, 503]" in str(caught.value)


async def test_rate_limit_error_when_advised_wait_is_too_long(runtime, server):
    server.script("echo", Reply(status=429, retry_after=3600))
    with pytest.raises(RateLimitError) as caught:
        await ask(runtime).prompt("hi").execute()
    assert caught.value.retry_after == 3600
    assert len(server.requests) == 1


async def test_slow_server_hits_the_total_timeout(runtime, server):
    server.script("echo", Reply(delay=2.0))
    with pytest.raises(LLMTimeoutError) as caught:
        await ask(runtime).prompt("hi").timeout(0.2).execute()
    assert caught.value.timeout_kind == "total"
    assert isinstance(caught.value, TimeoutError)


async def test_unreachable_provider_is_a_provider_error(runtime, monkeypatch):
    config = Config(providers={"echo": ProviderConfig(base_url="http://127.0.0.1:9/v1")},
                    defaults=Defaults(retry_delay_ms=1))
    runtime.set_config(config)
    with pytest.raises(ProviderError, match="could not connect to echo"):
        await ask(runtime).prompt("hi").execute()


async def test_two_hundred_concurrent_requests_share_one_pool(runtime, server):
    results = []

    async def one(i):
        results.append(await ask(runtime).prompt(f"n{i}").execute())

    async with anyio.create_task_group() as group:
        for i in range(200):
            group.start_soon(one, i)
    assert sorted(results) == sorted(f"You said: n{i}" for i in range(200))
    assert len(runtime.pools) == 1


async def test_events_reach_collectors_and_exporter_plugins(runtime):
    seen: list[ExecutionEvent] = []

    class Exporter:
        @hookimpl
        def agentflow_record_event(self, event):
            seen.append(event)

    runtime.host.register(Exporter())
    metrics = MetricsCollector()
    await ask(runtime).prompt("hi").with_metrics(metrics).execute()
    assert [e.event_type for e in seen] == ["audit.key.access", "llm.request.start",
                                            "llm.request.complete"]
    assert seen[0].metadata["variable"] == "ECHO_API_KEY"
    assert seen[2].node_id == "llm.echo-1"
    assert seen[2].metadata["prompt_tokens"] == 1
    assert "test-key" not in repr(seen)
    assert metrics.snapshot()["llm.requests.success"] == 1


async def test_failing_exporter_never_breaks_a_request(runtime, caplog):
    class Broken:
        @hookimpl
        def agentflow_record_event(self, event):
            raise RuntimeError("exporter down")

    runtime.host.register(Broken())
    assert await ask(runtime).prompt("a").execute() == "You said: a"
    assert await ask(runtime).prompt("b").execute() == "You said: b"
    assert caplog.text.count("metrics exporter plugin") == 1


@httpx_generators_left_to_gc
async def test_breaking_out_of_a_stream_releases_the_connection(runtime, server):
    server.script("echo", Reply(text="w " * 50, chunk_delay=0.01))
    stream = await ask(runtime).prompt("hi").execute_streaming()
    async with stream:
        async for _chunk in stream:
            break
    # The pooled connection is usable again at once.
    assert await ask(runtime).prompt("again").execute() == "You said: again"


async def test_no_key_in_any_error(runtime, server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "sk-secret-value-123")
    server.script("echo", Reply(status=500, error_message="internal"))
    with pytest.raises(HttpError) as caught:
        await ask(runtime).prompt("hi").execute()
    assert "sk-secret" not in f"{caught.value!s}{caught.value!r}{vars(caught.value)}"


# The script below never closes its pools, so Python reports their sockets as unclosed when the
# forgotten pools are collected: that is the point of the test, not a leak of the test's own.
@pytest.mark.filterwarnings("ignore:unclosed:ResourceWarning")
def test_pools_of_closed_event_loops_are_forgotten(server, monkeypatch):
    import asyncio
    import gc

    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"))}))

    async def once():
        return await ask(runtime).prompt("hi").execute()

    for _ in range(3):  # a script calling asyncio.run again and again, never closing
        assert asyncio.run(once()) == "You said: hi"
    assert len(runtime.pools) == 1
    runtime = None
    gc.collect()  # collect the last pool here, where its warnings are expected
