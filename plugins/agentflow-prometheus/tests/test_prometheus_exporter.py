"""The exporter against hand-made events: exact samples, nothing invented, thread-safe."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry

from agentflow import ConfigurationError
from agentflow.config import Config
from agentflow.observability import ExecutionEvent
from agentflow_prometheus import PrometheusExporter

CALL = {"provider": "openai", "vendor": "openai", "model": "gpt-4o"}


def event(kind, duration=None, **metadata):
    return ExecutionEvent(event_type=kind, node_id="llm.gpt-4o", duration_ms=duration,
                          metadata={**CALL, **metadata})


@pytest.fixture
def exporter():
    return PrometheusExporter(CollectorRegistry())


def value(exporter, name, **labels):
    return exporter.registry.get_sample_value(name, {**CALL, **labels})


def test_a_call_is_counted_timed_and_its_tokens_and_cost_added(exporter):
    exporter.agentflow_record_event(event("llm.request.start"))
    assert value(exporter, "agentflow_requests_in_flight") == 1
    exporter.agentflow_record_event(event(
        "llm.request.complete", duration=1500, status=200, prompt_tokens=10,
        completion_tokens=20, cached_tokens=4, cost_usd=0.25))
    assert value(exporter, "agentflow_requests_in_flight") == 0
    assert value(exporter, "agentflow_requests_total", outcome="success") == 1
    assert value(exporter, "agentflow_request_duration_seconds_sum", outcome="success") == 1.5
    assert value(exporter, "agentflow_request_duration_seconds_bucket", outcome="success",
                 le="2.5") == 1
    assert value(exporter, "agentflow_request_duration_seconds_bucket", outcome="success",
                 le="1.0") == 0
    assert value(exporter, "agentflow_tokens_total", type="prompt") == 10
    assert value(exporter, "agentflow_tokens_total", type="completion") == 20
    assert value(exporter, "agentflow_tokens_total", type="cached") == 4
    assert value(exporter, "agentflow_cost_usd_total") == 0.25


def test_unknown_values_are_never_recorded_as_zero(exporter):
    exporter.agentflow_record_event(event("llm.request.start"))
    exporter.agentflow_record_event(event(
        "llm.request.complete", duration=10, prompt_tokens=None, completion_tokens=None,
        cost_usd=None))
    assert value(exporter, "agentflow_cost_usd_total") is None
    assert value(exporter, "agentflow_tokens_total", type="prompt") is None
    assert value(exporter, "agentflow_unpriced_requests_total") == 1


def test_streams_failures_retries_waits_and_circuits(exporter):
    exporter.agentflow_record_event(event("llm.request.start", stream=True))
    exporter.agentflow_record_event(event("llm.stream.first_token", duration=300))
    exporter.agentflow_record_event(event("llm.stream.chunk", index=1))  # not needed: ignored
    exporter.agentflow_record_event(event("llm.stream.complete", duration=900, chunks=12,
                                          output_tokens_per_second=42.0, cost_usd=0.1))
    exporter.agentflow_record_event(event("llm.retry", status=429))
    exporter.agentflow_record_event(event("llm.retry", status=503))
    exporter.agentflow_record_event(event("llm.ratelimit.wait", waited_ms=1500))
    exporter.agentflow_record_event(event("llm.request.start"))
    exporter.agentflow_record_event(event("llm.request.error", duration=40, status=429,
                                          error_type="RateLimitError", chunks=3))
    exporter.agentflow_record_event(event("llm.fallback", from_model="gpt-4o",
                                          to_model="claude"))
    exporter.agentflow_record_event(ExecutionEvent(
        event_type="llm.circuit.open", node_id="provider.openai",
        metadata={"provider": "openai", "previous": "closed"}))
    assert value(exporter, "agentflow_time_to_first_token_seconds_sum") == 0.3
    assert value(exporter, "agentflow_output_tokens_per_second_sum") == 42.0
    assert value(exporter, "agentflow_stream_chunks_total") == 15
    assert value(exporter, "agentflow_retries_total") == 2
    assert value(exporter, "agentflow_ratelimit_hits_total") == 2
    assert value(exporter, "agentflow_ratelimit_wait_seconds_total") == 1.5
    assert value(exporter, "agentflow_errors_total", error_type="RateLimitError") == 1
    assert value(exporter, "agentflow_requests_total", outcome="error") == 1
    assert value(exporter, "agentflow_requests_in_flight") == 0
    registry = exporter.registry
    assert registry.get_sample_value("agentflow_fallbacks_total", {
        "provider": "openai", "model": "gpt-4o", "to_model": "claude"}) == 1
    assert registry.get_sample_value("agentflow_circuit_state", {"provider": "openai"}) == 2
    assert registry.get_sample_value("agentflow_circuit_opened_total",
                                     {"provider": "openai"}) == 1


def test_events_of_unknown_types_are_ignored(exporter):
    exporter.agentflow_record_event(event("workflow.node.start"))
    exporter.agentflow_record_event(event("audit.key.access"))
    assert value(exporter, "agentflow_requests_total", outcome="success") is None


def test_exact_totals_from_many_threads(exporter):
    def record():
        for _ in range(500):
            exporter.agentflow_record_event(event("llm.request.start"))
            exporter.agentflow_record_event(event("llm.request.complete", duration=5,
                                                  completion_tokens=2))

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert value(exporter, "agentflow_requests_total", outcome="success") == 4000
    assert value(exporter, "agentflow_tokens_total", type="completion") == 8000
    assert value(exporter, "agentflow_requests_in_flight") == 0


@pytest.mark.parametrize(("section", "message"), [
    ({"http_port": "9464"}, "plugins.prometheus.http_port must be a port number"),
    ({"http_port": 70000}, "plugins.prometheus.http_port must be a port number"),
    ({"enabled": "yes"}, "plugins.prometheus.enabled must be true or false"),
    ({"port": 1}, "plugins.prometheus.port: unknown key"),
])
def test_bad_settings_are_refused_naming_the_key(exporter, section, message):
    with pytest.raises(ConfigurationError, match=message):
        exporter.agentflow_configure(Config(plugins={"prometheus": section}))


def test_disabled_records_nothing(exporter):
    exporter.agentflow_configure(Config(plugins={"prometheus": {"enabled": False}}))
    exporter.agentflow_record_event(event("llm.request.start"))
    assert value(exporter, "agentflow_requests_in_flight") is None
