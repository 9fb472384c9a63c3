"""MetricsCollector figures against known inputs: counts, rates, tokens, cost, percentiles."""

from __future__ import annotations

import math
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow import ExecutionEvent, MetricsCollector
from agentflow._observe.events import Histogram


def event(kind, model="m", provider="p", duration=None, **metadata):
    return ExecutionEvent(event_type=kind, node_id=f"llm.{model}", duration_ms=duration,
                          metadata={"model": model, "provider": provider, **metadata})


def test_counts_successes_failures_tokens_and_errors_at_every_scope():
    metrics = MetricsCollector()
    for _ in range(3):
        metrics.record_event(event("llm.request.start"))
    metrics.record_event(event("llm.request.complete", duration=10, prompt_tokens=5,
                               completion_tokens=7, total_tokens=12, cached_tokens=2))
    metrics.record_event(event("llm.stream.complete", duration=30, prompt_tokens=1,
                               completion_tokens=2, total_tokens=3, cached_tokens=None))
    metrics.record_event(event("llm.request.error", duration=5, error_type="RateLimitError",
                               status=429))
    figures = metrics.snapshot()
    for scope in ("llm.", "llm.model.m.", "llm.provider.p."):
        assert figures[scope + "requests.total"] == 3
        assert figures[scope + "requests.success"] == 2
        assert figures[scope + "requests.failure"] == 1
        assert figures[scope + "requests.in_flight"] == 0
        assert figures[scope + "errors.RateLimitError"] == 1
        assert figures[scope + "ratelimit.hits"] == 1
        assert figures[scope + "tokens.prompt"] == 6
        assert figures[scope + "tokens.completion"] == 9
        assert figures[scope + "tokens.total"] == 15
        assert figures[scope + "tokens.cached"] == 2
        assert figures[scope + "latency_ms.count"] == 3
        assert figures[scope + "latency_ms.max"] == 30
        assert math.isclose(figures[scope + "requests.success_rate"], 2 / 3)
        assert math.isclose(figures[scope + "requests.failure_rate"], 1 / 3)


def test_scopes_keep_models_and_providers_apart():
    metrics = MetricsCollector()
    metrics.record_event(event("llm.request.start", model="a", provider="x"))
    metrics.record_event(event("llm.request.start", model="b", provider="x"))
    metrics.record_event(event("llm.request.start", model="b", provider="y"))
    figures = metrics.snapshot()
    assert figures["llm.model.a.requests.total"] == 1
    assert figures["llm.model.b.requests.total"] == 2
    assert figures["llm.provider.x.requests.total"] == 2
    assert figures["llm.provider.y.requests.total"] == 1
    assert figures["llm.requests.total"] == 3
    assert figures["llm.requests.in_flight"] == 3


def test_prefix_filters_and_reset_forgets():
    metrics = MetricsCollector()
    metrics.record_event(event("llm.request.start", model="a"))
    metrics.record_event(event("llm.request.start", model="b"))
    assert metrics.get_metrics_by_prefix("llm.model.a.") == {
        "llm.model.a.requests.total": 1, "llm.model.a.requests.in_flight": 1}
    metrics.reset()
    assert metrics.snapshot() == {}


def test_cost_sums_known_prices_and_counts_unknown_ones_never_as_zero():
    metrics = MetricsCollector()
    metrics.record_event(event("llm.request.complete", model="priced", cost_usd=0.25))
    metrics.record_event(event("llm.request.complete", model="priced", cost_usd=0.5))
    metrics.record_event(event("llm.request.complete", model="free", cost_usd=0.0))
    metrics.record_event(event("llm.request.complete", model="unknown", cost_usd=None))
    figures = metrics.snapshot()
    assert figures["llm.model.priced.cost_usd"] == 0.75
    assert figures["llm.model.free.cost_usd"] == 0.0
    assert "llm.model.unknown.cost_usd" not in figures
    assert figures["llm.model.unknown.cost.unpriced_requests"] == 1
    assert figures["llm.cost_usd"] == 0.75
    assert figures["llm.cost.unpriced_requests"] == 1


def test_a_stream_the_caller_stopped_is_not_an_unpriced_answer():
    metrics = MetricsCollector()
    metrics.record_event(event("llm.stream.complete", finish_reason="cancelled", cost_usd=None))
    assert "llm.cost.unpriced_requests" not in metrics.snapshot()


def test_stream_figures_time_to_first_token_speed_and_chunks():
    metrics = MetricsCollector()
    metrics.record_event(event("llm.stream.first_token", duration=120))
    metrics.record_event(event("llm.stream.complete", duration=400, chunks=3,
                               output_tokens_per_second=50.0))
    metrics.record_event(event("llm.request.error", duration=100, chunks=2, partial_chars=9))
    figures = metrics.snapshot()
    assert math.isclose(figures["llm.time_to_first_token_ms.p50"], 120, rel_tol=0.01)
    assert math.isclose(figures["llm.output_tokens_per_second.mean"], 50.0)
    assert figures["llm.stream.chunks"] == 5


