"""Real calls over loopback HTTP to the fake provider server (emulating OpenAI through the
agentflow-openai plugin), read back as spans and metrics, under asyncio and trio."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import agentflow_openai
from agentflow import HttpError, LLMClientBuilder, MetricsCollector
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ModelConfig, ObservabilityConfig, ProviderConfig
from agentflow.testing import FakeServer, Reply
from agentflow_otel import OTelExporter

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server():
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN)
    with FakeServer.from_plugins(host) as running:
        yield running


class Traced:
    """A runtime with the OpenAI plugin and an OTel exporter on in-memory SDK providers."""

    def __init__(self, server, *, exporter=None, **config):
        self.spans, self.reader = InMemorySpanExporter(), InMemoryMetricReader()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.exporter = exporter or OTelExporter(
            tracer_provider=self.tracer_provider,
            meter_provider=MeterProvider(metric_readers=[self.reader]), capture_text=True)
        host = PluginHost(entry_points=False)
        host.register(agentflow_openai.PLUGIN)
        host.register(self.exporter)
        config.setdefault("defaults", Defaults(max_retries=0))
        self.runtime = Runtime(host=host, config=Config(
            providers={"openai": ProviderConfig(base_url=server.base_url("openai"))}, **config))

    def model(self, name):
        return LLMClientBuilder(name, runtime=self.runtime)

    def finished(self):
        return self.spans.get_finished_spans()

    def points(self, name):
        data = self.reader.get_metrics_data()
        return [point for resource in data.resource_metrics for scope in resource.scope_metrics
                for metric in scope.metrics if metric.name == name
                for point in metric.data.data_points]


@pytest.fixture
async def make(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-otel-0123456789abcdef")
    server.clear()
    made = []

    def make(**config):
        made.append(Traced(server, **config))
        return made[-1]

    yield make
    for traced in made:
        await traced.runtime.aclose()


async def test_plain_streamed_and_failed_calls_become_spans(make, server):
    traced = make()
    server.script("openai", Reply(text="one", usage=(4, 1)), Reply(text="a b c", usage=(2, 3)),
                  Reply(status=500))
    assert await traced.model("gpt-4o").prompt("x").execute() == "one"
    stream = await traced.model("gpt-4o-mini").prompt("y").execute_streaming()
    assert await stream.collect_all() == "a b c"
    with pytest.raises(HttpError):
        await traced.model("gpt-4o").prompt("z").execute()
    plain, streamed, failed = traced.finished()
    assert [span.name for span in (plain, streamed, failed)] == [
        "chat gpt-4o", "chat gpt-4o-mini", "chat gpt-4o"]
    assert all(span.kind is SpanKind.CLIENT for span in (plain, streamed, failed))
    assert all(span.end_time > span.start_time for span in (plain, streamed, failed))
    assert plain.attributes["gen_ai.provider.name"] == "openai"
    assert plain.attributes["gen_ai.response.model"] == "gpt-4o"
    assert plain.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert (plain.attributes["gen_ai.usage.input_tokens"],
            plain.attributes["gen_ai.usage.output_tokens"]) == (4, 1)
    assert plain.attributes["agentflow.request_id"].startswith("req_")
    assert "gen_ai.request.stream" not in plain.attributes
    assert streamed.attributes["gen_ai.request.stream"] is True
    assert streamed.attributes["gen_ai.usage.output_tokens"] == 3
    assert streamed.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert [event.name for event in streamed.events] == ["llm.stream.first_token"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "HttpError"
    assert failed.attributes["http.response.status_code"] == 500
    durations = {(p.attributes["gen_ai.request.model"], p.attributes.get("error.type")): p.count
                 for p in traced.points("gen_ai.client.operation.duration")}
    assert durations == {("gpt-4o", None): 1, ("gpt-4o-mini", None): 1,
                         ("gpt-4o", "HttpError"): 1}
    tokens = {(p.attributes["gen_ai.request.model"], p.attributes["gen_ai.token.type"]): p.sum
              for p in traced.points("gen_ai.client.token.usage")}
    assert tokens == {("gpt-4o", "input"): 4, ("gpt-4o", "output"): 1,
                      ("gpt-4o-mini", "input"): 2, ("gpt-4o-mini", "output"): 3}
    (first,) = traced.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.attributes["gen_ai.request.model"] == "gpt-4o-mini"


async def test_a_users_span_around_a_call_is_its_parent(make, server):
    traced = make()
    server.script("openai", Reply(text="hi"), Reply(text="there"))
    tracer = traced.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        await traced.model("gpt-4o").prompt("x").execute()
        stream = await traced.model("gpt-4o").prompt("y").execute_streaming()
        await stream.collect_all()
    plain, streamed, outer = traced.finished()
    assert outer.name == "handle request"
    for span in (plain, streamed):
        assert span.parent.span_id == parent.get_span_context().span_id
        assert span.context.trace_id == parent.get_span_context().trace_id


async def test_a_retried_call_is_one_span_with_a_retry_event(make, server):
    traced = make(defaults=Defaults(max_retries=1, retry_delay_ms=1))
    server.script("openai", Reply(status=503), Reply(text="ok", usage=(3, 1)))
    assert await traced.model("gpt-4o").prompt("x").execute() == "ok"
    (span,) = traced.finished()
    assert span.attributes["agentflow.attempts"] == 2
    (retry,) = span.events
    assert (retry.name, retry.attributes["status"], retry.attributes["attempt"]) == (
        "llm.retry", 503, 1)
    assert span.start_time < retry.timestamp < span.end_time


async def test_a_fallback_links_the_next_models_span_to_the_failed_one(make, server):
    traced = make(models={"gpt-4o": ModelConfig(fallbacks=("gpt-4o-mini",))})
    server.script("openai", Reply(status=503), Reply(text="saved"))
    tracer = traced.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request"):
        assert await traced.model("gpt-4o").prompt("x").execute() == "saved"
    failed, backup, outer = traced.finished()
    assert (failed.name, backup.name) == ("chat gpt-4o", "chat gpt-4o-mini")
    assert failed.status.status_code is StatusCode.ERROR
    assert backup.attributes["agentflow.fallback.from_model"] == "gpt-4o"
    assert [link.context.span_id for link in backup.links] == [failed.context.span_id]
    assert [event.name for event in outer.events] == ["llm.fallback"]


async def test_prompts_and_answers_reach_spans_when_text_is_on(make, server):
    traced = make(observability=ObservabilityConfig(include_text=True))
    server.script("openai", Reply(text="bonjour"))
    await traced.model("gpt-4o").system("Be brief").prompt("hello").execute()
    (span,) = traced.finished()
    assert json.loads(span.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hello"}]}]
    assert json.loads(span.attributes["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": "bonjour"}]
    assert "sk-test-otel" not in repr(dict(span.attributes))


class BrokenTracerProvider(TracerProvider):
    def get_tracer(self, *args, **kwargs):
        raise RuntimeError("the tracing backend is down")


async def test_a_failing_exporter_never_breaks_a_call(make, server):
    broken = OTelExporter(tracer_provider=BrokenTracerProvider())
    traced = make(exporter=broken)
    server.script("openai", Reply(text="still here"), Reply(text="and here"))
    metrics = MetricsCollector()
    assert await traced.model("gpt-4o").prompt("x").with_metrics(metrics).execute() \
        == "still here"
    stream = await traced.model("gpt-4o").prompt("y").with_metrics(metrics).execute_streaming()
    assert await stream.collect_all() == "and here"
    figures = metrics.snapshot()
    assert figures["llm.requests.success"] == 2
    assert [name for name in figures if name.startswith("llm.exporter.errors.")]  # it did fail


def test_the_sync_api_keeps_the_callers_span_as_parent(server, monkeypatch):
    from agentflow._api.sync import run_sync

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-otel-0123456789abcdef")
    server.clear()
    server.script("openai", Reply(text="hi"))
    traced = Traced(server)
    try:
        tracer = traced.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("handle request") as parent:
            assert traced.model("gpt-4o").prompt("x").execute_sync() == "hi"
    finally:
        run_sync(traced.runtime.aclose)
    call, _ = traced.finished()
    assert call.parent.span_id == parent.get_span_context().span_id
