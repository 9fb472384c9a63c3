"""An agent with two Python tools and a typed final answer, offline against the fake server.

    pip install './core[testing]' ./plugins/agentflow-openai
    python docs/examples/agent_example.py

From the repository's root, in a virtual environment; once the distributions are published,
the install line is ``pip install 'agentflow-core[testing]' agentflow-openai``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

import anyio
import attrs

from agentflow import AgentFlow, MetricsCollector
from agentflow.testing import FakeServer, FakeToolCall, Reply

RATES = {"EUR": 0.92, "JPY": 151.0, "USD": 1.0}


async def get_weather(city: str) -> dict[str, object]:
    """Today's weather in a city.

    :param city: the city's name, e.g. Lisbon
    """
    await anyio.sleep(0.01)  # a real tool would call a weather service here
    return {"city": city, "conditions": "sunny", "celsius": 21}


def convert(amount: float, to: Literal["EUR", "JPY", "USD"]) -> float:
    """Convert US dollars to another currency.

    :param amount: how many US dollars
    :param to: the currency to convert to
    """
    return round(amount * RATES[to], 2)


@attrs.frozen
class TripAdvice:
    """Advice for a trip."""

    city: str
    pack_umbrella: bool
    budget_eur: float


async def main(config_path: Path) -> None:
    metrics = MetricsCollector()
    async with AgentFlow.session(config_path):
        run = await (AgentFlow.model("gpt-4o")
                     .system("You help people plan trips. Use the tools.")
                     .prompt("I am off to Lisbon with 200 dollars. Weather? Euros?")
                     .tools(get_weather, convert)
                     .with_metrics(metrics)
                     .run_tools(max_steps=4))
        for step in run.steps:
            for tool_run in step.tool_runs:
                call = tool_run.call
                print(f"step {step.index}: {call.name}({dict(call.arguments)}) -> "
                      f"{tool_run.result}")
        print(f"answer: {run.text}")

        advice = await (AgentFlow.model("gpt-4o")
                        .messages(run.messages)
                        .prompt("Sum the trip up.")
                        .output_type(TripAdvice)
                        .execute_parsed())
        print(f"parsed: {advice}")
    figures = metrics.get_metrics_by_prefix("llm.agent.")
    print(f"agent: {figures['llm.agent.steps']:.0f} steps, "
          f"{figures['llm.agent.tool_calls']:.0f} tool calls, "
          f"{run.usage.total_tokens} tokens")


if __name__ == "__main__":
    os.environ.setdefault("OPENAI_API_KEY", "example-key-not-a-secret")
    with FakeServer.from_plugins() as server, tempfile.TemporaryDirectory() as folder:
        server.script(
            "openai",
            # the model asks for both tools at once...
            Reply(tool_calls=[FakeToolCall(name="get_weather", arguments={"city": "Lisbon"}),
                              FakeToolCall(name="convert", arguments={"amount": 200,
                                                                      "to": "EUR"})]),
            # ...then answers from their results...
            Reply(text="Lisbon is sunny at 21 °C, and 200 dollars are 184 euros."),
            # ...and finally as the TripAdvice class asks.
            Reply(text='{"city": "Lisbon", "pack_umbrella": false, "budget_eur": 184.0}'))
        config = Path(folder) / "agentflow.yml"
        config.write_text(f"providers:\n  openai:\n    base_url: {server.base_url('openai')}\n")
        anyio.run(main, config)
