"""The worked example of docs/tools.md runs offline and prints what the page shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "agent_example.py"
PAGE = Path(__file__).parents[1] / "docs" / "tools.md"


def test_the_example_runs_the_tools_then_parses_the_answer():
    env = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "step 1: get_weather({'city': 'Lisbon'}) -> "
        '{"city": "Lisbon", "conditions": "sunny", "celsius": 21}',
        "step 1: convert({'amount': 200, 'to': 'EUR'}) -> 184.0",
        "answer: Lisbon is sunny at 21 °C, and 200 dollars are 184 euros.",
        "parsed: TripAdvice(city='Lisbon', pack_umbrella=False, budget_eur=184.0)",
        "agent: 2 steps, 2 tool calls, 57 tokens",
    ]
    page = PAGE.read_text()
    assert result.stdout in page, "the page shows other output than the example prints"


def test_the_page_shows_the_example_as_it_is():
    assert EXAMPLE.read_text() in PAGE.read_text()
