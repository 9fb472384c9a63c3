"""The plugin as agentflow sees it: entry point, providers, catalog, hook dispatch."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import httpx
import pytest

import agentflow_openai
from agentflow._plugins.host import PluginHost
from agentflow.types import Message, ModelSettings, Request, Secret, StreamState
from agentflow_openai._catalog import MODELS, model_options

REQUIRED_MODELS = {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1",
                   "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano"}


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN, "openai")
    return host


def test_the_entry_point_names_the_plugin_object():
    points = importlib.metadata.entry_points(group="agentflow")
    assert any((p.name, p.value) == ("openai", "agentflow_openai:PLUGIN") for p in points)


def test_version_and_user_agent_match_the_distribution():
    assert importlib.metadata.version("agentflow-openai") == agentflow_openai.__version__
    assert f"agentflow-openai/{agentflow_openai.__version__}" == agentflow_openai.USER_AGENT


def test_providers(host):
    providers = host.providers()
    openai, compatible = providers["openai"], providers["openai_compatible"]
    assert (openai.default_base_url, openai.api_key_env, openai.api_key_optional,
            openai.temperature_range) == ("https://api.openai.com/v1", "OPENAI_API_KEY", False,
                                          (0.0, 2.0))
    assert (compatible.default_base_url, compatible.api_key_env, compatible.api_key_optional) == (
        "http://127.0.0.1:8000/v1", "OPENAI_COMPATIBLE_API_KEY", True)
    assert "streaming" in openai.capabilities


def test_catalog_has_the_current_models(host):
    catalog = host.catalog()
    assert set(catalog) >= REQUIRED_MODELS
    assert {"gpt-5.1", "gpt-5.2", "gpt-5.4", "gpt-5.5", "gpt-5.6-sol"} <= set(catalog)
    assert MODELS[0].name == "gpt-4o"  # the demo and quick-start model
    assert len({m.name for m in MODELS}) == len(MODELS)
    assert all(m.provider == "openai" for m in MODELS)
    assert catalog["gpt-4o"].context_window == 128_000
    assert catalog["gpt-4.1"].context_window == 1_047_576
    assert catalog["gpt-5"].max_output_tokens == 128_000


@pytest.mark.parametrize("name", ["o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini",
                                  "gpt-5-nano", "gpt-5.6-terra"])
def test_reasoning_models_are_flagged(name):
    options = next(m for m in MODELS if m.name == name).options
    assert options["max_completion_tokens"] is True
    assert options["supports_temperature"] is False


@pytest.mark.parametrize("name", ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-nano"])
def test_chat_models_carry_no_flags(name):
    assert next(m for m in MODELS if m.name == name).options == {}


@pytest.mark.parametrize(("model_id", "family"), [
    ("o3-2025-04-16", "o3"), ("o3-mini-2025-01-31", "o3-mini"), ("gpt-5-mini-2025-08-07",
                                                                 "gpt-5-mini"),
    ("gpt-4o-2024-08-06", "gpt-4o"), ("gpt-5.2", "gpt-5.2"),
])
def test_snapshots_resolve_to_their_family(model_id, family):
    assert model_options(model_id) == dict(next(m for m in MODELS if m.name == family).options)


@pytest.mark.parametrize("model_id", ["llama3.2", "o3x", "gpt-4o-mini-tts-preview"])
def test_unknown_ids_have_no_catalog_options(model_id):
    assert model_options(model_id) is None


@pytest.mark.parametrize("provider", ["anthropic", "echo", "moonshot"])
def test_every_hook_leaves_other_vendors_alone(provider):
    request = Request(model="m", messages=(Message(role="user", content="x"),))
    settings = ModelSettings(name="m", provider=provider, vendor=provider, model_id="m",
                             base_url="http://x/v1")
    response = httpx.Response(200, json={})
    state = StreamState(provider=provider, model="m")
    assert agentflow_openai.PLUGIN.agentflow_build_request(provider, request, settings) is None
    assert agentflow_openai.PLUGIN.agentflow_parse_response(provider, response, request) is None
    assert agentflow_openai.PLUGIN.agentflow_parse_stream_event(provider, object(), state) is None
    assert agentflow_openai.PLUGIN.agentflow_map_error(provider, response) is None


def test_hooks_answer_through_pluggy(host):
    request = Request(model="gpt-4o", messages=(Message(role="user", content="Hi"),),
                      temperature=0.5)
    settings = ModelSettings(name="gpt-4o", provider="openai", vendor="openai",
                             model_id="gpt-4o", base_url="https://api.openai.com/v1",
                             api_key=Secret("sk-x"))
    http = host.hook.agentflow_build_request(vendor="openai", request=request,
                                             settings=settings)
    assert json.loads(http.content)["temperature"] == 0.5
    body = {"model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": "Yo"}}]}
    result = host.hook.agentflow_parse_response(
        vendor="openai", response=httpx.Response(200, json=body), request=request)
    assert result.text == "Yo"
    error = host.hook.agentflow_map_error(vendor="openai_compatible",
                                          response=httpx.Response(503, text="down"))
    assert error.status_code == 503
    fakes = [fake for group in host.hook.agentflow_fake_routes() for fake in group]
    assert {fake.provider for fake in fakes} == {"openai", "openai_compatible", "azure_openai"}


def test_importing_the_plugin_stays_light():
    code = ("import sys, agentflow_openai; print(sorted(m for m in ('httpx', 'anyio', "
            "'agentflow_openai._catalog', 'agentflow_openai.testing', 'agentflow.testing.fake') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
