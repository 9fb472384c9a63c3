"""What agentflow promises, checked over each transport (``transport`` fixture): answers and
streams end to end, faults, time limits, pool limits, TLS, proxies, redirects, body limits and
cancellation, against the fake provider server and small servers made here."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import attrs
import pytest
import trustme

import agentflow._call.client
import agentflow._http.transport
from agentflow import (
    ConfigurationError,
    HttpError,
    LLMClientBuilder,
    LLMTimeoutError,
    ProviderError,
    StreamingError,
)
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig, validate_config
from agentflow.testing import FakeServer, Reply
from agentflow_aiohttp.transport import AiohttpTransport

pytestmark = pytest.mark.anyio
KEY_ENV = "AIOHTTP_TEST_KEY"


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, f"test-{secrets.token_hex(8)}")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                 "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The requests that went through the aiohttp transport."""
    seen: list[object] = []
    original = AiohttpTransport.handle_async_request

    async def counted(self: AiohttpTransport, request: Any) -> Any:
        seen.append(request)
        return await original(self, request)

    monkeypatch.setattr(AiohttpTransport, "handle_async_request", counted)
    return seen


def make_runtime(base_url: str, transport: str, **provider: Any) -> Runtime:
    entry = ProviderConfig(vendor="openai", api_key_env=KEY_ENV, base_url=base_url,
                           transport=transport, **provider)
    return Runtime(config=Config(providers={"openai": entry},
                                 defaults=attrs.evolve(Defaults(), max_retries=0)))


@pytest.fixture
async def runtime(fake_llm_server: FakeServer, transport: str,
                  sent: list[object]) -> AsyncIterator[Runtime]:
    runtime = make_runtime(fake_llm_server.base_url("openai"), transport)
    yield runtime
    await runtime.aclose()
    if transport == "aiohttp":
        assert len(sent) == len(fake_llm_server.requests)


def ask(runtime: Runtime) -> LLMClientBuilder:
    return LLMClientBuilder("gpt-4o", runtime=runtime).prompt("hi")


# --- end to end -------------------------------------------------------------------------------


async def test_an_answer_and_a_stream(runtime: Runtime, fake_llm_server: FakeServer) -> None:
    fake_llm_server.script("openai", Reply(text="one two three"), Reply(text="four five six"))
    assert await ask(runtime).execute() == "one two three"
    stream = await ask(runtime).execute_streaming()
    chunks = [chunk async for chunk in stream]
    assert "".join(chunk.content for chunk in chunks) == "four five six"
    assert chunks[-1].is_final
    assert chunks[-1].usage is not None


async def test_many_calls_at_once_share_the_pool(runtime: Runtime,
                                                 fake_llm_server: FakeServer) -> None:
    answers: list[str] = []

    async def one(number: int) -> None:
        answers.append(await ask(runtime).prompt(f"number {number}").execute())

    async with anyio.create_task_group() as group:
        for number in range(20):
            group.start_soon(one, number)
    assert len(answers) == 20
    assert len(fake_llm_server.requests) == 20


# --- faults -----------------------------------------------------------------------------------


async def test_a_truncated_body_is_a_provider_error(runtime: Runtime,
                                                    fake_llm_server: FakeServer) -> None:
    fake_llm_server.script("openai", Reply(text="a b c d e f", cut_after=1))
    with pytest.raises(ProviderError, match="before the answer was complete"):
        await ask(runtime).execute()


async def test_a_cut_stream_is_an_error(runtime: Runtime, fake_llm_server: FakeServer) -> None:
    fake_llm_server.script("openai", Reply(text="a b c d e f", cut_after=2))
    stream = await ask(runtime).execute_streaming()
    with pytest.raises(StreamingError, match="broke off"):
        await stream.collect_all()


async def test_malformed_json_is_a_provider_error(runtime: Runtime,
                                                  fake_llm_server: FakeServer) -> None:
    fake_llm_server.script("openai", Reply(malformed=True))
    with pytest.raises(ProviderError, match="JSON"):
        await ask(runtime).execute()


async def test_an_oversized_answer_is_refused_and_the_pool_still_works(
        runtime: Runtime, fake_llm_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agentflow._call.client, "MAX_ANSWER_BYTES", 1000)
    fake_llm_server.script("openai", Reply(text="word " * 500), Reply(text="short"))
    with pytest.raises(ProviderError, match="larger than"):
        await ask(runtime).execute()
    assert await ask(runtime).execute() == "short"


