"""Every hook is called the way pluggy documents it: argument subsets, wrappers, late
registration and tracing, for every spec in ``agentflow.hookspecs``; exporters isolated from
the call and from each other; ``agentflow_configure`` historic; conflicts reported."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from echo_vendor import EchoVendor

from agentflow import ConfigurationError, HttpError, LLMClientBuilder, hookspecs
from agentflow._ops.health import check_providers
from agentflow._plugins.host import PluginConflictWarning, PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, ProviderConfig
from agentflow.hookspecs import hookimpl
from agentflow.testing import FakeServer, Reply
from agentflow.testing.server import collect_fakes
from agentflow.types import ProviderSpec

HOOKS = sorted(name for name, value in vars(hookspecs).items()
               if name.startswith("agentflow_") and inspect.isfunction(value))
HISTORIC = {"agentflow_configure"}


def spec_arguments(hook: str) -> list[str]:
    return list(inspect.signature(getattr(hookspecs, hook)).parameters)


def subset_plugin(hook: str, calls: list[tuple[str, Any]]) -> object:
    """A plugin whose implementation of ``hook`` takes only the spec's last argument (none
    for hooks without arguments) and answers ``None``: it owns no vendor, adds nothing."""
    arguments = spec_arguments(hook)[-1:]
    source = (f"def {hook}(self, {', '.join(arguments)}):\n"
              f"    calls.append(('plain', {arguments[0] if arguments else None}))\n")
    namespace: dict[str, Any] = {"calls": calls}
    exec(source, namespace)
    plugin_class = type("SubsetPlugin", (), {hook: hookimpl(namespace[hook])})
    return plugin_class()


def wrapper_plugin(hook: str, calls: list[tuple[str, Any]]) -> object:
    """A plugin wrapping ``hook`` with ``wrapper=True``, taking only the spec's first argument."""
    arguments = spec_arguments(hook)[:1]
    source = (f"def {hook}(self, {', '.join(arguments)}):\n"
              f"    calls.append(('before', {arguments[0] if arguments else None}))\n"
              "    result = yield\n"
              "    calls.append(('after', result))\n"
              "    return result\n")
    namespace: dict[str, Any] = {"calls": calls}
    exec(source, namespace)
    plugin_class = type("WrapperPlugin", (), {hook: hookimpl(wrapper=True)(namespace[hook])})
    return plugin_class()


def echo_config(server: FakeServer, level: int = 0) -> Config:
    return Config(providers={"echo": ProviderConfig(base_url=server.base_url("echo"))},
                  plugins={"demo": {"level": level}})


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host)
    runtime.set_config(echo_config(server))
    await LLMClientBuilder("echo-1", runtime=runtime).prompt("warm").execute()  # caches made
    yield runtime
    await runtime.aclose()


async def call(runtime: Runtime, server: FakeServer) -> None:
    assert await LLMClientBuilder("echo-1", runtime=runtime).prompt("hi").execute()


async def stream(runtime: Runtime, server: FakeServer) -> None:
    chunks = await LLMClientBuilder("echo-1", runtime=runtime).prompt("hi").execute_streaming()
    assert await chunks.collect_all()


async def failing_call(runtime: Runtime, server: FakeServer) -> None:
    server.script("echo", Reply(status=400, error_message="no"))
    with pytest.raises(HttpError, match="echo answered 400: no"):
        await LLMClientBuilder("echo-1", runtime=runtime).prompt("hi").execute()


async def reconfigure(runtime: Runtime, server: FakeServer) -> None:
    runtime.set_config(echo_config(server, level=1))


async def health(runtime: Runtime, server: FakeServer) -> None:
    assert await check_providers(runtime, timeout=10, providers=["echo"])


async def providers(runtime: Runtime, server: FakeServer) -> None:
    assert "echo" in runtime.host.providers()


async def catalog(runtime: Runtime, server: FakeServer) -> None:
    assert "echo-1" in runtime.host.catalog()


async def fakes(runtime: Runtime, server: FakeServer) -> None:
    assert [fake.provider for fake in collect_fakes(runtime.host)] == ["echo"]

async def check_settings(runtime: Runtime, server: FakeServer) -> None:
    """What ``agentflow validate`` asks of the plugins: the host's check of every section."""
    assert runtime.host.check_settings(echo_config(server, level=2)) == []


