"""A newcomer's first run: what agentflow says with no vendor plugin, or with a vendor name
that only a first-party plugin serves. Every hint names a distribution that exists.

"Only the core installed" is played with ``AGENTFLOW_LOAD_PLUGINS=`` (empty: load no plugin),
in a subprocess, as a user's command would run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
NO_VENDOR = ("no vendor plugin is installed; install one, e.g. pip install agentflow-openai (or "
             "agentflow-anthropic, agentflow-google, agentflow-moonshot)")
REAL_DISTRIBUTIONS = {"agentflow-core", "agentflow-openai", "agentflow-anthropic",
                      "agentflow-google", "agentflow-moonshot"}


def run(*args: str, plugins: str | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFLOW_")}
    if plugins is not None:
        env["AGENTFLOW_LOAD_PLUGINS"] = plugins
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=60)


@pytest.mark.parametrize("command", ["models", "plugins"])
def test_listing_with_no_vendor_plugin_says_what_to_install(command, tmp_path):
    result = run("-m", "agentflow.cli", command, plugins="", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"agentflow: {NO_VENDOR}" in result.stderr.splitlines()


def test_listing_with_a_vendor_plugin_has_no_such_hint(tmp_path):
    result = run("-m", "agentflow.cli", "models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no vendor plugin" not in result.stderr


def test_a_model_with_no_vendor_plugin_says_what_to_install(tmp_path):
    code = ("from agentflow import AgentFlow, ModelNotFoundError\n"
            "try:\n"
            "    AgentFlow.model('gpt-4o').prompt('Hi').execute_sync()\n"
            "except ModelNotFoundError as error:\n"
            "    print(error)\n")
    result = run("-c", code, plugins="", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no model named 'gpt-4o'" in result.stdout
    assert NO_VENDOR[0].upper() + NO_VENDOR[1:] in result.stdout


@pytest.mark.parametrize(("vendor", "expected"), [
    ("lm-studio", "to use it: write vendor: lmstudio (agentflow-openai, installed, serves "
                  "lm-studio)"),
    ("llama.cpp", "to use it: write vendor: llamacpp (agentflow-openai, installed, "
                  "serves llama.cpp)"),
])
def test_a_service_reached_through_another_vendor_is_named_so(vendor, expected, tmp_path):
    (tmp_path / "agentflow.yml").write_text(
        f"providers:\n  local:\n    vendor: {vendor}\n    base_url: http://127.0.0.1:1/v1\n")
    result = run("-m", "agentflow.cli", "validate", "agentflow.yml", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stdout
    assert f"agentflow-{vendor}" not in result.stdout


@pytest.mark.parametrize(("vendor", "install"), [
    ("openai_compatible", "pip install agentflow-openai"),
    ("moonshot_cn", "pip install agentflow-moonshot"),
    ("ollama", "pip install agentflow-openai"),
    ("llama.cpp", "pip install agentflow-openai and write vendor: llamacpp"),
])
def test_with_no_vendor_plugin_the_hint_names_the_distribution_that_serves_it(
        vendor, install, tmp_path):
    (tmp_path / "agentflow.yml").write_text(
        f"providers:\n  local:\n    vendor: {vendor}\n    base_url: http://127.0.0.1:1/v1\n")
    result = run("-m", "agentflow.cli", "validate", "agentflow.yml", plugins="", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no vendor plugin is installed (try {install})" in result.stdout
    named = {word.strip("(),;.") for word in result.stdout.split()
             if word.startswith("agentflow-")}
    assert named <= REAL_DISTRIBUTIONS, named


def test_the_table_names_only_distributions_of_this_repository():
    from agentflow.config._install_hints import KNOWN_VENDORS

    ours = {"agentflow-core", *(p.name for p in (ROOT / "plugins").iterdir())}
    assert {distribution for distribution, _ in KNOWN_VENDORS.values()} <= ours


@pytest.mark.parametrize("plugins", [None, ""], ids=["plugins installed", "core only"])
def test_an_unknown_vendor_gets_no_guessed_distribution_name(plugins, tmp_path):
    (tmp_path / "agentflow.yml").write_text(
        "providers:\n  local:\n    vendor: quasar_llm\n    base_url: http://127.0.0.1:1/v1\n")
    result = run("-m", "agentflow.cli", "validate", "agentflow.yml", plugins=plugins,
                 cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert ("third-party vendor plugins are named agentflow-<vendor>: check who publishes one "
            "before installing it") in result.stdout
    named = {word.strip("(),;.:") for word in result.stdout.split()
             if word.startswith("agentflow-") and word != "agentflow-<vendor>:"}
    assert named <= REAL_DISTRIBUTIONS, named
    assert "mistral" not in "".join(named)


def test_a_model_of_an_unknown_vendor_gets_no_guessed_distribution_name(tmp_path):
    (tmp_path / "agentflow.yml").write_text("models:\n  m:\n    vendor: quasar_llm\n")
    code = ("import asyncio\n"
            "from agentflow import AgentFlow, ConfigurationError\n"
            "async def main():\n"
            "    await AgentFlow.init_with_config('agentflow.yml')\n"
            "    await AgentFlow.model('m').prompt('Hi').execute()\n"
            "try:\n"
            "    asyncio.run(main())\n"
            "except ConfigurationError as error:\n"
            "    print(error)\n")
    result = run("-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "'quasar_llm' is neither a provider entry nor an installed vendor" in result.stdout
    assert "`agentflow plugins` lists what is installed" in result.stdout
    assert "agentflow-quasar" not in result.stdout
