"""The Gemini API as the fake provider server plays it: the emulation of the ``google``
provider (routes and answers in :mod:`._service`, function calling, schemas and images in
:mod:`._content`).

Nothing at run time imports this package: the plugin's ``agentflow_fake_routes`` loads it when
the fake server (``agentflow demo``, the pytest fixtures) asks for it.
"""

from __future__ import annotations

from agentflow.testing.fake import FakeProvider
from agentflow_google.testing._service import STATUS_NAMES, THOUGHT_TOKENS, error_body, gemini_fake

__all__ = ["STATUS_NAMES", "THOUGHT_TOKENS", "emulations", "error_body", "gemini_fake"]


def emulations() -> list[FakeProvider]:
    """The plugin's emulations for the fake server."""
    return [gemini_fake()]
