"""Azure OpenAI: URLs, authentication and error shapes, in the codec and over HTTP.

Shapes from https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference (deployment
URLs, ``api-version``, the ``api-key`` header), .../api-version-lifecycle (the v1 endpoint)
and .../concepts/content-filter (content-filter errors); each test cites its page.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import agentflow_openai
from agentflow import LLMClientBuilder
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ModelConfig, ProviderConfig, validate_config_text
from agentflow.errors import ConfigurationError, HttpError, RateLimitError
from agentflow.testing import FakeServer, Reply
from agentflow.types import Message, ModelSettings, Request, Secret

AZURE = agentflow_openai.CODECS["azure_openai"]
KEY = secrets.token_hex(16)
REFERENCE = "https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference"


def settings(base_url: str = "https://res.openai.azure.com", key: str = KEY,
             **options: Any) -> ModelSettings:
    return ModelSettings(name="azure-gpt-4o", provider="azure_openai", vendor="azure_openai",
                         model_id="my-4o", base_url=base_url, api_key=Secret(key),
                         options=options)


def request(**fields: Any) -> Request:
    return Request(model="my-4o", messages=(Message(role="user", content="Hi"),), **fields)


def test_deployment_url_api_version_and_api_key_header() -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference#chat-completions"""
    http = AZURE.build_request(request(), settings())
    assert str(http.url) == ("https://res.openai.azure.com/openai/deployments/my-4o/"
                             "chat/completions?api-version=2024-10-21")
    assert http.headers["api-key"] == KEY
    assert "authorization" not in http.headers
    assert KEY not in str(http.url)


@pytest.mark.parametrize(("base_url", "options", "version"), [
    ("https://res.openai.azure.com/openai?api-version=2025-01-01", {}, "2025-01-01"),
    ("https://res.openai.azure.com/?api-version=2025-01-01", {"api_version": "2024-06-01"},
     "2024-06-01"),
])
def test_api_version_from_the_option_or_the_base_url(base_url: str, options: dict[str, str],
                                                     version: str) -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/api-version-lifecycle"""
    http = AZURE.build_request(request(), settings(base_url, **options))
    assert http.url.path == "/openai/deployments/my-4o/chat/completions"
    assert http.url.params["api-version"] == version


def test_v1_endpoint_and_responses_api() -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/api-version-lifecycle
    (``/openai/v1/``, the deployment in ``model``, no ``api-version``) and
    https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/responses"""
    base = "https://res.openai.azure.com/openai/v1"
    chat = AZURE.build_request(request(), settings(base))
    assert str(chat.url) == f"{base}/chat/completions"
    assert json.loads(chat.content)["model"] == "my-4o"
    responses = AZURE.build_request(request(), settings(base, api="responses"))
    assert str(responses.url) == f"{base}/responses"
    by_endpoint = AZURE.build_request(request(), settings(api="responses"))
    assert str(by_endpoint.url) == ("https://res.openai.azure.com/openai/responses"
                                    "?api-version=2025-04-01-preview")
    assert json.loads(by_endpoint.content)["store"] is False


def test_bearer_token_by_option_or_by_shape() -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference#authentication
    (``api-key`` or ``Authorization: Bearer`` with a Microsoft Entra ID token)."""
    http = AZURE.build_request(request(), settings(auth="bearer"))
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert "api-key" not in http.headers
    token = f"eyJ{secrets.token_hex(8)}.{secrets.token_hex(8)}.{secrets.token_hex(8)}"
    http = AZURE.build_request(request(), settings(key=token))
    assert http.headers["authorization"] == f"Bearer {token}"
    with pytest.raises(ConfigurationError, match="option auth"):
        AZURE.build_request(request(), settings(auth="basic"))


def test_the_placeholder_endpoint_is_refused() -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference (the endpoint is
    the resource's own)."""
    with pytest.raises(ConfigurationError, match="base_url"):
        AZURE.build_request(request(), settings("https://YOUR-RESOURCE.openai.azure.com"))


def test_api_version_in_base_url_passes_the_credential_rule() -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/api-version-lifecycle: the
    version is a query parameter, which the rule against keys in URLs lets through."""
    good = validate_config_text("providers:\n  azure_openai:\n    base_url: "
                                "https://res.openai.azure.com/openai?api-version=2024-10-21\n")
    assert good.is_valid, good.issues
    bad = validate_config_text("providers:\n  azure_openai:\n    base_url: "
                               "https://res.openai.azure.com/openai?api-key=abc\n")
    assert not bad.is_valid


def _error(status: int, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_content_filter_error_names_the_categories() -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/concepts/content-filter
    (``code: content_filter``, ``innererror.code: ResponsibleAIPolicyViolation``,
    ``content_filter_result``)."""
    error = AZURE.map_error(_error(400, {"error": {
        "message": "The response was filtered", "type": None, "param": "prompt",
        "code": "content_filter", "status": 400, "innererror": {
            "code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": True, "severity": "medium"},
                "jailbreak": {"filtered": True, "detected": True}}}}},
        **{"apim-request-id": "req-az-1"}))
    assert isinstance(error, HttpError)
    assert error.error_type == "content_filter"
    assert "violence (medium), jailbreak" in error.message
    assert "hate" not in error.message
    assert "ResponsibleAIPolicyViolation" in error.message
    assert error.request_id == "req-az-1"