async def other_transport(runtime: Runtime, server: FakeServer) -> None:
    """A provider configured for aiohttp, with no plugin providing it: the hook is asked,
    then the call fails under asyncio (install agentflow-aiohttp) or uses httpx's transport
    under trio."""
    runtime.set_config(Config(providers={"echo": ProviderConfig(
        base_url=server.base_url("echo"), transport="aiohttp")}))
    import sniffio

    if sniffio.current_async_library() == "trio":
        await call(runtime, server)
    else:
        with pytest.raises(ConfigurationError, match="install agentflow-aiohttp"):
            await call(runtime, server)


#: What makes the core call each hook, as a user's program would.
TRIGGERS: dict[str, Callable[[Runtime, FakeServer], Awaitable[None]]] = {
    "agentflow_register_providers": providers,
    "agentflow_default_models": catalog,
    "agentflow_prepare_request": call,
    "agentflow_build_request": call,
    "agentflow_parse_response": call,
    "agentflow_parse_stream_event": stream,
    "agentflow_map_error": failing_call,
    "agentflow_check_provider": health,
    "agentflow_configure": reconfigure,
    "agentflow_check_settings": check_settings,
    "agentflow_limit_store": reconfigure,
    "agentflow_http_transport": other_transport,
    "agentflow_record_event": call,
    "agentflow_record_stream_chunk": stream,
    "agentflow_fake_routes": fakes,
}


def test_every_hook_has_a_trigger():
    assert set(HOOKS) <= set(TRIGGERS)


@pytest.mark.anyio
@pytest.mark.parametrize("hook", HOOKS)
async def test_subset_and_wrapper_implementations_registered_late_are_called(
        hook, runtime, server):
    plain: list[tuple[str, Any]] = []
    wrapped: list[tuple[str, Any]] = []
    runtime.host.register(subset_plugin(hook, plain), name="subset")
    if hook in HISTORIC:  # pluggy refuses wrappers of historic hooks: at registration, clearly
        with pytest.raises(ConfigurationError, match="historic incompatible with"):
            runtime.host.register(wrapper_plugin(hook, wrapped), name="wrapper")
        assert [kind for kind, _ in plain] == ["plain"]  # configured on registration
    else:
        runtime.host.register(wrapper_plugin(hook, wrapped), name="wrapper")
    plain.clear()
    await TRIGGERS[hook](runtime, server)
    last = spec_arguments(hook)[-1:]
    assert plain, f"{hook}: the late subset implementation was not called"
    for kind, value in plain:
        assert kind == "plain"
        if last:  # it got the argument it named, by name
            assert value is not None
    if hook not in HISTORIC:
        kinds = [kind for kind, _ in wrapped]
        assert kinds
        assert kinds[0] == "before"
        assert kinds[-1] == "after"
        assert kinds.count("before") == kinds.count("after")


# exporters --------------------------------------------------------------------------------------


class Recorder:
    def __init__(self):
        self.kinds: list[str] = []

    @hookimpl
    def agentflow_record_event(self, event):
        self.kinds.append(event.event_type)


class Broken:
    def __init__(self):
        self.calls = 0

    @hookimpl(tryfirst=True)  # called before the recorder: its failure must not stop it
    def agentflow_record_event(self):
        self.calls += 1
        raise RuntimeError("exporter down")


class ChunkRecorder:
    def __init__(self):
        self.chunks = 0

    @hookimpl
    def agentflow_record_stream_chunk(self, event):
        assert event.event_type == "llm.stream.chunk"
        self.chunks += 1


@pytest.mark.anyio
async def test_a_failing_exporter_breaks_neither_the_call_nor_the_others(runtime, server,
                                                                         caplog):
    recorder, broken = Recorder(), Broken()
    runtime.host.register(recorder, name="recorder")
    runtime.host.register(broken, name="broken")
    with caplog.at_level(logging.ERROR, logger="agentflow"):
        await call(runtime, server)
        await call(runtime, server)
    assert recorder.kinds.count("llm.request.complete") == 2
    assert broken.calls == len(recorder.kinds)
    logged = [r for r in caplog.records if "exporter plugin 'broken' failed" in r.getMessage()]
    assert len(logged) == 1  # once per plugin


@pytest.mark.anyio
async def test_exporters_get_no_chunk_events_unless_they_ask(runtime, server):
    recorder, chunks = Recorder(), ChunkRecorder()
    runtime.host.register(recorder, name="recorder")
    assert not runtime.wants_chunk_events()
    await stream(runtime, server)
    assert "llm.stream.chunk" not in recorder.kinds
    (end,) = [kind for kind in recorder.kinds if kind == "llm.stream.complete"]
    assert end
    runtime.host.register(chunks, name="chunks")
    assert runtime.wants_chunk_events()
    await stream(runtime, server)
    assert chunks.chunks >= 2
    assert "llm.stream.chunk" not in recorder.kinds


