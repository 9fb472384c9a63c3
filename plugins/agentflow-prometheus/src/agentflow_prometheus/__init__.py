"""agentflow-prometheus: every agentflow call's figures as Prometheus metrics.

Installing the distribution is enough: its entry point registers :data:`EXPORTER`, which
records into prometheus_client's default registry. Serve ``/metrics`` with
``plugins.prometheus.http_port`` in agentflow.yml, or through your application's own endpoint.
To record into a registry of your own instead, register a :class:`PrometheusExporter` in code
and turn the installed one off (``plugins.prometheus.enabled: false``, or leave
``prometheus`` out of ``AGENTFLOW_LOAD_PLUGINS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow.hookspecs import hookimpl
from agentflow_prometheus._exporter import PrometheusExporter

if TYPE_CHECKING:
    from agentflow.config import Config
    from agentflow.observability import ExecutionEvent

__all__ = ["EXPORTER", "PrometheusExporter"]

#: The exporter the entry point registers, on prometheus_client's default registry.
EXPORTER = PrometheusExporter()


@hookimpl
def agentflow_record_event(event: ExecutionEvent) -> None:
    """See :meth:`PrometheusExporter.agentflow_record_event`."""
    EXPORTER.agentflow_record_event(event)


@hookimpl
def agentflow_configure(config: Config) -> None:
    """See :meth:`PrometheusExporter.agentflow_configure`."""
    EXPORTER.agentflow_configure(config)
