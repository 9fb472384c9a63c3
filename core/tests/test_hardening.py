"""Regression tests of issue 15: what a misbehaving server can do to a call, over loopback HTTP
against :class:`agentflow.testing.hostile.HostileServer`, under asyncio and trio."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import tracemalloc
from collections.abc import Iterator

import anyio
import httpx
import pytest
from echo_vendor import EchoVendor
from hypothesis import given
from hypothesis import strategies as st

import agentflow._call.client
import agentflow.sse
from agentflow import (
    CircuitOpenError,
    HttpError,
    LLMClientBuilder,
    LLMError,
    LLMTimeoutError,
    MetricsCollector,
    ProviderError,
    RateLimitError,
    StreamingError,
)
from agentflow._call.jsonarray import JSONArrayDecoder
from agentflow._http.errors import DESCRIPTIONS, httpx_error_types, map_http_error
from agentflow._ops.health import check_providers
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import (
    CircuitBreakerConfig,
    Config,
    Defaults,
    ModelConfig,
    ProviderConfig,
    RateLimitConfig,
)
from agentflow.hookspecs import hookimpl
from agentflow.testing.hostile import Behaviour, HostileServer, fixed_answer, gzip_bomb

pytestmark = pytest.mark.anyio
cut_short = pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")


@pytest.fixture(scope="module")
def hostile():
    with HostileServer() as server:
        yield server


def make_runtime(base_url: str, *, defaults: Defaults | None = None, **provider) -> Runtime:
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=base_url, **provider)},
        defaults=defaults or Defaults(max_retries=0)))


@pytest.fixture
async def runtime(hostile, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    runtime = make_runtime(hostile.base_url,
                           rate_limit=RateLimitConfig(max_concurrent=1))
    yield runtime
    await runtime.aclose()


class Events:
    """A collector that keeps every event type it hears."""

    wants_chunk_events = False

    def __init__(self) -> None:
        self.types: list[str] = []
        self.events: list = []

    def record_event(self, event) -> None:
        self.types.append(event.event_type)
        self.events.append(event)

    @property
    def ends(self) -> list[str]:
        return [t for t in self.types if t in ("llm.request.complete", "llm.stream.complete",
                                               "llm.request.error")]


def in_flight(runtime: Runtime) -> int:
    return sum(limiter.in_flight for limiter in runtime.limits._limiters.values())


def ask(runtime: Runtime, events: Events | None = None) -> LLMClientBuilder:
    builder = LLMClientBuilder("echo-1", runtime=runtime).prompt("hi")
    return builder.with_metrics(events) if events is not None else builder


# 1: a stalled stream under the default limits -----------------------------------------------


@cut_short
async def test_a_stalled_stream_is_a_total_timeout_and_releases_everything(runtime, hostile):
    hostile.serve("stall_after_headers")
    events = Events()
    stream = await ask(runtime, events).timeout(0.3).execute_streaming()
    with pytest.raises(LLMTimeoutError) as caught:
        async for _ in stream:  # no `async with`: the error alone must release everything
            pass
    assert caught.value.timeout_kind == "total"
    assert "timeout_seconds" in str(caught.value)
    assert in_flight(runtime) == 0
    assert events.ends == ["llm.request.error"]


# 12: exactly one end event per call, cancellation included --------------------------------


async def test_a_cancelled_call_ends_once_as_cancelled(runtime, hostile):
    hostile.serve("stall_before_headers")
    events = Events()
    collector = MetricsCollector()
    with anyio.move_on_after(0.2):
        await ask(runtime, events).with_metrics(collector).execute()
    assert events.ends == ["llm.request.complete"]
    assert events.events[-1].metadata["finish_reason"] == "cancelled"
    assert collector.get_metrics_by_prefix("llm.")["llm.requests.in_flight"] == 0
    assert in_flight(runtime) == 0


async def test_a_stream_cancelled_before_its_headers_ends_once_as_cancelled(runtime, hostile):
    hostile.serve("stall_before_headers")
    events = Events()
    with anyio.move_on_after(0.2):
        await ask(runtime, events).execute_streaming()
    assert events.ends == ["llm.stream.complete"]
    assert events.events[-1].metadata["finish_reason"] == "cancelled"
    assert in_flight(runtime) == 0


@cut_short
async def test_a_stream_closed_after_an_error_still_ends_once(runtime, hostile):
    hostile.serve("cut_mid_body")
    events = Events()
    stream = await ask(runtime, events).execute_streaming()
    with pytest.raises(LLMError):
        await stream.collect_all()
    await stream.aclose()
    assert events.ends == ["llm.request.error"]


def echo_answer(text: str = "fine") -> Behaviour:
    body = json.dumps({"text": text, "model": "echo-1", "finish": "stop", "usage": [1, 1]})
    return fixed_answer(body.encode())


# 2: a probe that dies in the rate limiter gives its turn back ------------------------------


@cut_short
async def test_a_probe_cancelled_in_the_limiter_does_not_hold_the_circuit(hostile, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host, config=Config(
        models={"queued": ModelConfig(vendor="echo", model_id="echo-1",
                                      rate_limit=RateLimitConfig(max_concurrent=1)),
                "free": ModelConfig(vendor="echo", model_id="echo-1")},
        providers={"echo": ProviderConfig(
            base_url=hostile.base_url,
            circuit_breaker=CircuitBreakerConfig(failure_threshold=1, cooldown_seconds=0.05))},
        defaults=Defaults(max_retries=0)))
    try:
        hostile.serve("stall_after_headers")
        holder = await LLMClientBuilder("queued", runtime=runtime).prompt("hi").execute_streaming()
        hostile.serve(fixed_answer(b'{"error": "down"}', status="500 Internal Server Error"))
        with pytest.raises(HttpError):
            await LLMClientBuilder("free", runtime=runtime).prompt("hi").execute()
        await anyio.sleep(0.1)  # past the cool-down: the next call is the probe
        with pytest.raises(LLMTimeoutError):  # ... and it waits in the model's limiter
            await LLMClientBuilder("queued", runtime=runtime).prompt("hi").timeout(0.2).execute()
        await holder.aclose()
        hostile.serve(echo_answer("healthy again"))
        assert await LLMClientBuilder("free", runtime=runtime).prompt("hi").execute() == (
            "healthy again")
    finally:
        await runtime.aclose()


# 3: a 429's pause is bounded, and a call that never left the queue says so ------------------


async def test_an_absurd_retry_after_pauses_the_provider_no_longer_than_the_max_delay(
        hostile, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    runtime = make_runtime(hostile.base_url, defaults=Defaults(
        max_retries=0, max_retry_delay_ms=100))
    try:
        hostile.serve("retry_after_huge")
        with pytest.raises(RateLimitError) as caught:
            await ask(runtime).execute()
        assert caught.value.retry_after == 99999
        hostile.serve(echo_answer("not paused for a day"))
        assert await ask(runtime).timeout(5).execute() == "not paused for a day"
    finally:
        await runtime.aclose()


@cut_short
async def test_a_call_that_times_out_in_the_queue_says_it_was_never_sent(runtime, hostile):
    hostile.serve("stall_after_headers")
    async with await ask(runtime).execute_streaming():  # holds the only slot
        with pytest.raises(LLMTimeoutError) as caught:
            await ask(runtime).timeout(0.2).execute()
    message = str(caught.value)
    assert "never sent" in message
    assert "max_concurrent" in message
    assert "just slow" not in message
    assert in_flight(runtime) == 0


# 10: every httpx error is one of ours ----------------------------------------------------------


def httpx_instance(cls: type[BaseException]) -> BaseException:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/generate")
    if cls is httpx.HTTPStatusError:
        return cls("boom", request=request, response=httpx.Response(502, request=request))
    try:
        return cls("boom")
    except TypeError:
        return cls()


@pytest.mark.parametrize("cls", httpx_error_types(), ids=lambda cls: cls.__name__)
def test_every_httpx_exception_has_a_mapping_of_its_own(cls, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    settings = make_runtime("http://127.0.0.1:9/v1").resolve("echo-1")
    assert cls.__name__ in DESCRIPTIONS, f"httpx.{cls.__name__} is not described"
    error = map_http_error(httpx_instance(cls), settings)
    assert isinstance(error, DESCRIPTIONS[cls.__name__][0])
    assert "echo at http://127.0.0.1:9/v1" in error.message
    assert error.provider == "echo"
    assert error.model == "echo-1"


@cut_short
async def test_a_corrupt_gzip_answer_is_a_provider_error(runtime, hostile):
    hostile.serve("corrupt_gzip")
    with pytest.raises(ProviderError, match="cannot be decoded"):
        await ask(runtime).execute()


@cut_short
async def test_a_corrupt_gzip_stream_is_a_streaming_error(runtime, hostile):
    hostile.serve("corrupt_gzip")
    with pytest.raises(StreamingError, match="cannot be decoded"):
        await (await ask(runtime).execute_streaming()).collect_all()
    assert in_flight(runtime) == 0


# 6: bodies are counted after decoding, error bodies included ----------------------------------


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python allocations inside the block, in bytes (in the list it yields)."""
    gzip_bomb()  # built once, outside the measurement
    tracemalloc.start()
    peak: list[int] = []
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


