"""``agentflow validate`` checks each cross-cutting plugin's section through the plugin's own
``agentflow_check_settings`` (issue 15, item 16): every bad setting is a located error, found
without configuring anything (no ``/metrics`` server started, no guard rules changed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import agentflow._runtime.runtime
import agentflow_guard
import agentflow_otel
import agentflow_prometheus
import agentflow_redis
from agentflow import AgentFlow
from agentflow._plugins.host import PluginHost

BAD = """\
plugins:
  prometheus:
    http_port: 99999
  otel:
    spans: maybe
  guard:
    max_prompt_chars: 0
  redis:
    url: redis://127.0.0.1:1
    on_store_failure: explode
"""


async def _validate(path: Path):
    host = PluginHost(entry_points=False)
    host.register(agentflow_prometheus.EXPORTER, name="prometheus")
    host.register(agentflow_otel.EXPORTER, name="otel")
    host.register(agentflow_guard, name="guard")
    host.register(agentflow_redis.PLUGIN, name="redis")
    previous = AgentFlow.use_runtime(agentflow._runtime.runtime.Runtime(host=host))
    try:
        return await AgentFlow.validate_config(path)
    finally:
        AgentFlow.use_runtime(previous)


@pytest.mark.anyio
async def test_validate_reports_each_plugins_bad_setting_at_its_line(tmp_path):
    path = tmp_path / "agentflow.yml"
    path.write_text(BAD)
    report = await _validate(path)
    assert not report.is_valid
    located = {issue.path: (issue.line, issue.column) for issue in report.errors}
    assert located == {
        "plugins.prometheus.http_port": (3, 16),
        "plugins.otel.spans": (5, 12),
        "plugins.guard.max_prompt_chars": (7, 23),
        "plugins.redis.on_store_failure": (10, 23),
    }
    messages = {issue.path: issue.message for issue in report.errors}
    assert "port number" in messages["plugins.prometheus.http_port"]
    assert "explode" in messages["plugins.redis.on_store_failure"]
    assert all(issue.file == str(path) for issue in report.errors)


@pytest.mark.anyio
async def test_validate_applies_nothing_and_passes_good_settings(tmp_path):
    path = tmp_path / "agentflow.yml"
    path.write_text("plugins:\n  prometheus:\n    http_port: 0\n  guard:\n    enabled: false\n"
                    "  otel:\n    spans: false\n")
    port, guard_on = agentflow_prometheus.EXPORTER.port, agentflow_guard.GUARD.enabled
    spans = agentflow_otel.EXPORTER.settings.spans
    report = await _validate(path)
    assert report.is_valid, report.issues
    assert not report.issues
    assert agentflow_prometheus.EXPORTER.port == port  # no /metrics server started
    assert agentflow_guard.GUARD.enabled == guard_on
    assert agentflow_otel.EXPORTER.settings.spans == spans
