"""Two installed distributions declaring the same provider: ``agentflow plugins`` names both and
fails, and loading the plugins warns; as a user meets it, with a second distribution installed
next to agentflow-openai."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = '''
from agentflow.hookspecs import hookimpl
from agentflow.types import ProviderSpec


@hookimpl
def agentflow_register_providers():
    return [ProviderSpec(name="openai", default_base_url="https://copy.invalid/v1",
                         api_key_env=None)]
'''


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder holding an installed distribution ``agentflow-copycat`` 0.1 (its module and its
    dist-info with the ``agentflow`` entry point), as pip would leave it."""
    (tmp_path / "agentflow_copycat.py").write_text(PLUGIN)
    info = tmp_path / "agentflow_copycat-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: agentflow-copycat\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text("[agentflow]\ncopycat = agentflow_copycat\n")
    return tmp_path


def python_path(site: Path) -> str:
    return os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])


def agentflow(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": python_path(site),
           "AGENTFLOW_LOAD_PLUGINS": "openai,copycat"}
    env.pop("AGENTFLOW_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "agentflow.cli", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_plugins_lists_the_duplicate_provider_with_both_distributions_and_fails(site):
    result = agentflow(site, "plugins")
    assert result.returncode == 1, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("agentflow: error:")]
    assert len(error) == 1, result.stderr
    assert "provider 'openai' is declared by" in error[0]
    assert "(distribution agentflow-copycat 0.1)" in error[0]
    assert "(distribution agentflow-openai " in error[0]
    assert "copycat" in result.stdout
    assert "openai" in result.stdout


def test_plugins_json_fails_too(site):
    result = agentflow(site, "plugins", "--json")
    assert result.returncode == 1
    listed = {entry["name"]: entry["providers"] for entry in json.loads(result.stdout)}
    assert listed["copycat"] == ["openai"]
    assert "openai" in listed["openai"]


def test_loading_warns_naming_both_distributions(site):
    code = ("import warnings\n"
            "from agentflow._plugins.host import PluginHost\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    PluginHost().providers()\n"
            "print([f'{w.category.__name__}: {w.message}' for w in caught])\n")
    env = {**os.environ, "PYTHONPATH": python_path(site),
           "AGENTFLOW_LOAD_PLUGINS": "openai,copycat"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=60).stdout
    assert "PluginConflictWarning: agentflow: provider 'openai' is declared by" in out
    assert "agentflow-copycat 0.1" in out
    assert "agentflow-openai" in out


def test_without_the_copy_plugins_succeeds(site):
    env_free = agentflow(site.parent / "nowhere", "plugins")
    assert env_free.returncode == 0, env_free.stderr
