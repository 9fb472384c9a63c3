"""The installed exporter imports OpenTelemetry only when providers can have been set up."""

from __future__ import annotations

import os
import subprocess
import sys

CALL = """
from agentflow._observe.events import ExecutionEvent
from agentflow_otel import EXPORTER
meta = {"call_id": "c", "vendor": "openai", "model": "gpt-4o", "model_id": "gpt-4o"}
for kind, at in (("llm.request.start", 1.0), ("llm.request.complete", 2.0)):
    EXPORTER.agentflow_record_event(ExecutionEvent(
        event_type=kind, node_id="llm.gpt-4o", timestamp=at, duration_ms=1.0, metadata=meta))
"""


def run(code: str, **environ: str) -> str:
    env = {name: value for name, value in os.environ.items()
           if name not in ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**env, **environ})
    return out.stdout.strip()


#: Notes what first imports ``opentelemetry``, so that a failure says where it came from (an
#: agentflow-otel installed from an older tree imported it at the first event, unconditionally).
WATCH = """
import sys, traceback
class Watch:
    first = None
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" and Watch.first is None:
            Watch.first = "".join(traceback.format_stack(limit=12))
sys.meta_path.insert(0, Watch())
"""


def test_with_no_provider_set_up_a_call_does_not_import_opentelemetry():
    out = run(WATCH + CALL + "import agentflow_otel; print(agentflow_otel.__file__)\n"
              "print(Watch.first or 'opentelemetry was not imported')")
    assert out.endswith("opentelemetry was not imported"), out


def test_an_application_that_set_up_a_provider_is_recorded_on():
    code = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)
""" + CALL + "print(len(spans.get_finished_spans()))"
    assert run(code) == "1"


def test_providers_named_in_the_apis_variables_are_used():
    code = CALL + "import sys; print('opentelemetry' in sys.modules)"
    assert run(code, OTEL_PYTHON_TRACER_PROVIDER="sdk_tracer_provider") == "True"
