"""The call's clock and deadline (agentflow._call.clock): the loop's own clock, and a deadline
that raises TimeoutError only when it expired itself."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from virtual import virtual_time

from agentflow._call.clock import Deadline, loop_clock

pytestmark = pytest.mark.anyio


async def test_the_clock_is_the_running_loops(anyio_backend):
    clock = loop_clock()
    if anyio_backend == "asyncio":
        assert clock == asyncio.get_running_loop().time
    else:
        import trio

        assert clock is trio.current_time


@virtual_time()
async def test_the_clock_reads_what_anyio_reads_under_a_mock_clock():
    clock = loop_clock()
    assert clock() == anyio.current_time()
    await anyio.sleep(30)  # the MockClock jumps
    assert clock() == anyio.current_time()


async def test_an_expired_deadline_raises_timeout_error(anyio_backend):
    with pytest.raises(TimeoutError) as caught, Deadline(loop_clock()() - 1):
        await anyio.sleep(3600)
    assert caught.value.__suppress_context__  # the backend's cancellation is no part of it


@virtual_time()
async def test_the_deadline_falls_at_its_time():
    clock = loop_clock()
    start = clock()
    with pytest.raises(TimeoutError), Deadline(start + 12.5):
        await anyio.sleep(3600)
    assert clock() - start == 12.5


async def test_a_cancellation_from_outside_is_not_a_timeout(anyio_backend):
    with anyio.CancelScope() as outer:
        with Deadline(loop_clock()() + 3600):
            outer.cancel()
            await anyio.sleep(3600)
    assert outer.cancelled_caught


async def test_an_error_inside_passes_through_and_a_quick_block_ends_normally(anyio_backend):
    with pytest.raises(KeyError, match="inside"), Deadline(loop_clock()() + 3600):
        raise KeyError("inside")
    steps = []
    with Deadline(loop_clock()() + 3600):
        await anyio.sleep(0)
        steps.append("slept")
    steps.append("left")
    assert steps == ["slept", "left"]
