"""Running agentflow from code that is not async.

Calls go to one background thread that owns an event loop for the whole process, so the HTTP
pools are reused between calls, as they are in async code.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

T = TypeVar("T")

_lock = threading.Lock()
_portal: BlockingPortal | None = None
_exit_stack = contextlib.ExitStack()


def run_sync(func: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine function ``func`` on agentflow's background loop and return its result.

    Raises :class:`RuntimeError` when called from inside a running event loop: use ``await``
    there instead.
    """
    _refuse_inside_event_loop()
    return _get_portal().call(func)


def _get_portal() -> BlockingPortal:
    global _portal
    with _lock:
        if _portal is None:
            _portal = _exit_stack.enter_context(start_blocking_portal())
            atexit.register(_shutdown)
        return _portal


def _shutdown() -> None:
    global _portal
    with _lock:
        portal, _portal = _portal, None
    if portal is not None:
        from agentflow._runtime.current import close_current_runtime

        with contextlib.suppress(Exception):
            portal.call(close_current_runtime)
        _exit_stack.close()


def _refuse_inside_event_loop() -> None:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError("the *_sync methods cannot run inside an event loop; await the async "
                       "method (execute, execute_response) instead")
