"""The worked example of docs/observability.md runs offline and prints what the page says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "observability_example.py"
PAGE = Path(__file__).parents[1] / "docs" / "observability.md"


def test_the_example_exports_each_call_and_prints_the_table():
    env = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    exported = [json.loads(line) for line in lines if line.startswith("{")]
    assert [(e["event"], e["model"], e["error"]) for e in exported] == [
        ("llm.request.complete", "gpt-4o", None),
        ("llm.stream.complete", "gpt-4o-mini", None),
        ("llm.request.error", "gpt-4o", "HttpError")]
    assert exported[0]["cost_usd"] == (12 * 2.50 + 3 * 10.00) / 1e6
    assert "failed as scripted: HttpError" in lines
    rows = {line.split()[0]: line.split() for line in lines
            if line.split() and line.split()[0] in ("gpt-4o", "gpt-4o-mini", "all")
            and "latency:" not in line}
    assert rows["gpt-4o"][1:4] == ["2", "1", "1"]
    assert rows["all"][1:4] == ["3", "2", "1"]
    assert lines[-1].startswith("gpt-4o p95 latency: ")
    assert lines[-1].endswith("retries: 2")


def test_the_page_shows_the_example_as_it_is():
    assert EXAMPLE.read_text() in PAGE.read_text()
