"""Why agentflow-redis speaks RESP itself: one EVALSHA round trip through coredis (anyio-based,
so it runs on trio too) against agentflow-redis's own client, on asyncio and on trio, to a
``redis-server`` started for the run on loopback.

    python bench/redis_client_choice.py [--calls N]

coredis's pool has to be entered (``async with client:``) by a task that outlives every call:
here the benchmark's own main task holds it, which a library called from arbitrary tasks has
no equivalent of. coredis is optional: without it only the own client is measured.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

SCRIPT = "return redis.call('INCR', KEYS[1])"


async def own_client(url: str, calls: int) -> list[float]:
    from agentflow_redis._resp import RedisAddress, RedisClient

    client = RedisClient(RedisAddress.parse(url))
    sha = await client.call("SCRIPT", "LOAD", SCRIPT)
    assert isinstance(sha, bytes)
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await client.call("EVALSHA", sha, 1, "k")
        samples.append((time.perf_counter() - started) * 1e6)
    await client.aclose()
    return samples


async def coredis_client(url: str, calls: int) -> list[float]:
    import coredis

    client = coredis.Redis.from_url(url)
    samples = []
    async with client:
        sha = await client.script_load(SCRIPT)
        for _ in range(calls):
            started = time.perf_counter()
            await client.evalsha(sha, keys=["k"], args=[])
            samples.append((time.perf_counter() - started) * 1e6)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import anyio

        client, backend, url = args.worker
        run = own_client if client == "own" else coredis_client
        samples = anyio.run(run, url, args.calls + 200, backend=backend)[200:]
        print(statistics.median(samples))
        return 0

    from agentflow_redis.testing import RedisServer

    try:
        import coredis  # noqa: F401

        clients = ["own", "coredis"]
    except ImportError:
        clients = ["own"]
    print(f"\nEVALSHA round trip on loopback, median µs over {args.calls} sequential calls")
    with RedisServer() as redis:
        for client in clients:
            for backend in ("asyncio", "trio"):
                out = subprocess.run([sys.executable, __file__, "--calls", str(args.calls),
                                      "--worker", client, backend, redis.url],
                                     capture_output=True, text=True, check=True).stdout
                print(f"{client:10}{backend:10}{float(out):10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
