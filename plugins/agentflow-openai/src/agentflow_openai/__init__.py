"""agentflow provider plugin for OpenAI's Chat Completions API and OpenAI-compatible servers.

Two providers:

``openai``
    ``https://api.openai.com/v1``, key from ``OPENAI_API_KEY``, the model catalog of
    :mod:`agentflow_openai._catalog`.
``openai_compatible``
    Any server speaking the same format: vLLM, llama.cpp's server, Ollama's ``/v1``. Default
    base URL ``http://127.0.0.1:8000/v1``; the key (``OPENAI_COMPATIBLE_API_KEY``) is optional
    and sent only when set.

The hooks below only dispatch: the wire format lives in :mod:`agentflow_openai._codec`, which
other OpenAI-compatible plugins reuse. agentflow imports this module when it first needs
plugins, so it stays light: the catalog and the fake-server emulation load on demand, and
httpx only when a request is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow.hookspecs import hookimpl
from agentflow_openai import _codec

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

OPENAI = "openai"
COMPATIBLE = "openai_compatible"
USER_AGENT = f"agentflow-openai/{__version__}"


def _catalog_options(model_id: str) -> dict[str, object] | None:
    from agentflow_openai._catalog import model_options

    return model_options(model_id)


#: The two dialects this plugin answers for, by provider name.
DIALECTS: dict[str, _codec.Dialect] = {
    OPENAI: _codec.Dialect(
        provider=OPENAI, label="OpenAI", api_key_env="OPENAI_API_KEY", user_agent=USER_AGENT,
        catalog_options=_catalog_options, completion_token_prefixes=("o1", "o3", "o4", "gpt-5")),
    COMPATIBLE: _codec.Dialect(
        provider=COMPATIBLE, label="The OpenAI-compatible server",
        api_key_env="OPENAI_COMPATIBLE_API_KEY", user_agent=USER_AGENT),
}


#: What the Chat Completions codec sends: tools, JSON Schema answers, images as bytes or URLs.
CAPABILITIES = frozenset({"streaming", "tools", "structured_output", "images", "image_urls"})
#: OpenAI's limit per image, "20MB" in its vision guide, read the stricter way (decimal
#: megabytes). A request may carry up to 50 MB of images in all, which is not added up here.
MAX_IMAGE_BYTES = 20_000_000


@hookimpl
def agentflow_register_providers() -> list[ProviderSpec]:
    from agentflow.types import ProviderSpec

    return [
        ProviderSpec(
            name=OPENAI, default_base_url="https://api.openai.com/v1",
            api_key_env="OPENAI_API_KEY", temperature_range=(0.0, 2.0),
            description="OpenAI Chat Completions (GPT-4o, GPT-4.1, o-series, GPT-5 family)",
            docs_url="https://platform.openai.com/docs/api-reference/chat",
            capabilities=CAPABILITIES, max_image_bytes=MAX_IMAGE_BYTES),
        ProviderSpec(
            name=COMPATIBLE, default_base_url="http://127.0.0.1:8000/v1",
            api_key_env="OPENAI_COMPATIBLE_API_KEY", api_key_optional=True,
            temperature_range=(0.0, 2.0),
            description="Any OpenAI-compatible server: vLLM, llama.cpp server, Ollama /v1",
            capabilities=CAPABILITIES, max_image_bytes=MAX_IMAGE_BYTES),
    ]


@hookimpl
def agentflow_default_models() -> list[ModelInfo]:
    from agentflow_openai._catalog import MODELS

    return list(MODELS)


@hookimpl
def agentflow_build_request(vendor: str, request: Request,
                            settings: ModelSettings) -> httpx.Request | None:
    dialect = DIALECTS.get(vendor)
    return None if dialect is None else _codec.build_request(dialect, request, settings)


@hookimpl
def agentflow_parse_response(vendor: str, response: httpx.Response,
                             request: Request) -> Response | None:
    dialect = DIALECTS.get(vendor)
    return None if dialect is None else _codec.parse_response(dialect, response, request)


@hookimpl
def agentflow_parse_stream_event(vendor: str, event: _codec.EventLike,
                                 state: StreamState) -> list[StreamChunk] | None:
    dialect = DIALECTS.get(vendor)
    return None if dialect is None else _codec.parse_stream_event(dialect, event, state)


@hookimpl
def agentflow_map_error(vendor: str, response: httpx.Response) -> LLMError | None:
    dialect = DIALECTS.get(vendor)
    return None if dialect is None else _codec.map_error(dialect, response)


@hookimpl
def agentflow_check_provider(vendor: str, settings: ModelSettings) -> httpx.Request | None:
    dialect = DIALECTS.get(vendor)
    return None if dialect is None else _codec.models_request(dialect, settings)


@hookimpl
def agentflow_fake_routes() -> list[FakeProvider]:
    from agentflow_openai._fake import openai_fakes

    return openai_fakes()
