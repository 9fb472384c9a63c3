"""One client of the peer benchmark, run in a process of its own by bench/peers.py.

    python bench/_peer_client.py CLIENT URL load|first [--quick]

``load`` prints the figures of one round (sequential latency, 1000 requests at 100 in flight,
per-chunk cost of one long stream in wall time and in the client's CPU time, 200 streams, and
with ``--curve`` the cost per request at each number in flight from 1 to 2000); ``first``
prints the time from the start of the process (before any import) to the first answer, as a
serverless function or a CLI pays it.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402

CLIENT, URL, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
QUICK = "--quick" in sys.argv[4:]
CURVE_TOO = "--curve" in sys.argv[4:]
KEY = "bench-key-not-a-secret"
SEQUENTIAL, WARM_UP = (60, 10) if QUICK else (150, 20)
TOTAL = 300 if QUICK else 1000
LONG_STREAM_WORDS = 500 if QUICK else 2000
STREAMS, STREAM_WORDS, STREAMS_IN_FLIGHT = (40, 100, 20) if QUICK else (200, 200, 50)
CURVE = (1, 10, 100, 500, 2000)
MAX_CONNECTIONS, MAX_KEEPALIVE = 512, 128

Ask = Callable[[str], Awaitable[str]]
Stream = Callable[[str], Awaitable[int]]
Close = Callable[[], Awaitable[None]]


def openai_body(prompt: str, stream: bool = False) -> dict[str, object]:
    body: dict[str, object] = {"model": "gpt-4o",
                               "messages": [{"role": "user", "content": prompt}]}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def raw_httpx() -> tuple[Ask, Stream, Close]:
    import httpx

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=MAX_CONNECTIONS,
                                                   max_keepalive_connections=MAX_KEEPALIVE),
                               timeout=httpx.Timeout(120.0))
    url = f"{URL}/openai/v1/chat/completions"
    headers = {"authorization": f"Bearer {KEY}"}

    async def ask(prompt: str) -> str:
        response = await client.post(url, headers=headers, json=openai_body(prompt))
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])

    async def stream(prompt: str) -> int:
        chunks = 0
        async with client.stream("POST", url, headers=headers,
                                 json=openai_body(prompt, True)) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line[6:])["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        chunks += 1
        return chunks

    return ask, stream, client.aclose


def raw_aiohttp() -> tuple[Ask, Stream, Close]:
    import aiohttp

    session: list[aiohttp.ClientSession] = []
    url = f"{URL}/openai/v1/chat/completions"
    headers = {"authorization": f"Bearer {KEY}"}

    def client() -> aiohttp.ClientSession:
        if not session:
            session.append(aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
                timeout=aiohttp.ClientTimeout(total=120)))
        return session[0]

    async def ask(prompt: str) -> str:
        async with client().post(url, headers=headers, json=openai_body(prompt)) as response:
            response.raise_for_status()
            return str((await response.json())["choices"][0]["message"]["content"])

    async def stream(prompt: str) -> int:
        chunks = 0
        async with client().post(url, headers=headers,
                                 json=openai_body(prompt, True)) as response:
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line[6:])["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        chunks += 1
        return chunks

    async def close() -> None:
        if session:
            await session[0].close()

    return ask, stream, close


def agentflow(transport: str) -> tuple[Ask, Stream, Close]:
    """agentflow as a user writes it: a configuration file, then the fluent API.

    The file is the one bench/peers.py wrote before starting this process
    (``AGENTFLOW_BENCH_CONFIG``), as a user's file is there before their program starts: writing
    it is no part of the first request. Run alone, the client writes one itself."""
    from agentflow import AgentFlow

    config = os.environ.get("AGENTFLOW_BENCH_CONFIG")
    if not config:
        import tempfile

        from peers import config_text

        config = os.path.join(tempfile.mkdtemp(prefix="agentflow-bench-"), "agentflow.yml")
        with open(config, "w") as file:
            file.write(config_text(URL, transport))
    loaded: list[bool] = []

    async def ask(prompt: str) -> str:
        if not loaded:
            await AgentFlow.init_with_config(config)
            loaded.append(True)
        return await AgentFlow.model("gpt-4o").prompt(prompt).execute()

    async def stream(prompt: str) -> int:
        if not loaded:
            await AgentFlow.init_with_config(config)
            loaded.append(True)
        response = await AgentFlow.model("gpt-4o").prompt(prompt).execute_streaming()
        chunks = 0
        async for chunk in response:
            if chunk.content:
                chunks += 1
        return chunks

    return ask, stream, AgentFlow.aclose


def openai_sdk() -> tuple[Ask, Stream, Close]:
    import openai

    client = openai.AsyncOpenAI(base_url=f"{URL}/openai/v1", api_key=KEY,
                                timeout=120.0)  # the SDK's own retries, as users run it

    async def ask(prompt: str) -> str:
        answer = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt}])
        return str(answer.choices[0].message.content)

    async def stream(prompt: str) -> int:
        chunks = 0
        events = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt}], stream=True,
            stream_options={"include_usage": True})
        async for event in events:
            if event.choices and event.choices[0].delta.content:
                chunks += 1
        return chunks

    return ask, stream, client.close


def anthropic_sdk() -> tuple[Ask, Stream, Close]:
    import anthropic

    # Recent SDKs send the key as a bearer token; the emulation reads x-api-key, as the API.
    client = anthropic.AsyncAnthropic(base_url=f"{URL}/anthropic", api_key=KEY,
                                      timeout=120.0, default_headers={"x-api-key": KEY})
    model = "claude-3-5-sonnet-20241022"

    async def ask(prompt: str) -> str:
        answer = await client.messages.create(
            model=model, max_tokens=4096, messages=[{"role": "user", "content": prompt}])
        return str(answer.content[0].text)  # type: ignore[union-attr]

    async def stream(prompt: str) -> int:
        chunks = 0
        events = await client.messages.create(
            model=model, max_tokens=4096, messages=[{"role": "user", "content": prompt}],
            stream=True)
        async for event in events:
            if event.type == "content_block_delta":
                chunks += 1
        return chunks

    return ask, stream, client.close


def litellm_client() -> tuple[Ask, Stream, Close]:
    import litellm

    base = f"{URL}/openai/v1"

    async def ask(prompt: str) -> str:
        answer = await litellm.acompletion(model="openai/gpt-4o", api_base=base, api_key=KEY,
                                           messages=[{"role": "user", "content": prompt}])
        return str(answer.choices[0].message.content)

    async def stream(prompt: str) -> int:
        chunks = 0
        events = await litellm.acompletion(model="openai/gpt-4o", api_base=base, api_key=KEY,
                                           messages=[{"role": "user", "content": prompt}],
                                           stream=True)
        async for event in events:
            if event.choices and event.choices[0].delta.content:
                chunks += 1
        return chunks

    async def close() -> None:
        pass

    return ask, stream, close


CLIENTS: dict[str, Callable[[], tuple[Ask, Stream, Close]]] = {
    "httpx": raw_httpx,
    "aiohttp": raw_aiohttp,
    "agentflow": lambda: agentflow("httpx"),
    "agentflow-all-plugins": lambda: agentflow("httpx"),
    "agentflow-aiohttp": lambda: agentflow("aiohttp"),
    "openai-sdk": openai_sdk,
    "anthropic-sdk": anthropic_sdk,
    "litellm": litellm_client,
}


async def in_flight(count: int, limit: int, job: Callable[[int], Awaitable[object]]) -> float:
    """Milliseconds to run ``count`` jobs with at most ``limit`` at once."""
    slots = asyncio.Semaphore(limit)

    async def one(i: int) -> None:
        async with slots:
            await job(i)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return (time.perf_counter() - started) * 1000


async def load() -> dict[str, object]:
    ask, stream, close = CLIENTS[CLIENT]()
    figures: dict[str, object] = {}
    try:
        for i in range(WARM_UP):
            await ask(f"warm {i}")
        latencies = []
        for i in range(SEQUENTIAL):
            started = time.perf_counter()
            answer = await ask(f"question {i}")
            latencies.append((time.perf_counter() - started) * 1e6)
            assert answer.endswith(f"question {i}"), answer
        figures["latency_p50_us"] = statistics.median(latencies)
        figures["wall_100_in_flight_ms"] = await in_flight(TOTAL, 100, lambda i: ask(f"q{i}"))
        long_prompt = " ".join(f"w{i}" for i in range(LONG_STREAM_WORDS))
        await stream(long_prompt)  # warm up
        per_chunk, cpu_per_chunk = [], []
        for _ in range(2):
            started, cpu_started = time.perf_counter(), time.process_time()
            chunks = await stream(long_prompt)
            per_chunk.append((time.perf_counter() - started) * 1e6 / chunks)
            cpu_per_chunk.append((time.process_time() - cpu_started) * 1e6 / chunks)
        figures["per_chunk_us"] = min(per_chunk)
        # The client's own work: a client faster than the server waits for it, and its wall
        # time per chunk is then the server's pace, whatever the client costs.
        figures["per_chunk_cpu_us"] = min(cpu_per_chunk)
        short_prompt = " ".join(f"s{i}" for i in range(STREAM_WORDS))
        figures["streams_wall_ms"] = await in_flight(STREAMS, STREAMS_IN_FLIGHT,
                                                     lambda i: stream(short_prompt))
        curve = {}
        for width in (CURVE if not QUICK else CURVE[:4]) if CURVE_TOO else ():
            count = max(width, 100)  # at least 100 requests per point
            curve[str(width)] = await in_flight(count, width, lambda i: ask(f"c{i}")) \
                * 1000 / count
        if curve:
            figures["curve_us_per_request"] = curve
    finally:
        await close()
    return figures


async def first() -> dict[str, object]:
    ask, _, close = CLIENTS[CLIENT]()
    try:
        answer = await ask("first")
        elapsed = (time.perf_counter() - STARTED) * 1000
        assert answer.endswith("first"), answer
    finally:
        await close()
    return {"first_request_ms": elapsed}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(load() if MODE == "load" else first())))
