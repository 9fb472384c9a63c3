"""Moonshot's API as the fake provider server plays it: the Chat Completions emulation of the
OpenAI plugin (:mod:`agentflow_openai.testing`), with Moonshot's temperature range, its error
types, its model list and its rules for tool names and images. Nothing at run time imports it:
the plugin's ``agentflow_fake_routes`` loads it when the fake server asks."""

from __future__ import annotations

import re

from agentflow.testing.fake import FakeProvider
from agentflow_openai.testing import ToolRules, chat_completions_fake

__all__ = ["ERROR_KINDS", "TOOL_RULES", "moonshot_fakes"]

#: The error type Moonshot answers each status with (its error reference).
ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_authentication_error", None),
    403: ("permission_denied_error", None),
    404: ("resource_not_found_error", None),
    429: ("rate_limit_reached_error", None),
    500: ("server_error", None),
    503: ("engine_overloaded_error", None),
}

#: Kimi's tool-use reference: a function name matches ``^[a-zA-Z_][a-zA-Z0-9-_]{2,63}$``, at
#: most 128 functions; its vision guide and chat reference take images as base64 ``data:`` URLs
#: or ``ms://`` file references, not web addresses.
TOOL_RULES = ToolRules(tool_name=re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]{2,63}"), max_tools=128,
                       image_urls=False)


def moonshot_fakes() -> list[FakeProvider]:
    """The emulations of the global and the China endpoint (the same service)."""
    from agentflow_moonshot._catalog import MODELS, model_options

    return [chat_completions_fake(name, require_key=True, model_options=model_options,
                                  models=[model.name for model in MODELS], owned_by="moonshot",
                                  temperature_range=(0.0, 1.0), error_kinds=ERROR_KINDS,
                                  tool_rules=TOOL_RULES)
            for name in ("moonshot", "moonshot_cn")]
