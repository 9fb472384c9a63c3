"""agentflow-otel: OpenTelemetry spans and metrics for every agentflow call.

Installing the distribution is enough: its entry point registers :data:`EXPORTER`, which uses
the tracer and meter providers the application set up globally (with none set up, the
OpenTelemetry API does nothing). To use providers of your own instead, register an
:class:`OTelExporter` in code and turn the installed one off (``plugins.otel.enabled: false``,
or leave ``otel`` out of ``AGENTFLOW_LOAD_PLUGINS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow.hookspecs import hookimpl
from agentflow_otel._exporter import MAX_OPEN_SPANS, OTelExporter

if TYPE_CHECKING:
    from agentflow.config import Config
    from agentflow.observability import ExecutionEvent

__all__ = ["EXPORTER", "MAX_OPEN_SPANS", "OTelExporter"]

#: The exporter the entry point registers, on the global tracer and meter providers.
EXPORTER = OTelExporter()


@hookimpl
def agentflow_record_event(event: ExecutionEvent) -> None:
    """See :meth:`OTelExporter.agentflow_record_event`."""
    EXPORTER.agentflow_record_event(event)


@hookimpl
def agentflow_configure(config: Config) -> None:
    """See :meth:`OTelExporter.agentflow_configure`."""
    EXPORTER.agentflow_configure(config)
