"""Plugins installed as real distributions are found through their entry points."""

import subprocess
import sys

from agentflow._plugins.host import PluginHost


def test_installed_distributions_are_discovered_with_versions_and_hooks():
    infos = {info.name: info for info in PluginHost().plugin_infos()}
    openai = infos["openai"]
    assert openai.distribution == "agentflow-openai"
    assert openai.version
    assert set(openai.providers) == {"openai", "openai_compatible", "azure_openai"}
    assert "agentflow_build_request" in openai.hooks
    assert infos["acme"].distribution == "agentflow-acme"
    assert all(info.error is None for info in infos.values())


def test_catalog_models_of_every_plugin_are_available():
    catalog = PluginHost().catalog()
    assert catalog["gpt-4o"].provider == "openai"
    assert catalog["acme-large"].provider == "acme"


def test_plugins_command_lists_distributions():
    result = subprocess.run([sys.executable, "-m", "agentflow.cli", "plugins"],
                            capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PLUGIN", "DISTRIBUTION", "PROVIDERS", "HOOKS"]
    openai_line = next(line for line in lines if line.startswith("openai "))
    assert "agentflow-openai" in openai_line
    assert "openai, openai_compatible" in openai_line


def test_import_agentflow_does_not_import_plugins():
    code = "import sys, agentflow; print('agentflow_openai' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
