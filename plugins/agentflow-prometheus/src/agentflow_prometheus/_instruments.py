"""The prometheus_client metrics of one exporter, and how each event type changes them.

This is the only module that imports prometheus_client for recording; it is imported when an
exporter first needs its metrics, not when the plugin loads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

if TYPE_CHECKING:
    from agentflow import ExecutionEvent
    from agentflow_prometheus._settings import Layout

__all__ = ["CALL_LABELS", "Instruments"]

#: The labels of every call metric. All three are bounded by the configuration and the
#: installed catalogs (events come only for models that resolved); no label ever holds a
#: request id, a call id or text.
CALL_LABELS = ("provider", "vendor", "model")
_CIRCUIT_STATES = {"llm.circuit.closed": 0, "llm.circuit.half_open": 1, "llm.circuit.open": 2}

M = TypeVar("M", bound=MetricWrapperBase)
_Key = tuple[str, ...]


class _Children(Generic[M]):
    """A labelled metric's children, cached by label values.

    ``metric.labels(...)`` converts every value and takes the metric's lock on each call; this
    is one dict lookup. Two threads may both miss and ask ``labels`` for the same values: it
    hands both the same child, so nothing is lost.
    """

    __slots__ = ("_children", "_fixed", "_metric")

    def __init__(self, metric: M, *fixed: str) -> None:
        self._metric = metric
        self._fixed = fixed  # trailing label values: outcome="success", type="prompt", ...
        self._children: dict[_Key, M] = {}

    def __call__(self, key: _Key) -> M:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._metric.labels(*key, *self._fixed)
        return child


class Instruments:
    """Every metric of one exporter, registered in ``registry`` under ``layout``."""

    def __init__(self, registry: CollectorRegistry, layout: Layout) -> None:
        self.registry = registry
        self.namespace = layout.namespace
        self.metrics: list[MetricWrapperBase] = []
        ns, buckets = layout.namespace, layout.buckets

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return self._add(Counter(name, doc, labels, namespace=ns, registry=None))

        def histogram(name: str, doc: str, *labels: str) -> Histogram:
            return self._add(Histogram(name, doc, labels, namespace=ns, registry=None,
                                       buckets=buckets[name]))

        requests = counter("requests", "Calls that ended, by outcome (success, error).",
                           *CALL_LABELS, "outcome")
        duration = histogram("request_duration_seconds", "Whole-call duration, by outcome.",
                             *CALL_LABELS, "outcome")
        tokens = counter("tokens", "Tokens the vendors reported, by type (prompt, completion).",
                         *CALL_LABELS, "type")
        self.in_flight = _Children(self._add(Gauge(
            "requests_in_flight", "Calls started and not yet ended.", CALL_LABELS,
            namespace=ns, registry=None)))
        self.succeeded = _Children(requests, "success")
        self.failed = _Children(requests, "error")
        self.duration_ok = _Children(duration, "success")
        self.duration_error = _Children(duration, "error")
        self.first_token = _Children(histogram(
            "time_to_first_token_seconds", "Streams: from the call's start to its first text.",
            *CALL_LABELS))
        self.speed = _Children(histogram(
            "output_tokens_per_second", "Streams: answer tokens per second after the first "
            "token.", *CALL_LABELS))
        self.longest_gap = _Children(histogram(
            "stream_chunk_gap_max_seconds", "Streams: the longest time between two chunks "
            "(a stall).", *CALL_LABELS))
        self.token_counts = (
            ("prompt_tokens", _Children(tokens, "prompt")),
            ("completion_tokens", _Children(tokens, "completion")),
            ("cached_tokens", _Children(counter(
                "cached_tokens", "Prompt tokens served from the vendor's cache (a part of "
                "the prompt tokens).", *CALL_LABELS))),
            ("reasoning_tokens", _Children(counter(
                "reasoning_tokens", "Reasoning tokens (a part of the completion tokens).",
                *CALL_LABELS))),
        )
        self.cost = _Children(counter(
            "cost_usd", "Cost in US dollars of the calls whose model has a known price.",
            *CALL_LABELS))
        self.unpriced = _Children(counter(
            "unpriced_requests", "Answered calls whose model has no known price (left out of "
            "cost_usd).", *CALL_LABELS))
        self.errors = _Children(counter(
            "errors", "Failed calls by error class.", *CALL_LABELS, "error_type"))
        self.retries = _Children(counter(
            "retries", "Attempts that failed and were retried.", *CALL_LABELS))
        self.ratelimit_hits = _Children(counter(
            "ratelimit_hits", "429 answers from the vendors, retried or not.", *CALL_LABELS))
        self.waits = _Children(counter(
            "ratelimit_waits", "Times the client-side rate limiter made a call wait.",
            *CALL_LABELS))
        self.waited = _Children(counter(
            "ratelimit_wait_seconds", "Time calls waited for the client-side rate limiter.",
            *CALL_LABELS))
        self.chunks = _Children(counter(
            "stream_chunks", "Stream chunks delivered to callers.", *CALL_LABELS))
        self.fallbacks = _Children(counter(
            "fallbacks", "Hops from a failed model to the next of its fallbacks.",
            *CALL_LABELS, "to_model"))
        self.circuit = _Children(self._add(Gauge(
            "circuit_state", "Circuit breaker of each provider: 0 closed, 1 half-open, 2 open.",
            ("provider",), namespace=ns, registry=None)))
        self.circuit_opened = _Children(counter(
            "circuit_opened", "Times a provider's circuit opened.", "provider"))
        self.handlers: dict[str, Callable[[ExecutionEvent], None]] = {
            "llm.request.start": self._started,
            "llm.request.complete": self._answered,
            "llm.stream.complete": self._answered,
            "llm.request.error": self._failed,
            "llm.stream.first_token": self._first_token,
            "llm.retry": self._retried,
            "llm.ratelimit.wait": self._waited,
            "llm.fallback": self._fell_back,
            **dict.fromkeys(_CIRCUIT_STATES, self._circuit_changed),
        }
        # Registered last and all together: a name clash leaves the registry as it was.
        registered: list[MetricWrapperBase] = []
        try:
            for metric in self.metrics:
                registry.register(metric)
                registered.append(metric)
        except ValueError:
            for metric in registered:
                registry.unregister(metric)
            raise

    def _add(self, metric: M) -> M:
        self.metrics.append(metric)
        return metric

    def unregister(self) -> None:
        """Take every metric out of the registry (its series end)."""
        for metric in self.metrics:
            self.registry.unregister(metric)

    def record(self, event: ExecutionEvent) -> None:
        """Fold one event in; other event types are ignored. Streams are read from their end
        event (chunk count, time to first token, longest gap between chunks): the exporter
        does not implement ``agentflow_record_stream_chunk``, so it costs nothing per chunk."""
        handler = self.handlers.get(event.event_type)
        if handler is not None:
            handler(event)

    # events ------------------------------------------------------------------------------------

    @staticmethod
    def _call(event: ExecutionEvent) -> _Key:
        meta = event.metadata
        return (meta.get("provider") or "", meta.get("vendor") or "",
                meta.get("model") or event.node_id.removeprefix("llm."))

    def _started(self, event: ExecutionEvent) -> None:
        self.in_flight(self._call(event)).inc()

    def _answered(self, event: ExecutionEvent) -> None:
        meta = event.metadata
        call = self._call(event)
        self.in_flight(call).dec()
        self.succeeded(call).inc()
        if event.duration_ms is not None:
            self.duration_ok(call).observe(event.duration_ms / 1000)
        chunks = meta.get("chunks")
        if chunks:
            self.chunks(call).inc(chunks)
        for key, children in self.token_counts:
            count = meta.get(key)
            if count is not None and count >= 0:  # None is "not reported", never 0
                children(call).inc(count)
        cost = meta.get("cost_usd")
        if cost is not None:
            if cost >= 0:
                self.cost(call).inc(cost)
        elif meta.get("finish_reason") != "cancelled":  # a stream left early reports no usage
            self.unpriced(call).inc()
        speed = meta.get("output_tokens_per_second")
        if speed is not None:
            self.speed(call).observe(speed)
        gap = meta.get("chunk_gap_max_ms")
        if gap is not None:
            self.longest_gap(call).observe(gap / 1000)

    def _failed(self, event: ExecutionEvent) -> None:
        meta = event.metadata
        call = self._call(event)
        self.in_flight(call).dec()
        self.failed(call).inc()
        if event.duration_ms is not None:
            self.duration_error(call).observe(event.duration_ms / 1000)
        chunks = meta.get("chunks")
        if chunks:
            self.chunks(call).inc(chunks)
        self.errors((*call, meta.get("error_type") or "LLMError")).inc()
        if meta.get("status") == 429:
            self.ratelimit_hits(call).inc()

    def _first_token(self, event: ExecutionEvent) -> None:
        if event.duration_ms is not None:
            self.first_token(self._call(event)).observe(event.duration_ms / 1000)

    def _retried(self, event: ExecutionEvent) -> None:
        call = self._call(event)
        self.retries(call).inc()
        if event.metadata.get("status") == 429:
            self.ratelimit_hits(call).inc()

    def _waited(self, event: ExecutionEvent) -> None:
        call = self._call(event)
        self.waits(call).inc()
        waited = event.metadata.get("waited_ms")
        if waited is not None and waited >= 0:
            self.waited(call).inc(waited / 1000)

    def _fell_back(self, event: ExecutionEvent) -> None:
        self.fallbacks((*self._call(event), event.metadata.get("to_model") or "")).inc()

    def _circuit_changed(self, event: ExecutionEvent) -> None:
        provider = (event.metadata.get("provider") or event.node_id.removeprefix("provider."),)
        self.circuit(provider).set(_CIRCUIT_STATES[event.event_type])
        if event.event_type == "llm.circuit.open":
            self.circuit_opened(provider).inc()
