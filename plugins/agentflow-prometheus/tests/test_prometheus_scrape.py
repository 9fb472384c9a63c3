"""Real calls over loopback HTTP to the fake provider server, then /metrics scraped over HTTP
and parsed with prometheus_client's own parser."""

from __future__ import annotations

import attrs
import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import agentflow_openai
from agentflow import AgentFlow, HttpError, LLMClientBuilder, RateLimitError
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.testing import Reply
from agentflow_prometheus import EXPORTER, PrometheusExporter

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def setup(fake_llm_server, monkeypatch):
    """A runtime with the OpenAI plugin pointed at the fake server and an exporter of its own."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-prometheus-0123456789")
    exporter = PrometheusExporter(CollectorRegistry(), config_key="prometheus")
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN)
    host.register(exporter, name="prometheus")
    config = Config(
        providers={"openai": ProviderConfig(base_url=fake_llm_server.base_url("openai"))},
        defaults=Defaults(max_retries=1, retry_delay_ms=1),
        plugins={"prometheus": {"http_port": 0}})
    runtime = Runtime(host=host, config=config)
    runtime.registry  # noqa: B018 - the first use hands the configuration to the exporter
    try:
        yield runtime, exporter
    finally:
        exporter.close()
        await runtime.aclose()


async def scrape(port: int | None) -> Samples:
    assert port is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def labels(**extra: str) -> frozenset[tuple[str, str]]:
    return frozenset({"provider": "openai", "vendor": "openai", "model": "gpt-4o", **extra}
                     .items())


async def test_scraped_figures_match_what_the_server_reported(setup, fake_llm_server):
    runtime, exporter = setup
    fake_llm_server.script(
        "openai", Reply(usage=(11, 7)), Reply(text="one two three", usage=(5, 3), chunks=3),
        Reply(status=500), Reply(status=500),  # retried once, then HttpError
        Reply(status=429, retry_after=0), Reply(status=429, retry_after=0),  # the same, 429
        Reply(status=400))  # not retried
    answer = await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("a").execute_response()
    stream = await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("b").execute_streaming()
    chunks = [chunk async for chunk in stream]
    for error in (HttpError, RateLimitError, HttpError):
        with pytest.raises(error):
            await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("x").execute()
    reported = [answer.usage, chunks[-1].usage]

    metrics = await scrape(exporter.port)

    assert metrics[("agentflow_requests_total", labels(outcome="success"))] == 2
    assert metrics[("agentflow_requests_total", labels(outcome="error"))] == 3
    assert metrics[("agentflow_requests_in_flight", labels())] == 0
    assert metrics[("agentflow_errors_total", labels(error_type="HttpError"))] == 2
    assert metrics[("agentflow_errors_total", labels(error_type="RateLimitError"))] == 1
    assert metrics[("agentflow_retries_total", labels())] == 2
    assert metrics[("agentflow_ratelimit_hits_total", labels())] == 2
    assert metrics[("agentflow_tokens_total", labels(type="prompt"))] == sum(
        usage.prompt_tokens for usage in reported) == 16
    assert metrics[("agentflow_tokens_total", labels(type="completion"))] == sum(
        usage.completion_tokens for usage in reported) == 10
    assert metrics[("agentflow_stream_chunks_total", labels())] == len(chunks)
    assert metrics[("agentflow_time_to_first_token_seconds_count", labels())] == 1
    assert metrics[("agentflow_output_tokens_per_second_count", labels())] == 1
    assert metrics[("agentflow_request_duration_seconds_count", labels(outcome="success"))] == 2
    assert metrics[("agentflow_request_duration_seconds_count", labels(outcome="error"))] == 3
    assert metrics[("agentflow_request_duration_seconds_bucket",
                    labels(outcome="error", le="+Inf"))] == 3
    assert metrics[("agentflow_cost_usd_total", labels())] == pytest.approx(
        (16 * 2.50 + 10 * 10.00) / 1e6)  # gpt-4o's catalog price per million tokens
    assert ("agentflow_unpriced_requests_total", labels()) not in metrics
    assert len(fake_llm_server.requests) == 7


async def test_a_reload_keeps_the_endpoint_and_the_figures(setup, fake_llm_server):
    runtime, exporter = setup
    port = exporter.port
    fake_llm_server.script("openai", Reply(usage=(1, 1)))
    await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("a").execute()
    runtime.set_config(attrs.evolve(runtime.config, defaults=Defaults(max_retries=0)))
    assert exporter.port == port
    metrics = await scrape(port)
    assert metrics[("agentflow_requests_total", labels(outcome="success"))] == 1
    runtime.set_config(attrs.evolve(runtime.config, plugins={}))  # no port: the server stops
    assert exporter.port is None
    with pytest.raises(httpx.ConnectError):
        await scrape(port)


async def test_installing_the_plugin_is_enough(fake_agentflow):
    """The entry point's exporter, on the default registry, through the AgentFlow facade."""
    runtime, config = fake_agentflow.runtime, fake_agentflow.config
    runtime.set_config(attrs.evolve(config, plugins={"prometheus": {"http_port": 0}}))
    try:
        success = ("agentflow_requests_total", labels(outcome="success"))
        prompt = ("agentflow_tokens_total", labels(type="prompt"))
        before = await scrape(EXPORTER.port)
        fake_agentflow.server.script("openai", Reply(usage=(4, 2)))
        await AgentFlow.model("gpt-4o").prompt("hi").execute()
        after = await scrape(EXPORTER.port)
        assert after[success] - before.get(success, 0) == 1
        assert after[prompt] - before.get(prompt, 0) == 4
    finally:
        runtime.set_config(config)
    assert EXPORTER.port is None
