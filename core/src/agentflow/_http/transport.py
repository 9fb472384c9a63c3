"""HTTP plumbing: one connection pool per provider, and httpx errors mapped to ours.

A pool belongs to the event loop that created it (asyncio loop or trio run): connections cannot
move between loops, so a request made under a different loop (a second ``asyncio.run``, the
synchronous API's own loop) gets a pool of its own.

The transport under the pools is replaceable, as httpx's ``transport=`` is (see
:data:`TransportChoice`): ``AgentFlow.use_transport`` / ``Runtime(transport=...)`` put an
``httpx.MockTransport``, a recording wrapper or any ``httpx.AsyncBaseTransport`` under every
request, with nothing private patched.

A provider whose configuration says ``transport: aiohttp`` (any name but ``httpx``) gets its
pools' transport from a plugin (the ``agentflow_http_transport`` hook, asked through the
``plugin_transport`` callable the runtime gives): the core still hands it the TLS context and
the pool limits. Every transport speaks httpx's transport interface, so everything above sees
``httpx.Request`` and ``httpx.Response`` whatever carries them; a pool sends straight through
its transport (:mod:`agentflow._http.pool` says why not through ``httpx.AsyncClient``).

A TLS context is built only for an https base URL, and one per ``ca_bundle`` serves every
pool: loading the CA certificates costs tens of milliseconds, a large part of a fresh
process's first call.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

import anyio

from agentflow._http.errors import map_http_error
from agentflow._http.pool import ClientPool, Pool, TransportPool

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
#: its business, so ``ca_bundle``, ``trust_env`` and ``transport`` do not apply to it.
if TYPE_CHECKING:
    TransportChoice: TypeAlias = (
        httpx.AsyncBaseTransport | Callable[[ModelSettings], httpx.AsyncBaseTransport] | None)
    #: Asks the plugins for a transport named by ``settings.transport``: the
    #: ``agentflow_http_transport`` hook (settings, TLS context, pool limits).
    PluginTransport: TypeAlias = Callable[
        [ModelSettings, ssl.SSLContext, httpx.Limits], httpx.AsyncBaseTransport | None]
    PoolKey: TypeAlias = tuple[str, object, str | None, bool, str, bool]


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
    """Hands out the shared :class:`~agentflow._http.pool.Pool` of each provider and closes
    them all."""

    def __init__(self, transport: TransportChoice = None,
                 plugin_transport: PluginTransport | None = None) -> None:
        # (provider, event loop, ca_bundle, trust_env, transport, https) -> its pool
        self._clients: dict[PoolKey, Pool] = {}
        self._transport = transport
        self._plugin_transport = plugin_transport
        # Pools made before the transport changed: closed by the next aclose().
        self._retired: list[tuple[PoolKey, Pool]] = []

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

    def client_for(self, settings: ModelSettings) -> Pool:
        """The pool of ``settings.provider`` for the running event loop.

        A provider whose TLS or proxy settings change (a reloaded configuration) gets a new
        pool; requests still running on the old one finish there.
        """
        key = (settings.provider, current_loop_token(), settings.ca_bundle, settings.trust_env,
               settings.transport, settings.base_url.startswith("https:"))
        client = self._clients.get(key)
        if client is None or client.is_closed:
            self._forget_dead_loops()
            client = self._clients[key] = self._new_pool(settings)
        return client

    def _new_pool(self, settings: ModelSettings) -> Pool:
        transport = self._transport
        if transport is None:
            if settings.transport != "httpx":
                return self._plugin_pool(settings)
            return _httpx_pool(_tls_for(settings), settings.trust_env)
        import httpx

        if isinstance(transport, httpx.AsyncBaseTransport):
            return TransportPool(transport, owned=False)
        return TransportPool(transport(settings))

    def _plugin_pool(self, settings: ModelSettings) -> Pool:
        from agentflow.errors import ConfigurationError

        transport = None
        if self._plugin_transport is not None:
            transport = self._plugin_transport(settings, _tls_for(settings), pool_limits())
        if transport is None and not _under_asyncio():
            _warn_fallback(settings)
            return _httpx_pool(_tls_for(settings), settings.trust_env)
        if transport is None:
            raise ConfigurationError(
                f"provider {settings.provider!r} asks for transport {settings.transport!r}, "
                f"which no installed plugin provides: install agentflow-{settings.transport} "
                "(`agentflow plugins` lists what is installed), or remove `transport` to use "
                "httpx's own", provider=settings.provider, model=settings.name)
        return TransportPool(transport)  # proxies are its business: it is given trust_env

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


def _under_asyncio() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_warned_fallback: set[str] = set()


def _warn_fallback(settings: ModelSettings) -> None:
    """Say once per transport name that this event loop stays on httpx's own transport."""
    if settings.transport in _warned_fallback:
        return
    _warned_fallback.add(settings.transport)
    logging.getLogger("agentflow").warning(
        "transport %r is configured (provider %r) but no installed plugin provides it under "
        "this event loop (agentflow-aiohttp runs under asyncio only, not trio): these requests "
        "use httpx's own transport", settings.transport, settings.provider)


def _tls_for(settings: ModelSettings) -> ssl.SSLContext:
    """The TLS context of a pool for ``settings``: the verifying one for an https base URL, a
    context that refuses every handshake for a plain-http one (no certificates loaded)."""
    if settings.base_url.startswith("https:"):
        return tls_context(settings.ca_bundle)
    return _no_tls()


@functools.cache
def _no_tls() -> ssl.SSLContext:
    """A client TLS context that trusts no certificate: any https request through it fails
    verification. Plain-http pools get it, so they never load a CA bundle, yet can never
    send over unverified TLS."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with no CA loaded
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    return context


def pool_limits() -> httpx.Limits:
    """The limits of every pool (and what a plugin transport is asked to respect)."""
    import httpx

    return httpx.Limits(max_connections=MAX_CONNECTIONS,
                        max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS)


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


def _httpx_pool(context: ssl.SSLContext, trust_env: bool = False) -> Pool:
    """A pool on httpx's own transport. Proxy variables (and netrc) apply only when the
    configuration opts in with ``trust_env``: then httpx's client chooses each request's
    proxy, so the pool keeps one."""
    import httpx

    if trust_env:
        return ClientPool(httpx.AsyncClient(verify=context, limits=pool_limits(),
                                            trust_env=True, follow_redirects=False))
    return TransportPool(httpx.AsyncHTTPTransport(verify=context, limits=pool_limits()))


def map_transport_error(exc: Exception, settings: ModelSettings, *, read_kind: str = "read",
                        **context: Any) -> LLMError:
    """:func:`agentflow._http.errors.map_http_error`, the one mapping of httpx's errors."""
    return map_http_error(exc, settings, read_kind=read_kind, **context)