def test_x_ms_error_code_and_azure_rate_limits() -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/quotas-limits (429 with
    ``retry-after``) and the ``x-ms-error-code`` header of Azure REST errors."""
    error = AZURE.map_error(_error(429, {"error": {"code": "429", "message": "Requests to the "
                                                   "ChatCompletions_Create Operation have "
                                                   "exceeded token rate limit"}},
                                   **{"retry-after": "7", "x-ms-error-code": "TooManyRequests"}))
    assert isinstance(error, RateLimitError)
    assert (error.retry_after, error.error_type) == (7.0, "TooManyRequests")


# --- over HTTP, against the emulation ----------------------------------------------------------


@pytest.fixture
async def azure(fake_llm_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                anyio_backend: str) -> AsyncIterator[tuple[FakeServer, Runtime]]:
    monkeypatch.setenv("AZURE_TEST_TOKEN", KEY)
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN, "openai")
    endpoint = fake_llm_server.base_url("azure_openai")
    config = Config(
        providers={"azure_openai": ProviderConfig(base_url=endpoint,
                                                  api_key_env="AZURE_TEST_TOKEN"),
                   "azure_v1": ProviderConfig(vendor="azure_openai",
                                              base_url=f"{endpoint}/openai/v1",
                                              api_key_env="AZURE_TEST_TOKEN")},
        models={"filtered": ModelConfig(vendor="azure_openai", model_id="gpt-4o"),
                "v1-responses": ModelConfig(vendor="azure_v1", model_id="gpt-4o",
                                            options={"api": "responses", "auth": "bearer"})},
        defaults=Defaults(max_retries=0))
    runtime = Runtime(host=host, config=config)
    try:
        yield fake_llm_server, runtime
    finally:
        await runtime.aclose()


@pytest.mark.anyio
async def test_content_filter_refusal_over_http(azure: tuple[FakeServer, Runtime]) -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/concepts/content-filter"""
    server, runtime = azure
    server.script("azure_openai", Reply(status=400, error_type="content_filter"))
    with pytest.raises(HttpError) as caught:
        await LLMClientBuilder("filtered", runtime=runtime).prompt("hi").execute()
    assert caught.value.status_code == 400
    assert caught.value.error_type == "content_filter"
    assert "violence (medium)" in caught.value.message
    assert caught.value.request_id
    assert KEY not in str(caught.value)


@pytest.mark.anyio
async def test_v1_responses_stream_with_a_bearer_token(
        azure: tuple[FakeServer, Runtime]) -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/responses (the v1
    endpoint streams the Responses API's typed events)."""
    server, runtime = azure
    server.script("azure_openai", Reply(text="streamed over v1"))
    stream = await LLMClientBuilder("v1-responses", runtime=runtime).prompt(
        "hi").execute_streaming()
    assert await stream.collect_all() == "streamed over v1"
    sent = server.requests[-1]
    assert sent.path.endswith("/openai/v1/responses")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert "api-key" not in sent.headers
    assert sent.json["model"] == "gpt-4o"


def test_azure_catalog_names_deployments() -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/create-resource
    (a deployment is named after its model by default)."""
    from agentflow_openai._catalog import AZURE_MODELS

    names = {m.name: m for m in AZURE_MODELS}
    assert names["azure-gpt-4o"].model_id == "gpt-4o"
    assert names["azure-o3"].options["max_completion_tokens"] is True
    assert all(m.provider == "azure_openai" and m.pricing is None for m in AZURE_MODELS)


def test_prompt_filter_chunk_and_filtered_choice() -> None:
    """https://learn.microsoft.com/en-us/azure/ai-foundry/openai/concepts/content-filter
    (a stream's first chunk carries ``prompt_filter_results`` and no choices; a filtered
    choice ends with ``finish_reason: content_filter``)."""
    from agentflow.types import StreamState

    class Event:
        event = "message"

        def __init__(self, data: str) -> None:
            self.data = data

    state = StreamState(provider="azure_openai", model="my-4o")
    first = {"id": "", "object": "", "choices": [], "prompt_filter_results": [
        {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False,
                                                                "severity": "safe"}}}]}
    last = {"object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": {}, "finish_reason": "content_filter",
         "content_filter_results": {"violence": {"filtered": True, "severity": "high"}}}]}
    chunks = [c for body in (first, last) for c in AZURE.parse_stream_event(
        Event(json.dumps(body)), state)]
    chunks += AZURE.parse_stream_event(Event("[DONE]"), state)
    assert [c.content for c in chunks if not c.is_final] == []
    assert chunks[-1].finish_reason == "content_filter"
