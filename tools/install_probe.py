"""One call per emulated provider through the public Python API, run inside a fresh install.

``tools/check_install.py`` runs this with the interpreter of a virtual environment that holds
only what ``pip install`` put there from the built wheels; it imports nothing from the
repository. It starts the fake provider server with the installed plugins' emulations, points
a configuration file at it, and sends a prompt and a streamed prompt to every provider: to the
first model of its catalog (as ``agentflow models --json`` lists it), or to an alias for a
provider without one.

    python install_probe.py [PROVIDER ...]   # each named provider must be emulated

With agentflow-prometheus installed it also checks that the calls reached prometheus_client's
registry, and with OpenTelemetry's SDK installed, that they became spans.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

from agentflow import AgentFlow
from agentflow.testing import FakeServer

KEY_ENV = "AGENTFLOW_INSTALL_PROBE_KEY"
PROMPT = "Hello from a fresh install"
ECHO = f"You said: {PROMPT}"


def main(expected: list[str]) -> int:
    """Call every emulated provider; returns the exit status."""
    os.environ[KEY_ENV] = "probe-key-not-a-secret"
    spans = _in_memory_spans()
    with FakeServer.from_plugins() as server, tempfile.TemporaryDirectory() as folder:
        providers = sorted(server.provider_names)
        missing = sorted(set(expected) - set(providers))
        if missing:
            print(f"probe: no emulation for {missing}; the server has {providers}")
            return 1
        models = _one_model_each(providers)
        config = Path(folder, "agentflow.yml")
        config.write_text(_config(server, models))
        anyio.run(_call_each, config, models)
    if _installed("agentflow_prometheus"):
        _check_prometheus()
    if spans is not None:
        names = sorted({span.name for span in spans.get_finished_spans()})
        assert names, "agentflow-otel made no span"
        print(f"probe: OpenTelemetry spans: {', '.join(names)}")
    return 0


def _one_model_each(providers: list[str]) -> dict[str, str]:
    """Each provider's first catalog model, else ``probe-<provider>`` (an alias to define)."""
    agentflow = shutil.which("agentflow")
    assert agentflow, "no agentflow command on PATH"
    listed = subprocess.run([agentflow, "models", "--json"], capture_output=True, text=True,
                            check=True)
    first: dict[str, str] = {}
    for entry in json.loads(listed.stdout):
        first.setdefault(entry["provider"], entry["name"])
    return {name: first.get(name, f"probe-{name}") for name in providers}


def _config(server: FakeServer, models: dict[str, str]) -> str:
    lines = ["providers:"]
    for name in models:
        lines += [f"  {name}:", f"    base_url: {server.base_url(name)}",
                  f"    api_key_env: {KEY_ENV}"]
    aliases = {name: model for name, model in models.items() if model == f"probe-{name}"}
    if aliases:
        lines.append("models:")
    for name, model in aliases.items():
        lines += [f"  {model}:", f"    vendor: {name}", "    model_id: probe-model"]
    return "\n".join(lines) + "\n"


async def _call_each(config: Path, models: dict[str, str]) -> None:
    await AgentFlow.init_with_config(str(config))
    try:
        for name, model in models.items():
            text = await AgentFlow.model(model).prompt(PROMPT).execute()
            assert text == ECHO, f"{model} ({name}) answered {text!r}"
            stream = await AgentFlow.model(model).prompt(PROMPT).execute_streaming()
            streamed = await stream.collect_all()
            assert streamed == ECHO, f"{model} ({name}) streamed {streamed!r}"
            print(f"probe: {name}: {model}: execute() and execute_streaming() answered "
                  f"{text!r}")
    finally:
        await AgentFlow.aclose()


def _in_memory_spans() -> Any:
    """An in-memory span exporter set as the global tracer provider, if the SDK is there."""
    if not _installed("opentelemetry.sdk"):
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is not there
        return False


def _check_prometheus() -> None:
    from prometheus_client import generate_latest

    samples = [line for line in generate_latest().decode().splitlines()
               if line.startswith("agentflow_") and not line.endswith(" 0.0")]
    assert samples, "agentflow-prometheus recorded nothing"
    print(f"probe: Prometheus: {len(samples)} agentflow_* samples, e.g. {samples[0]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
