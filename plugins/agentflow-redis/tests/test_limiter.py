"""The limiter and breaker over the Redis store: slots capped across "processes" (two stores),
waits given back on cancellation, one probe, transitions reported."""

from __future__ import annotations

import anyio
import pytest

from agentflow._limits.shared import StoreBreaker, StoreLimiter
from agentflow.errors import CircuitOpenError
from agentflow.limitstore import CircuitScope, LimitScope
from agentflow_redis._settings import RedisSettings
from agentflow_redis._store import RedisLimitStore

pytestmark = pytest.mark.anyio


def other(url: str) -> RedisLimitStore:
    parsed = RedisSettings.parse({"url": url, "key_prefix": "test"})
    assert parsed is not None
    return RedisLimitStore(parsed)


async def test_slots_are_capped_across_stores(store: RedisLimitStore, redis_url: str) -> None:
    scope = LimitScope(key="provider:openai", max_concurrent=3)
    second = other(redis_url)
    limiters = [StoreLimiter(store, scope), StoreLimiter(second, scope)]
    holding = 0
    most = 0
    got = anyio.Event()
    gate = anyio.Event()
    done = 0

    async def call(i: int) -> None:
        nonlocal holding, most, done
        permit = await limiters[i % 2].acquire(ttl_seconds=60)
        holding += 1
        most = max(most, holding)
        if holding == 3:
            got.set()
        await gate.wait()
        holding -= 1
        await permit.aclose()
        await permit.aclose()  # idempotent
        done += 1

    try:
        async with anyio.create_task_group() as group:
            for i in range(10):
                group.start_soon(call, i)
            await got.wait()
            await anyio.wait_all_tasks_blocked()
            assert holding == 3  # seven wait, in either store
            gate.set()
        assert (most, done) == (3, 10)
    finally:
        await second.aclose()


async def test_a_cancelled_wait_gives_everything_back(store: RedisLimitStore) -> None:
    scope = LimitScope(key="provider:openai", requests_per_minute=1, max_concurrent=1)
    limiter = StoreLimiter(store, scope)
    first = await limiter.acquire(ttl_seconds=60)
    assert first.waited < 1
    with anyio.move_on_after(0.01):
        await limiter.acquire(ttl_seconds=60)  # owes a minute: cancelled while waiting
    await first.aclose()
    # the cancelled caller's request went back to the bucket: the next one waits for the
    # first's refill only (about a minute), not for two
    wait = await store.reserve(scope, 0)
    assert 30 < wait <= 60


async def test_tokens_settle(store: RedisLimitStore) -> None:
    scope = LimitScope(key="model:main", tokens_per_minute=1000)
    limiter = StoreLimiter(store, scope)
    assert limiter.tokens
    permit = await limiter.acquire(900)
    permit.settle(100)
    await permit.aclose()
    assert await store.reserve(scope, 850) == 0.0


async def test_penalty_slows_the_other_store(store: RedisLimitStore, redis_url: str) -> None:
    scope = LimitScope(key="provider:openai")
    second = other(redis_url)
    try:
        await StoreLimiter(store, scope).apenalize(30)
        assert 15 < await second.reserve(scope, 0) <= 30
    finally:
        await second.aclose()


async def test_the_breaker_opens_probes_once_and_closes(store: RedisLimitStore,
                                                        redis_url: str) -> None:
    circuit = CircuitScope(key="openai", failure_threshold=2, cooldown_seconds=0.0)
    heard: list[tuple[str, str]] = []
    second = other(redis_url)
    mine = StoreBreaker(store, circuit, on_change=lambda old, new: heard.append((old, new)))
    theirs = StoreBreaker(second, circuit)
    try:
        await (await mine.aenter()).afailure("503")
        await (await theirs.aenter()).afailure("503")
        assert heard == []  # the other process opened it
        probe = await mine.aenter()
        assert probe.is_probe
        with pytest.raises(CircuitOpenError, match="a probe request is under way"):
            await theirs.aenter()
        await probe.asuccess()
        assert heard == [("open", "half_open"), ("half_open", "closed")]
        assert not (await theirs.aenter()).is_probe
    finally:
        await second.aclose()


async def test_an_abandoned_probe_frees_its_turn(store: RedisLimitStore) -> None:
    circuit = CircuitScope(key="openai", failure_threshold=1, cooldown_seconds=0.0)
    breaker = StoreBreaker(store, circuit)
    await (await breaker.aenter()).afailure("read timeout")
    probe = await breaker.aenter()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await probe.aabandon()  # shielded: it reaches Redis although its caller is cancelled
    assert (await breaker.aenter()).is_probe


async def test_another_process_opening_the_circuit_is_seen_within_closed_for(
        store: RedisLimitStore, redis_url: str) -> None:
    circuit = CircuitScope(key="openai", failure_threshold=2, cooldown_seconds=60)
    second = other(redis_url)
    mine = StoreBreaker(store, circuit)
    theirs = StoreBreaker(second, circuit)
    try:
        await (await mine.aenter()).asuccess()  # closed, no failures: trusted a moment
        for _ in range(2):
            await (await theirs.aenter()).afailure("503")
        assert not (await mine.aenter()).is_probe  # within CLOSED_FOR: not asked again
        mine.closed_until = 0.0  # as when CLOSED_FOR has passed
        with pytest.raises(CircuitOpenError, match="failed 2 times in a row"):
            await mine.aenter()
    finally:
        await second.aclose()
