"""The exporter against hand-made events: exact samples, nothing invented, exact under load."""

from __future__ import annotations

import threading

import anyio
import pytest
from prometheus_client import CollectorRegistry

from agentflow._observe.events import ExecutionEvent
from agentflow_prometheus import PrometheusExporter

CALL = {"provider": "openai", "vendor": "openai", "model": "gpt-4o"}


def event(kind, duration=None, **metadata):
    return ExecutionEvent(event_type=kind, node_id="llm.gpt-4o", duration_ms=duration,
                          metadata={"call_id": "call-1", **CALL, **metadata})


@pytest.fixture
def exporter():
    exporter = PrometheusExporter(CollectorRegistry())
    yield exporter
    exporter.close()


def value(exporter, name, **labels):
    return exporter.registry.get_sample_value(name, {**CALL, **labels})


def samples(registry):
    return [sample for family in registry.collect() for sample in family.samples]


def record(exporter, *events):
    for each in events:
        exporter.agentflow_record_event(each)


def test_a_call_is_counted_timed_and_its_tokens_and_cost_added(exporter):
    record(exporter, event("llm.request.start"))
    assert value(exporter, "agentflow_requests_in_flight") == 1
    record(exporter, event(
        "llm.request.complete", duration=1500, status=200, prompt_tokens=10,
        completion_tokens=20, total_tokens=30, cached_tokens=4, reasoning_tokens=6,
        cost_usd=0.25, request_id="req-abc"))
    assert value(exporter, "agentflow_requests_in_flight") == 0
    assert value(exporter, "agentflow_requests_total", outcome="success") == 1
    assert value(exporter, "agentflow_requests_total", outcome="error") is None
    assert value(exporter, "agentflow_request_duration_seconds_sum", outcome="success") == 1.5
    assert value(exporter, "agentflow_request_duration_seconds_count", outcome="success") == 1
    assert value(exporter, "agentflow_request_duration_seconds_bucket", outcome="success",
                 le="2.5") == 1
    assert value(exporter, "agentflow_request_duration_seconds_bucket", outcome="success",
                 le="1.0") == 0
    assert value(exporter, "agentflow_tokens_total", type="prompt") == 10
    assert value(exporter, "agentflow_tokens_total", type="completion") == 20
    # parts of the prompt and completion tokens: their own metrics, so sum(tokens) is right
    assert value(exporter, "agentflow_cached_tokens_total") == 4
    assert value(exporter, "agentflow_reasoning_tokens_total") == 6
    assert value(exporter, "agentflow_cost_usd_total") == 0.25
    assert value(exporter, "agentflow_unpriced_requests_total") is None


def test_unknown_values_are_never_recorded_as_zero(exporter):
    record(exporter, event("llm.request.start"), event(
        "llm.request.complete", duration=None, prompt_tokens=None, completion_tokens=None,
        cached_tokens=None, cost_usd=None, output_tokens_per_second=None))
    assert value(exporter, "agentflow_requests_total", outcome="success") == 1
    for name in ("agentflow_cost_usd_total", "agentflow_cached_tokens_total",
                 "agentflow_request_duration_seconds_count",
                 "agentflow_output_tokens_per_second_count"):
        assert value(exporter, name) is None, name
    assert value(exporter, "agentflow_tokens_total", type="prompt") is None
    assert value(exporter, "agentflow_unpriced_requests_total") == 1


def test_known_zeros_are_recorded_and_nonsense_is_dropped(exporter):
    record(exporter, event("llm.request.complete", prompt_tokens=0, completion_tokens=-3,
                           cost_usd=0.0))
    assert value(exporter, "agentflow_tokens_total", type="prompt") == 0  # reported: 0
    assert value(exporter, "agentflow_tokens_total", type="completion") is None
    assert value(exporter, "agentflow_cost_usd_total") == 0  # a free model is priced
    assert value(exporter, "agentflow_unpriced_requests_total") is None


def test_a_stream_the_caller_left_is_a_success_and_not_unpriced(exporter):
    record(exporter, event("llm.request.start", stream=True),
           event("llm.stream.complete", duration=50, finish_reason="cancelled", chunks=2,
                 cost_usd=None))
    assert value(exporter, "agentflow_requests_total", outcome="success") == 1
    assert value(exporter, "agentflow_stream_chunks_total") == 2
    assert value(exporter, "agentflow_unpriced_requests_total") is None


