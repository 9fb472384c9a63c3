"""agentflow-aiohttp: agentflow's provider requests over aiohttp, under asyncio.

Installing the distribution changes nothing by itself: a provider goes over aiohttp when the
configuration asks for it, ``transport: aiohttp`` in ``defaults`` (every provider) or in a
provider entry. aiohttp fails differently from httpx's own stack in corners (how a broken
connection is worded, which proxy variables apply), so switching is a decision written in the
configuration, never a side effect of ``pip install``.

The plugin answers the core's ``agentflow_http_transport`` hook with an
:class:`~agentflow_aiohttp.transport.AiohttpTransport`: an ``httpx.AsyncBaseTransport`` on an
``aiohttp.ClientSession``, so hooks still see ``httpx.Request`` and ``httpx.Response``. Under
trio (which aiohttp cannot run on) the plugin declines and the provider stays on httpx's own
transport; the core logs a warning saying so, once per process.

Importing this package does not import aiohttp; the first pool that needs it does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow.hookspecs import hookimpl

if TYPE_CHECKING:
    import ssl

    import httpx

    from agentflow.types import ModelSettings

__all__ = ["TRANSPORT_NAME", "agentflow_http_transport"]

#: The value of ``transport`` in the configuration that this plugin answers.
TRANSPORT_NAME = "aiohttp"


@hookimpl
def agentflow_http_transport(settings: ModelSettings, ssl_context: ssl.SSLContext,
                             limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """An :class:`~agentflow_aiohttp.transport.AiohttpTransport` for a provider configured with
    ``transport: aiohttp``; ``None`` under an event loop that is not asyncio's (trio), where
    the core then uses httpx's own transport and logs a warning once."""
    if settings.transport != TRANSPORT_NAME:
        return None
    if not _under_asyncio():
        return None  # the core stays on httpx's own transport, and says so
    from agentflow_aiohttp.transport import AiohttpTransport

    return AiohttpTransport(ssl_context=ssl_context, limits=limits, trust_env=settings.trust_env)


def _under_asyncio() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
