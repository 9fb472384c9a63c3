"""Issue 15, items 8 and 14: configuration files that used to escape the located-error path
(alias bombs, deep nesting, huge numbers, endless lines, FIFOs, /dev/zero, NUL bytes, huge
files) are each a ConfigurationError that says where or what; files load off the event loop."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from echo_vendor import EchoVendor

import agentflow._runtime.runtime
import agentflow.config.loader
from agentflow import AgentFlow, ConfigurationError
from agentflow._plugins.host import PluginHost
from agentflow.config import load_config, validate_config_text
from agentflow.config.loader import MAX_CONFIG_BYTES
from agentflow.types import ModelInfo, ProviderSpec


def alias_bomb(levels: int = 9) -> str:
    """A few hundred bytes whose aliases expand to 9**levels values."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for level in range(1, levels):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("text", "line", "words"), [
    (alias_bomb(), 1, "expands to more than"),
    ("models: " + "[" * 5000 + "]" * 5000 + "\n", 1, "nested more than 64 levels"),
    ("defaults:\n  max_retries: " + "9" * 5000 + "\n", 2, "cannot be read"),
    ("# " + "x" * 1_000_000 + "\nmodels: {}\n", 1, "longer than 20000 characters"),
], ids=["alias-bomb", "deep-nesting", "5000-digit-int", "1-MB-comment-line"])
def test_a_hostile_text_is_one_located_error_found_quickly(text, line, words):
    started = time.monotonic()
    report = validate_config_text(text, source_name="hostile.yml")
    assert not report.is_valid
    [issue] = report.errors
    assert issue.line == line
    assert words in issue.message
    assert time.monotonic() - started < 30  # minutes before: a bound with a wide margin


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path):
    fifo = tmp_path / "agentflow.yml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigurationError, match="is a FIFO"):
        load_config(fifo)


def test_dev_zero_is_refused_without_reading_it():
    with pytest.raises(ConfigurationError, match="is a device, not a regular file"):
        load_config("/dev/zero")


def test_a_folder_is_refused(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="is a folder"):
        load_config(tmp_path)


def test_a_nul_byte_in_the_path_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="NUL byte"):
        load_config("agent\0flow.yml")


def test_a_huge_file_is_refused_unread(tmp_path: Path):
    big = tmp_path / "agentflow.yml"
    big.write_bytes(b"# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigurationError, match="larger than 1024 KiB"):
        load_config(big)


@pytest.mark.anyio
async def test_init_with_config_reads_the_file_in_a_worker_thread(tmp_path, monkeypatch):
    path = tmp_path / "agentflow.yml"
    path.write_text("models: {}\n")
    threads: list[threading.Thread] = []
    real = agentflow.config.loader._read

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(agentflow.config.loader, "_read", recording)
    previous = AgentFlow.use_runtime(agentflow._runtime.runtime.Runtime())
    try:
        await AgentFlow.init_with_config(path)
        report = await AgentFlow.validate_config(path)
    finally:
        AgentFlow.use_runtime(previous)
    assert len(threads) == 2  # init_with_config, then validate_config
    assert threading.main_thread() not in threads
    assert report.is_valid


def test_a_model_with_a_null_value_is_a_located_error_unless_the_catalog_has_it():
    catalog = {"known-1": ModelInfo(name="known-1", provider="acme")}
    providers = {"acme": ProviderSpec(name="acme", default_base_url="https://acme.invalid/v1",
                                      api_key_env="ACME_API_KEY")}
    report = validate_config_text("models:\n  mymodel:\n  known-1:\n", source_name="a.yml",
                                  providers=providers, catalog=catalog, environ={})
    [issue] = report.errors
    assert (issue.path, issue.line, issue.column) == ("models.mymodel", 2, 3)
    assert "has no vendor and is in no installed plugin's catalog" in issue.message


@pytest.mark.anyio
async def test_validate_warns_about_a_plugin_section_no_installed_plugin_claims(tmp_path):
    path = tmp_path / "agentflow.yml"
    path.write_text("plugins:\n  echo: {}\n  ecoh:\n    level: 3\n")
    host = PluginHost(entry_points=False)
    host.register(EchoVendor(), name="echo")
    previous = AgentFlow.use_runtime(agentflow._runtime.runtime.Runtime(host=host))
    try:
        report = await AgentFlow.validate_config(path)
    finally:
        AgentFlow.use_runtime(previous)
    assert report.is_valid
    [warning] = report.warnings
    assert (warning.path, warning.line, warning.column) == ("plugins.ecoh", 3, 3)
    assert "no installed plugin is named 'ecoh'" in warning.message
    assert "did you mean 'echo'?" in warning.message
