"""The hook implementations: read ``plugins.redis``, hand the core a shared limit store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentflow.errors import ConfigurationError
from agentflow.hookspecs import hookimpl
from agentflow_redis._settings import RedisSettings

if TYPE_CHECKING:
    from agentflow import ExecutionEvent
    from agentflow.config import Config
    from agentflow_redis._store import RedisLimitStore

__all__ = ["RedisPlugin"]


class RedisPlugin:
    """Follows ``plugins.redis`` (or ``AGENTFLOW_REDIS_URL``): a bad setting refuses the
    configuration, located; a URL makes every limit and breaker shared through Redis.

    The store is kept while the settings stay the same, so a reload keeps its connections and
    its view of an outage.
    """

    def __init__(self, name: str = "redis") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._store: RedisLimitStore | None = None
        self._emit: Callable[[ExecutionEvent], None] | None = None

    @hookimpl
    def agentflow_configure(self, config: Config) -> None:
        """Check ``plugins.<name>`` (raises the located error of a bad key)."""
        RedisSettings.of(config, self.name)

    @hookimpl
    def agentflow_check_settings(self, config: Config) -> list[ConfigurationError]:
        """The located error of ``plugins.<name>``; nothing is connected to."""
        try:
            RedisSettings.of(config, self.name)
        except ConfigurationError as exc:
            return [exc]
        return []

    @hookimpl
    def agentflow_limit_store(self, config: Config, emit: Callable[[ExecutionEvent], None]
                              ) -> RedisLimitStore | None:
        """The shared store for ``config``'s settings, or ``None`` without a URL."""
        settings = RedisSettings.of(config, self.name)
        if settings is None:
            return None
        from agentflow_redis._store import RedisLimitStore

        with self._lock:
            self._emit = emit
            if self._store is None or self._store.settings != settings:
                self._store = RedisLimitStore(settings, notify=self._notify)
            return self._store

    def _notify(self, event_type: str, metadata: dict[str, object]) -> None:
        emit = self._emit
        if emit is None:
            return
        from agentflow import ExecutionEvent

        emit(ExecutionEvent(event_type=event_type, node_id=f"plugin.{self.name}",
                            metadata=metadata))
