"""The error a refused prompt raises."""

from __future__ import annotations

from typing import Any

from agentflow.errors import ValidationError

__all__ = ["PromptRejectedError"]


class PromptRejectedError(ValidationError):
    """The guard refused a prompt before anything was sent.

    ``rule`` names the rule that fired: ``max_prompt_chars``, ``max_prompt_tokens`` or a deny
    rule's name (``deny[0]`` for an unnamed one). For a deny rule, ``message_index`` and
    ``role`` say which message broke it. The message says all that and never repeats the
    matched text.
    """

    def __init__(self, message: str, *, rule: str, message_index: int | None = None,
                 role: str | None = None, **context: Any) -> None:
        super().__init__(message, parameter="messages", **context)
        self.rule = rule
        self.message_index = message_index
        self.role = role
