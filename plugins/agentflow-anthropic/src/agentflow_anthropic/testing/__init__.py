"""Anthropic's Messages API as the fake provider server plays it: the emulation of the
``anthropic`` provider (routes in :mod:`._service`, the request checks in :mod:`._rules`).

Nothing at run time imports this package: the plugin's ``agentflow_fake_routes`` loads it when
the fake server (``agentflow demo``, the pytest fixtures) asks for it.
"""

from __future__ import annotations

from agentflow.testing.fake import FakeProvider
from agentflow_anthropic.testing._service import ERROR_TYPES, anthropic_fake, error_body

__all__ = ["ERROR_TYPES", "anthropic_fake", "emulations", "error_body"]


def emulations() -> list[FakeProvider]:
    """The plugin's emulations for the fake server."""
    return [anthropic_fake()]
