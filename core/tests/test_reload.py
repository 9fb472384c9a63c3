"""Live reload over loopback HTTP: an atomic swap, running calls undisturbed, broken edits
refused, unchanged providers keeping their pools and limits; and the audit trail."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest
from echo_vendor import EchoVendor

from agentflow import ConfigurationError, LLMClientBuilder, MetricsCollector
from agentflow._api.facade import AgentFlow
from agentflow._observe.audit import fingerprint
from agentflow._ops.reload import ConfigWatcher
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio

KEY = "test-key"  # the one the echo emulation accepts


def config_text(server, *, model_id="first", rpm=None, breaker=5, extra=""):
    url = server.base_url("echo")
    limit = f"    rate_limit: {{requests_per_minute: {rpm}}}\n" if rpm else ""
    return (f"providers:\n  echo:\n    base_url: {url}\n{limit}"
            f"    circuit_breaker: {{failure_threshold: {breaker}}}\n"
            f"  other:\n    vendor: echo\n    base_url: {url}\n"
            f"models:\n  main:\n    vendor: echo\n    model_id: {model_id}\n"
            f"  side:\n    vendor: other\n    model_id: side-1\n{extra}"
            "defaults:\n  max_retries: 0\n")


@pytest.fixture
def path(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", KEY)
    server.clear()
    file = tmp_path / "agentflow.yml"
    file.write_text(config_text(server))
    return file


@pytest.fixture
async def runtime(path):
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host)
    runtime.load_config(path)
    yield runtime
    await runtime.aclose()


def ask(runtime, model="main"):
    return LLMClientBuilder(model, runtime=runtime).prompt("hi")


def models_sent(server):
    return [request.json["model"] for request in server.requests]


async def test_a_reload_takes_effect_for_the_next_call(runtime, path, server):
    await ask(runtime).execute()
    path.write_text(config_text(server, model_id="second"))
    runtime.reload_config()
    await ask(runtime).execute()
    assert models_sent(server) == ["first", "second"]


async def test_a_call_running_during_a_reload_finishes_on_its_settings(runtime, path, server):
    server.script("echo", Reply(delay=0.3))
    results = []

    async def slow_call():
        results.append(await ask(runtime).execute_response())

    async with anyio.create_task_group() as group:
        group.start_soon(slow_call)
        await server.wait_for_requests(1)  # the slow call is out, on the first settings
        path.write_text(config_text(server, model_id="second"))
        runtime.reload_config()
        await ask(runtime).execute()
    assert sorted(models_sent(server)) == ["first", "second"]
    assert results[0].model == "first"


async def test_a_broken_edit_is_refused_and_changes_nothing(runtime, path, server, caplog):
    caplog.set_level(logging.INFO, logger="agentflow.audit")
    before = runtime.config
    path.write_text(config_text(server, model_id="second").replace("max_retries: 0",
                                                                   "max_retries: -1"))
    with pytest.raises(ConfigurationError) as caught:
        runtime.reload_config()
    assert caught.value.issues[0].path == "defaults.max_retries"
    lines = path.read_text().splitlines()
    assert caught.value.issues[0].line == lines.index("  max_retries: -1") + 1
    assert runtime.config is before
    await ask(runtime).execute()
    assert models_sent(server) == ["first"]
    refused = [r.getMessage() for r in caplog.records if "refused to reload" in r.getMessage()]
    assert len(refused) == 1
    assert "defaults.max_retries" in refused[0]


async def test_pools_of_unchanged_providers_are_kept(runtime, path, server):
    await ask(runtime, "main").execute()
    await ask(runtime, "side").execute()
    main_pool = runtime.pools.client_for(runtime.resolve("main"))
    side_pool = runtime.pools.client_for(runtime.resolve("side"))
    path.write_text(config_text(server, model_id="second").replace(
        "  other:\n", "  other:\n    trust_env: true\n"))
    runtime.reload_config()
    assert runtime.pools.client_for(runtime.resolve("main")) is main_pool
    assert runtime.pools.client_for(runtime.resolve("side")) is not side_pool


async def test_limits_and_circuits_of_unchanged_providers_keep_their_state(runtime, path,
                                                                          server):
    server.script("echo", *(Reply(status=503) for _ in range(5)))
    for _ in range(5):
        with pytest.raises(Exception, match="503"):
            await ask(runtime).execute()
    breaker = runtime.limits.breaker(runtime.resolve("main"))
    assert breaker.state == "open"
    path.write_text(config_text(server) + "\n")  # main's endpoint is unchanged
    runtime.reload_config()
    assert runtime.limits.breaker(runtime.resolve("main")) is breaker
    path.write_text(config_text(server, model_id="second"))  # another model: its own circuit
    runtime.reload_config()
    assert runtime.limits.breaker(runtime.resolve("main")).state == "closed"
    path.write_text(config_text(server, model_id="second", breaker=9))
    runtime.reload_config()
    assert runtime.limits.breaker(runtime.resolve("main")).state == "closed"
    limiter = runtime.limits.provider_limiter(runtime.resolve("side"))
    path.write_text(config_text(server, model_id="second", breaker=9, rpm=60))
    runtime.reload_config()
    assert runtime.limits.provider_limiter(runtime.resolve("side")) is limiter
    assert runtime.limits.provider_limiter(runtime.resolve("main")).requests is not None


async def wait_for(condition, seconds=60.0):  # the watcher looks every 0.02 s
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.02)


async def test_the_watcher_reloads_edits_and_refuses_broken_ones(runtime, path, server):
    watcher = ConfigWatcher(runtime, path, interval=0.02)
    async with anyio.create_task_group() as group:
        group.start_soon(watcher.run)
        path.write_text(config_text(server, model_id="second"))
        await wait_for(lambda: watcher.reloads == 1)
        path.write_text("models: [this is not a mapping\n")
        await wait_for(lambda: watcher.refused == 1)
        await ask(runtime).execute()
        path.write_text(config_text(server, model_id="third"))
        await wait_for(lambda: watcher.reloads == 2)
        await ask(runtime).execute()
        group.cancel_scope.cancel()
    assert models_sent(server) == ["second", "third"]


async def test_the_watcher_loads_a_new_text_once_it_has_settled(runtime, path, server):
    """A file caught while it is being written (emptied, then filled) is not loaded: an empty
    file validates, as a configuration without models."""
    watcher = ConfigWatcher(runtime, path, interval=60)
    path.write_text("")  # caught between the truncation and the write
    assert watcher.check() is False
    path.write_text(config_text(server, model_id="second"))
    assert watcher.check() is False  # seen once: maybe still being written
    assert watcher.reloads == 0
    assert watcher.check() is True  # the same text again: loaded
    assert watcher.check() is False  # and only once
    await ask(runtime).execute()
    assert models_sent(server) == ["second"]
    assert watcher.reloads == 1


def echo_runtime():
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    return Runtime(host=host)


async def test_agentflow_watch_config_runs_for_the_block(path, server):
    previous = AgentFlow.use_runtime(echo_runtime())
    try:
        await AgentFlow.init_with_config(path)
        async with AgentFlow.watch_config(interval=0.02) as watcher:
            path.write_text(config_text(server, model_id="watched"))
            await wait_for(lambda: watcher.reloads == 1)
            await AgentFlow.model("main").prompt("hi").execute()
        assert models_sent(server) == ["watched"]
        path.write_text(config_text(server, model_id="after"))
        await AgentFlow.reload_config()
        await AgentFlow.model("main").prompt("hi").execute()
        assert models_sent(server)[-1] == "after"
    finally:
        await AgentFlow.aclose()
        AgentFlow.use_runtime(previous)


async def test_watching_needs_a_file():
    previous = AgentFlow.use_runtime(Runtime(host=PluginHost(entry_points=False)))
    try:
        with pytest.raises(ConfigurationError, match="no configuration file to watch"):
            async with AgentFlow.watch_config():
                pass
    finally:
        AgentFlow.use_runtime(previous)


class Events:
    def __init__(self):
        self.events = []
        self.wants_chunk_events = False

    def record_event(self, event):
        self.events.append(event)

    def of(self, kind):
        return [e.metadata for e in self.events if e.event_type == kind]


async def test_the_audit_trail_names_variables_and_files_never_keys(runtime, path, server,
                                                                   caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="agentflow.audit")
    events = Events()
    runtime.collectors.append(events)
    await ask(runtime).execute()
    await ask(runtime).execute()
    monkeypatch.setenv("ECHO_API_KEY", "a-rotated-key-for-echo")
    with pytest.raises(Exception, match="401"):  # the emulation knows only the old key
        await ask(runtime).execute()
    path.write_text(config_text(server, model_id="second"))
    runtime.reload_config()
    accesses = events.of("audit.key.access")
    assert [(a["variable"], a["first_use"], a["changed"]) for a in accesses] == [
        ("ECHO_API_KEY", True, False), ("ECHO_API_KEY", False, False),
        ("ECHO_API_KEY", False, True)]
    assert accesses[0]["fingerprint"] == fingerprint(KEY)
    assert accesses[2]["fingerprint"] == fingerprint("a-rotated-key-for-echo")
    loads = events.of("audit.config.load")
    assert len(loads) == 1
    assert loads[0]["reload"] is True
    assert loads[0]["path"] == str(path)
    assert len(loads[0]["sha256"]) == 64
    lines = [r.getMessage() for r in caplog.records if r.name == "agentflow.audit"]
    assert any(line.startswith("first use of ECHO_API_KEY for provider echo") for line in lines)
    assert any(line.startswith("a new value in ECHO_API_KEY") for line in lines)
    assert any(line.startswith("reloaded configuration") for line in lines)
    everything = caplog.text + repr(events.events)
    assert KEY not in everything
    assert "a-rotated-key-for-echo" not in everything


async def test_unchanged_key_reads_are_debug_lines_and_events(runtime, caplog):
    caplog.set_level(logging.INFO, logger="agentflow.audit")
    metrics, events = MetricsCollector(), Events()
    runtime.collectors.extend([metrics, events])
    for _ in range(3):
        await ask(runtime).execute()
    infos = [r for r in caplog.records if r.name == "agentflow.audit"
             and r.getMessage().startswith("first use")]
    assert len(infos) == 1
    assert len(events.of("audit.key.access")) == 3
    assert metrics.snapshot()["llm.requests.total"] == 3  # audit events leave figures alone


def test_a_config_file_path_can_be_relative(path, monkeypatch):
    monkeypatch.chdir(path.parent)
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host)
    runtime.load_config(Path("agentflow.yml"))
    assert runtime.reload_config().models["main"].model_id == "first"
