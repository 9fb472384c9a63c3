"""A caller that gives up (a cancel scope, a cancelled asyncio task, a ``break`` out of a
stream) leaves nothing behind: no connection stays busy, the pool serves the next call."""

from __future__ import annotations

import anyio
import pytest
from echo_vendor import EchoVendor

from agentflow import LLMClientBuilder
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.testing import FakeServer, Reply

pytestmark = pytest.mark.anyio
cut_short = pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")


@pytest.fixture(scope="module")
def server():
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    with FakeServer.from_plugins(host) as running:
        yield running


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"))},
        defaults=Defaults(max_retries=0)))
    yield runtime
    await runtime.aclose()


def ask(runtime):
    return LLMClientBuilder("echo-1", runtime=runtime).prompt("one two three four five")


def busy_connections(runtime) -> int:
    """Connections of the echo pool that are still serving a request (httpcore's view)."""
    settings = runtime.resolve("echo-1")
    pool = runtime.pools.client_for(settings)._transport._pool
    return sum(1 for connection in pool.connections if not connection.is_idle())


async def still_works(runtime, server) -> None:
    server.script("echo", Reply(text="next call"))
    assert await ask(runtime).execute() == "next call"


async def test_cancel_scope_while_waiting_for_the_answer(runtime, server):
    server.script("echo", Reply(text="too late", delay=5))
    with anyio.move_on_after(0.1) as scope:
        await ask(runtime).execute()
    assert scope.cancelled_caught
    assert busy_connections(runtime) == 0
    await still_works(runtime, server)


@cut_short
async def test_cancel_scope_while_reading_a_stream(runtime, server):
    server.script("echo", Reply(text="a b c d e f g h", chunk_delay=0.2))
    received = []
    stream = await ask(runtime).execute_streaming()
    with anyio.move_on_after(0.3):
        async with stream:
            async for chunk in stream:
                received.append(chunk.content)
    assert 0 < len(received) < 8
    assert busy_connections(runtime) == 0
    await still_works(runtime, server)


@cut_short
async def test_breaking_out_of_a_stream_loop(runtime, server):
    server.script("echo", Reply(text="a b c d e f g h", chunk_delay=0.05))
    stream = await ask(runtime).execute_streaming()
    async with stream:
        async for chunk in stream:
            if chunk.content.strip() == "b":
                break
    assert stream.text == "a b"
    assert busy_connections(runtime) == 0
    await still_works(runtime, server)


@cut_short
async def test_many_cancelled_calls_leave_the_pool_idle(runtime, server):
    server.script("echo", *[Reply(text="slow", delay=5)] * 50)
    async with anyio.create_task_group() as tasks:
        for _ in range(50):
            tasks.start_soon(ask(runtime).execute)
        await anyio.sleep(0.2)
        tasks.cancel_scope.cancel()
    assert busy_connections(runtime) == 0
    server.clear()
    await still_works(runtime, server)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_task_cancel(runtime, server):
    import asyncio

    server.script("echo", Reply(text="too late", delay=5))
    task = asyncio.ensure_future(ask(runtime).execute())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert busy_connections(runtime) == 0
    await still_works(runtime, server)
