"""The Redis store against a real redis-server: each step, shared by two stores (two
"processes"), and the failure policy.

A wait is computed on the server from the time that passed since the bucket was last full: the
upper bounds are exact, the lower ones leave seconds for a slow (loaded) machine."""

from __future__ import annotations

import logging
import socket

import anyio
import pytest

from agentflow.limitstore import CircuitScope, LimitScope, LimitStore, MemoryLimitStore
from agentflow_redis import LimitStoreUnavailable
from agentflow_redis._settings import RedisSettings
from agentflow_redis._store import RedisLimitStore
from agentflow_redis.testing import RedisServer

pytestmark = pytest.mark.anyio

RPM = LimitScope(key="provider:openai", requests_per_minute=6)
TPM = LimitScope(key="provider:openai", tokens_per_minute=1000)
SLOTS = LimitScope(key="model:main", max_concurrent=2)
CIRCUIT = CircuitScope(key="openai", failure_threshold=2, cooldown_seconds=0.0)


def other(url: str, **settings: object) -> RedisLimitStore:
    parsed = RedisSettings.parse({"url": url, "key_prefix": "test", **settings})
    assert parsed is not None
    return RedisLimitStore(parsed)


def test_both_stores_implement_the_protocol() -> None:
    assert isinstance(MemoryLimitStore(), LimitStore)
    parsed = RedisSettings.parse({"url": "redis://127.0.0.1:1/0"})
    assert parsed is not None
    assert isinstance(RedisLimitStore(parsed), LimitStore)


async def test_requests_per_minute_are_shared(store: RedisLimitStore, redis_url: str) -> None:
    second = other(redis_url)
    try:
        waits = [await (store if i % 2 else second).reserve(RPM, 0) for i in range(6)]
        assert waits == [0.0] * 6
        # the seventh owes one request: 60 / 6 = 10 s, less what refilled since the first
        seventh = await second.reserve(RPM, 0)
        assert 5.0 < seventh <= 10.0
        await second.give_back(RPM, 0)
        assert 5.0 < await store.reserve(RPM, 0) <= 10.0
    finally:
        await second.aclose()


async def test_tokens_are_settled_against_reported_usage(store: RedisLimitStore) -> None:
    assert await store.reserve(TPM, 900) == 0.0
    assert await store.reserve(TPM, 500) > 0  # 400 owed
    await store.give_back(TPM, 500)
    await store.settle(TPM, -800)  # the first used 100, not 900
    assert await store.reserve(TPM, 800) == 0.0
    # a request larger than the bucket takes the whole bucket, not for ever: 100 left, so
    # 900 owed at 1000 a minute
    assert 45.0 < await store.reserve(TPM, 10**9) <= 54.0


async def test_a_penalty_pauses_every_store(store: RedisLimitStore, redis_url: str) -> None:
    second = other(redis_url)
    try:
        fast = LimitScope(key="provider:openai", requests_per_minute=600)
        await store.penalize(fast, 5.0)  # then from an empty bucket: 0.1 s a request
        assert 2.5 < await second.reserve(fast, 0) <= 5.0
        unlimited = LimitScope(key="provider:anthropic")
        await second.penalize(unlimited, 2.0)
        assert 0.5 < await store.reserve(unlimited, 0) <= 2.0
    finally:
        await second.aclose()


async def test_leases_cap_concurrency_across_stores(store: RedisLimitStore, redis_url: str,
                                                    redis_server: RedisServer) -> None:
    second = other(redis_url)
    try:
        assert await store.acquire_lease(SLOTS, "a", 60) == 0.0
        assert await second.acquire_lease(SLOTS, "b", 60) == 0.0
        assert await store.acquire_lease(SLOTS, "a", 60) == 0.0  # idempotent
        wait = await second.acquire_lease(SLOTS, "c", 60)
        assert 30 < wait <= 60  # until the earliest lease expires
        await store.release_lease(SLOTS, "a")
        await store.release_lease(SLOTS, "a")
        assert await second.acquire_lease(SLOTS, "c", 60) == 0.0
        # a holder that died: its lease expires (here: made to have expired) and frees a slot
        assert await store.acquire_lease(SLOTS, "d", 60) > 0
        redis_server.command("ZADD", "test:leases:{model:main}", "XX", "0", "b")
        assert await store.acquire_lease(SLOTS, "d", 60) == 0.0
    finally:
        await second.aclose()


async def test_one_probe_in_the_whole_fleet(store: RedisLimitStore, redis_url: str) -> None:
    second = other(redis_url)
    try:
        entry = await store.circuit_enter(CIRCUIT, 60)
        assert entry.allowed
        assert not entry.probe
        assert entry.state == "closed"
        assert await store.circuit_report(CIRCUIT, "failure", probe=False, reason="503") is None
        assert await second.circuit_report(CIRCUIT, "failure", probe=False,
                                           reason="read timeout") == ("closed", "open")
        entries = []

        async def enter(where: RedisLimitStore) -> None:
            entries.append(await where.circuit_enter(CIRCUIT, 60))

        async with anyio.create_task_group() as group:
            for i in range(10):
                group.start_soon(enter, store if i % 2 else second)
        probes = [e for e in entries if e.probe]
        assert len(probes) == 1
        assert probes[0].changed == ("open", "half_open")
        refused = [e for e in entries if not e.allowed]
        assert len(refused) == 9
        assert refused[0].failures == 2
        assert refused[0].last_failure == "read timeout"
        # the probe gives up: its turn goes to the next caller
        await store.circuit_report(CIRCUIT, "abandon", probe=True)
        again = await second.circuit_enter(CIRCUIT, 60)
        assert again.probe
        assert again.changed is None
        assert await second.circuit_report(CIRCUIT, "failure", probe=True,
                                           reason="503") == ("half_open", "open")
        probe = await store.circuit_enter(CIRCUIT, 60)
        assert probe.probe
        assert await store.circuit_report(CIRCUIT, "success", probe=True) == (
            "half_open", "closed")
        assert (await second.circuit_enter(CIRCUIT, 60)).state == "closed"
    finally:
        await second.aclose()