async def test_an_error_status_is_an_http_error(runtime: Runtime,
                                                fake_llm_server: FakeServer) -> None:
    fake_llm_server.script("openai", Reply(status=503))
    with pytest.raises(HttpError) as caught:
        await ask(runtime).execute()
    assert caught.value.status_code == 503


async def test_a_redirect_is_not_followed(fake_llm_server: FakeServer, transport: str) -> None:
    target = fake_llm_server.base_url("openai") + "/chat/completions"

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(307)
            self.send_header("location", target)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(Redirecting) as url:
        runtime = make_runtime(url, transport)
        try:
            with pytest.raises(HttpError) as caught:
                await ask(runtime).execute()
        finally:
            await runtime.aclose()
    assert caught.value.status_code == 307
    assert fake_llm_server.requests == []  # the redirect was not followed


async def test_a_refused_connection_is_a_connect_failure(transport: str) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    runtime = make_runtime(f"http://127.0.0.1:{port}/v1", transport)
    try:
        with pytest.raises(ProviderError, match="could not connect"):
            await ask(runtime).execute()
    finally:
        await runtime.aclose()


# --- time limits --------------------------------------------------------------------------------


async def test_a_silent_server_is_a_read_timeout(fake_llm_server: FakeServer,
                                                 transport: str) -> None:
    runtime = make_runtime(fake_llm_server.base_url("openai"), transport,
                           read_timeout_seconds=0.3)
    fake_llm_server.script("openai", Reply(text="late", delay=60))
    try:
        with pytest.raises(LLMTimeoutError, match="read_timeout_seconds"):
            await ask(runtime).execute()
    finally:
        await runtime.aclose()


async def test_a_stalled_stream_is_a_timeout(fake_llm_server: FakeServer, transport: str) -> None:
    runtime = make_runtime(fake_llm_server.base_url("openai"), transport,
                           stream_idle_timeout_seconds=0.3)
    fake_llm_server.script("openai", Reply(text="a b c", chunk_delay=60))
    try:
        stream = await ask(runtime).execute_streaming()
        with pytest.raises(LLMTimeoutError):
            await stream.collect_all()
    finally:
        await runtime.aclose()


async def test_the_total_limit_holds(fake_llm_server: FakeServer, transport: str) -> None:
    runtime = make_runtime(fake_llm_server.base_url("openai"), transport, timeout_seconds=0.3)
    fake_llm_server.script("openai", Reply(text="late", delay=60))
    try:
        with pytest.raises(LLMTimeoutError):
            await ask(runtime).execute()
    finally:
        await runtime.aclose()


# --- the pool -----------------------------------------------------------------------------------


@pytest.fixture
def one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agentflow._http.transport, "MAX_CONNECTIONS", 1)
    monkeypatch.setattr(agentflow._http.transport, "MAX_KEEPALIVE_CONNECTIONS", 1)


@pytest.mark.usefixtures("one_connection")
async def test_a_full_pool_makes_the_next_call_wait_then_time_out(
        fake_llm_server: FakeServer, transport: str) -> None:
    runtime = make_runtime(fake_llm_server.base_url("openai"), transport)
    fake_llm_server.script("openai", Reply(text="holds the connection", delay=60))
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(ask(runtime).execute)
            await fake_llm_server.wait_for_requests(1)
            with pytest.raises(LLMTimeoutError):
                await ask(runtime).timeout(0.3).execute()  # no connection frees in time
            group.cancel_scope.cancel()
        assert len(fake_llm_server.requests) == 1  # the second call never reached the server
    finally:
        await runtime.aclose()


@pytest.mark.usefixtures("one_connection")
async def test_a_cancelled_stream_gives_its_connection_back(runtime: Runtime,
                                                            fake_llm_server: FakeServer) -> None:
    fake_llm_server.script("openai", Reply(text="a b c d e f", chunk_delay=60),
                           Reply(text="next call"))

    async def stream_all() -> None:
        stream = await ask(runtime).execute_streaming()
        await stream.collect_all()

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(stream_all)
            await fake_llm_server.wait_for_requests(1)
            scope.cancel()
    assert scope.cancelled_caught
    # The pool's only connection is free again: this call does not wait for a minute.
    with anyio.fail_after(30):
        assert await ask(runtime).execute() == "next call"


# httpx's own transport leaves its body iterator to the garbage collector under trio (the
# core's tests of cut streams allow the same warning).
@pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")
@pytest.mark.usefixtures("one_connection")
async def test_a_stream_left_half_read_gives_its_connection_back(
        runtime: Runtime, fake_llm_server: FakeServer) -> None:
    fake_llm_server.script("openai", Reply(text="a b c d e f"), Reply(text="next call"))
    stream = await ask(runtime).execute_streaming()
    assert await stream.next_chunk() is not None
    await stream.aclose()
    with anyio.fail_after(30):
        assert await ask(runtime).execute() == "next call"


