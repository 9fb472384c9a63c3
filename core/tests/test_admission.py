"""Rate limits and circuit breakers on the real request path, over loopback HTTP."""

from __future__ import annotations

import gc
import sys

import anyio
import pytest
from echo_vendor import EchoVendor
from virtual import Exchanges, InProcessFake, virtual_time

from agentflow import CircuitOpenError, HttpError, LLMClientBuilder, RateLimitError
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
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio
cut_short = pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")


@pytest.fixture
async def make_runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    made = []

    def make(rate_limit=None, breaker=None, models=None, backup=False, retries=0,
             transport=None, fake=None, timeout_seconds=60.0):
        host = PluginHost(entry_points=False)
        host.register(EchoVendor())
        url = (fake or server).base_url("echo")
        providers = {"echo": ProviderConfig(base_url=url, rate_limit=rate_limit,
                                            circuit_breaker=breaker)}
        if backup:
            providers["backup"] = ProviderConfig(vendor="echo", base_url=url)
        runtime = Runtime(host=host, config=Config(
            providers=providers, models=models or {},
            defaults=Defaults(max_retries=retries, retry_delay_ms=1,
                              timeout_seconds=timeout_seconds)),
            transport=fake.transport if fake is not None else transport)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.aclose()


class Events:
    def __init__(self):
        self.seen = []

    def record_event(self, event):
        self.seen.append(event)

    def types(self):
        return [event.event_type for event in self.seen]


def ask(runtime, model="echo-1", prompt="hi"):
    return LLMClientBuilder(model, runtime=runtime).prompt(prompt)


def limiter_of(runtime, model="echo-1"):
    return runtime.limits.provider_limiter(runtime.resolve(model))


# --- circuit breaker -----------------------------------------------------------------------------


async def test_the_circuit_opens_fails_fast_probes_and_closes(make_runtime, server):
    runtime = make_runtime(breaker=CircuitBreakerConfig(failure_threshold=2,
                                                        cooldown_seconds=0.3))
    events = Events()
    runtime.collectors.append(events)
    server.script("echo", Reply(status=503), Reply(status=502), Reply(text="probe ok"))
    for _ in range(2):
        with pytest.raises(HttpError):
            await ask(runtime).execute()
    with pytest.raises(CircuitOpenError, match="failed 2 times in a row") as caught:
        await ask(runtime).execute()
    assert caught.value.model == "echo-1"
    assert len(server.requests) == 2  # the third never left the process
    await anyio.sleep(0.3)
    assert await ask(runtime).execute() == "probe ok"
    assert [t for t in events.types() if t.startswith("llm.circuit")] == [
        "llm.circuit.open", "llm.circuit.half_open", "llm.circuit.closed"]
    settings = runtime.resolve("echo-1")  # events name the endpoint the circuit belongs to
    assert {e.metadata["endpoint"] for e in events.seen
            if e.event_type.startswith("llm.circuit")} == {
        f"{settings.model_id} at {settings.base_url}"}


async def test_client_errors_and_429_do_not_open_the_circuit(make_runtime, server):
    runtime = make_runtime(breaker=CircuitBreakerConfig(failure_threshold=2))
    server.script("echo", Reply(status=400), Reply(status=404), Reply(status=429),
                  Reply(text="still open for business"))
    for _ in range(3):
        with pytest.raises(HttpError):
            await ask(runtime).execute()
    assert await ask(runtime).execute() == "still open for business"


async def test_an_open_circuit_sends_the_call_to_the_fallback(make_runtime, server):
    runtime = make_runtime(
        breaker=CircuitBreakerConfig(failure_threshold=1, cooldown_seconds=60), backup=True,
        models={"main": ModelConfig(vendor="echo", model_id="main-1", fallbacks=("spare",)),
                "spare": ModelConfig(vendor="backup", model_id="spare-1")})
    server.script("echo", Reply(status=500), Reply(text="from the spare"),
                  Reply(text="from the spare again"))
    assert await ask(runtime, "main").execute() == "from the spare"
    assert await ask(runtime, "main").execute() == "from the spare again"
    assert [r.json["model"] for r in server.requests] == ["main-1", "spare-1", "spare-1"]


async def test_the_breaker_can_be_turned_off(make_runtime, server):
    runtime = make_runtime(breaker=CircuitBreakerConfig(enabled=False))
    server.script("echo", *[Reply(status=503)] * 8)
    for _ in range(8):
        with pytest.raises(HttpError):
            await ask(runtime).execute()
    assert len(server.requests) == 8


# --- rate limits ---------------------------------------------------------------------------------


def in_process():
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return InProcessFake(host)


@virtual_time()
async def test_requests_per_minute_wait_instead_of_failing(make_runtime):
    # Virtual time: the 120 calls take none, so the bucket is empty for the 121st, however
    # slow the machine (on a real clock they refilled it while they ran).
    fake = in_process()
    runtime = make_runtime(rate_limit=RateLimitConfig(requests_per_minute=120), fake=fake)
    events = Events()
    for _ in range(120):
        await ask(runtime).execute()
    started = anyio.current_time()
    await ask(runtime).with_metrics(events).execute()
    assert anyio.current_time() - started == pytest.approx(0.5)  # 120 a minute: one per 0.5 s
    waits = [e for e in events.seen if e.event_type == "llm.ratelimit.wait"]
    assert [wait.metadata["waited_ms"] for wait in waits] == [500]
    assert len(fake.requests) == 121


