"""One request's life: build, send (with retries), parse, report.

:class:`LLMClient` is what :meth:`LLMClientBuilder.build` returns. The vendor plugin is asked,
through the first-result hooks, to turn the provider-neutral :class:`~agentflow.types.Request`
into an ``httpx.Request`` and the vendor's answer back into ours; everything generic (pooling,
timeouts, retries, error mapping, events) happens here.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import anyio

from agentflow.errors import (
    HttpError,
    LLMError,
    LLMTimeoutError,
    ProviderError,
    RateLimitError,
    StreamingError,
    UnsupportedProviderError,
)
from agentflow.observability import ExecutionEvent
from agentflow.streaming import StreamingResponse
from agentflow.transport import map_transport_error, timeout_for
from agentflow.types import Request, Response, StreamChunk, StreamState

if TYPE_CHECKING:
    import httpx

    from agentflow.observability import MetricsCollector
    from agentflow.runtime import Runtime
    from agentflow.types import ModelSettings

__all__ = ["LLMClient", "RETRYABLE_STATUSES"]

#: Statuses worth another try: the request may succeed unchanged a moment later.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
#: The longest wait a Retry-After header may impose before we give up instead.
MAX_RETRY_AFTER_SECONDS = 60.0


class LLMClient:
    """Executes one prepared request against its provider."""

    def __init__(
        self,
        runtime: Runtime,
        settings: ModelSettings,
        request: Request,
        *,
        timeout: float | None = None,
        collectors: Sequence[MetricsCollector] = (),
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.request = request
        self.timeout = timeout
        self.collectors = tuple(collectors)
        self._node_id = f"llm.{settings.name}"

    # public ---------------------------------------------------------------------------------

    async def execute(self) -> str:
        """Send the request and return the answer's text."""
        return (await self.execute_response()).text

    async def execute_response(self) -> Response:
        """Send the request and return the whole :class:`~agentflow.types.Response`."""
        started = time.perf_counter()
        self._emit("llm.request.start", None, {})
        try:
            limit = self.timeout if self.timeout is not None else self.settings.timeout_seconds
            with anyio.fail_after(limit):
                response = await self._send(stream=False)
            result = self._parse(response)
        except TimeoutError as exc:
            error = exc if isinstance(exc, LLMError) else self._total_timeout(limit)
            self._emit_error(error, started)
            raise error from None
        except LLMError as exc:
            self._emit_error(exc, started)
            raise
        usage = result.usage
        self._emit("llm.request.complete", started, {
            "status": response.status_code,
            "finish_reason": result.finish_reason,
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
        })
        return result

    async def execute_streaming(self) -> StreamingResponse:
        """Send the request as a stream; returns once the answer has started."""
        started = time.perf_counter()
        self._emit("llm.request.start", None, {"stream": True})
        try:
            response = await self._send(stream=True)
        except LLMError as exc:
            self._emit_error(exc, started)
            raise
        state = StreamState(provider=self.settings.provider, model=self.settings.name,
                            request_id=_request_id(response))
        self._emit("llm.stream.start", started, {"status": response.status_code})
        return StreamingResponse(
            response=response,
            parse_event=self.runtime.host.hook.agentflow_parse_stream_event,
            provider=self.settings.vendor,
            state=state,
            map_error=self._stream_transport_error,
            on_chunk=self._chunk_observer(started),
            on_finish=lambda final, error: self._stream_finished(started, final, error),
        )

    # sending ----------------------------------------------------------------------------------

    def _build(self) -> httpx.Request:
        settings = self.settings
        http_request: httpx.Request | None = self.runtime.host.hook.agentflow_build_request(
            provider=settings.vendor, request=self.request, settings=settings)
        if http_request is None:
            raise UnsupportedProviderError(
                f"no installed plugin builds requests for vendor {settings.vendor!r}; install "
                f"agentflow-{settings.vendor} or check `agentflow plugins`",
                provider=settings.provider, model=settings.name)
        http_request.extensions["timeout"] = timeout_for(settings, self.timeout).as_dict()
        return http_request

    async def _send(self, *, stream: bool) -> httpx.Response:
        """Send, retrying what may succeed on a second try; return a 2xx response."""
        import httpx

        settings = self.settings
        client = self.runtime.pools.client_for(settings)
        http_request = self._build()
        failures: list[str] = []
        for attempt in range(1, settings.max_retries + 2):
            try:
                response = await client.send(http_request, stream=stream)
            except httpx.TransportError as exc:
                error = map_transport_error(exc, settings)
                failures.append(type(exc).__name__)
            else:
                if response.status_code < 400:
                    return response
                if stream:
                    await response.aread()
                    await response.aclose()
                error = self._http_error(response)
                failures.append(str(response.status_code))
                if response.status_code not in RETRYABLE_STATUSES or error.retryable is False:
                    raise _with_attempts(error, failures)
            delay = self._retry_delay(attempt, error)
            if attempt > settings.max_retries or delay is None:
                raise _with_attempts(error, failures)
            self._emit("llm.retry", None, {"attempt": attempt, "reason": failures[-1],
                                           "delay_ms": round(delay * 1000)})
            await anyio.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _retry_delay(self, attempt: int, error: LLMError) -> float | None:
        """Seconds to wait before the next attempt; ``None`` when the wait would be too long."""
        advised = getattr(error, "retry_after", None)
        if advised is not None:
            return advised if advised <= MAX_RETRY_AFTER_SECONDS else None
        base = self.settings.retry_delay_ms / 1000
        return random.uniform(0, min(base * 2 ** (attempt - 1), MAX_RETRY_AFTER_SECONDS))

    # answers and errors -----------------------------------------------------------------------

    def _parse(self, response: httpx.Response) -> Response:
        settings = self.settings
        try:
            result: Response | None = self.runtime.host.hook.agentflow_parse_response(
                provider=settings.vendor, response=response, request=self.request)
        except LLMError as exc:
            raise exc.with_context(provider=settings.provider, model=settings.name,
                                   request_id=_request_id(response)) from None
        except Exception as exc:
            raise ProviderError(
                f"the {settings.vendor} plugin could not read the answer: "
                f"{type(exc).__name__}: {exc}", provider=settings.provider,
                model=settings.name, request_id=_request_id(response)) from exc
        if result is None:
            raise UnsupportedProviderError(
                f"no installed plugin parses answers of vendor {settings.vendor!r}",
                provider=settings.provider, model=settings.name)
        return result

    def _http_error(self, response: httpx.Response) -> LLMError:
        settings = self.settings
        try:
            error: LLMError | None = self.runtime.host.hook.agentflow_map_error(
                provider=settings.vendor, response=response)
        except Exception:  # a plugin that cannot read an error body must not hide the status
            error = None
        if error is None:
            error = default_http_error(response, settings.provider)
        return error.with_context(provider=settings.provider, model=settings.name,
                                  request_id=_request_id(response),
                                  status_code=response.status_code)

    def _total_timeout(self, limit: float) -> LLMTimeoutError:
        return LLMTimeoutError(
            f"no complete answer from {self.settings.provider} within {limit:g} s (total "
            "timeout); raise timeout_seconds or pass .timeout() if the model is just slow",
            timeout_kind="total", provider=self.settings.provider, model=self.settings.name)

    def _stream_transport_error(self, exc: Exception) -> LLMError:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return map_transport_error(exc, self.settings)
        return StreamingError(
            f"the {self.settings.provider} stream broke off ({type(exc).__name__}: {exc}); "
            "the text received so far is kept in .partial_text",
            provider=self.settings.provider, model=self.settings.name)

    # events -------------------------------------------------------------------------------------

    def _emit(self, kind: str, started: float | None, metadata: dict[str, Any]) -> None:
        runtime = self.runtime
        if not runtime.has_event_listeners(self.collectors):
            return
        metadata.update(provider=self.settings.provider, model=self.settings.name)
        duration = None if started is None else (time.perf_counter() - started) * 1000
        runtime.emit(ExecutionEvent(event_type=kind, node_id=self._node_id,
                                    duration_ms=duration, metadata=metadata), self.collectors)

    def _emit_error(self, error: LLMError, started: float) -> None:
        self._emit("llm.request.error", started, {
            "error_type": type(error).__name__, "status": error.status_code})

    def _chunk_observer(self, started: float) -> Any:
        runtime, collectors = self.runtime, self.collectors
        if not runtime.has_event_listeners(collectors):
            return _ignore
        seen = 0

        def observe(chunk: StreamChunk) -> None:
            nonlocal seen
            seen += 1
            if seen == 1:
                self._emit("llm.stream.first_token", started, {})
            self._emit("llm.stream.chunk", None, {"index": seen, "is_final": chunk.is_final})

        return observe

    def _stream_finished(self, started: float, final: StreamChunk | None,
                         error: LLMError | None) -> None:
        if error is not None:
            self._emit_error(error, started)
            return
        usage = final.usage if final else None
        self._emit("llm.stream.complete", started, {
            "finish_reason": final.finish_reason if final else "cancelled",
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
        })


def _ignore(chunk: StreamChunk) -> None:
    return None


def _request_id(response: httpx.Response) -> str | None:
    headers = response.headers
    found: str | None = headers.get("x-request-id") or headers.get("request-id")
    return found


def _with_attempts(error: LLMError, failures: list[str]) -> LLMError:
    if len(failures) > 1:
        error.message = f"{error.message} [{len(failures)} attempts: {', '.join(failures)}]"
        error.args = (error.message,)
    error.attempts = tuple(failures)
    return error


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); ``None`` if absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def default_http_error(response: httpx.Response, provider: str) -> LLMError:
    """The error for a status no plugin mapped: the status, and an excerpt of the body."""
    status = response.status_code
    excerpt = response.text[:200].strip() or response.reason_phrase
    if status == 429:
        return RateLimitError(
            f"{provider} is rate limiting requests (429): {excerpt}",
            retry_after=parse_retry_after(response.headers.get("retry-after")))
    return HttpError(f"{provider} answered HTTP {status}: {excerpt}", status_code=status)
