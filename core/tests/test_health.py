"""Health checks over real loopback HTTP, against a small vendor defined here, under asyncio
and trio: every status, the time limits, concurrency, and no key anywhere."""

from __future__ import annotations

import functools
import logging
import socket
import ssl
import threading
import time

import anyio
import httpx
import pytest

from agentflow._ops.health import STATUSES, ProviderHealth, check_providers, providers_to_check
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.cli.doctor import healthy, render
from agentflow.config import Config, ModelConfig, ProviderConfig
from agentflow.errors import HttpError, LLMError
from agentflow.hookspecs import hookimpl
from agentflow.testing import FakeServer, Reply
from agentflow.testing.fake import FakeCall, FakeJSON, FakeProvider, FakeRoute
from agentflow.types import ModelInfo, ModelSettings, ProviderSpec

pytestmark = pytest.mark.anyio

KEY = "sk-health-test-secret-0123456789"
WRONG_KEY = "sk-health-wrong-secret-9876543210"


class PingVendor:
    """``ping`` checks ``GET {base}/models`` with a bearer key; ``open`` is the same with an
    optional key; ``quiet`` has no health check."""

    @hookimpl
    def agentflow_register_providers(self) -> list[ProviderSpec]:
        return [
            ProviderSpec(name="ping", default_base_url="http://127.0.0.1:1/v1",
                         api_key_env="PING_API_KEY"),
            ProviderSpec(name="open", default_base_url="http://127.0.0.1:1/v1",
                         api_key_env="OPEN_API_KEY", api_key_optional=True),
            ProviderSpec(name="quiet", default_base_url="http://127.0.0.1:1/v1",
                         api_key_env="QUIET_API_KEY"),
        ]

    @hookimpl
    def agentflow_default_models(self) -> list[ModelInfo]:
        return [ModelInfo(name="ping-1", provider="ping")]

    @hookimpl
    def agentflow_check_provider(self, vendor: str,
                                 settings: ModelSettings) -> httpx.Request | None:
        if vendor not in ("ping", "open"):
            return None
        headers = {"authorization": f"Bearer {settings.api_key.reveal()}"} if (
            settings.api_key is not None) else {}
        return httpx.Request("GET", settings.base_url.rstrip("/") + "/models", headers=headers)

    @hookimpl
    def agentflow_map_error(self, vendor: str, response: httpx.Response) -> LLMError | None:
        if vendor not in ("ping", "open"):
            return None
        said = response.json()["error"]
        return HttpError(f"ping answered {response.status_code}: {said}",
                         status_code=response.status_code, vendor_message=said)

    @hookimpl
    def agentflow_fake_routes(self) -> list[FakeProvider]:
        return [FakeProvider(provider=name, base_path="/v1",
                             routes=[FakeRoute(method="GET", path="/models", handler=_models)])
                for name in ("ping", "open")]


async def _models(call: FakeCall) -> FakeJSON:
    sent = call.headers.get("authorization", "")
    if sent != f"Bearer {KEY}":  # like OpenAI, the answer quotes the key it was given
        return FakeJSON(status=401, body={"error": f"Incorrect API key provided: {sent}"})
    if call.reply.status >= 400:
        return FakeJSON(status=call.reply.status, body={"error": call.reply.error_message})
    return FakeJSON(body={"data": [{"id": "ping-1"}]})


class BrokenCheck:
    @hookimpl
    def agentflow_check_provider(self, vendor: str, settings: ModelSettings) -> None:
        if vendor == "quiet":
            raise RuntimeError("boom")


def _host(*plugins: object) -> PluginHost:
    host = PluginHost(entry_points=False)
    host.register(PingVendor())
    for plugin in plugins:
        host.register(plugin)
    return host


@pytest.fixture(scope="module")
def server():
    with FakeServer.from_plugins(_host()) as running:
        yield running


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("PING_API_KEY", KEY)
    monkeypatch.delenv("OPEN_API_KEY", raising=False)
    monkeypatch.delenv("QUIET_API_KEY", raising=False)
    return KEY


