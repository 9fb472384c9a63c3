"""Spans and metrics from hand-made event sequences, read back from the SDK's in-memory
exporter and reader."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import agentflow_otel._exporter as exporter_module
from agentflow._observe.events import ExecutionEvent
from agentflow_otel import OTelExporter
from agentflow_otel._semconv import DURATION_BUCKETS, TOKEN_BUCKETS

CALL = {"call_id": "call-1", "provider": "gemini-prod", "vendor": "google",
        "model": "fast", "model_id": "gemini-2.5-flash", "stream": False}
S = 10**9  # nanoseconds in a second


class Otel:
    """An exporter on fresh SDK providers, and what they recorded."""

    def __init__(self, **settings):
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.exporter = OTelExporter(tracer_provider=self.tracer_provider,
                                     meter_provider=MeterProvider(metric_readers=[self.reader]),
                                     **settings)

    def send(self, kind, timestamp, duration=None, **metadata):
        self.exporter.agentflow_record_event(ExecutionEvent(
            event_type=kind, node_id="llm.fast", timestamp=timestamp, duration_ms=duration,
            metadata={**CALL, **metadata}))

    def finished(self):
        return {span.name: span for span in self.spans.get_finished_spans()}

    def metrics(self):
        data = self.reader.get_metrics_data()
        if data is None:
            return {}
        return {metric.name: (scope.scope, metric) for resource in data.resource_metrics
                for scope in resource.scope_metrics for metric in scope.metrics}

    def points(self, name):
        found = self.metrics().get(name)
        return list(found[1].data.data_points) if found else []


@pytest.fixture
def otel():
    return Otel()


def test_a_call_is_one_client_span_with_the_genai_attributes(otel):
    otel.send("llm.request.start", 1000.0)
    otel.send("llm.retry", 1000.5, attempt=1, status=503, reason="503", delay_ms=200,
              error_type="HttpError")
    otel.send("llm.ratelimit.wait", 1000.75, attempt=2, waited_ms=50)
    otel.send("llm.request.complete", 1002.25, duration=2250, status=200, finish_reason="stop",
              response_model="gemini-2.5-flash-001", request_id="resp-9", prompt_tokens=12,
              completion_tokens=30, total_tokens=42, cached_tokens=4, reasoning_tokens=None,
              attempts=2, cost_usd=0.0001)
    (span,) = otel.spans.get_finished_spans()
    assert span.name == "chat gemini-2.5-flash"
    assert span.kind is SpanKind.CLIENT
    assert (span.start_time, span.end_time) == (1000 * S, 1002_250_000_000)
    assert span.parent is None
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": "gemini-2.5-flash",
        "gen_ai.response.model": "gemini-2.5-flash-001",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 4,
        "http.response.status_code": 200,
        "agentflow.model": "fast",
        "agentflow.provider": "gemini-prod",
        "agentflow.call_id": "call-1",
        "agentflow.request_id": "resp-9",
        "agentflow.attempts": 2,
        "agentflow.cost_usd": 0.0001,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert [(e.name, e.timestamp, dict(e.attributes)) for e in span.events] == [
        ("llm.retry", 1000_500_000_000, {"attempt": 1, "reason": "503", "error_type": "HttpError",
                                         "status": 503, "delay_ms": 200}),
        ("llm.ratelimit.wait", 1000_750_000_000, {"attempt": 2, "waited_ms": 50})]


def test_a_stream_is_marked_and_timed(otel):
    otel.send("llm.request.start", 10.0, stream=True)
    otel.send("llm.stream.start", 10.1, duration=100, status=200)
    otel.send("llm.stream.first_token", 10.2, duration=200)
    otel.send("llm.stream.chunk", 10.2, index=1, chars=5, is_final=False)
    otel.send("llm.stream.complete", 11.5, duration=1500, finish_reason="length",
              prompt_tokens=7, completion_tokens=40, reasoning_tokens=8,
              time_to_first_token_ms=200.0, chunks=9, chunk_gap_mean_ms=162.5,
              chunk_gap_max_ms=400.0, stream=True)
    (span,) = otel.spans.get_finished_spans()
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.time_to_first_chunk"] == 0.2
    assert span.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 8
    assert (span.attributes["agentflow.stream.chunks"],
            span.attributes["agentflow.stream.chunk_gap_mean_ms"],
            span.attributes["agentflow.stream.chunk_gap_max_ms"]) == (9, 162.5, 400.0)
    assert [(e.name, e.timestamp) for e in span.events] == [("llm.stream.first_token",
                                                             10_200_000_000)]
    assert (span.start_time, span.end_time) == (10 * S, 11_500_000_000)


def test_a_failure_sets_the_error_status_and_type(otel):
    otel.send("llm.request.start", 10.0)
    otel.send("llm.request.error", 11.0, duration=1000, status=429,
              error_type="RateLimitError", attempts=3, retryable=True, request_id=None)
    (span,) = otel.spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RateLimitError"
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["http.response.status_code"] == 429
    assert "gen_ai.usage.input_tokens" not in span.attributes
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": "gemini-2.5-flash", "error.type": "RateLimitError"}
    assert otel.points("gen_ai.client.token.usage") == []  # unknown counts are not zero


def test_metrics_follow_the_conventions(otel):
    otel.send("llm.request.start", 0.0, stream=True)
    otel.send("llm.stream.first_token", 0.25, duration=250)
    otel.send("llm.stream.complete", 1.5, duration=1500, prompt_tokens=7,
              completion_tokens=40, finish_reason="stop", response_model="gemini-2.5-flash-1")
    metrics = otel.metrics()
    assert {name: (metric.unit, type(metric.data).__name__) for name, (_, metric)
            in metrics.items()} == {
        "gen_ai.client.operation.duration": ("s", "Histogram"),
        "gen_ai.client.token.usage": ("{token}", "Histogram"),
        "gen_ai.client.operation.time_to_first_chunk": ("s", "Histogram")}
    scope = metrics["gen_ai.client.operation.duration"][0]
    assert (scope.name, scope.schema_url) == ("agentflow", "https://opentelemetry.io/schemas/1.41.0")
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert (duration.count, duration.sum) == (1, 1.5)
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert duration.attributes["gen_ai.response.model"] == "gemini-2.5-flash-1"
    tokens = {point.attributes["gen_ai.token.type"]: point
              for point in otel.points("gen_ai.client.token.usage")}
    assert {kind: point.sum for kind, point in tokens.items()} == {"input": 7, "output": 40}
    assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
    (first,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert (first.sum, tuple(first.explicit_bounds)) == (0.25, DURATION_BUCKETS)
    assert dict(first.attributes) == {"gen_ai.operation.name": "chat",
                                      "gen_ai.provider.name": "gcp.gemini",
                                      "gen_ai.request.model": "gemini-2.5-flash"}


def test_the_span_is_a_child_of_the_callers_span(otel):
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        otel.send("llm.request.start", 5.0)
    otel.send("llm.request.complete", 6.0, duration=1000)  # ends outside: no context needed
    child = otel.finished()["chat gemini-2.5-flash"]
    assert child.parent.span_id == parent.get_span_context().span_id
    assert child.context.trace_id == parent.get_span_context().trace_id


def test_concurrent_calls_keep_their_own_spans(otel):
    otel.send("llm.request.start", 1.0, call_id="call-1")
    otel.send("llm.request.start", 2.0, call_id="call-2", model_id="gemini-2.5-pro")
    otel.send("llm.retry", 2.5, call_id="call-1", attempt=1)
    otel.send("llm.request.complete", 3.0, duration=1000, call_id="call-2")
    otel.send("llm.request.error", 4.0, duration=3000, call_id="call-1", error_type="HttpError")
    spans = otel.finished()
    assert [e.name for e in spans["chat gemini-2.5-flash"].events] == ["llm.retry"]
    assert spans["chat gemini-2.5-pro"].events == ()
    assert spans["chat gemini-2.5-pro"].status.status_code is StatusCode.UNSET
    assert spans["chat gemini-2.5-flash"].end_time == 4 * S


def test_request_parameters_are_recorded_when_events_carry_them(otel):
    otel.send("llm.request.start", 1.0, temperature=0.2, max_tokens=100, top_p=None)
    otel.send("llm.request.complete", 2.0, duration=1000)
    attributes = otel.spans.get_finished_spans()[0].attributes
    assert (attributes["gen_ai.request.temperature"], attributes["gen_ai.request.max_tokens"]) \
        == (0.2, 100)
    assert "gen_ai.request.top_p" not in attributes


def test_text_goes_into_spans_only_when_captured_and_present():
    prompt = ({"role": "system", "content": "Be brief"}, {"role": "user", "content": "héllo"})
    for capture, expected in ((False, set()), (True, {"gen_ai.input.messages",
                                                      "gen_ai.output.messages"})):
        otel = Otel(capture_text=capture)
        otel.send("llm.request.start", 1.0, prompt=prompt)
        otel.send("llm.request.complete", 2.0, duration=1000, answer="hi there",
                  finish_reason="stop")
        attributes = otel.spans.get_finished_spans()[0].attributes
        assert {key for key in attributes if key.endswith(".messages")} == expected
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "héllo"}]}]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hi there"}],
         "finish_reason": "stop"}]
    otel = Otel(capture_text=True)  # text turned off in the core: nothing to capture
    otel.send("llm.request.start", 1.0)
    otel.send("llm.request.complete", 2.0, duration=1000, finish_reason="stop")
    assert not any(key.endswith(".messages") for key in otel.spans.get_finished_spans()[0]
                   .attributes)


def test_a_fallback_is_an_event_of_the_callers_span_and_links_the_next_call(otel):
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request"):
        otel.send("llm.request.start", 1.0, call_id="call-1")
        otel.send("llm.request.error", 2.0, duration=1000, call_id="call-1", status=503,
                  error_type="HttpError")
        otel.send("llm.fallback", 2.0, call_id=None, model="fast", from_model="fast",
                  to_model="backup", error_type="HttpError", status=503)
        otel.send("llm.request.start", 2.1, call_id="call-2", model="backup",
                  model_id="gpt-4o")
        otel.send("llm.request.complete", 3.0, duration=900, call_id="call-2", model="backup",
                  model_id="gpt-4o")
    spans = otel.finished()
    failed, backup = spans["chat gemini-2.5-flash"], spans["chat gpt-4o"]
    (hop,) = spans["handle request"].events
    assert (hop.name, hop.timestamp, dict(hop.attributes)) == ("llm.fallback", 2 * S, {
        "agentflow.fallback.from_model": "fast", "agentflow.fallback.to_model": "backup",
        "agentflow.fallback.error_type": "HttpError", "agentflow.fallback.status": 503})
    assert backup.attributes["agentflow.fallback.from_model"] == "fast"
    assert backup.attributes["agentflow.fallback.error_type"] == "HttpError"
    assert [link.context.span_id for link in backup.links] == [failed.context.span_id]
    assert "agentflow.fallback.from_model" not in failed.attributes


def test_a_fallback_without_a_callers_span_still_links_the_calls(otel):
    otel.send("llm.request.start", 1.0, call_id="call-1")
    otel.send("llm.request.error", 2.0, duration=1000, call_id="call-1", error_type="HttpError")
    otel.send("llm.fallback", 2.0, call_id=None, from_model="fast", to_model="backup",
              error_type="HttpError")
    otel.send("llm.request.start", 2.1, call_id="call-2", model="backup")
    otel.send("llm.request.complete", 3.0, duration=900, call_id="call-2", model="backup")
    otel.send("llm.request.start", 4.0, call_id="call-3", model="backup")  # a later call
    otel.send("llm.request.complete", 5.0, duration=900, call_id="call-3", model="backup")
    first, backup, later = otel.spans.get_finished_spans()
    assert [link.context.span_id for link in backup.links] == [first.context.span_id]
    assert later.links == ()
    assert "agentflow.fallback.from_model" not in later.attributes


def test_open_spans_are_capped(otel, monkeypatch, caplog):
    monkeypatch.setattr(exporter_module, "MAX_OPEN_SPANS", 3)
    with caplog.at_level(logging.WARNING, logger="agentflow.otel"):
        for index in range(6):
            otel.send("llm.request.start", float(index), call_id=f"call-{index}")
    abandoned = otel.spans.get_finished_spans()
    assert [span.attributes["agentflow.call_id"] for span in abandoned] == [
        "call-0", "call-1", "call-2"]
    assert all(span.attributes["agentflow.abandoned"] for span in abandoned)
    assert otel.exporter.abandoned == 3
    assert len(caplog.records) == 1  # warned once, then counted
    assert "more than 3 agentflow calls open at once" in caplog.records[0].getMessage()
    otel.send("llm.request.complete", 9.0, duration=10, call_id="call-5")
    otel.send("llm.request.complete", 9.0, duration=10, call_id="call-0")  # already ended
    assert len(otel.spans.get_finished_spans()) == 4


def test_switches():
    quiet = Otel(spans=False)
    quiet.send("llm.request.start", 1.0)
    quiet.send("llm.request.complete", 2.0, duration=1000, prompt_tokens=1)
    assert quiet.spans.get_finished_spans() == ()
    assert len(quiet.points("gen_ai.client.operation.duration")) == 1
    spans_only = Otel(metrics=False)
    spans_only.send("llm.request.start", 1.0, stream=True)
    spans_only.send("llm.stream.first_token", 1.5, duration=500)
    spans_only.send("llm.stream.complete", 2.0, duration=1000, prompt_tokens=1)
    assert len(spans_only.spans.get_finished_spans()) == 1
    assert spans_only.metrics() == {}
