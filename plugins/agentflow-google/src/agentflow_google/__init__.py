"""agentflow provider plugin for Google's Gemini API.

One provider, ``google``: base URL ``https://generativelanguage.googleapis.com``, requests to
``{base}/v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``. The key
is read from ``GOOGLE_API_KEY``, else ``GEMINI_API_KEY`` (the order Google's own SDK uses), and
sent in the ``x-goog-api-key`` header, never in the URL.

The wire format lives in :mod:`agentflow_google._codec` and :mod:`agentflow_google._errors`;
:data:`PLUGIN` (what the entry point names) answers the hooks through them with
:class:`agentflow.vendor.VendorPlugin`. agentflow imports this module when it first needs
plugins, so it stays light: the catalog and the fake-server emulation
(:mod:`agentflow_google.testing`) load on demand, httpx only when a request is built.
"""

from __future__ import annotations

from agentflow.types import ProviderSpec
from agentflow.vendor import VendorPlugin
from agentflow_google import _codec

__version__ = "0.1.0"

NAME = "google"
USER_AGENT = _codec.USER_AGENT
#: The image types Gemini reads (GIF is not among them).
IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic",
                               "image/heif"})
#: agentflow's limit per inline image: Gemini takes up to 100 MB of base64 per request (about
#: 75 MB of bytes), so this leaves room for a few large images and the conversation.
MAX_IMAGE_BYTES = 20 * 1024 * 1024


#: The plugin agentflow registers (the ``google`` entry point names it).
PLUGIN = VendorPlugin(
    providers=[ProviderSpec(
        name=NAME, default_base_url="https://generativelanguage.googleapis.com",
        api_key_env="GOOGLE_API_KEY", api_key_env_fallbacks=("GEMINI_API_KEY",),
        temperature_range=(0.0, 2.0),
        description="Google Gemini API (generateContent): Gemini 2.5, 3.x and 4 models",
        docs_url="https://ai.google.dev/api/generate-content",
        capabilities=frozenset({"streaming", "tools", "structured_output", "images",
                                "image_urls"}),
        image_media_types=IMAGE_MEDIA_TYPES, max_image_bytes=MAX_IMAGE_BYTES)],
    codec=_codec,
    models="agentflow_google._catalog:MODELS",
    emulations="agentflow_google.testing:emulations",
)
