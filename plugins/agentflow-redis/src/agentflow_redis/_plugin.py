"""The hook implementations: read ``plugins.redis``, hand the core a shared limit store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow.hookspecs import hookimpl
from agentflow_redis._settings import RedisSettings

if TYPE_CHECKING:
    from agentflow.config import Config

__all__ = ["RedisPlugin"]


class RedisPlugin:
    """Follows ``plugins.redis``; a bad setting refuses the configuration, located."""

    def __init__(self, name: str = "redis") -> None:
        self.name = name
        self.settings: RedisSettings | None = None

    @hookimpl
    def agentflow_configure(self, config: Config) -> None:
        """Check ``plugins.<name>`` (raises the located error of a bad key)."""
        self.settings = RedisSettings.of(config, self.name)
