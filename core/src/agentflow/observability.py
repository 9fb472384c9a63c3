"""Execution events and the in-process metrics collector.

Every request emits :class:`ExecutionEvent` objects (``llm.request.start``,
``llm.request.complete``, ``llm.request.error``, ``llm.stream.start``, ``llm.stream.chunk``,
``llm.stream.complete``, ``llm.retry``). They go to the collectors attached to the call
(``with_metrics``), to globally attached collectors, and to every plugin's
``agentflow_record_event`` hook. A :class:`MetricsCollector` turns them into figures.

Event metadata never holds an API key, and holds no prompt or answer text.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Mapping
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


class _Histogram:
    """Latency samples in bounded memory: log-spaced buckets, about 2% relative accuracy."""

    _GROWTH = 1.04
    __slots__ = ("buckets", "count", "maximum", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0

    def add(self, value: float) -> None:
        index = 0 if value <= 0.001 else math.ceil(math.log(value / 0.001, self._GROWTH))
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.total += value
        self.maximum = max(self.maximum, value)

    def percentile(self, fraction: float) -> float:
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(0.001 * self._GROWTH**index, self.maximum)
        return self.maximum  # pragma: no cover - ranks never exceed the count


class MetricsCollector:
    """Aggregates execution events into figures; safe to share between tasks and threads.

    Attach one per call with ``.with_metrics(collector)`` or to every call with
    ``AgentFlow.attach_metrics(collector)``, then read :meth:`get_metrics_by_prefix`
    (``"llm."`` gives everything agentflow records). Names look like
    ``llm.requests.total``, ``llm.gpt-4o.latency_ms.p95`` or ``llm.errors.HttpError``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, float] = {}
        self._histograms: dict[str, _Histogram] = {}
        self._events = 0

    def record_event(self, event: ExecutionEvent) -> None:
        """Fold one event into the figures."""
        model = event.node_id.removeprefix("llm.")
        meta = event.metadata
        with self._lock:
            self._events += 1
            kind = event.event_type
            if kind == "llm.request.start":
                self._count("llm.requests.total", f"llm.{model}.requests")
            elif kind in ("llm.request.complete", "llm.stream.complete"):
                self._count("llm.requests.success", f"llm.{model}.success")
                self._observe("llm.latency_ms", f"llm.{model}.latency_ms", event.duration_ms)
                for field in ("prompt_tokens", "completion_tokens"):
                    value = meta.get(field)
                    if value:
                        self._count(f"llm.tokens.{field}", f"llm.{model}.tokens.{field}",
                                    amount=value)
            elif kind == "llm.request.error":
                error = meta.get("error_type", "LLMError")
                self._count("llm.requests.failure", f"llm.{model}.failure",
                            f"llm.errors.{error}")
                self._observe("llm.latency_ms", f"llm.{model}.latency_ms", event.duration_ms)
            elif kind == "llm.stream.first_token":
                self._observe("llm.time_to_first_token_ms",
                              f"llm.{model}.time_to_first_token_ms", event.duration_ms)
            elif kind == "llm.retry":
                self._count("llm.retries", f"llm.{model}.retries")

    def _count(self, *names: str, amount: float = 1) -> None:
        for name in names:
            self._counters[name] = self._counters.get(name, 0) + amount

    def _observe(self, *names_and_value: Any) -> None:
        *names, value = names_and_value
        if value is None:
            return
        for name in names:
            self._histograms.setdefault(name, _Histogram()).add(float(value))

    def snapshot(self) -> dict[str, float]:
        """Every figure, flattened into one dict of name -> number."""
        with self._lock:
            figures = dict(self._counters)
            for name, histogram in self._histograms.items():
                figures[f"{name}.count"] = histogram.count
                figures[f"{name}.mean"] = histogram.total / histogram.count
                figures[f"{name}.max"] = histogram.maximum
                for label, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
                    figures[f"{name}.{label}"] = histogram.percentile(fraction)
        total = figures.get("llm.requests.total", 0)
        if total:
            figures["llm.requests.success_rate"] = figures.get("llm.requests.success", 0) / total
        return dict(sorted(figures.items()))

    def get_metrics_by_prefix(self, prefix: str) -> dict[str, float]:
        """The figures whose names start with ``prefix``."""
        return {name: value for name, value in self.snapshot().items()
                if name.startswith(prefix)}

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._counters.clear()
            self._histograms.clear()
            self._events = 0