@pytest.fixture
async def make_runtime(server, key):
    server.clear()
    made: list[Runtime] = []

    def make(providers: dict[str, ProviderConfig] | None = None, *plugins: object,
             models: dict[str, ModelConfig] | None = None) -> Runtime:
        if providers is None:
            providers = {"ping": ProviderConfig(base_url=server.base_url("ping"))}
        runtime = Runtime(host=_host(*plugins),
                          config=Config(providers=providers, models=models or {}))
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.aclose()


def only(results: list[ProviderHealth]) -> ProviderHealth:
    assert len(results) == 1, results
    return results[0]


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert KEY not in str(text)
        assert WRONG_KEY not in str(text)


# statuses -------------------------------------------------------------------------------------


async def test_a_working_provider_is_ok_with_its_latency(make_runtime, server):
    result = only(await check_providers(make_runtime()))
    assert (result.provider, result.vendor, result.status) == ("ping", "ping", "ok")
    assert result.usable
    assert not result.failed
    assert result.required
    assert result.status_code == 200
    assert result.latency_ms is not None
    assert 0 < result.latency_ms < 5000
    assert result.base_url == server.base_url("ping")
    assert result.api_key_env == "PING_API_KEY"
    sent = server.requests[-1]
    assert (sent.method, sent.path) == ("GET", "/ping/v1/models")
    assert_no_key(result, result.as_dict())


async def test_an_unset_key_is_missing_key_without_a_request(make_runtime, server,
                                                             monkeypatch):
    monkeypatch.delenv("PING_API_KEY")
    result = only(await check_providers(make_runtime()))
    assert result.status == "missing_key"
    assert not result.usable
    assert result.failed
    assert result.api_key_env == "PING_API_KEY"
    assert "PING_API_KEY is not set" in result.detail
    assert result.base_url == server.base_url("ping")
    assert server.requests == []


async def test_a_wrong_key_is_rejected_and_never_shown(make_runtime, monkeypatch, caplog):
    monkeypatch.setenv("PING_API_KEY", WRONG_KEY)
    caplog.set_level(logging.DEBUG)
    results = await check_providers(make_runtime())
    result = only(results)
    assert result.status == "key_rejected"
    assert result.status_code == 401
    assert "PING_API_KEY" in result.detail
    assert "Incorrect API key provided" in result.detail
    assert_no_key(result, repr(results), result.as_dict(), caplog.text)


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_a_refusal_status_means_the_key_was_rejected(make_runtime, server, status):
    server.script("ping", Reply(status=status, error_message="no such key"))
    result = only(await check_providers(make_runtime()))
    assert (result.status, result.status_code) == ("key_rejected", status)
    assert "no such key" in result.detail


async def test_an_optional_key_the_server_asks_for_is_missing_key(make_runtime, server):
    runtime = make_runtime({"open": ProviderConfig(base_url=server.base_url("open"))})
    result = only(await check_providers(runtime))
    assert (result.status, result.status_code) == ("missing_key", 401)
    assert "OPEN_API_KEY" in result.detail


@pytest.mark.parametrize(("reply", "words"), [
    (Reply(status=500, error_message="exploded"), "failed on its side"),
    (Reply(status=503, error_message="overloaded"), "overloaded"),
    (Reply(status=404, error_message="not here"), "check base_url"),
    (Reply(status=429, error_message="slow down"), "rate limiting"),
    (Reply(malformed=True), "not with JSON"),
])
async def test_other_answers_are_errors_in_the_vendors_words(make_runtime, server, reply,
                                                             words):
    server.script("ping", reply)
    result = only(await check_providers(make_runtime()))
    assert result.status == "error"
    assert words in result.detail
    assert not result.usable
    assert result.failed


