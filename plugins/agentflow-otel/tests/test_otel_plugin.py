"""The installed exporter: entry point, lazy import, ``plugins.otel``, giving way."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentflow_otel
from agentflow import ConfigurationError
from agentflow._observe.events import ExecutionEvent
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config
from agentflow_otel import OTelExporter
from agentflow_otel._exporter import InstalledExporter

CALL = {"call_id": "call-1", "vendor": "openai", "model": "gpt-4o", "model_id": "gpt-4o"}


def one_call(exporter):
    for kind, timestamp in (("llm.request.start", 1.0), ("llm.request.complete", 2.0)):
        exporter.agentflow_record_event(ExecutionEvent(
            event_type=kind, node_id="llm.gpt-4o", timestamp=timestamp, duration_ms=1.0,
            metadata=CALL))


@pytest.fixture
def installed():
    """An exporter like the installed one, on a tracer provider of the test's own."""
    gc.collect()  # exporters made in code by earlier tests are gone
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    exporter = InstalledExporter()
    exporter._providers = (provider, None)
    return exporter, spans


def test_the_entry_point_registers_the_installed_exporter():
    (found,) = [ep for ep in entry_points(group="agentflow") if ep.name == "otel"]
    assert found.load() is agentflow_otel.EXPORTER
    host = PluginHost(entry_points=False)
    host.register(agentflow_otel.EXPORTER)
    with pytest.raises(ConfigurationError, match="already registered"):
        host.register(agentflow_otel.EXPORTER)


def test_importing_the_plugin_does_not_import_opentelemetry():
    code = "import sys, agentflow_otel; print('opentelemetry' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_the_installed_exporter_gives_way_to_one_made_in_code(installed, caplog):
    exporter, spans = installed
    one_call(exporter)
    assert len(spans.get_finished_spans()) == 1
    mine = OTelExporter(tracer_provider=TracerProvider())
    assert not exporter.recording
    with caplog.at_level(logging.INFO, logger="agentflow.otel"):
        one_call(exporter)
    assert len(spans.get_finished_spans()) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "the installed agentflow-otel exporter gives way to the OTelExporter made in code, so "
        "that no call is recorded twice"]
    del mine
    gc.collect()
    assert exporter.recording


def test_plugins_otel_configures_the_installed_exporter(installed):
    exporter, spans = installed
    exporter.agentflow_configure(Config(plugins={"otel": {"enabled": False}}))
    one_call(exporter)
    assert spans.get_finished_spans() == ()
    exporter.agentflow_configure(Config(plugins={"otel": None}))  # `otel:` with nothing
    assert exporter.settings == agentflow_otel._settings.OTelSettings()
    exporter.agentflow_configure(Config(plugins={"otel": {"spans": True, "capture_text": True}}))
    assert (exporter.recording, exporter.settings.capture_text) == (True, True)
    exporter.agentflow_configure(Config())
    assert exporter.settings.capture_text is False


def test_an_exporter_made_in_code_ignores_the_file_unless_asked():
    config = Config(plugins={"otel": {"spans": False}, "tracing": {"spans": False}})
    mine = OTelExporter(capture_text=True)
    mine.agentflow_configure(config)
    assert (mine.settings.spans, mine.settings.capture_text) == (True, True)
    keyed = OTelExporter(config_key="tracing")
    keyed.agentflow_configure(config)
    assert keyed.settings.spans is False


@pytest.mark.parametrize(("section", "message"), [
    ({"metrics": "no"}, "plugins.otel.metrics: must be true or false, got 'no'"),
    ({"trace": True}, "plugins.otel.trace: unknown key; keys here are: enabled, spans, "
                      "metrics, capture_text"),
    ([1], "plugins.otel: must be a mapping of settings, got [1]"),
])
def test_bad_settings_are_refused_by_name(installed, section, message):
    exporter, _ = installed
    with pytest.raises(ConfigurationError) as caught:
        exporter.agentflow_configure(Config(plugins={"otel": section}))
    assert caught.value.message == message
    assert exporter.settings.enabled  # unchanged


def test_bad_settings_in_a_file_are_located(tmp_path):
    host = PluginHost(entry_points=False)
    host.register(InstalledExporter(), "otel")
    path = tmp_path / "agentflow.yml"
    path.write_text("plugins:\n  otel:\n    spans: true\n    capture_text: yes please\n")
    with pytest.raises(ConfigurationError) as caught:
        Runtime(host=host).load_config(path)
    assert [(i.path, i.line) for i in caught.value.issues] == [("plugins.otel.capture_text", 4)]
    assert "must be true or false, got 'yes please'" in caught.value.message