@pytest.fixture
def small_answers(monkeypatch):
    monkeypatch.setattr(agentflow._call.client, "MAX_ANSWER_BYTES", 1024 * 1024)


@cut_short
@pytest.mark.usefixtures("small_answers")
@pytest.mark.parametrize("behaviour", ["gzip_bomb", "huge_body"])
async def test_an_answer_that_inflates_past_the_limit_is_refused_in_bounded_memory(
        runtime, hostile, behaviour):
    hostile.serve(behaviour)
    with peak_memory() as peak, pytest.raises(ProviderError, match="larger than 1 MiB"):
        await ask(runtime).execute()
    assert peak[0] < 8 * 1024 * 1024


@cut_short
@pytest.mark.parametrize("behaviour", ["gzip_bomb_error", "huge_error_body"])
async def test_an_error_body_is_read_only_as_far_as_an_error_needs(runtime, hostile,
                                                                     behaviour):
    hostile.serve(behaviour)
    with peak_memory() as peak, pytest.raises(HttpError) as caught:
        await ask(runtime).execute()
    assert caught.value.status_code == 500
    assert peak[0] < 8 * 1024 * 1024


@cut_short
async def test_a_gzip_bombed_stream_inflates_piece_by_piece(runtime, hostile, monkeypatch):
    monkeypatch.setattr(agentflow.sse, "MAX_EVENT_SIZE", 1024 * 1024)
    hostile.serve("gzip_bomb")
    with peak_memory() as peak, pytest.raises(StreamingError):
        await (await ask(runtime).execute_streaming()).collect_all()
    assert peak[0] < 8 * 1024 * 1024
    assert in_flight(runtime) == 0


