"""Metrics, and an exporter plugin of twenty lines, offline against the fake provider server.

    pip install './core[testing]' ./plugins/agentflow-openai
    python docs/examples/observability_example.py

From the repository's root, in a virtual environment; once the distributions are published,
the install line is ``pip install 'agentflow-core[testing]' agentflow-openai``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import anyio

from agentflow import AgentFlow, MetricsCollector, metrics_table
from agentflow.hookspecs import hookimpl
from agentflow.testing import FakeServer, Reply


class JsonLinesExporter:
    """An exporter plugin: one JSON line per finished call, for a log shipper to pick up."""

    ENDS = ("llm.request.complete", "llm.stream.complete", "llm.request.error")

    def __init__(self, out):
        self.out = out

    @hookimpl
    def agentflow_record_event(self, event):
        if event.event_type in self.ENDS:
            meta = event.metadata
            self.out.write(json.dumps({
                "event": event.event_type, "model": meta["model"], "status": meta.get("status"),
                "completion_tokens": meta.get("completion_tokens"),
                "cost_usd": meta.get("cost_usd"), "error": meta.get("error_type"),
            }) + "\n")


async def main(config_path: Path) -> None:
    AgentFlow.register_plugin(JsonLinesExporter(sys.stdout), name="jsonl-exporter")
    metrics = MetricsCollector()
    AgentFlow.attach_metrics(metrics)  # every call, from now on
    async with AgentFlow.session(config_path):
        await AgentFlow.model("gpt-4o").prompt("Hello").execute()
        stream = await AgentFlow.model("gpt-4o-mini").prompt("Count to five").execute_streaming()
        await stream.collect_all()
        try:
            await AgentFlow.model("gpt-4o").prompt("This one fails").execute()
        except Exception as exc:  # scripted: two 503s, then a 400 that is not retried
            print(f"failed as scripted: {type(exc).__name__}")
    print(metrics_table(metrics), end="")
    figures = metrics.get_metrics_by_prefix("llm.model.gpt-4o.")
    print(f"gpt-4o p95 latency: {figures['llm.model.gpt-4o.latency_ms.p95']:.1f} ms, "
          f"retries: {figures['llm.model.gpt-4o.retries']:.0f}")


if __name__ == "__main__":
    os.environ.setdefault("OPENAI_API_KEY", "example-key-not-a-secret")
    with FakeServer.from_plugins() as server, tempfile.TemporaryDirectory() as folder:
        server.script("openai", Reply(text="Hi there!", usage=(12, 3)),
                      Reply(text="one two three four five", usage=(20, 5)),
                      Reply(status=503), Reply(status=503), Reply(status=400))
        config = Path(folder) / "agentflow.yml"
        config.write_text(f"providers:\n  openai:\n    base_url: {server.base_url('openai')}\n"
                          "defaults:\n  retry_delay_ms: 10\n")
        anyio.run(main, config)
