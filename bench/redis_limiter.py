"""The cost per call of limits shared through Redis, against the in-process limiter, and how it
grows with the number of processes (``nox -s bench``; issue 19).

One call's admission is what the client does around each attempt: pass the circuit breaker,
take the rate limiters' share and a concurrency slot, then give the slot back and report the
success. The limits are set high enough that nothing waits: what is measured is the price of
the bookkeeping alone, on loopback to a real ``redis-server`` started for the run.

Each process paces its calls (one every ``--interval`` ms) so that 16 processes on a small
machine measure Redis's answers, not a queue for the CPU. Printed: microseconds per call,
median and p99 over every process's calls, for the in-process limiter and for the shared one
with 1, 4 and 16 processes; and one process's calls back to back, without pacing. The load
average is printed with them: on a shared two-core machine it moves every figure.

    python bench/redis_limiter.py [--calls N] [--interval MS] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_US = 500.0


def admissions(kind: str, url: str | None, calls: int, interval: float) -> list[float]:
    """Microseconds per admission, in this process, on an asyncio loop."""
    import anyio

    async def run() -> list[float]:
        limiter, breaker = _guards(kind, url)
        samples: list[float] = []
        for i in range(calls + 50):
            started = time.perf_counter()
            probe = await breaker.aenter()
            permit = await limiter.acquire(100)
            permit.settle(80)
            await permit.aclose()
            await probe.asuccess()
            if i >= 50:  # the first calls open connections and load the scripts
                samples.append((time.perf_counter() - started) * 1e6)
            await anyio.sleep(interval)
        store = getattr(limiter, "store", None)
        if store is not None:
            await store.aclose()
        return samples

    return anyio.run(run)


def _guards(kind: str, url: str | None):
    from agentflow._limits.shared import StoreBreaker, StoreLimiter
    from agentflow.limitstore import CircuitScope, LimitScope, MemoryLimitStore
    from agentflow_redis._settings import RedisSettings
    from agentflow_redis._store import RedisLimitStore

    scope = LimitScope(key="provider:bench", requests_per_minute=10**9,
                       tokens_per_minute=10**12, max_concurrent=10**6)
    circuit = CircuitScope(key="bench", failure_threshold=5, cooldown_seconds=30)
    if kind == "memory":
        store: object = MemoryLimitStore()
    else:
        settings = RedisSettings.parse({"url": url, "key_prefix": "bench"})
        assert settings is not None
        store = RedisLimitStore(settings)
    return StoreLimiter(store, scope), StoreBreaker(store, circuit)  # type: ignore[arg-type]


def fleet(kind: str, url: str | None, processes: int, calls: int, interval: float
          ) -> list[float]:
    job = json.dumps({"kind": kind, "url": url, "calls": calls, "interval": interval})
    workers = [subprocess.Popen([sys.executable, __file__, "--worker", job],
                                stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    samples: list[float] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=600)
        if worker.returncode != 0:
            raise SystemExit(f"a bench worker failed ({worker.returncode})")
        samples.extend(json.loads(out))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per process")
    parser.add_argument("--interval", type=float, default=10.0, help="ms between calls")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker)
        print(json.dumps(admissions(job["kind"], job["url"], job["calls"],
                                    job["interval"] / 1000)))
        return 0

    from agentflow_redis.testing import RedisServer

    rows: dict[str, dict[str, float]] = {}
    rows["in-process, back to back"] = _figures(fleet("memory", None, 1, args.calls, 0.0))
    rows["in-process, 1 process"] = _figures(fleet("memory", None, 1, args.calls,
                                                   args.interval))
    with RedisServer() as redis:
        rows["redis, back to back"] = _figures(fleet("redis", redis.url, 1, args.calls, 0.0))
        for processes in (1, 4, 16):
            redis.command("FLUSHALL")
            rows[f"redis, {processes} process{'es' if processes > 1 else ''}"] = _figures(
                fleet("redis", redis.url, processes, args.calls, args.interval))
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"admission cost per call (breaker + limiter + slot + settle + release), "
          f"{args.calls} calls a process, one every {args.interval:g} ms")
    print(f"{'':28}{'median µs':>12}{'p99 µs':>12}")
    for name, row in rows.items():
        print(f"{name:28}{row['median_us']:>12.1f}{row['p99_us']:>12.1f}")
    shared = [row["median_us"] for name, row in rows.items() if name.startswith("redis, 1")
              or name.startswith("redis, 4") or name.startswith("redis, 16")]
    verdict = "met" if max(shared) < GOAL_US else "NOT met"
    print(f"goal: under {GOAL_US:g} µs per call on loopback, flat in processes: {verdict} "
          f"(16 processes / 1 process: {shared[-1] / shared[0]:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def _figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_us": statistics.median(ordered),
            "p99_us": ordered[int(len(ordered) * 0.99) - 1], "calls": float(len(ordered))}


if __name__ == "__main__":
    sys.exit(main())
