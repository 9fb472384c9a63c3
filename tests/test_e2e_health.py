"""Health checks of every first-party vendor together, over loopback HTTP against the fake
server, and ``agentflow doctor`` run as a user runs it."""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from agentflow import AgentFlow
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, ProviderConfig
from agentflow.testing import FakeServer, Reply

#: provider -> the variable its key is read from
VENDORS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
           "google": "GOOGLE_API_KEY", "moonshot": "MOONSHOT_API_KEY"}
KEY = "sk-doctor-secret-0123456789abcdef"
#: What every emulation refuses as a key (real keys hold no whitespace).
WRONG_KEY = "sk-doctor wrong-0123456789abcdef"


@pytest.fixture
async def vendors(fake_llm_server, monkeypatch):
    """AgentFlow with every vendor's base URL on the fake server and its key set."""
    for variable in (*VENDORS.values(), "GEMINI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    for variable in VENDORS.values():
        monkeypatch.setenv(variable, KEY)
    runtime = Runtime()
    runtime.set_config(Config(providers={
        name: ProviderConfig(base_url=fake_llm_server.base_url(name)) for name in VENDORS}))
    previous = AgentFlow.use_runtime(runtime)
    try:
        yield fake_llm_server
    finally:
        AgentFlow.use_runtime(previous)
        await runtime.aclose()


@pytest.mark.anyio
async def test_every_vendor_is_checked_at_once(vendors):
    for name in VENDORS:
        vendors.script(name, Reply(delay=60))
    async with anyio.create_task_group() as checks:
        checks.start_soon(functools.partial(AgentFlow.check_providers, timeout=120))
        # One after the other, the second would wait for the first's answer, a minute away.
        await vendors.wait_for_requests(len(VENDORS), timeout=30)
        checks.cancel_scope.cancel()
    vendors.clear()
    for name in VENDORS:
        vendors.script(name, Reply(delay=0.5))
    results = await AgentFlow.check_providers(slow_after=30)
    assert [(r.provider, r.status) for r in results] == [(name, "ok") for name in VENDORS]
    assert all(r.latency_ms is not None and r.latency_ms >= 500 for r in results)
    assert {r.path.rsplit("/", 1)[-1] for r in vendors.requests} == {"models"}
    assert {r.method for r in vendors.requests} == {"GET"}


@pytest.mark.anyio
async def test_each_vendors_wrong_key_is_rejected_and_never_shown(vendors, monkeypatch, caplog):
    for variable in VENDORS.values():
        monkeypatch.setenv(variable, WRONG_KEY)
    caplog.set_level(logging.DEBUG)
    results = await AgentFlow.check_providers()
    assert {r.provider: r.status for r in results} == dict.fromkeys(VENDORS, "key_rejected")
    for result in results:
        assert result.api_key_env == VENDORS[result.provider]
    everything = repr(results) + json.dumps([r.as_dict() for r in results]) + caplog.text
    assert WRONG_KEY not in everything
    assert "wrong-0123456789abcdef" not in everything


@pytest.mark.anyio
async def test_a_missing_key_is_reported_with_its_variables(vendors, monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY")
    results = {r.provider: r for r in await AgentFlow.check_providers()}
    google = results.pop("google")
    assert google.status == "missing_key"
    assert "neither GOOGLE_API_KEY nor GEMINI_API_KEY is set" in google.detail
    assert {r.status for r in results.values()} == {"ok"}
    assert not any(r.path.startswith("/google/") for r in vendors.requests)


@pytest.mark.anyio
async def test_the_fallback_key_variable_is_used(vendors, monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    [result] = await AgentFlow.check_providers(providers=["google"])
    assert (result.status, result.api_key_env) == ("ok", "GEMINI_API_KEY")


# agentflow doctor -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with FakeServer.from_plugins() as running:
        yield running


@pytest.fixture
def config(server, tmp_path: Path) -> Path:
    server.clear()
    path = tmp_path / "agentflow.yml"
    path.write_text("providers:\n" + "".join(
        f"  {name}:\n    base_url: {server.base_url(name)}\n" for name in VENDORS))
    return path


def doctor(*args: str, keys: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``agentflow doctor`` with only ``keys`` set, and no configuration to discover."""
    env = {name: value for name, value in os.environ.items()
           if not name.endswith("_API_KEY") and name != "AGENTFLOW_CONFIG"}
    env.update(keys, HOME=str(cwd), XDG_CONFIG_HOME=str(cwd / ".config"))
    return subprocess.run([sys.executable, "-m", "agentflow.cli", "doctor", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def rows(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split() == ["PROVIDER", "VENDOR", "STATUS", "LATENCY", "DETAIL"]
    table = lines[1:lines.index("")]
    return {line.split()[0]: line.split() for line in table}


def test_doctor_exits_0_when_every_provider_works(config, tmp_path):
    result = doctor("-c", str(config), keys=dict.fromkeys(VENDORS.values(), KEY), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    table = rows(result.stdout)
    assert list(table) == list(VENDORS)
    assert {row[2] for row in table.values()} == {"ok"}
    assert all(row[4] == "ms" for row in table.values())
    assert "4 of 4 provider(s) usable" in result.stdout


def test_doctor_exits_1_and_says_why_a_provider_fails(config, tmp_path):
    keys = {**dict.fromkeys(VENDORS.values(), KEY), "ANTHROPIC_API_KEY": WRONG_KEY}
    del keys["MOONSHOT_API_KEY"]
    result = doctor("--config", str(config), keys=keys, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    table = rows(result.stdout)
    assert table["anthropic"][2] == "key_rejected"
    assert "ANTHROPIC_API_KEY" in " ".join(table["anthropic"])
    assert table["moonshot"][2] == "missing_key"
    assert "export MOONSHOT_API_KEY=..." in result.stdout
    assert "not working: anthropic, moonshot" in result.stdout
    assert WRONG_KEY not in result.stdout + result.stderr
    assert KEY not in result.stdout + result.stderr


def test_doctor_json_gives_every_field(config, tmp_path):
    result = doctor("-c", str(config), "--json", keys={"OPENAI_API_KEY": KEY}, cwd=tmp_path)
    assert result.returncode == 1
    by_name = {r["provider"]: r for r in json.loads(result.stdout)}
    assert set(by_name) == set(VENDORS)
    openai = by_name["openai"]
    assert (openai["status"], openai["usable"], openai["status_code"]) == ("ok", True, 200)
    assert openai["api_key_env"] == "OPENAI_API_KEY"
    assert openai["base_url"] == config.read_text().split("base_url: ")[1].split()[0]
    assert by_name["anthropic"]["status"] == "missing_key"
    assert KEY not in result.stdout


def test_doctor_timeout_bounds_each_check(server, config, tmp_path):
    server.script("openai", Reply(delay=120))
    started = time.monotonic()
    result = doctor("-c", str(config), "--timeout", "0.5",
                    keys=dict.fromkeys(VENDORS.values(), KEY), cwd=tmp_path)
    assert time.monotonic() - started < 60  # gave up at its limit, did not wait the answer
    assert result.returncode == 1
    assert rows(result.stdout)["openai"][2] == "timeout"


def test_doctor_with_no_configuration_shows_every_installed_vendor(tmp_path):
    result = doctor(keys={}, cwd=tmp_path)
    assert result.returncode == 1  # nothing can be used
    table = rows(result.stdout)
    assert {"openai", "anthropic", "google", "moonshot", "acme"} <= set(table)
    assert table["openai"][2] == "(missing_key)"
    assert "set up at least one" in result.stdout


def test_doctor_usage_and_configuration_errors_exit_2(tmp_path):
    assert doctor("--timeout", "0", keys={}, cwd=tmp_path).returncode == 2
    assert doctor("--timeout", "soon", keys={}, cwd=tmp_path).returncode == 2
    bad = tmp_path / "bad.yml"
    bad.write_text("providers:\n  openai:\n    base_url: 12\n    api_key: sk-in-the-file\n")
    result = doctor("-c", str(bad), keys={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "ConfigurationError" in result.stderr
