"""PrometheusExporter: agentflow's execution events as prometheus_client metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from agentflow.hookspecs import hookimpl

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from agentflow.config import Config
    from agentflow.observability import ExecutionEvent

__all__ = ["PrometheusExporter"]

_CALL = ("provider", "vendor", "model")
#: Seconds: a quick model answers in a fraction of one, a long generation takes minutes.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
SPEED_BUCKETS = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0)
_CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}
_ENDS = ("llm.request.complete", "llm.stream.complete", "llm.request.error")


class PrometheusExporter:
    """Records every agentflow call in Prometheus metrics (see the package README for the
    list). Register it as a plugin; installing agentflow-prometheus registers one on the
    default registry by itself.

    ``registry`` defaults to prometheus_client's global ``REGISTRY``, so an application that
    already serves ``/metrics`` shows agentflow's figures with its own.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY, *,
                 namespace: str = "agentflow") -> None:
        self.registry = registry
        self.enabled = True
        self._server: tuple[WSGIServer, threading.Thread] | None = None
        self._address: tuple[str, int] | None = None
        self._lock = threading.Lock()

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, namespace=namespace, registry=registry)

        def histogram(name: str, doc: str, buckets: tuple[float, ...], *labels: str) -> Histogram:
            return Histogram(name, doc, labels, namespace=namespace, registry=registry,
                             buckets=buckets)

        self.requests = counter("requests", "Calls that ended, by outcome (success, error).",
                                *_CALL, "outcome")
        self.in_flight = Gauge("requests_in_flight", "Calls started and not yet ended.", _CALL,
                               namespace=namespace, registry=registry)
        self.duration = histogram("request_duration_seconds", "Whole-call duration.",
                                  DURATION_BUCKETS, *_CALL, "outcome")
        self.first_token = histogram("time_to_first_token_seconds",
                                     "Streams: from the call's start to its first text.",
                                     FIRST_TOKEN_BUCKETS, *_CALL)
        self.speed = histogram("output_tokens_per_second",
                               "Streams: answer tokens per second after the first token.",
                               SPEED_BUCKETS, *_CALL)
        self.tokens = counter("tokens", "Tokens the vendors reported, by type (prompt, "
                              "completion, cached).", *_CALL, "type")
        self.cost = counter("cost_usd", "Cost of the calls whose model has a known price.",
                            *_CALL)
        self.unpriced = counter("unpriced_requests", "Answered calls whose model has no "
                                "known price (left out of cost_usd).", *_CALL)
        self.errors = counter("errors", "Failed calls by error class.", *_CALL, "error_type")
        self.retries = counter("retries", "Attempts that failed and were retried.", *_CALL)
        self.ratelimit_hits = counter("ratelimit_hits", "429 answers from the vendors.", *_CALL)
        self.waits = counter("ratelimit_waits", "Times the client-side rate limiter made a "
                             "call wait.", *_CALL)
        self.waited = counter("ratelimit_wait_seconds", "Time calls waited for the client-side "
                              "rate limiter.", *_CALL)
        self.fallbacks = counter("fallbacks", "Hops from a failed model to its next fallback.",
                                 "provider", "model", "to_model")
        self.chunks = counter("stream_chunks", "Stream chunks delivered to callers.", *_CALL)
        self.circuit = Gauge("circuit_state", "Circuit breaker of each provider: 0 closed, "
                             "1 half-open, 2 open.", ("provider",), namespace=namespace,
                             registry=registry)
        self.circuit_opened = counter("circuit_opened", "Times a provider's circuit opened.",
                                      "provider")
        self._handlers: Mapping[str, Callable[[ExecutionEvent], None]] = {
            "llm.request.start": self._started,
            "llm.request.complete": self._ended,
            "llm.stream.complete": self._ended,
            "llm.request.error": self._ended,
            "llm.stream.first_token": self._first_token,
            "llm.retry": self._retried,
            "llm.ratelimit.wait": self._waited,
            "llm.fallback": self._fell_back,
        }

    # hooks ------------------------------------------------------------------------------------

    @hookimpl
    def agentflow_record_event(self, event: ExecutionEvent) -> None:
        """Fold one event into the metrics (chunk events are not needed: the stream's end
        carries its chunk count)."""
        if not self.enabled:
            return
        handler = self._handlers.get(event.event_type)
        if handler is not None:
            handler(event)
        elif event.event_type.startswith("llm.circuit."):
            self._circuit(event)

    @hookimpl
    def agentflow_configure(self, config: Config) -> None:
        """Apply ``plugins.prometheus``: ``enabled``, ``http_port``, ``http_addr``."""
        from agentflow_prometheus._settings import PrometheusSettings

        settings = PrometheusSettings.parse(config.plugins.get("prometheus", {}))
        self.enabled = settings.enabled
        self.serve(settings.http_port if settings.enabled else None, settings.http_addr)

    # the /metrics endpoint ---------------------------------------------------------------------

    def serve(self, port: int | None, addr: str = "127.0.0.1") -> int | None:
        """Serve ``/metrics`` on ``addr:port`` (``port=0``: any free port), or stop serving
        with ``port=None``. Serving the same address again keeps the running server. Returns
        the port served."""
        from prometheus_client import start_http_server

        with self._lock:
            current = self._address
            keep = current is not None and port is not None and current[0] == addr and (
                port in (0, current[1]))
            if self._server is not None and not keep:
                server, thread = self._server
                server.shutdown()
                server.server_close()
                thread.join(timeout=5)
                self._server = self._address = None
            if port is not None and self._server is None:
                self._server = start_http_server(port, addr=addr, registry=self.registry)
                self._address = (addr, int(self._server[0].server_port))
            return None if self._server is None else int(self._server[0].server_port)

    def close(self) -> None:
        """Stop serving ``/metrics`` (if serving)."""
        self.serve(None)

    # events -------------------------------------------------------------------------------

    @staticmethod
    def _call(meta: Mapping[str, Any]) -> tuple[str, str, str]:
        return (str(meta.get("provider", "")), str(meta.get("vendor", "")),
                str(meta.get("model", "")))

    def _started(self, event: ExecutionEvent) -> None:
        self.in_flight.labels(*self._call(event.metadata)).inc()

    def _ended(self, event: ExecutionEvent) -> None:
        meta = event.metadata
        call = self._call(meta)
        failed = event.event_type == "llm.request.error"
        outcome = "error" if failed else "success"
        self.in_flight.labels(*call).dec()
        self.requests.labels(*call, outcome).inc()
        if event.duration_ms is not None:
            self.duration.labels(*call, outcome).observe(event.duration_ms / 1000)
        if meta.get("chunks"):
            self.chunks.labels(*call).inc(meta["chunks"])
        if failed:
            self.errors.labels(*call, str(meta.get("error_type") or "LLMError")).inc()
            if meta.get("status") == 429:
                self.ratelimit_hits.labels(*call).inc()
            return
        for key, kind in (("prompt_tokens", "prompt"), ("completion_tokens", "completion"),
                          ("cached_tokens", "cached")):
            value = meta.get(key)
            if value:
                self.tokens.labels(*call, kind).inc(value)
        cost = meta.get("cost_usd")
        if cost is not None:
            self.cost.labels(*call).inc(cost)
        elif meta.get("finish_reason") != "cancelled":
            self.unpriced.labels(*call).inc()
        speed = meta.get("output_tokens_per_second")
        if speed is not None:
            self.speed.labels(*call).observe(speed)

    def _first_token(self, event: ExecutionEvent) -> None:
        if event.duration_ms is not None:
            self.first_token.labels(*self._call(event.metadata)).observe(
                event.duration_ms / 1000)

    def _retried(self, event: ExecutionEvent) -> None:
        call = self._call(event.metadata)
        self.retries.labels(*call).inc()
        if event.metadata.get("status") == 429:
            self.ratelimit_hits.labels(*call).inc()

    def _waited(self, event: ExecutionEvent) -> None:
        call = self._call(event.metadata)
        self.waits.labels(*call).inc()
        self.waited.labels(*call).inc((event.metadata.get("waited_ms") or 0) / 1000)

    def _fell_back(self, event: ExecutionEvent) -> None:
        meta = event.metadata
        self.fallbacks.labels(str(meta.get("provider") or ""), str(meta.get("from_model", "")),
                              str(meta.get("to_model", ""))).inc()

    def _circuit(self, event: ExecutionEvent) -> None:
        state = event.event_type.removeprefix("llm.circuit.")
        provider = str(event.metadata.get("provider", ""))
        if state in _CIRCUIT_STATES:
            self.circuit.labels(provider).set(_CIRCUIT_STATES[state])
        if state == "open":
            self.circuit_opened.labels(provider).inc()
