"""Regression tests of issue 15: what a misbehaving server can do to a call, over loopback HTTP
against :class:`agentflow.testing.hostile.HostileServer`, under asyncio and trio."""

from __future__ import annotations

import anyio
import pytest
from echo_vendor import EchoVendor

from agentflow import LLMClientBuilder, LLMError, LLMTimeoutError, MetricsCollector
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig, RateLimitConfig
from agentflow.testing.hostile import HostileServer

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
