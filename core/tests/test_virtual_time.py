"""Long waits checked without waiting: trio's MockClock jumps virtual time whenever every task
is blocked, so a 30-second Retry-After or rate-limit wait passes in no real time. The vendor
is an in-process httpx transport here (a real socket would make the clock jump under it), put
under agentflow through its public seam, ``Runtime(transport=...)``."""

from __future__ import annotations

import itertools
import json

import anyio
import httpx
import pytest
from echo_vendor import EchoVendor
from virtual import virtual_time

from agentflow import LLMClientBuilder
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig, RateLimitConfig

pytestmark = pytest.mark.anyio


@pytest.fixture
def answers(monkeypatch):
    """The scripted answers of the in-process vendor, taken in order, then 200s; and the
    virtual time at which each request arrived."""
    script: list[httpx.Response] = []
    seen: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(anyio.current_time())
        if script:
            return script.pop(0)
        body = json.loads(request.content)
        return httpx.Response(200, json={"text": "done", "model": body["model"],
                                         "finish": "stop", "usage": [1, 1]})

    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    return script, seen, httpx.MockTransport(handle)


def runtime(transport, **provider):
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return Runtime(host=host, transport=transport, config=Config(
        providers={"echo": ProviderConfig(base_url="https://echo.test/v1", **provider)},
        defaults=Defaults(max_retries=2, timeout_seconds=600)))


@virtual_time()
async def test_a_30_second_retry_after_is_respected(answers):
    script, seen, transport = answers
    script.append(httpx.Response(429, headers={"retry-after": "30"}, json={"error": "slow"}))
    rt = runtime(transport)
    assert await LLMClientBuilder("echo-1", runtime=rt).prompt("hi").execute() == "done"
    assert seen[1] - seen[0] == pytest.approx(30)  # in virtual time, so in no real time
    await rt.aclose()


@virtual_time()
async def test_the_rate_limiter_spreads_calls_at_the_configured_rate(answers):
    _, seen, transport = answers
    rt = runtime(transport, rate_limit=RateLimitConfig(requests_per_minute=2))
    for _ in range(5):
        await LLMClientBuilder("echo-1", runtime=rt).prompt("hi").execute()
    gaps = [later - earlier for earlier, later in itertools.pairwise(seen)]
    assert gaps[0] == pytest.approx(0)  # a full bucket holds two
    assert gaps[2:] == pytest.approx([30, 30])  # then one every 30 s
    await rt.aclose()


@virtual_time()
async def test_a_transport_given_once_serves_every_pool_and_stays_open(answers):
    _, seen, transport = answers
    rt = runtime(transport)
    assert await LLMClientBuilder("echo-1", runtime=rt).prompt("hi").execute() == "done"
    await rt.aclose()  # closes agentflow's pools, not the transport it was lent
    assert await LLMClientBuilder("echo-1", runtime=rt).prompt("hi").execute() == "done"
    assert len(seen) == 2
    await rt.aclose()


@virtual_time()
async def test_a_transport_factory_makes_one_per_pool_and_they_are_closed(answers):
    _, _, mock = answers
    made: list[Closable] = []

    def factory(settings):
        made.append(Closable(mock, settings.provider))
        return made[-1]

    rt = runtime(None)
    rt.use_transport(factory)
    for _ in range(3):
        await LLMClientBuilder("echo-1", runtime=rt).prompt("hi").execute()
    assert [(t.provider, t.sent, t.closed) for t in made] == [("echo", 3, False)]
    await rt.aclose()
    assert made[0].closed


class Closable(httpx.AsyncBaseTransport):
    def __init__(self, inner, provider):
        self.inner, self.provider, self.sent, self.closed = inner, provider, 0, False

    async def handle_async_request(self, request):
        self.sent += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        self.closed = True