def test_retries_waits_fallbacks_circuits_and_exporter_errors():
    metrics = MetricsCollector()
    metrics.record_event(event("llm.retry", status=503))
    metrics.record_event(event("llm.retry", status=429))
    metrics.record_event(event("llm.ratelimit.wait", waited_ms=250))
    metrics.record_event(event("llm.ratelimit.wait", waited_ms=50))
    metrics.record_event(event("llm.fallback", model="m", to_model="n"))
    metrics.record_event(ExecutionEvent(event_type="llm.circuit.open", node_id="provider.p",
                                        metadata={"provider": "p", "previous": "closed"}))
    metrics.record_event(ExecutionEvent(event_type="llm.exporter.error", node_id="plugin.x",
                                        metadata={"plugin": "x"}))
    figures = metrics.snapshot()
    assert figures["llm.retries"] == 2
    assert figures["llm.ratelimit.hits"] == 1
    assert figures["llm.ratelimit.waits"] == 2
    assert figures["llm.ratelimit.wait_ms"] == 300
    assert figures["llm.model.m.fallbacks"] == 1
    assert figures["llm.circuit.opened"] == 1
    assert figures["llm.exporter.errors.x"] == 1


def test_unknown_event_types_are_ignored():
    metrics = MetricsCollector()
    metrics.record_event(event("workflow.node.start"))
    assert metrics.snapshot() == {}


def nearest_rank(samples, fraction):
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


@given(st.lists(st.floats(min_value=0.01, max_value=3_600_000), min_size=1, max_size=500),
       st.sampled_from([0.5, 0.95, 0.99]))
def test_histogram_percentile_within_one_percent_of_the_exact_one(samples, fraction):
    histogram = Histogram()
    for sample in samples:
        histogram.add(sample)
    exact = nearest_rank(samples, fraction)
    assert math.isclose(histogram.percentile(fraction), exact, rel_tol=0.0101)
    assert histogram.count == len(samples)
    assert math.isclose(histogram.total, math.fsum(samples), rel_tol=1e-9)


@given(st.lists(st.floats(min_value=0, max_value=0.001), min_size=1, max_size=50))
def test_histogram_tiny_samples_stay_within_their_range(samples):
    histogram = Histogram()
    for sample in samples:
        histogram.add(sample)
    assert min(samples) <= histogram.percentile(0.5) <= max(samples)


def test_histogram_memory_is_bounded_however_many_samples():
    histogram = Histogram()
    for index in range(200_000):
        histogram.add(0.01 + index * 0.37)
    assert len(histogram.buckets) < 1_000
    assert sys.getsizeof(histogram.buckets) < 64_000


@pytest.mark.parametrize("threads", [8])
def test_exact_totals_under_concurrent_threads(threads):
    metrics = MetricsCollector()

    def record(worker):
        for index in range(1000):
            metrics.record_event(event("llm.request.start", model=f"m{worker % 2}"))
            metrics.record_event(event("llm.request.complete", model=f"m{worker % 2}",
                                       duration=index % 50 + 1, completion_tokens=3))

    pool = [threading.Thread(target=record, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    figures = metrics.snapshot()
    assert figures["llm.requests.total"] == threads * 1000
    assert figures["llm.tokens.completion"] == threads * 3000
    assert figures["llm.latency_ms.count"] == threads * 1000
    assert figures["llm.model.m0.requests.success"] == threads // 2 * 1000
    assert figures["llm.requests.in_flight"] == 0


def test_the_table_has_a_row_per_model_and_says_unknown_costs():
    from agentflow._observe.table import metrics_rows, metrics_table

    metrics = MetricsCollector()
    assert metrics_table(metrics) == ""
    metrics.record_event(event("llm.request.start", model="gpt-4.1"))
    metrics.record_event(event("llm.request.complete", model="gpt-4.1", duration=12.5,
                               prompt_tokens=3, completion_tokens=4, cost_usd=0.5))
    metrics.record_event(event("llm.request.start", model="mystery"))
    metrics.record_event(event("llm.request.complete", model="mystery", duration=2.0,
                               cost_usd=None))
    rows = {row[0]: row for row in metrics_rows(metrics)}
    assert list(rows) == ["gpt-4.1", "mystery", "all"]
    assert rows["gpt-4.1"][1:4] == ["1", "1", "0"]
    assert rows["gpt-4.1"][6] == "3 / 4"
    assert rows["gpt-4.1"][-1] == "$0.5000"
    assert rows["mystery"][-1] == "unknown"
    assert rows["all"][-1] == "$0.5000 + 1 unpriced"
    assert metrics_table(metrics).splitlines()[0].split()[:2] == ["MODEL", "CALLS"]
