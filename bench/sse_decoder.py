"""Micro-benchmark: agentflow's SSE decoder against httpx-sse's and a naive line loop.

    python bench/sse_decoder.py

Decodes the same OpenAI-shaped stream (2000 events of ~200 bytes, delivered in 4 KiB network
reads) with each decoder and prints the cost per event. httpx-sse is only needed for its row.
"""

from __future__ import annotations

import json
import statistics
import time

from agentflow.sse import SSEDecoder

EVENTS = 2000
READ_SIZE = 4096


def make_stream() -> list[bytes]:
    events = []
    for i in range(EVENTS):
        chunk = {"id": "chatcmpl-abc123", "object": "chat.completion.chunk",
                 "created": 1700000000, "model": "gpt-4o-2024-08-06",
                 "choices": [{"index": 0, "delta": {"content": f" word{i}"},
                              "logprobs": None, "finish_reason": None}]}
        events.append(f"data: {json.dumps(chunk)}\n\n".encode())
    body = b"".join(events) + b"data: [DONE]\n\n"
    return [body[i:i + READ_SIZE] for i in range(0, len(body), READ_SIZE)]


def ours(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    return sum(len(decoder.feed(read)) for read in reads)


def httpx_sse(reads: list[bytes]) -> int:
    from httpx._decoders import LineDecoder, TextDecoder
    from httpx_sse._decoders import SSEDecoder as Theirs

    text, lines, decoder = TextDecoder(), LineDecoder(), Theirs()
    count = 0
    for read in reads:
        for line in lines.decode(text.decode(read)):
            if decoder.decode(line) is not None:
                count += 1
    return count


def naive_lines(reads: list[bytes]) -> int:
    from httpx._decoders import LineDecoder, TextDecoder

    text, lines = TextDecoder(), LineDecoder()
    count = 0
    for read in reads:
        for line in lines.decode(text.decode(read)):
            if line.startswith("data: "):
                count += 1
    return count


def per_event_us(func, reads: list[bytes], repeat: int = 30) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        count = func(reads)
        timings.append(time.perf_counter() - started)
    assert count == EVENTS + 1, (func.__name__, count)
    return statistics.median(timings) / count * 1e6


def main() -> None:
    reads = make_stream()
    rows = [("agentflow.sse.SSEDecoder", per_event_us(ours, reads))]
    try:
        rows.append(("httpx-sse SSEDecoder (+ httpx line splitting)",
                     per_event_us(httpx_sse, reads)))
    except ImportError:
        rows.append(("httpx-sse (not installed)", float("nan")))
    rows.append(("naive: httpx lines + startswith", per_event_us(naive_lines, reads)))
    for name, value in rows:
        print(f"{name:48} {value:6.2f} µs/event")


if __name__ == "__main__":
    main()
