"""Pointing agentflow at a fake server: the configuration ``agentflow demo`` and the
``fake_agentflow`` fixture both use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentflow.config import Config
    from agentflow.testing.server import FakeServer


def fake_config(server: FakeServer, providers: Iterable[str], *, api_key_env: str) -> Config:
    """A configuration that sends every provider in ``providers`` to ``server``.

    Providers the server does not emulate go there too (and get a 404): a test must never reach
    a real vendor. Every provider reads its key from ``api_key_env``.
    """
    from agentflow.config import Config, ProviderConfig

    emulated = server.provider_names
    names = dict.fromkeys([*emulated, *providers])
    return Config(providers={
        name: ProviderConfig(api_key_env=api_key_env, base_url=(
            server.base_url(name) if name in emulated else f"{server.url}/{name}"))
        for name in names})
