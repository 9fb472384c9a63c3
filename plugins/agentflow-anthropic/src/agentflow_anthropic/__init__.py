"""agentflow provider plugin for Anthropic's Messages API (Claude).

One provider, ``anthropic``: ``https://api.anthropic.com`` (requests go to ``/v1/messages``),
key from ``ANTHROPIC_API_KEY`` in the ``x-api-key`` header, ``anthropic-version: 2023-06-01``.

The wire format lives in :mod:`agentflow_anthropic._codec`; :data:`PLUGIN` (what the entry point
names) answers the hooks through it with :class:`agentflow.vendor.VendorPlugin`. agentflow
imports this module when it first needs plugins, so it stays light: the catalog and the
fake-server emulation (:mod:`agentflow_anthropic.testing`) load when first used, httpx when a
request is built.
"""

from __future__ import annotations

from agentflow.types import ProviderSpec
from agentflow.vendor import VendorPlugin
from agentflow_anthropic import _codec

__version__ = "0.1.0"

NAME = "anthropic"

#: The largest image sent inline, in bytes. Anthropic documents 5 MB per image and measures it
#: on the base64 text (its 400 says "image exceeds 5 MB maximum: N bytes > 5242880 bytes" for
#: the encoded size), so the raw bytes may be three quarters of 5 MiB.
MAX_IMAGE_BYTES = 5 * 1024 * 1024 * 3 // 4


#: The plugin agentflow registers (the ``anthropic`` entry point names it).
PLUGIN = VendorPlugin(
    providers=[ProviderSpec(
        name=NAME, default_base_url="https://api.anthropic.com", api_key_env="ANTHROPIC_API_KEY",
        temperature_range=(0.0, 1.0), description="Anthropic Messages API (Claude)",
        docs_url="https://docs.anthropic.com/en/api/messages",
        capabilities=frozenset({"streaming", "tools", "structured_output", "images",
                                "image_urls", "server_tools"}),
        max_image_bytes=MAX_IMAGE_BYTES)],
    codec=_codec,
    models="agentflow_anthropic._catalog:MODELS",
    emulations="agentflow_anthropic.testing:emulations",
)
