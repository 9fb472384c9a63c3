"""agentflow provider plugin for OpenAI's Chat Completions API and OpenAI-compatible servers.

Two providers:

``openai``
    ``https://api.openai.com/v1``, key from ``OPENAI_API_KEY``, the model catalog of
    :mod:`agentflow_openai._catalog`.
``openai_compatible``
    Any server speaking the same format: vLLM, llama.cpp's server, Ollama's ``/v1``. Default
    base URL ``http://127.0.0.1:8000/v1``; the key (``OPENAI_COMPATIBLE_API_KEY``) is optional
    and sent only when set.

``azure_openai``
    Azure OpenAI: the deployment in the URL (or the v1 endpoint), ``api-version``, the
    ``api-key`` header or a bearer token (:mod:`agentflow_openai._azure`).

A model chooses its API with the option ``api``: ``chat`` (the default) or ``responses``
(OpenAI's Responses API, the public codec :mod:`agentflow_openai.responses`); the catalog sets
``responses`` for the models OpenAI serves only there.

The Chat Completions wire format is the public codec :mod:`agentflow_openai.chat`, which other
OpenAI-compatible plugins reuse; :data:`PLUGIN` (what the entry point names) answers the hooks
through it with :class:`agentflow.vendor.VendorPlugin`. agentflow imports this module when it
first needs plugins, so it stays light: the catalog and the fake-server emulation
(:mod:`agentflow_openai.testing`) load on demand, and httpx only when a request is built.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from agentflow.hookspecs import hookimpl
from agentflow.types import ProviderSpec
from agentflow.vendor import Codec, VendorPlugin
from agentflow_openai.chat import Dialect
from agentflow_openai.responses import ApiSwitch, ResponsesCodec

if TYPE_CHECKING:
    import httpx

    from agentflow.config import Config
    from agentflow.errors import LLMError
    from agentflow.sse import ServerSentEvent
    from agentflow.types import ModelSettings, Request, Response, StreamChunk, StreamState

__version__ = "0.1.0"

OPENAI = "openai"
COMPATIBLE = "openai_compatible"
AZURE = "azure_openai"
USER_AGENT = f"agentflow-openai/{__version__}"


def _catalog_options(model_id: str) -> dict[str, object] | None:
    from agentflow_openai._catalog import model_options

    return model_options(model_id)


#: The two dialects this plugin answers for, by provider name.
DIALECTS: dict[str, Dialect] = {
    OPENAI: Dialect(
        vendor=OPENAI, label="OpenAI", api_key_env="OPENAI_API_KEY", user_agent=USER_AGENT,
        catalog_options=_catalog_options, completion_token_prefixes=("o1", "o3", "o4", "gpt-5")),
    COMPATIBLE: Dialect(
        vendor=COMPATIBLE, label="The OpenAI-compatible server",
        api_key_env="OPENAI_COMPATIBLE_API_KEY", user_agent=USER_AGENT),
    AZURE: Dialect(
        vendor=AZURE, label="Azure OpenAI", api_key_env="AZURE_OPENAI_API_KEY",
        user_agent=USER_AGENT, catalog_options=_catalog_options,
        completion_token_prefixes=("o1", "o3", "o4", "gpt-5")),
}

class _AzureOnFirstUse:
    """Azure's codec (:class:`agentflow_openai._azure.AzureCodec`), its module imported when a
    request first needs it: a process that never calls Azure does not pay for its import
    (about 6 ms of the first request)."""

    @functools.cached_property
    def _codec(self) -> Codec:
        from agentflow_openai._azure import AzureCodec

        return AzureCodec(DIALECTS[AZURE])

    def build_request(self, request: Request, settings: ModelSettings) -> httpx.Request:
        return self._codec.build_request(request, settings)

    def parse_response(self, response: httpx.Response, request: Request) -> Response:
        return self._codec.parse_response(response, request)

    def parse_stream_event(self, event: ServerSentEvent,
                           state: StreamState) -> list[StreamChunk]:
        return self._codec.parse_stream_event(event, state)

    def map_error(self, response: httpx.Response) -> LLMError | None:
        return self._codec.map_error(response)

    def check_request(self, settings: ModelSettings) -> httpx.Request | None:
        return self._codec.check_request(settings)


#: The codec of each vendor: Chat Completions or the Responses API, as each model chooses.
CODECS: dict[str, Codec] = {
    OPENAI: ApiSwitch(DIALECTS[OPENAI], ResponsesCodec(DIALECTS[OPENAI])),
    COMPATIBLE: ApiSwitch(DIALECTS[COMPATIBLE], ResponsesCodec(DIALECTS[COMPATIBLE])),
    AZURE: _AzureOnFirstUse(),
}


#: What the Chat Completions codec sends: tools, JSON Schema answers, images as bytes or URLs.
CAPABILITIES = frozenset({"streaming", "tools", "structured_output", "images", "image_urls"})
#: OpenAI's limit per image, "20MB" in its vision guide, read the stricter way (decimal
#: megabytes). A request may carry up to 50 MB of images in all, which is not added up here.
MAX_IMAGE_BYTES = 20_000_000


class OpenAIPlugin(VendorPlugin):
    """The vendor plugin, which also checks its model options (``api``, ``auth``) when a
    configuration becomes active, so an unknown value is refused at its line."""

    @hookimpl
    def agentflow_configure(self, config: Config) -> None:
        from agentflow_openai._settings import check_options

        check_options(config, self.vendors)


#: The plugin agentflow registers (the ``openai`` entry point names it).
PLUGIN = OpenAIPlugin(
    providers=[
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
        ProviderSpec(
            name=AZURE, default_base_url="https://YOUR-RESOURCE.openai.azure.com",
            api_key_env="AZURE_OPENAI_API_KEY", temperature_range=(0.0, 2.0),
            description="Azure OpenAI: deployments or the v1 endpoint, api-key or Entra token",
            docs_url="https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference",
            capabilities=CAPABILITIES, max_image_bytes=MAX_IMAGE_BYTES),
    ],
    codec=CODECS,
    models="agentflow_openai._catalog:CATALOG",
    emulations="agentflow_openai.testing:openai_fakes",
)
