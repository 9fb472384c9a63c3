"""The StreamingResponse users iterate over.

It reads the HTTP body as it arrives, decodes server-sent events with the core decoder
(:mod:`agentflow.sse`) and hands each event to the vendor plugin's
``agentflow_parse_stream_event`` hook. It stops after the chunk marked ``is_final``; a body that
ends, breaks or times out before that raises :class:`~agentflow.errors.StreamingError` (or
:class:`~agentflow.errors.LLMTimeoutError`) carrying the text received so far, but for a body that
ends cleanly after the plugin set ``StreamState.end_chunk`` (the finish reason arrived without
the vendor's usual last event): that chunk ends the stream.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from agentflow._call.clock import loop_clock
from agentflow._call.jsonarray import JSONArrayDecoder, NotAnArrayError
from agentflow._http.body import decoded_stream
from agentflow.errors import LLMError, ProviderError, StreamingError
from agentflow.sse import EventTooLargeError, SSEDecoder

if TYPE_CHECKING:
    import httpx

    from agentflow.types import StreamChunk, StreamState

__all__ = ["StreamingResponse"]

#: The most text one stream may accumulate (characters), unless the settings say otherwise.
MAX_STREAM_TEXT = 32 * 1024 * 1024

#: After the final event, how long and how much trailing body is read before closing.
_DRAIN_SECONDS = 1.0
_DRAIN_BYTES = 65536


class StreamingResponse:
    """An answer that arrives in pieces.

    Use it as an async iterator of :class:`~agentflow.types.StreamChunk`, or call
    :meth:`next_chunk` until it returns ``None``, or :meth:`collect_all` for the whole text.
    Leaving an ``async with stream:`` block (or calling :meth:`aclose`) releases the connection
    early; it is released by itself once the final chunk has arrived or an error was raised.
    """

    def __init__(
        self,
        *,
        response: httpx.Response,
        parse_event: Callable[..., list[StreamChunk] | None],
        provider: str,
        state: StreamState,
        deadline: float = math.inf,
        total_timeout: Callable[[], LLMError] | None = None,
        map_error: Callable[[Exception], LLMError],
        on_chunk: Callable[[StreamChunk], None],
        on_finish: Callable[[StreamChunk | None, LLMError | None], None],
        on_close: Callable[[], Awaitable[None]] | None = None,
        json_array: bool = False,
        max_text: int = MAX_STREAM_TEXT,
    ) -> None:
        self._response = response
        self._bytes = decoded_stream(response)
        self._decoder: SSEDecoder | JSONArrayDecoder = (
            JSONArrayDecoder() if json_array else SSEDecoder())
        self._max_text = max_text
        self._text_size = 0
        self._reading = False
        self._parse_event = parse_event
        self._provider = provider
        self._state = state
        self._deadline = deadline
        self._clock = loop_clock()
        self._total_timeout = total_timeout
        self._map_error = map_error
        self._on_chunk = on_chunk
        self._on_finish = on_finish
        self._on_close = on_close
        self._pending: deque[StreamChunk] = deque()
        self._finished = False
        self._final_arrived = False
        self._closed = False
        self.final_chunk: StreamChunk | None = None

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._state.text

    @property
    def request_id(self) -> str | None:
        """The vendor's request id, when it sent one."""
        return self._state.request_id

    def __aiter__(self) -> StreamingResponse:
        return self

    async def __anext__(self) -> StreamChunk:
        pending = self._pending
        while not pending:
            if self._finished:
                raise StopAsyncIteration
            if self._reading:
                raise StreamingError(
                    f"this {self._provider} stream is being read by another task already; read "
                    "a stream from one task (hand its chunks to others through a memory "
                    "channel if several need them)", provider=self._state.provider,
                    model=self._state.model)
            self._reading = True
            try:
                await self._read_more()
            finally:
                self._reading = False
        return pending.popleft()

    async def next_chunk(self) -> StreamChunk | None:
        """The next chunk, or ``None`` once the final chunk has been returned."""
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            return None

    async def collect_all(self) -> str:
        """Read the rest of the stream and return the whole answer text."""
        async for _ in self:
            pass
        return self._state.text

    async def aclose(self) -> None:
        """Stop reading and release the connection. Safe to call more than once.

        Closing a stream before its final chunk is not an error: it ends as cancelled.
        """
        if not self._finished:
            self._finished = True
            self._on_finish(None, None)
        if not self._closed:
            self._closed = True
            with anyio.CancelScope(shield=True):
                if self._on_close is not None:
                    await self._on_close()  # the rate limiter's slot, whatever happens below
                close_iterator = getattr(self._bytes, "aclose", None)
                if close_iterator is not None:
                    await close_iterator()
                await self._response.aclose()

    async def __aenter__(self) -> StreamingResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _read_more(self) -> None:
        try:
            data = await self._bytes.__anext__()
        except StopAsyncIteration:
            await self._ended()
        except anyio.get_cancelled_exc_class():
            await self.aclose()
            raise
        except LLMError as exc:
            await self._fail(exc)
        except Exception as exc:  # httpx transport errors, mapped to ours
            await self._fail(self._mapped(exc))
        else:
            try:
                for event in self._decoder.feed(data):
                    self._handle_event(event)
                    if self._finished:
                        break
            except LLMError as exc:
                if self._final_arrived:
                    await self._drain()
                await self._fail(exc)
            except EventTooLargeError as exc:
                await self._fail(StreamingError(
                    f"the {self._provider} stream sent {exc} without ending it; stopped reading "
                    "(the text received so far is kept in .partial_text)"))
            except NotAnArrayError as exc:
                await self._fail(StreamingError(
                    f"{self._provider} answered the stream with {self._what_came()} that is not "
                    f"an array of events; it starts: {_shown(exc.head)}"))
            if self._finished:
                await self._drain()
                await self.aclose()
            elif self._clock() > self._deadline:
                # The total is checked as data arrives (a cancel scope per read would cost more
                # than the rest of the read path); a silent stream meets httpx's read limit.
                assert self._total_timeout is not None
                await self._fail(self._total_timeout())

    async def _ended(self) -> None:
        """The body ended cleanly before the final chunk: complete if the plugin left the
        final chunk to end with (the finish reason arrived without ``[DONE]``), else cut."""
        end = self._state.end_chunk
        if end is None:
            await self._fail(StreamingError(self._ended_early()))
            return
        try:
            self._take([attrs.evolve(end, is_final=True)])
        except LLMError as exc:
            await self._fail(exc)
        await self.aclose()

    async def _drain(self) -> None:
        """Read what is left of the body after the final event (normally nothing but the end
        of the body), so the connection goes back to the pool and httpx's iterators finish."""
        with anyio.move_on_after(_DRAIN_SECONDS):
            left = _DRAIN_BYTES
            try:
                async for data in self._bytes:
                    left -= len(data)
                    if left < 0:
                        break
            except Exception:  # the answer is complete; a broken tail does not matter
                pass

    def _mapped(self, exc: Exception) -> LLMError:
        """``exc`` as ours; a mapping that fails itself must not leave the stream open."""
        try:
            return self._map_error(exc)
        except Exception as failure:
            error = StreamingError(
                f"the {self._provider} stream failed ({type(exc).__name__}: {exc})")
            error.__cause__ = failure
            return error

    def _handle_event(self, event: Any) -> None:
        state = self._state
        try:
            chunks = self._parse_event(vendor=self._provider, event=event, state=state)
        except LLMError:
            raise
        except Exception as exc:
            raise ProviderError(
                f"the {self._provider} plugin failed on a stream event: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if chunks is None:
            raise ProviderError(f"no installed plugin decodes {self._provider} stream events")
        self._take(chunks)

    def _take(self, chunks: list[StreamChunk]) -> None:
        """Hand ``chunks`` on, up to and including a final one."""
        state = self._state
        for chunk in chunks:
            if chunk.content:
                self._text_size += len(chunk.content)
                if self._text_size > self._max_text:
                    raise StreamingError(
                        f"the {self._provider} stream sent more than {self._max_text} characters "
                        "of text without finishing; stopped reading (raise "
                        "defaults.max_stream_chars if answers this long are expected; the text "
                        "received so far is kept in .partial_text)")
                state.text_parts.append(chunk.content)
            if chunk.is_final and state.tool_calls and not chunk.tool_calls:
                try:
                    calls = state.tool_calls.complete(self._provider)
                except LLMError:
                    self._final_arrived = True  # the body is complete: drain it, then fail
                    raise
                chunk = attrs.evolve(chunk, tool_calls=calls)
            self._pending.append(chunk)
            self._on_chunk(chunk)
            if chunk.is_final:
                self._finished = True
                self.final_chunk = chunk
                self._on_finish(chunk, None)
                return

    async def _fail(self, error: LLMError) -> None:
        state = self._state
        error.with_context(partial_text=state.text, request_id=state.request_id,
                           provider=state.provider, model=state.model)
        self._finished = True
        self._on_finish(None, error)
        await self.aclose()
        raise error

    def _cut_message(self, how: str) -> str:
        received = len(self._state.text)
        return (f"{how} before the {self._provider} stream was complete "
                f"({received} characters received, kept in .partial_text)")

    def _ended_early(self) -> str:
        """Why a body that ended cleanly before the final chunk is not an answer."""
        decoder = self._decoder
        if isinstance(decoder, JSONArrayDecoder) and not decoder.started:
            return (f"{self._provider} answered the stream with {self._what_came()} and no "
                    "JSON array in it")
        if isinstance(decoder, JSONArrayDecoder):
            return self._cut_message(
                f"the JSON array ({self._what_came()}) ended or broke off")
        return self._cut_message("the connection closed")

    def _what_came(self) -> str:
        response = self._response
        kind = response.headers.get("content-type", "no content type")
        return f"HTTP {response.status_code} {kind}"


def _shown(text: str) -> str:
    """The start of what a server sent, on one line, for an error message."""
    return repr(" ".join(text.split())[:120])
