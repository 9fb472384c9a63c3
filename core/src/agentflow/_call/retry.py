"""When a failed attempt is worth another, and how long to wait before it.

Retried: connection errors and timeouts before any byte of the answer arrived, and the statuses
in :data:`RETRYABLE_STATUSES`. Never retried: any other status (400, 401, 403, 404, 422, ...),
an error a plugin marked ``retryable=False`` (a used-up quota), the total time limit, or a
stream once its body has begun.

The wait before retry *n* is drawn uniformly from ``[0, min(base * 2^(n-1), max_delay)]``
("full jitter": clients that failed together do not come back together). A vendor's advice
(``retry_after`` on the error: its Retry-After header, or its rate-limit reset headers as the
plugin reads them) replaces the draw; advice longer than ``max_delay`` ends the retries, so
the caller gets the :class:`~agentflow.errors.RateLimitError` and its ``retry_after`` at once
instead of a hidden minute-long sleep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from agentflow.errors import LLMError
    from agentflow.types import ModelSettings

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy"]

#: Statuses worth another try: the request may succeed unchanged a moment later.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how patiently one call retries (seconds throughout)."""

    max_retries: int
    base_delay: float
    max_delay: float
    uniform: Callable[[float, float], float] = attrs.field(default=random.uniform, eq=False)

    @classmethod
    def of(cls, settings: ModelSettings) -> RetryPolicy:
        """The policy a model's merged settings describe."""
        return cls(max_retries=settings.max_retries, base_delay=settings.retry_delay_ms / 1000,
                   max_delay=settings.max_retry_delay_ms / 1000)

    @staticmethod
    def is_retryable(error: LLMError) -> bool:
        """Whether the attempt that raised ``error`` may succeed if made again unchanged."""
        if error.retryable is not None:
            return error.retryable
        status = error.status_code
        return status is not None and status in RETRYABLE_STATUSES

    def delay(self, attempt: int, error: LLMError) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (from 1), or ``None`` to
        stop: no retries left, or the vendor asks for a longer wait than ``max_delay``."""
        if attempt > self.max_retries:
            return None
        advised = getattr(error, "retry_after", None)
        if advised is not None:
            return advised if advised <= self.max_delay else None
        return self.uniform(0.0, min(self.base_delay * 2 ** (attempt - 1), self.max_delay))
