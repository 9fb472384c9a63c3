"""agentflow provider plugin for OpenAI's Chat Completions API and OpenAI-compatible servers.

Two providers:

``openai``
    ``https://api.openai.com/v1``, key from ``OPENAI_API_KEY``, the model catalog of
    :mod:`agentflow_openai._catalog`.
``openai_compatible``
    Any server speaking the same format: vLLM, llama.cpp's server, Ollama's ``/v1``. Default
    base URL ``http://127.0.0.1:8000/v1``; the key (``OPENAI_COMPATIBLE_API_KEY``) is optional
    and sent only when set.

The wire format is the public codec :mod:`agentflow_openai.chat`, which other
OpenAI-compatible plugins reuse; :data:`PLUGIN` (what the entry point names) answers the hooks
through it with :class:`agentflow.vendor.VendorPlugin`. agentflow imports this module when it
first needs plugins, so it stays light: the catalog and the fake-server emulation
(:mod:`agentflow_openai.testing`) load on demand, and httpx only when a request is built.
"""

from __future__ import annotations

from agentflow.types import ProviderSpec
from agentflow.vendor import VendorPlugin
from agentflow_openai.chat import Dialect

__version__ = "0.1.0"

OPENAI = "openai"
COMPATIBLE = "openai_compatible"
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
}


#: What the Chat Completions codec sends: tools, JSON Schema answers, images as bytes or URLs.
CAPABILITIES = frozenset({"streaming", "tools", "structured_output", "images", "image_urls"})
#: OpenAI's limit per image, "20MB" in its vision guide, read the stricter way (decimal
#: megabytes). A request may carry up to 50 MB of images in all, which is not added up here.
MAX_IMAGE_BYTES = 20_000_000


#: The plugin agentflow registers (the ``openai`` entry point names it).
PLUGIN = VendorPlugin(
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
    ],
    codec=DIALECTS,
    models="agentflow_openai._catalog:MODELS",
    emulations="agentflow_openai.testing:openai_fakes",
)
