"""Execution events and the in-process metrics collector.

Every call emits :class:`ExecutionEvent` objects (see ``docs/observability.md`` for every
type and metadata key). They go to the collectors attached to the call (``with_metrics``), to
globally attached collectors, and to every plugin's ``agentflow_record_event`` hook. A
:class:`MetricsCollector` turns them into figures.

Event metadata never holds an API key, and holds prompt or answer text only when the user
turned that on.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["ExecutionEvent", "MetricsCollector"]

_event_ids = itertools.count(1)


@attrs.frozen(kw_only=True)
class ExecutionEvent:
    """One thing that happened while executing a request.

    ``node_id`` is ``llm.<model alias>``; ``timestamp`` is wall-clock seconds (``time.time()``);
    ``duration_ms`` is set on events that end something.
    """

    event_type: str
    node_id: str
    timestamp: float = attrs.field(factory=time.time)
    duration_ms: float | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    event_id: str = attrs.field(factory=lambda: f"evt-{next(_event_ids)}")


class Histogram:
    """Samples in bounded memory: log-spaced buckets, within 1% of the true value.

    Bucket ``i`` holds values in ``(g**(i-1), g**i]`` times :attr:`RESOLUTION`; a percentile
    reports the geometric middle of its bucket, clamped to the smallest and largest sample.
    Values at or below the resolution share bucket 0. At most about 1,600 buckets exist for
    samples between a microsecond and a day in milliseconds, however many samples there are.
    """

    GROWTH = 1.02
    RESOLUTION = 0.001
    __slots__ = ("buckets", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, value: float) -> None:
        """Record one sample."""
        index = (0 if value <= self.RESOLUTION
                 else math.ceil(math.log(value / self.RESOLUTION, self.GROWTH)))
        buckets = self.buckets
        buckets[index] = buckets.get(index, 0) + 1
        self.count += 1
        self.total += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value

    def percentile(self, fraction: float) -> float:
        """The sample at rank ``ceil(fraction * count)`` (nearest rank), approximately."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                middle: float = self.RESOLUTION * self.GROWTH ** (index - 0.5)
                return min(max(middle, self.minimum), self.maximum)
        return self.maximum  # pragma: no cover - ranks never exceed the count


class _Scope:
    """The figures of one scope: everything, one model, or one provider."""

    __slots__ = ("counters", "histograms")

    def __init__(self) -> None:
        self.counters: dict[str, float] = {}
        self.histograms: dict[str, Histogram] = {}

    def count(self, name: str, amount: float = 1) -> None:
        counters = self.counters
        counters[name] = counters.get(name, 0) + amount

    def observe(self, name: str, value: float) -> None:
        histogram = self.histograms.get(name)
        if histogram is None:
            histogram = self.histograms[name] = Histogram()
        histogram.add(value)

    def figures(self, prefix: str, into: dict[str, float]) -> None:
        counters = self.counters
        for name, value in counters.items():
            into[prefix + name] = value
        for name, histogram in self.histograms.items():
            into[f"{prefix}{name}.count"] = histogram.count
            into[f"{prefix}{name}.mean"] = histogram.total / histogram.count
            into[f"{prefix}{name}.max"] = histogram.maximum
            for label, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
                into[f"{prefix}{name}.{label}"] = histogram.percentile(fraction)
        ended = counters.get("requests.success", 0) + counters.get("requests.failure", 0)
        if ended:
            into[prefix + "requests.success_rate"] = counters.get("requests.success", 0) / ended
            into[prefix + "requests.failure_rate"] = counters.get("requests.failure", 0) / ended
        if "requests.total" in counters:
            into[prefix + "requests.in_flight"] = counters["requests.total"] - ended


_TOKEN_FIELDS = (("prompt_tokens", "tokens.prompt"), ("completion_tokens", "tokens.completion"),
                 ("total_tokens", "tokens.total"), ("cached_tokens", "tokens.cached"))


