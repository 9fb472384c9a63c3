"""What one call tells the world: its execution events and its log lines.

:class:`CallReport` is made at the start of every call. It numbers the call, times it, builds
the events of ``docs/observability.md`` (only when someone listens: with no collector and no
exporter plugin, no event object is ever made) and writes the ``agentflow.requests`` log lines
(only at the levels that are enabled).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentflow._observe.events import ExecutionEvent
from agentflow._observe.logs import redact_fields, redact_handled_exceptions

if TYPE_CHECKING:
    from agentflow._observe.events import MetricsCollector
    from agentflow._runtime.runtime import Runtime
    from agentflow.errors import LLMError
    from agentflow.types import Message, ModelSettings, Request, Response, StreamChunk, Usage

__all__ = ["CallReport"]

logger = logging.getLogger("agentflow.requests")

_call_ids = itertools.count(1)


class CallReport:
    """The events and log lines of one call (one model; a fallback hop is a new call)."""

    __slots__ = ("_base", "_chunk_events", "_chunks", "_first_chunk_at", "_first_token_at",
                 "_last_chunk_at", "_longest_gap", "_runtime", "active", "call_id", "collectors",
                 "ended", "settings", "started")

    def __init__(self, runtime: Runtime, settings: ModelSettings,
                 collectors: Sequence[MetricsCollector], *, stream: bool) -> None:
        self._runtime = runtime
        self.settings = settings
        self.collectors = collectors
        self.active = runtime.has_event_listeners(collectors)
        self._chunk_events = self.active and stream and runtime.wants_chunk_events(collectors)
        self.call_id = f"call-{next(_call_ids)}"
        self.started = time.perf_counter()
        self._base: dict[str, Any] = {
            "call_id": self.call_id, "provider": settings.provider, "vendor": settings.vendor,
            "model": settings.name, "model_id": settings.model_id, "stream": stream}
        self._chunks = 0
        self._first_token_at: float | None = None
        self._first_chunk_at = self._last_chunk_at = self._longest_gap = 0.0
        #: Whether the call's one end event (complete, error or cancelled) has been told.
        self.ended = False

    # the call's life --------------------------------------------------------------------------

    def start(self, request: Request) -> None:
        """The call begins."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s: %s model %s (%s)%s", self.call_id, self.settings.provider,
                         self.settings.name, self.settings.model_id,
                         " streaming" if self._base["stream"] else "")
        if self.active:
            extra: dict[str, Any] = {}
            if self._runtime.include_text:
                extra["prompt"] = tuple(_shown(m) for m in request.messages)
            self._emit("llm.request.start", extra, timed=False)

    def answered(self, response: Response, *, status: int, attempts: int) -> None:
        """A non-streamed answer arrived and was parsed."""
        if self._end():
            return
        usage = response.usage
        self._log_end(response.finish_reason, usage)
        if self.active:
            extra = {"status": status, "finish_reason": response.finish_reason,
                     "response_model": response.model, "request_id": response.request_id,
                     "attempts": attempts,
                     "tool_calls": [call.name for call in response.tool_calls],
                     **self._usage(usage)}
            if self._runtime.include_text:
                extra["answer"] = response.text
            self._emit("llm.request.complete", extra)

    def failed(self, error: LLMError, *, partial_chars: int | None = None) -> None:
        """The call failed; ``error`` is what the caller gets (its exception chain is cleaned
        of keys here, the one place every failed call passes)."""
        redact_handled_exceptions(error)
        if self._end():
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s: failed after %.0f ms: %s: %s", self.call_id, self._elapsed_ms(),
                         type(error).__name__, error.message)
        if self.active:
            extra = {"error_type": type(error).__name__, "status": error.status_code,
                     "attempts": len(error.attempts) or 1, "retryable": bool(error.retryable),
                     "request_id": error.request_id}
            if partial_chars is not None:
                extra["partial_chars"] = partial_chars
                extra["chunks"] = self._chunks
            self._emit("llm.request.error", extra)

    def retrying(self, error: LLMError, *, attempt: int, reason: str, delay: float,
                 max_retries: int) -> None:
        """Attempt ``attempt`` failed with ``error``; another follows after ``delay`` s."""
        logger.info("%s: %s %s failed (%s); retry %d of %d in %.2f s", self.call_id,
                    self.settings.provider, self.settings.name, reason, attempt, max_retries,
                    delay)
        if self.active:
            self._emit("llm.retry", {"attempt": attempt, "reason": reason,
                                     "error_type": type(error).__name__,
                                     "status": error.status_code,
                                     "delay_ms": round(delay * 1000)}, timed=False)

    def waited(self, seconds: float, *, attempt: int) -> None:
        """The client-side rate limiter held attempt ``attempt`` back for ``seconds``."""
        if self.active:
            self._emit("llm.ratelimit.wait", {"waited_ms": round(seconds * 1000),
                                              "attempt": attempt}, timed=False)

    # streams ----------------------------------------------------------------------------------

    def stream_started(self, *, status: int, request_id: str | None, attempts: int) -> None:
        """The stream's headers arrived."""
        if self.active:
            self._emit("llm.stream.start", {"status": status, "request_id": request_id,
                                            "attempts": attempts})

    def chunk(self, chunk: StreamChunk) -> None:
        """A chunk is handed to the caller.

        With listeners, the gaps between chunks are summed up here (a clock read and a
        comparison) for the end event, so that exporters need no event per chunk."""
        self._chunks += 1
        if self.active:
            now = time.perf_counter()
            if self._chunks == 1:
                self._first_chunk_at = now
            elif now - self._last_chunk_at > self._longest_gap:
                self._longest_gap = now - self._last_chunk_at
            self._last_chunk_at = now
        if self._first_token_at is None and chunk.content:
            self._first_token_at = time.perf_counter()
            if self.active:
                self._emit("llm.stream.first_token", {})
        if self._chunk_events:
            self._emit("llm.stream.chunk", {"index": self._chunks, "chars": len(chunk.content),
                                            "is_final": chunk.is_final}, timed=False)

    def stream_finished(self, final: StreamChunk | None, *, text: str,
                        request_id: str | None, response_model: str | None) -> None:
        """The stream ended normally (``final`` set) or the caller stopped reading."""
        if self._end():
            return
        finish_reason = final.finish_reason if final is not None else "cancelled"
        usage = final.usage if final is not None else None
        self._log_end(finish_reason, usage)
        if not self.active:
            return
        ended = time.perf_counter()
        first = self._first_token_at
        speed = None
        if usage is not None and first is not None and ended > first and self._chunks > 1:
            speed = usage.completion_tokens / (ended - first)
        extra = {"finish_reason": finish_reason, "response_model": response_model,
                 "request_id": request_id, "chunks": self._chunks,
                 "time_to_first_token_ms": (None if first is None
                                            else (first - self.started) * 1000),
                 "output_tokens_per_second": speed,
                 **self._gaps(),
                 "tool_calls": [call.name for call in final.tool_calls] if final else [],
                 **self._usage(usage)}
        if self._runtime.include_text:
            extra["answer"] = text
        self._emit("llm.stream.complete", extra)

    def cancelled(self) -> None:
        """The call was cancelled (or interrupted) before it ended any other way: it ends as
        a success with ``finish_reason`` ``"cancelled"``, as a stream the caller left early
        does, so that whatever counts calls in flight counts this one out."""
        if self._base["stream"]:
            self.stream_finished(None, text="", request_id=None, response_model=None)
            return
        if self._end():
            return
        self._log_end("cancelled", None)
        if self.active:
            self._emit("llm.request.complete", {
                "status": None, "finish_reason": "cancelled", "response_model": None,
                "request_id": None, "attempts": None, "tool_calls": [], **self._usage(None)})

    # helpers ----------------------------------------------------------------------------------

    def _gaps(self) -> dict[str, float | None]:
        """The mean and the longest time between two chunks, in ms (``None`` below two)."""
        if self._chunks < 2:
            return {"chunk_gap_mean_ms": None, "chunk_gap_max_ms": None}
        mean = (self._last_chunk_at - self._first_chunk_at) / (self._chunks - 1)
        return {"chunk_gap_mean_ms": mean * 1000, "chunk_gap_max_ms": self._longest_gap * 1000}

    def _end(self) -> bool:
        """Mark the call ended; ``True`` if it had ended already (its end event was told)."""
        ended, self.ended = self.ended, True
        return ended

    def _usage(self, usage: Usage | None) -> dict[str, Any]:
        pricing = self.settings.pricing
        if usage is None:
            return {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None,
                    "cached_tokens": None, "reasoning_tokens": None, "cost_usd": None}
        return {"prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens, "cached_tokens": usage.cached_tokens,
                "reasoning_tokens": usage.reasoning_tokens,
                "cost_usd": pricing.cost(usage) if pricing is not None else None}

    def _emit(self, kind: str, extra: dict[str, Any], *, timed: bool = True) -> None:
        self._runtime.emit(ExecutionEvent(
            event_type=kind, node_id=f"llm.{self.settings.name}",
            duration_ms=self._elapsed_ms() if timed else None,
            metadata={**self._base, **redact_fields(extra)}), self.collectors)

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def _log_end(self, finish_reason: str | None, usage: Usage | None) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            tokens = (f", {usage.prompt_tokens} + {usage.completion_tokens} tokens"
                      if usage is not None else "")
            logger.debug("%s: answered in %.0f ms (%s%s)", self.call_id, self._elapsed_ms(),
                         finish_reason, tokens)


def _shown(message: Message) -> dict[str, Any]:
    """A message as ``include_text`` events show it: its text, and of images only their
    number (their bytes would swell every event)."""
    shown: dict[str, Any] = {"role": message.role, "content": message.text}
    if message.images:
        shown["images"] = len(message.images)
    if message.tool_calls:
        shown["tool_calls"] = [call.name for call in message.tool_calls]
    return shown