async def test_max_concurrent_holds_over_http(make_runtime, server):
    exchanges = Exchanges()
    runtime = make_runtime(rate_limit=RateLimitConfig(max_concurrent=5),
                           transport=exchanges.transport)
    # The first five answers wait long enough for the test to see all five held at once.
    server.script("echo", *[Reply(text="ok", delay=30)] * 5)
    limiter = limiter_of(runtime)
    async with anyio.create_task_group() as calls:
        for _ in range(60):
            calls.start_soon(ask(runtime).execute)
        await server.wait_for_requests(5)
        await anyio.wait_all_tasks_blocked()
        assert (limiter.in_flight, exchanges.open, len(server.requests)) == (5, 5, 5)
        calls.cancel_scope.cancel()
    assert exchanges.peak == 5  # never a sixth exchange, whatever the order of events
    assert limiter.in_flight == 0
    server.clear()
    async with anyio.create_task_group() as calls:
        for _ in range(55):
            calls.start_soon(ask(runtime).execute)
    assert exchanges.peak == 5
    assert (limiter.in_flight, exchanges.open, len(server.requests)) == (0, 0, 55)


async def test_a_model_limit_applies_on_top_of_its_providers(make_runtime, server):
    exchanges = Exchanges()
    runtime = make_runtime(models={"solo": ModelConfig(
        vendor="echo", rate_limit=RateLimitConfig(max_concurrent=1))},
        transport=exchanges.transport)
    server.script("echo", *[Reply(text="ok", delay=0.05)] * 4)
    async with anyio.create_task_group() as calls:
        for _ in range(4):
            calls.start_soon(ask(runtime, "solo").execute)
    assert (exchanges.peak, exchanges.sent) == (1, 4)  # one at a time


@virtual_time()
async def test_a_vendor_429_slows_every_caller_down(make_runtime):
    fake = in_process()
    runtime = make_runtime(fake=fake)
    fake.script("echo", Reply(status=429, retry_after=0.3), Reply(text="later"))
    with pytest.raises(RateLimitError):
        await ask(runtime).execute()
    started = anyio.current_time()
    assert await ask(runtime).execute() == "later"
    assert anyio.current_time() - started == pytest.approx(0.3)


async def test_a_cancelled_call_frees_its_slot(make_runtime, server):
    runtime = make_runtime(rate_limit=RateLimitConfig(max_concurrent=1))
    server.script("echo", Reply(text="never read", delay=30), Reply(text="next"))
    async with anyio.create_task_group() as calls:
        calls.start_soon(ask(runtime).execute)
        await server.wait_for_requests(1)  # cancelled once the server has it, not before
        calls.cancel_scope.cancel()
    assert limiter_of(runtime).in_flight == 0
    with anyio.fail_after(20):  # a hang would be the bug
        assert await ask(runtime).execute() == "next"


@cut_short
async def test_a_stream_holds_its_slot_until_it_is_closed(make_runtime, server):
    runtime = make_runtime(rate_limit=RateLimitConfig(max_concurrent=1))
    stream = await ask(runtime).execute_streaming()
    assert limiter_of(runtime).in_flight == 1
    answers = []

    async def second():
        answers.append(await ask(runtime).execute())

    async with anyio.create_task_group() as calls:
        calls.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        assert (answers, len(server.requests)) == ([], 1)  # the second call waits for the slot
        await stream.aclose()
    assert len(answers) == 1
    assert len(server.requests) == 2
    assert limiter_of(runtime).in_flight == 0


@pytest.mark.soak
async def test_2000_concurrent_calls_under_limits_complete_and_leave_nothing(make_runtime,
                                                                          server):
    # Retries as users have them: under this load the server may drop an idle keep-alive
    # connection just as it is reused, which a retry absorbs.
    exchanges = Exchanges()
    runtime = make_runtime(rate_limit=RateLimitConfig(requests_per_minute=1_000_000,
                                                      tokens_per_minute=100_000_000,
                                                      max_concurrent=100), retries=2,
                           transport=exchanges.transport,
                           # A call's total limit counts its wait for a slot, and on a busy
                           # machine the last of 2000 waits minutes: not what this checks.
                           timeout_seconds=3600)
    limiter = limiter_of(runtime)

    async def burst(count):
        answers = []

        async def one(number):
            answers.append(await ask(runtime, prompt=f"n{number}").execute())

        async with anyio.create_task_group() as calls:
            for number in range(count):
                calls.start_soon(one, number)
        server.clear()  # the fake server records every request; that is not ours to count
        return len(answers)

    assert await burst(300) == 300  # warms the pool and the caches
    gc.collect()
    objects_before, blocks_before = len(gc.get_objects()), sys.getallocatedblocks()
    assert await burst(2000) == 2000
    gc.collect()
    grown_objects = len(gc.get_objects()) - objects_before
    grown_blocks = sys.getallocatedblocks() - blocks_before
    assert limiter.in_flight == 0
    assert exchanges.open == 0  # no connection left busy
    assert exchanges.peak <= 100  # never more exchanges at once than slots
    assert grown_objects < 2000, f"{grown_objects} more live objects after the burst"
    assert grown_blocks < 20_000, f"{grown_blocks} more memory blocks after the burst"
