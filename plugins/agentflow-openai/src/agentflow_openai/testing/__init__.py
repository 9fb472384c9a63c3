"""The Chat Completions API as the fake provider server plays it: OpenAI's emulation, public so
that other OpenAI-compatible plugins (agentflow-moonshot) emulate their service with it.

:func:`chat_completions_fake` builds the emulation of one Chat Completions provider, told apart
by its :class:`ToolRules` and parameters; :func:`openai_fakes` is this plugin's two. Nothing at
run time imports this package: the plugin's ``agentflow_fake_routes`` loads it when the fake
server (``agentflow demo``, the pytest fixtures) asks for it. :mod:`agentflow_openai.testing.wire`
reads a recorded request back for the conformance suite (it imports pytest).
"""

from __future__ import annotations

from agentflow_openai.testing._fakes import openai_fakes
from agentflow_openai.testing._service import chat_completions_fake, error_body
from agentflow_openai.testing._tools import ToolRules

__all__ = ["ToolRules", "chat_completions_fake", "error_body", "openai_fakes"]
