"""Helpers for tests that time things without depending on the machine's speed.

Two tools, both public seams of agentflow:

``virtual_time()``
    Runs an async test under trio with a ``MockClock(autojump_threshold=0)``: whenever every
    task is blocked, the clock jumps to the next deadline, so a 30 s Retry-After, a rate
    limiter's wait or a read timeout pass in no real time, and the test asserts exact
    durations. Only in-process I/O may run under it (a real socket would let the clock jump
    while the bytes travel): use ``InProcessFake``.
``InProcessFake``
    The fake provider app (``agentflow.testing.app.FakeApp``, with the same emulations,
    scripts and recorded requests as ``FakeServer``), answered in the test's own event loop
    through ``httpx.ASGITransport``, put under agentflow with ``Runtime(transport=...)``.
``Exchanges``
    A recording transport factory for ``Runtime(transport=...)``: real HTTP, and a count of
    the exchanges still open (request sent, response not closed) and of the most at once,
    which is how tests see that a cancelled call leaves no connection busy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from trio.testing import MockClock

from agentflow.testing import PluginHost, Reply
from agentflow.testing.app import FakeApp
from agentflow.testing.server import collect_fakes


def virtual_time():
    """Run the marked async test once, under trio on a fresh auto-jumping MockClock."""
    clock = MockClock(autojump_threshold=0)
    return pytest.mark.parametrize(
        "anyio_backend", [pytest.param(("trio", {"clock": clock}), id="trio-virtual")])


class InProcessFake:
    """The fake provider server's app, served in-process (no socket, no thread)."""

    ROOT = "https://fake.invalid"

    def __init__(self, host: PluginHost) -> None:
        self.app = FakeApp(collect_fakes(host))
        self.transport = _ReadTimeout(httpx.ASGITransport(app=self.app))

    def base_url(self, provider: str) -> str:
        return self.ROOT + self.app.prefix(provider)

    def script(self, provider: str, *replies: Reply) -> None:
        self.app.script(provider, *replies)

    @property
    def requests(self):
        return self.app.requests


class _ReadTimeout(httpx.AsyncBaseTransport):
    """httpx enforces its timeouts in the network layer, which an ASGI app does not have:
    this applies the request's read limit to the whole exchange (the ASGI transport hands
    back a complete response, so waiting for it is waiting for the first byte)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        read = request.extensions.get("timeout", {}).get("read")
        with anyio.move_on_after(read if read is not None else float("inf")) as scope:
            return await self.inner.handle_async_request(request)
        assert scope.cancelled_caught
        raise httpx.ReadTimeout("no answer within the read limit", request=request)


class Exchanges:
    """Counts the HTTP exchanges of every pool it makes transports for.

    ``open`` is how many requests are on their way or have a response not yet closed (a busy
    connection), ``peak`` the most at once, ``sent`` how many were sent.
    """

    def __init__(self) -> None:
        self.open = 0
        self.peak = 0
        self.sent = 0

    def transport(self, settings: object) -> httpx.AsyncBaseTransport:
        """The factory to pass as ``Runtime(transport=exchanges.transport)``."""
        return _Counted(httpx.AsyncHTTPTransport(limits=httpx.Limits(
            max_connections=512, max_keepalive_connections=128)), self)


class _Counted(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, counts: Exchanges) -> None:
        self.inner = inner
        self.counts = counts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        counts = self.counts
        counts.sent += 1
        counts.open += 1
        counts.peak = max(counts.peak, counts.open)
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException:
            counts.open -= 1
            raise
        return httpx.Response(status_code=response.status_code, headers=response.headers,
                              stream=_Closing(response.stream, counts),
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Closing(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, counts: Exchanges) -> None:
        self.stream = stream
        self.counts = counts
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:  # the inner iterator itself: no generator
        return self.stream.__aiter__()                # of ours to be left unfinished

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self.counts.open -= 1
        await self.stream.aclose()
