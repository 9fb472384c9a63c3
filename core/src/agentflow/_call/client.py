"""One request's life: build, send (with retries), parse, report.

:class:`LLMClient` is what :meth:`LLMClientBuilder.build` returns. The vendor plugin is asked,
through the first-result hooks, to turn the provider-neutral :class:`~agentflow.types.Request`
into an ``httpx.Request`` and the vendor's answer back into ours; everything generic (pooling,
timeouts, retries, error mapping, events) happens here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import anyio

from agentflow._call.clock import Deadline, loop_clock
from agentflow._call.reporting import CallReport
from agentflow._call.retry import RETRYABLE_STATUSES, RetryPolicy
from agentflow._call.streaming import StreamingResponse
from agentflow._call.timeouts import TimeoutOverrides, Timeouts
from agentflow._http.body import BodyTooLargeError, read_body, with_body
from agentflow._http.errors import map_http_error
from agentflow._limits.admission import Admission
from agentflow._limits.rates import estimate_tokens
from agentflow.errors import (
    CircuitOpenError,
    HttpError,
    LLMError,
    LLMTimeoutError,
    ProviderError,
    RateLimitError,
    StreamingError,
    UnsupportedProviderError,
)
from agentflow.types import Request, Response, StreamChunk, StreamState
from agentflow.vendor import parse_retry_after

if TYPE_CHECKING:
    import httpx

    from agentflow._http.pool import Pool
    from agentflow._observe.events import MetricsCollector
    from agentflow._runtime.runtime import Runtime
    from agentflow.types import ModelSettings

__all__ = ["MAX_ANSWER_BYTES", "MAX_ERROR_BYTES", "RETRYABLE_STATUSES", "LLMClient"]

#: The largest non-streamed answer read into memory (decoded); a larger one is a ProviderError.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
#: How much of an error answer's body is read (decoded): enough for any vendor's error JSON.
MAX_ERROR_BYTES = 1024 * 1024


class LLMClient:
    """Executes one prepared request against its provider."""

    def __init__(
        self,
        runtime: Runtime,
        settings: ModelSettings,
        request: Request,
        *,
        timeout: float | TimeoutOverrides | None = None,
        collectors: Sequence[MetricsCollector] = (),
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.request = prepare_request(runtime, request, settings)
        overrides = timeout if isinstance(timeout, TimeoutOverrides) or timeout is None else (
            TimeoutOverrides(total=timeout))
        self.timeouts = Timeouts.resolve(settings, overrides)
        self.collectors = tuple(collectors)
        self._attempts = 0
        #: Whether the call is waiting in its rate limiters (a timeout then says so).
        self._queued = False

    # public ---------------------------------------------------------------------------------

    async def execute(self) -> str:
        """Send the request and return the answer's text."""
        return (await self.execute_response()).text

    async def execute_response(self) -> Response:
        """Send the request and return the whole :class:`~agentflow.types.Response`."""
        report = self._report(stream=False)
        limit = self.timeouts.total
        clock = loop_clock()
        deadline = clock() + limit
        with self._failures_reported(report, limit):
            with Deadline(deadline):
                response, admission = await self._send(report, stream=False, deadline=deadline,
                                                       clock=clock)
            try:
                result = self._parse(response)
                admission.settle(result.usage.total_tokens if result.usage else None)
            finally:
                await admission.aclose()
        report.answered(result, status=response.status_code, attempts=self._attempts)
        return result

    async def execute_streaming(self) -> StreamingResponse:
        """Send the request as a stream; returns once the answer has started."""
        report = self._report(stream=True)
        limit = self.timeouts.total
        clock = loop_clock()
        deadline = clock() + limit
        with self._failures_reported(report, limit), Deadline(deadline):
            response, admission = await self._send(report, stream=True, deadline=deadline,
                                                   clock=clock)
        state = StreamState(provider=self.settings.provider, model=self.settings.name,
                            request_id=_request_id(response), request=self.request)
        report.stream_started(status=response.status_code, request_id=state.request_id,
                              attempts=self._attempts)

        def finished(final: StreamChunk | None, error: LLMError | None) -> None:
            if final is not None and final.usage is not None:
                admission.settle(final.usage.total_tokens)
            if error is not None:
                report.failed(error, partial_chars=len(state.text))
            else:
                report.stream_finished(final, text=state.text, request_id=state.request_id,
                                       response_model=state.response_model)

        return StreamingResponse(
            response=response,
            parse_event=self.runtime.host.hook.agentflow_parse_stream_event,
            provider=self.settings.vendor,
            state=state,
            deadline=deadline,
            total_timeout=lambda: self._total_timeout(limit),
            map_error=self._stream_transport_error,
            on_chunk=report.chunk,
            on_finish=finished,
            on_close=admission.aclose,
            json_array=_stream_format(response) == "json",
            max_text=self.settings.max_stream_chars,
        )

    @contextmanager
    def _failures_reported(self, report: CallReport, limit: float) -> Iterator[None]:
        """Whatever ends the call inside, it ends with one end event: an error of ours as it
        is, the total time limit as an :class:`LLMTimeoutError`, a cancellation as cancelled."""
        try:
            yield
        except TimeoutError as exc:
            error = exc if isinstance(exc, LLMError) else self._total_timeout(limit)
            report.failed(error)
            raise error from None
        except LLMError as exc:
            report.failed(exc)
            raise
        except BaseException as exc:
            _ended_abruptly(report, exc)
            raise

    def _report(self, *, stream: bool) -> CallReport:
        report = CallReport(self.runtime, self.settings, self.collectors, stream=stream)
        report.start(self.request)
        return report

    # sending ----------------------------------------------------------------------------------

    def _build(self) -> httpx.Request:
        settings = self.settings
        http_request: httpx.Request | None = self.runtime.host.hook.agentflow_build_request(
            vendor=settings.vendor, request=self.request, settings=settings)
        if http_request is None:
            raise UnsupportedProviderError(
                f"no installed plugin builds requests for vendor {settings.vendor!r}; "
                "`agentflow plugins` lists the installed plugins and the vendors each "
                "registers (a plugin that registers a vendor must answer its hooks)",
                provider=settings.provider, model=settings.name)
        return http_request

    async def _send(self, report: CallReport, *, stream: bool, deadline: float,
                    clock: Callable[[], float]) -> tuple[httpx.Response, Admission]:
        """Send, retrying what may succeed on a second try; return a 2xx response (for a
        stream, with its body still to read) and the rate-limit admission it holds.

        Each attempt passes the provider's circuit breaker and rate limiters first; ``clock``
        is the loop's, which ``deadline`` is a time of.
        """
        settings = self.settings
        pool = self.runtime.pools.client_for(settings)
        breaker = self.runtime.limits.breaker(settings)
        limiters = self.runtime.limits.limiters(settings)
        tokens = self._estimated_tokens() if any(lim.tokens for lim in limiters) else 0
        policy = RetryPolicy.of(settings)
        http_request = self._build()
        failures: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            self._attempts = attempt
            try:
                hold = deadline - clock()  # the longest this attempt may last
                probe = await breaker.aenter(hold) if breaker is not None else None
            except CircuitOpenError as exc:
                failures.append("circuit open")
                raise _with_attempts(exc.with_context(model=settings.name), failures) from None
            self._queued = True
            try:
                admission = await Admission.acquire(limiters, tokens, ttl_seconds=hold)
            except BaseException:  # cancelled while queued: a probe gives its turn back
                if probe is not None:
                    await probe.aabandon()
                raise
            self._queued = False
            if admission.waited > 0:
                report.waited(admission.waited, attempt=attempt)
            limits = self.timeouts.for_attempt(deadline - clock(), stream=stream)
            http_request.extensions["timeout"] = limits.as_httpx()
            try:
                response, error = await self._attempt(pool, http_request, limits.read_kind,
                                                      stream=stream)
            except BaseException:  # cancelled: nothing stays held
                await admission.aclose()
                if probe is not None:
                    await probe.aabandon()
                raise
            if error is None:
                assert response is not None
                if probe is not None:
                    await probe.asuccess()
                return response, admission
            await admission.aclose()
            if probe is not None:
                if _provider_failed(error):
                    await probe.afailure(_reason(error))
                else:
                    await probe.asuccess()
            if isinstance(error, RateLimitError):
                pause = _pause(error, policy)
                for limiter in limiters:
                    await limiter.apenalize(pause)
            failures.append(_reason(error))
            delay = policy.delay(attempt, error) if policy.is_retryable(error) else None
            if delay is None or delay >= deadline - clock():
                raise _with_attempts(error, failures)
            report.retrying(error, attempt=attempt, reason=failures[-1], delay=delay,
                            max_retries=settings.max_retries)
            await anyio.sleep(delay)

    async def _attempt(self, pool: Pool, http_request: httpx.Request,
                       read_kind: str, *, stream: bool
                       ) -> tuple[httpx.Response | None, LLMError | None]:
        """One attempt: the 2xx response, or the error that ended it.

        Failures before the answer began (connection errors, timeouts waiting for the
        headers) are marked retryable; a body that breaks off is not.
        """
        import httpx

        try:
            response = await pool.send(http_request)
        except httpx.HTTPError as exc:
            error = map_http_error(exc, self.settings, read_kind=read_kind)
            error.retryable = True
            return None, error
        if 300 <= response.status_code < 400:
            await response.aclose()
            return None, self._redirect_error(response)
        if response.status_code >= 400:
            try:  # the vendor's words, as much of them as an error needs
                body = await read_body(response, MAX_ERROR_BYTES, truncate=True)
            except httpx.HTTPError:
                body = b""  # the status says enough
            finally:
                await response.aclose()
            return None, self._http_error(with_body(response, body))
        if stream and _stream_format(response) is None:
            return None, await self._not_a_stream(response)
        if not stream:
            try:
                return await self._read_answer(response), None
            except httpx.HTTPError as exc:
                return None, map_http_error(exc, self.settings, read_kind=read_kind)
            except LLMError as exc:
                return None, exc
            finally:
                await response.aclose()
        return response, None

    async def _read_answer(self, response: httpx.Response) -> httpx.Response:
        """The whole body of a non-streamed answer, refused past :data:`MAX_ANSWER_BYTES`
        (counted after decompression: a small gzip body may inflate to gigabytes)."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise self._too_large(response)
        try:
            content = await read_body(response, MAX_ANSWER_BYTES)
        except BodyTooLargeError:
            raise self._too_large(response) from None
        return with_body(response, content)

    def _redirect_error(self, response: httpx.Response) -> HttpError:
        """A 3xx: never followed (the key would go along), and never taken as the answer."""
        status, provider = response.status_code, self.settings.provider
        location = response.headers.get("location")
        host = response.request.url.join(location).host if location else ""
        target = f"to {host or repr(location)}" if location else "without saying where"
        return HttpError(
            f"{provider} answered HTTP {status} {response.reason_phrase}, a redirect {target}; "
            "agentflow does not follow redirects, so that the API key never goes elsewhere: "
            "set base_url to the address the API is served at", status_code=status,
            provider=provider, model=self.settings.name, request_id=_request_id(response),
            retryable=False)

    async def _not_a_stream(self, response: httpx.Response) -> StreamingError:
        """A 2xx answer to a stream request that is neither an event stream nor JSON (an HTML
        page of a captive portal or a proxy, plain text...): say what came."""
        import httpx

        try:
            head = await read_body(response, 512, truncate=True)
        except httpx.HTTPError:
            head = b""
        finally:
            await response.aclose()
        kind = response.headers.get("content-type", "no content type")
        shown = " ".join(head.decode("utf-8", "replace").split())[:120]
        return StreamingError(
            f"{self.settings.provider} answered the stream request with HTTP "
            f"{response.status_code} {kind} instead of an event stream (text/event-stream); "
            f"it starts: {shown!r}. Check base_url: a proxy or a login page may be answering",
            provider=self.settings.provider, model=self.settings.name,
            request_id=_request_id(response), retryable=False)

    def _estimated_tokens(self) -> int:
        return estimate_tokens(prompt_chars(self.request), self.request.max_tokens)

    def _too_large(self, response: httpx.Response) -> ProviderError:
        return ProviderError(
            f"{self.settings.provider} sent an answer larger than "
            f"{MAX_ANSWER_BYTES / 1024 ** 2:g} MiB (decoded); the rest was not read",
            provider=self.settings.provider, model=self.settings.name,
            request_id=_request_id(response), retryable=False)

    # answers and errors -----------------------------------------------------------------------

    def _parse(self, response: httpx.Response) -> Response:
        settings = self.settings
        try:
            result: Response | None = self.runtime.host.hook.agentflow_parse_response(
                vendor=settings.vendor, response=response, request=self.request)
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
                vendor=settings.vendor, response=response)
        except Exception:  # a plugin that cannot read an error body must not hide the status
            error = None
        if error is None:
            error = default_http_error(response, settings.provider)
        return error.with_context(provider=settings.provider, model=settings.name,
                                  request_id=_request_id(response),
                                  status_code=response.status_code)

    def _total_timeout(self, limit: float) -> LLMTimeoutError:
        if self._queued:
            provider = self.settings.provider
            return LLMTimeoutError(
                f"the call to {provider} was never sent: it waited {limit:g} s (total timeout) "
                f"in the client-side rate limits of {provider} or model {self.settings.name} "
                "(requests or tokens per minute, max_concurrent, or a pause the provider asked "
                "for with a 429); raise their limits, send fewer calls at once, or raise "
                "timeout_seconds", timeout_kind="total", provider=provider,
                model=self.settings.name)
        return LLMTimeoutError(
            f"no complete answer from {self.settings.provider} within {limit:g} s (total "
            "timeout); raise timeout_seconds or pass .timeout() if the model is just slow",
            timeout_kind="total", provider=self.settings.provider, model=self.settings.name)

    def _stream_transport_error(self, exc: Exception) -> LLMError:
        import httpx

        if isinstance(exc, httpx.HTTPError):
            limits = self.timeouts.for_attempt(0.0, stream=True)
            return map_http_error(exc, self.settings, read_kind=limits.read_kind,
                                  stream_body=True)
        return StreamingError(
            f"the {self.settings.provider} stream broke off ({type(exc).__name__}: {exc}); "
            "the text received so far is kept in .partial_text",
            provider=self.settings.provider, model=self.settings.name)

#: What an image counts for in a token estimate, in characters: about a thousand tokens, the
#: order of what vendors bill for a picture of ordinary size.
IMAGE_CHARS = 4000


def prompt_chars(request: Request) -> int:
    """The characters a request's prompt weighs for a token estimate: the messages' text, the
    tool calls and tool definitions sent with it, and :data:`IMAGE_CHARS` per image."""
    import json

    chars = 0
    for message in request.messages:
        chars += len(message.text) + IMAGE_CHARS * len(message.images)
        chars += sum(len(call.name) + len(call.raw_arguments) for call in message.tool_calls)
    if request.tools:
        chars += sum(len(tool.name) + len(tool.description)
                     + len(json.dumps(tool.parameters, separators=(",", ":")))
                     for tool in request.tools)
    if request.output_schema is not None:
        chars += len(json.dumps(request.output_schema.schema, separators=(",", ":")))
    return chars


def prepare_request(runtime: Runtime, request: Request, settings: ModelSettings) -> Request:
    """``request`` after every plugin's ``agentflow_prepare_request``, each handed the result
    of the one before (a guard's redaction, then another plugin's extra instructions...)."""
    return runtime.host.prepare_request(request, settings)


def _request_id(response: httpx.Response) -> str | None:
    headers = response.headers
    found: str | None = headers.get("x-request-id") or headers.get("request-id")
    return found


def _ended_abruptly(report: CallReport, exc: BaseException) -> None:
    """The call's end event when something other than an error of ours ended it: a
    cancellation (or an interrupt) ends it as cancelled, a bug as a failure naming it."""
    if isinstance(exc, Exception) and not isinstance(exc, anyio.get_cancelled_exc_class()):
        report.failed(LLMError(f"{type(exc).__name__}: {exc}"))
    else:
        report.cancelled()


def _pause(error: RateLimitError, policy: RetryPolicy) -> float:
    """How long a 429 pauses the provider's limiters: the advised wait (a second without
    advice), never longer than the retry policy's longest delay, so that one absurd
    Retry-After cannot stop every call to the provider for hours."""
    advised = error.retry_after if error.retry_after is not None else 1.0
    return min(advised, policy.max_delay)


def _stream_format(response: httpx.Response) -> str | None:
    """How a stream's body is framed: ``"sse"`` (server-sent events, also assumed when no
    content type is given), ``"json"`` (a JSON array of events, as Gemini sends without
    ``alt=sse``), or ``None``: not a stream at all."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("", "text/event-stream"):
        return "sse"
    if kind == "application/json" or kind.endswith("+json"):
        return "json"
    return None


