"""agentflow provider plugin for Google's Gemini API.

One provider, ``google``: base URL ``https://generativelanguage.googleapis.com``, requests to
``{base}/v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``. The key
is read from ``GOOGLE_API_KEY``, else ``GEMINI_API_KEY`` (the order Google's own SDK uses), and
sent in the ``x-goog-api-key`` header, never in the URL.

The hooks below only dispatch: the wire format lives in :mod:`agentflow_google._codec` and
:mod:`agentflow_google._errors`. agentflow imports this module when it first needs plugins, so
it stays light: the catalog and the fake-server emulation load on demand, httpx only when a
request is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow.hookspecs import hookimpl
from agentflow_google import _codec, _errors

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

NAME = "google"
USER_AGENT = _codec.USER_AGENT
#: The image types Gemini reads (GIF is not among them).
IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic",
                               "image/heif"})
#: agentflow's limit per inline image: Gemini takes up to 100 MB of base64 per request (about
#: 75 MB of bytes), so this leaves room for a few large images and the conversation.
MAX_IMAGE_BYTES = 20 * 1024 * 1024


@hookimpl
def agentflow_register_providers() -> list[ProviderSpec]:
    from agentflow.types import ProviderSpec

    return [ProviderSpec(
        name=NAME, default_base_url="https://generativelanguage.googleapis.com",
        api_key_env="GOOGLE_API_KEY", api_key_env_fallbacks=("GEMINI_API_KEY",),
        temperature_range=(0.0, 2.0),
        description="Google Gemini API (generateContent): Gemini 2.5, 3.x and 4 models",
        docs_url="https://ai.google.dev/api/generate-content",
        capabilities=frozenset({"streaming", "tools", "structured_output", "images",
                                "image_urls"}),
        image_media_types=IMAGE_MEDIA_TYPES, max_image_bytes=MAX_IMAGE_BYTES)]


@hookimpl
def agentflow_default_models() -> list[ModelInfo]:
    from agentflow_google._catalog import MODELS

    return list(MODELS)


@hookimpl
def agentflow_build_request(vendor: str, request: Request,
                            settings: ModelSettings) -> httpx.Request | None:
    return _codec.build_request(request, settings) if vendor == NAME else None


@hookimpl
def agentflow_parse_response(vendor: str, response: httpx.Response,
                             request: Request) -> Response | None:
    return _codec.parse_response(response, request) if vendor == NAME else None


@hookimpl
def agentflow_parse_stream_event(vendor: str, event: _codec.EventLike,
                                 state: StreamState) -> list[StreamChunk] | None:
    return _codec.parse_stream_event(event, state) if vendor == NAME else None


@hookimpl
def agentflow_map_error(vendor: str, response: httpx.Response) -> LLMError | None:
    return _errors.map_error(response) if vendor == NAME else None


@hookimpl
def agentflow_check_provider(vendor: str, settings: ModelSettings) -> httpx.Request | None:
    return _codec.models_request(settings) if vendor == NAME else None


@hookimpl
def agentflow_fake_routes() -> list[FakeProvider]:
    from agentflow_google._fake import gemini_fake

    return [gemini_fake()]
