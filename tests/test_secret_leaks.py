"""No API key leaks, on any error path, for any installed vendor (issue 16).

Every vendor plugin installed here is called through the fake server (or through a dead or
TLS-less endpoint) on every error path: each class of HTTP error, a read timeout, a refused
connection, a failed TLS handshake, a malformed body, a stream cut off, an in-stream error, a
cancelled call. Each with three keys: one exported with a trailing newline, one of no vendor's
shape, and one of the vendor's own shape; all built at run time, so no key-shaped literal sits
in the source. The server echoes the key as hostile servers do: whole, its first 20
characters, masked, in ``x-request-id`` and in the error's type.

Then the key, and every run of 8 of its characters, must be absent from: the error's str and
repr and those of every exception chained to it; its formatted traceback; every log record of
every logger at DEBUG (formatted with its traceback); every execution event; the metrics; the
Prometheus exposition; the OpenTelemetry spans (when the SDK is installed); and the output of
``agentflow run --debug`` and ``agentflow doctor``.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import string
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentflow import LLMClientBuilder, LLMError, MetricsCollector
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ModelConfig, ProviderConfig
from agentflow.hookspecs import hookimpl
from agentflow.testing import FakeServer, Reply

ALNUM = string.ascii_letters + string.digits


def _random(length: int, seed: str, alphabet: str = ALNUM) -> str:
    chooser = random.Random(seed)
    return "".join(chooser.choice(alphabet) for _ in range(length))


#: How each vendor's keys look; built from pieces, never written whole.
_SHAPES = {"anthropic": ("sk-" + "ant-api03-", 80), "google": ("AI" + "za" + "Sy", 33),
           "openai": ("sk-" + "proj-", 48)}


def keys_for(vendor: str) -> dict[str, tuple[str, str]]:
    """``kind -> (what the variable holds, the key in use)``."""
    prefix, length = _SHAPES.get(vendor, ("sk-", 48))
    shaped = prefix + _random(length, f"{vendor}-shaped")
    plain = _random(40, f"{vendor}-plain", ALNUM + "-_")
    newline = _random(40, f"{vendor}-newline")
    return {"trailing-newline": (newline + "\n", newline), "no-vendor-shape": (plain, plain),
            "vendor-shaped": (shaped, shaped)}


KEY_KINDS = ("trailing-newline", "no-vendor-shape", "vendor-shaped")


def runs(key: str) -> set[str]:
    return {key[i:i + 8] for i in range(len(key) - 7)}


def leaks(key: str, text: str) -> list[str]:
    """The runs of 8 characters of ``key`` that ``text`` shows."""
    return sorted(run for run in runs(key) if run in text)


def echo(key: str) -> str:
    """What a hostile server says about the key it got."""
    return (f"Incorrect API key provided: {key}. It starts {key[:20]}; masked "
            f"{key[:12]}{'*' * 24}{key[-4:]}")


def _installed() -> dict[str, tuple[str, str]]:
    """Every installed vendor with a key variable and an emulation: vendor -> (its key
    variable, a model of its catalog or ``""``)."""
    host = PluginHost()
    host.load()
    emulated = set(FakeServer.from_plugins(host).provider_names)
    found = {}
    catalog = host.catalog()
    for name, spec in host.providers().items():
        if spec.api_key_env is None or name not in emulated:
            continue
        model = next((info.name for info in catalog.values() if info.provider == name), "")
        found[name] = (spec.api_key_env, model)
    return found


VENDORS = _installed()

#: The vendors the default run takes, one per codec (and Azure's key header, and one preset);
#: the matrix's other vendors are OpenAI-compatible presets and regional endpoints of these,
#: marked ``extended``: ``nox -t extended`` (CI) runs the whole matrix.
SAMPLED = {"openai", "azure_openai", "anthropic", "google", "moonshot", "acme", "groq"}


def vendor_params() -> list[Any]:
    return [pytest.param(name, marks=() if name in SAMPLED else pytest.mark.extended)
            for name in sorted(VENDORS)]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    host = PluginHost()
    host.load()
    with FakeServer.from_plugins(host) as running:
        yield running


class Recorder:
    """Every execution event, as a plugin sees it."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def agentflow_record_event(self, event: Any) -> None:
        self.events.append(event)


