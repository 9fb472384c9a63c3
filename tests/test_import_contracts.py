"""What the import-linter contracts cannot see: that a vendor plugin at run time (discovered,
asked for its providers and catalog, building and reading a call) loads neither its emulation
nor pytest, and that the list of agentflow-openai's private modules that agentflow-moonshot may
not import is complete."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the tests run on 3.11 and later in CI
    import tomli as tomllib

ROOT = Path(__file__).parents[1]
VENDOR_PACKAGES = ["agentflow_openai", "agentflow_anthropic", "agentflow_google",
                   "agentflow_moonshot", "agentflow_acme"]

# Runs in a fresh interpreter: load every plugin as agentflow does, make one request of each
# vendor and read an answer, then list the modules that are loaded and should not be.
_RUNTIME = """
import json, sys
import httpx
from agentflow._plugins.host import PluginHost
from agentflow.types import Message, ModelSettings, Request, Secret

# Azure OpenAI has no default endpoint (each resource has its own): give it one.
BASE_URLS = {"azure_openai": "https://example-resource.openai.azure.com"}
host = PluginHost()
specs = {spec.name: spec for group in host.hook.agentflow_register_providers() for spec in group}
assert host.hook.agentflow_default_models()
for vendor, spec in specs.items():
    settings = ModelSettings(name="m", provider=vendor, vendor=vendor, model_id="m",
                             base_url=BASE_URLS.get(vendor, spec.default_base_url),
                             api_key=Secret("k-123456789"))
    request = Request(model="m", messages=(Message(role="user", content="hi"),))
    assert host.hook.agentflow_build_request(vendor=vendor, request=request, settings=settings)
    host.hook.agentflow_map_error(vendor=vendor, response=httpx.Response(500, text="down"))
loaded = sorted(name for name in sys.modules
                if name == "pytest" or name.split(".")[1:2] == ["testing"])
print(json.dumps({"vendors": sorted(specs), "loaded": loaded}))
"""


def test_vendor_plugins_at_run_time_load_no_emulation_and_no_pytest():
    result = subprocess.run([sys.executable, "-c", _RUNTIME], capture_output=True, text=True,
                            check=True, cwd=ROOT / "core")
    report = json.loads(result.stdout)
    assert {"openai", "anthropic", "google", "moonshot", "acme"} <= set(report["vendors"])
    assert report["loaded"] == []


@pytest.mark.parametrize("package", VENDOR_PACKAGES)
def test_the_emulation_loads_only_when_the_fake_server_asks(package):
    code = (f"import sys, {package} as p; p.PLUGIN.agentflow_fake_routes(); "
            f"print('{package}.testing' in sys.modules, 'pytest' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["True", "False"]


def test_the_contract_lists_every_private_module_of_agentflow_openai():
    import agentflow_openai

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in contracts["contracts"] if c["id"] == "moonshot-uses-openai-public"]
    modules = {info.name for info in pkgutil.walk_packages(agentflow_openai.__path__,
                                                           "agentflow_openai.")}
    private = {name for name in modules if any(part.startswith("_")
                                               for part in name.split(".")[1:])}
    assert private
    assert set(contract["forbidden_modules"]) == private
