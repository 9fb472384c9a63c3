"""The storage seam of rate limits and circuit breakers: what a limit store does, and the
store in the process's memory.

Plugin-author API. A plugin that keeps limiter and breaker state elsewhere (agentflow-redis
does, in Redis) returns a :class:`LimitStore` from the ``agentflow_limit_store`` hook; the
core then runs its limiters and breakers over it.

A *limit store* keeps the state that the core's limiters and breakers act on: token buckets
(requests and tokens per minute), leases of concurrency slots, pauses after a 429, and the
state of each circuit. The in-process store keeps it in the process's memory; a shared store
(agentflow-redis) keeps it where every process of a fleet sees it, and changes it atomically
there. The core's limiter logic (reserve, wait, give back on cancel, hold a slot, settle) is
the same over any store.

Every method is a small atomic step, so a store on a server needs one round trip per step:

``reserve``
    Take one request and ``tokens`` tokens from the scope's buckets *now* (a bucket may go
    below zero: later callers then wait longer, in arrival order) and return the seconds to
    wait before the reservation may be used, a pause included.
``give_back``
    Return a reservation not used (the caller was cancelled while waiting).
``settle``
    Take ``delta`` more tokens (or give ``-delta`` back) once the answer reported its usage.
``acquire_lease``
    Hold one of the scope's ``max_concurrent`` slots under ``lease`` for at most
    ``ttl_seconds`` (a holder that dies frees its slot when the lease expires); returns 0.0 when
    held, else the seconds after which a slot may be free (the caller waits and asks again).
``release_lease``
    Free a slot (idempotent).
``penalize``
    The vendor answered 429: grant nothing in this scope for ``seconds``, then refill from
    empty.
``admit`` / ``finish``
    The common case of a call in one step each: ``reserve`` and, when nothing has to wait,
    ``acquire_lease``; at the end, ``settle`` and ``release_lease``. A store on a server
    makes each one round trip.
``circuit_enter`` / ``circuit_report``
    A circuit's admission and its outcome. While open, after the cool-down exactly one caller
    in the whole store becomes the probe (its probe turn expires after ``ttl_seconds``, should
    it die without reporting).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

import attrs

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitEntry", "CircuitScope", "LimitScope",
           "LimitStore", "MemoryLimitStore", "Outcome"]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

#: How an attempt through a circuit ended: the provider answered, failed, or the attempt was
#: abandoned (cancelled) without a verdict.
Outcome = Literal["success", "failure", "abandon"]


@attrs.frozen(kw_only=True)
class LimitScope:
    """The limits of one provider entry (``key="provider:<name>"``) or model alias
    (``key="model:<alias>"``), as the configuration's ``rate_limit`` sets them.

    A store keys its state by ``key``; the limits travel with every step, so a configuration
    that changes them takes effect at the next step.
    """

    key: str
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_concurrent: int | None = None

    @property
    def limited(self) -> bool:
        """Whether any limit is set (a scope with none is still paused by 429s)."""
        return bool(self.requests_per_minute or self.tokens_per_minute or self.max_concurrent)


@attrs.frozen(kw_only=True)
class CircuitScope:
    """The circuit breaker settings of one provider entry."""

    key: str
    failure_threshold: int = 5
    cooldown_seconds: float = 30.0


@attrs.frozen(kw_only=True)
class CircuitEntry:
    """A circuit's answer to an attempt that asks to go through.

    ``allowed``: it may go; ``probe``: it is the one probe of a half-open circuit and must
    report its outcome. When not allowed, ``retry_in`` is the seconds until the next probe may
    go (0.0 while a probe is under way), and ``failures`` and ``last_failure`` say why.
    ``changed`` is the transition this entry made (``("open", "half_open")``), if any.
    """

    allowed: bool
    probe: bool = False
    state: str = CLOSED
    retry_in: float = 0.0
    failures: int = 0
    last_failure: str | None = None
    changed: tuple[str, str] | None = None


@runtime_checkable
class LimitStore(Protocol):
    """Where limiter and breaker state lives. See the module docstring for each step.

    Implementations are used from any event loop of the process (asyncio or trio) and must
    keep each step atomic with respect to every other user of the same state.
    """

    #: Short name for logs and events ("memory", "redis").
    name: str

    async def reserve(self, scope: LimitScope, tokens: int) -> float:
        """Reserve one request and ``tokens`` tokens now; the seconds to wait before use."""
        ...

    async def give_back(self, scope: LimitScope, tokens: int) -> None:
        """Return a reservation of one request and ``tokens`` tokens that was not used."""
        ...

    async def settle(self, scope: LimitScope, delta: int) -> None:
        """Take ``delta`` more tokens (negative: give them back) after the answer."""
        ...

    async def acquire_lease(self, scope: LimitScope, lease: str, ttl_seconds: float) -> float:
        """Hold a concurrency slot as ``lease``: 0.0 when held, else seconds to wait."""
        ...

    async def release_lease(self, scope: LimitScope, lease: str) -> None:
        """Free the slot held as ``lease`` (nothing if it is not held)."""
        ...

    async def penalize(self, scope: LimitScope, seconds: float) -> None:
        """Grant nothing in ``scope`` for ``seconds``, then start from empty buckets."""
        ...

    async def admit(self, scope: LimitScope, tokens: int, lease: str | None,
                    ttl_seconds: float) -> tuple[float, float | None]:
        """``reserve``, then ``acquire_lease`` if ``lease`` is given and nothing waits:
        (the reservation's wait, the lease's wait or ``None`` when it was not tried)."""
        ...

    async def finish(self, scope: LimitScope, lease: str | None, delta: int) -> None:
        """``settle(delta)`` and ``release_lease(lease)`` (either may be a no-op)."""
        ...

    async def circuit_enter(self, circuit: CircuitScope, ttl_seconds: float) -> CircuitEntry:
        """Admission of one attempt through ``circuit``."""
        ...

    async def circuit_report(self, circuit: CircuitScope, outcome: Outcome, *, probe: bool,
                             reason: str | None = None) -> tuple[str, str] | None:
        """The outcome of an admitted attempt; the transition it caused, if any."""
        ...

    async def aclose(self) -> None:
        """Release the store's connections of the running event loop."""
        ...


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
