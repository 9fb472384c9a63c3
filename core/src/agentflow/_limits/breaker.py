"""A circuit breaker per provider: stop sending to a provider that keeps failing.

Closed (normal): attempts go through, and ``failure_threshold`` failures in a row open the
circuit. Open: attempts fail at once with :class:`~agentflow.errors.CircuitOpenError`, without
reaching the network, until ``cooldown_seconds`` have passed. Then one attempt is let through
as a probe (half open) while the others keep failing fast: its success closes the circuit, its
failure opens it for another cool-down. A probe whose caller went away (cancelled) gives its
turn to the next caller.

What counts as a failure is the client's call: connection errors, timeouts and 5xx count; a
4xx (the request's fault) or a 429 (the rate limiter's business) does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from agentflow.errors import CircuitOpenError

__all__ = ["CircuitBreaker", "Probe"]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class Probe:
    """One attempt's pass through the breaker; report how it went exactly once."""

    __slots__ = ("_breaker", "_done", "is_probe")

    def __init__(self, breaker: CircuitBreaker, is_probe: bool) -> None:
        self._breaker = breaker
        self.is_probe = is_probe
        self._done = False

    def success(self) -> None:
        """The provider answered (any answer that is not its own failure)."""
        if not self._done:
            self._done = True
            self._breaker._succeeded()

    def failure(self, reason: str) -> None:
        """The provider failed (connection, timeout, 5xx)."""
        if not self._done:
            self._done = True
            self._breaker._failed(reason, self.is_probe)

    def abandon(self) -> None:
        """The attempt ended without a verdict (cancelled): a probe frees its turn."""
        if not self._done:
            self._done = True
            if self.is_probe:
                self._breaker._probing = False

    # The client reports through these, the same for a breaker whose state is shared.
    async def asuccess(self) -> None:
        """:meth:`success`."""
        self.success()

    async def afailure(self, reason: str) -> None:
        """:meth:`failure`."""
        self.failure(reason)

    async def aabandon(self) -> None:
        """:meth:`abandon`."""
        self.abandon()


class CircuitBreaker:
    """The breaker of one provider. ``on_change(old_state, new_state)`` hears transitions."""

    def __init__(self, provider: str, *, failure_threshold: int = 5,
                 cooldown_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str, str], None] | None = None,
                 endpoint: str | None = None) -> None:
        self.provider = provider
        #: Which of the provider's endpoints (model and base URL) this breaker guards.
        self.endpoint = endpoint
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self.on_change = on_change
        self._clock = clock
        self.state = CLOSED
        self.failures = 0
        self.opened_at: float | None = None
        self.last_failure: str | None = None
        self._probing = False

    def enter(self) -> Probe:
        """Permission for one attempt, or :class:`CircuitOpenError` while the circuit is open
        (or a probe is already under way)."""
        if self.state == CLOSED:
            return Probe(self, False)
        now = self._clock()
        assert self.opened_at is not None
        retry_at = self.opened_at + self.cooldown_seconds
        if now >= retry_at and not self._probing:
            self._probing = True
            self._set(HALF_OPEN)
            return Probe(self, True)
        wait = max(0.0, retry_at - now)
        when = (f"the next probe may go in {wait:.1f} s" if not self._probing
                else "a probe request is under way")
        raise CircuitOpenError(
            f"{self._where()} failed {self.failures} times in a row (last: "
            f"{self.last_failure}), so requests to it fail fast for {self.cooldown_seconds:g} s; "
            f"{when}. Fallback models, if configured, are tried meanwhile.",
            provider=self.provider, retry_at=retry_at)

    async def aenter(self, ttl_seconds: float | None = None) -> Probe:
        """:meth:`enter`, as the client asks every breaker (``ttl_seconds``, how long a probe
        may take, matters only to a shared store)."""
        return self.enter()

    def snapshot(self) -> dict[str, object]:
        """The breaker's state, for metrics and health checks."""
        return {"provider": self.provider, "endpoint": self.endpoint, "state": self.state,
                "failures": self.failures, "opened_at": self.opened_at,
                "last_failure": self.last_failure}

    def _where(self) -> str:
        return f"{self.provider} ({self.endpoint})" if self.endpoint else self.provider

    def _succeeded(self) -> None:
        self.failures = 0
        self._probing = False
        if self.state != CLOSED:
            self.opened_at = None
            self._set(CLOSED)

    def _failed(self, reason: str, probe: bool) -> None:
        self.failures += 1
        self.last_failure = reason
        if probe:
            self._probing = False
        if probe or (self.state == CLOSED and self.failures >= self.failure_threshold):
            self.opened_at = self._clock()
            self._set(OPEN)

    def _set(self, state: str) -> None:
        old, self.state = self.state, state
        if old != state and self.on_change is not None:
            self.on_change(old, state)
