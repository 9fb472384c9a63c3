"""agentflow against raw httpx, on the same fake server, in the same run (``nox -s bench``).

The fake provider server runs in its own process pinned to CPU 0, started afresh for each
client; each client runs in its own process pinned to CPU 1, so neither disturbs the other.
Every figure is printed with its ratio to raw httpx (lower is better for times and memory):

- cold import time and RSS: ``import agentflow, agentflow_openai`` against ``import httpx``;
- sequential request latency, median and p99 over 300 requests;
- wall time of 1000 requests with 100 and with 1000 in flight;
- per-chunk cost of one 2000-chunk stream, and 200 streams of 200 chunks (50 in flight);
- peak RSS after those load phases;
- the same load with rate limits, retries and the circuit breaker configured but never
  triggered, as a ratio to agentflow without them.

    python bench/run.py [--quick] [--backend asyncio|trio] [--json FILE]

Only loopback is used; the script stops the server and its clients by itself.
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

HERE = Path(__file__).parent
SERVER_CPU, CLIENT_CPU = 0, 1
TARGETS = {  # metric -> the largest acceptable ratio to raw httpx
    "import_ms": None,
    "latency_p50_us": 1.10,
    "latency_p99_us": 1.10,
    "wall_100_in_flight_ms": 1 / 0.90,
    "wall_1000_in_flight_ms": 1 / 0.90,
    "per_chunk_us": 1.25,
}
IMPORT_TARGET_MS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    _pin(CLIENT_CPU)

    imports = {side: _import_figures(side) for side in ("httpx", "agentflow")}
    load = {}
    for side in ("httpx", "agentflow", "guarded", "observed"):
        with _server() as url:  # a fresh server each: no side inherits another's leftovers
            load[side] = _client_figures(side, url, args)
    figures = {side: {**imports[side], **load[side]} for side in ("httpx", "agentflow")}
    figures["guarded"] = load["guarded"]
    figures["observed"] = load["observed"]
    _print_table(figures)
    with _server() as url:
        turns = _client_figures("interleaved", url, args)
    figures["interleaved"] = turns
    print("\nThe same three, taking turns in one process on one server (the fair comparison):")
    _print_versus("with limits, not triggered", "guarded", turns["agentflow"], turns["guarded"])
    _print_versus("with a MetricsCollector", "observed", turns["agentflow"],
                  turns["observed"])
    print("\nEach in a process of its own, one after another (drift between runs shows here):")
    _print_versus("with limits, not triggered", "guarded", figures["agentflow"],
                  figures["guarded"])
    _print_versus("with a MetricsCollector", "observed", figures["agentflow"],
                  figures["observed"])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


# the server ----------------------------------------------------------------------------------


class _server:
    def __enter__(self) -> str:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agentflow.testing.server", "--port", "0", "--print-url"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        url = self.proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the fake server did not start (said {url!r})")
        _pin(SERVER_CPU, self.proc.pid)
        return url

    def __exit__(self, *exc_info: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _pin(cpu: int, pid: int = 0) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > cpu:
        os.sched_setaffinity(pid, {cpu})


# imports ---------------------------------------------------------------------------------------

IMPORTS = {
    "bare": "pass",
    "httpx": "import httpx",
    "agentflow": "import agentflow, agentflow_openai; from agentflow import AgentFlow",
}
RSS_PROBE = "; import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def _import_figures(side: str, runs: int = 15) -> dict[str, float]:
    def timed(code: str) -> tuple[float, float]:
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code + RSS_PROBE], capture_output=True,
                             text=True, check=True).stdout
        return (time.perf_counter() - started) * 1000, int(out) / 1024

    bare = statistics.median(timed(IMPORTS["bare"])[0] for _ in range(runs))
    samples = [timed(IMPORTS[side]) for _ in range(runs)]
    return {"import_ms": statistics.median(s[0] for s in samples) - bare,
            "rss_after_import_mb": statistics.median(s[1] for s in samples)}


# load, in a client process per side ---------------------------------------------------------------


def _client_figures(side: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, str(HERE / "_client.py"), side, url, args.backend]
    if args.quick:
        command.append("--quick")
    # Only the OpenAI plugin: exporter or guard plugins installed beside it would take part in
    # every call and blur what is measured.
    env = {**os.environ, "OPENAI_API_KEY": "bench-key-not-a-secret",
           "AGENTFLOW_LOAD_PLUGINS": "openai"}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode:
        raise SystemExit(f"the {side} client failed:\n{out.stderr}")
    return dict(json.loads(out.stdout))


# output ------------------------------------------------------------------------------------------


def _print_table(figures: dict[str, dict[str, float]]) -> None:
    raw, ours = figures["httpx"], figures["agentflow"]
    print(f"{'metric':28} {'raw httpx':>12} {'agentflow':>12} {'ratio':>7}  target")
    for name in raw:
        ratio = ours[name] / raw[name] if raw[name] else float("nan")
        target = TARGETS.get(name)
        if name == "import_ms":
            verdict = f"<= {IMPORT_TARGET_MS:g} ms: " + (
                "met" if ours[name] <= IMPORT_TARGET_MS else "MISSED")
        elif target is not None:
            verdict = f"<= {target:.2f}x: " + ("met" if ratio <= target else "MISSED")
        else:
            verdict = ""
        print(f"{name:28} {raw[name]:12.1f} {ours[name]:12.1f} {ratio:7.2f}  {verdict}")


#: Limits that never act, and a collector recording every event, may cost at most this much.
VERSUS_TARGET = 1.05


def _print_versus(title: str, label: str, plain: dict[str, float],
                  other: dict[str, float]) -> None:
    print()
    print(f"{title:28} {'agentflow':>12} {label:>12} {'ratio':>7}  target")
    for name in ("latency_p50_us", "wall_100_in_flight_ms", "wall_1000_in_flight_ms",
                 "per_chunk_us", "streams_wall_ms"):
        if name not in plain:
            continue
        ratio = other[name] / plain[name] if plain[name] else float("nan")
        verdict = f"<= {VERSUS_TARGET:.2f}x: " + ("met" if ratio <= VERSUS_TARGET else "MISSED")
        print(f"{name:28} {plain[name]:12.1f} {other[name]:12.1f} {ratio:7.2f}  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
