"""Retries: which failures are retried, how long the waits are, and what the final error says.

The policy is checked directly, then end to end over loopback HTTP against the echo vendor,
and against a raw socket server that drops connections before answering.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import anyio
import pytest
from echo_vendor import EchoVendor
from raw_server import RawServer, reset, send_json
from virtual import InProcessFake, virtual_time

from agentflow import (
    ExecutionEvent,
    HttpError,
    LLMClientBuilder,
    LLMTimeoutError,
    ProviderError,
    RateLimitError,
)
from agentflow._call.retry import RETRYABLE_STATUSES, RetryPolicy
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.errors import LLMError
from agentflow.testing import Reply
from agentflow.vendor import parse_retry_after

# --- the policy ------------------------------------------------------------------------------


def policy(**fields):
    values = {"max_retries": 3, "base_delay": 0.5, "max_delay": 4.0, "uniform": max}
    return RetryPolicy(**{**values, **fields})


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_never_retried(status):
    assert not RetryPolicy.is_retryable(HttpError("no", status_code=status))


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_transient_statuses_are_retried(status):
    assert RetryPolicy.is_retryable(HttpError("busy", status_code=status))


def test_a_plugins_verdict_wins():
    assert not RetryPolicy.is_retryable(RateLimitError("quota", status_code=429,
                                                       retryable=False))
    assert RetryPolicy.is_retryable(ProviderError("reset", retryable=True))
    assert not RetryPolicy.is_retryable(ProviderError("unreadable answer"))


def test_backoff_doubles_up_to_the_cap():
    # uniform=max: the top of each draw's range
    error = HttpError("x", status_code=503)
    assert [policy().delay(n, error) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert policy(max_retries=9).delay(7, HttpError("x", status_code=503)) == 4.0
    assert policy().delay(4, HttpError("x", status_code=503)) is None


def test_jitter_draws_from_zero_to_the_exponential_bound():
    seen = []
    jittered = policy(uniform=lambda low, high: seen.append((low, high)) or high / 2)
    assert jittered.delay(3, HttpError("x", status_code=503)) == 1.0
    assert seen == [(0.0, 2.0)]


def test_vendor_advice_replaces_the_draw_unless_too_long():
    assert policy().delay(1, RateLimitError("slow", retry_after=3.0)) == 3.0
    assert policy().delay(1, RateLimitError("slow", retry_after=30.0)) is None


@pytest.mark.parametrize(("header", "expected"), [
    ("7", 7.0), ("0.25", 0.25), ("-3", 0.0), (None, None), ("", None), ("soon", None),
    ("nan", None), ("inf", None),
])
def test_retry_after_in_seconds(header, expected):
    assert parse_retry_after(header) == expected


def test_retry_after_as_an_http_date():
    future = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 25 < parse_retry_after(format_datetime(future, usegmt=True)) <= 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# --- over loopback HTTP ----------------------------------------------------------------------


def runtime_for(base_url, **defaults):
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=base_url)},
        defaults=Defaults(**{"retry_delay_ms": 1, "max_retries": 3, **defaults})))


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    runtime = runtime_for(server.base_url("echo"))
    yield runtime
    await runtime.aclose()


@pytest.fixture
async def fake(monkeypatch):
    """The echo emulation in-process, for tests on virtual time (``@virtual_time()``)."""
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return InProcessFake(host)


@pytest.fixture
async def virtual_runtime(fake):
    runtime = runtime_for(fake.base_url("echo"))
    runtime.use_transport(fake.transport)
    yield runtime
    await runtime.aclose()


def ask(runtime):
    return LLMClientBuilder("echo-1", runtime=runtime).prompt("hi")


class Events:
    def __init__(self):
        self.seen: list[ExecutionEvent] = []

    def record_event(self, event):
        self.seen.append(event)

    def of(self, kind):
        return [event for event in self.seen if event.event_type == kind]


@pytest.mark.anyio
async def test_a_5xx_storm_then_success(runtime, server):
    server.script("echo", Reply(status=500), Reply(status=502), Reply(status=503),
                  Reply(text="made it"))
    events = Events()
    assert await ask(runtime).with_metrics(events).execute() == "made it"
    assert len(server.requests) == 4
    assert [e.metadata["reason"] for e in events.of("llm.retry")] == ["500", "502", "503"]
    assert [e.metadata["attempt"] for e in events.of("llm.retry")] == [1, 2, 3]


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_no_retry_on_a_client_error(runtime, server, status):
    server.script("echo", Reply(status=status), Reply(text="never asked"))
    with pytest.raises(HttpError) as caught:
        await ask(runtime).execute()
    assert caught.value.status_code == status
    assert caught.value.attempts == (str(status),)
    assert len(server.requests) == 1


@pytest.mark.anyio
@virtual_time()
async def test_retry_after_is_waited_for(virtual_runtime, fake):
    fake.script("echo", Reply(status=429, retry_after=0.3), Reply(text="ok"))
    events = Events()
    started = anyio.current_time()
    assert await ask(virtual_runtime).with_metrics(events).execute() == "ok"
    assert anyio.current_time() - started == pytest.approx(0.3)
    assert [e.metadata["delay_ms"] for e in events.of("llm.retry")] == [300]


@pytest.mark.anyio
async def test_advice_beyond_the_cap_ends_the_retries_at_once(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    runtime = runtime_for(server.base_url("echo"), max_retry_delay_ms=1000)
    try:
        server.script("echo", Reply(status=429, retry_after=5))
        with pytest.raises(RateLimitError) as caught:
            await ask(runtime).execute()
        assert caught.value.retry_after == 5
        assert len(server.requests) == 1
    finally:
        await runtime.aclose()


@pytest.mark.anyio
@virtual_time()
async def test_a_timeout_before_the_answer_is_retried(virtual_runtime, fake):
    fake.script("echo", Reply(text="slow", delay=1.0), Reply(text="quick"))
    started = anyio.current_time()
    assert await ask(virtual_runtime).timeout(10, read=0.2).execute() == "quick"
    assert len(fake.requests) == 2
    assert 0.2 <= anyio.current_time() - started <= 0.2 + 0.001  # + a jittered 1 ms delay


@pytest.mark.anyio
@virtual_time()
async def test_the_final_error_lists_each_attempt(virtual_runtime, fake):
    fake.script("echo", Reply(status=503), Reply(text="slow", delay=1.0), Reply(status=500),
                Reply(status=529))
    with pytest.raises(HttpError) as caught:
        await ask(virtual_runtime).timeout(10, read=0.2).execute()
    assert caught.value.attempts == ("503", "read timeout", "500", "529")
    assert "[4 attempts: 503, read timeout, 500, 529]" in str(caught.value)


@pytest.mark.anyio
@virtual_time()
async def test_no_retry_wait_outlasts_the_total_limit(virtual_runtime, fake):
    fake.script("echo", Reply(status=429, retry_after=2), Reply(text="too late"))
    started = anyio.current_time()
    with pytest.raises(RateLimitError):
        await ask(virtual_runtime).timeout(0.5).execute()
    assert anyio.current_time() - started == 0  # given up at once, not at the limit
    assert len(fake.requests) == 1


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")
async def test_a_body_cut_after_the_headers_is_not_retried(runtime, server):
    server.script("echo", Reply(text="one two three", cut_after=1), Reply(text="again"))
    with pytest.raises(ProviderError):
        await ask(runtime).execute()
    assert len(server.requests) == 1


# --- connections dropped before any answer -------------------------------------------------------


def drop_first(drops: int):
    """A handler that resets the first ``drops`` connections, then answers like echo."""

    def handle(connection, number, request):
        if number <= drops:
            reset(connection)
        else:
            send_json(connection, {"text": "after the resets", "model": request["model"],
                                   "finish": "stop", "usage": [1, 3]})

    return handle


@pytest.mark.anyio
async def test_a_connection_reset_before_the_answer_is_retried(monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    with RawServer(drop_first(2)) as dropping:
        runtime = runtime_for(dropping.base_url)
        try:
            answer = await ask(runtime).execute()
        finally:
            await runtime.aclose()
    assert answer == "after the resets"
    assert dropping.connections == 3


@pytest.mark.anyio
async def test_resets_that_never_stop_end_in_a_provider_error(monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    with RawServer(drop_first(10)) as dropping:
        runtime = runtime_for(dropping.base_url, max_retries=2)
        try:
            with pytest.raises(LLMError) as caught:
                await ask(runtime).execute()
        finally:
            await runtime.aclose()
    assert isinstance(caught.value, ProviderError)
    assert len(caught.value.attempts) == 3
    assert dropping.connections == 3
    assert not isinstance(caught.value, LLMTimeoutError)
