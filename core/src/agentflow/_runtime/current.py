"""The process-wide runtime that ``AgentFlow`` and builders without one of their own use."""

from __future__ import annotations

from agentflow._runtime.runtime import Runtime

__all__ = ["close_current_runtime", "current_runtime", "use_runtime"]

_current: Runtime | None = None


def current_runtime() -> Runtime:
    """The process-wide runtime, created on first use."""
    global _current
    if _current is None:
        _current = Runtime()
    return _current


def use_runtime(runtime: Runtime | None) -> Runtime | None:
    """Make ``runtime`` the process-wide one (``None``: a new one on next use); returns the
    previous one."""
    global _current
    previous, _current = _current, runtime
    return previous


async def close_current_runtime() -> None:
    """Close the process-wide runtime's connection pools, if it was ever made."""
    if _current is not None:
        await _current.aclose()
