"""The storage seam of rate limits and circuit breakers: what a limit store does.

.. note:: This module moves into the core (the plugin-author surface) once the core's
   limiter subpackage settles; the plugin then imports it from there. Nothing here depends on
   Redis.

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

from typing import Literal, Protocol, runtime_checkable

import attrs

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitEntry", "CircuitScope", "LimitScope",
           "LimitStore", "Outcome"]

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
