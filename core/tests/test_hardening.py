"""Regression tests of issue 15: what a misbehaving server can do to a call, over loopback HTTP
against :class:`agentflow.testing.hostile.HostileServer`, under asyncio and trio."""

from __future__ import annotations

import json

import anyio
import pytest
from echo_vendor import EchoVendor

from agentflow import (
    HttpError,
    LLMClientBuilder,
    LLMError,
    LLMTimeoutError,
    MetricsCollector,
    RateLimitError,
)
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import (
    CircuitBreakerConfig,
    Config,
    Defaults,
    ModelConfig,
    ProviderConfig,
    RateLimitConfig,
)
from agentflow.testing.hostile import Behaviour, HostileServer, fixed_answer

pytestmark = pytest.mark.anyio
cut_short = pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")


@pytest.fixture(scope="module")
def hostile():
    with HostileServer() as server:
        yield server


def make_runtime(base_url: str, *, defaults: Defaults | None = None, **provider) -> Runtime:
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=base_url, **provider)},
        defaults=defaults or Defaults(max_retries=0)))


@pytest.fixture
async def runtime(hostile, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    runtime = make_runtime(hostile.base_url,
                           rate_limit=RateLimitConfig(max_concurrent=1))
    yield runtime
    await runtime.aclose()


class Events:
    """A collector that keeps every event type it hears."""

    wants_chunk_events = False

    def __init__(self) -> None:
        self.types: list[str] = []
        self.events: list = []

    def record_event(self, event) -> None:
        self.types.append(event.event_type)
        self.events.append(event)

    @property
    def ends(self) -> list[str]:
        return [t for t in self.types if t in ("llm.request.complete", "llm.stream.complete",
                                               "llm.request.error")]


def in_flight(runtime: Runtime) -> int:
    return sum(limiter.in_flight for limiter in runtime.limits._limiters.values())


def ask(runtime: Runtime, events: Events | None = None) -> LLMClientBuilder:
    builder = LLMClientBuilder("echo-1", runtime=runtime).prompt("hi")
    return builder.with_metrics(events) if events is not None else builder


# 1: a stalled stream under the default limits -----------------------------------------------


@cut_short
async def test_a_stalled_stream_is_a_total_timeout_and_releases_everything(runtime, hostile):
    hostile.serve("stall_after_headers")
    events = Events()
    stream = await ask(runtime, events).timeout(0.3).execute_streaming()
    with pytest.raises(LLMTimeoutError) as caught:
        async for _ in stream:  # no `async with`: the error alone must release everything
            pass
    assert caught.value.timeout_kind == "total"
    assert "timeout_seconds" in str(caught.value)
    assert in_flight(runtime) == 0
    assert events.ends == ["llm.request.error"]


# 12: exactly one end event per call, cancellation included --------------------------------


async def test_a_cancelled_call_ends_once_as_cancelled(runtime, hostile):
    hostile.serve("stall_before_headers")
    events = Events()
    collector = MetricsCollector()
    with anyio.move_on_after(0.2):
        await ask(runtime, events).with_metrics(collector).execute()
    assert events.ends == ["llm.request.complete"]
    assert events.events[-1].metadata["finish_reason"] == "cancelled"
    assert collector.get_metrics_by_prefix("llm.")["llm.requests.in_flight"] == 0
    assert in_flight(runtime) == 0


async def test_a_stream_cancelled_before_its_headers_ends_once_as_cancelled(runtime, hostile):
    hostile.serve("stall_before_headers")
    events = Events()
    with anyio.move_on_after(0.2):
        await ask(runtime, events).execute_streaming()
    assert events.ends == ["llm.stream.complete"]
    assert events.events[-1].metadata["finish_reason"] == "cancelled"
    assert in_flight(runtime) == 0


@cut_short
async def test_a_stream_closed_after_an_error_still_ends_once(runtime, hostile):
    hostile.serve("cut_mid_body")
    events = Events()
    stream = await ask(runtime, events).execute_streaming()
    with pytest.raises(LLMError):
        await stream.collect_all()
    await stream.aclose()
    assert events.ends == ["llm.request.error"]


def echo_answer(text: str = "fine") -> Behaviour:
    body = json.dumps({"text": text, "model": "echo-1", "finish": "stop", "usage": [1, 1]})
    return fixed_answer(body.encode())


# 2: a probe that dies in the rate limiter gives its turn back ------------------------------


@cut_short
async def test_a_probe_cancelled_in_the_limiter_does_not_hold_the_circuit(hostile, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host, config=Config(
        models={"queued": ModelConfig(vendor="echo", model_id="echo-1",
                                      rate_limit=RateLimitConfig(max_concurrent=1)),
                "free": ModelConfig(vendor="echo", model_id="echo-1")},
        providers={"echo": ProviderConfig(
            base_url=hostile.base_url,
            circuit_breaker=CircuitBreakerConfig(failure_threshold=1, cooldown_seconds=0.05))},
        defaults=Defaults(max_retries=0)))
    try:
        hostile.serve("stall_after_headers")
        holder = await LLMClientBuilder("queued", runtime=runtime).prompt("hi").execute_streaming()
        hostile.serve(fixed_answer(b'{"error": "down"}', status="500 Internal Server Error"))
        with pytest.raises(HttpError):
            await LLMClientBuilder("free", runtime=runtime).prompt("hi").execute()
        await anyio.sleep(0.1)  # past the cool-down: the next call is the probe
        with pytest.raises(LLMTimeoutError):  # ... and it waits in the model's limiter
            await LLMClientBuilder("queued", runtime=runtime).prompt("hi").timeout(0.2).execute()
        await holder.aclose()
        hostile.serve(echo_answer("healthy again"))
        assert await LLMClientBuilder("free", runtime=runtime).prompt("hi").execute() == (
            "healthy again")
    finally:
        await runtime.aclose()


# 3: a 429's pause is bounded, and a call that never left the queue says so ------------------


async def test_an_absurd_retry_after_pauses_the_provider_no_longer_than_the_max_delay(
        hostile, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    runtime = make_runtime(hostile.base_url, defaults=Defaults(
        max_retries=0, max_retry_delay_ms=100))
    try:
        hostile.serve("retry_after_huge")
        with pytest.raises(RateLimitError) as caught:
            await ask(runtime).execute()
        assert caught.value.retry_after == 99999
        hostile.serve(echo_answer("not paused for a day"))
        assert await ask(runtime).timeout(5).execute() == "not paused for a day"
    finally:
        await runtime.aclose()


@cut_short
async def test_a_call_that_times_out_in_the_queue_says_it_was_never_sent(runtime, hostile):
    hostile.serve("stall_after_headers")
    async with await ask(runtime).execute_streaming():  # holds the only slot
        with pytest.raises(LLMTimeoutError) as caught:
            await ask(runtime).timeout(0.2).execute()
    message = str(caught.value)
    assert "never sent" in message
    assert "max_concurrent" in message
    assert "just slow" not in message
    assert in_flight(runtime) == 0
