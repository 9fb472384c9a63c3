"""Real calls over loopback HTTP to the fake server, read back as spans and metrics."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import agentflow_openai
from agentflow import HttpError, LLMClientBuilder
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.plugins import PluginHost
from agentflow.runtime import Runtime
from agentflow.testing import FakeServer, Reply
from agentflow_otel import OTelExporter

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server():
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai)
    with FakeServer.from_plugins(host) as running:
        yield running


@pytest.fixture
async def traced(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-otel-0123456789abcdef")
    server.clear()
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai)
    host.register(OTelExporter(tracer_provider=tracer_provider,
                               meter_provider=MeterProvider(metric_readers=[reader])))
    runtime = Runtime(host=host, config=Config(
        providers={"openai": ProviderConfig(base_url=server.base_url("openai"))},
        defaults=Defaults(max_retries=0)))
    yield runtime, spans, reader
    await runtime.aclose()


async def test_plain_streamed_and_failed_calls_become_spans(traced, server):
    runtime, spans, reader = traced
    server.script("openai", Reply(text="one", usage=(4, 1)), Reply(text="a b c", usage=(2, 3)),
                  Reply(status=500))
    await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("x").execute()
    stream = await LLMClientBuilder("gpt-4o-mini", runtime=runtime).prompt("y") \
        .execute_streaming()
    await stream.collect_all()
    with pytest.raises(HttpError):
        await LLMClientBuilder("gpt-4o", runtime=runtime).prompt("z").execute()
    finished = spans.get_finished_spans()
    assert [span.name for span in finished] == ["chat gpt-4o", "chat gpt-4o-mini",
                                                "chat gpt-4o"]
    plain, streamed, failed = finished
    assert plain.attributes["gen_ai.usage.output_tokens"] == 1
    assert plain.attributes["gen_ai.provider.name"] == "openai"
    assert plain.attributes["agentflow.request_id"].startswith("req_")
    assert streamed.attributes["agentflow.stream"] is True
    assert streamed.attributes["gen_ai.usage.input_tokens"] == 2
    assert streamed.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert [event.name for event in streamed.events] == ["llm.stream.first_token"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "HttpError"
    assert failed.attributes["http.response.status_code"] == 500
    assert all(span.end_time > span.start_time for span in finished)
    names = {metric.name for resource in reader.get_metrics_data().resource_metrics
             for scope in resource.scope_metrics for metric in scope.metrics}
    assert names == {"gen_ai.client.operation.duration", "gen_ai.client.token.usage",
                     "gen_ai.client.operation.time_to_first_chunk"}