def test_streams_failures_retries_waits_fallbacks_and_circuits(exporter):
    record(exporter,
           event("llm.request.start", stream=True),
           event("llm.stream.start", duration=120, status=200),
           event("llm.stream.first_token", duration=300),
           event("llm.stream.chunk", index=1, chars=5, is_final=False),
           event("llm.stream.complete", duration=900, chunks=12,
                 output_tokens_per_second=42.0, cost_usd=0.1, chunk_gap_mean_ms=20.0,
                 chunk_gap_max_ms=700.0),
           event("llm.retry", attempt=1, status=429, error_type="RateLimitError"),
           event("llm.retry", attempt=2, status=503, error_type="HttpError"),
           event("llm.ratelimit.wait", attempt=1, waited_ms=1500),
           event("llm.ratelimit.wait", attempt=1, waited_ms=None),
           event("llm.request.start"),
           event("llm.request.error", duration=40, status=429, error_type="RateLimitError",
                 partial_chars=10, chunks=3),
           event("llm.fallback", from_model="gpt-4o", to_model="claude", status=429))
    assert value(exporter, "agentflow_time_to_first_token_seconds_sum") == 0.3
    assert value(exporter, "agentflow_time_to_first_token_seconds_bucket", le="0.5") == 1
    assert value(exporter, "agentflow_output_tokens_per_second_sum") == 42.0
    assert value(exporter, "agentflow_stream_chunk_gap_max_seconds_sum") == 0.7
    assert value(exporter, "agentflow_stream_chunk_gap_max_seconds_bucket", le="1.0") == 1
    assert value(exporter, "agentflow_stream_chunks_total") == 15
    assert value(exporter, "agentflow_retries_total") == 2
    assert value(exporter, "agentflow_ratelimit_hits_total") == 2
    assert value(exporter, "agentflow_ratelimit_waits_total") == 2
    assert value(exporter, "agentflow_ratelimit_wait_seconds_total") == 1.5
    assert value(exporter, "agentflow_errors_total", error_type="RateLimitError") == 1
    assert value(exporter, "agentflow_requests_total", outcome="error") == 1
    assert value(exporter, "agentflow_request_duration_seconds_sum", outcome="error") == 0.04
    assert value(exporter, "agentflow_requests_in_flight") == 0
    assert value(exporter, "agentflow_fallbacks_total", to_model="claude") == 1


def test_circuit_states_per_provider(exporter):
    def circuit(state, provider="openai"):
        return ExecutionEvent(event_type=f"llm.circuit.{state}", node_id=f"provider.{provider}",
                              metadata={"provider": provider, "previous": "x"})

    registry = exporter.registry
    for state, gauge in (("open", 2), ("half_open", 1), ("closed", 0), ("open", 2)):
        record(exporter, circuit(state))
        assert registry.get_sample_value("agentflow_circuit_state", {"provider": "openai"}) == (
            gauge)
    record(exporter, circuit("half_open", "anthropic"))
    assert registry.get_sample_value("agentflow_circuit_state", {"provider": "anthropic"}) == 1
    assert registry.get_sample_value("agentflow_circuit_opened_total",
                                     {"provider": "openai"}) == 2
    assert registry.get_sample_value("agentflow_circuit_opened_total",
                                     {"provider": "anthropic"}) is None


def test_events_of_other_types_are_ignored(exporter):
    record(exporter, event("workflow.node.start"), event("llm.exporter.error", plugin="x"),
           event("llm.stream.start", duration=3), event("llm.stream.chunk", index=1),
           event("llm.circuit.sideways"), event("llm.request.something_new", chunks=4))
    assert samples(exporter.registry) == []


