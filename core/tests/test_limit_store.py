"""The limit-store seam: a plugin answering ``agentflow_limit_store`` gets the limits and
breakers of every call run over its store (here the in-process MemoryLimitStore, as a third
party's store would be), and the store's steps behave as the in-process limiter does."""

from __future__ import annotations

import anyio
import pytest
from echo_vendor import EchoVendor

from agentflow import CircuitOpenError, HttpError, LLMClientBuilder, RateLimitError, hookimpl
from agentflow._limits.rates import RequestLimiter
from agentflow._limits.shared import StoreBreaker, StoreLimiter
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
from agentflow.limitstore import CircuitScope, LimitScope, LimitStore, MemoryLimitStore
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio


class CountingStore(MemoryLimitStore):
    """The in-process store, counting the steps it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []

    async def admit(self, scope, tokens, lease, ttl_seconds):
        self.steps.append(f"admit {scope.key}")
        return await super().admit(scope, tokens, lease, ttl_seconds)

    async def finish(self, scope, lease, delta):
        self.steps.append(f"finish {scope.key} {delta}")
        await super().finish(scope, lease, delta)

    async def penalize(self, scope, seconds):
        self.steps.append(f"penalize {scope.key} {seconds:g}")
        await super().penalize(scope, seconds)


class StorePlugin:
    def __init__(self, store):
        self.store = store
        self.emit = None

    @hookimpl
    def agentflow_limit_store(self, config, emit):
        self.emit = emit
        return self.store if config.plugins.get("store") else None


@pytest.fixture
async def make_runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    made = []

    def make(store, *, rate_limit=None, breaker=None, models=None, use_store=True):
        host = PluginHost(entry_points=False)
        host.register(EchoVendor())
        plugin = StorePlugin(store)
        host.register(plugin)
        runtime = Runtime(host=host, config=Config(
            plugins={"store": {"on": True}} if use_store else {},
            providers={"echo": ProviderConfig(base_url=server.base_url("echo"),
                                              rate_limit=rate_limit, circuit_breaker=breaker)},
            models=models or {}, defaults=Defaults(max_retries=0)))
        made.append(runtime)
        return runtime, plugin

    yield make
    for runtime in made:
        await runtime.aclose()


def ask(runtime, model="echo-1"):
    return LLMClientBuilder(model, runtime=runtime).prompt("hi").max_tokens(5)


async def test_without_a_store_the_limits_stay_in_process(make_runtime):
    runtime, _ = make_runtime(CountingStore(), use_store=False,
                              rate_limit=RateLimitConfig(max_concurrent=2))
    assert await ask(runtime).execute() == "You said: hi"
    assert runtime.limits.store is None
    assert isinstance(runtime.limits.provider_limiter(runtime.resolve("echo-1")),
                      RequestLimiter)


async def test_calls_run_their_limits_and_breaker_over_the_store(make_runtime):
    store = CountingStore()
    runtime, _ = make_runtime(store, rate_limit=RateLimitConfig(
        requests_per_minute=600, tokens_per_minute=100_000, max_concurrent=2))
    assert isinstance(store, LimitStore)
    assert await ask(runtime).execute() == "You said: hi"
    settings = runtime.resolve("echo-1")
    assert runtime.limits.store is store
    assert isinstance(runtime.limits.provider_limiter(settings), StoreLimiter)
    assert isinstance(runtime.limits.breaker(settings), StoreBreaker)
    # one step in, one step out, the estimate settled against the usage reported
    assert [step.split(" ")[0] for step in store.steps] == ["admit", "finish"]
    assert store.steps[1].startswith("finish provider:echo -")
    assert store._leases["provider:echo"] == {}  # the slot is back


async def test_a_stream_holds_its_slot_in_the_store_until_closed(make_runtime):
    store = CountingStore()
    runtime, _ = make_runtime(store, rate_limit=RateLimitConfig(max_concurrent=1))
    stream = await ask(runtime).execute_streaming()
    assert len(store._leases["provider:echo"]) == 1
    async with stream:
        await stream.collect_all()
    assert store._leases["provider:echo"] == {}


async def test_a_model_limit_is_its_own_scope(make_runtime):
    store = CountingStore()
    runtime, _ = make_runtime(store, models={"main": ModelConfig(
        vendor="echo", model_id="main-1", rate_limit=RateLimitConfig(max_concurrent=3))})
    await ask(runtime, "main").execute()
    assert [step.split(" ")[1] for step in store.steps if step.startswith("admit")] == [
        "model:main", "provider:echo"]


async def test_a_429_pauses_the_scope_in_the_store(make_runtime, server):
    store = CountingStore()
    runtime, _ = make_runtime(store)
    server.script("echo", Reply(status=429, retry_after=30))
    with pytest.raises(RateLimitError):
        await ask(runtime).execute()
    assert "penalize provider:echo 30" in store.steps
    assert 25 < await store.reserve(LimitScope(key="provider:echo"), 0) <= 30


async def test_the_circuit_lives_in_the_store(make_runtime, server):
    store = CountingStore()
    runtime, _ = make_runtime(store, breaker=CircuitBreakerConfig(failure_threshold=2,
                                                                  cooldown_seconds=60))
    heard = []
    runtime.collectors.append(type("C", (), {"record_event": lambda self, e: heard.append(
        e.event_type)})())
    server.script("echo", Reply(status=503), Reply(status=503))
    for _ in range(2):
        with pytest.raises(HttpError):
            await ask(runtime).execute()
    with pytest.raises(CircuitOpenError, match="failed 2 times in a row"):
        await ask(runtime).execute()
    assert len(server.requests) == 2
    settings = runtime.resolve("echo-1")  # one circuit per endpoint: entry, base URL, model
    endpoint = f"{settings.provider}|{settings.base_url}|{settings.model_id}"
    entry = await store.circuit_enter(CircuitScope(key=endpoint, cooldown_seconds=60), 10)
    assert not entry.allowed
    assert "llm.circuit.open" in heard


async def test_the_hook_hands_the_plugin_an_emitter(make_runtime):
    runtime, plugin = make_runtime(CountingStore())
    heard = []
    runtime.collectors.append(type("C", (), {"record_event": lambda self, e: heard.append(
        e.event_type)})())
    assert runtime.limits.store is plugin.store
    from agentflow import ExecutionEvent

    plugin.emit(ExecutionEvent(event_type="llm.limit_store.fallback", node_id="plugin.x"))
    assert heard == ["llm.limit_store.fallback"]


# the in-process store's steps ------------------------------------------------------------------

SCOPE = LimitScope(key="provider:p", requests_per_minute=60, tokens_per_minute=600,
                   max_concurrent=1)


async def test_memory_store_buckets_settle_and_pause():
    clock = [0.0]
    store = MemoryLimitStore(clock=lambda: clock[0])
    assert await store.reserve(SCOPE, 500) == 0.0
    assert await store.reserve(SCOPE, 200) == pytest.approx(10.0)  # 100 tokens owed
    await store.give_back(SCOPE, 200)
    await store.settle(SCOPE, -400)  # the first used 100
    assert await store.reserve(SCOPE, 400) == 0.0
    await store.penalize(SCOPE, 5)
    clock[0] = 1.0
    assert await store.reserve(SCOPE, 0) == pytest.approx(4.0)


async def test_memory_store_leases_expire():
    clock = [0.0]
    store = MemoryLimitStore(clock=lambda: clock[0])
    assert await store.acquire_lease(SCOPE, "a", 10) == 0.0
    assert await store.acquire_lease(SCOPE, "b", 10) == pytest.approx(10.0)
    clock[0] = 10.0  # the holder died: its lease ran out
    assert await store.acquire_lease(SCOPE, "b", 10) == 0.0
    await store.release_lease(SCOPE, "b")
    assert await store.admit(SCOPE, 0, "c", 10) == (0.0, 0.0)


async def test_memory_store_one_probe_at_a_time():
    clock = [0.0]
    store = MemoryLimitStore(clock=lambda: clock[0])
    circuit = CircuitScope(key="p", failure_threshold=1, cooldown_seconds=5)
    assert await store.circuit_report(circuit, "failure", probe=False, reason="503") == (
        "closed", "open")
    assert not (await store.circuit_enter(circuit, 30)).allowed
    clock[0] = 5.0
    entries = [await store.circuit_enter(circuit, 30) for _ in range(3)]
    assert [e.probe for e in entries] == [True, False, False]
    await store.circuit_report(circuit, "abandon", probe=True)
    assert (await store.circuit_enter(circuit, 30)).probe
    assert await store.circuit_report(circuit, "success", probe=True) == ("half_open", "closed")


async def test_a_cancelled_waiter_gives_its_share_back():
    store = MemoryLimitStore()
    scope = LimitScope(key="provider:p", requests_per_minute=1)
    limiter = StoreLimiter(store, scope)
    await limiter.acquire()
    with anyio.move_on_after(0.01):
        await limiter.acquire()  # owes a minute
    assert 30 < await store.reserve(scope, 0) <= 60  # one minute owed, not two