# --- TLS and proxies ----------------------------------------------------------------------------


class OpenAIShapedHandler(BaseHTTPRequestHandler):
    """Answers any POST with a Chat Completions body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        answer = json.dumps({
            "id": "c1", "object": "chat.completion", "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "over TLS"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler],
            context: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``handler`` on loopback (over TLS with ``context``); yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme, host = ("https", "localhost") if context is not None else ("http", "127.0.0.1")
    try:
        yield f"{scheme}://{host}:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_url(ca: trustme.CA) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate (for ``localhost``) only ``ca`` signs."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    with serving(OpenAIShapedHandler, context) as url:
        yield url


async def test_tls_is_verified_against_the_public_roots(tls_url: str, transport: str) -> None:
    runtime = make_runtime(tls_url, transport)
    try:
        with pytest.raises(ProviderError, match="certificate"):
            await ask(runtime).execute()
    finally:
        await runtime.aclose()


async def test_ca_bundle_verifies_a_private_ca(tls_url: str, ca: trustme.CA, transport: str,
                                               tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    runtime = make_runtime(tls_url, transport, ca_bundle=str(bundle))
    try:
        assert await ask(runtime).execute() == "over TLS"
    finally:
        await runtime.aclose()


@pytest.fixture
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy variables pointing at a port nobody listens on."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")


@pytest.mark.usefixtures("dead_proxy")
async def test_proxy_variables_are_ignored_without_trust_env(fake_llm_server: FakeServer,
                                                             transport: str) -> None:
    fake_llm_server.script("openai", Reply(text="direct"))
    runtime = make_runtime(fake_llm_server.base_url("openai"), transport)
    try:
        assert await ask(runtime).execute() == "direct"
    finally:
        await runtime.aclose()


@pytest.mark.usefixtures("dead_proxy")
async def test_proxy_variables_apply_with_trust_env(fake_llm_server: FakeServer,
                                                    transport: str) -> None:
    runtime = make_runtime(fake_llm_server.base_url("openai"), transport, trust_env=True)
    try:
        with pytest.raises(ProviderError):
            await ask(runtime).execute()
        assert fake_llm_server.requests == []  # it went to the (dead) proxy, not direct
    finally:
        await runtime.aclose()


# --- choosing the transport ---------------------------------------------------------------------


@pytest.mark.parametrize("case", [("trio", "aiohttp")], ids=["trio-aiohttp"])
async def test_under_trio_aiohttp_falls_back_to_httpx_and_says_so(
        fake_llm_server: FakeServer, sent: list[object],
        caplog: pytest.LogCaptureFixture) -> None:
    agentflow._http.transport._warned_fallback.discard("aiohttp")
    fake_llm_server.script("openai", Reply(text="over httpx"))
    runtime = make_runtime(fake_llm_server.base_url("openai"), "aiohttp")
    try:
        with caplog.at_level(logging.WARNING, logger="agentflow"):
            assert await ask(runtime).execute() == "over httpx"
    finally:
        await runtime.aclose()
    assert sent == []
    warnings = [r.getMessage() for r in caplog.records if "httpx's own transport" in r.getMessage()]
    assert len(warnings) == 1
    assert "trio" in warnings[0]


@pytest.mark.parametrize("case", [("asyncio", "aiohttp")], ids=["asyncio-aiohttp"])
async def test_aiohttp_without_the_plugin_is_a_configuration_error(
        fake_llm_server: FakeServer) -> None:
    import agentflow_openai

    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN if hasattr(agentflow_openai, "PLUGIN")
                  else agentflow_openai, "openai")
    entry = ProviderConfig(vendor="openai", api_key_env=KEY_ENV, transport="aiohttp",
                           base_url=fake_llm_server.base_url("openai"))
    runtime = Runtime(host=host, config=Config(providers={"openai": entry}))
    try:
        with pytest.raises(ConfigurationError, match="install agentflow-aiohttp"):
            await ask(runtime).execute()
    finally:
        await runtime.aclose()


def test_an_unknown_transport_is_a_located_configuration_error(tmp_path: Any) -> None:
    config = tmp_path / "agentflow.yml"
    config.write_text("defaults:\n  transport: curl\n")
    report = validate_config(config, providers=Runtime().host.providers())
    assert not report.is_valid
    [issue] = report.issues
    assert (issue.path, issue.line) == ("defaults.transport", 2)
    assert "must be one of 'httpx', 'aiohttp', got 'curl'" in issue.message
