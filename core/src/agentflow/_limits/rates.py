"""Client-side rate limits that wait rather than fail: requests and tokens per minute, and a
cap on requests in flight.

Each limit per minute is a token bucket that refills continuously and holds at most one
minute's worth; with ``strict_window``, requests per minute are a sliding log instead (no more
than N starts in any 60 seconds). A request *reserves* what it needs: the bucket's level may
go below zero, and the request waits until the level it left behind has refilled.
Reservations are taken in arrival order, so waits are fair in arrival order with no queue to
manage; a caller that is cancelled while waiting gives its reservation back, so nobody after it
waits for nothing.

Tokens are estimated before the request (:func:`estimate_tokens`) and corrected from the usage
the answer reports (:meth:`Permit.settle`). A 429 from the vendor pauses the buckets for the
wait it advises (:meth:`RequestLimiter.penalize`): the limiter slows down with the vendor.

With no limit configured, :meth:`RequestLimiter.acquire` returns at once without awaiting: the
common case costs a branch.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from agentflow.config import RateLimitConfig

__all__ = ["Permit", "RequestLimiter", "SlidingWindow", "TokenBucket", "estimate_tokens"]

Clock = Callable[[], float]

#: Characters per token assumed when estimating a prompt (English text averages about four).
CHARS_PER_TOKEN = 4
#: The answer's size assumed when the request sets no output limit.
DEFAULT_ANSWER_TOKENS = 256


def estimate_tokens(prompt_chars: int, max_tokens: int | None) -> int:
    """A request's tokens before it is sent: the prompt at four characters a token, plus the
    output limit (or :data:`DEFAULT_ANSWER_TOKENS`)."""
    answer = max_tokens if max_tokens is not None else DEFAULT_ANSWER_TOKENS
    return math.ceil(prompt_chars / CHARS_PER_TOKEN) + answer


class TokenBucket:
    """``per_minute`` units a minute, refilled continuously, holding at most a minute's worth.

    All methods take the current time from ``clock`` (``time.monotonic`` by default).
    """

    __slots__ = ("_clock", "_level", "_paused_until", "_stamp", "capacity", "rate")

    def __init__(self, per_minute: float, *, clock: Clock = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError(f"a rate must be positive, got {per_minute!r}")
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._clock = clock
        self._level = self.capacity
        self._stamp = clock()
        self._paused_until = -math.inf

    @property
    def level(self) -> float:
        """Units available now (negative: owed to reservations already made)."""
        self._refill()
        return self._level

    def reserve(self, amount: float) -> float:
        """Take ``amount`` now and return the seconds to wait before using it.

        An amount larger than the bucket is clamped to its capacity: such a request waits for
        a full bucket rather than for ever.
        """
        now = self._refill()
        self._level -= min(amount, self.capacity)
        wait = -self._level / self.rate if self._level < 0 else 0.0
        return max(wait, self._paused_until - now)

    def give_back(self, amount: float) -> None:
        """Return units taken and not used (a cancelled reservation)."""
        self._refill()
        self._level = min(self.capacity, self._level + min(amount, self.capacity))

    def adjust(self, delta: float) -> None:
        """Take ``delta`` more units (or give ``-delta`` back) after the fact."""
        self._refill()
        self._level = min(self.capacity, self._level - delta)

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds``, and start again from an empty bucket."""
        now = self._refill()
        self._paused_until = max(self._paused_until, now + seconds)
        self._level = min(self._level, 0.0)

    def _refill(self) -> float:
        now = self._clock()
        elapsed = now - self._stamp
        if elapsed > 0:
            self._level = min(self.capacity, self._level + elapsed * self.rate)
            self._stamp = now
        return now


