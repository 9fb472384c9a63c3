"""The limit store in Redis, with its failure policy.

Every step is one Lua script (``EVALSHA``, or ``EVAL`` after a restarted server forgot it),
so it is atomic on the server; the client never reads, changes and writes back. Each step has
a time limit of its own (``timeout_seconds``).

When Redis cannot be reached, answers an error or takes too long, ``on_store_failure``
decides: ``local`` goes on with the in-process store (logged once per outage, and an
``llm.limit_store.fallback`` event), and tries Redis again after ``reconnect_seconds``
(``llm.limit_store.recovered`` when it answers); ``fail`` raises
:class:`LimitStoreUnavailable`. A slot held in one store is released in that store; a slot
held in a Redis that went away is freed by its lease's expiry.

What is written: numbers (bucket levels, times, failure counts), random lease ids, the
provider and model names of the configuration inside keys, and a failure's kind (``503``,
``read timeout``). Never a prompt, an answer or an API key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio

from agentflow.errors import LLMError
from agentflow.limitstore import CircuitEntry, CircuitScope, LimitScope, MemoryLimitStore, Outcome
from agentflow_redis import _scripts
from agentflow_redis._resp import Arg, RedisClient, RedisReplyError, Reply

if TYPE_CHECKING:
    from agentflow_redis._settings import RedisSettings

__all__ = ["LimitStoreUnavailable", "RedisLimitStore"]

logger = logging.getLogger("agentflow.redis")

#: Called with (event type, metadata) when the store falls back or recovers.
Notify = Callable[[str, dict[str, object]], None]


class LimitStoreUnavailable(LLMError):
    """The shared limit store could not be used and ``on_store_failure`` is ``fail``."""


class RedisLimitStore:
    """Limiter and breaker state in Redis, shared by every process that uses the same
    server and ``key_prefix``."""

    name = "redis"

    def __init__(self, settings: RedisSettings, *, notify: Notify | None = None,
                 client: RedisClient | None = None) -> None:
        self.settings = settings
        self.client = client or RedisClient(settings.address,
                                            connect_timeout=settings.timeout_seconds)
        self.local = MemoryLimitStore()
        self._notify = notify
        self._prefix = settings.key_prefix
        self._down_since: float | None = None
        self._state_lock = threading.Lock()  # event loops in other threads share this store
        self._retry_at = 0.0
        self._local_leases: set[str] = set()
        self.fallbacks = 0  # outages seen (each logged once)

    def __repr__(self) -> str:
        return f"<RedisLimitStore {self.settings.address.display} prefix={self._prefix!r}>"

    @property
    def degraded(self) -> bool:
        """Whether steps are served by the in-process store (Redis is unreachable)."""
        return self._down_since is not None

    # limits ----------------------------------------------------------------------------------

    async def reserve(self, scope: LimitScope, tokens: int) -> float:
        """Reserve one request and ``tokens`` tokens; the seconds to wait before use."""
        reply = await self._run(_scripts.RESERVE, self._key("bucket", scope.key),
                                _rates(scope, tokens))
        if reply is None:
            return await self.local.reserve(scope, tokens)
        return _seconds(reply)

    async def give_back(self, scope: LimitScope, tokens: int) -> None:
        """Return a reservation not used."""
        if await self._run(_scripts.GIVE_BACK, self._key("bucket", scope.key),
                           _rates(scope, tokens)) is None:
            await self.local.give_back(scope, tokens)

    async def settle(self, scope: LimitScope, delta: int) -> None:
        """Take ``delta`` more tokens (negative: give back)."""
        if not scope.tokens_per_minute or delta == 0:
            return
        if await self._run(_scripts.SETTLE, self._key("bucket", scope.key),
                           _rates(scope, delta)) is None:
            await self.local.settle(scope, delta)

    async def penalize(self, scope: LimitScope, seconds: float) -> None:
        """Grant nothing in ``scope`` for ``seconds``, fleet-wide."""
        args = [*_rates(scope, 0)[:2], float(seconds)]
        if await self._run(_scripts.PENALIZE, self._key("bucket", scope.key), args) is None:
            await self.local.penalize(scope, seconds)

    async def admit(self, scope: LimitScope, tokens: int, lease: str | None,
                    ttl_seconds: float) -> tuple[float, float | None]:
        """``reserve`` and, when nothing waits, ``acquire_lease``: one round trip."""
        slots = scope.max_concurrent if lease is not None else None
        args: list[Arg] = [*_rates(scope, tokens), slots or 0, lease or "",
                           max(1, round(ttl_seconds * 1000))]
        reply = await self._run(_scripts.ADMIT, self._scope_keys(scope), args)
        if reply is None:
            wait, held = await self.local.admit(scope, tokens, lease, ttl_seconds)
            if held == 0.0 and lease is not None:
                self._local_leases.add(lease)
            return wait, held
        assert isinstance(reply, list)
        wait_us, slot_us = reply
        return _seconds(wait_us), None if slot_us == -1 else _seconds(slot_us)

    async def finish(self, scope: LimitScope, lease: str | None, delta: int) -> None:
        """``settle`` and ``release_lease``: one round trip (none if there is nothing to do)."""
        if lease is not None and scope.max_concurrent is None:
            lease = None
        if not scope.tokens_per_minute:
            delta = 0
        if lease is None and delta == 0:
            return
        if lease is not None and lease in self._local_leases:
            self._local_leases.discard(lease)
            await self.local.finish(scope, lease, delta)
            return
        try:
            with anyio.fail_after(self.settings.timeout_seconds):
                await self._eval(_scripts.FINISH, self._scope_keys(scope),
                                 [*_rates(scope, delta), lease or ""])
        except (OSError, TimeoutError, RedisReplyError) as exc:
            logger.debug("agentflow-redis: the end of a call in %s was not recorded (%s); its "
                         "lease expires by itself", scope.key, type(exc).__name__)

    async def acquire_lease(self, scope: LimitScope, lease: str, ttl_seconds: float) -> float:
        """Hold one of ``max_concurrent`` slots: 0.0 when held, else the seconds to wait."""
        if scope.max_concurrent is None:
            return 0.0
        args: list[Arg] = [scope.max_concurrent, lease, max(1, round(ttl_seconds * 1000))]
        reply = await self._run(_scripts.LEASE_ACQUIRE, self._key("leases", scope.key), args)
        if reply is None:
            wait = await self.local.acquire_lease(scope, lease, ttl_seconds)
            if wait == 0.0:
                self._local_leases.add(lease)
            return wait
        return _seconds(reply)

    async def release_lease(self, scope: LimitScope, lease: str) -> None:
        """Free the slot held as ``lease``, in the store that granted it."""
        if scope.max_concurrent is None:
            return
        if lease in self._local_leases:
            self._local_leases.discard(lease)
            await self.local.release_lease(scope, lease)
            return
        # A slot granted by Redis goes back to Redis, even during an outage: if it cannot, the
        # lease expires there by itself.
        try:
            with anyio.fail_after(self.settings.timeout_seconds):
                await self._eval(_scripts.LEASE_RELEASE, self._key("leases", scope.key), [lease])
        except (OSError, TimeoutError, RedisReplyError) as exc:
            logger.debug("agentflow-redis: a slot of %s was not released (%s); its lease "
                         "expires by itself", scope.key, type(exc).__name__)

    # circuits --------------------------------------------------------------------------------

    async def circuit_enter(self, circuit: CircuitScope, ttl_seconds: float) -> CircuitEntry:
        """Admission through ``circuit``; one probe in the whole fleet when half open."""
        args: list[Arg] = [float(circuit.cooldown_seconds), float(ttl_seconds)]
        reply = await self._run(_scripts.CIRCUIT_ENTER, self._key("circuit", circuit.key), args)
        if reply is None:
            return await self.local.circuit_enter(circuit, ttl_seconds)
        assert isinstance(reply, list)
        allowed, probe, state, wait, failures, last, previous = reply
        return CircuitEntry(allowed=allowed == 1, probe=probe == 1, state=_text(state),
                            retry_in=_seconds(wait), failures=int(failures or 0),  # type: ignore[arg-type]
                            last_failure=_text(last) or None,
                            changed=(_text(previous), _text(state)) if previous else None)

    async def circuit_report(self, circuit: CircuitScope, outcome: Outcome, *, probe: bool,
                             reason: str | None = None) -> tuple[str, str] | None:
        """Record an admitted attempt's outcome; the transition it caused, if any."""
        args: list[Arg] = [outcome, "1" if probe else "0", reason or "",
                           circuit.failure_threshold]
        reply = await self._run(_scripts.CIRCUIT_REPORT, self._key("circuit", circuit.key), args)
        if reply is None:
            return await self.local.circuit_report(circuit, outcome, probe=probe, reason=reason)
        assert isinstance(reply, list)
        return (_text(reply[0]), _text(reply[1])) if reply else None

    async def aclose(self) -> None:
        """Close this event loop's connections to Redis."""
        await self.client.aclose()

    # the round trip and the failure policy ---------------------------------------------------

    def _key(self, kind: str, name: str) -> list[str]:
        if kind == "circuit":
            return [f"{self._prefix}:circuit:{name}"]
        return [f"{self._prefix}:{kind}:{{{name}}}"]  # a scope's keys share a Cluster slot

    def _scope_keys(self, scope: LimitScope) -> list[str]:
        return [*self._key("bucket", scope.key), *self._key("leases", scope.key)]

    async def _run(self, script: _scripts.Script, keys: list[str], args: Sequence[Arg]
                   ) -> Reply:
        """The script's reply, or ``None`` when the in-process store must answer instead."""
        if self._down_since is not None and time.monotonic() < self._retry_at:
            return None
        try:
            with anyio.fail_after(self.settings.timeout_seconds):
                reply = await self._eval(script, keys, args)
        except (OSError, TimeoutError, RedisReplyError) as exc:
            self._failed(exc)
            return None
        if self._down_since is not None:
            self._recovered()
        return reply

    async def _eval(self, script: _scripts.Script, keys: list[str], args: Sequence[Arg]
                    ) -> Reply:
        try:
            return await self.client.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except RedisReplyError as exc:
            if exc.kind != "NOSCRIPT":
                raise
        return await self.client.call("EVAL", script.text, len(keys), *keys, *args)

    def _failed(self, exc: Exception) -> None:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        where = self.settings.address.display
        if self.settings.on_store_failure == "fail":
            raise LimitStoreUnavailable(
                f"the shared limit store {where} cannot be used ({what}); calls fail until it "
                "answers, because plugins.redis.on_store_failure is 'fail' (set it to 'local' "
                "to go on with this process's own limits meanwhile)") from exc
        now = time.monotonic()
        with self._state_lock:
            self._retry_at = now + self.settings.reconnect_seconds
            first = self._down_since is None
            if first:
                self._down_since = now
                self.fallbacks += 1
        if first:
            logger.warning("agentflow-redis: the shared limit store %s cannot be used (%s); "
                           "this process goes on with its own limits and tries again every "
                           "%g s", where, what, self.settings.reconnect_seconds)
            self._tell("llm.limit_store.fallback", {"store": where, "error": type(exc).__name__})
        return None

    def _recovered(self) -> None:
        with self._state_lock:
            down_since, self._down_since = self._down_since, None
        if down_since is None:
            return  # another loop of this process saw the recovery first
        outage = time.monotonic() - down_since
        where = self.settings.address.display
        logger.warning("agentflow-redis: the shared limit store %s answers again after %.1f s; "
                       "limits are shared again", where, outage)
        self._tell("llm.limit_store.recovered", {"store": where, "outage_seconds": outage})

    def _tell(self, event_type: str, metadata: dict[str, object]) -> None:
        if self._notify is None:
            return
        try:
            self._notify(event_type, metadata)
        except Exception:  # an exporter's failure must not become the store's
            logger.exception("agentflow-redis: reporting %s failed", event_type)


def _rates(scope: LimitScope, amount: int) -> list[Arg]:
    return [float(scope.requests_per_minute or 0), float(scope.tokens_per_minute or 0), amount]


def _seconds(reply: Reply) -> float:
    assert isinstance(reply, int)
    return reply / 1_000_000


def _text(value: Reply) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value) if value is not None else ""
