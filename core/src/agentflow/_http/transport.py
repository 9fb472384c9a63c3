"""HTTP plumbing: one pooled ``httpx.AsyncClient`` per provider, and httpx errors mapped to ours.

A pool belongs to the event loop that created it (asyncio loop or trio run): connections cannot
move between loops, so a request made under a different loop (a second ``asyncio.run``, the
synchronous API's own loop) gets a pool of its own.

The transport under the pools is replaceable, as httpx's ``transport=`` is (see
:data:`TransportChoice`): ``AgentFlow.use_transport`` / ``Runtime(transport=...)`` put an
``httpx.MockTransport``, a recording wrapper or any ``httpx.AsyncBaseTransport`` under every
request, with nothing private patched.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import anyio

from agentflow._http.errors import map_http_error

if TYPE_CHECKING:
    from agentflow.errors import LLMError

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable
    from typing import TypeAlias

    import httpx

    from agentflow.types import ModelSettings

#: Many LLM calls are slow and concurrent; httpx's default of 100 connections would queue them.
MAX_CONNECTIONS = 512
MAX_KEEPALIVE_CONNECTIONS = 128

#: What may carry agentflow's requests instead of the network:
#:
#: - an ``httpx.AsyncBaseTransport`` (``httpx.MockTransport(handler)``, ``httpx.ASGITransport``,
#:   a recording wrapper): every provider's pool sends through it, under any event loop;
#:   agentflow never closes it, its owner does;
#: - a factory ``(settings) -> httpx.AsyncBaseTransport``: called for each new pool (one per
#:   provider and event loop) with the :class:`~agentflow.types.ModelSettings` of the model
#:   that needed it; the pool owns and closes what it returns;
#: - ``None``: agentflow's own pooled HTTP transport (TLS from ``ca_bundle``, proxies from
#:   ``trust_env``).
#:
#: A given transport (or a factory's) replaces the network entirely: TLS and proxies are then
#: its business, so ``ca_bundle`` and ``trust_env`` do not apply to it.
if TYPE_CHECKING:
    TransportChoice: TypeAlias = (
        httpx.AsyncBaseTransport | Callable[[ModelSettings], httpx.AsyncBaseTransport] | None)


def current_loop_token() -> object:
    """An object identifying the running event loop (a trio run or an asyncio loop)."""
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    # Not asyncio, so trio, which is imported since it runs this. (Asking trio first would
    # touch a half-imported trio while another thread of the process is importing it.)
    import trio

    return trio.lowlevel.current_trio_token()


class PoolManager:
    """Hands out the shared ``httpx.AsyncClient`` of each provider and closes them all."""

    def __init__(self, transport: TransportChoice = None) -> None:
        # (provider, event loop, ca_bundle, trust_env) -> its pool
        self._clients: dict[tuple[str, object, str | None, bool], httpx.AsyncClient] = {}
        self._transport = transport
        # Pools made before the transport changed: closed by the next aclose().
        self._retired: list[tuple[tuple[str, object, str | None, bool], httpx.AsyncClient]] = []

    @property
    def transport(self) -> TransportChoice:
        """What new pools send through (``None``: agentflow's own HTTP transport)."""
        return self._transport

    def use_transport(self, transport: TransportChoice) -> None:
        """Send later requests through ``transport``; pools made before are retired (closed
        by the next :meth:`aclose`; requests still running on them finish there)."""
        self._retired.extend(self._clients.items())
        self._clients = {}
        self._transport = transport

    def client_for(self, settings: ModelSettings) -> httpx.AsyncClient:
        """The pooled client of ``settings.provider`` for the running event loop.

        A provider whose TLS or proxy settings change (a reloaded configuration) gets a new
        pool; requests still running on the old one finish there.
        """
        key = (settings.provider, current_loop_token(), settings.ca_bundle, settings.trust_env)
        client = self._clients.get(key)
        if client is None or client.is_closed:
            self._forget_dead_loops()
            client = self._clients[key] = self._new_pool(settings)
        return client

    def _new_pool(self, settings: ModelSettings) -> httpx.AsyncClient:
        transport = self._transport
        if transport is None:
            return _new_client(settings.ca_bundle, settings.trust_env)
        import httpx

        if isinstance(transport, httpx.AsyncBaseTransport):
            transport = _borrowed_class()(transport)  # type: ignore[call-arg]
        else:
            transport = transport(settings)
        return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False)

    def _forget_dead_loops(self) -> None:
        """Drop pools of asyncio loops that have closed (a script calling ``asyncio.run``
        repeatedly without ``aclose``): their connections died with the loop, and keeping them
        would keep every old loop alive."""
        for key in [key for key in self._clients if getattr(key[1], "is_closed", _open)()]:
            del self._clients[key]

    async def aclose(self) -> None:
        """Close every pool that belongs to the running event loop; forget the others."""
        token = current_loop_token()
        clients = [*self._clients.items(), *self._retired]
        self._clients, self._retired = {}, []
        with anyio.CancelScope(shield=True):
            for (_, owner, *_), client in clients:
                if owner is token:
                    await client.aclose()

    def __len__(self) -> int:
        return len(self._clients)


@functools.cache
def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context: certifi's public roots, or the CA certificates in
    ``ca_bundle``. Cached: building one costs tens of milliseconds. Verification of the
    certificate and of the host name is never turned off."""
    import ssl

    if ca_bundle is None:
        import certifi

        ca_bundle = certifi.where()
    return ssl.create_default_context(cafile=ca_bundle)


def _open() -> bool:
    return False


@functools.cache
def _borrowed_class() -> type[httpx.AsyncBaseTransport]:
    import httpx

    class Borrowed(httpx.AsyncBaseTransport):
        """A transport given by its owner and shared by every pool: pools send through it
        but never close it (closing one provider's pool must not close the others', nor take
        it from its owner)."""

        def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
            self.transport = transport

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await self.transport.handle_async_request(request)

        async def aclose(self) -> None:
            pass

    return Borrowed


def _new_client(ca_bundle: str | None = None, trust_env: bool = False) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        verify=tls_context(ca_bundle),
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
        ),
        # Proxy variables (and netrc) only when the configuration opts in with trust_env.
        trust_env=trust_env,
        follow_redirects=False,
    )


def map_transport_error(exc: Exception, settings: ModelSettings, *, read_kind: str = "read",
                        **context: Any) -> LLMError:
    """:func:`agentflow._http.errors.map_http_error`, the one mapping of httpx's errors."""
    return map_http_error(exc, settings, read_kind=read_kind, **context)
