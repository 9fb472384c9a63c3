"""The fleet proof: 4 processes x 2 event loops (asyncio and trio) calling one fake provider
with a shared ``requests_per_minute`` and ``max_concurrent``.

The fake server counts, on its own side, when each request arrived and how many were in
flight at once. With the limits shared through Redis neither ever exceeds the limits; with the
in-process limiter, each loop believes it owns the whole quota and the fleet overshoots. Then
Redis is killed in the middle of a run: no call fails, each process logs the fallback once,
and sharing resumes when Redis is back.

A token bucket allows, in any window of W seconds, at most its capacity (a minute's worth)
plus what refills during W: ``rpm + rpm * W / 60``. :func:`worst_excess` is the largest
``count - rpm * W / 60`` over every window, which must stay at or below ``rpm``.

These runs take about a minute in all: ``-m "not fleet"`` leaves them out, and the nox
session ``tests_redis_fleet`` runs them alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from agentflow._plugins.host import get_plugin_host
from agentflow.testing import FakeProvider, FakeRoute, FakeServer
from agentflow.testing.server import collect_fakes
from agentflow_redis.testing import RedisServer

pytestmark = pytest.mark.fleet

WORKER = Path(__file__).with_name("fleet_worker.py")
PROCESSES = 4
CALLS_PER_LOOP = 200  # 400 a process, 1,600 in all
CALLERS_PER_LOOP = 8
RPM = 1200  # the first 1,200 at once, the last 400 at 20 a second: about 20 s
MAX_CONCURRENT = 4
HOLD = 0.01  # how long the fake provider "thinks" about each request
TOTAL = PROCESSES * 2 * CALLS_PER_LOOP


class CountingServer:
    """The fake server with OpenAI's emulation, counting arrivals and requests in flight."""

    def __init__(self) -> None:
        openai = next(fake for fake in collect_fakes(get_plugin_host())
                      if fake.provider == "openai")
        routes = [FakeRoute(method=route.method, path=route.path, handler=self._count(route))
                  for route in openai.routes]
        self.server = FakeServer([FakeProvider(provider="openai", base_path=openai.base_path,
                                               routes=routes)], record=False)
        self._lock = threading.Lock()
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._waiters: list[tuple[int, threading.Event]] = []

    def _count(self, route: FakeRoute):
        async def counted(call):
            with self._lock:
                self.arrivals.append(time.monotonic())
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                for count, event in self._waiters:
                    if len(self.arrivals) >= count:
                        event.set()
            try:
                await anyio.sleep(HOLD)
                return await route.handler(call)
            finally:
                with self._lock:
                    self.in_flight -= 1
        return counted

    def reached(self, count: int) -> threading.Event:
        """An event set once ``count`` requests have arrived."""
        event = threading.Event()
        with self._lock:
            self._waiters.append((count, event))
            if len(self.arrivals) >= count:
                event.set()
        return event

    def reset(self) -> None:
        with self._lock:
            self.arrivals.clear()
            self.most_in_flight = self.in_flight = 0
            self._waiters.clear()


def worst_excess(arrivals: list[float], rpm: float) -> float:
    """The largest ``count - rpm * W / 60`` over every window of the arrivals."""
    times = sorted(arrivals)
    rate = rpm / 60.0
    # count - rate * W over windows [times[i], times[j]] is (j - i + 1) - rate * (t_j - t_i);
    # its maximum over i <= j: the best earlier start for each end.
    best = -float("inf")
    best_start = -float("inf")
    for j, t in enumerate(times):
        best_start = max(best_start, rate * t - j)  # the start i = j, as (-i + rate * t_i)
        best = max(best, j + 1 + best_start - rate * t)
    return best


def per_window(arrivals: list[float], seconds: float) -> int:
    """The most arrivals in any window of ``seconds``."""
    times = sorted(arrivals)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.fixture(scope="module")
def counting() -> CountingServer:
    server = CountingServer()
    server.server.start()
    yield server
    server.server.stop()


def run_fleet(counting: CountingServer, redis_url: str | None, *, prefix: str,
              during=None) -> list[dict]:
    counting.reset()
    job = {"base_url": counting.server.base_url("openai"), "redis_url": redis_url,
           "prefix": prefix, "rpm": RPM, "max_concurrent": MAX_CONCURRENT,
           "calls": CALLS_PER_LOOP, "callers": CALLERS_PER_LOOP}
    env = {**os.environ, "AGENTFLOW_FAKE_API_KEY": "fake-key-not-a-secret"}
    env.pop("AGENTFLOW_REDIS_URL", None)
    workers = [subprocess.Popen([sys.executable, str(WORKER), json.dumps(job)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(PROCESSES)]
    if during is not None:
        during()
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def test_shared_limits_hold_across_the_fleet(counting: CountingServer) -> None:
    with RedisServer() as redis:
        reports = run_fleet(counting, redis.url, prefix="shared")
    assert [r["failed"] for r in reports] == [0] * PROCESSES, reports
    assert sum(r["ok"] for r in reports) == TOTAL
    arrivals = list(counting.arrivals)
    assert len(arrivals) == TOTAL
    excess = worst_excess(arrivals, RPM)
    print(f"\nshared: {TOTAL} calls in {max(r['seconds'] for r in reports):.1f} s; most in "
          f"flight at the server {counting.most_in_flight} (limit {MAX_CONCURRENT}); worst "
          f"window excess {excess:.1f} (limit {RPM}); most in 1 s {per_window(arrivals, 1)}, "
          f"in 60 s {per_window(arrivals, 60)}")
    assert counting.most_in_flight <= MAX_CONCURRENT
    assert excess <= RPM + 1  # one request of slack: the server's clock is not Redis's


def test_in_process_limits_overshoot(counting: CountingServer) -> None:
    reports = run_fleet(counting, None, prefix="unused")
    assert sum(r["ok"] for r in reports) == TOTAL
    arrivals = list(counting.arrivals)
    excess = worst_excess(arrivals, RPM)
    print(f"\nin-process: most in flight {counting.most_in_flight} (limit {MAX_CONCURRENT}); "
          f"worst window excess {excess:.1f} (limit {RPM}); most in 1 s "
          f"{per_window(arrivals, 1)}")
    # Each loop has its own slots: the fleet runs many times the cap at once. (Its rate
    # overshoot, printed, depends on how fast this machine drives eight loops: 1,600 calls
    # within 20 s exceed one bucket's allowance, which a busy two-core machine may not reach.)
    assert counting.most_in_flight > 2 * MAX_CONCURRENT


def test_a_redis_outage_fails_no_call(counting: CountingServer) -> None:
    with RedisServer() as redis:
        resumed: list[bool] = []

        def outage() -> None:
            assert counting.reached(TOTAL // 4).wait(60)
            redis.kill()
            assert counting.reached(TOTAL // 4 + 100).wait(60)
            redis.start()
            # sharing resumes: the processes write their state to the new server
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if redis.command("KEYS", "outage:*") != b"*0\r\n":
                    resumed.append(True)
                    break
                time.sleep(0.01)

        reports = run_fleet(counting, redis.url, prefix="outage", during=outage)
    assert resumed == [True]
    assert [r["failed"] for r in reports] == [0] * PROCESSES, reports
    assert sum(r["ok"] for r in reports) == TOTAL
    assert [r["fallback_logs"] for r in reports] == [1] * PROCESSES, [r["log"] for r in reports]
    assert [r["events"].get("llm.limit_store.fallback") for r in reports] == [1] * PROCESSES
    assert all(r["recovery_logs"] == 1 for r in reports), reports
