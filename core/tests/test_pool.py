"""A provider's pool over loopback HTTP: requests go out exactly as the codec built them, an
answer's cookies never come back, a closed pool sends nothing, and a transport given to
agentflow is never closed by it."""

from __future__ import annotations

import httpx
import pytest
from echo_vendor import EchoVendor

from agentflow import LLMClientBuilder
from agentflow._http.pool import ClientPool, TransportPool
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio

KEY = "test-key"  # the one the echo emulation accepts


def runtime(server, *, trust_env: bool = False, transport=None) -> Runtime:
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return Runtime(host=host, transport=transport, config=Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"), trust_env=trust_env)},
        defaults=Defaults(max_retries=0)))


async def ask(runtime: Runtime, prompt: str) -> str:
    return await LLMClientBuilder("echo-1", runtime=runtime).prompt(prompt).execute()


@pytest.mark.parametrize("trust_env", [False, True], ids=["own-transport", "trust-env"])
async def test_cookies_an_answer_sets_never_go_back(server, monkeypatch, trust_env):
    """A call's outcome must not hang on the calls before it: a provider's Set-Cookie (a
    load balancer's affinity cookie, say) is not sent with the next request, over either kind
    of pool."""
    monkeypatch.setenv("ECHO_API_KEY", KEY)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server.clear()
    server.script("echo", Reply(text="first", headers={"set-cookie": "affinity=abc; Path=/"}),
                  Reply(text="second"))
    configured = runtime(server, trust_env=trust_env)
    try:
        assert await ask(configured, "one") == "first"
        assert await ask(configured, "two") == "second"
        pool = configured.pools.client_for(configured.resolve("echo-1"))
        assert isinstance(pool, ClientPool if trust_env else TransportPool)
    finally:
        await configured.aclose()
    assert [request.headers.get("cookie") for request in server.requests] == [None, None]


async def test_requests_leave_as_the_codec_built_them(server, monkeypatch):
    """No header is added on the way (no client defaults such as httpx's User-Agent or
    Accept-Encoding): what a plugin's ``agentflow_build_request`` returns is what is sent."""
    monkeypatch.setenv("ECHO_API_KEY", KEY)
    server.clear()
    seen: list[httpx.Request] = []

    class Recording(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await self.inner.handle_async_request(request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    recording = Recording()
    configured = runtime(server, transport=recording)
    try:
        assert (await ask(configured, "hello")).endswith("hello")
    finally:
        await configured.aclose()
        await recording.aclose()
    sent = seen[0]
    arrived = server.requests[-1]
    assert sent.headers.get("user-agent") == arrived.headers.get("user-agent")
    assert "python-httpx" not in (sent.headers.get("user-agent") or "")
    assert {name.lower() for name, _ in sent.headers.multi_items()} <= set(arrived.headers)


async def test_a_closed_pool_sends_nothing_and_a_borrowed_transport_stays_open():
    closed: list[bool] = []

    class Answering(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(204)

        async def aclose(self) -> None:
            closed.append(True)

    request = httpx.Request("GET", "http://127.0.0.1:9/")
    borrowed = TransportPool(Answering(), owned=False)
    response = await borrowed.send(request)
    assert (response.status_code, response.request) == (204, request)
    await borrowed.aclose()
    assert borrowed.is_closed
    assert closed == []
    with pytest.raises(RuntimeError, match="closed"):
        await borrowed.send(request)

    owned = TransportPool(Answering())
    await owned.aclose()
    await owned.aclose()  # closing twice closes the transport once
    assert owned.is_closed
    assert closed == [True]