class MetricsCollector:
    """Aggregates execution events into figures; safe to share between tasks and threads.

    Attach one per call with ``.with_metrics(collector)`` or to every call with
    ``AgentFlow.attach_metrics(collector)``, then read :meth:`get_metrics_by_prefix`. Every
    figure exists for all calls (``llm.requests.total``), per model alias
    (``llm.model.gpt-4o.latency_ms.p95``) and per provider entry
    (``llm.provider.openai.errors.RateLimitError``); ``docs/observability.md`` lists them.
    Memory stays bounded however many events arrive.

    It counts stream chunks from ``llm.stream.complete``, so it does not ask for an event per
    chunk (:attr:`wants_chunk_events`).
    """

    #: Calls with only such collectors listening build no ``llm.stream.chunk`` events.
    wants_chunk_events = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all = _Scope()
        self._models: dict[str, _Scope] = {}
        self._providers: dict[str, _Scope] = {}
        self._routes: dict[tuple[str, str], tuple[_Scope, _Scope, _Scope]] = {}
        self._handlers: dict[str, Callable[[tuple[_Scope, ...], ExecutionEvent], None]] = {
            "llm.request.start": self._started,
            "llm.request.complete": self._answered,
            "llm.stream.complete": self._answered,
            "llm.request.error": self._failed,
            "llm.stream.first_token": self._first_token,
            "llm.retry": self._retried,
            "llm.ratelimit.wait": self._waited,
            "llm.fallback": self._fell_back,
        }

    # recording -------------------------------------------------------------------------------

    def record_event(self, event: ExecutionEvent) -> None:
        """Fold one event into the figures; events of unknown types are ignored."""
        kind = event.event_type
        handler = self._handlers.get(kind)
        with self._lock:
            if handler is not None:
                handler(self._scopes(event), event)
            elif kind == "llm.circuit.open":
                self._all.count("circuit.opened")
            elif kind == "llm.exporter.error":
                self._all.count(f"exporter.errors.{event.metadata.get('plugin', 'unknown')}")
            elif kind.startswith("agent."):
                self._agent(event)

    def _agent(self, event: ExecutionEvent) -> None:
        """``run_tools`` events: runs, steps, tool calls, tool failures and tool latency, for
        all calls and per model (an agent run has no single provider)."""
        meta = event.metadata
        model = str(meta.get("model", "unknown"))
        scopes = (self._all, self._models.get(model) or self._models.setdefault(model, _Scope()))
        kind = event.event_type
        for scope in scopes:
            if kind == "agent.step":
                scope.count("agent.steps")
            elif kind == "agent.tool":
                scope.count("agent.tool_calls")
                if meta.get("status") == "error":
                    scope.count("agent.tool_errors")
                if event.duration_ms is not None:
                    scope.observe("agent.tool_ms", event.duration_ms)
            elif kind == "agent.complete":
                scope.count("agent.runs")
                if meta.get("status") == "step_limit":
                    scope.count("agent.step_limits")

    def _scopes(self, event: ExecutionEvent) -> tuple[_Scope, _Scope, _Scope]:
        meta = event.metadata
        model = meta.get("model") or event.node_id.removeprefix("llm.")
        provider = meta.get("provider") or "unknown"
        route = self._routes.get((model, provider))
        if route is None:
            by_model = self._models.get(model) or self._models.setdefault(model, _Scope())
            by_provider = (self._providers.get(provider)
                           or self._providers.setdefault(provider, _Scope()))
            route = self._routes[(model, provider)] = (self._all, by_model, by_provider)
        return route

    @staticmethod
    def _started(scopes: tuple[_Scope, ...], event: ExecutionEvent) -> None:
        for scope in scopes:
            scope.count("requests.total")

    @staticmethod
    def _answered(scopes: tuple[_Scope, ...], event: ExecutionEvent) -> None:
        meta = event.metadata
        cost = meta.get("cost_usd")
        speed = meta.get("output_tokens_per_second")
        cancelled = meta.get("finish_reason") == "cancelled"
        chunks = meta.get("chunks")
        for scope in scopes:
            scope.count("requests.success")
            if chunks:
                scope.count("stream.chunks", chunks)
            if event.duration_ms is not None:
                scope.observe("latency_ms", event.duration_ms)
            for key, name in _TOKEN_FIELDS:
                value = meta.get(key)
                if value is not None:
                    scope.count(name, value)
            if cost is not None:
                scope.count("cost_usd", cost)
            elif not cancelled:
                scope.count("cost.unpriced_requests")
            if speed is not None:
                scope.observe("output_tokens_per_second", speed)

    @staticmethod
    def _failed(scopes: tuple[_Scope, ...], event: ExecutionEvent) -> None:
        meta = event.metadata
        error = f"errors.{meta.get('error_type') or 'LLMError'}"
        limited = meta.get("status") == 429
        chunks = meta.get("chunks")
        for scope in scopes:
            if chunks:
                scope.count("stream.chunks", chunks)
            scope.count("requests.failure")
            scope.count(error)
            if limited:
                scope.count("ratelimit.hits")
            if event.duration_ms is not None:
                scope.observe("latency_ms", event.duration_ms)

    @staticmethod
    def _first_token(scopes: tuple[_Scope, ...], event: ExecutionEvent) -> None:
        if event.duration_ms is None:
            return
        for scope in scopes:
            scope.observe("time_to_first_token_ms", event.duration_ms)

    @staticmethod
    def _retried(scopes: tuple[_Scope, ...], event: ExecutionEvent) -> None:
        limited = event.metadata.get("status") == 429
        for scope in scopes:
            scope.count("retries")
            if limited:
                scope.count("ratelimit.hits")

    @staticmethod
    def _waited(scopes: tuple[_Scope, ...], event: ExecutionEvent) -> None:
        waited = event.metadata.get("waited_ms") or 0
        for scope in scopes:
            scope.count("ratelimit.waits")
            scope.count("ratelimit.wait_ms", waited)

    @staticmethod
    def _fell_back(scopes: tuple[_Scope, ...], event: ExecutionEvent) -> None:
        for scope in scopes:
            scope.count("fallbacks")

    # reading ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, float]:
        """Every figure, flattened into one dict of name -> number, sorted by name."""
        figures: dict[str, float] = {}
        with self._lock:
            self._all.figures("llm.", figures)
            for model, scope in self._models.items():
                scope.figures(f"llm.model.{model}.", figures)
            for provider, scope in self._providers.items():
                scope.figures(f"llm.provider.{provider}.", figures)
        return dict(sorted(figures.items()))

    def get_metrics_by_prefix(self, prefix: str) -> dict[str, float]:
        """The figures whose names start with ``prefix`` (``"llm."`` gives all of them)."""
        return {name: value for name, value in self.snapshot().items()
                if name.startswith(prefix)}

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._all = _Scope()
            self._models.clear()
            self._providers.clear()
            self._routes.clear()