@pytest.mark.anyio
async def test_the_stream_end_event_sums_up_the_chunks(runtime, server):
    events = []

    class Ends:
        @hookimpl
        def agentflow_record_event(self, event):
            if event.event_type == "llm.stream.complete":
                events.append(event.metadata)

    runtime.host.register(Ends())
    server.script("echo", Reply(text="one two three four", chunks=4))
    await stream(runtime, server)
    (meta,) = events
    assert meta["chunks"] >= 4
    assert meta["time_to_first_token_ms"] > 0
    assert 0 <= meta["chunk_gap_mean_ms"] <= meta["chunk_gap_max_ms"]


# tracing ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_tracing_sees_the_hooks_called_per_plugin(server, monkeypatch, caplog):
    monkeypatch.setenv("AGENTFLOW_TRACE_HOOKS", "1")
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    host.register(Recorder())

    class Prepare:
        @hookimpl
        def agentflow_prepare_request(self, request):
            return None

    host.register(Prepare())
    runtime = Runtime(host=host, config=echo_config(server))
    with caplog.at_level(logging.DEBUG, logger="agentflow.plugins"):
        await call(runtime, server)
        collect_fakes(host)
    await runtime.aclose()
    for hook in ("agentflow_record_event", "agentflow_prepare_request",
                 "agentflow_fake_routes", "agentflow_configure"):
        assert f"hook {hook} called" in caplog.text


# configure is historic --------------------------------------------------------------------------


class Configurable:
    def __init__(self, refuse_above: int = 3):
        self.levels: list[int] = []
        self.refuse_above = refuse_above

    @hookimpl
    def agentflow_configure(self, config):
        level = config.plugins.get("demo", {}).get("level", 0)
        if level > self.refuse_above:
            raise ConfigurationError(f"plugins.demo.level must be at most {self.refuse_above}")
        self.levels.append(level)


def test_a_late_plugin_hears_only_the_configuration_in_force(server):
    host = PluginHost(entry_points=False)
    early = Configurable()
    host.register(early)
    runtime = Runtime(host=host)
    runtime.set_config(echo_config(server, level=1))
    runtime.set_config(echo_config(server, level=2))
    with pytest.raises(ConfigurationError):
        runtime.set_config(echo_config(server, level=7))  # refused: level 2 stays
    late = Configurable()
    host.register(late)
    assert early.levels == [1, 2, 2]  # each load once; the previous one handed back
    assert late.levels == [2]  # not 1, nor the refused 7
    runtime.set_config(echo_config(server, level=3))
    assert (early.levels[-1], late.levels) == (3, [2, 3])


def test_a_late_plugin_refusing_the_configuration_in_force_is_not_registered(server):
    host = PluginHost(entry_points=False)
    runtime = Runtime(host=host)
    runtime.set_config(echo_config(server, level=2))
    with pytest.raises(ConfigurationError, match="'picky' refuses the active configuration"):
        host.register(Configurable(refuse_above=1), name="picky")
    assert "picky" not in [info.name for info in host.plugin_infos()]
    host.register(Configurable(), name="picky")  # the name is free again


# registration errors and conflicts --------------------------------------------------------------


def test_registering_a_plugin_twice_is_agentflows_error():
    host = PluginHost(entry_points=False)
    vendor = EchoVendor()
    host.register(vendor, name="echo")
    with pytest.raises(ConfigurationError, match="already registered, as 'echo'"):
        host.register(vendor, name="echo-again")
    with pytest.raises(ConfigurationError, match="a plugin named 'echo' is already registered"):
        host.register(EchoVendor(), name="echo")


class SameName:
    """Declares the ``echo`` provider too."""

    @hookimpl
    def agentflow_register_providers(self):
        return [ProviderSpec(name="echo", default_base_url="https://other.invalid",
                             api_key_env=None)]


def test_two_plugins_declaring_one_provider_are_reported():
    host = PluginHost(entry_points=False)
    host.register(EchoVendor(), name="echo")
    host.register(SameName(), name="impostor")
    with pytest.warns(PluginConflictWarning, match="provider 'echo' is declared by plugin "
                                                   "'impostor' .* and plugin 'echo'"):
        host.providers()
    (conflict,) = host.provider_conflicts()
    assert [info.name for info in conflict.plugins] == ["impostor", "echo"]
    assert host.providers()["echo"].default_base_url == "https://other.invalid"
