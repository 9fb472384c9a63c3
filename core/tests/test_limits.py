"""Token buckets and the request limiter: waits, fairness, give-backs and the vendor's pause."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from virtual import virtual_time

from agentflow._limits.rates import (
    DEFAULT_ANSWER_TOKENS,
    RequestLimiter,
    SlidingWindow,
    TokenBucket,
    estimate_tokens,
)
from agentflow.config import RateLimitConfig


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the bucket ----------------------------------------------------------------------------------


def test_a_full_bucket_grants_a_minute_at_once_then_makes_you_wait():
    clock = Clock()
    bucket = TokenBucket(60, clock=clock)  # one a second
    assert [bucket.reserve(1) for _ in range(60)] == [0.0] * 60
    assert bucket.reserve(1) == pytest.approx(1.0)
    assert bucket.reserve(1) == pytest.approx(2.0)  # the next waits behind the previous


def test_it_refills_continuously_up_to_capacity():
    clock = Clock()
    bucket = TokenBucket(120, clock=clock)  # two a second
    bucket.reserve(120)
    clock.now += 1.5
    assert bucket.level == pytest.approx(3.0)
    clock.now += 3600
    assert bucket.level == 120


def test_an_oversized_request_waits_for_a_full_bucket_not_for_ever():
    clock = Clock()
    bucket = TokenBucket(600, clock=clock)
    bucket.reserve(600)
    assert bucket.reserve(10_000) == pytest.approx(60.0)  # clamped to 600: a minute at 10/s


def test_giving_back_shortens_the_next_wait():
    clock = Clock()
    bucket = TokenBucket(60, clock=clock)
    bucket.reserve(60)
    bucket.reserve(5)
    bucket.give_back(5)
    assert bucket.reserve(1) == pytest.approx(1.0)


def test_adjusting_after_the_fact():
    clock = Clock()
    bucket = TokenBucket(600, clock=clock)
    bucket.reserve(100)
    bucket.adjust(400)  # the answer used 400 more than estimated
    assert bucket.level == pytest.approx(100)
    bucket.adjust(-1000)
    assert bucket.level == 600  # never above capacity


def test_a_pause_grants_nothing_then_starts_from_empty():
    clock = Clock()
    bucket = TokenBucket(60, clock=clock)
    bucket.pause(5)
    assert bucket.reserve(1) == pytest.approx(5.0)
    clock.now += 5
    assert bucket.level == pytest.approx(4.0)  # refilled for 5 s from -1


@given(st.lists(st.tuples(st.floats(0, 30), st.integers(1, 50)), max_size=60))
def test_never_more_than_capacity_plus_refill_is_granted_without_waiting(steps):
    clock = Clock()
    bucket = TokenBucket(100, clock=clock)
    start, granted = clock.now, 0
    for elapsed, amount in steps:
        clock.now += elapsed
        if bucket.reserve(amount) == 0:
            granted += amount
        else:
            bucket.give_back(amount)
    assert granted <= 100 + (clock.now - start) * 100 / 60 + 1e-6


def test_rates_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


def test_estimates():
    assert estimate_tokens(400, 50) == 150
    assert estimate_tokens(1, None) == 1 + DEFAULT_ANSWER_TOKENS


# --- the limiter ---------------------------------------------------------------------------------

pytestmark = pytest.mark.anyio


async def test_no_limits_means_no_waiting_and_a_count():
    limiter = RequestLimiter()
    permits = [await limiter.acquire(100) for _ in range(1000)]
    assert limiter.in_flight == 1000
    assert all(permit.waited == 0 for permit in permits)
    for permit in permits:
        permit.release()
        permit.release()  # idempotent
    assert limiter.in_flight == 0


@virtual_time()
async def test_requests_per_minute_make_the_overflow_wait():
    limiter = RequestLimiter(requests_per_minute=600, clock=anyio.current_time)  # 10 a second
    for _ in range(600):
        (await limiter.acquire()).release()
    started = anyio.current_time()
    permit = await limiter.acquire()
    assert anyio.current_time() - started == pytest.approx(0.1)
    assert permit.waited == pytest.approx(0.1)


@virtual_time()
async def test_waits_are_served_in_arrival_order():
    limiter = RequestLimiter(requests_per_minute=1200, clock=anyio.current_time)  # 1 per 50 ms
    for _ in range(1200):
        (await limiter.acquire()).release()
    order: list[int] = []

    async def ask(number: int) -> None:
        (await limiter.acquire()).release()
        order.append(number)

    async with anyio.create_task_group() as tasks:
        for number in range(5):
            tasks.start_soon(ask, number)
            await anyio.sleep(0.001)
    assert order == [0, 1, 2, 3, 4]


@virtual_time()
async def test_a_cancelled_waiter_gives_its_turn_back():
    clock_limiter = RequestLimiter(requests_per_minute=600, clock=anyio.current_time)
    for _ in range(600):
        (await clock_limiter.acquire()).release()
    with anyio.move_on_after(0.02):
        await clock_limiter.acquire()  # reserved 100 ms ahead, then cancelled
    started = anyio.current_time()
    await clock_limiter.acquire()
    waited = anyio.current_time() - started
    assert waited == pytest.approx(0.08)  # not 0.18: the cancelled reservation was returned
    assert clock_limiter.in_flight == 1


@virtual_time()
async def test_max_concurrent_is_never_exceeded():
    limiter = RequestLimiter(max_concurrent=7, clock=anyio.current_time)
    peak = 0

    async def work() -> None:
        nonlocal peak
        permit = await limiter.acquire()
        peak = max(peak, limiter.in_flight)
        await anyio.sleep(0.001)
        permit.release()

    async with anyio.create_task_group() as tasks:
        for _ in range(500):
            tasks.start_soon(work)
    assert peak == 7
    assert limiter.in_flight == 0


@virtual_time()
async def test_cancelled_while_waiting_for_a_slot_leaves_nothing_held():
    limiter = RequestLimiter(max_concurrent=1, requests_per_minute=6000,
                             clock=anyio.current_time)
    held = await limiter.acquire()
    with anyio.move_on_after(0.05):
        await limiter.acquire()
    assert limiter.in_flight == 1
    held.release()
    assert limiter.in_flight == 0
    (await limiter.acquire()).release()


@virtual_time()
async def test_a_vendor_429_pauses_even_an_unlimited_limiter():
    limiter = RequestLimiter(clock=anyio.current_time)
    limiter.penalize(0.15)
    started = anyio.current_time()
    (await limiter.acquire()).release()
    assert anyio.current_time() - started == pytest.approx(0.15)
    (await limiter.acquire()).release()
    assert limiter.limited is False  # back on the fast path once the pause is over


async def test_settling_corrects_the_token_budget():
    limiter = RequestLimiter(tokens_per_minute=1000)
    permit = await limiter.acquire(500)
    permit.settle(100)
    assert limiter.tokens is not None
    assert limiter.tokens.level == pytest.approx(900, abs=1)
    permit.release()


def test_the_token_estimate_weighs_tools_images_calls_and_schemas():
    import json

    from agentflow._call.client import IMAGE_CHARS, prompt_chars
    from agentflow.testing.conformance import PIXEL_PNG
    from agentflow.types import ImagePart, Message, OutputSchema, Request, Tool, ToolCall

    call = ToolCall.of("c", "look", {"q": "x"})
    parameters = {"type": "object", "properties": {"q": {"type": "string"}}}
    schema = {"type": "object"}
    request = Request(model="m", messages=(
        Message.user("abcd", ImagePart.from_bytes(PIXEL_PNG)),
        Message.assistant("", (call,)), Message.tool_result(call, "result")),
        tools=(Tool(name="look", description="Look.", parameters=parameters),),
        output_schema=OutputSchema(name="o", schema=schema))
    expected = (4 + IMAGE_CHARS + len("look") + len(call.raw_arguments) + len("result")
                + len("look") + len("Look.") + len(json.dumps(parameters, separators=(",", ":")))
                + len(json.dumps(schema, separators=(",", ":"))))
    assert prompt_chars(request) == expected
    assert prompt_chars(Request(model="m", messages=(Message.user("abcd"),))) == 4


# --- the strict reading: no more than N in any 60-second window ----------------------------------


def test_a_sliding_window_grants_n_then_waits_for_the_oldest_to_leave_the_window():
    clock = Clock()
    window = SlidingWindow(3, clock=clock)
    assert [window.reserve(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 10
    assert window.reserve(1) == pytest.approx(50.0)  # the first start leaves at 60 s
    assert window.level == -1.0
    window.give_back(1)  # a cancelled reservation keeps its place: never one too many
    assert window.reserve(1) == pytest.approx(50.0)
    clock.now += 50.0
    assert window.level == 1.0  # the first three have left the window; two start now


def test_a_paused_window_grants_nothing_until_the_pause_ends():
    clock = Clock()
    window = SlidingWindow(10, clock=clock)
    window.pause(5)
    assert window.reserve(1) == pytest.approx(5.0)


@given(st.lists(st.floats(0, 40), min_size=1, max_size=80), st.integers(1, 10))
def test_no_60_second_window_ever_holds_more_than_n_starts(gaps, limit):
    clock = Clock()
    window = SlidingWindow(limit, clock=clock)
    starts = []
    for number, gap in enumerate(gaps):
        clock.now += gap
        start = clock.now + window.reserve(1)
        if number % 3 == 2:
            window.give_back(1)  # a caller cancelled while it waited
        else:
            starts.append(start)
    starts.sort()
    for index, start in enumerate(starts):
        inside = [other for other in starts[index:] if other < start + 60]
        assert len(inside) <= limit


@virtual_time()
async def test_strict_window_lets_60_through_in_the_first_minute_where_the_bucket_lets_119():
    """requests_per_minute: 60 as a bucket starts 119 requests within the first minute; read
    strictly, 60 start in it, and the 61st exactly 60 s after the first."""
    async def started_in_first_minute(limiter: RequestLimiter) -> tuple[int, float]:
        begin = anyio.current_time()
        starts: list[float] = []
        with anyio.move_on_after(59.999):
            while True:
                (await limiter.acquire()).release()
                starts.append(anyio.current_time() - begin)
        return len(starts), begin

    bucket = RequestLimiter(requests_per_minute=60, clock=anyio.current_time)
    assert (await started_in_first_minute(bucket))[0] == 119
    strict = RequestLimiter(requests_per_minute=60, strict_window=True,
                            clock=anyio.current_time)
    count, begin = await started_in_first_minute(strict)
    assert count == 60
    (await strict.acquire()).release()
    assert anyio.current_time() - begin == pytest.approx(60.0)


@virtual_time()
async def test_strict_window_comes_from_the_configuration():
    config = RateLimitConfig(requests_per_minute=2, strict_window=True)
    limiter = RequestLimiter.of(config, clock=anyio.current_time)
    assert isinstance(limiter.requests, SlidingWindow)
    assert isinstance(RequestLimiter.of(RateLimitConfig(requests_per_minute=2),
                                        clock=anyio.current_time).requests, TokenBucket)