class SlidingWindow:
    """At most ``per_minute`` requests started in any 60-second window: a log of start times.

    The strict reading of a limit per minute (``rate_limit.strict_window``). A reservation is
    given the earliest start at which fewer than ``per_minute`` starts lie in the 60 seconds
    before it, and holds that start in the log, so later callers queue behind it in arrival
    order. It answers the same calls as :class:`TokenBucket`, for requests (one unit each).
    """

    __slots__ = ("_clock", "_paused_until", "_starts", "capacity")

    WINDOW = 60.0

    def __init__(self, per_minute: float, *, clock: Clock = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError(f"a rate must be positive, got {per_minute!r}")
        self.capacity = int(per_minute)
        self._clock = clock
        self._starts: deque[float] = deque()
        self._paused_until = -math.inf

    @property
    def level(self) -> float:
        """Starts still free in the window ending now (negative: starts reserved ahead)."""
        return float(self.capacity - len(self._forget_old()))

    def reserve(self, amount: float = 1) -> float:
        """Reserve one start and return the seconds to wait before it."""
        now = self._clock()
        starts = self._forget_old(now)
        start = max(now, self._paused_until)
        if len(starts) >= self.capacity:
            start = max(start, starts[-self.capacity] + self.WINDOW)
        starts.append(start)
        return start - now

    def give_back(self, amount: float = 1) -> None:
        """A reservation not used keeps its start in the log: which start was the cancelled
        caller's is not known, and freeing another could let ``capacity + 1`` into a window.
        The strict reading errs on the side of fewer."""

    def adjust(self, delta: float) -> None:
        """Nothing to correct after the fact: a request is one start."""

    def pause(self, seconds: float) -> None:
        """Start nothing for ``seconds``."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _forget_old(self, now: float | None = None) -> deque[float]:
        now = self._clock() if now is None else now
        starts = self._starts
        while starts and starts[0] <= now - self.WINDOW:
            starts.popleft()
        return starts


class Permit:
    """What :meth:`RequestLimiter.acquire` grants: a slot in flight and the reserved budget.

    :meth:`release` frees the slot (idempotent; call it when the answer is complete, the
    stream closed, or the attempt failed). :meth:`settle` corrects the token reservation with
    the tokens the answer really used.
    """

    __slots__ = ("_limiter", "_released", "_tokens", "waited")

    def __init__(self, limiter: RequestLimiter | None, tokens: int, waited: float) -> None:
        self._limiter = limiter
        self._tokens = tokens
        self._released = limiter is None
        self.waited = waited

    def settle(self, used_tokens: int | None) -> None:
        """The answer reported ``used_tokens`` in all: correct the estimate made before."""
        limiter = self._limiter
        if limiter is None or used_tokens is None or limiter.tokens is None:
            return
        limiter.tokens.adjust(used_tokens - self._tokens)
        self._tokens = used_tokens

    def release(self) -> None:
        """Free the slot in flight. Safe to call more than once."""
        if self._released:
            return
        self._released = True
        assert self._limiter is not None
        self._limiter._release_slot()

    async def aclose(self) -> None:
        """:meth:`release`, as the client releases every limiter's permit (a shared store's
        takes a round trip)."""
        self.release()


_FREE = Permit(None, 0, 0.0)


class RequestLimiter:
    """The limits of one provider or model: requests and tokens per minute, requests in flight.

    A limiter belongs to one event loop (its concurrency slots are that loop's); the runtime
    keeps one per provider, model and loop.
    """

    def __init__(self, *, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, max_concurrent: int | None = None,
                 strict_window: bool = False, clock: Clock = time.monotonic) -> None:
        window = SlidingWindow if strict_window else TokenBucket
        self.requests: TokenBucket | SlidingWindow | None = (
            window(requests_per_minute, clock=clock) if requests_per_minute else None)
        self.tokens = TokenBucket(tokens_per_minute, clock=clock) if tokens_per_minute else None
        self.max_concurrent = max_concurrent
        self._slots = anyio.Semaphore(max_concurrent) if max_concurrent else None
        self._clock = clock
        self._paused_until = -math.inf
        self.in_flight = 0
        self.limited = bool(self.requests or self.tokens or self._slots)
        self._configured = self.limited

    @classmethod
    def of(cls, config: RateLimitConfig | None, *,
           clock: Clock = time.monotonic) -> RequestLimiter:
        """The limiter a configuration's ``rate_limit`` describes (none: unlimited)."""
        if config is None:
            return cls(clock=clock)
        return cls(requests_per_minute=config.requests_per_minute,
                   tokens_per_minute=config.tokens_per_minute,
                   max_concurrent=config.max_concurrent,
                   strict_window=config.strict_window, clock=clock)

    async def acquire(self, tokens: int = 0, *, ttl_seconds: float | None = None) -> Permit:
        """Wait for the budget of one request of about ``tokens`` tokens, then for a slot.

        A caller cancelled while waiting gives everything back. ``ttl_seconds`` (how long the
        call may hold its slot) matters only to a shared store's leases.
        """
        if not self.limited:
            self.in_flight += 1
            return Permit(self, tokens, 0.0)
        started = self._clock()  # the limiter's clock: a test's virtual one too
        requests, budget = self.requests, self.tokens
        wait = requests.reserve(1) if requests is not None else 0.0
        if budget is not None:
            wait = max(wait, budget.reserve(tokens))
        paused = self._paused_until - self._clock()
        if paused > 0:
            wait = max(wait, paused)
        elif not self._configured:
            self.limited = False  # the vendor's pause is over: back to the fast path
        try:
            if wait > 0:
                await anyio.sleep(wait)
            if self._slots is not None:
                await self._slots.acquire()
        except BaseException:
            if requests is not None:
                requests.give_back(1)
            if budget is not None:
                budget.give_back(tokens)
            raise
        self.in_flight += 1
        return Permit(self, tokens, self._clock() - started)

    def penalize(self, seconds: float | None) -> None:
        """The vendor answered 429: start nothing for ``seconds`` (one second if it gave no
        advice), then refill the buckets from empty. This applies even with no limit
        configured, so that concurrent callers stop hammering a vendor that said stop."""
        pause = seconds if seconds is not None else 1.0
        self._paused_until = max(self._paused_until, self._clock() + pause)
        self.limited = True
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.pause(pause)

    async def apenalize(self, seconds: float | None) -> None:
        """:meth:`penalize`, as the client calls every limiter's."""
        self.penalize(seconds)

    def _release_slot(self) -> None:
        self.in_flight -= 1
        if self._slots is not None:
            self._slots.release()


def unlimited() -> Permit:
    """A permit that limits nothing (a model with no limits of its own)."""
    return _FREE