class Watched:
    """A runtime with every installed plugin, and everything it shows, collected."""

    def __init__(self, base_url: str, vendor: str, model_id: str | None) -> None:
        from prometheus_client import CollectorRegistry

        from agentflow_prometheus import PrometheusExporter

        self.recorder = Recorder()
        self.registry = CollectorRegistry()
        self.metrics = MetricsCollector()
        host = PluginHost()
        host.load()
        host.register(self.recorder, name="leak-recorder")
        host.register(PrometheusExporter(self.registry, config_key="leak-prometheus"),
                      name="leak-prometheus")
        self.spans = _otel(host)
        models = {"under-test": ModelConfig(vendor=vendor, model_id=model_id or "leak-model")}
        self.runtime = Runtime(host=host, config=Config(
            providers={vendor: ProviderConfig(base_url=base_url, read_timeout_seconds=0.5)},
            models=models, defaults=Defaults(max_retries=0)))

    def shown(self) -> str:
        from prometheus_client import generate_latest

        parts = [repr(event) for event in self.recorder.events]
        parts.append(repr(self.metrics.get_metrics_by_prefix("")))
        parts.append(generate_latest(self.registry).decode())
        if self.spans is not None:
            for span in self.spans.get_finished_spans():
                parts.append(span.to_json())
        return "\n".join(parts)


def _otel(host: PluginHost) -> Any:
    """An OTel exporter on in-memory providers, when the SDK is installed (else None)."""
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        return None
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentflow_otel import OTelExporter

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    host.register(OTelExporter(tracer_provider=provider, capture_text=True), name="leak-otel")
    return spans


def chain_text(error: BaseException) -> str:
    parts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        parts += (str(current), repr(current))
        parts += [str(value) for value in vars(current).values() if isinstance(value, str)]
        pending += [linked for linked in (current.__cause__, current.__context__) if linked]
    return "\n".join(parts)


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: path -> (what the server does, stream?, where the provider is)
PATHS: dict[str, tuple[Any, bool, str]] = {
    **{f"http-{status}": ("status", False, "server") for status in (400, 401, 403, 404, 429,
                                                                   500, 503)},
    "http-401-stream": ("status", True, "server"),
    "read-timeout": ("delay", False, "server"),
    "connection-refused": (None, False, "closed"),
    "tls-failure": (None, False, "tls"),
    "malformed-body": ("malformed", False, "server"),
    "malformed-stream": ("malformed", True, "server"),
    "stream-cut": ("cut", True, "server"),
    "in-stream-error": ("error_after", True, "server"),
    "cancelled": ("delay", False, "server"),
}


def reply(path: str, key: str) -> Reply:
    hostile = {"x-request-id": key, "request-id": key[:20]}
    how = PATHS[path][0]
    if how == "status":
        status = int(path.split("-")[1])
        return Reply(status=status, error_message=echo(key), error_type=f"bad_key_{key}",
                     headers=hostile, retry_after=0.0 if status == 429 else None)
    if how == "delay":
        return Reply(delay=30.0, headers=hostile)
    if how == "malformed":
        return Reply(malformed=True, headers=hostile)
    if how == "cut":
        return Reply(text=f"partial {key[:20]} text", cut_after=1, headers=hostile)
    return Reply(text=f"some text {key[:16]}", error_after=1, error_message=echo(key),
                 error_type=key, headers=hostile)


def base_url(server: FakeServer, vendor: str, where: str) -> str:
    url = server.base_url(vendor)
    if where == "closed":
        return f"http://127.0.0.1:{closed_port()}/v1"
    if where == "tls":  # https to a server that speaks plain http: the handshake fails
        return url.replace("http://", "https://", 1)
    return url


async def call(watched: Watched, stream: bool) -> None:
    builder = LLMClientBuilder("under-test", runtime=watched.runtime).prompt("hi") \
        .with_metrics(watched.metrics)
    if stream:
        response = await builder.execute_streaming()
        async with response:
            async for _ in response:
                pass
    else:
        await builder.execute()


