"""A provider's pool: its transport, and the one way agentflow sends through it.

``httpx.AsyncClient.send`` does more per request than agentflow needs, and that work was most
of agentflow's own cost per request over a fast transport: it runs an auth flow and a redirect
loop (agentflow uses neither: a 3xx is an error, the key goes in the codec's headers), and it
copies every answer's cookies into the client's jar through ``http.cookiejar``'s urllib
adapters, a jar no agentflow request ever read: the codecs build each request whole, and
``send`` adds nothing to a built request. So a pool hands the request straight to its
transport, as the client's last step would.

Proxies from the environment (``trust_env``) are the exception: choosing the proxy for a URL
from ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY`` is httpx's client's work, so such a pool
keeps an ``httpx.AsyncClient`` and sends through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx

__all__ = ["ClientPool", "Pool", "TransportPool"]


class Pool(Protocol):
    """Where a provider's requests go: :meth:`send` one, :meth:`aclose` every connection."""

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` has run (a closed pool is replaced, never reused)."""

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` (its ``timeout`` extension set) and return the response with its
        body still to read; raises what httpx's transports raise (``httpx.TransportError``).
        A redirect is returned, not followed."""

    async def aclose(self) -> None:
        """Close the connections this pool owns."""


class TransportPool:
    """A pool sending straight through an ``httpx.AsyncBaseTransport``.

    :param owned: close the transport with the pool. A transport given to
        ``AgentFlow.use_transport`` is shared by every pool and belongs to whoever gave it, so
        its pools leave it open.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport, *, owned: bool = True) -> None:
        self.transport = transport
        self._owned = owned
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    async def send(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("this pool is closed; the pool manager hands out a new one")
        response = await self.transport.handle_async_request(request)
        response.request = request
        return response

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            if self._owned:
                await self.transport.aclose()


class ClientPool:
    """A pool of an ``httpx.AsyncClient`` that follows no redirect: for ``trust_env``, where
    the client picks each request's proxy from the environment."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @property
    def is_closed(self) -> bool:
        return self.client.is_closed

    async def send(self, request: httpx.Request) -> httpx.Response:
        return await self.client.send(request, stream=True)

    async def aclose(self) -> None:
        await self.client.aclose()
