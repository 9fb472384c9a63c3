"""Settings, the /metrics server across reloads, registration, and the one-exporter rule."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import types

import httpx
import importlib_metadata
import pluggy
import pytest
from prometheus_client import CollectorRegistry

from agentflow import ConfigurationError
from agentflow._observe.events import ExecutionEvent
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config
from agentflow_prometheus import EXPORTER, PrometheusExporter
from agentflow_prometheus._exporter import InstalledExporter

CALL = {"provider": "openai", "vendor": "openai", "model": "gpt-4o"}
START = ExecutionEvent(event_type="llm.request.start", node_id="llm.gpt-4o", metadata=CALL)


def configured(**section):
    return Config(plugins={"prometheus": section})


def in_flight(registry, namespace="agentflow"):
    return registry.get_sample_value(f"{namespace}_requests_in_flight", CALL)


def names(registry):
    return {family.name for family in registry.collect()}


@pytest.fixture
def exporter():
    exporter = PrometheusExporter(CollectorRegistry(), config_key="prometheus")
    yield exporter
    exporter.close()


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def scrape(port):
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    return response.text


# settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("section", "message"), [
    ({"http_port": "9464"}, "plugins.prometheus.http_port must be a port number (0 to 65535; "
                            "0 picks a free one), got '9464'"),
    ({"http_port": 70000}, "plugins.prometheus.http_port must be a port number"),
    ({"http_port": True}, "plugins.prometheus.http_port must be a port number"),
    ({"http_addr": ""}, "plugins.prometheus.http_addr must be a host address, got ''"),
    ({"enabled": "yes"}, "plugins.prometheus.enabled must be true or false, got 'yes'"),
    ({"port": 1}, "plugins.prometheus.port: unknown key; keys here are: enabled, http_port, "
                  "http_addr, namespace, buckets"),
    ({"namespace": "my-app"}, "plugins.prometheus.namespace must be a Prometheus metric name "
                              "prefix"),
    ({"buckets": [1, 2]}, "plugins.prometheus.buckets must map metric names"),
    ({"buckets": {"request_duration_seconds": "1 2"}},
     "plugins.prometheus.buckets.request_duration_seconds must be a non-empty list of numbers"),
    ({"buckets": {"request_duration_seconds": [1, 1]}},
     "plugins.prometheus.buckets.request_duration_seconds must be positive, finite and "
     "increasing"),
    ({"buckets": {"ttft": [1]}}, "plugins.prometheus.buckets.ttft: not a histogram"),
])
def test_bad_settings_are_refused_naming_the_key(exporter, section, message):
    with pytest.raises(ConfigurationError) as caught:
        exporter.agentflow_configure(Config(plugins={"prometheus": section}))
    assert caught.value.message.startswith(message)


def test_an_exporter_made_in_code_ignores_the_file_unless_told_which_section():
    exporter = PrometheusExporter(CollectorRegistry())
    try:
        exporter.agentflow_configure(configured(enabled="nonsense", http_port=1))
        assert exporter.port is None
        assert exporter.recording
    finally:
        exporter.close()


def test_a_configuration_without_a_plugins_section_means_the_defaults(exporter):
    exporter.agentflow_configure(types.SimpleNamespace())  # a core from before plugins:
    exporter.agentflow_configure(Config(plugins={"prometheus": None}))
    assert exporter.recording
    assert exporter.port is None


def test_disabled_takes_the_metrics_out_and_enabled_brings_them_back(exporter):
    registry = exporter.registry
    exporter.agentflow_record_event(START)
    exporter.agentflow_configure(configured(enabled=False))
    assert names(registry) == set()
    exporter.agentflow_record_event(START)
    assert not exporter.recording
    exporter.agentflow_configure(configured())
    exporter.agentflow_record_event(START)
    assert in_flight(registry) == 1  # a new series: counts start again


def test_a_new_namespace_or_buckets_replace_the_metrics(exporter):
    registry = exporter.registry
    exporter.agentflow_configure(configured(namespace="llm"))
    exporter.agentflow_record_event(START)
    assert in_flight(registry, "llm") == 1
    assert not any(name.startswith("agentflow_") for name in names(registry))
    exporter.agentflow_configure(configured(namespace="llm"))  # unchanged: kept
    assert in_flight(registry, "llm") == 1
    exporter.agentflow_configure(configured(
        namespace="llm", buckets={"output_tokens_per_second": [100, 1000]}))
    assert in_flight(registry, "llm") is None


# the /metrics server -----------------------------------------------------------------------------


def test_the_server_serves_the_registry_and_survives_reloads(exporter):
    exporter.agentflow_record_event(START)
    exporter.agentflow_configure(configured(http_port=0))
    port = exporter.port
    assert 'agentflow_requests_in_flight{model="gpt-4o",provider="openai",vendor="openai"} 1.0' in (
        scrape(port))
    threads = threading.active_count()
    for _ in range(3):  # a reload with the same settings keeps the same server
        exporter.agentflow_configure(configured(http_port=0))
        exporter.agentflow_configure(configured(http_port=port))
    assert exporter.port == port
    assert threading.active_count() == threads
    exporter.agentflow_configure(configured())  # no port: no server
    assert exporter.port is None
    with pytest.raises(httpx.ConnectError):
        scrape(port)


def test_disabling_stops_the_server(exporter):
    port = exporter.serve(0)
    exporter.agentflow_configure(configured(http_port=port, enabled=False))
    assert exporter.port is None
    with pytest.raises(httpx.ConnectError):
        scrape(port)


def test_moving_the_server_to_a_busy_port_is_refused_and_keeps_the_old_one(exporter, busy_port):
    port = exporter.serve(0)
    with pytest.raises(ConfigurationError) as caught:
        exporter.agentflow_configure(configured(http_port=busy_port))
    assert caught.value.message.startswith(
        f"plugins.prometheus.http_port: cannot serve /metrics on 127.0.0.1:{busy_port} (")
    assert exporter.port == port
    assert scrape(port)


def test_a_refused_reload_leaves_the_previous_configuration_serving(busy_port):
    exporter = PrometheusExporter(CollectorRegistry(), config_key="prometheus")
    host = PluginHost(entry_points=False)
    host.register(exporter, name="prometheus")
    runtime = Runtime(host=host, config=configured(http_port=0))
    try:
        runtime.registry  # noqa: B018 - the first use hands the configuration to the plugins
        port = exporter.port
        with pytest.raises(ConfigurationError, match=r"plugins\.prometheus\.http_port: cannot"):
            runtime.set_config(configured(http_port=busy_port))
        assert exporter.port == port
        assert runtime.config.plugins["prometheus"] == {"http_port": 0}
    finally:
        exporter.close()


# one exporter per registry and namespace --------------------------------------------------------


def test_two_exporters_made_in_code_for_one_registry_are_refused():
    registry = CollectorRegistry()
    first = PrometheusExporter(registry)
    try:
        with pytest.raises(ValueError, match="would count every call twice"):
            PrometheusExporter(registry)
        PrometheusExporter(registry, namespace="other").close()  # another namespace: fine
    finally:
        first.close()
    PrometheusExporter(registry).close()  # closed: the registry is free again


def test_the_installed_exporter_builds_its_metrics_on_first_use():
    registry = CollectorRegistry()
    installed = InstalledExporter(registry)
    try:
        assert names(registry) == set()
        installed.agentflow_record_event(START)
        assert in_flight(registry) == 1
    finally:
        installed.close()


def test_the_installed_exporter_gives_way_to_one_made_in_code():
    registry = CollectorRegistry()
    installed = InstalledExporter(registry)
    installed.agentflow_record_event(START)
    mine = PrometheusExporter(registry)  # takes the registry over
    try:
        for exporter in (installed, mine):  # as two registered plugins are called
            exporter.agentflow_record_event(START)
        assert in_flight(registry) == 1
        assert not installed.recording
    finally:
        mine.close()
        installed.close()


def test_the_installed_exporter_made_later_gives_way_too():
    registry = CollectorRegistry()
    mine = PrometheusExporter(registry)
    installed = InstalledExporter(registry)
    try:
        for exporter in (installed, mine):
            exporter.agentflow_record_event(START)
        assert in_flight(registry) == 1
    finally:
        mine.close()
        installed.close()


# registration -----------------------------------------------------------------------------------


def test_installing_registers_the_exporter_through_the_entry_point(monkeypatch):
    (entry_point,) = importlib_metadata.entry_points(group="agentflow", name="prometheus")
    assert entry_point.load() is EXPORTER
    monkeypatch.setenv("AGENTFLOW_LOAD_PLUGINS", "prometheus")
    host = PluginHost()
    (info,) = host.plugin_infos()
    assert (info.name, info.distribution) == ("prometheus", "agentflow-prometheus")
    assert info.hooks == ("agentflow_check_settings", "agentflow_configure",
                          "agentflow_record_event")
    with pytest.raises(ConfigurationError, match="already registered"):
        host.register(EXPORTER, name="prometheus-again")  # it would count every call twice


def test_an_exporter_registered_as_prometheus_replaces_the_installed_one(monkeypatch):
    monkeypatch.setenv("AGENTFLOW_LOAD_PLUGINS", "prometheus")
    mine = PrometheusExporter(CollectorRegistry(), config_key="prometheus")
    try:
        host = PluginHost()
        host.register(mine, name="prometheus")
        impls = host.hook.agentflow_record_event.get_hookimpls()
        assert [impl.plugin for impl in impls] == [mine]
    finally:
        mine.close()


def test_loading_the_plugin_does_not_import_prometheus_client():
    if tuple(int(part) for part in pluggy.__version__.split(".")[:2]) < (1, 7):
        pytest.skip("pluggy before 1.7 evaluates a plugin object's properties when registering")
    code = ("import sys\n"
            "from agentflow._plugins.host import PluginHost\n"
            "host = PluginHost()\n"
            "host.load()\n"
            "assert host.hook.agentflow_record_event.get_hookimpls()\n"
            "assert 'prometheus_client' not in sys.modules, 'imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "AGENTFLOW_LOAD_PLUGINS": "prometheus"})


def test_the_public_names_are_stated_once_and_sorted():
    import agentflow_prometheus

    public = {name for name in vars(agentflow_prometheus) if not name.startswith("_")}
    assert agentflow_prometheus.__all__ == sorted(agentflow_prometheus.__all__)
    assert public - {"annotations"} == set(agentflow_prometheus.__all__)
