"""The four time limits over loopback HTTP: each expiry is reported as the limit that fired."""

from __future__ import annotations

import pytest
from echo_vendor import EchoVendor

from agentflow import LLMClientBuilder, LLMTimeoutError, ValidationError
from agentflow._call.timeouts import TimeoutOverrides, Timeouts
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.testing import Reply
from agentflow.types import ModelSettings

pytestmark = pytest.mark.anyio

cut_short = pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")


def make_runtime(server, **provider):
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"), **provider)},
        defaults=Defaults(max_retries=0)))


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    runtime = make_runtime(server)
    yield runtime
    await runtime.aclose()


def ask(runtime):
    return LLMClientBuilder("echo-1", runtime=runtime).prompt("one two three four five six")


async def test_read_limit(runtime, server):
    server.script("echo", Reply(delay=60))
    with pytest.raises(LLMTimeoutError) as caught:
        await ask(runtime).timeout(10, read=0.2).execute()
    assert caught.value.timeout_kind == "read"
    assert "read_timeout_seconds" in str(caught.value)


async def test_total_limit_without_a_read_limit(runtime, server):
    server.script("echo", Reply(delay=60))
    with pytest.raises(LLMTimeoutError) as caught:
        await ask(runtime).timeout(0.2).execute()
    assert caught.value.timeout_kind == "total"


@cut_short
async def test_stream_idle_limit_keeps_the_partial_text(runtime, server):
    server.script("echo", Reply(text="a b c d", chunk_delay=60))
    stream = await ask(runtime).timeout(120, stream_idle=0.3).execute_streaming()
    with pytest.raises(LLMTimeoutError) as caught:
        await stream.collect_all()
    assert caught.value.timeout_kind == "stream_idle"
    assert "stream_idle_timeout_seconds" in str(caught.value)
    assert caught.value.partial_text == stream.text


@cut_short
async def test_total_limit_covers_the_stream_body(runtime, server):
    # The first event comes at once, the next a minute later: the limit ends the body.
    server.script("echo", Reply(text="a b c d e f g h i j", chunk_delay=60))
    stream = await ask(runtime).timeout(1.0).execute_streaming()
    with pytest.raises(LLMTimeoutError) as caught:
        await stream.collect_all()
    assert caught.value.timeout_kind == "total"
    assert caught.value.partial_text.strip() == "a"


async def test_a_stream_that_keeps_talking_is_not_idle(runtime, server):
    server.script("echo", Reply(text="a b c d e", chunk_delay=0.1))
    stream = await ask(runtime).timeout(60, stream_idle=2.0).execute_streaming()  # 20x
    assert await stream.collect_all() == "a b c d e"


async def test_configured_limits_apply_and_calls_override_them(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    runtime = make_runtime(server, read_timeout_seconds=0.2)
    try:
        server.script("echo", Reply(text="late", delay=60), Reply(text="late", delay=0.5))
        with pytest.raises(LLMTimeoutError):
            await ask(runtime).execute()
        assert await ask(runtime).timeout(read=5).execute() == "late"
    finally:
        await runtime.aclose()


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "5", True])
def test_limits_must_be_positive_numbers(bad):
    with pytest.raises(ValidationError):
        LLMClientBuilder("echo-1").timeout(read=bad)


SETTINGS = ModelSettings(name="m", provider="p", vendor="p", model_id="m", base_url="x",
                         timeout_seconds=60, connect_timeout_seconds=10,
                         read_timeout_seconds=30, stream_idle_timeout_seconds=20)


def test_calls_override_settings_one_limit_at_a_time():
    limits = Timeouts.resolve(SETTINGS, TimeoutOverrides(read=5))
    assert (limits.total, limits.connect, limits.read, limits.stream_idle) == (60, 10, 5, 20)


def test_stream_idle_applies_to_streams_only():
    limits = Timeouts.resolve(SETTINGS)
    plain = limits.for_attempt(60, stream=False)
    streamed = limits.for_attempt(60, stream=True)
    assert (plain.read, plain.read_kind) == (30, "read")
    assert (streamed.read, streamed.read_kind) == (20, "stream_idle")


def test_connect_and_pool_never_outlast_the_total():
    attempt = Timeouts.resolve(SETTINGS).for_attempt(3, stream=False)
    assert (attempt.connect, attempt.pool) == (3, 3)
    assert Timeouts.resolve(SETTINGS).for_attempt(-1, stream=False).pool == 0


def test_without_read_or_idle_limits_the_total_bounds_silence():
    limits = Timeouts.resolve(ModelSettings(name="m", provider="p", vendor="p", model_id="m",
                                            base_url="x", timeout_seconds=42))
    attempt = limits.for_attempt(42, stream=True)
    assert (attempt.read, attempt.read_kind) == (42, "total")


@pytest.fixture
def full_backlog():
    """A port whose listen queue is full: new connections are neither accepted nor refused,
    so connecting hangs, as with a host that drops packets."""
    import contextlib
    import select
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # the connection is only pending
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    # Wait until the kernel has queued one (the backlog is full then), not a fixed time.
    deadline = time.monotonic() + 30
    while not select.select([], fillers, [], 0.05)[1] and time.monotonic() < deadline:
        pass
    yield f"http://127.0.0.1:{port}/v1"
    for sock in [*fillers, listener]:
        sock.close()


async def test_connect_limit(full_backlog, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=full_backlog)},
        defaults=Defaults(max_retries=1, retry_delay_ms=1)))
    try:
        with pytest.raises(LLMTimeoutError) as caught:
            await ask(runtime).timeout(10, connect=0.2).execute()
    finally:
        await runtime.aclose()
    assert caught.value.timeout_kind == "connect"
    assert "connect_timeout_seconds" in str(caught.value)
    assert caught.value.attempts == ("connect timeout", "connect timeout")  # it was retried