async def test_a_closed_port_is_unreachable(make_runtime):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    result = only(await check_providers(make_runtime({"ping": ProviderConfig(base_url=base_url)})))
    assert result.status == "unreachable"
    assert base_url in result.detail
    assert "check base_url" in result.detail
    assert result.latency_ms is None


async def test_an_answer_past_the_limit_is_a_timeout(make_runtime, server):
    server.script("ping", Reply(delay=60))
    started = time.monotonic()
    result = only(await check_providers(make_runtime(), timeout=0.3))
    assert time.monotonic() - started < 30  # gave up at its limit, did not wait the answer
    assert result.status == "timeout"
    assert "0.3 s" in result.detail


async def test_a_slow_answer_is_slow_and_still_usable(make_runtime, server):
    server.script("ping", Reply(delay=0.3))
    result = only(await check_providers(make_runtime(), slow_after=0.1))
    assert result.status == "slow"
    assert result.usable
    assert result.latency_ms is not None
    assert result.latency_ms >= 300


async def test_an_untrusted_certificate_is_a_tls_error(make_runtime, tls_server):
    runtime = make_runtime({"ping": ProviderConfig(base_url=tls_server)})
    result = only(await check_providers(runtime))
    assert result.status == "tls_error"
    assert "certificate of 127.0.0.1 is not trusted" in result.detail
    assert not result.usable


async def test_https_to_a_plain_http_port_is_a_tls_error(make_runtime, server):
    base_url = server.base_url("ping").replace("http://", "https://")
    result = only(await check_providers(make_runtime({"ping": ProviderConfig(base_url=base_url)})))
    assert result.status == "tls_error"
    assert "TLS handshake with 127.0.0.1 failed" in result.detail


async def test_a_vendor_without_a_check_is_unsupported(make_runtime, monkeypatch):
    monkeypatch.setenv("QUIET_API_KEY", KEY)
    result = only(await check_providers(make_runtime({"quiet": ProviderConfig()})))
    assert result.status == "unsupported"
    assert not result.usable
    assert not result.failed
    assert "agentflow_check_provider" in result.detail


async def test_a_vendor_nobody_installed_is_misconfigured(make_runtime):
    runtime = make_runtime({"work": ProviderConfig(vendor="pong")})
    result = only(await check_providers(runtime))
    assert (result.provider, result.vendor, result.status) == ("work", "pong", "misconfigured")
    assert "no installed plugin provides vendor 'pong'" in result.detail
    assert "Did you mean 'ping'?" in result.detail


async def test_a_plugin_failing_to_build_its_check_is_an_error(make_runtime, monkeypatch):
    monkeypatch.setenv("QUIET_API_KEY", KEY)
    runtime = make_runtime({"quiet": ProviderConfig()}, BrokenCheck())
    result = only(await check_providers(runtime))
    assert result.status == "error"
    assert "RuntimeError: boom" in result.detail


# which providers, and all at once -------------------------------------------------------------


async def test_checks_run_concurrently(make_runtime, server):
    base = server.base_url("ping")
    runtime = make_runtime({name: ProviderConfig(vendor="ping", base_url=base)
                            for name in ("a", "b", "c", "d")})
    server.script("ping", *[Reply(delay=60)] * 4)
    async with anyio.create_task_group() as checks:
        checks.start_soon(functools.partial(check_providers, runtime, timeout=120))
        # One after the other, the second would wait for the first's answer, a minute away.
        await server.wait_for_requests(4, timeout=30)
        checks.cancel_scope.cancel()
    server.clear()
    results = await check_providers(runtime, slow_after=30)
    assert [r.provider for r in results] == ["a", "b", "c", "d"]
    assert {r.status for r in results} == {"ok"}


async def test_configured_providers_and_those_models_use_are_checked(make_runtime, server):
    runtime = make_runtime(
        {"ping": ProviderConfig(base_url=server.base_url("ping"))},
        models={"house": ModelConfig(vendor="quiet"), "ping-1": ModelConfig(temperature=0.1)})
    assert providers_to_check(runtime) == ["ping", "quiet"]


