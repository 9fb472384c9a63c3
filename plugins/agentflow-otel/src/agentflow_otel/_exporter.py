"""OTelExporter: agentflow's execution events as OpenTelemetry spans and metrics.

Names follow the OpenTelemetry semantic conventions for generative AI (the latest
experimental version, as ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` asks):
one CLIENT span ``chat {model}`` per call, ``gen_ai.*`` attributes, and the client metrics
``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` and
``gen_ai.client.operation.time_to_first_chunk``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentflow.hookspecs import hookimpl

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from agentflow.config import Config
    from agentflow.observability import ExecutionEvent

__all__ = ["MAX_OPEN_SPANS", "OTelExporter"]

logger = logging.getLogger("agentflow.otel")

#: Calls whose span is open at once; past it the oldest is ended as abandoned (a call whose
#: end event never came, say because its stream was dropped unread).
MAX_OPEN_SPANS = 10_000
#: The conventions' advised boundaries for gen_ai.client.operation.duration (seconds).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)
#: ... and for gen_ai.client.token.usage (tokens).
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)
#: The conventions' names for vendors whose name differs from agentflow's.
PROVIDER_NAMES = {"google": "gcp.gemini", "moonshot_cn": "moonshot"}
_SCOPE = "agentflow"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentflow-otel")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0"


class OTelExporter:
    """Turns agentflow's events into spans and metrics; register it as a plugin.

    ``tracer_provider`` and ``meter_provider`` default to the global ones that the application
    set up (with none set up, OpenTelemetry's API does nothing, cheaply).
    """

    def __init__(self, *, tracer_provider: TracerProvider | None = None,
                 meter_provider: MeterProvider | None = None) -> None:
        version = _version()
        self._tracer = trace.get_tracer(_SCOPE, version, tracer_provider)
        meter = metrics.get_meter(_SCOPE, version, meter_provider)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self._first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streamed answer.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.enabled = self.spans = self.metrics = True
        self.capture_text = False
        self.abandoned = 0
        self._open: OrderedDict[str, Span] = OrderedDict()
        self._lock = threading.Lock()
        self._handlers: Mapping[str, Callable[[ExecutionEvent], None]] = {
            "llm.request.start": self._started,
            "llm.request.complete": self._ended,
            "llm.stream.complete": self._ended,
            "llm.request.error": self._ended,
            "llm.stream.first_token": self._first_token,
            "llm.retry": self._span_event,
            "llm.ratelimit.wait": self._span_event,
            "llm.fallback": self._fell_back,
        }

    # hooks ------------------------------------------------------------------------------------

    @hookimpl
    def agentflow_record_event(self, event: ExecutionEvent) -> None:
        """Open a call's span at its start, annotate it, end it with the call."""
        if self.enabled:
            handler = self._handlers.get(event.event_type)
            if handler is not None:
                handler(event)

    @hookimpl
    def agentflow_configure(self, config: Config) -> None:
        """Apply ``plugins.otel``: ``enabled``, ``spans``, ``metrics``, ``capture_text``."""
        from agentflow_otel._settings import OTelSettings

        settings = OTelSettings.parse(config.plugins.get("otel", {}))
        self.enabled, self.spans = settings.enabled, settings.spans
        self.metrics, self.capture_text = settings.metrics, settings.capture_text

    # spans ------------------------------------------------------------------------------------

    def _started(self, event: ExecutionEvent) -> None:
        if not self.spans:
            return
        meta = event.metadata
        attributes = _call_attributes(meta)
        if self.capture_text and "prompt" in meta:
            attributes["gen_ai.input.messages"] = json.dumps(
                [{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
                 for m in meta["prompt"]], ensure_ascii=False)
        # The event is delivered in the caller's task: the current span is the caller's.
        span = self._tracer.start_span(
            f"chat {meta.get('model_id') or meta.get('model')}", kind=SpanKind.CLIENT,
            attributes=attributes, start_time=_nanos(event.timestamp))
        with self._lock:
            self._open[str(meta.get("call_id"))] = span
            excess = len(self._open) - MAX_OPEN_SPANS
            dropped = [self._open.popitem(last=False)[1] for _ in range(max(0, excess))]
        for old in dropped:
            self.abandoned += 1
            old.set_attribute("agentflow.abandoned", True)
            old.end()
        if dropped and self.abandoned == len(dropped):
            logger.warning("more than %d agentflow calls open at once: the oldest spans are "
                           "ended as abandoned (counted in OTelExporter.abandoned)",
                           MAX_OPEN_SPANS)

    def _ended(self, event: ExecutionEvent) -> None:
        meta = event.metadata
        failed = event.event_type == "llm.request.error"
        if self.metrics:
            self._record_metrics(event, failed)
        with self._lock:
            span = self._open.pop(str(meta.get("call_id")), None)
        if span is None:
            return
        finish = meta.get("finish_reason")
        attributes: dict[str, Any] = {
            "gen_ai.response.model": meta.get("response_model"),
            # the vendor's request id (a header), not always the completion's id: our own name
            "agentflow.request_id": meta.get("request_id"),
            "gen_ai.response.finish_reasons": [finish] if finish else None,
            "gen_ai.usage.input_tokens": meta.get("prompt_tokens"),
            "gen_ai.usage.output_tokens": meta.get("completion_tokens"),
            "http.response.status_code": meta.get("status"),
            "agentflow.attempts": meta.get("attempts"),
            "agentflow.cost_usd": meta.get("cost_usd"),
        }
        if self.capture_text and meta.get("answer") is not None:
            attributes["gen_ai.output.messages"] = json.dumps([{
                "role": "assistant", "finish_reason": finish or "",
                "parts": [{"type": "text", "content": meta["answer"]}]}], ensure_ascii=False)
        span.set_attributes({key: value for key, value in attributes.items()
                             if value is not None})
        if failed:
            error = str(meta.get("error_type") or "LLMError")
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=_nanos(event.timestamp))

    def _first_token(self, event: ExecutionEvent) -> None:
        if self.metrics and event.duration_ms is not None:
            self._first_chunk.record(event.duration_ms / 1000,
                                     _metric_attributes(event.metadata))
        self._span_event(event)

    def _span_event(self, event: ExecutionEvent) -> None:
        with self._lock:
            span = self._open.get(str(event.metadata.get("call_id")))
        if span is not None:
            details = {key: value for key, value in event.metadata.items()
                       if key in ("attempt", "reason", "error_type", "status", "delay_ms",
                                  "waited_ms") and value is not None}
            span.add_event(event.event_type, details, timestamp=_nanos(event.timestamp))

    def _fell_back(self, event: ExecutionEvent) -> None:
        # A hop happens between two calls, in the caller's task: its span is the current one.
        meta = event.metadata
        trace.get_current_span().add_event("llm.fallback", {
            key: str(meta[key]) for key in ("from_model", "to_model", "error_type")
            if meta.get(key) is not None}, timestamp=_nanos(event.timestamp))

    # metrics ----------------------------------------------------------------------------------

    def _record_metrics(self, event: ExecutionEvent, failed: bool) -> None:
        meta = event.metadata
        attributes = _metric_attributes(meta)
        if failed:
            attributes["error.type"] = str(meta.get("error_type") or "LLMError")
        if event.duration_ms is not None:
            self._duration.record(event.duration_ms / 1000, attributes)
        for key, kind in (("prompt_tokens", "input"), ("completion_tokens", "output")):
            value = meta.get(key)
            if value is not None:
                self._tokens.record(value, {**attributes, "gen_ai.token.type": kind})


def _nanos(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _call_attributes(meta: Mapping[str, Any]) -> dict[str, Any]:
    vendor = str(meta.get("vendor") or "")
    return {"gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER_NAMES.get(vendor, vendor),
            "gen_ai.request.model": str(meta.get("model_id") or meta.get("model") or ""),
            "agentflow.model": str(meta.get("model") or ""),
            "agentflow.provider": str(meta.get("provider") or ""),
            "agentflow.call_id": str(meta.get("call_id") or ""),
            "agentflow.stream": bool(meta.get("stream"))}


def _metric_attributes(meta: Mapping[str, Any]) -> dict[str, Any]:
    vendor = str(meta.get("vendor") or "")
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER_NAMES.get(vendor, vendor),
        "gen_ai.request.model": str(meta.get("model_id") or meta.get("model") or "")}
    if meta.get("response_model"):
        attributes["gen_ai.response.model"] = str(meta["response_model"])
    return attributes
