"""The running event loop's clock, and a deadline over it, at the cost of the hot path.

``anyio.current_time()`` asks sniffio which library runs, then that library's loop, on every
read; ``anyio.fail_after`` reads it again and nests two generator context managers. A call
reads the clock four times and sets one deadline, so it looks the clock up once
(:func:`loop_clock`) and sets the deadline on a bare cancel scope (:class:`Deadline`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import anyio

__all__ = ["Deadline", "loop_clock"]


def loop_clock() -> Callable[[], float]:
    """The running loop's clock: what ``anyio.current_time`` reads (trio's honours a
    ``MockClock``). Call it inside the loop; the function it returns may be kept for as long
    as that loop runs."""
    import asyncio

    try:
        return asyncio.get_running_loop().time
    except RuntimeError:
        import trio

        return trio.current_time


class Deadline:
    """``anyio.fail_at(at)``: the block is cancelled at the clock's ``at``, and leaving it
    then raises :class:`TimeoutError` (a cancellation from outside propagates as it is)."""

    __slots__ = ("_scope",)

    def __init__(self, at: float) -> None:
        self._scope = anyio.CancelScope(deadline=at)

    def __enter__(self) -> Deadline:
        self._scope.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        scope = self._scope
        swallowed = scope.__exit__(kind, error, traceback)
        if scope.cancelled_caught:
            raise TimeoutError from None  # not "during handling of" the cancellation
        return bool(swallowed)
