"""Reading bodies (agentflow._http.body): a stream's bytes as they arrive, decoded when the
server compressed them, and the transport's stream closed when the reader is done."""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest

from agentflow._http.body import decoded_stream, read_body

pytestmark = pytest.mark.anyio

EVENTS = [b"data: {\"n\": %d}\n\n" % i for i in range(50)]


class Pieces(httpx.AsyncByteStream):
    """A transport's body: the pieces given, and whether their iteration was finalised (as
    httpx's and agentflow-aiohttp's streams release what a read holds)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.finalised = False

    async def __aiter__(self):
        try:
            for piece in self.pieces:
                yield piece
        finally:
            self.finalised = True


def answer(pieces: list[bytes], coding: str | None = None) -> tuple[httpx.Response, Pieces]:
    body = Pieces(pieces)
    headers = {"content-type": "text/event-stream"}
    if coding is not None:
        headers["content-encoding"] = coding
    return httpx.Response(200, headers=headers, stream=body), body


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


async def read_all(response: httpx.Response) -> list[bytes]:
    pieces = decoded_stream(response)
    try:
        return [piece async for piece in pieces]
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]


async def test_an_identity_stream_comes_as_sent(anyio_backend):
    response, _ = answer(EVENTS)
    assert await read_all(response) == EVENTS  # piece by piece: an event is handed on at once
    response, _ = answer(EVENTS, coding="identity")
    assert await read_all(response) == EVENTS


@pytest.mark.parametrize(("coding", "compress"), [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
])
async def test_a_compressed_stream_is_decoded(anyio_backend, coding, compress):
    response, _ = answer(cut(compress(b"".join(EVENTS)), 7), coding=coding)
    assert b"".join(await read_all(response)) == b"".join(EVENTS)


@pytest.mark.parametrize("coding", [None, "gzip"])
async def test_closing_the_reader_finalises_the_transports_stream_at_once(anyio_backend,
                                                                         coding):
    data = b"".join(EVENTS)
    response, body = answer([gzip.compress(data) if coding else data, b"more"], coding=coding)
    pieces = decoded_stream(response)
    assert await pieces.__anext__()
    assert not body.finalised
    await pieces.aclose()  # type: ignore[attr-defined]
    assert body.finalised


async def test_read_body_counts_the_decoded_bytes(anyio_backend):
    data = b"x" * 10_000
    response, _ = answer(cut(gzip.compress(data), 5), coding="gzip")
    assert await read_body(response, 10_000) == data
    response, _ = answer(cut(gzip.compress(data), 5), coding="gzip")
    assert await read_body(response, 100, truncate=True) == data[:100]
