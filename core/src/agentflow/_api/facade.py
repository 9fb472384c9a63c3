"""``AgentFlow``: the entry point most users need and nothing else.

Class-level methods work on one process-wide :class:`~agentflow._runtime.runtime.Runtime`:
the active configuration, the plugins, the HTTP pools and globally attached metrics
collectors.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from agentflow._api.builder import LLMClientBuilder
from agentflow._runtime.current import close_current_runtime, current_runtime, use_runtime
from agentflow._runtime.runtime import Runtime

if TYPE_CHECKING:
    from agentflow._http.transport import TransportChoice
    from agentflow._observe.events import MetricsCollector
    from agentflow._ops.health import ProviderHealth
    from agentflow._ops.reload import ConfigWatcher
    from agentflow.config import ValidationReport

__all__ = ["AgentFlow"]

PathLike = str | os.PathLike[str]


class AgentFlow:
    """One clean API for many LLM providers.

    ::

        await AgentFlow.init_with_config("agentflow.yml")  # optional: a file is discovered
        text = await AgentFlow.model("gpt-4o").prompt("Hi").execute()
        await AgentFlow.aclose()                            # or: async with AgentFlow.session()
    """

    @classmethod
    def runtime(cls) -> Runtime:
        """The process-wide runtime, created on first use."""
        return current_runtime()

    @classmethod
    def use_runtime(cls, runtime: Runtime | None) -> Runtime | None:
        """Swap the process-wide runtime (tests, embedding); returns the previous one."""
        return use_runtime(runtime)

    @classmethod
    async def init_with_config(cls, path: PathLike) -> None:
        """Load, validate and activate the configuration file at ``path``.

        Raises :class:`~agentflow.errors.ConfigurationError` listing every located problem.
        The file is read and checked in a worker thread: the event loop goes on meanwhile.
        """
        await anyio.to_thread.run_sync(cls.runtime().load_config, path)

    @classmethod
    async def init(cls, path: PathLike | None = None) -> None:
        """Activate ``path``, or the discovered configuration: ``$AGENTFLOW_CONFIG``, then
        ``./agentflow.yml``, then the user config directory, else the plugins' catalogs only."""
        await anyio.to_thread.run_sync(cls.runtime().load_config, path)

    @classmethod
    async def reload_config(cls, path: PathLike | None = None) -> None:
        """Read the configuration file again (``path``, else the active one's) and swap it in.

        Calls already running finish on their settings; later calls use the new ones. Pools,
        rate limiters and circuit breakers of unchanged providers are kept. An invalid file
        raises :class:`~agentflow.errors.ConfigurationError` and changes nothing.
        """
        await anyio.to_thread.run_sync(cls.runtime().reload_config, path)

    @classmethod
    @asynccontextmanager
    async def watch_config(cls, path: PathLike | None = None, *,
                           interval: float = 1.0) -> AsyncIterator[ConfigWatcher]:
        """``async with AgentFlow.watch_config():`` reloads the configuration file whenever
        it changes, checking every ``interval`` seconds, until the block ends.

        Watches ``path``, else the active configuration's file. An edit that does not validate
        is refused (the audit log says why) and the configuration in force stays.
        """
        from agentflow._ops.reload import ConfigWatcher
        from agentflow.errors import ConfigurationError

        runtime = cls.runtime()
        if path is None:
            config = runtime.config
            if config is None or config.source is None:
                raise ConfigurationError(
                    "no configuration file to watch: pass a path, or load one first with "
                    "AgentFlow.init_with_config(path)")
            path = config.source
        watcher = ConfigWatcher(runtime, path, interval=interval)
        async with anyio.create_task_group() as group:
            group.start_soon(watcher.run)
            try:
                yield watcher
            finally:
                group.cancel_scope.cancel()

    @classmethod
    def model(cls, name: str) -> LLMClientBuilder:
        """Start a request to model ``name`` (a configured alias or a catalog model)."""
        return LLMClientBuilder(name)

    @classmethod
    async def available_models(cls) -> list[str]:
        """Every model name usable now: configured aliases and installed plugins' catalogs."""
        return cls.runtime().registry.available_models()

    @classmethod
    async def validate_config(cls, path: PathLike) -> ValidationReport:
        """Check the file at ``path`` and report every problem with its line and column.

        Never raises for problems in the file; they are in ``report.issues``.
        """
        from agentflow.config import validate_config

        host = cls.runtime().host
        providers, catalog = host.providers(), host.catalog()
        plugins = [info.name for info in host.plugin_infos()]
        return await anyio.to_thread.run_sync(
            lambda: validate_config(path, providers=providers, catalog=catalog,
                                    plugins=plugins, check_settings=host.check_settings))

    @classmethod
    async def check_providers(cls, *, timeout: float = 10.0, slow_after: float = 2.0,
                              providers: Iterable[str] | None = None) -> list[ProviderHealth]:
        """Check, concurrently, that each configured provider answers and accepts its key.

        One :class:`~agentflow._ops.health.ProviderHealth` per provider (``status``, ``usable``,
        ``latency_ms``, ``detail``); a failing provider is a result, never an exception. Each
        check is bounded by ``timeout`` seconds; an answer slower than ``slow_after`` is
        ``slow`` (still usable). With nothing configured, every installed vendor is checked.
        """
        from agentflow._ops.health import check_providers

        return await check_providers(cls.runtime(), timeout=timeout, slow_after=slow_after,
                                     providers=providers)

    @classmethod
    def attach_metrics(cls, collector: MetricsCollector) -> None:
        """Report every call's events to ``collector`` (in addition to per-call collectors)."""
        collectors = cls.runtime().collectors
        if collector not in collectors:
            collectors.append(collector)

    @classmethod
    def detach_metrics(cls, collector: MetricsCollector) -> None:
        """Stop reporting to a collector attached with :meth:`attach_metrics`."""
        collectors = cls.runtime().collectors
        if collector in collectors:
            collectors.remove(collector)

    @classmethod
    def include_text_in_events(cls, enabled: bool | None = True) -> None:
        """Put prompt and answer text in execution events (``False``: leave it out; ``None``:
        as ``observability.include_text`` in the configuration says, off by default)."""
        cls.runtime().include_text = enabled

    @classmethod
    def register_plugin(cls, plugin: object, name: str | None = None) -> str:
        """Register an in-process plugin (an object or module with ``@hookimpl`` functions)."""
        return cls.runtime().host.register(plugin, name)

    @classmethod
    def use_transport(cls, transport: TransportChoice) -> None:
        """Carry every later request through ``transport`` instead of the network, as
        httpx's ``transport=`` does; ``None`` goes back to the network.

        ``transport`` is an ``httpx.AsyncBaseTransport`` (``httpx.MockTransport(handler)``, a
        recording wrapper), shared by every provider and never closed by agentflow; or a
        factory ``(settings) -> httpx.AsyncBaseTransport`` called for each new connection
        pool (one per provider and event loop), whose transports agentflow closes with the
        pools. Rate limits, retries, timeouts, events and the plugins' hooks all still run;
        only the bytes go elsewhere. See docs/testing.md.
        """
        cls.runtime().use_transport(transport)

    @classmethod
    async def aclose(cls) -> None:
        """Close the HTTP connection pools. Later requests open new ones."""
        await close_current_runtime()

    @classmethod
    @asynccontextmanager
    async def session(cls, path: PathLike | None = None) -> AsyncIterator[type[AgentFlow]]:
        """``async with AgentFlow.session("agentflow.yml"):`` loads the configuration (or the
        discovered one) and closes the connection pools on the way out."""
        await cls.init(path)
        try:
            yield cls
        finally:
            await cls.aclose()
