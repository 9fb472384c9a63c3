"""Tests run over both transports: httpx's own (under asyncio and trio) and aiohttp (under
asyncio, the only loop aiohttp runs on)."""

from __future__ import annotations

import pytest

CASES = [("asyncio", "httpx"), ("trio", "httpx"), ("asyncio", "aiohttp")]


@pytest.fixture(params=CASES, ids=[f"{backend}-{transport}" for backend, transport in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def anyio_backend(case: tuple[str, str]) -> str:
    return case[0]


@pytest.fixture
def transport(case: tuple[str, str]) -> str:
    """The configuration's ``transport`` for this run of the test."""
    return case[1]
