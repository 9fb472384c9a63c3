"""``plugins.prometheus`` in agentflow.yml, checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from agentflow.errors import ConfigurationError

__all__ = ["PrometheusSettings"]

_KEYS = ("enabled", "http_port", "http_addr")


@attrs.frozen
class PrometheusSettings:
    """``enabled`` (default true), ``http_port`` (serve /metrics there; default: no server),
    ``http_addr`` (default 127.0.0.1: set 0.0.0.0 on purpose to let other hosts scrape)."""

    enabled: bool = True
    http_port: int | None = None
    http_addr: str = "127.0.0.1"

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> PrometheusSettings:
        """The settings in ``section``; :class:`ConfigurationError` names a bad key."""
        for key in section:
            if key not in _KEYS:
                raise ConfigurationError(
                    f"plugins.prometheus.{key}: unknown key; keys here are: {', '.join(_KEYS)}")
        enabled = section.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigurationError(f"plugins.prometheus.enabled must be true or false, got "
                                     f"{enabled!r}")
        port = section.get("http_port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                                 or not 0 <= port <= 65535):
            raise ConfigurationError(f"plugins.prometheus.http_port must be a port number "
                                     f"(0 to 65535), got {port!r}")
        addr = section.get("http_addr", "127.0.0.1")
        if not isinstance(addr, str) or not addr:
            raise ConfigurationError(f"plugins.prometheus.http_addr must be a host address, "
                                     f"got {addr!r}")
        return cls(enabled=enabled, http_port=port, http_addr=addr)
