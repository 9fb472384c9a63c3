"""A real redis-server for the whole session, and every async test under asyncio and trio.

In CI (``CI`` set) a missing redis-server is an error, never a skip: the nox session installs
Debian's package first.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from agentflow_redis._settings import RedisSettings
from agentflow_redis._store import RedisLimitStore
from agentflow_redis.testing import RedisServer, find_redis_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fleet: the multi-process runs (about a minute); "
                            "nox runs them in the tests_redis_fleet session")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server on a free loopback port for the session; stopped at the end."""
    if find_redis_server() is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; CI must install it (apt-get install -y "
                        "redis-server), these tests are never skipped there")
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, emptied before the test (FLUSHALL)."""
    if not redis_server.running:
        redis_server.start()
    redis_server.command("FLUSHALL")
    return redis_server.url


@pytest.fixture
async def store(redis_url: str, anyio_backend: str) -> AsyncIterator[RedisLimitStore]:
    settings = RedisSettings.parse({"url": redis_url, "key_prefix": "test"})
    assert settings is not None
    made = RedisLimitStore(settings)
    try:
        yield made
    finally:
        await made.aclose()
