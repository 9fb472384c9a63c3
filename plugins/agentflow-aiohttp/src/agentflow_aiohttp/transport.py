"""An ``httpx.AsyncBaseTransport`` on aiohttp, keeping the promises of httpx's own transport.

The ``httpx-aiohttp`` package does the same in principle, but its 0.2.0 falls short of what
agentflow promises: a connection that breaks while the answer is read is reported as a
*connect* timeout (so a request the provider may have received looks as if it was never
sent), a pool that stays full has no limit of its own, and an answer closed half read goes back
to the pool. This one maps every aiohttp failure to the httpx exception httpx's own transport
raises for the same event, so the core's one mapping of httpx errors applies unchanged:

=============================================  ==============================================
aiohttp                                        httpx
=============================================  ==============================================
waiting for a free connection too long         ``PoolTimeout`` (a limit kept here: aiohttp's
                                               ``connect`` timeout mixes pool and connect)
``ConnectionTimeoutError``                     ``ConnectTimeout``
``SocketTimeoutError`` / ``ServerTimeoutError``  ``ReadTimeout``
``ClientProxyConnectionError``,                ``ProxyError``
``ClientHttpProxyError``
``ClientConnectorError`` (TLS ones included)   ``ConnectError``, the ssl error as its cause
``ServerDisconnectedError``,                   ``RemoteProtocolError``
``ClientPayloadError``, ``ClientResponseError``
``ClientOSError`` and other connection errors  ``ReadError``
``InvalidURL``                                 ``UnsupportedProtocol``
=============================================  ==============================================

Timeouts come from the request's ``timeout`` extension as httpx's do: ``connect`` bounds
opening a connection (TLS handshake included), ``read`` the longest silence while the answer
comes, ``pool`` the wait for a free connection. aiohttp has no write timeout of its own: a
request body is handed to the kernel at once (agentflow's are small), and an upload the server
stops reading is bounded by the read limit, whose clock runs from the start of the exchange,
and by the call's total limit.

No redirect is followed, the body is handed over as it arrives and undecoded (httpx decodes
it, so agentflow's body limits count decoded bytes as over httpx's transport), proxies from
the environment (and ``.netrc``) apply only with ``trust_env``, and TLS uses the context given
(certificate and host name verified). A response closed before its end, or a request
cancelled at any point, closes its connection instead of returning it to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

import aiohttp
import httpx

if TYPE_CHECKING:
    import ssl

__all__ = ["AiohttpTransport"]

#: aiohttp exception class -> the httpx class raised in its place; the first match wins, so
#: subclasses come before their bases.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
)


@contextlib.contextmanager
def _mapped_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except aiohttp.ClientError as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc) or type(exc).__name__, request=request) from exc
        raise  # pragma: no cover - ClientError is the last entry


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests over one ``aiohttp.ClientSession`` (created on first use, in the
    running asyncio loop, and closed by :meth:`aclose`).

    :param ssl_context: the TLS context of every connection (verification is its business).
    :param limits: ``max_connections`` bounds the connections in use at once (a request waits
        for a free one at most the ``pool`` timeout); idle connections are closed after
        ``keepalive_expiry``. aiohttp keeps at most as many idle connections as were in use
        at once, so ``max_keepalive_connections`` is not needed to bound them.
    :param trust_env: use proxies from ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY`` and
        ``.netrc`` credentials, as httpx's ``trust_env``; off, the environment is ignored.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits | None = None,
                 trust_env: bool = False) -> None:
        limits = limits or httpx.Limits()
        self._ssl_context = ssl_context
        self._max_connections = limits.max_connections
        self._keepalive_expiry = limits.keepalive_expiry
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._ssl_context,
            limit=0,  # the semaphore bounds connections in use, with a pool timeout
            keepalive_timeout=(self._keepalive_expiry if self._keepalive_expiry is not None
                               else 15.0),
        )
        if self._max_connections is not None:
            self._slots = asyncio.Semaphore(self._max_connections)
        # Cookies are the httpx client's business, as over httpx's own transport.
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=self._trust_env, auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return its response with the body still to read."""
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        await self._take_slot(request, timeout.get("pool"))
        try:
            body = await request.aread()
            with _mapped_errors(request):
                response = await session.request(
                    request.method, str(request.url),
                    headers=request.headers.multi_items(),
                    data=body or None,
                    allow_redirects=False,
                    compress=None,
                    timeout=aiohttp.ClientTimeout(
                        total=None, connect=None, sock_connect=timeout.get("connect"),
                        sock_read=timeout.get("read")),
                    server_hostname=request.extensions.get("sni_hostname"),
                )
        except BaseException:
            self._give_slot()
            raise
        extensions = {"http_version": b"HTTP/%d.%d" % tuple(response.version or (1, 1))}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("ascii", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response, request, self._give_slot),
            request=request,
            extensions=extensions,
        )

    async def _take_slot(self, request: httpx.Request, pool_timeout: float | None) -> None:
        slots = self._slots
        if slots is None:
            return
        if not slots.locked():
            await slots.acquire()  # free: returns at once
            return
        try:
            async with _deadline(pool_timeout):
                await slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no connection of the pool became free in time",
                                    request=request) from None

    def _give_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def aclose(self) -> None:
        """Close the session and every connection it holds."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _deadline(seconds: float | None) -> contextlib.AbstractAsyncContextManager[object]:
    """``asyncio.timeout`` (3.11+; its cancellation of the wait cannot lose a slot that was
    granted at the same moment, unlike ``asyncio.wait_for`` before 3.12)."""
    timeout = getattr(asyncio, "timeout", None)
    if timeout is not None:
        return timeout(seconds)  # type: ignore[no-any-return]
    return _wait_for_deadline(seconds)  # pragma: no cover - Python 3.10


@contextlib.asynccontextmanager
async def _wait_for_deadline(seconds: float | None) -> AsyncIterator[object]:  # pragma: no cover
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    handle = loop.call_later(seconds, task.cancel) if seconds is not None else None
    try:
        yield None
    except asyncio.CancelledError:
        if handle is not None and handle.when() <= loop.time():
            raise TimeoutError from None
        raise
    finally:
        if handle is not None:
            handle.cancel()


class _ResponseBody(httpx.AsyncByteStream):
    """An answer's body as it arrives; closing it gives the connection back to the pool when
    the body was read to its end, and closes the connection otherwise."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request,
                 release: Callable[[], None]) -> None:
        self._response = response
        self._request = request
        self._release = release
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        with _mapped_errors(self._request):
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        response = self._response
        try:
            if response.content.at_eof():
                response.release()
            else:
                response.close()  # a half-read answer must not be reused
        finally:
            self._release()