def _provider_failed(error: LLMError) -> bool:
    """Whether ``error`` counts against the provider's circuit: it was unreachable, timed out
    or failed (5xx); a refusal of the request (4xx, 429 included) does not."""
    status = error.status_code
    if status is not None:
        return status >= 500
    return bool(error.retryable) or isinstance(error, LLMTimeoutError)


def _reason(error: LLMError) -> str:
    """A failed attempt in a word or two, for the final error's list of attempts."""
    if isinstance(error, LLMTimeoutError):
        return f"{error.timeout_kind or 'read'} timeout"
    if error.status_code is not None:
        return str(error.status_code)
    cause = error.__cause__ or error.__context__
    return type(cause).__name__ if cause is not None else type(error).__name__


def _with_attempts(error: LLMError, failures: list[str]) -> LLMError:
    if len(failures) > 1:
        error.message = f"{error.message} [{len(failures)} attempts: {', '.join(failures)}]"
        error.args = (error.message,)
    error.attempts = tuple(failures)
    return error


def default_http_error(response: httpx.Response, provider: str) -> LLMError:
    """The error for a status no plugin mapped: the status, and an excerpt of the body."""
    status = response.status_code
    excerpt = response.text[:200].strip() or response.reason_phrase
    if status == 429:
        return RateLimitError(
            f"{provider} is rate limiting requests (429): {excerpt}",
            retry_after=parse_retry_after(response.headers.get("retry-after")))
    return HttpError(f"{provider} answered HTTP {status}: {excerpt}", status_code=status)