class HealthCheck:
    """A health check for the echo vendor: GET {base_url}/models."""

    @hookimpl
    def agentflow_check_provider(self, settings):
        return httpx.Request("GET", settings.base_url + "/models")


@cut_short
async def test_a_health_check_reads_a_bounded_body(hostile, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    runtime = make_runtime(hostile.base_url)
    runtime.host.register(HealthCheck())
    hostile.serve("gzip_bomb")
    try:
        with peak_memory() as peak:
            [health] = await check_providers(runtime, providers=["echo"])
    finally:
        await runtime.aclose()
    assert health.status == "error"
    assert "more than 1024 KiB" in health.detail
    assert peak[0] < 8 * 1024 * 1024


# 9: a redirect is an error naming where it points ----------------------------------------------


@pytest.mark.parametrize("behaviour", ["redirect_302_with_answer", "redirect_307_empty"])
@pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])
async def test_a_redirect_is_an_error_naming_its_target(runtime, hostile, behaviour, stream):
    hostile.serve(behaviour)
    call = ask(runtime).execute_streaming() if stream else ask(runtime).execute()
    with pytest.raises(HttpError) as caught:
        await call
    assert caught.value.status_code in (302, 307)
    assert "redirect to elsewhere.invalid" in str(caught.value)
    assert "base_url" in str(caught.value)
    assert in_flight(runtime) == 0


# 11: a stream answered with something else says what came ----------------------------------


async def test_a_stream_answered_with_a_web_page_says_what_came(runtime, hostile):
    hostile.serve("html_page")
    with pytest.raises(StreamingError) as caught:
        await ask(runtime).execute_streaming()
    message = str(caught.value)
    assert "HTTP 200 text/html" in message
    assert "Please log in" in message


@cut_short
async def test_a_stream_answered_with_a_json_object_says_what_came(runtime, hostile):
    hostile.serve(fixed_answer(b'{"error": "alt=sse is required"}'))
    with pytest.raises(StreamingError) as caught:
        await (await ask(runtime).execute_streaming()).collect_all()
    message = str(caught.value)
    assert "application/json" in message
    assert "alt=sse is required" in message


async def test_a_stream_sent_as_a_json_array_is_read_element_by_element(runtime, hostile):
    events = [{"delta": "Hel"}, {"delta": "lo, "}, {"delta": "[world]"},
              {"finish": "stop", "usage": [3, 4]}]
    hostile.serve(fixed_answer(json.dumps(events, indent=1).encode()))
    stream = await ask(runtime).execute_streaming()
    assert await stream.collect_all() == "Hello, [world]"
    assert stream.final_chunk is not None
    assert stream.final_chunk.usage.completion_tokens == 4


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10)


