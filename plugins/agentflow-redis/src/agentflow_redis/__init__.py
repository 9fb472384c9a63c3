"""agentflow-redis: rate limits, concurrency caps, 429 pauses and circuit breakers shared by
every process that uses the same Redis.

Installing the distribution registers :data:`PLUGIN` through the ``agentflow`` entry point.
It does nothing until ``plugins.redis.url`` (or ``AGENTFLOW_REDIS_URL``) names a server; then
it answers the core's limit-store hook with a :class:`RedisLimitStore`, and the limits
configured under ``rate_limit`` and ``circuit_breaker`` hold for the whole fleet. See
docs/scaling.md.

Importing this package imports nothing beyond anyio and attrs; no connection is opened
before the first limited call.
"""

from __future__ import annotations

from agentflow_redis._plugin import RedisPlugin
from agentflow_redis._settings import URL_ENV, RedisSettings
from agentflow_redis._store import LimitStoreUnavailable, RedisLimitStore

__all__ = ["PLUGIN", "URL_ENV", "LimitStoreUnavailable", "RedisLimitStore", "RedisPlugin",
           "RedisSettings"]

#: The plugin the entry point registers (``agentflow_redis:PLUGIN``).
PLUGIN = RedisPlugin()
