"""The plugin as agentflow sees it: entry point, provider, catalog, hook dispatch."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import httpx
import pytest

import agentflow_google
from agentflow._plugins.host import PluginHost
from agentflow.types import Message, ModelSettings, Request, Secret, StreamState
from agentflow_google import _codec
from agentflow_google._catalog import MODELS


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(entry_points=False)
    host.register(agentflow_google.PLUGIN, "google")
    return host


def test_the_entry_point_names_the_module():
    points = importlib.metadata.entry_points(group="agentflow")
    assert any((p.name, p.value) == ("google", "agentflow_google:PLUGIN") for p in points)


def test_version_and_user_agent_match_the_distribution():
    assert importlib.metadata.version("agentflow-google") == agentflow_google.__version__
    assert f"agentflow-google/{agentflow_google.__version__}" == _codec.USER_AGENT


def test_the_provider(host):
    spec = host.providers()["google"]
    assert spec.default_base_url == "https://generativelanguage.googleapis.com"
    assert (spec.api_key_env, spec.api_key_env_fallbacks) == ("GOOGLE_API_KEY",
                                                              ("GEMINI_API_KEY",))
    assert spec.api_key_optional is False
    assert spec.temperature_range == (0.0, 2.0)
    assert "streaming" in spec.capabilities
    assert spec.docs_url


def test_the_catalog(host):
    catalog = host.catalog()
    names = [m.name for m in MODELS]
    assert len(set(names)) == len(names)
    assert set(names) <= set(catalog)
    assert {"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-3.8-flash",
            "gemini-3.1-pro-preview", "gemini-4-argon"} <= set(names)
    for info in MODELS:
        assert info.provider == "google"
        assert info.name.startswith("gemini-")
        assert info.context_window == 1_048_576
        assert info.max_output_tokens == 65_536
        assert info.supports_streaming


@pytest.mark.parametrize("provider", ["openai", "anthropic", "echo", "googl"])
def test_every_hook_leaves_other_vendors_alone(provider):
    request = Request(model="m", messages=(Message(role="user", content="x"),))
    settings = ModelSettings(name="m", provider=provider, vendor=provider, model_id="m",
                             base_url="http://x/v1")
    response = httpx.Response(200, json={})
    state = StreamState(provider=provider, model="m")
    assert agentflow_google.PLUGIN.agentflow_build_request(provider, request, settings) is None
    assert agentflow_google.PLUGIN.agentflow_parse_response(provider, response, request) is None
    assert agentflow_google.PLUGIN.agentflow_parse_stream_event(provider, object(), state) is None
    assert agentflow_google.PLUGIN.agentflow_map_error(provider, response) is None


def test_hooks_answer_through_pluggy(host):
    request = Request(model="gemini-3.8-flash", messages=(Message(role="user", content="Hi"),),
                      temperature=0.5)
    settings = ModelSettings(name="gemini-3.8-flash", provider="google", vendor="google",
                             model_id="gemini-3.8-flash",
                             base_url="https://generativelanguage.googleapis.com",
                             api_key=Secret("AIza-x"))
    http = host.hook.agentflow_build_request(vendor="google", request=request,
                                             settings=settings)
    assert json.loads(http.content)["generationConfig"] == {"temperature": 0.5}
    body = {"candidates": [{"content": {"parts": [{"text": "Yo"}]}, "finishReason": "STOP"}]}
    result = host.hook.agentflow_parse_response(
        vendor="google", response=httpx.Response(200, json=body), request=request)
    assert result.text == "Yo"

    class Event:
        data = json.dumps({**body, "responseId": "r1"})

    state = StreamState(provider="google", model="m")
    chunks = host.hook.agentflow_parse_stream_event(vendor="google", event=Event(),
                                                    state=state)
    assert [c.content for c in chunks] == ["Yo", ""]
    error = host.hook.agentflow_map_error(vendor="google",
                                          response=httpx.Response(503, text="down"))
    assert error.status_code == 503
    fakes = [fake for group in host.hook.agentflow_fake_routes() for fake in group]
    assert [fake.provider for fake in fakes] == ["google"]


def test_importing_the_plugin_stays_light():
    code = ("import sys, agentflow_google; print(sorted(m for m in ('httpx', 'anyio', "
            "'agentflow_google._catalog', 'agentflow_google.testing', 'agentflow.testing.fake') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
