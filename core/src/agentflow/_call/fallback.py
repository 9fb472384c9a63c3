"""Fallbacks: when a model fails transiently, the next model of its ``fallbacks`` list answers.

A hop happens after the model's own retries are spent, on a failure that a retry could have
cured (a transient status, a connection error, a timeout) or on an open circuit; a client error
(400, 401, ...) is the caller's to fix and ends the chain at once. A fallback that cannot be
used at all (its key is not set, the parameters are outside its vendor's range) is skipped with
its reason. Only the first model's list is followed: a fallback's own fallbacks are not, so a
chain is what the configuration shows, never a loop.

Each hop is an ``llm.fallback`` event. When every model failed, the last error is raised, and
its message lists what happened to each model.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from agentflow._call.retry import RetryPolicy
from agentflow._observe.events import ExecutionEvent
from agentflow.errors import CircuitOpenError, LLMError, LLMTimeoutError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agentflow._observe.events import MetricsCollector
    from agentflow._runtime.runtime import Runtime
    from agentflow.types import ModelSettings

__all__ = ["falls_back", "run_with_fallbacks"]

logger = logging.getLogger("agentflow.requests")

T = TypeVar("T")


def falls_back(error: LLMError) -> bool:
    """Whether another model should be tried after ``error``."""
    return (isinstance(error, (CircuitOpenError, LLMTimeoutError))
            or RetryPolicy.is_retryable(error))


async def run_with_fallbacks(
    runtime: Runtime,
    primary: ModelSettings,
    call: Callable[[ModelSettings], Awaitable[T]],
    collectors: Sequence[MetricsCollector] = (),
    resolve: Callable[[str], ModelSettings] | None = None,
) -> T:
    """``call(settings)`` for ``primary``, then for each of its fallbacks while they fail.

    Fallbacks are resolved with ``resolve`` (the registry the call started with, so a
    configuration reloaded meanwhile does not change a call half way), else the runtime's.
    """
    resolve = resolve or runtime.resolve
    try:
        return await call(primary)
    except LLMError as error:
        if not primary.fallbacks or not falls_back(error):
            raise
        last = error
    history = [f"{primary.name}: {_summary(last)}"]
    current = primary.name
    for name in primary.fallbacks:
        _emit(runtime, collectors, primary.name, current, name, last)
        try:
            return await call(resolve(name))
        except LLMError as error:
            last = error
            history.append(f"{name}: {_summary(error)}")
            if not falls_back(error) and not _unusable(error):
                break
        current = name
    last.message = f"{last.message} [models tried: {'; '.join(history)}]"
    last.args = (last.message,)
    raise last


def _unusable(error: LLMError) -> bool:
    """A fallback that could not even be tried: skip to the next one."""
    from agentflow.errors import ConfigurationError, ValidationError

    return isinstance(error, (ConfigurationError, ValidationError))


def _summary(error: LLMError) -> str:
    if error.status_code is not None:
        return f"{type(error).__name__} {error.status_code}"
    return type(error).__name__


def _emit(runtime: Runtime, collectors: Sequence[MetricsCollector], origin: str, failed: str,
          following: str, error: LLMError) -> None:
    logger.info("model %s failed (%s); falling back to %s", failed, _summary(error), following)
    if not runtime.has_event_listeners(collectors):
        return
    runtime.emit(ExecutionEvent(event_type="llm.fallback", node_id=f"llm.{origin}", metadata={
        "model": failed, "provider": error.provider, "from_model": failed,
        "to_model": following, "error_type": type(error).__name__,
        "status": error.status_code}), collectors)
