"""Reading an answer's body with its size counted after decoding.

A server states a body's size in ``Content-Length`` before compression: a few KiB of gzip can
inflate to gigabytes. Every body agentflow reads (answers, error bodies, streams, health checks)
goes through :class:`DecodedBody`, which decompresses gzip and deflate itself, at most
:data:`PIECE` bytes at a time, and counts what comes out, so that a limit holds for what is
held in memory, not for what was sent.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = ["PIECE", "BodyTooLargeError", "DecodedBody", "decoded_stream", "read_body"]

#: The most decoded bytes one step of decompression produces.
PIECE = 64 * 1024


class BodyTooLargeError(Exception):
    """A body grew past its limit; ``head`` holds its first ``limit`` bytes."""

    def __init__(self, limit: int, head: bytes) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit
        self.head = head


class DecodedBody:
    """The decoded bytes of ``response``'s body as they arrive, in pieces of at most
    :data:`PIECE` bytes; ``size`` counts them. Call :meth:`aclose` when done.

    It reads the transport's byte stream itself (not ``response.aiter_bytes()``), so closing
    it closes that stream at once rather than leaving an iterator to the garbage collector.
    A body whose bytes do not match its ``Content-Encoding`` raises ``httpx.DecodingError``.
    """

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._raw: AsyncIterator[bytes] = response.stream.__aiter__()  # type: ignore[union-attr]
        coding = response.headers.get("content-encoding", "identity").strip().lower()
        self._decoder = _decoder(coding)
        self._leftover = b""
        self._done = False
        self.size = 0

    def __aiter__(self) -> DecodedBody:
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._decoder is None:
                if self._done:
                    raise StopAsyncIteration
                try:
                    data = await self._raw.__anext__()
                except StopAsyncIteration:
                    self._done = True
                    raise
            else:
                data = await self._decode_more()
            if data:
                self.size += len(data)
                return data

    async def _decode_more(self) -> bytes:
        import httpx

        decoder = self._decoder
        assert decoder is not None
        try:
            if self._leftover:
                data, self._leftover = self._leftover, b""
                out: bytes = decoder.decompress(data, PIECE)
                self._leftover = decoder.unconsumed_tail
                return out
            if self._done:
                raise StopAsyncIteration
            try:
                raw = await self._raw.__anext__()
            except StopAsyncIteration:
                self._done = True
                tail: bytes = decoder.flush()
                if not decoder.eof and not tail:
                    raise httpx.DecodingError("the compressed body ended early") from None
                return tail
            out = decoder.decompress(raw, PIECE)
            self._leftover = decoder.unconsumed_tail
            return out
        except zlib.error as exc:
            raise httpx.DecodingError(f"{exc}") from exc

    async def aclose(self) -> None:
        """Close the transport's stream (the response itself stays the caller's to close)."""
        close = getattr(self._raw, "aclose", None)
        if close is not None:
            await close()


def decoded_stream(response: httpx.Response) -> AsyncIterator[bytes]:
    """The decoded bytes of ``response``'s body as they arrive, never more than :data:`PIECE`
    at a time (a gzip bomb inflates piece by piece): the transport's own stream when the body
    is not encoded, as event streams are sent, so a stream's every read passes through nothing
    of ours; a :class:`DecodedBody` otherwise. Either reads the transport's stream itself, so
    closing the iterator closes it at once, which ``aiter_bytes()`` does not (its inner
    iterator is left to the garbage collector, which trio reports as a leak)."""
    coding = response.headers.get("content-encoding", "identity")
    if _decoder(coding.strip().lower()) is None:
        return response.stream.__aiter__()  # type: ignore[union-attr]
    return DecodedBody(response)


def _decoder(coding: str) -> Any:
    """A zlib decompressor for ``coding``, ``None`` for identity. Codings httpx cannot decode
    either (``br`` without brotli installed, ...) are passed through as httpx does."""
    if coding == "gzip" or coding == "x-gzip":
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return _Deflate()
    return None


class _Deflate:
    """``deflate`` as servers send it: zlib-wrapped, or (wrongly, but often) raw."""

    def __init__(self) -> None:
        self._inner = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes, limit: int) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._inner.decompress(data, limit)
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inner.decompress(data, limit)

    def flush(self) -> bytes:
        return self._inner.flush()

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail

    @property
    def eof(self) -> bool:
        return self._inner.eof


async def read_body(response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
    """The whole decoded body of ``response`` (opened with ``stream=True``), at most ``limit``
    bytes of it: past that, :class:`BodyTooLargeError`, or with ``truncate`` its first
    ``limit`` bytes. The body is not read further."""
    body = DecodedBody(response)
    parts: list[bytes] = []
    size = 0
    try:
        async for part in body:
            if size + len(part) > limit:
                head = b"".join(parts) + part[:limit - size]
                if truncate:
                    return head
                raise BodyTooLargeError(limit, head)
            size += len(part)
            parts.append(part)
    finally:
        await body.aclose()
    return b"".join(parts)


def with_body(response: httpx.Response, content: bytes) -> httpx.Response:
    """A copy of ``response`` holding ``content``, its decoded body (without the headers that
    described the encoded one), for the plugin hooks that read answers."""
    import httpx

    headers = [(name, value) for name, value in response.headers.multi_items()
               if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return httpx.Response(response.status_code, headers=headers, content=content,
                          request=response.request, extensions=response.extensions)
