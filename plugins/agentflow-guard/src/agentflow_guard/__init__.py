"""agentflow-guard: prompt guards, applied before anything leaves the process.

Installing the distribution registers this module: :data:`GUARD`, configured from
``plugins.guard`` in agentflow.yml (by default it redacts API keys and nothing else). It works
through the ``agentflow_prepare_request`` and ``agentflow_configure`` hooks, as any
cross-cutting plugin can: vendor plugins need nothing from it.

A :class:`PromptGuard` registered in code (``AgentFlow.register_plugin(PromptGuard(...))``)
takes the installed guard's place: on every call it checks, the installed guard stands aside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow.errors import ConfigurationError
from agentflow.hookspecs import hookimpl
from agentflow_guard._errors import PromptRejectedError
from agentflow_guard._guard import PromptGuard, installed_guard_stands_aside, rules_of
from agentflow_guard._rules import BUILTIN_REDACTIONS, luhn_valid

if TYPE_CHECKING:
    from agentflow.config import Config
    from agentflow.types import ModelSettings, Request

__all__ = ["BUILTIN_REDACTIONS", "GUARD", "PromptGuard", "PromptRejectedError", "luhn_valid"]

#: The installed guard, configured from ``plugins.guard``; ``GUARD.counts`` are its redactions.
GUARD = PromptGuard()


@hookimpl
def agentflow_configure(config: Config) -> None:
    """Apply ``plugins.guard`` (see :meth:`PromptGuard.configure`)."""
    GUARD.configure(config)


@hookimpl
def agentflow_check_settings(config: Config) -> list[ConfigurationError]:
    """The located error of ``plugins.guard``, as :func:`agentflow_configure` would raise it,
    without changing the installed guard."""
    try:
        rules_of(config)
    except ConfigurationError as exc:
        return [exc]
    return []


@hookimpl(trylast=True)
def agentflow_prepare_request(request: Request, settings: ModelSettings) -> Request | None:
    """Check and redact the request as the last plugin to see it (see
    :meth:`PromptGuard.prepare`), unless a guard registered in code already did."""
    if installed_guard_stands_aside(settings):
        return None
    return GUARD.prepare(request, settings)