def test_labels_are_the_call_and_nothing_that_grows(exporter):
    record(exporter, event("llm.request.start", call_id="call-9", model_id="gpt-4o-2024-08-06"),
           event("llm.request.complete", 10, call_id="call-9", request_id="req-1",
                 response_model="gpt-4o-2024-08-06", prompt_tokens=1),
           event("llm.request.error", call_id="call-10", request_id="req-2", status=500,
                 error_type="HttpError"),
           event("llm.fallback", call_id="call-10", to_model="claude"))
    names = {name for sample in samples(exporter.registry) for name in sample.labels}
    assert names == {"provider", "vendor", "model", "outcome", "type", "error_type", "le",
                     "to_model"}
    values = {v for sample in samples(exporter.registry) for v in sample.labels.values()}
    assert not values & {"call-9", "call-10", "req-1", "req-2", "gpt-4o-2024-08-06"}


def test_calls_of_different_models_stay_apart(exporter):
    other = {"provider": "work-openai", "vendor": "openai", "model": "mini"}
    record(exporter, event("llm.request.complete", completion_tokens=5),
           event("llm.request.complete", completion_tokens=7, **other),
           event("llm.request.complete", completion_tokens=1, **other))
    assert value(exporter, "agentflow_tokens_total", type="completion") == 5
    assert exporter.registry.get_sample_value("agentflow_tokens_total",
                                              {**other, "type": "completion"}) == 8


def test_an_event_without_metadata_still_counts_under_its_node(exporter):
    record(exporter, ExecutionEvent(event_type="llm.request.start", node_id="llm.local"))
    assert exporter.registry.get_sample_value("agentflow_requests_in_flight", {
        "provider": "", "vendor": "", "model": "local"}) == 1


def test_namespace_and_buckets_of_your_own():
    registry = CollectorRegistry()
    exporter = PrometheusExporter(registry, namespace="llm",
                                  buckets={"request_duration_seconds": [1, 10]})
    try:
        record(exporter, event("llm.request.complete", duration=4000))
        assert registry.get_sample_value("llm_requests_total", {**CALL, "outcome": "success"}) == 1
        bounds = {s.labels["le"] for s in samples(registry)
                  if s.name == "llm_request_duration_seconds_bucket"}
        assert bounds == {"1.0", "10.0", "+Inf"}
        assert exporter.namespace == "llm"
    finally:
        exporter.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"namespace": "1st"}, "namespace must be a Prometheus metric name prefix"),
    ({"namespace": ""}, "namespace must be a Prometheus metric name prefix"),
    ({"buckets": {"latency": [1]}}, "buckets.latency: not a histogram of this exporter"),
    ({"buckets": {"request_duration_seconds": []}},
     "buckets.request_duration_seconds must be a non-empty list of numbers"),
    ({"buckets": {"request_duration_seconds": [5, 1]}},
     r"buckets.request_duration_seconds must be positive, finite and increasing"),
    ({"buckets": {"time_to_first_token_seconds": [0, 1]}},
     r"buckets.time_to_first_token_seconds must be positive, finite and increasing"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PrometheusExporter(CollectorRegistry(), **kwargs)


def test_exact_totals_from_many_threads(exporter):
    def calls():
        for _ in range(500):
            record(exporter, event("llm.request.start"),
                   event("llm.request.complete", duration=5, completion_tokens=2, cost_usd=0.5))

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert value(exporter, "agentflow_requests_total", outcome="success") == 4000
    assert value(exporter, "agentflow_tokens_total", type="completion") == 8000
    assert value(exporter, "agentflow_cost_usd_total") == 2000
    assert value(exporter, "agentflow_request_duration_seconds_count", outcome="success") == 4000
    assert value(exporter, "agentflow_requests_in_flight") == 0


@pytest.mark.anyio
async def test_exact_totals_from_many_tasks(exporter):
    async def calls(model):
        for _ in range(200):
            record(exporter, event("llm.request.start", model=model))
            await anyio.sleep(0)
            record(exporter, event("llm.request.error", model=model, status=429,
                                   error_type="RateLimitError"))

    async with anyio.create_task_group() as tasks:
        for n in range(20):
            tasks.start_soon(calls, f"model-{n % 4}")
    for n in range(4):
        labels = {**CALL, "model": f"model-{n}"}
        assert exporter.registry.get_sample_value(
            "agentflow_errors_total", {**labels, "error_type": "RateLimitError"}) == 1000
        assert exporter.registry.get_sample_value("agentflow_requests_in_flight", labels) == 0
