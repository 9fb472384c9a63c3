"""The plugin host: registration, entry-point discovery, failures that do not spread."""

from __future__ import annotations

import sys
import types

import importlib_metadata
import pytest
from echo_vendor import EchoVendor

from agentflow._plugins.host import PluginHost, PluginLoadWarning
from agentflow.hookspecs import hookimpl
from agentflow.types import ModelInfo, ProviderSpec


class FakeEntryPoint:
    """Stands in for an importlib-metadata entry point of an installed distribution."""

    def __init__(self, name, load, dist_name="agentflow-broken", version="9.9"):
        self.name, self.value, self._load = name, f"{name}_module", load
        self.dist = types.SimpleNamespace(name=dist_name, version=version)

    def load(self):
        return self._load()


def _install_entry_points(monkeypatch, *entry_points):
    def fake_entry_points(group):
        assert group == "agentflow"
        return list(entry_points)

    monkeypatch.setattr(importlib_metadata, "entry_points", fake_entry_points)


def test_registered_plugin_declares_providers_and_catalog():
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    assert list(host.providers()) == ["echo"]
    assert host.providers()["echo"].temperature_range == (0.0, 1.5)
    assert set(host.catalog()) == {"echo-1", "echo-nostream"}


def test_unregister_forgets_what_the_plugin_declared():
    host = PluginHost(entry_points=False)
    name = host.register(EchoVendor(), "echo")
    assert "echo" in host.providers()
    host.unregister(name)
    assert dict(host.providers()) == {}


def test_broken_plugin_warns_with_distribution_and_others_keep_working(monkeypatch):
    def explode():
        raise ImportError("No module named 'missing_dependency'")

    working = types.ModuleType("agentflow_working")

    @hookimpl
    def agentflow_register_providers():
        return [ProviderSpec(name="working", default_base_url="https://w", api_key_env=None)]

    working.agentflow_register_providers = agentflow_register_providers  # type: ignore[attr-defined]
    _install_entry_points(monkeypatch, FakeEntryPoint("broken", explode),
                          FakeEntryPoint("working", lambda: working, "agentflow-working", "1.0"))
    host = PluginHost()
    with pytest.warns(PluginLoadWarning) as caught:
        providers = host.providers()
    assert list(providers) == ["working"]
    message = str(caught[0].message)
    assert "agentflow-broken 9.9" in message
    assert "ImportError: No module named 'missing_dependency'" in message
    infos = {info.name: info for info in host.plugin_infos()}
    assert infos["broken"].error == "ImportError: No module named 'missing_dependency'"
    assert infos["working"].providers == ("working",)
    assert infos["working"].distribution == "agentflow-working"
    assert infos["working"].hooks == ("agentflow_register_providers",)


def test_allow_list_limits_loaded_plugins(monkeypatch):
    loaded = []

    def loader(name):
        def load():
            loaded.append(name)
            return types.ModuleType(name)
        return load

    _install_entry_points(monkeypatch, FakeEntryPoint("a", loader("a")),
                          FakeEntryPoint("b", loader("b")))
    monkeypatch.setenv("AGENTFLOW_LOAD_PLUGINS", "b")
    PluginHost().load()
    assert loaded == ["b"]
    monkeypatch.setenv("AGENTFLOW_LOAD_PLUGINS", "")
    loaded.clear()
    PluginHost().load()
    assert loaded == []


def test_plugins_load_once_and_only_on_first_use(monkeypatch):
    calls = []
    module = types.ModuleType("agentflow_counted")

    def load():
        calls.append(1)
        return module

    _install_entry_points(monkeypatch, FakeEntryPoint("counted", load))
    host = PluginHost()
    assert calls == []
    host.providers()
    host.catalog()
    host.load()
    assert calls == [1]


def test_catalog_first_declaration_wins():
    class Second:
        @hookimpl
        def agentflow_default_models(self):
            return [ModelInfo(name="echo-1", provider="other")]

    host = PluginHost(entry_points=False)
    host.register(Second())
    host.register(EchoVendor())
    # pluggy calls the most recently registered plugin first
    assert host.catalog()["echo-1"].provider == "echo"


def test_hook_tracing_logs_calls(monkeypatch, caplog):
    monkeypatch.setenv("AGENTFLOW_TRACE_HOOKS", "1")
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    with caplog.at_level("DEBUG", logger="agentflow.plugins"):
        host.providers()
    assert "hook agentflow_register_providers called" in caplog.text


def test_real_entry_points_of_this_environment_load_without_warnings():
    # Whatever is installed here (the core alone, or with plugins) must load cleanly.
    host = PluginHost()
    host.load()
    assert all(info.error is None for info in host.plugin_infos())
    assert "agentflow.hookspecs" in sys.modules


class _Configured:
    def __init__(self) -> None:
        self.configs: list[object] = []

    @hookimpl
    def agentflow_configure(self, config: object) -> None:
        self.configs.append(config)


def test_a_new_configuration_asks_pluggy_about_each_plugin_once(monkeypatch):
    """Every configuration after the first builds a new plugin manager; what pluggy found on
    the plugins' attributes is reused, not looked up again (a plugin module has hundreds)."""
    import pluggy

    from agentflow.config import Config

    looked_up: list[tuple[int, str]] = []
    parse = pluggy.PluginManager.parse_hookimpl_opts

    def counting(self, plugin, name):
        looked_up.append((id(plugin), name))
        return parse(self, plugin, name)

    monkeypatch.setattr(pluggy.PluginManager, "parse_hookimpl_opts", counting)
    host = PluginHost(entry_points=False)
    first, second = _Configured(), _Configured()
    host.register(first, name="first")
    host.register(second, name="second")
    configs = [Config(), Config(), Config()]
    for config in configs:
        host.configure(config)
    assert first.configs == second.configs == configs  # each heard of each one, once
    assert len(looked_up) == len(set(looked_up))


def test_a_plugin_registered_in_place_of_a_removed_one_is_looked_at_afresh():
    from agentflow.config import Config

    host = PluginHost(entry_points=False)
    host.register(types.SimpleNamespace(), name="slot")
    host.configure(Config())
    host.unregister("slot")
    configured = _Configured()
    host.register(configured, name="slot")
    later = Config()
    host.configure(later)
    assert configured.configs[-1] is later
