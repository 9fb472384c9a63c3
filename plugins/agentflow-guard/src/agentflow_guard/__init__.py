"""agentflow-guard: prompt guards, applied before anything leaves the process.

Installing the distribution registers :data:`GUARD`, configured from ``plugins.guard`` in
agentflow.yml (by default it redacts API keys and nothing else). It works through the
``agentflow_prepare_request`` hook, as any cross-cutting plugin can: vendor plugins need
nothing from it. For a guard configured in code instead, register a :class:`PromptGuard` and
set ``plugins.guard.enabled: false`` (or leave ``guard`` out of ``AGENTFLOW_LOAD_PLUGINS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow.hookspecs import hookimpl
from agentflow_guard._guard import PromptGuard, PromptRejectedError
from agentflow_guard._rules import BUILTIN_REDACTIONS, luhn_valid

if TYPE_CHECKING:
    from agentflow.config import Config
    from agentflow.types import ModelSettings, Request

__all__ = ["BUILTIN_REDACTIONS", "GUARD", "PromptGuard", "PromptRejectedError", "luhn_valid"]

#: The guard the entry point registers.
GUARD = PromptGuard()


@hookimpl
def agentflow_configure(config: Config) -> None:
    """See :meth:`PromptGuard.agentflow_configure`."""
    GUARD.agentflow_configure(config)


@hookimpl
def agentflow_prepare_request(request: Request, settings: ModelSettings) -> Request | None:
    """See :meth:`PromptGuard.agentflow_prepare_request`."""
    return GUARD.agentflow_prepare_request(request, settings)
