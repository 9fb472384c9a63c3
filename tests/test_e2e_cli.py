"""The ``agentflow`` command, run as a user runs it: a subprocess, talking over loopback HTTP to
the fake provider server of this test process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentflow.testing import FakeServer, Reply

KEY = "sk-cli-test-secret-0123456789"


@pytest.fixture(scope="module")
def server():
    with FakeServer.from_plugins() as running:
        yield running


@pytest.fixture
def config(server, tmp_path: Path) -> Path:
    server.clear()
    path = tmp_path / "agentflow.yml"
    path.write_text(
        "providers:\n"
        "  openai:\n"
        f"    base_url: {server.base_url('openai')}\n"
        "defaults:\n"
        "  retry_delay_ms: 1\n"
        "models:\n"
        "  house:\n"
        "    vendor: openai\n"
        "    model_id: gpt-4o-mini\n"
        "    temperature: 0.2\n")
    return path


def agentflow(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    env.pop("AGENTFLOW_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "agentflow.cli", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=60)


def test_run_prints_the_answer(server, config):
    server.script("openai", Reply(text="Hi from the fake"))
    result = agentflow("run", "-m", "house", "--config", str(config), "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hi from the fake\n"
    sent = server.requests[-1].json
    assert (sent["model"], sent["temperature"]) == ("gpt-4o-mini", 0.2)


def test_run_options_reach_the_wire(server, config):
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "--system", "be brief",
                       "--temperature", "0.9", "--max-tokens", "12", "hello")
    assert result.returncode == 0, result.stderr
    sent = server.requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert (sent["temperature"], sent["max_tokens"]) == (0.9, 12)


def test_run_image_and_schema(server, config, tmp_path):
    from agentflow.testing.conformance import PIXEL_PNG
    from agentflow.testing.fake import describe_image

    image = tmp_path / "pixel.png"
    image.write_bytes(PIXEL_PNG)
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "--image", str(image),
                       "what is it?")
    assert result.returncode == 0, result.stderr
    assert describe_image("image/png", PIXEL_PNG) in result.stdout
    schema = tmp_path / "schema.yml"
    schema.write_text("type: object\nproperties:\n  total: {type: integer}\n"
                      "required: [total]\nadditionalProperties: false\n")
    server.script("openai", Reply(text='{"total": 42}'))
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "--schema", str(schema), "sum")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"total": 42}
    assert server.requests[-1].json["response_format"]["type"] == "json_schema"
    server.script("openai", Reply(text='{"total": "many"}'))
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "--schema", str(schema), "sum")
    assert result.returncode == 1
    assert "$.total expected integer" in result.stderr


def test_run_stream_prints_every_piece(server, config):
    server.script("openai", Reply(text="one two three"))
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "--stream", "go")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "one two three\n"
    assert server.requests[-1].json["stream"] is True


def test_run_json_gives_usage_and_finish_reason(server, config):
    server.script("openai", Reply(text="four words right here", usage=(3, 4)))
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "--json", "go")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["text"] == "four words right here"
    assert body["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_run_metrics_prints_the_calls_figures_to_stderr(server, config):
    server.script("openai", Reply(text="four words right here", usage=(1000, 2000)))
    result = agentflow("run", "-m", "house", "-c", str(config), "--metrics", "go")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "four words right here\n"  # the answer alone: pipes stay clean
    header, row = result.stderr.splitlines()
    assert header.split()[:3] == ["MODEL", "CALLS", "OK"]
    cells = row.split()
    assert cells[:4] == ["house", "1", "1", "0"]
    assert "1000 / 2000" in row
    # house is gpt-4o-mini: $0.15 in, $0.60 out per million tokens
    assert row.endswith("$0.001350")


def test_run_stream_metrics_time_the_first_token(server, config):
    server.script("openai", Reply(text="one two three", usage=(2, 3)))
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "--stream", "--metrics", "go")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "one two three\n"
    row = result.stderr.splitlines()[1]
    assert row.split()[:2] == ["gpt-4o", "1"]
    assert row.count(" ms") == 2  # latency and first token both measured


def test_run_json_metrics_are_part_of_the_json(server, config):
    server.script("openai", Reply(text="x", usage=(3, 4)))
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "--json", "--metrics", "go")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["llm.model.gpt-4o.requests.total"] == 1
    assert metrics["llm.tokens.completion"] == 4
    assert metrics["llm.cost_usd"] == (3 * 2.50 + 4 * 10.00) / 1e6


def test_prompt_from_stdin(server, config):
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "-", stdin="from stdin")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: from stdin\n"


def test_provider_error_exits_1_with_one_line_and_no_key(server, config):
    server.script("openai", Reply(status=401, error_message="Incorrect API key provided"))
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "hello")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("agentflow: error: HttpError: ")
    assert "Incorrect API key provided" in result.stderr
    assert KEY not in result.stderr + result.stdout


def test_debug_shows_the_traceback(server, config):
    server.script("openai", *[Reply(status=500)] * 3)  # the first try and both retries
    result = agentflow("run", "-m", "gpt-4o", "-c", str(config), "--debug", "hello")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr


def test_unknown_model_is_a_usage_error_with_suggestions(config):
    result = agentflow("run", "-m", "gpt-4oo", "-c", str(config), "hello")
    assert result.returncode == 2
    assert "ModelNotFoundError" in result.stderr
    assert "gpt-4o" in result.stderr


def test_missing_subcommand_is_a_usage_error():
    assert agentflow().returncode == 2


def test_models_lists_catalog_and_configured_aliases(config):
    result = agentflow("models", "-c", str(config))
    assert result.returncode == 0, result.stderr
    names = {line.split()[0] for line in result.stdout.splitlines()[1:]}
    assert {"house", "gpt-4o", "acme-large"} <= names


def test_validate_prints_located_errors_and_exits_2(tmp_path):
    bad = tmp_path / "agentflow.yml"
    bad.write_text("models:\n  m:\n    vendor: openai\n    temprature: 0.5\n"
                   "    max_tokens: 0\n")
    result = agentflow("validate", str(bad))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{bad}:4:5: models.m.temprature: ") and
               "did you mean 'temperature'" in line for line in lines), lines
    assert any(line.startswith(f"{bad}:5:17: models.m.max_tokens: ") for line in lines), lines


def test_validate_accepts_a_good_file(config):
    result = agentflow("validate", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_schema_is_json_naming_installed_vendors():
    result = agentflow("config", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert {"models", "providers", "defaults"} <= set(schema["properties"])
    assert "openai" in result.stdout


def test_demo_runs_every_vendor_offline():
    result = agentflow("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    for vendor in ("openai", "openai_compatible", "acme"):
        assert f"== {vendor} " in result.stdout
    assert "FAILED" not in result.stdout
    table = result.stdout.split("== metrics ==\n")[1].splitlines()
    assert table[0].split()[:2] == ["MODEL", "CALLS"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    # two calls each; a vendor that can also runs a tool loop (two calls) and a typed answer
    calls = {"demo-openai": 5, "demo-google": 5, "demo-anthropic": 5, "demo-moonshot": 5,
             "demo-acme": 2}
    for model, expected in calls.items():
        assert rows[model][1:4] == [str(expected), str(expected), "0"], model
    assert all(row[3] == "0" for row in rows.values())
    assert "$" in " ".join(rows["demo-openai"])
    assert rows["demo-acme"][-1] == "unknown"  # the tutorial vendor publishes no price
    assert int(rows["all"][1]) == sum(int(row[1]) for name, row in rows.items() if name != "all")
    assert "   tools:     local_time({'city': 'example'}) -> 12:00 in example" in result.stdout
    assert "   typed:     Rating(library='example', stars=1)" in result.stdout
    # a vendor with server tools answers once more with web search on (Anthropic's emulation)
    assert rows["demo-anthropic+web-search"][1:4] == ["1", "1", "0"]
    assert ("   server:    web_search({'query': 'agentflow server tools'}) ran at the vendor"
            in result.stdout)
    assert "[cites: https://example.com/agentflow/server-tools]" in result.stdout


def test_a_broken_plugin_warns_once_and_the_command_keeps_working(tmp_path, config):
    # An installed distribution whose entry point cannot be imported.
    dist_info = tmp_path / "agentflow_broken-1.2.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: agentflow-broken\nVersion: 1.2\n")
    (dist_info / "entry_points.txt").write_text(
        "[agentflow]\nbroken = agentflow_broken_missing_module\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OPENAI_API_KEY": KEY}
    for command in (["plugins"], ["models", "-c", str(config)]):
        result = subprocess.run([sys.executable, "-m", "agentflow.cli", *command],
                                capture_output=True, text=True, env=env, timeout=60)
        # `plugins` lists the failed plugin and fails; `models` works with the others.
        assert result.returncode == (1 if command == ["plugins"] else 0), result.stderr
        warning = [line for line in result.stderr.splitlines() if "broken" in line]
        assert len(warning) == 1, result.stderr
        assert warning[0].startswith("agentflow: warning: agentflow plugin 'broken' from "
                                     "distribution agentflow-broken 1.2 failed to load: "
                                     "ModuleNotFoundError")
    assert "gpt-4o" in result.stdout
