"""The exporter's settings (``plugins.prometheus`` in agentflow.yml, or constructor arguments),
checked. Imports nothing from prometheus_client."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from agentflow.errors import ConfigurationError

__all__ = ["DEFAULT_BUCKETS", "Layout", "PrometheusSettings"]

#: Histogram buckets by metric (without the namespace). Seconds: a small model answers in a
#: fraction of one, a long generation takes minutes; tokens per second: a slow large model to a
#: fast small one.
DEFAULT_BUCKETS: Mapping[str, tuple[float, ...]] = MappingProxyType({
    "request_duration_seconds": (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
                                 300.0),
    "time_to_first_token_seconds": (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
    "output_tokens_per_second": (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0),
    "stream_chunk_gap_max_seconds": (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
})
_KEYS = ("enabled", "http_port", "http_addr", "namespace", "buckets")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")


@attrs.frozen
class Layout:
    """What the metrics are called and how histograms are bucketed: changing either makes new
    metrics (the old series end)."""

    namespace: str = "agentflow"
    buckets: Mapping[str, tuple[float, ...]] = DEFAULT_BUCKETS

    @classmethod
    def of(cls, namespace: str = "agentflow",
           buckets: Mapping[str, Sequence[float]] | None = None) -> Layout:
        """A checked layout; ``buckets`` overrides some of :data:`DEFAULT_BUCKETS`.

        :raises ValueError: naming the bad value (``buckets.<metric>`` for a bucket list).
        """
        if not isinstance(namespace, str) or not _METRIC_NAME.match(namespace):
            raise ValueError(f"namespace must be a Prometheus metric name prefix (letters, "
                             f"digits, _ and :, not starting with a digit), got {namespace!r}")
        if buckets is None:
            return cls(namespace)
        if not isinstance(buckets, Mapping):
            raise ValueError(f"buckets must map metric names ({', '.join(DEFAULT_BUCKETS)}) "
                             f"to lists of bounds, got {buckets!r}")
        merged = dict(DEFAULT_BUCKETS)
        for name, bounds in buckets.items():
            if name not in DEFAULT_BUCKETS:
                raise ValueError(f"buckets.{name}: not a histogram of this exporter; "
                                 f"histograms are: {', '.join(DEFAULT_BUCKETS)}")
            merged[name] = _bounds(name, bounds)
        return cls(namespace, MappingProxyType(merged))


def _bounds(name: str, bounds: object) -> tuple[float, ...]:
    if (isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or not bounds
            or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in bounds)):
        raise ValueError(f"buckets.{name} must be a non-empty list of numbers, got {bounds!r}")
    values = tuple(float(b) for b in bounds)
    increasing = values == tuple(sorted(set(values)))
    if not increasing or not all(math.isfinite(b) and b > 0 for b in values):
        raise ValueError(f"buckets.{name} must be positive, finite and increasing (+Inf is "
                         f"added by itself), got {list(bounds)!r}")
    return values


@attrs.frozen(kw_only=True)
class PrometheusSettings:
    """``plugins.<name>``: ``enabled`` (default true), ``http_port`` (serve /metrics there;
    0 picks a free port; default: no server), ``http_addr`` (default 127.0.0.1: set 0.0.0.0
    on purpose to let other hosts scrape), ``namespace`` and ``buckets`` (a :class:`Layout`)."""

    enabled: bool = True
    http_port: int | None = None
    http_addr: str = "127.0.0.1"
    layout: Layout = Layout()

    @classmethod
    def parse(cls, section: Mapping[str, Any], *, where: str = "plugins.prometheus"
              ) -> PrometheusSettings:
        """The settings in ``section``; :class:`ConfigurationError` names a bad key as
        ``<where>.<key>``."""
        if not isinstance(section, Mapping):
            raise ConfigurationError(f"{where} must be a mapping of settings, got {section!r}")
        for key in section:
            if key not in _KEYS:
                raise ConfigurationError(
                    f"{where}.{key}: unknown key; keys here are: {', '.join(_KEYS)}")
        enabled = section.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigurationError(f"{where}.enabled must be true or false, got {enabled!r}")
        port = section.get("http_port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                                 or not 0 <= port <= 65535):
            raise ConfigurationError(f"{where}.http_port must be a port number (0 to 65535; 0 "
                                     f"picks a free one), got {port!r}")
        addr = section.get("http_addr", "127.0.0.1")
        if not isinstance(addr, str) or not addr:
            raise ConfigurationError(f"{where}.http_addr must be a host address, got {addr!r}")
        try:
            layout = Layout.of(section.get("namespace", "agentflow"), section.get("buckets"))
        except ValueError as exc:
            raise ConfigurationError(f"{where}.{exc}") from None
        return cls(enabled=enabled, http_port=port, http_addr=addr, layout=layout)
