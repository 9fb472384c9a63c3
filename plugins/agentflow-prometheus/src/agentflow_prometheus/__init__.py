"""agentflow-prometheus: every agentflow call's figures as Prometheus metrics.

Installing the distribution is enough: its entry point registers :data:`EXPORTER`, which
records into prometheus_client's default registry and follows ``plugins.prometheus`` in
agentflow.yml (``http_port`` serves ``/metrics``). To record into a registry of your own,
register a :class:`PrometheusExporter` in code.

No call is counted twice in one registry: each registry and namespace has at most one
exporter. The installed one gives way to an exporter made in code for the same registry and
namespace; two made in code for the same are refused (``ValueError``); :data:`EXPORTER`
cannot be registered a second time (pluggy refuses the same object twice).

Importing this package does not import prometheus_client; the exporter does when it first
needs it.
"""

from __future__ import annotations

from agentflow_prometheus._exporter import InstalledExporter as _InstalledExporter
from agentflow_prometheus._exporter import PrometheusExporter
from agentflow_prometheus._settings import DEFAULT_BUCKETS

__all__ = ["DEFAULT_BUCKETS", "EXPORTER", "PrometheusExporter"]

#: The exporter the entry point registers (``agentflow_prometheus:EXPORTER``), on
#: prometheus_client's default registry, configured by ``plugins.prometheus``.
EXPORTER: PrometheusExporter = _InstalledExporter()
