"""The public surface is stated once, complete and sorted, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import agentflow


def test_all_is_sorted_and_unique():
    assert agentflow.__all__ == sorted(set(agentflow.__all__))


def test_every_public_name_resolves():
    for name in agentflow.__all__:
        assert getattr(agentflow, name) is not None, name


def test_contract_names_are_exported():
    contract = {"AgentFlow", "MetricsCollector", "LLMError", "ConfigurationError",
                "ModelNotFoundError", "UnsupportedProviderError", "MissingApiKeyError",
                "HttpError", "RateLimitError", "StreamingError", "ValidationError",
                "LLMTimeoutError", "ProviderError"}
    assert contract <= set(agentflow.__all__)


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchThing"):
        agentflow.NoSuchThing  # noqa: B018


def test_import_loads_no_plugin_and_no_http_library():
    code = ("import sys, agentflow; from agentflow import AgentFlow, LLMError; "
            "heavy = [m for m in ('httpx', 'cattrs', 'ruamel.yaml', 'agentflow_openai', "
            "'importlib_metadata') if m in sys.modules]; print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""
