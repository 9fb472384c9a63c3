"""agentflow provider plugin for Anthropic's Messages API (Claude).

One provider, ``anthropic``: ``https://api.anthropic.com`` (requests go to ``/v1/messages``),
key from ``ANTHROPIC_API_KEY`` in the ``x-api-key`` header, ``anthropic-version: 2023-06-01``.

The hooks below only dispatch: the wire format lives in :mod:`agentflow_anthropic._codec`.
agentflow imports this module when it first needs plugins, so it stays light: the catalog and
the fake-server emulation load when first used, httpx when a request is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentflow.hookspecs import hookimpl
from agentflow_anthropic import _codec

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError
    from agentflow.testing.fake import FakeProvider
    from agentflow.types import (
        ModelInfo,
        ModelSettings,
        ProviderSpec,
        Request,
        Response,
        StreamChunk,
        StreamState,
    )

__version__ = "0.1.0"

NAME = "anthropic"

#: The largest image sent inline, in bytes. Anthropic documents 5 MB per image and measures it
#: on the base64 text (its 400 says "image exceeds 5 MB maximum: N bytes > 5242880 bytes" for
#: the encoded size), so the raw bytes may be three quarters of 5 MiB.
MAX_IMAGE_BYTES = 5 * 1024 * 1024 * 3 // 4


@hookimpl
def agentflow_register_providers() -> list[ProviderSpec]:
    from agentflow.types import ProviderSpec

    return [ProviderSpec(
        name=NAME, default_base_url="https://api.anthropic.com", api_key_env="ANTHROPIC_API_KEY",
        temperature_range=(0.0, 1.0), description="Anthropic Messages API (Claude)",
        docs_url="https://docs.anthropic.com/en/api/messages",
        capabilities=frozenset({"streaming", "tools", "structured_output", "images",
                                "image_urls"}),
        max_image_bytes=MAX_IMAGE_BYTES)]


@hookimpl
def agentflow_default_models() -> list[ModelInfo]:
    from agentflow_anthropic._catalog import MODELS

    return list(MODELS)


@hookimpl
def agentflow_build_request(vendor: str, request: Request,
                            settings: ModelSettings) -> httpx.Request | None:
    if vendor != NAME:
        return None
    return _codec.build_request(request, settings)


@hookimpl
def agentflow_parse_response(vendor: str, response: httpx.Response,
                             request: Request) -> Response | None:
    if vendor != NAME:
        return None
    return _codec.parse_response(response, request)


@hookimpl
def agentflow_parse_stream_event(vendor: str, event: Any,
                                 state: StreamState) -> list[StreamChunk] | None:
    if vendor != NAME:
        return None
    return _codec.parse_stream_event(event, state)


@hookimpl
def agentflow_map_error(vendor: str, response: httpx.Response) -> LLMError | None:
    if vendor != NAME:
        return None
    return _codec.map_error(response)


@hookimpl
def agentflow_check_provider(vendor: str, settings: ModelSettings) -> httpx.Request | None:
    if vendor != NAME:
        return None
    return _codec.models_request(settings)


@hookimpl
def agentflow_fake_routes() -> list[FakeProvider]:
    from agentflow_anthropic._fake import anthropic_fake

    return [anthropic_fake()]
