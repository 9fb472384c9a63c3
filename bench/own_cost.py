"""agentflow's own work per call and per stream chunk, with the network out of the figure.

    python bench/own_cost.py [--plugins openai|all] [--calls N] [--profile FILE]

A transport that answers at once (a prepared chat completion, or a prepared 2000-chunk stream
handed over one event per read) stands in for the network, so what is timed is agentflow
alone: the builder, configuration and key resolution, the hooks, events, limits, the codec,
the SSE decoder. These figures move by a few percent between runs where the peer table of
``bench/peers.py`` moves by 10 to 20%: measure a change to agentflow's hot paths here, before
and after, in alternating runs.

``--plugins openai`` (the default) loads the OpenAI plugin alone; ``all`` every installed plugin
(exporters and guard installed, not configured). The script runs each measurement in a fresh
process of its own. ``--profile FILE`` writes a cProfile of one more round of calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from agentflow.testing.app import sse_frame

ROUNDS = 5
CHUNKS = 2000
ANSWER = json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}).encode()


def _chunk(delta: dict[str, str], reason: str | None = None) -> bytes:
    return sse_frame(json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}))


STREAM = [_chunk({"content": f"w{i} "}) for i in range(CHUNKS)] + [
    _chunk({}, "stop"), sse_frame("[DONE]")]


class _Events(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in STREAM:
            yield event


class InstantTransport(httpx.AsyncBaseTransport):
    """Answers every request at once: the prepared stream when one is asked for, else the
    prepared chat completion."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("accept") == "text/event-stream":
            return httpx.Response(200, headers=[(b"content-type", b"text/event-stream")],
                                  stream=_Events(), request=request)
        return httpx.Response(200, headers=[(b"content-type", b"application/json"),
                                            (b"content-length", str(len(ANSWER)).encode())],
                              stream=httpx.ByteStream(ANSWER), request=request)


async def measure(calls: int, profile: str | None) -> dict[str, float]:
    """The median of the rounds' cost per call and per chunk, in microseconds."""
    from agentflow import AgentFlow

    with tempfile.TemporaryDirectory(prefix="agentflow-own-cost-") as folder:
        config = Path(folder) / "agentflow.yml"
        config.write_text("providers:\n  openai:\n    base_url: http://127.0.0.1:9/v1\n")
        await AgentFlow.init_with_config(config)
    AgentFlow.use_transport(InstantTransport())

    async def call(i: int) -> None:
        await AgentFlow.model("gpt-4o").prompt(f"question {i}").execute()

    async def stream() -> int:
        chunks = 0
        async for _ in await AgentFlow.model("gpt-4o").prompt("count").execute_streaming():
            chunks += 1
        return chunks

    for i in range(200):  # warm up: first-call imports, caches
        await call(i)
    await stream()
    per_call, per_chunk = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for i in range(calls):
            await call(i)
        per_call.append((time.perf_counter() - started) / calls * 1e6)
        started = time.perf_counter()
        chunks = await stream()
        per_chunk.append((time.perf_counter() - started) / chunks * 1e6)
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(calls):
            await call(i)
        await stream()
        profiler.disable()
        profiler.dump_stats(profile)
    await AgentFlow.aclose()
    return {"per_call_us": statistics.median(per_call),
            "per_chunk_us": statistics.median(per_chunk)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", choices=["openai", "all"], default="openai")
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    parser.add_argument("--profile", help="write a cProfile of one more round here")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process:
        print(json.dumps(asyncio.run(measure(args.calls, args.profile))))
        return 0
    env = {**os.environ, "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "sk-own-cost")}
    if args.plugins == "openai":
        env["AGENTFLOW_LOAD_PLUGINS"] = "openai"
    else:
        env.pop("AGENTFLOW_LOAD_PLUGINS", None)
    command = [sys.executable, __file__, "--in-process", "--calls", str(args.calls)]
    if args.profile:
        command += ["--profile", args.profile]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    figures = json.loads(out)
    print(f"agentflow's own work, plugins: {args.plugins} (median of {ROUNDS} rounds)")
    print(f"  per call over an instant transport  {figures['per_call_us']:7.1f} µs")
    print(f"  per chunk of a 2000-chunk stream    {figures['per_chunk_us']:7.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
