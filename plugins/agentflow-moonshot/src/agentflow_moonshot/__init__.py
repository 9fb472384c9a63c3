"""agentflow provider plugin for Moonshot AI's Kimi models.

Moonshot serves the OpenAI Chat Completions format, so this plugin owns no wire format of its
own: it describes Moonshot to the OpenAI plugin's public codec (:mod:`agentflow_openai.chat`)
with a :class:`~agentflow_openai.chat.Dialect`, and :data:`PLUGIN` (what the entry point names)
answers the hooks through it. Two vendors, one service:

``moonshot``
    ``https://api.moonshot.ai/v1`` (the global endpoint), key from ``MOONSHOT_API_KEY``.
``moonshot_cn``
    ``https://api.moonshot.cn/v1`` (the China endpoint), the same key variable. Send every
    catalog model there with ``providers: {moonshot: {vendor: moonshot_cn}}``.

What differs from OpenAI: temperature runs from 0 to 1 (checked before sending); Kimi K2.x and
K3 accept only their default sampling (left out of requests); Moonshot's own error types
(``exceeded_current_quota_error`` is a quota, not a rate limit, and is not retried;
``engine_overloaded_error`` is); cached prompt tokens are reported at the top of ``usage``;
structured answers go through JSON mode; function definitions are strict unless they say
otherwise; images travel as bytes only.
"""

from __future__ import annotations

from typing import Any

from agentflow.types import ProviderSpec
from agentflow.vendor import VendorPlugin
from agentflow_openai.chat import Dialect

__version__ = "0.1.0"

MOONSHOT = "moonshot"
MOONSHOT_CN = "moonshot_cn"
API_KEY_ENV = "MOONSHOT_API_KEY"
USER_AGENT = f"agentflow-moonshot/{__version__}"

#: Moonshot's error types, by the status each stands for when a stream reports one.
ERROR_STATUSES = {
    "content_filter": 400,
    "invalid_request_error": 400,
    "invalid_authentication_error": 401,
    "permission_denied_error": 403,
    "resource_not_found_error": 404,
    "exceeded_current_quota_error": 429,
    "rate_limit_reached_error": 429,
    "engine_overloaded_error": 429,
    "server_error": 500,
    "unexpected_output": 500,
}


def _catalog_options(model_id: str) -> dict[str, object] | None:
    from agentflow_moonshot._catalog import model_options

    return model_options(model_id)


def _dialect(vendor: str) -> Dialect:
    return Dialect(
        vendor=vendor, label="Moonshot", api_key_env=API_KEY_ENV, user_agent=USER_AGENT,
        catalog_options=_catalog_options, error_statuses=ERROR_STATUSES,
        quota_errors=("exceeded_current_quota_error",), json_schema=False,
        strict_tools_by_default=True)


DIALECTS: dict[str, Dialect] = {MOONSHOT: _dialect(MOONSHOT),
                                       MOONSHOT_CN: _dialect(MOONSHOT_CN)}


#: Tools (the Chat Completions shape; Kimi holds a function to its schema unless it says
#: ``strict: false``), structured answers (JSON mode, the schema stated in a system message:
#: Kimi documents ``json_object``, not ``json_schema``) and images as base64 (Kimi's chat
#: reference takes ``data:`` URLs or its own ``ms://`` file ids, not web addresses; PNG, JPEG,
#: WebP or GIF). The per-image limit is agentflow's own: Kimi publishes none.
_MEDIA: dict[str, Any] = {
    "capabilities": frozenset({"streaming", "tools", "structured_output", "images"}),
    "max_image_bytes": 10 * 1024 * 1024,
}


_DOCS = "https://platform.moonshot.ai/docs/api/chat"

#: The plugin agentflow registers (the ``moonshot`` entry point names it).
PLUGIN = VendorPlugin(
    providers=[
        ProviderSpec(name=MOONSHOT, default_base_url="https://api.moonshot.ai/v1",
                     api_key_env=API_KEY_ENV, temperature_range=(0.0, 1.0),
                     description="Moonshot AI Kimi models (global endpoint)", docs_url=_DOCS,
                     **_MEDIA),
        ProviderSpec(name=MOONSHOT_CN, default_base_url="https://api.moonshot.cn/v1",
                     api_key_env=API_KEY_ENV, temperature_range=(0.0, 1.0),
                     description="Moonshot AI Kimi models (China endpoint)", docs_url=_DOCS,
                     **_MEDIA),
    ],
    codec=DIALECTS,
    models="agentflow_moonshot._catalog:MODELS",
    emulations="agentflow_moonshot.testing:moonshot_fakes",
)