@given(elements=st.lists(json_values, max_size=6), cuts=st.lists(st.integers(0, 10_000)))
def test_a_json_array_splits_into_its_elements_wherever_its_bytes_are_cut(elements, cuts):
    body = json.dumps(elements, ensure_ascii=False).encode()
    decoder = JSONArrayDecoder()
    found = []
    start = 0
    for cut in [*sorted({c % (len(body) + 1) for c in cuts}), len(body)]:
        found += [json.loads(event.data) for event in decoder.feed(body[start:cut])]
        start = cut
    assert found == elements
    assert decoder.ended


# 7: the text of one stream is capped ------------------------------------------------------------


def endless_text(conn, request) -> None:
    conn.head("200 OK", {"content-type": "text/event-stream", "transfer-encoding": "chunked"})
    event = b'data: {"delta": "' + b"z" * 1000 + b'"}\n\n'
    while not conn.stopping:
        conn.chunk(event * 16)


@cut_short
async def test_an_endless_stream_of_text_ends_at_the_configured_cap(hostile, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    runtime = make_runtime(hostile.base_url, defaults=Defaults(max_retries=0,
                                                               max_stream_chars=100_000))
    hostile.serve(Behaviour("endless_text", "text events for ever", endless_text))
    try:
        stream = await ask(runtime).execute_streaming()
        with pytest.raises(StreamingError, match="more than 100000 characters") as caught:
            await stream.collect_all()
    finally:
        await runtime.aclose()
    assert 99_000 <= len(caught.value.partial_text) <= 100_000


# 5: one stream, one reader ------------------------------------------------------------------------


async def test_a_second_reader_of_a_stream_is_refused_and_the_first_reads_it_all(runtime,
                                                                                hostile):
    gate = threading.Event()

    def two_halves(conn, request) -> None:
        conn.head("200 OK", {"content-type": "text/event-stream", "transfer-encoding": "chunked"})
        conn.chunk(b'data: {"delta": "first "}\n\n')
        gate.wait(10)
        conn.chunk(b'data: {"delta": "second"}\n\ndata: {"finish": "stop", "usage": [1, 2]}\n\n')
        conn.end_chunks()

    hostile.serve(Behaviour("two_halves", "one event, then the rest when told", two_halves))
    stream = await ask(runtime).execute_streaming()
    first_arrived = anyio.Event()
    received: list[str] = []

    async def first_reader() -> None:
        async for chunk in stream:
            received.append(chunk.content)
            first_arrived.set()

    async with anyio.create_task_group() as group:
        group.start_soon(first_reader)
        await first_arrived.wait()
        with pytest.raises(StreamingError, match="read by another task"):
            await stream.next_chunk()
        gate.set()
    assert "".join(received) == "first second"
    assert stream.final_chunk is not None
    assert in_flight(runtime) == 0


# 15: an https URL at a plain-http port names the TLS handshake ---------------------------------


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    """A port that answers anything with a plain-HTTP 400, as a web server does to TLS."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                with contextlib.suppress(OSError):
                    connection.recv(65536)
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"
                                       b"connection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stopping.set()
    thread.join(5)
    listener.close()


async def test_https_to_a_plain_http_port_names_the_tls_handshake(plain_http_port, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    runtime = make_runtime(f"https://127.0.0.1:{plain_http_port}/v1")
    try:
        with pytest.raises(ProviderError) as caught:
            await ask(runtime).execute()
    finally:
        await runtime.aclose()
    message = str(caught.value)
    assert "TLS handshake" in message
    assert "plain http port" in message
    assert ": ;" not in message


# 4: one breaker per endpoint ------------------------------------------------------------------


async def test_a_failing_model_does_not_open_the_circuit_of_its_providers_other_models(
        hostile, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    hostile.serve(fixed_answer(b'{"error": "down"}', status="503 Service Unavailable"))
    with HostileServer(echo_answer("from the healthy server")) as healthy:
        host = PluginHost(entry_points=False)
        host.register(EchoVendor())
        runtime = Runtime(host=host, config=Config(
            models={"broken": ModelConfig(vendor="echo", model_id="echo-1"),
                    "fine": ModelConfig(vendor="echo", model_id="echo-2",
                                        base_url=healthy.base_url)},
            providers={"echo": ProviderConfig(
                base_url=hostile.base_url,
                circuit_breaker=CircuitBreakerConfig(failure_threshold=1,
                                                     cooldown_seconds=600))},
            defaults=Defaults(max_retries=0)))
        try:
            with pytest.raises(HttpError):
                await LLMClientBuilder("broken", runtime=runtime).prompt("hi").execute()
            with pytest.raises(CircuitOpenError, match=r"echo \(echo-1 at http"):
                await LLMClientBuilder("broken", runtime=runtime).prompt("hi").execute()
            assert await LLMClientBuilder("fine", runtime=runtime).prompt("hi").execute() == (
                "from the healthy server")
        finally:
            await runtime.aclose()
