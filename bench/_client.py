"""One side of the benchmark (raw httpx or agentflow), run in its own process by bench/run.py.

    python bench/_client.py httpx|agentflow|guarded|observed URL asyncio|trio [--quick]

Prints one JSON object of figures on stdout.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import anyio

SIDE, URL, BACKEND = sys.argv[1], sys.argv[2], sys.argv[3]
QUICK = "--quick" in sys.argv[4:]
BASE = f"{URL}/openai/v1"
SEQUENTIAL, WARM_UP = (60, 10) if QUICK else (300, 30)
TOTAL = 200 if QUICK else 1000
LONG_STREAM_WORDS = 500 if QUICK else 2000
STREAMS, STREAM_WORDS, STREAMS_IN_FLIGHT = (40, 200, 20) if QUICK else (200, 200, 50)
# The same pool limits agentflow's transport uses, so both sides queue alike.
MAX_CONNECTIONS, MAX_KEEPALIVE = 512, 128

Ask = Callable[[str], Awaitable[str]]
Stream = Callable[[str], Awaitable[int]]


def raw_httpx() -> tuple[Ask, Stream, Callable[[], Awaitable[None]]]:
    import httpx

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=MAX_CONNECTIONS,
                                                   max_keepalive_connections=MAX_KEEPALIVE),
                               timeout=httpx.Timeout(60.0))
    url = f"{BASE}/chat/completions"
    headers = {"authorization": "Bearer bench-key-not-a-secret"}

    async def ask(prompt: str) -> str:
        response = await client.post(url, headers=headers, json={
            "model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]})
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])

    async def stream(prompt: str) -> int:
        chunks = 0
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}],
                "stream": True, "stream_options": {"include_usage": True}}
        async with client.stream("POST", url, headers=headers, json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line[6:])["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        chunks += 1
        return chunks

    return ask, stream, client.aclose


def agentflow(*, guarded: bool = False,
              observed: bool = False) -> tuple[Ask, Stream, Callable[[], Awaitable[None]]]:
    """agentflow through the OpenAI plugin; ``guarded``: with rate limits, retries and the
    circuit breaker configured, generously enough that none of them ever acts; ``observed``:
    with a MetricsCollector attached to every call, so every event is built and recorded."""
    from agentflow._api.builder import LLMClientBuilder
    from agentflow._runtime.runtime import Runtime
    from agentflow.config import (
        CircuitBreakerConfig,
        Config,
        ProviderConfig,
        RateLimitConfig,
        RetryConfig,
    )

    provider = ProviderConfig(base_url=BASE)
    if guarded:
        provider = ProviderConfig(
            base_url=BASE,
            rate_limit=RateLimitConfig(requests_per_minute=10_000_000,
                                       tokens_per_minute=10_000_000_000, max_concurrent=5000),
            retry_config=RetryConfig(max_retries=3, retry_delay_ms=100),
            circuit_breaker=CircuitBreakerConfig(failure_threshold=5, cooldown_seconds=30))
    runtime = Runtime(config=Config(providers={"openai": provider}))
    if observed:
        from agentflow._observe.events import MetricsCollector

        runtime.collectors.append(MetricsCollector())

    async def ask(prompt: str) -> str:
        return await LLMClientBuilder("gpt-4o", runtime=runtime).prompt(prompt).execute()

    async def stream(prompt: str) -> int:
        response = await LLMClientBuilder("gpt-4o", runtime=runtime).prompt(prompt)\
            .execute_streaming()
        chunks = 0
        async for chunk in response:
            if chunk.content:
                chunks += 1
        return chunks

    return ask, stream, runtime.aclose


async def in_flight(count: int, limit: int, job: Callable[[int], Awaitable[object]]) -> float:
    slots = anyio.Semaphore(limit)

    async def one(i: int) -> None:
        async with slots:
            await job(i)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for i in range(count):
            group.start_soon(one, i)
    return (time.perf_counter() - started) * 1000


async def measure() -> dict[str, float]:
    ask, stream, close = raw_httpx() if SIDE == "httpx" else agentflow(
        guarded=SIDE == "guarded", observed=SIDE == "observed")
    figures: dict[str, float] = {}
    try:
        for i in range(WARM_UP):
            await ask(f"warm {i}")
        latencies = []
        for i in range(SEQUENTIAL):
            started = time.perf_counter()
            answer = await ask(f"question {i}")
            latencies.append((time.perf_counter() - started) * 1e6)
            assert answer == f"You said: question {i}", answer
        latencies.sort()
        figures["latency_p50_us"] = statistics.median(latencies)
        figures["latency_p99_us"] = latencies[int(len(latencies) * 0.99) - 1]
        figures["wall_100_in_flight_ms"] = await in_flight(TOTAL, 100, lambda i: ask(f"q{i}"))
        figures["wall_1000_in_flight_ms"] = await in_flight(TOTAL, TOTAL, lambda i: ask(f"q{i}"))

        long_prompt = " ".join(f"w{i}" for i in range(LONG_STREAM_WORDS))
        await stream(long_prompt)  # warm up
        per_chunk = []
        for _ in range(3):
            started = time.perf_counter()
            chunks = await stream(long_prompt)
            per_chunk.append((time.perf_counter() - started) * 1e6 / chunks)
        figures["per_chunk_us"] = min(per_chunk)
        short_prompt = " ".join(f"s{i}" for i in range(STREAM_WORDS))
        figures["streams_wall_ms"] = await in_flight(STREAMS, STREAMS_IN_FLIGHT,
                                                     lambda i: stream(short_prompt))
    finally:
        await close()
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


async def measure_interleaved() -> dict[str, dict[str, float]]:
    """Plain, guarded and observed agentflow in one process on one server, taking turns
    request by request (and run by run), so that drift of the machine or the server touches
    all three alike: the fair way to see a cost of a few percent."""
    setups = {"agentflow": agentflow(), "guarded": agentflow(guarded=True),
              "observed": agentflow(observed=True)}
    figures: dict[str, dict[str, float]] = {name: {} for name in setups}
    latencies: dict[str, list[float]] = {name: [] for name in setups}
    walls: dict[str, list[float]] = {name: [] for name in setups}
    chunks: dict[str, list[float]] = {name: [] for name in setups}
    long_prompt = " ".join(f"w{i}" for i in range(LONG_STREAM_WORDS))
    try:
        for ask, stream, _ in setups.values():
            for i in range(WARM_UP):
                await ask(f"warm {i}")
            await stream(long_prompt)
        for i in range(SEQUENTIAL * 2):
            for name, (ask, _, _) in setups.items():
                started = time.perf_counter()
                await ask(f"question {i}")
                latencies[name].append((time.perf_counter() - started) * 1e6)
        for _ in range(3):
            for name, (ask, stream, _) in setups.items():
                walls[name].append(await in_flight(TOTAL, 100, lambda i, a=ask: a(f"q{i}")))
                started = time.perf_counter()
                count = await stream(long_prompt)
                chunks[name].append((time.perf_counter() - started) * 1e6 / count)
    finally:
        for _, _, close in setups.values():
            await close()
    for name in setups:
        figures[name] = {"latency_p50_us": statistics.median(latencies[name]),
                         "wall_100_in_flight_ms": statistics.median(walls[name]),
                         "per_chunk_us": min(chunks[name])}
    return figures


if __name__ == "__main__":
    job = measure_interleaved if SIDE == "interleaved" else measure
    print(json.dumps(anyio.run(job, backend=BACKEND)))
