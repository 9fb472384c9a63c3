"""Real calls over loopback HTTP, then /metrics scraped over HTTP and parsed."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import agentflow_openai
from agentflow import HttpError, LLMClientBuilder
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.plugins import PluginHost
from agentflow.runtime import Runtime
from agentflow.testing import FakeServer, Reply
from agentflow_prometheus import PrometheusExporter

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server():
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai)
    with FakeServer.from_plugins(host) as running:
        yield running


@pytest.fixture
async def setup(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-prometheus-0123456789")
    server.clear()
    exporter = PrometheusExporter(CollectorRegistry())
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai)
    host.register(exporter, name="prometheus-under-test")
    config = Config(providers={"openai": ProviderConfig(base_url=server.base_url("openai"))},
                    defaults=Defaults(max_retries=1, retry_delay_ms=1),
                    plugins={"prometheus": {"http_port": 0}})
    runtime = Runtime(host=host, config=config)
    runtime.registry  # noqa: B018 - the first use hands the configuration to the exporter
    yield runtime, exporter
    exporter.close()
    await runtime.aclose()


def scrape(exporter) -> dict[tuple[str, frozenset], float]:
    port = exporter.serve(0)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def labels(**extra):
    return frozenset({"provider": "openai", "vendor": "openai", "model": "gpt-4o", **extra}
                     .items())


async def test_scraped_figures_match_what_the_server_reported(setup, server):
    runtime, exporter = setup
    server.script("openai", Reply(usage=(11, 7)), Reply(usage=(5, 3)),
                  Reply(status=500), Reply(status=500), Reply(status=400))
    await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("a").execute()
    stream = await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("b c d").execute_streaming()
    await stream.collect_all()
    for _ in range(2):
        with pytest.raises(HttpError):
            await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("x").execute()
    metrics = scrape(exporter)
    assert metrics[("agentflow_requests_total", labels(outcome="success"))] == 2
    assert metrics[("agentflow_requests_total", labels(outcome="error"))] == 2
    assert metrics[("agentflow_errors_total", labels(error_type="HttpError"))] == 2
    assert metrics[("agentflow_retries_total", labels())] == 1
    assert metrics[("agentflow_tokens_total", labels(type="prompt"))] == 16
    assert metrics[("agentflow_tokens_total", labels(type="completion"))] == 10
    assert metrics[("agentflow_requests_in_flight", labels())] == 0
    assert metrics[("agentflow_time_to_first_token_seconds_count", labels())] == 1
    assert metrics[("agentflow_cost_usd_total", labels())] == pytest.approx(
        (16 * 2.50 + 10 * 10.00) / 1e6)


async def test_the_endpoint_follows_the_configuration(setup):
    runtime, exporter = setup
    port = exporter.serve(0)
    assert exporter.serve(0) == port  # the same address: the same server
    runtime.set_config(Config(plugins={"prometheus": {"enabled": False}}))
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics")
