"""Plugins' own settings: the plugins section, and the agentflow_configure hook."""

from __future__ import annotations

import pytest
from echo_vendor import EchoVendor

from agentflow import ConfigurationError
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, validate_config_text
from agentflow.hookspecs import hookimpl


class Configurable:
    """A plugin with one setting, ``plugins.demo.level`` (an integer from 0 to 3)."""

    def __init__(self):
        self.levels = []

    @hookimpl
    def agentflow_configure(self, config):
        level = config.plugins.get("demo", {}).get("level", 0)
        if not isinstance(level, int) or not 0 <= level <= 3:
            raise ConfigurationError(f"plugins.demo.level must be 0 to 3, got {level!r}")
        self.levels.append(level)


def make(tmp_path):
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    plugin = Configurable()
    host.register(plugin)
    path = tmp_path / "agentflow.yml"
    return Runtime(host=host), plugin, path


def test_plugins_hear_of_every_load_and_reload(tmp_path):
    runtime, plugin, path = make(tmp_path)
    path.write_text("plugins:\n  demo: {level: 1}\n")
    runtime.load_config(path)
    path.write_text("plugins:\n  demo: {level: 2}\n")
    runtime.reload_config()
    assert plugin.levels == [1, 2]
    assert runtime.config.plugins == {"demo": {"level": 2}}


def test_a_setting_a_plugin_refuses_keeps_the_previous_configuration(tmp_path):
    runtime, plugin, path = make(tmp_path)
    path.write_text("plugins:\n  demo: {level: 1}\n")
    runtime.load_config(path)
    before = runtime.config
    path.write_text("plugins:\n  demo: {level: 7}\n")
    with pytest.raises(ConfigurationError, match=r"agentflow.yml: plugins.demo.level must be"):
        runtime.reload_config()
    assert runtime.config is before
    assert plugin.levels == [1, 1]  # configured again with the configuration in force


def test_a_configuration_given_in_code_reaches_plugins_on_first_use():
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    plugin = Configurable()
    host.register(plugin)
    runtime = Runtime(host=host, config=Config(plugins={"demo": {"level": 3}}))
    assert plugin.levels == []
    runtime.registry  # noqa: B018 - first use
    runtime.registry  # noqa: B018 - once only
    assert plugin.levels == [3]


def test_each_plugin_section_must_be_a_mapping():
    report = validate_config_text("plugins:\n  demo: 3\n  other: {a: 1}\n")
    assert [(i.path, i.line, i.message) for i in report.errors] == [
        ("plugins.demo", 2, "expected a mapping, got the number 3")]


class Located:
    """Refuses ``plugins.demo.level`` above 3 with an error located in the file."""

    @hookimpl
    def agentflow_configure(self, config):
        level = config.plugins.get("demo", {}).get("level", 0)
        if level > 3:
            raise config.setting_error(("plugins", "demo", "level"), f"must be 0 to 3, got {level}")


def test_a_plugin_can_say_where_in_the_file_its_bad_setting_is(tmp_path):
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    host.register(Located())
    path = tmp_path / "agentflow.yml"
    path.write_text("plugins:\n  demo:\n    level: 7\n")
    with pytest.raises(ConfigurationError) as caught:
        Runtime(host=host).load_config(path)
    assert caught.value.message == (f"configuration {path} has 1 error:\n"
                                    f"  {path}:3:12: plugins.demo.level: must be 0 to 3, got 7")
    assert [(i.path, i.line, i.column) for i in caught.value.issues] == [
        ("plugins.demo.level", 3, 12)]


def test_a_configuration_built_in_code_names_the_setting_without_a_place():
    error = Config(plugins={"demo": {"level": 9}}).setting_error(
        ("plugins", "demo", "level"), "must be 0 to 3, got 9")
    assert (error.message, error.issues) == ("plugins.demo.level: must be 0 to 3, got 9", ())


def test_the_schema_has_one_object_per_plugin():
    from agentflow.config import config_json_schema

    plugins = config_json_schema({})["properties"]["plugins"]
    assert plugins["type"] == ["object", "null"]
    assert plugins["additionalProperties"] == {"type": ["object", "null"]}
