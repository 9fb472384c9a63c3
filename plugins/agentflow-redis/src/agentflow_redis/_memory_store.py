"""The limit store in the process's memory: the same steps as the shared one, kept in dicts.

It is the fallback of the Redis store (``on_store_failure: local``) and the reference
implementation of :class:`~agentflow_redis._store_protocol.LimitStore`. One store serves every
event loop of the process (a lock keeps each step atomic across threads); times are
``time.monotonic``, which every loop's sleep measures alike.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from agentflow_redis._store_protocol import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitEntry,
    CircuitScope,
    LimitScope,
    Outcome,
)

__all__ = ["MemoryLimitStore"]


class _Buckets:
    __slots__ = ("paused_until", "requests", "stamp", "tokens")

    def __init__(self, scope: LimitScope, now: float) -> None:
        self.requests = float(scope.requests_per_minute or 0.0)
        self.tokens = float(scope.tokens_per_minute or 0.0)
        self.stamp = now
        self.paused_until = -math.inf

    def refill(self, scope: LimitScope, now: float) -> None:
        rpm = float(scope.requests_per_minute or 0.0)
        tpm = float(scope.tokens_per_minute or 0.0)
        elapsed = now - self.stamp
        if elapsed > 0:
            self.requests += elapsed * rpm / 60.0
            self.tokens += elapsed * tpm / 60.0
            self.stamp = now
        self.requests = min(self.requests, rpm)
        self.tokens = min(self.tokens, tpm)


class _Circuit:
    __slots__ = ("failures", "last_failure", "opened_at", "probe_until", "state")

    def __init__(self) -> None:
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.last_failure: str | None = None
        self.probe_until = -math.inf


class MemoryLimitStore:
    """Limiter and breaker state of this process alone."""

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Buckets] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._circuits: dict[str, _Circuit] = {}

    def _bucket(self, scope: LimitScope, now: float) -> _Buckets:
        bucket = self._buckets.get(scope.key)
        if bucket is None:
            bucket = self._buckets[scope.key] = _Buckets(scope, now)
        bucket.refill(scope, now)
        return bucket

    async def reserve(self, scope: LimitScope, tokens: int) -> float:
        """Reserve one request and ``tokens`` tokens; the seconds to wait before use."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(scope, now)
            wait = 0.0
            rpm, tpm = scope.requests_per_minute, scope.tokens_per_minute
            if rpm:
                bucket.requests -= min(1.0, rpm)
                if bucket.requests < 0:
                    wait = -bucket.requests * 60.0 / rpm
            if tpm:
                bucket.tokens -= min(float(tokens), tpm)
                if bucket.tokens < 0:
                    wait = max(wait, -bucket.tokens * 60.0 / tpm)
            return max(wait, bucket.paused_until - now)

    async def give_back(self, scope: LimitScope, tokens: int) -> None:
        """Return a reservation not used."""
        with self._lock:
            bucket = self._bucket(scope, self._clock())
            rpm, tpm = scope.requests_per_minute, scope.tokens_per_minute
            if rpm:
                bucket.requests = min(rpm, bucket.requests + min(1.0, rpm))
            if tpm:
                bucket.tokens = min(tpm, bucket.tokens + min(float(tokens), tpm))

    async def settle(self, scope: LimitScope, delta: int) -> None:
        """Take ``delta`` more tokens (negative: give back)."""
        with self._lock:
            bucket = self._bucket(scope, self._clock())
            if scope.tokens_per_minute:
                bucket.tokens = min(scope.tokens_per_minute, bucket.tokens - delta)

    async def penalize(self, scope: LimitScope, seconds: float) -> None:
        """Grant nothing for ``seconds``, then refill from empty."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(scope, now)
            bucket.paused_until = max(bucket.paused_until, now + seconds)
            bucket.requests = min(bucket.requests, 0.0)
            bucket.tokens = min(bucket.tokens, 0.0)

    async def acquire_lease(self, scope: LimitScope, lease: str, ttl_seconds: float) -> float:
        """Hold a slot as ``lease``: 0.0 when held, else the seconds to wait."""
        with self._lock:
            now = self._clock()
            leases = self._leases.setdefault(scope.key, {})
            for held, expiry in list(leases.items()):
                if expiry <= now:
                    del leases[held]
            if lease in leases:
                return 0.0
            if scope.max_concurrent is None or len(leases) < scope.max_concurrent:
                leases[lease] = now + ttl_seconds
                return 0.0
            return max(1e-6, min(leases.values()) - now)

    async def release_lease(self, scope: LimitScope, lease: str) -> None:
        """Free the slot held as ``lease``."""
        with self._lock:
            self._leases.get(scope.key, {}).pop(lease, None)

    async def admit(self, scope: LimitScope, tokens: int, lease: str | None,
                    ttl_seconds: float) -> tuple[float, float | None]:
        """``reserve``, then ``acquire_lease`` when nothing waits."""
        wait = await self.reserve(scope, tokens)
        if wait > 0 or lease is None or scope.max_concurrent is None:
            return wait, None
        return wait, await self.acquire_lease(scope, lease, ttl_seconds)

    async def finish(self, scope: LimitScope, lease: str | None, delta: int) -> None:
        """``settle`` and ``release_lease``."""
        if delta:
            await self.settle(scope, delta)
        if lease is not None:
            await self.release_lease(scope, lease)

    async def circuit_enter(self, circuit: CircuitScope, ttl_seconds: float) -> CircuitEntry:
        """Admission of one attempt; after the cool-down, one probe at a time."""
        with self._lock:
            state = self._circuits.get(circuit.key)
            if state is None or state.state == CLOSED:
                failures = state.failures if state else 0
                last = state.last_failure if state else None
                return CircuitEntry(allowed=True, failures=failures, last_failure=last)
            now = self._clock()
            retry_at = state.opened_at + circuit.cooldown_seconds
            if now >= retry_at and state.probe_until <= now:
                previous = state.state
                state.state, state.probe_until = HALF_OPEN, now + ttl_seconds
                return CircuitEntry(
                    allowed=True, probe=True, state=HALF_OPEN, failures=state.failures,
                    last_failure=state.last_failure,
                    changed=(previous, HALF_OPEN) if previous != HALF_OPEN else None)
            return CircuitEntry(allowed=False, state=state.state,
                                retry_in=max(0.0, retry_at - now), failures=state.failures,
                                last_failure=state.last_failure)

    async def circuit_report(self, circuit: CircuitScope, outcome: Outcome, *, probe: bool,
                             reason: str | None = None) -> tuple[str, str] | None:
        """Record an admitted attempt's outcome; the transition it caused, if any."""
        with self._lock:
            state = self._circuits.setdefault(circuit.key, _Circuit())
            if outcome == "abandon":
                if probe:
                    state.probe_until = -math.inf
                return None
            if outcome == "success":
                previous = state.state
                self._circuits.pop(circuit.key, None)
                return (previous, CLOSED) if previous != CLOSED else None
            state.failures += 1
            state.last_failure = reason
            if probe:
                state.probe_until = -math.inf
            if probe or (state.state == CLOSED
                         and state.failures >= circuit.failure_threshold):
                previous = state.state
                state.state, state.opened_at = OPEN, self._clock()
                return (previous, OPEN) if previous != OPEN else None
            return None

    async def aclose(self) -> None:
        """Nothing to close."""
