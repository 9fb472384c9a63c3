"""OTelExporter: agentflow's execution events as OpenTelemetry spans and metrics.

One CLIENT span per call, opened at ``llm.request.start`` (keyed by ``call_id``) as a child of
the span current in the caller's task, and ended at the call's end event with the event's own
time; retries, rate-limit waits and the first token are span events on it. The client metrics
are recorded at the call's end (the time to the first chunk at the first token).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from agentflow.hookspecs import hookimpl
from agentflow_otel._semconv import (
    DURATION_BUCKETS,
    SCHEMA_URL,
    TOKEN_BUCKETS,
    end_attributes,
    error_type,
    metric_attributes,
    span_name,
    start_attributes,
)
from agentflow_otel._settings import OTelSettings, SettingProblem

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Link, Span, SpanContext, TracerProvider

    from agentflow import ExecutionEvent
    from agentflow.config import Config
    from agentflow.errors import ConfigurationError

__all__ = ["MAX_OPEN_SPANS", "InstalledExporter", "OTelExporter"]

logger = logging.getLogger("agentflow.otel")

#: Calls whose span is open at once; past it the oldest is ended as abandoned (a call whose
#: end event never came, say because its stream was dropped unread).
MAX_OPEN_SPANS = 10_000
SCOPE = "agentflow"
_SPAN_EVENT_KEYS = ("attempt", "reason", "error_type", "status", "delay_ms", "waited_ms")
_ENDS = ("llm.request.complete", "llm.stream.complete", "llm.request.error")

#: Exporters made in code: while one lives, the installed exporter records nothing.
_made_in_code: weakref.WeakSet[OTelExporter] = weakref.WeakSet()


@attrs.frozen
class _Hop:
    """A fallback hop seen in a task, waiting for the next model's call to start there."""

    to_model: str
    attributes: Mapping[str, Any]
    failed: SpanContext | None


