"""This plugin's emulations, as its ``agentflow_fake_routes`` hook gives them."""

from __future__ import annotations

from agentflow.testing import FakeProvider
from agentflow_openai.testing._azure import azure_openai_fake
from agentflow_openai.testing._service import chat_completions_fake

__all__ = ["openai_fakes"]


def openai_fakes() -> list[FakeProvider]:
    """The emulations of this plugin's providers (OpenAI and compatible servers with the
    Responses API too, and Azure OpenAI)."""
    from agentflow_openai._catalog import MODELS, model_options

    return [
        chat_completions_fake("openai", require_key=True, model_options=model_options,
                              models=[m.model_id or m.name for m in MODELS], responses=True),
        chat_completions_fake("openai_compatible", require_key=False,
                              models=["local-model"], owned_by="agentflow-fake",
                              responses=True),
        azure_openai_fake(),
    ]