async def test_a_dead_probe_turn_expires(store: RedisLimitStore) -> None:
    for _ in range(2):
        await store.circuit_report(CIRCUIT, "failure", probe=False, reason="503")
    assert (await store.circuit_enter(CIRCUIT, 0.001)).probe
    await anyio.sleep(0.002)  # past the probe's turn (a sleep lasts at least that long)
    assert (await store.circuit_enter(CIRCUIT, 60)).probe


async def test_a_forgotten_script_is_sent_again(store: RedisLimitStore,
                                                redis_server: RedisServer) -> None:
    assert await store.reserve(RPM, 0) == 0.0
    redis_server.command("SCRIPT", "FLUSH")
    assert await store.reserve(RPM, 0) == 0.0
    assert not store.degraded


async def test_nothing_but_numbers_and_names_is_stored(store: RedisLimitStore,
                                                       redis_server: RedisServer) -> None:
    await store.reserve(RPM, 10)
    await store.acquire_lease(SLOTS, "lease-id", 60)
    await store.circuit_report(CIRCUIT, "failure", probe=False, reason="503")
    keys = redis_server.command("KEYS", "*")
    assert b"test:bucket:{provider:openai}" in keys
    assert b"test:leases:{model:main}" in keys
    assert b"test:circuit:openai" in keys
    assert keys.count(b"test:") == 3


async def test_admit_and_finish_in_one_step_each(store: RedisLimitStore, redis_url: str
                                                 ) -> None:
    scope = LimitScope(key="provider:openai", requests_per_minute=2, tokens_per_minute=1000,
                       max_concurrent=1)
    second = other(redis_url)
    try:
        assert await store.admit(scope, 600, "a", 60) == (0.0, 0.0)
        wait, held = await second.admit(scope, 300, "b", 60)
        assert wait == 0.0
        assert held is not None
        assert held > 30  # the slot is taken
        await store.finish(scope, "a", -500)  # 100 used, and the slot freed
        assert await second.acquire_lease(scope, "b", 60) == 0.0
        # the third request must wait (2 a minute): the slot is not even tried
        wait, held = await store.admit(scope, 100, "c", 60)
        assert 15 < wait <= 30
        assert held is None
        await store.give_back(scope, 100)
        assert await store.reserve(LimitScope(key="provider:openai", tokens_per_minute=1000),
                                   600) == 0.0  # 1000 - 100 - 300 left 600
    finally:
        await second.aclose()


# failures ------------------------------------------------------------------------------------

def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_unreachable_redis_falls_back_once(anyio_backend: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    told: list[tuple[str, dict[str, object]]] = []
    settings = RedisSettings.parse({"url": f"redis://:pw-not-logged@127.0.0.1:{_dead_port()}"})
    assert settings is not None
    store = RedisLimitStore(settings, notify=lambda kind, data: told.append((kind, data)))
    with caplog.at_level(logging.WARNING, logger="agentflow.redis"):
        for _ in range(6):
            assert await store.reserve(RPM, 0) == 0.0  # the local bucket answers
        assert await store.reserve(RPM, 0) > 0
        assert await store.acquire_lease(SLOTS, "x", 60) == 0.0
        await store.release_lease(SLOTS, "x")
    assert store.degraded
    assert store.fallbacks == 1
    assert [kind for kind, _ in told] == ["llm.limit_store.fallback"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "own limits" in messages[0]
    assert "pw-not-logged" not in messages[0]


async def test_fail_policy_raises(anyio_backend: str) -> None:
    settings = RedisSettings.parse({"url": f"redis://127.0.0.1:{_dead_port()}",
                                    "on_store_failure": "fail"})
    assert settings is not None
    store = RedisLimitStore(settings)
    with pytest.raises(LimitStoreUnavailable, match="on_store_failure is 'fail'"):
        await store.reserve(RPM, 0)


async def test_a_silent_redis_times_out(anyio_backend: str) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = RedisSettings.parse({"url": f"redis://127.0.0.1:{port}",
                                        "timeout_seconds": 0.05})
        assert settings is not None
        store = RedisLimitStore(settings)
        with anyio.fail_after(5):  # a hang would be the bug; the store gives up at 0.05 s
            assert await store.reserve(RPM, 0) == 0.0
        assert store.degraded


async def test_sharing_resumes_after_a_restart(redis_url: str, redis_server: RedisServer,
                                               anyio_backend: str) -> None:
    told: list[str] = []
    settings = RedisSettings.parse({"url": redis_url, "key_prefix": "test",
                                    "reconnect_seconds": 0.001})
    assert settings is not None
    store = RedisLimitStore(settings, notify=lambda kind, data: told.append(kind))
    try:
        assert await store.acquire_lease(SLOTS, "held", 60) == 0.0
        redis_server.kill()
        assert await store.reserve(RPM, 0) == 0.0
        assert store.degraded
        await store.release_lease(SLOTS, "held")  # Redis is gone: the lease would expire
        redis_server.start()
        await anyio.sleep(0.002)  # past reconnect_seconds
        assert await store.reserve(RPM, 0) == 0.0
        assert not store.degraded
        assert told == ["llm.limit_store.fallback", "llm.limit_store.recovered"]
        assert b"test:bucket:{provider:openai}" in redis_server.command("KEYS", "*")
    finally:
        await store.aclose()