class OTelExporter:
    """Turns agentflow's events into spans and metrics; register it as a plugin.

    ``AgentFlow.register_plugin(OTelExporter(tracer_provider=tp, meter_provider=mp))``.
    Installing agentflow-otel registers one of its own, :data:`agentflow_otel.EXPORTER`, which
    records nothing while an exporter made in code exists, so no call is recorded twice.

    :param tracer_provider: where spans go; default: the global one the application set up
        (with none set up, OpenTelemetry's API does nothing, cheaply).
    :param meter_provider: where metrics go; default: the global one.
    :param spans: record spans.
    :param metrics: record metrics.
    :param capture_text: put prompts and answers into spans (``gen_ai.input.messages``,
        ``gen_ai.output.messages``) when events carry them, that is with the core's
        ``observability.include_text`` on.
    :param config_key: follow ``plugins.<config_key>`` of the active configuration instead
        (see :meth:`agentflow_configure`); default ``None``: configured in code only.

    OpenTelemetry is imported at the first event, not before.
    """

    _installed: ClassVar[bool] = False

    def __init__(self, *, tracer_provider: TracerProvider | None = None,
                 meter_provider: MeterProvider | None = None, spans: bool = True,
                 metrics: bool = True, capture_text: bool = False,
                 config_key: str | None = None) -> None:
        self._providers = (tracer_provider, meter_provider)
        #: What is recorded: ``enabled``, ``spans``, ``metrics``, ``capture_text``.
        self.settings = OTelSettings(spans=spans, metrics=metrics, capture_text=capture_text)
        self._config_key = config_key
        #: Spans ended unfinished because more than :data:`MAX_OPEN_SPANS` calls were open.
        self.abandoned = 0
        self._otel: _Otel | None = None
        self._open: OrderedDict[str, Span] = OrderedDict()
        self._lock = threading.Lock()
        # Per task (contextvars): the last failed call, and a fallback hop away from it.
        self._failed: ContextVar[tuple[str, SpanContext] | None] = ContextVar(
            f"agentflow_otel_failed_{id(self)}", default=None)
        self._hop: ContextVar[_Hop | None] = ContextVar(f"agentflow_otel_hop_{id(self)}",
                                                         default=None)
        if not self._installed:
            _made_in_code.add(self)

    @property
    def recording(self) -> bool:
        """Whether events are recorded (false when disabled)."""
        return self.settings.enabled

    def _active(self) -> bool:
        return self.recording

    # hooks ------------------------------------------------------------------------------------

    @hookimpl
    def agentflow_record_event(self, event: ExecutionEvent) -> None:
        """Open a call's span at its start, annotate it, end it with the call; record the
        metrics. Events of other types are ignored."""
        handler = _HANDLERS.get(event.event_type)
        if handler is not None and self._active():
            handler(self, event)

    @hookimpl
    def agentflow_configure(self, config: Config) -> None:
        """Apply ``plugins.<config_key>`` (``enabled``, ``spans``, ``metrics``,
        ``capture_text``); nothing for an exporter without a ``config_key``.

        :raises ConfigurationError: naming ``plugins.<config_key>.<key>``, located in the file.
        """
        if self._config_key is None:
            return
        try:
            self.settings = OTelSettings.parse(config.plugins.get(self._config_key))
        except SettingProblem as problem:
            path = ("plugins", self._config_key, *([problem.key] if problem.key else []))
            raise config.setting_error(path, problem.message, anchor=problem.anchor) from None

    @hookimpl
    def agentflow_check_settings(self, config: Config) -> list[ConfigurationError]:
        """The located error ``agentflow_configure`` would raise, without applying anything."""
        if self._config_key is None:
            return []
        try:
            OTelSettings.parse(config.plugins.get(self._config_key))
        except SettingProblem as problem:
            path = ("plugins", self._config_key, *([problem.key] if problem.key else []))
            return [config.setting_error(path, problem.message, anchor=problem.anchor)]
        return []

    # spans ------------------------------------------------------------------------------------

    def _started(self, event: ExecutionEvent) -> None:
        hop = self._hop.get()
        if hop is not None:
            self._hop.set(None)
        if not self.settings.spans:
            return
        otel = self._instruments()
        meta = event.metadata
        attributes = start_attributes(meta, capture_text=self.settings.capture_text)
        links: list[Link] = []
        if hop is not None and hop.to_model == meta.get("model"):
            attributes.update(hop.attributes)
            if hop.failed is not None:
                links.append(otel.link(hop.failed))
        # The event is delivered in the caller's task: the current context is the caller's,
        # and the span becomes a child of its current span. Nothing is attached to it.
        span = otel.tracer.start_span(span_name(meta), kind=otel.client, attributes=attributes,
                                      links=links, start_time=_nanos(event.timestamp))
        call_id = str(meta.get("call_id"))
        with self._lock:
            same = self._open.pop(call_id, None)  # a start seen twice: end the first one
            dropped = [] if same is None else [same]
            self._open[call_id] = span
            while len(self._open) > MAX_OPEN_SPANS:
                dropped.append(self._open.popitem(last=False)[1])
            first = self.abandoned == 0
            self.abandoned += len(dropped)
        for old in dropped:
            old.set_attribute("agentflow.abandoned", True)
            old.end()
        if dropped and first:
            logger.warning("more than %d agentflow calls open at once: the oldest spans are "
                           "ended as abandoned (counted in OTelExporter.abandoned)",
                           MAX_OPEN_SPANS)

    def _ended(self, event: ExecutionEvent) -> None:
        meta = event.metadata
        failed = event.event_type == "llm.request.error"
        if self.settings.metrics:
            self._record_metrics(event, failed)
        with self._lock:
            span = self._open.pop(str(meta.get("call_id")), None)
        if span is None:
            return
        otel = self._instruments()
        span.set_attributes(end_attributes(event.event_type, meta,
                                           capture_text=self.settings.capture_text))
        if failed:
            span.set_status(otel.status(otel.error, error_type(meta)))
            self._failed.set((str(meta.get("model")), span.get_span_context()))
        span.end(end_time=_nanos(event.timestamp))

    def _first_token(self, event: ExecutionEvent) -> None:
        if self.settings.metrics and event.duration_ms is not None:
            self._instruments().first_chunk.record(event.duration_ms / 1000,
                                                   metric_attributes(event.metadata))
        self._span_event(event)

    def _span_event(self, event: ExecutionEvent) -> None:
        with self._lock:
            span = self._open.get(str(event.metadata.get("call_id")))
        if span is not None:
            details = {key: event.metadata[key] for key in _SPAN_EVENT_KEYS
                       if event.metadata.get(key) is not None}
            span.add_event(event.event_type, details, timestamp=_nanos(event.timestamp))

    def _fell_back(self, event: ExecutionEvent) -> None:
        # A hop happens between two calls, in the caller's task: an event on the caller's
        # current span, and, on the next model's span, where it came from and a link to the
        # failed call's span.
        if not self.settings.spans:
            return
        otel = self._instruments()
        meta = event.metadata
        details = {f"agentflow.fallback.{key}": meta[key]
                   for key in ("from_model", "to_model", "error_type", "status")
                   if meta.get(key) is not None}
        current = otel.current_span()
        if current.is_recording():
            current.add_event("llm.fallback", details, timestamp=_nanos(event.timestamp))
        failed = self._failed.get()
        if failed is not None and failed[0] != meta.get("from_model"):
            failed = None
        # the next span is the to_model's own: it needs to know where it came from
        origin = {key: value for key, value in details.items()
                  if key != "agentflow.fallback.to_model"}
        self._hop.set(_Hop(to_model=str(meta.get("to_model")), attributes=origin,
                           failed=failed[1] if failed is not None else None))

    # metrics ----------------------------------------------------------------------------------

    def _record_metrics(self, event: ExecutionEvent, failed: bool) -> None:
        otel = self._instruments()
        meta = event.metadata
        attributes = metric_attributes(meta)
        if failed:
            attributes["error.type"] = error_type(meta)
        if event.duration_ms is not None:
            otel.duration.record(event.duration_ms / 1000, attributes)
        for key, kind in (("prompt_tokens", "input"), ("completion_tokens", "output")):
            value = meta.get(key)
            if value is not None:  # unknown counts are not recorded as zero
                otel.tokens.record(value, {**attributes, "gen_ai.token.type": kind})

    def _instruments(self) -> _Otel:
        otel = self._otel
        if otel is None:
            with self._lock:
                if self._otel is None:
                    self._otel = _Otel(*self._providers)
                otel = self._otel
        return otel


