"""Spans and metrics from event sequences, read back from the SDK's in-memory exporters."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import agentflow_otel._exporter as exporter_module
from agentflow import ConfigurationError
from agentflow.config import Config
from agentflow.observability import ExecutionEvent
from agentflow_otel import OTelExporter

CALL = {"call_id": "call-1", "provider": "gemini-prod", "vendor": "google",
        "model": "fast", "model_id": "gemini-2.5-flash", "stream": False}


class Otel:
    def __init__(self):
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.tracer_provider = tracer_provider
        self.exporter = OTelExporter(tracer_provider=tracer_provider,
                                     meter_provider=MeterProvider(metric_readers=[self.reader]))

    def send(self, kind, timestamp, duration=None, **metadata):
        self.exporter.agentflow_record_event(ExecutionEvent(
            event_type=kind, node_id="llm.fast", timestamp=timestamp, duration_ms=duration,
            metadata={**CALL, **metadata}))

    def points(self, name):
        data = self.reader.get_metrics_data()
        return [point for resource in data.resource_metrics for scope in resource.scope_metrics
                for metric in scope.metrics if metric.name == name
                for point in metric.data.data_points]


@pytest.fixture
def otel():
    return Otel()


def test_a_call_is_one_client_span_with_the_genai_attributes(otel):
    otel.send("llm.request.start", 1000.0)
    otel.send("llm.retry", 1000.5, attempt=1, status=503, reason="503", delay_ms=200)
    otel.send("llm.request.complete", 1002.0, duration=2000, status=200, finish_reason="stop",
              response_model="gemini-2.5-flash-001", request_id="resp-9", prompt_tokens=12,
              completion_tokens=30, attempts=2, cost_usd=0.0001)
    (span,) = otel.spans.get_finished_spans()
    assert span.name == "chat gemini-2.5-flash"
    assert span.kind is SpanKind.CLIENT
    assert (span.start_time, span.end_time) == (1000 * 10**9, 1002 * 10**9)
    attributes = dict(span.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert attributes["gen_ai.request.model"] == "gemini-2.5-flash"
    assert attributes["gen_ai.response.model"] == "gemini-2.5-flash-001"
    assert attributes["agentflow.request_id"] == "resp-9"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) \
        == (12, 30)
    assert attributes["agentflow.attempts"] == 2
    assert "gen_ai.input.messages" not in attributes
    assert span.status.status_code is StatusCode.UNSET
    assert [(e.name, dict(e.attributes)["status"]) for e in span.events] == [("llm.retry", 503)]


def test_a_failure_sets_the_error_status_and_type(otel):
    otel.send("llm.request.start", 10.0)
    otel.send("llm.request.error", 11.0, duration=1000, status=429,
              error_type="RateLimitError")
    (span,) = otel.spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RateLimitError"
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "RateLimitError"
    assert otel.points("gen_ai.client.token.usage") == []  # unknown counts are not zero


def test_metrics_duration_tokens_and_first_chunk(otel):
    otel.send("llm.request.start", 0.0, stream=True)
    otel.send("llm.stream.first_token", 0.2, duration=200)
    otel.send("llm.stream.complete", 1.5, duration=1500, prompt_tokens=7,
              completion_tokens=40, finish_reason="stop")
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.sum == 1.5
    assert list(duration.explicit_bounds) == list(exporter_module.DURATION_BUCKETS)
    tokens = {point.attributes["gen_ai.token.type"]: point.sum
              for point in otel.points("gen_ai.client.token.usage")}
    assert tokens == {"input": 7, "output": 40}
    (first,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.sum == 0.2
    assert first.attributes["gen_ai.request.model"] == "gemini-2.5-flash"


def test_the_span_is_a_child_of_the_callers_span(otel):
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        otel.send("llm.request.start", 5.0)
    otel.send("llm.request.complete", 6.0, duration=1000)
    spans = {span.name: span for span in otel.spans.get_finished_spans()}
    child = spans["chat gemini-2.5-flash"]
    assert child.parent.span_id == parent.get_span_context().span_id
    assert child.context.trace_id == parent.get_span_context().trace_id


def test_text_goes_into_spans_only_when_captured_and_present(otel):
    otel.exporter.agentflow_configure(Config(plugins={"otel": {"capture_text": True}}))
    otel.send("llm.request.start", 1.0, prompt=({"role": "user", "content": "hello"},))
    otel.send("llm.request.complete", 2.0, duration=1000, answer="hi there",
              finish_reason="stop")
    attributes = otel.spans.get_finished_spans()[0].attributes
    assert '"content": "hello"' in attributes["gen_ai.input.messages"]
    assert '"content": "hi there"' in attributes["gen_ai.output.messages"]


def test_open_spans_are_capped(otel, monkeypatch):
    monkeypatch.setattr(exporter_module, "MAX_OPEN_SPANS", 3)
    for index in range(5):
        otel.send("llm.request.start", float(index), call_id=f"call-{index}")
    abandoned = otel.spans.get_finished_spans()
    assert [span.attributes["agentflow.call_id"] for span in abandoned] == ["call-0", "call-1"]
    assert all(span.attributes["agentflow.abandoned"] for span in abandoned)
    assert otel.exporter.abandoned == 2
    otel.send("llm.request.complete", 9.0, duration=10, call_id="call-4")
    assert len(otel.spans.get_finished_spans()) == 3


def test_switches_and_bad_settings(otel):
    otel.exporter.agentflow_configure(Config(plugins={"otel": {"spans": False}}))
    otel.send("llm.request.start", 1.0)
    otel.send("llm.request.complete", 2.0, duration=1000)
    assert otel.spans.get_finished_spans() == ()
    assert len(otel.points("gen_ai.client.operation.duration")) == 1
    with pytest.raises(ConfigurationError, match=r"plugins.otel.metrics must be true or false"):
        otel.exporter.agentflow_configure(Config(plugins={"otel": {"metrics": "no"}}))
    with pytest.raises(ConfigurationError, match=r"plugins.otel.trace: unknown key"):
        otel.exporter.agentflow_configure(Config(plugins={"otel": {"trace": True}}))
