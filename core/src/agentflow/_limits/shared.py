"""Rate limiter and circuit breaker over a :class:`~agentflow.limitstore.LimitStore` that a
plugin provides: the in-process limiter's behaviour, with its state wherever the store keeps
it (agentflow-redis: in Redis, shared by every process).

:class:`StoreLimiter` reserves a request's share (one round trip), sleeps for the wait the
store computed, then holds a concurrency slot (a lease; one round trip when free). A caller
cancelled on the way gives its reservation and its slot back. Waiting for a slot asks the store
again when a slot of this process is freed, or after a short poll interval that grows to
:data:`MAX_POLL` (another process's release is not announced).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import anyio

from agentflow._http.transport import current_loop_token as _loop_token
from agentflow.errors import CircuitOpenError

if TYPE_CHECKING:
    from collections.abc import Callable

    from agentflow.limitstore import CircuitScope, LimitScope, LimitStore, Outcome

__all__ = ["StoreBreaker", "StoreLimiter", "StorePermit", "StoreProbe"]

#: First and longest pause between two asks for a concurrency slot held by others.
FIRST_POLL = 0.002
MAX_POLL = 0.05
#: Extra lifetime of a lease (or a probe's turn) beyond the call's own time limit, and the
#: time limit assumed when none is given.
LEASE_MARGIN = 5.0
DEFAULT_HOLD = 600.0
#: How long a circuit seen closed (with no failures) is trusted before the store is asked again.
CLOSED_FOR = 0.1
#: The bound on anything given back during a cancellation (each store step has its own too).
_CLEANUP = 1.0


class StorePermit:
    """What :meth:`StoreLimiter.acquire` grants: the reservation and, with
    ``max_concurrent``, a slot. Release it once (further calls do nothing).

    A settlement made before the release travels with it: one step at the end of the call.
    """

    __slots__ = ("_delta", "_lease", "_limiter", "_released", "_tokens", "waited")

    def __init__(self, limiter: StoreLimiter, tokens: int, lease: str | None,
                 waited: float) -> None:
        self._limiter = limiter
        self._tokens = tokens
        self._lease = lease
        self._delta = 0
        self._released = False
        self.waited = waited

    def settle(self, used_tokens: int | None) -> None:
        """Correct the token reservation with what the answer reported using: sent with the
        release (a correction reported after the release is dropped)."""
        limiter = self._limiter
        if used_tokens is None or not limiter.scope.tokens_per_minute:
            return
        if not self._released:
            self._delta += used_tokens - self._tokens
            self._tokens = used_tokens

    async def aclose(self) -> None:
        """Free the slot (safe to call more than once, and while cancelled)."""
        if self._released:
            return
        self._released = True
        if self._lease is None and self._delta == 0:
            return
        limiter = self._limiter
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP):
            await limiter.store.finish(limiter.scope, self._lease, self._delta)
        if self._lease is not None:
            limiter._slot_freed()


class StoreLimiter:
    """The limits of one scope (a provider entry or a model), kept in ``store``."""

    def __init__(self, store: LimitStore, scope: LimitScope) -> None:
        self.store = store
        self.scope = scope
        self.tokens = bool(scope.tokens_per_minute)
        self._freed: dict[object, anyio.Event] = {}

    async def acquire(self, tokens: int = 0, *, ttl_seconds: float | None = None
                      ) -> StorePermit:
        """Wait for the share of one request of about ``tokens`` tokens, then for a slot held
        for at most ``ttl_seconds`` (plus a margin) should this process die holding it."""
        started = time.perf_counter()
        store, scope = self.store, self.scope
        lease = uuid.uuid4().hex if scope.max_concurrent is not None else None
        ttl = (ttl_seconds if ttl_seconds is not None else DEFAULT_HOLD) + LEASE_MARGIN
        # Each step is shielded (it is short: the store bounds it): a caller cancelled while
        # the store was granting must know what it was granted, to give it back.
        with anyio.CancelScope(shield=True):
            wait, held = await store.admit(scope, tokens, lease, ttl)
        try:
            if wait > 0:
                await anyio.sleep(wait)
            if lease is not None and held != 0.0:
                await self._hold(lease, ttl, held)
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP):
                await store.give_back(scope, tokens)
                if lease is not None:
                    await store.release_lease(scope, lease)
            raise
        return StorePermit(self, tokens, lease, time.perf_counter() - started)

    async def apenalize(self, seconds: float | None) -> None:
        """The vendor answered 429: every user of the store pauses (one second without
        advice)."""
        await self.store.penalize(self.scope, seconds if seconds is not None else 1.0)

    async def _hold(self, lease: str, ttl: float, retry: float | None) -> None:
        poll = FIRST_POLL
        while True:
            if retry is None:  # not asked yet (the reservation had to wait)
                retry = await self._ask(lease, ttl)
            if retry <= 0:
                return
            token = _loop_token()
            freed = self._freed.get(token)
            if freed is None:
                freed = self._freed[token] = anyio.Event()
            with anyio.move_on_after(min(retry, poll)):
                await freed.wait()
            poll = min(poll * 2, MAX_POLL)
            retry = None

    async def _ask(self, lease: str, ttl: float) -> float:
        with anyio.CancelScope(shield=True):  # a slot granted must be known, to be freed
            retry = await self.store.acquire_lease(self.scope, lease, ttl)
        return retry

    def _slot_freed(self) -> None:
        freed = self._freed.pop(_loop_token(), None)
        if freed is not None:
            freed.set()


class StoreProbe:
    """One attempt's pass through a :class:`StoreBreaker`; report its outcome once."""

    __slots__ = ("_breaker", "_done", "is_probe")

    def __init__(self, breaker: StoreBreaker, is_probe: bool) -> None:
        self._breaker = breaker
        self.is_probe = is_probe
        self._done = False

    async def asuccess(self) -> None:
        """The provider answered."""
        await self._report("success", None)

    async def afailure(self, reason: str) -> None:
        """The provider failed (connection, timeout, 5xx)."""
        await self._report("failure", reason)

    async def aabandon(self) -> None:
        """The attempt ended without a verdict: a probe frees its turn."""
        if self.is_probe:
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP):
                await self._report("abandon", None)
        self._done = True

    async def _report(self, outcome: Outcome, reason: str | None) -> None:
        if self._done:
            return
        self._done = True
        breaker = self._breaker
        if outcome == "success" and not self.is_probe and breaker.closed_hint:
            return  # a closed circuit with no failures: nothing to write
        changed = await breaker.store.circuit_report(breaker.circuit, outcome,
                                                     probe=self.is_probe, reason=reason)
        breaker.closed_hint = changed is None and outcome == "success"
        if changed is not None:
            breaker.changed(*changed)


