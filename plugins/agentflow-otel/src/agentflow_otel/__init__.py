"""agentflow-otel: OpenTelemetry spans and metrics for every agentflow call.

Installing the distribution is enough: its entry point registers :data:`EXPORTER`, which
records on the tracer and meter providers the application set up globally (with none set up,
the OpenTelemetry API does nothing) and follows ``plugins.otel`` in agentflow.yml. To record on
providers of your own, register an :class:`OTelExporter` in code.

No call is recorded twice: while an :class:`OTelExporter` made in code exists, the installed
exporter records nothing. :data:`EXPORTER` cannot be registered a second time (pluggy refuses
the same object twice).

Importing this package does not import OpenTelemetry; the exporter does at its first event,
once providers can have been set up: the application imported ``opentelemetry`` (to set them up)
or named them in ``OTEL_PYTHON_TRACER_PROVIDER`` / ``OTEL_PYTHON_METER_PROVIDER``. Before that,
the API's own providers would record nothing anyway.
"""

from __future__ import annotations

from agentflow_otel._exporter import MAX_OPEN_SPANS, InstalledExporter, OTelExporter

__all__ = ["EXPORTER", "MAX_OPEN_SPANS", "OTelExporter"]

#: The exporter the entry point registers (``agentflow_otel:EXPORTER``), on the global tracer
#: and meter providers, configured by ``plugins.otel``.
EXPORTER: OTelExporter = InstalledExporter()
