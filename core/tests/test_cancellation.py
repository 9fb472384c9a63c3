"""A caller that gives up (a cancel scope, a cancelled asyncio task, a ``break`` out of a
stream) leaves nothing behind: no connection stays busy, the pool serves the next call.

Each cancel comes after an event (the fake server has the request, a chunk was read), never
after a fixed sleep: a cancel that came before the request arrived would prove nothing and
leave its scripted reply for the next call. Busy connections are counted by a recording
transport under agentflow (``Runtime(transport=...)``)."""

from __future__ import annotations

import anyio
import pytest
from echo_vendor import EchoVendor
from virtual import Exchanges

from agentflow import LLMClientBuilder
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio
cut_short = pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    exchanges = Exchanges()
    runtime = Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"))},
        defaults=Defaults(max_retries=0)), transport=exchanges.transport)
    runtime.exchanges = exchanges
    yield runtime
    await runtime.aclose()


def ask(runtime):
    return LLMClientBuilder("echo-1", runtime=runtime).prompt("one two three four five")


def busy_connections(runtime) -> int:
    """Exchanges still open: a request on its way or a response not yet closed."""
    return runtime.exchanges.open


async def cancelled_once_the_server_has_it(runtime, server, count=1) -> None:
    """Start ``count`` calls, wait until the server has them all, then cancel them."""
    async with anyio.create_task_group() as tasks:
        for _ in range(count):
            tasks.start_soon(ask(runtime).execute)
        await server.wait_for_requests(count)
        tasks.cancel_scope.cancel()


async def still_works(runtime, server) -> None:
    server.script("echo", Reply(text="next call"))
    assert await ask(runtime).execute() == "next call"


async def test_cancel_scope_while_waiting_for_the_answer(runtime, server):
    server.script("echo", Reply(text="too late", delay=30))
    await cancelled_once_the_server_has_it(runtime, server)
    assert server.pending("echo") == 0  # the request took its reply, which never came back
    assert busy_connections(runtime) == 0
    await still_works(runtime, server)


@cut_short
async def test_cancel_scope_while_reading_a_stream(runtime, server):
    server.script("echo", Reply(text="a b c d e f g h", chunk_delay=30))
    received = []
    stream = await ask(runtime).execute_streaming()
    with anyio.CancelScope() as scope:
        async with stream:
            async for chunk in stream:
                received.append(chunk.content)
                scope.cancel()  # cancelled while waiting for the next chunk
    assert scope.cancelled_caught
    assert [piece.strip() for piece in received] == ["a"]
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
    server.script("echo", *[Reply(text="slow", delay=30)] * 50)
    await cancelled_once_the_server_has_it(runtime, server, 50)
    assert runtime.exchanges.peak == 50
    assert busy_connections(runtime) == 0
    server.clear()
    await still_works(runtime, server)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_task_cancel(runtime, server):
    import asyncio

    server.script("echo", Reply(text="too late", delay=30))
    task = asyncio.ensure_future(ask(runtime).execute())
    await server.wait_for_requests(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert busy_connections(runtime) == 0
    await still_works(runtime, server)