class StoreBreaker:
    """The circuit of one provider entry, kept in ``store``. ``on_change(old, new)`` hears
    the transitions this process made."""

    def __init__(self, store: LimitStore, circuit: CircuitScope, *,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self.store = store
        self.circuit = circuit
        self.provider = circuit.key
        self.on_change = on_change
        # Whether the last verdict this process saw was "closed, no failures": a success then
        # needs no round trip. Wrong at worst for one report after another process's failure.
        self.closed_hint = False
        # Until when that verdict is trusted without asking (time.monotonic()).
        self.closed_until = 0.0

    async def aenter(self, ttl_seconds: float | None = None) -> StoreProbe:
        """Permission for one attempt, or :class:`CircuitOpenError` while the circuit is open
        (or the fleet's one probe is under way).

        A circuit seen closed with no failures is trusted for :data:`CLOSED_FOR` without
        asking the store again: another process's opening reaches this one that much later.
        """
        if self.closed_hint and time.monotonic() < self.closed_until:
            return StoreProbe(self, False)
        ttl = (ttl_seconds if ttl_seconds is not None else DEFAULT_HOLD) + LEASE_MARGIN
        with anyio.CancelScope(shield=True):  # a probe's turn granted must be reported
            entry = await self.store.circuit_enter(self.circuit, ttl)
        if entry.changed is not None:
            self.changed(*entry.changed)
        if entry.allowed:
            self.closed_hint = not entry.probe and entry.failures == 0
            if self.closed_hint:
                self.closed_until = time.monotonic() + CLOSED_FOR
            return StoreProbe(self, entry.probe)
        self.closed_hint = False
        cooldown = self.circuit.cooldown_seconds
        when = (f"the next probe may go in {entry.retry_in:.1f} s" if entry.retry_in > 0
                else "a probe request is under way")
        raise CircuitOpenError(
            f"{self.provider} failed {entry.failures} times in a row (last: "
            f"{entry.last_failure}), so requests to it fail fast for {cooldown:g} s; {when}. "
            "Fallback models, if configured, are tried meanwhile.",
            provider=self.provider, retry_at=time.monotonic() + entry.retry_in)

    def changed(self, old: str, new: str) -> None:
        """Tell ``on_change`` of a transition."""
        if self.on_change is not None:
            self.on_change(old, new)
