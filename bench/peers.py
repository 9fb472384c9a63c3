"""agentflow against raw httpx, raw aiohttp and the peers installed, in interleaved rounds.

    python bench/peers.py [--rounds N] [--quick] [--only first] [--clients A,B]
                          [--markdown FILE] [--plot FILE] [--json FILE] [--from-json FILE]

Each client runs in a process of its own (bench/_peer_client.py) against a fake OpenAI /
Anthropic server started afresh for it; within a round the clients take turns, and the order
rotates between rounds, so drift of a busy machine touches every client alike. Figures are
ratios to raw httpx *of the same round*, the median over rounds (absolute figures move with the
machine's load; ratios much less). Clients: raw httpx, raw aiohttp, agentflow over httpx's
transport (the OpenAI plugin only, and every installed plugin), agentflow over aiohttp, and the
openai SDK, the anthropic SDK and LiteLLM when installed. Also measured: the first request in
a fresh process (from before the first import to the first answer; the median of a few
processes per client), and, in the first round, the cost per request at 1 to 2000 in flight,
drawn into a PNG when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
SERVER_CPU, CLIENT_CPU = 0, 1
METRICS = {
    "latency_p50_us": "sequential request, p50",
    "wall_100_in_flight_ms": "1000 requests @100 in flight, wall",
    "per_chunk_us": "one 2000-chunk stream, per chunk",
    "per_chunk_cpu_us": "the same stream, client CPU per chunk",
    "streams_wall_ms": "200 streams x 200 chunks, wall",
    "first_request_ms": "first request in a fresh process",
}
#: client -> the module it needs (None: always there).
CLIENTS = {
    "httpx": None,
    "aiohttp": "aiohttp",
    "agentflow": None,
    "agentflow-all-plugins": None,
    "agentflow-aiohttp": "agentflow_aiohttp",
    "openai-sdk": "openai",
    "anthropic-sdk": "anthropic",
    "litellm": "litellm",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--first-runs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--only", choices=["first"],
                        help="only the first request in a fresh process (no load rounds)")
    parser.add_argument("--clients", help="comma-separated subset of the clients (httpx "
                        "is always kept: every figure is a ratio to it)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--plot", type=Path,
                        default=HERE.parent / "docs" / "performance-in-flight.png")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--from-json", type=Path, help="print the table of rounds saved "
                        "with --json (no new run)")
    args = parser.parse_args()
    if args.from_json:
        saved: list[dict[str, dict[str, object]]] = json.loads(args.from_json.read_text())
        print(markdown_table(list(saved[0]), saved,
                             {k: v for k, v in METRICS.items() if k in saved[0]["httpx"]}))
        return 0
    clients = [name for name, module in CLIENTS.items()
               if module is None or importlib.util.find_spec(module) is not None]
    if args.clients:
        wanted = {"httpx", *args.clients.split(",")}
        clients = [name for name in clients if name in wanted]
    metrics = {"first_request_ms": METRICS["first_request_ms"]} if args.only else METRICS
    print(f"clients: {', '.join(clients)}; load average {os.getloadavg()[0]:.1f}", flush=True)
    started = time.perf_counter()
    rounds: list[dict[str, dict[str, object]]] = []
    for number in range(args.rounds):
        order = clients[number % len(clients):] + clients[:number % len(clients)]
        figures: dict[str, dict[str, object]] = {}
        for client in order:
            if args.only:
                figures[client] = {}
                continue
            with Server() as url:
                figures[client] = run(client, url, "load", quick=args.quick,
                                      curve=number == 0)
        for _ in range(args.first_runs):
            for client in order:
                with Server() as url:
                    first = run(client, url, "first", quick=args.quick)
                if "first_request_ms" in first:
                    figures[client].setdefault("first_runs", []).append(  # type: ignore[union-attr]
                        first["first_request_ms"])
        for client in order:
            runs = figures[client].pop("first_runs", None)
            if runs:
                figures[client]["first_request_ms"] = statistics.median(runs)  # type: ignore[arg-type]
        rounds.append(figures)
        print(f"round {number + 1} done after {time.perf_counter() - started:.0f} s "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    table = markdown_table(clients, rounds, metrics)
    print(table)
    command = "python bench/peers.py " + " ".join(sys.argv[1:])
    if args.markdown:
        args.markdown.write_text(f"`{command}`\n\n{table}\n")
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=2))
    if not args.only:
        plot(clients, rounds[0], args.plot)
    return 0


class Server:
    """The fake provider server (every installed emulation), in its own process on CPU 0."""

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agentflow.testing.server", "--port", "0", "--print-url"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        url = self.proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the fake server did not start (said {url!r})")
        pin(SERVER_CPU, self.proc.pid)
        return url

    def __exit__(self, *exc_info: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def pin(cpu: int, pid: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(pid, {cpu})


def config_text(url: str, transport: str) -> str:
    """The configuration file of the agentflow clients."""
    return (f"providers:\n  openai:\n    base_url: {url}/openai/v1\n"
            f"defaults:\n  transport: {transport}\n  timeout_seconds: 120\n")


def run(client: str, url: str, mode: str, *, quick: bool,
        curve: bool = False) -> dict[str, object]:
    command = [sys.executable, str(HERE / "_peer_client.py"), client, url, mode]
    command += ["--quick"] * quick + ["--curve"] * curve
    env = {**os.environ, "OPENAI_API_KEY": "bench-key-not-a-secret"}
    if client != "agentflow-all-plugins":
        # Only what the client needs: exporter or guard plugins would take part in each call.
        env["AGENTFLOW_LOAD_PLUGINS"] = "openai,aiohttp"
    with tempfile.TemporaryDirectory(prefix="agentflow-bench-") as folder:
        if client.startswith("agentflow"):  # the user's file is there before the program runs
            config = Path(folder) / "agentflow.yml"
            config.write_text(config_text(url, "aiohttp" if client == "agentflow-aiohttp"
                                          else "httpx"))
            env["AGENTFLOW_BENCH_CONFIG"] = str(config)
        return _run_client(client, mode, command, env)


def _run_client(client: str, mode: str, command: list[str],
                env: dict[str, str]) -> dict[str, object]:
    for attempt in (1, 2):
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        pin(CLIENT_CPU, proc.pid)
        out, err = proc.communicate(timeout=900)
        if not proc.returncode:
            return dict(json.loads(out))
        print(f"the {client} client failed ({mode}, attempt {attempt}): "
              f"{err.strip().splitlines()[-1]}", flush=True)
    print(f"the {client} client failed twice ({mode}); its column shows 'failed':\n{err}",
          flush=True)
    return {}


def markdown_table(clients: list[str], rounds: list[dict[str, dict[str, object]]],
                   metrics: dict[str, str]) -> str:
    """Ratios to raw httpx of the same round, median over the rounds, and from three rounds on
    the lowest and highest round in brackets (how far one round can be trusted); raw httpx in
    absolute figures."""
    lines = ["| metric | raw httpx | " + " | ".join(c for c in clients if c != "httpx") + " |",
             "|---" * len(clients) + "|---|"]
    for key, title in metrics.items():
        raw = [float(r["httpx"][key]) for r in rounds  # type: ignore[arg-type]
               if key in r["httpx"]]
        unit = "µs" if key.endswith("_us") else "ms"
        cells = [f"{statistics.median(raw):.0f} {unit}" if raw else "failed"]
        for client in clients:
            if client == "httpx":
                continue
            ratios = [float(r[client][key]) / float(r["httpx"][key])  # type: ignore[arg-type]
                      for r in rounds if key in r[client] and key in r["httpx"]]
            cells.append(_spread(ratios))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _spread(ratios: list[float]) -> str:
    if not ratios:
        return "failed"
    median = f"{statistics.median(ratios):.2f}"
    return median if len(ratios) < 3 else f"{median} [{min(ratios):.2f}-{max(ratios):.2f}]"


def plot(clients: list[str], figures: dict[str, dict[str, object]], path: Path) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no plot")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for client in clients:
        curve = figures[client].get("curve_us_per_request")
        if not curve:
            continue
        widths = sorted(int(w) for w in curve)  # type: ignore[union-attr]
        ax.plot(widths, [curve[str(w)] for w in widths], marker="o",  # type: ignore[index]
                label=client)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("requests in flight")
    ax.set_ylabel("wall time per request (µs)")
    ax.set_title("Cost per request against concurrency (fake OpenAI server, one core)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot written to {path}")


if __name__ == "__main__":
    sys.exit(main())
