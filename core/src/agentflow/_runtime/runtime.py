"""The process-wide state behind the ``AgentFlow`` facade.

A :class:`Runtime` ties together the plugin host, the model registry built from the active
configuration, the HTTP pools and the globally attached metrics collectors. The facade keeps one;
tests and embedders may build their own.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentflow._http.transport import PoolManager
from agentflow._observe.logs import install as install_redaction
from agentflow._plugins.host import PluginHost, get_plugin_host
from agentflow.errors import ConfigurationError, LLMError

if TYPE_CHECKING:
    import ssl

    import httpx

    from agentflow._http.transport import TransportChoice
    from agentflow._limits.admission import Limits
    from agentflow._observe.audit import AuditTrail
    from agentflow._observe.events import ExecutionEvent, MetricsCollector
    from agentflow._runtime.registry import ModelRegistry
    from agentflow.config import Config
    from agentflow.types import ModelSettings

logger = logging.getLogger("agentflow")


class Runtime:
    """Configuration, plugins, connection pools and collectors for one process (or test)."""

    def __init__(self, *, host: PluginHost | None = None, config: Config | None = None,
                 transport: TransportChoice = None) -> None:
        install_redaction()
        self.host = host if host is not None else get_plugin_host()
        self.pools = PoolManager(transport, self._plugin_transport)
        self.collectors: list[MetricsCollector] = []
        self._config = config
        self._registry: ModelRegistry | None = None
        self._limits: Limits | None = None
        self._failed_exporters: set[str] = set()
        self._include_text: bool | None = None
        self._audit: AuditTrail | None = None

    def _plugin_transport(self, settings: ModelSettings, ssl_context: ssl.SSLContext,
                          limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
        """The transport a plugin gives for ``settings.transport`` (hook
        ``agentflow_http_transport``)."""
        transport: httpx.AsyncBaseTransport | None = self.host.hook.agentflow_http_transport(
            settings=settings, ssl_context=ssl_context, limits=limits)
        return transport

    # configuration -------------------------------------------------------------------------

    @property
    def config(self) -> Config | None:
        """The active configuration (``None`` until one is loaded or first needed)."""
        return self._config

    def load_config(self, path: str | os.PathLike[str] | None) -> Config:
        """Load and validate ``path`` (or the discovered file) and make it the active config."""
        config, digest = self._read_config(path)
        self.set_config(config, text_sha256=digest)
        return config

    def reload_config(self, path: str | os.PathLike[str] | None = None) -> Config:
        """Read the configuration again (``path``, else the active one's file, else the
        discovered one) and swap it in at once.

        Calls already running finish on the settings they started with; later calls use the
        new ones. Rate limiters, circuit breakers and connection pools of providers whose
        settings did not change are kept, with their state. An invalid file changes nothing:
        :class:`~agentflow.errors.ConfigurationError` lists its located errors.
        """
        if path is None and self._config is not None:
            path = self._config.source
        try:
            config, digest = self._read_config(path)
        except LLMError as exc:
            issues = getattr(exc, "issues", ())
            self.audit.config_rejected(Path(path) if path else Path("."), len(issues) or 1,
                                       str(issues[0]) if issues else exc.message)
            raise
        self.set_config(config, text_sha256=digest, reload=True)
        return config

    def _read_config(self, path: str | os.PathLike[str] | None) -> tuple[Config, str | None]:
        from agentflow.config import Config, discover_config_path, load_config

        found = Path(path) if path is not None else discover_config_path()
        if found is None:
            return Config(), None
        config = load_config(found, providers=self.host.providers(),
                             catalog=self.host.catalog())
        digest = hashlib.sha256(found.read_bytes()).hexdigest() if found.is_file() else None
        return config, digest

    def set_config(self, config: Config, *, text_sha256: str | None = None,
                   reload: bool = False) -> None:
        """Make ``config`` the active configuration; later requests resolve against it.

        The new registry and limits are built before the swap, so no request ever sees half
        of a change.
        """
        registry = self._new_registry(config)
        self._configure_plugins(config, previous=self._config)
        limits = self._new_limits(registry)
        if self._limits is not None:
            limits.adopt(self._limits)
        self._config, self._registry, self._limits = config, registry, limits
        self.audit.config_loaded(config, text_sha256=text_sha256, reload=reload)

    def _configure_plugins(self, config: Config, *, previous: Config | None) -> None:
        """Hand ``config`` to every plugin's ``agentflow_configure`` (historic: plugins registered
        later get it too); if one refuses it, hand the previous configuration back to all of
        them and raise."""
        try:
            self.host.configure(config)
        except ConfigurationError as exc:
            if previous is not None:
                self.host.configure(previous)
            if exc.issues:  # located (Config.setting_error): shown as a file's errors are
                lines = "\n".join(f"  {issue}" for issue in exc.issues)
                count = f"{len(exc.issues)} error{'s' if len(exc.issues) != 1 else ''}"
                raise ConfigurationError(f"configuration {config.source} has {count}:\n{lines}",
                                         issues=exc.issues) from None
            where = f"configuration {config.source}: " if config.source else ""
            raise ConfigurationError(f"{where}{exc.message}", issues=exc.issues) from None

    def _new_limits(self, registry: ModelRegistry) -> Limits:
        """Limiters and breakers for ``registry``'s configuration, their state in the store a
        plugin provides (``agentflow_limit_store``), else in this process."""
        from agentflow._limits.admission import Limits

        store = self.host.hook.agentflow_limit_store(config=registry.config, emit=self.emit)
        return Limits(registry, on_circuit_change=self._circuit_changed, store=store)

    def _new_registry(self, config: Config) -> ModelRegistry:
        from agentflow._runtime.registry import ModelRegistry

        return ModelRegistry(config, self.host, on_key_access=self.audit.key_accessed)

    @property
    def registry(self) -> ModelRegistry:
        """The model registry of the active configuration (discovered on first use)."""
        if self._registry is None:
            if self._config is None:
                self.load_config(None)
            else:  # given at construction: the plugins hear of it on first use
                self._configure_plugins(self._config, previous=None)
                self._registry = self._new_registry(self._config)
        assert self._registry is not None
        return self._registry

    def resolve(self, name: str) -> ModelSettings:
        """The merged settings of model ``name``."""
        return self.registry.resolve(name)

    @property
    def limits(self) -> Limits:
        """The rate limiters and circuit breakers of the active configuration."""
        if self._limits is None:
            self._limits = self._new_limits(self.registry)
        return self._limits

    @property
    def audit(self) -> AuditTrail:
        """Where key accesses and configuration loads are recorded."""
        if self._audit is None:
            from agentflow._observe.audit import AuditTrail

            self._audit = AuditTrail(self)
        return self._audit

    def _circuit_changed(self, provider: str, endpoint: str, old: str, new: str) -> None:
        if new == "open":
            logger.warning("agentflow: the circuit of provider %s (%s) opened after repeated "
                           "failures; requests to it fail fast for a while", provider, endpoint)
        elif new == "closed":
            logger.info("agentflow: the circuit of provider %s (%s) closed again", provider,
                        endpoint)
        if self.has_event_listeners():
            from agentflow._observe.events import ExecutionEvent

            self.emit(ExecutionEvent(event_type=f"llm.circuit.{new}",
                                     node_id=f"provider.{provider}",
                                     metadata={"provider": provider, "endpoint": endpoint,
                                               "previous": old}))

    # transport -------------------------------------------------------------------------------

    def use_transport(self, transport: TransportChoice) -> None:
        """Send later requests through ``transport`` (an ``httpx.AsyncBaseTransport``, a
        factory of one per pool, or ``None`` for the network); see
        :data:`agentflow._http.transport.TransportChoice`."""
        self.pools.use_transport(transport)

    # events ----------------------------------------------------------------------------------

    @property
    def include_text(self) -> bool:
        """Whether events carry prompt and answer text: as set in code, else as configured."""
        if self._include_text is not None:
            return self._include_text
        config = self._config
        return config is not None and config.observability.include_text

    @include_text.setter
    def include_text(self, value: bool | None) -> None:
        """``True``/``False`` overrides the configuration; ``None`` defers to it again."""
        self._include_text = value

    def emit(self, event: ExecutionEvent, collectors: Iterable[MetricsCollector] = ()) -> None:
        """Deliver ``event`` to the given and the global collectors and to exporter plugins
        (``agentflow_record_event``; ``llm.stream.chunk`` events to
        ``agentflow_record_stream_chunk``).

        A failing exporter never breaks the request nor keeps the others from the event: each
        plugin is called on its own, through a pluggy hook caller of its own
        (:meth:`PluginHost.callers_by_plugin`), so arguments, order, wrappers and tracing are
        pluggy's. Its first failure is logged, and every failure reaches the collectors as an
        ``llm.exporter.error`` event. (A wrapper implemented by the core cannot give this:
        pluggy stops calling implementations at the first one that raises.)
        """
        for collector in collectors:
            collector.record_event(event)
        for collector in self.collectors:
            collector.record_event(event)
        hook = ("agentflow_record_stream_chunk" if event.event_type == "llm.stream.chunk"
                else "agentflow_record_event")
        for plugin, deliver in self.host.callers_by_plugin(hook):
            try:
                deliver(event=event)
            except Exception as exc:
                self._exporter_failed(plugin, event, exc, collectors)

    def _exporter_failed(self, plugin: str, event: ExecutionEvent, exc: Exception,
                         collectors: Iterable[MetricsCollector]) -> None:
        if plugin not in self._failed_exporters:
            self._failed_exporters.add(plugin)
            logger.error("metrics exporter plugin %r failed on a %s event (%s: %s); its later "
                         "failures are counted, not logged", plugin, event.event_type,
                         type(exc).__name__, exc, exc_info=exc)
        from agentflow._observe.events import ExecutionEvent

        failure = ExecutionEvent(event_type="llm.exporter.error", node_id=f"plugin.{plugin}",
                                 metadata={"plugin": plugin, "event_type": event.event_type,
                                           "error_type": type(exc).__name__})
        for collector in (*collectors, *self.collectors):
            collector.record_event(failure)

    def wants_chunk_events(self, collectors: Iterable[Any] = ()) -> bool:
        """Whether anyone listens to ``llm.stream.chunk``: a plugin that implements
        ``agentflow_record_stream_chunk``, or a collector that does not say it does not
        (``wants_chunk_events = False``, as MetricsCollector, which counts chunks from
        ``llm.stream.complete``). Nobody asking spares an event per chunk."""
        if self.host.callers_by_plugin("agentflow_record_stream_chunk"):
            return True
        return any(getattr(collector, "wants_chunk_events", True)
                   for collector in (*collectors, *self.collectors))

    def has_event_listeners(self, collectors: Iterable[Any] = ()) -> bool:
        """Whether anyone listens, so hot paths can skip building events nobody reads."""
        return bool(self.collectors or list(collectors)
                    or self.host.callers_by_plugin("agentflow_record_event")
                    or self.host.callers_by_plugin("agentflow_record_stream_chunk"))

    async def aclose(self) -> None:
        """Close the HTTP pools of the running event loop (and its connections to a shared
        limit store)."""
        await self.pools.aclose()
        if self._limits is not None and self._limits.store is not None:
            await self._limits.store.aclose()
