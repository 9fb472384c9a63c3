"""``agentflow demo``: every installed vendor, end to end, offline.

The fake provider server starts on loopback with the emulation each plugin contributes; every
vendor is pointed at it through an ordinary configuration, and a normal and a streaming prompt
go through each along the real path (hooks, httpx, SSE), then, where the vendor's plugin can,
a tool loop and a typed answer. A vendor whose catalog sends some models through another API
(the model option ``api``, as OpenAI's Responses API) shows one model of each. Nothing leaves
the machine.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, TextIO

import attrs

if TYPE_CHECKING:
    from agentflow._plugins.host import PluginHost
    from agentflow._runtime.runtime import Runtime
    from agentflow.config import Config
    from agentflow.testing import FakeServer
    from agentflow.types import ModelInfo

DEMO_KEY_ENV = "AGENTFLOW_DEMO_API_KEY"
DEMO_PROMPT = "Say hello to agentflow in one short sentence."
#: The alias suffix of a vendor's demo model with web search on (vendors with ``server_tools``).
WEB_SEARCH_SUFFIX = "+web-search"


def run_demo(out: TextIO) -> int:
    """Run the demo, writing to ``out``; returns the exit status."""
    import anyio

    from agentflow._plugins.host import get_plugin_host
    from agentflow.testing import FakeServer

    host = get_plugin_host()
    fakes = [fake for group in host.hook.agentflow_fake_routes() for fake in group]
    if not fakes:
        out.write("agentflow demo: no installed plugin emulates a vendor; install one, e.g.\n"
                  "  pip install agentflow-openai\n")
        return 1
    with FakeServer(providers=fakes) as server:
        out.write(f"fake provider server on {server.url} (loopback only)\n\n")
        config = demo_config(server, host)
        return int(anyio.run(_run_all, config, host, out))


def demo_config(server: FakeServer, host: PluginHost) -> Config:
    """A configuration that sends every emulated vendor to ``server``, one model each."""
    from agentflow.config import ModelConfig, PricingConfig
    from agentflow.testing.wiring import fake_config

    os.environ.setdefault(DEMO_KEY_ENV, "demo-key-not-a-secret")
    config = fake_config(server, (), api_key_env=DEMO_KEY_ENV)
    catalog = host.catalog()
    models = {}
    for name in server.provider_names:
        # The vendor's first priced catalog model, so the metrics table can show a cost.
        entries = [m for m in catalog.values() if m.provider == name]
        entry = next((m for m in entries if m.pricing is not None), None) or next(
            iter(entries), None)
        if entry is None:
            models[f"demo-{name}"] = ModelConfig(vendor=name, model_id="demo-model")
            continue
        chosen: list[tuple[str, ModelInfo, dict[str, str]]] = [(f"demo-{name}", entry, {})]
        # A vendor whose models choose their API (OpenAI's Chat Completions or Responses API,
        # the option ``api``) shows each API its catalog sets, through the first such model.
        for api in dict.fromkeys(str(m.options["api"]) for m in entries if "api" in m.options):
            chosen.append((f"demo-{name}+{api}", next(
                m for m in entries if m.options.get("api") == api), {"api": api}))
        for alias, info, options in chosen:
            price = info.pricing
            models[alias] = ModelConfig(
                vendor=name, model_id=info.model_id or info.name, options=options,
                pricing=None if price is None else PricingConfig(
                    input_per_million=price.input_per_million,
                    output_per_million=price.output_per_million,
                    cached_input_per_million=price.cached_input_per_million))
    providers = host.providers()
    for alias, model in list(models.items()):
        spec = providers.get(model.vendor or "")
        if spec is not None and "server_tools" in spec.capabilities:
            models[alias + WEB_SEARCH_SUFFIX] = attrs.evolve(
                model, options={**model.options, "server_tools": ["web_search"]})
    return attrs.evolve(config, models=models)


async def _run_all(config: Config, host: PluginHost, out: TextIO) -> int:
    from agentflow._observe.events import MetricsCollector
    from agentflow._runtime.runtime import Runtime
    from agentflow.errors import LLMError

    runtime = Runtime(host=host, config=config)
    metrics = MetricsCollector()
    runtime.collectors.append(metrics)
    failures = 0
    try:
        for alias in sorted(a for a in config.models if not a.endswith(WEB_SEARCH_SUFFIX)):
            settings = runtime.resolve(alias)
            api = settings.options.get("api")
            shown = f"{settings.model_id}, api: {api}" if api else settings.model_id
            out.write(f"== {settings.vendor} ({shown}) ==\n")
            try:
                await _show_one(runtime, alias, out)
            except LLMError as exc:
                failures += 1
                out.write(f"   FAILED: {type(exc).__name__}: {exc}\n")
            out.write("\n")
    finally:
        await runtime.aclose()
    from agentflow._observe.table import metrics_table

    out.write("== metrics ==\n")
    out.write(metrics_table(metrics))
    return 1 if failures else 0


async def _show_one(runtime: Runtime, alias: str, out: TextIO) -> None:
    from agentflow._api.builder import LLMClientBuilder

    started = time.perf_counter()
    builder = LLMClientBuilder(alias, runtime=runtime)
    response = await builder.system("You are brief.").prompt(DEMO_PROMPT).execute_response()
    elapsed = (time.perf_counter() - started) * 1000
    usage = response.usage
    tokens = f"{usage.prompt_tokens}+{usage.completion_tokens} tokens" if usage else "no usage"
    out.write(f"   answer:    {response.text}\n")
    out.write(f"              finish={response.finish_reason}, {tokens}, {elapsed:.1f} ms\n")
    out.write("   streaming: ")
    stream = await LLMClientBuilder(alias, runtime=runtime).prompt(
        "Count to five, please.").execute_streaming()
    pieces = 0
    async with stream:
        async for chunk in stream:
            pieces += 1
            out.write(chunk.content)
            out.flush()
    final = stream.final_chunk
    out.write(f"\n              {pieces} chunks, finish="
              f"{final.finish_reason if final else None}\n")
    spec = runtime.host.providers().get(runtime.resolve(alias).vendor)
    capabilities = spec.capabilities if spec is not None else frozenset()
    if "tools" in capabilities:
        run = await LLMClientBuilder(alias, runtime=runtime).prompt(
            "What time is it in Lisbon?").tools(local_time).tool_choice("required").run_tools()
        for tool_run in run.steps[0].tool_runs:
            out.write(f"   tools:     {tool_run.call.name}({dict(tool_run.call.arguments)}) -> "
                      f"{tool_run.result}\n")
        out.write(f"              then: {run.text}\n")
    if "structured_output" in capabilities:
        card = await LLMClientBuilder(alias, runtime=runtime).prompt(
            "Rate agentflow.").output_type(Rating).execute_parsed()
        out.write(f"   typed:     {card!r}\n")
    configured = runtime.config.models if runtime.config is not None else {}
    if "server_tools" in capabilities and alias + WEB_SEARCH_SUFFIX in configured:
        found = await LLMClientBuilder(alias + WEB_SEARCH_SUFFIX, runtime=runtime).prompt(
            "agentflow server tools").execute_response()
        for used in found.server_tools:
            out.write(f"   server:    {used.name}({dict(used.input)}) ran at the vendor\n")
        sources = ", ".join(citation.url or citation.kind for citation in found.citations)
        out.write(f"              then: {found.text} [cites: {sources or 'nothing'}]\n")


def local_time(city: str) -> str:
    """The local time in a city.

    :param city: the city's name
    """
    return f"12:00 in {city}"


@attrs.frozen
class Rating:
    """A rating of a library."""

    library: str
    stars: int