# A stream that fails before its body ends is closed early; httpx's and httpcore's inner async
# generators are then left to the garbage collector, which trio reports with a ResourceWarning
# (the connection is released either way: see core/tests/test_client.py).
@pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")
@pytest.mark.anyio
@pytest.mark.parametrize("kind", KEY_KINDS)
@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("vendor", vendor_params())
async def test_no_key_on_any_error_path(server, monkeypatch, caplog, vendor, path, kind):
    variable, model = VENDORS[vendor]
    exported, key = keys_for(vendor)[kind]
    monkeypatch.setenv(variable, exported)
    caplog.set_level(logging.DEBUG)  # every logger, from the root
    server.clear()
    if PATHS[path][2] == "server":
        server.script(vendor, reply(path, key))
    watched = Watched(base_url(server, vendor, PATHS[path][2]), vendor, model)
    error: BaseException | None = None
    try:
        if path == "cancelled":
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as group:
                    group.start_soon(call, watched, False)
                    await server.wait_for_requests(1, provider=vendor)
                    scope.cancel()
            assert scope.cancelled_caught
        else:
            with pytest.raises(LLMError) as caught:
                await call(watched, PATHS[path][1])
            error = caught.value
    finally:
        await watched.runtime.aclose()
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    shown = {
        "error": chain_text(error) if error is not None else "",
        "logs": "\n".join(formatter.format(record) for record in caplog.records),
        "observability": watched.shown(),
    }
    assert {where: leaks(key, text) for where, text in shown.items()} == {
        "error": [], "logs": [], "observability": []}
    if error is not None:  # the error did reach the events, the metrics and the spans
        assert type(error).__name__ in shown["observability"]
        if watched.spans is not None:
            assert watched.spans.get_finished_spans()


@pytest.mark.parametrize("kind", KEY_KINDS)
@pytest.mark.parametrize("vendor", vendor_params())
def test_no_key_in_the_command_line_output_with_debug(server, tmp_path: Path, monkeypatch,
                                                      capsys, vendor, kind):
    """``agentflow run --debug``, in this process (as the console script runs it), on a
    fresh runtime: the one-line error and the whole traceback."""
    from agentflow import AgentFlow
    from agentflow.cli.main import main

    variable, model = VENDORS[vendor]
    exported, key = keys_for(vendor)[kind]
    monkeypatch.setenv(variable, exported)
    config = tmp_path / "agentflow.yml"
    config.write_text(f"providers:\n  {vendor}:\n    base_url: {server.base_url(vendor)}\n"
                      f"models:\n  under-test:\n    vendor: {vendor}\n"
                      f"    model_id: {model or 'leak-model'}\n"
                      "defaults:\n  max_retries: 0\n")
    server.clear()
    outputs = []
    for scripted in (Reply(status=401, error_message=echo(key), error_type=key,
                           headers={"x-request-id": key}),
                     Reply(malformed=True, headers={"x-request-id": key})):
        server.script(vendor, scripted)
        previous = AgentFlow.use_runtime(Runtime())
        try:
            code = main(["run", "-m", "under-test", "-c", str(config), "--debug", "hi"])
        finally:
            AgentFlow.use_runtime(previous)
        shown = capsys.readouterr()
        assert code == 1, shown.err
        assert "Traceback" in shown.err
        outputs.append(shown.out + shown.err)
    # agentflow doctor: the health check's request is refused with the same echo
    server.script(vendor, Reply(status=401, error_message=echo(key), error_type=key,
                                headers={"x-request-id": key}))
    previous = AgentFlow.use_runtime(Runtime())
    try:
        code = main(["doctor", "-c", str(config), "--debug"])
    finally:
        AgentFlow.use_runtime(previous)
    shown = capsys.readouterr()
    assert code == 1, shown.out
    assert "key_rejected" in shown.out
    outputs.append(shown.out + shown.err)
    assert leaks(key, "\n".join(outputs)) == []


def test_the_matrix_covers_every_first_party_vendor():
    """A vendor plugin that failed to load would drop out of the matrix unnoticed."""
    assert {"openai", "anthropic", "google", "moonshot"} <= set(VENDORS)
    assert set(VENDORS) >= SAMPLED, "the default run's sample names a vendor not installed"
