"""MetricsCollector figures against known inputs."""

from __future__ import annotations

import math
import threading

from hypothesis import given
from hypothesis import strategies as st

from agentflow import ExecutionEvent, MetricsCollector
from agentflow.observability import _Histogram


def event(kind, model="m", duration=None, **metadata):
    return ExecutionEvent(event_type=kind, node_id=f"llm.{model}", duration_ms=duration,
                          metadata=metadata)


def test_counts_successes_failures_tokens_and_errors():
    metrics = MetricsCollector()
    for _ in range(3):
        metrics.record_event(event("llm.request.start"))
    metrics.record_event(event("llm.request.complete", duration=10, prompt_tokens=5,
                               completion_tokens=7))
    metrics.record_event(event("llm.stream.complete", duration=30, prompt_tokens=1,
                               completion_tokens=2))
    metrics.record_event(event("llm.request.error", duration=5, error_type="RateLimitError"))
    figures = metrics.get_metrics_by_prefix("llm.")
    assert figures["llm.requests.total"] == 3
    assert figures["llm.requests.success"] == 2
    assert figures["llm.requests.failure"] == 1
    assert figures["llm.errors.RateLimitError"] == 1
    assert figures["llm.tokens.prompt_tokens"] == 6
    assert figures["llm.tokens.completion_tokens"] == 9
    assert figures["llm.m.latency_ms.count"] == 3
    assert math.isclose(figures["llm.requests.success_rate"], 2 / 3)


def test_prefix_filters_and_reset_forgets():
    metrics = MetricsCollector()
    metrics.record_event(event("llm.request.start", model="a"))
    metrics.record_event(event("llm.request.start", model="b"))
    assert set(metrics.get_metrics_by_prefix("llm.a.")) == {"llm.a.requests"}
    metrics.reset()
    assert metrics.snapshot() == {}


@given(st.lists(st.floats(min_value=0.01, max_value=60_000), min_size=1, max_size=400),
       st.sampled_from([0.5, 0.95, 0.99]))
def test_histogram_percentile_within_bucket_accuracy(samples, fraction):
    histogram = _Histogram()
    for sample in samples:
        histogram.add(sample)
    ordered = sorted(samples)
    exact = ordered[max(1, math.ceil(fraction * len(ordered))) - 1]
    estimate = histogram.percentile(fraction)
    assert exact / 1.05 <= estimate <= exact * 1.05


def test_safe_under_concurrent_threads():
    metrics = MetricsCollector()

    def record():
        for _ in range(1000):
            metrics.record_event(event("llm.request.start"))

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.snapshot()["llm.requests.total"] == 8000
