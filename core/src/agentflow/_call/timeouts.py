"""The four time limits of a request, and which one an expiry belongs to.

``total``
    The whole call: every attempt, the waits between them, and a stream's body to its end.
``connect``
    Opening a connection (TCP and TLS).
``read``
    The longest wait for the next bytes of an answer (the headers, or more of the body).
``stream_idle``
    The longest a stream may go without sending anything (an event or a keep-alive).

Limits come from the model's settings and may be overridden per call
(``.timeout(30, connect=5, read=20, stream_idle=10)``). The read limit httpx applies is the
smaller of ``read`` (default: the total) and, for a stream, ``stream_idle``;
:meth:`Timeouts.for_attempt` remembers which of them it was, so that an expiry is reported as
the limit the user set. The total is also a deadline the client enforces around every step: a
stream's body is checked against it as data arrives, and a silent stream is ended by its read
or idle limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from agentflow.types import ModelSettings

__all__ = ["AttemptTimeouts", "TimeoutOverrides", "Timeouts"]


@attrs.frozen(kw_only=True)
class TimeoutOverrides:
    """Per-call limits in seconds; ``None`` keeps the configured one."""

    total: float | None = None
    connect: float | None = None
    read: float | None = None
    stream_idle: float | None = None


@attrs.frozen(kw_only=True)
class AttemptTimeouts:
    """The httpx limits of one attempt, and which user limit the read one is."""

    connect: float
    read: float
    read_kind: str
    pool: float

    def as_httpx(self) -> dict[str, float]:
        """The ``timeout`` request extension httpx reads."""
        return {"connect": self.connect, "read": self.read, "write": self.read,
                "pool": self.pool}


@attrs.frozen(kw_only=True)
class Timeouts:
    """The limits in force for one call, in seconds (``None``: no such limit)."""

    total: float
    connect: float
    read: float | None = None
    stream_idle: float | None = None

    @classmethod
    def resolve(cls, settings: ModelSettings,
                overrides: TimeoutOverrides | None = None) -> Timeouts:
        """The settings' limits with the call's overrides applied."""
        o = overrides or TimeoutOverrides()
        return cls(
            total=o.total if o.total is not None else settings.timeout_seconds,
            connect=o.connect if o.connect is not None else settings.connect_timeout_seconds,
            read=o.read if o.read is not None else settings.read_timeout_seconds,
            stream_idle=(o.stream_idle if o.stream_idle is not None
                         else settings.stream_idle_timeout_seconds),
        )

    def for_attempt(self, remaining: float, *, stream: bool) -> AttemptTimeouts:
        """httpx's limits for an attempt made with ``remaining`` seconds of the total left.

        The read limit is the longest silence allowed: ``read``, or for a stream
        ``stream_idle`` if smaller; with neither set, the total itself. The client also runs
        each call under the total as a deadline (checked as a stream's data arrives), so an
        expiry of the total is reported as such.
        """
        read, kind = (self.read, "read") if self.read is not None else (self.total, "total")
        if stream and self.stream_idle is not None and self.stream_idle <= read:
            read, kind = self.stream_idle, "stream_idle"
        remaining = max(remaining, 0.0)
        return AttemptTimeouts(connect=min(self.connect, remaining), read=read, read_kind=kind,
                               pool=remaining)
