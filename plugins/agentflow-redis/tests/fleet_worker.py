"""One process of the fleet test (and of the benchmark): two event loops, asyncio and trio, in
two threads, each making its share of calls through ``AgentFlow`` to the fake server.

    python fleet_worker.py '<json job>'

The job names the fake server's base URL, the Redis URL (or none: in-process limits), the
limits, the calls per loop and the callers per loop. The process prints one JSON line: calls
that succeeded, the errors of those that failed, the store's fallbacks and recoveries seen in
the log and as events, and the seconds the calls took.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any

import anyio

from agentflow import AgentFlow
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, ProviderConfig, RateLimitConfig


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class StoreEvents:
    """A collector that counts the limit store's events (MetricsCollector ignores them)."""

    wants_chunk_events = False

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def record_event(self, event: Any) -> None:
        if event.event_type.startswith("llm.limit_store."):
            with self._lock:
                self.counts[event.event_type] = self.counts.get(event.event_type, 0) + 1


def configure(job: dict[str, Any]) -> Runtime:
    plugins: dict[str, Any] = {}
    if job.get("redis_url"):
        # A generous step timeout: six busy processes share two cores here, and what this run
        # shows is a dead server (refused at once), not a slow one.
        plugins["redis"] = {"url": job["redis_url"], "key_prefix": job.get("prefix", "fleet"),
                            "reconnect_seconds": job.get("reconnect_seconds", 0.2),
                            "timeout_seconds": job.get("timeout_seconds", 2.0)}
    limits = RateLimitConfig(requests_per_minute=job.get("rpm"),
                             max_concurrent=job.get("max_concurrent"))
    config = Config(plugins=plugins, providers={"openai": ProviderConfig(
        base_url=job["base_url"], api_key_env="AGENTFLOW_FAKE_API_KEY", rate_limit=limits)})
    runtime = Runtime()
    runtime.set_config(config)
    AgentFlow.use_runtime(runtime)
    return runtime


async def loop_calls(job: dict[str, Any], errors: list[str], ok: list[int]) -> None:
    calls, callers = job["calls"], job["callers"]
    remaining = iter(range(calls))

    async def caller() -> None:
        for _ in remaining:
            try:
                await AgentFlow.model("gpt-4o").prompt("count me").max_tokens(5).execute()
                ok.append(1)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    async with anyio.create_task_group() as group:
        for _ in range(callers):
            group.start_soon(caller)
    await AgentFlow.aclose()


def main(raw: str) -> None:
    job = json.loads(raw)
    count = _Count()
    logging.getLogger("agentflow.redis").addHandler(count)
    runtime = configure(job)
    events = StoreEvents()
    runtime.collectors.append(events)  # type: ignore[arg-type]
    errors: list[str] = []
    ok: list[int] = []
    started = time.perf_counter()
    threads = [threading.Thread(target=anyio.run, args=(loop_calls, job, errors, ok),
                                kwargs={"backend": backend})
               for backend in job.get("backends", ("asyncio", "trio"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "ok": len(ok), "errors": errors[:5], "failed": len(errors), "seconds": elapsed,
        "fallback_logs": sum("cannot be used" in m for m in count.messages),
        "recovery_logs": sum("answers again" in m for m in count.messages),
        "log": count.messages[:6],
        "events": events.counts,
    }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
