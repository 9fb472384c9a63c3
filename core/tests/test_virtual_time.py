"""Long waits checked without waiting: trio's MockClock jumps virtual time whenever every task
is blocked, so a 30-second Retry-After or rate-limit wait passes in no real time. The vendor
is an in-process httpx transport here (a real socket would make the clock jump under it)."""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest
from echo_vendor import EchoVendor
from trio.testing import MockClock

import agentflow._http.transport
from agentflow import LLMClientBuilder
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig, RateLimitConfig

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "trio", {"clock": MockClock(autojump_threshold=0)}


@pytest.fixture
def answers(monkeypatch):
    """The scripted answers of the in-process vendor, taken in order; then 200s."""
    script: list[httpx.Response] = []
    seen: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        import trio

        seen.append(trio.current_time())
        if script:
            return script.pop(0)
        body = json.loads(request.content)
        return httpx.Response(200, json={"text": "done", "model": body["model"],
                                         "finish": "stop", "usage": [1, 1]})

    monkeypatch.setattr(agentflow._http.transport, "_new_client", lambda *_: httpx.AsyncClient(
        transport=httpx.MockTransport(handle)))
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    return script, seen


def runtime(**provider):
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url="https://echo.test/v1", **provider)},
        defaults=Defaults(max_retries=2, timeout_seconds=600)))


async def test_a_30_second_retry_after_is_respected(answers):
    script, seen = answers
    script.append(httpx.Response(429, headers={"retry-after": "30"}, json={"error": "slow"}))
    real = time.perf_counter()
    rt = runtime()
    assert await LLMClientBuilder("echo-1", runtime=rt).prompt("hi").execute() == "done"
    assert seen[1] - seen[0] >= 30
    assert time.perf_counter() - real < 5
    await rt.aclose()


async def test_the_rate_limiter_spreads_calls_at_the_configured_rate(answers):
    _, seen = answers
    rt = runtime(rate_limit=RateLimitConfig(requests_per_minute=2))
    for _ in range(5):
        await LLMClientBuilder("echo-1", runtime=rt).prompt("hi").execute()
    gaps = [later - earlier for earlier, later in itertools.pairwise(seen)]
    assert gaps[0] < 1  # a full bucket holds two
    assert all(29.9 <= gap <= 30.1 for gap in gaps[2:])  # then one every 30 s
    await rt.aclose()