# Functions, not bound methods: an exporter must hold no reference to itself, so that one
# dropped is freed at once (and the installed exporter records again).
_HANDLERS: Mapping[str, Callable[[OTelExporter, ExecutionEvent], None]] = {
    "llm.request.start": OTelExporter._started,
    **dict.fromkeys(_ENDS, OTelExporter._ended),
    "llm.stream.first_token": OTelExporter._first_token,
    "llm.retry": OTelExporter._span_event,
    "llm.ratelimit.wait": OTelExporter._span_event,
    "llm.fallback": OTelExporter._fell_back,
}


class InstalledExporter(OTelExporter):
    """The exporter the entry point registers: the global providers, configured by
    ``plugins.otel``, giving way to any exporter made in code."""

    _installed = True

    def __init__(self) -> None:
        super().__init__(config_key="otel")
        self._gave_way = False

    @property
    def recording(self) -> bool:
        """Whether events are recorded (false when disabled, or given way)."""
        return self.settings.enabled and not _made_in_code

    def _active(self) -> bool:
        if self.settings.enabled and _made_in_code and not self._gave_way:
            self._gave_way = True
            logger.info("the installed agentflow-otel exporter gives way to the OTelExporter "
                        "made in code, so that no call is recorded twice")
        return self.recording and _providers_may_be_set()


#: The variables through which the OpenTelemetry API makes its global providers itself.
_PROVIDER_VARIABLES = ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER")


def _providers_may_be_set() -> bool:
    """Whether the global providers can be anything but the API's own, which record nothing:
    an application sets them up through the ``opentelemetry`` package (so it is imported), or
    names them in the API's variables. When neither is so, the installed exporter records
    nothing, and need not import OpenTelemetry (about 20 ms of a process's first request);
    it starts recording once the application sets providers up, as the API's proxies do."""
    return "opentelemetry" in sys.modules or any(
        os.environ.get(name) for name in _PROVIDER_VARIABLES)


class _Otel:
    """The tracer, the instruments and the few API names used, made at the first event."""

    def __init__(self, tracer_provider: TracerProvider | None,
                 meter_provider: MeterProvider | None) -> None:
        from opentelemetry import metrics, trace

        version = _version()
        self.tracer = trace.get_tracer(SCOPE, version, tracer_provider, schema_url=SCHEMA_URL)
        meter = metrics.get_meter(SCOPE, version, meter_provider, schema_url=SCHEMA_URL)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk, from when the client issues the "
                        "generation request.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.client, self.link = trace.SpanKind.CLIENT, trace.Link
        self.status, self.error = trace.Status, trace.StatusCode.ERROR
        self.current_span = trace.get_current_span


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentflow-otel")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0"


def _nanos(seconds: float) -> int:
    return round(seconds * 1_000_000_000)
