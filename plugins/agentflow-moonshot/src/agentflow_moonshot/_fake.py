"""Moonshot's API as the fake provider server plays it: the Chat Completions emulation of the
OpenAI plugin, with Moonshot's temperature range, its error types and its model list."""

from __future__ import annotations

from agentflow.testing.fake import FakeProvider
from agentflow_openai._fake import chat_completions_fake

__all__ = ["ERROR_KINDS", "moonshot_fakes"]

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


def moonshot_fakes() -> list[FakeProvider]:
    """The emulations of the global and the China endpoint (the same service)."""
    from agentflow_moonshot._catalog import MODELS, model_options

    return [chat_completions_fake(name, require_key=True, model_options=model_options,
                                  models=[model.name for model in MODELS], owned_by="moonshot",
                                  temperature_range=(0.0, 1.0), error_kinds=ERROR_KINDS)
            for name in ("moonshot", "moonshot_cn")]