async def test_with_nothing_configured_every_installed_vendor_is_checked(make_runtime):
    runtime = make_runtime({})
    results = await check_providers(runtime, timeout=2)
    by_name = {r.provider: r for r in results}
    assert list(by_name) == ["open", "ping", "quiet"]
    # ping's key is set, so it counts: nothing listens at its default URL
    assert by_name["ping"].required
    assert by_name["ping"].failed
    assert by_name["quiet"].status == "missing_key"
    assert not by_name["quiet"].required
    assert not by_name["open"].required


async def test_named_providers_are_checked_in_the_order_given(make_runtime, server):
    runtime = make_runtime({"ping": ProviderConfig(base_url=server.base_url("ping")),
                            "quiet": ProviderConfig()})
    results = await check_providers(runtime, providers=["quiet", "ping", "quiet"])
    assert [r.provider for r in results] == ["quiet", "ping"]


async def test_limits_must_make_sense(make_runtime):
    with pytest.raises(ValueError, match="timeout"):
        await check_providers(make_runtime(), timeout=0)


# doctor's verdict and table -----------------------------------------------------------------


def _health(provider: str, status: str, *, required: bool = True) -> ProviderHealth:
    return ProviderHealth(provider=provider, vendor=provider, status=status,  # type: ignore[arg-type]
                          detail=f"{provider} is {status}", required=required)


def test_every_status_is_either_usable_failed_or_unchecked():
    assert {s for s in STATUSES if _health("p", s).usable} == {"ok", "slow"}
    assert {s for s in STATUSES if not _health("p", s).failed} == {"ok", "slow", "unsupported"}


def test_doctor_fails_for_a_required_failure_or_when_nothing_works():
    assert healthy([_health("a", "ok"), _health("b", "missing_key", required=False)])
    assert not healthy([_health("a", "ok"), _health("b", "key_rejected")])
    assert not healthy([_health("a", "missing_key", required=False)])
    assert not healthy([])
    assert healthy([_health("a", "unsupported")])


def test_doctor_table_has_one_row_per_provider_and_a_count():
    table = render([ProviderHealth(provider="ping", vendor="ping", status="ok", detail="fine",
                                   latency_ms=12.3),
                    _health("quiet", "missing_key", required=False),
                    _health("work", "unreachable")])
    lines = table.splitlines()
    assert lines[0].split() == ["PROVIDER", "VENDOR", "STATUS", "LATENCY", "DETAIL"]
    assert lines[1].split() == ["ping", "ping", "ok", "12", "ms", "fine"]
    assert "(missing_key)" in lines[2]
    assert "1 of 3 provider(s) usable; not working: work" in table


# a TLS server with a certificate nobody trusts ------------------------------------------------


@pytest.fixture(scope="module")
def tls_server():
    trustme = pytest.importorskip("trustme")
    cert = trustme.CA().issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (ssl.SSLError, OSError):
                    pass  # the client refuses the certificate: that is the point

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join()
        listener.close()


async def test_checks_use_the_providers_pool(make_runtime):
    runtime = make_runtime()
    await check_providers(runtime)
    await check_providers(runtime)
    assert len(runtime.pools) == 1


def test_provider_settings_are_the_entrys_own_with_the_key(key):
    config = Config(providers={"work": ProviderConfig(vendor="ping", base_url="http://127.0.0.1:9/v1",
                                                      connect_timeout_seconds=3.0)})
    runtime = Runtime(host=_host(), config=config)
    settings = runtime.registry.provider_settings("work")
    assert (settings.name, settings.model_id) == ("", "")
    assert (settings.provider, settings.vendor) == ("work", "ping")
    assert settings.base_url == "http://127.0.0.1:9/v1"
    assert settings.connect_timeout_seconds == 3.0
    assert settings.api_key is not None
    assert settings.api_key.reveal() == key
    assert settings.api_key_env == "PING_API_KEY"
