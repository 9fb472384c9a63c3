"""PrometheusExporter: agentflow's execution events as prometheus_client metrics.

prometheus_client is imported when an exporter first needs it (the installed exporter: at its
first event, or when it starts serving), so loading the plugin costs nothing measurable.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from agentflow.errors import ConfigurationError
from agentflow.hookspecs import hookimpl
from agentflow_prometheus._settings import Layout, PrometheusSettings

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

    from agentflow import ExecutionEvent
    from agentflow.config import Config
    from agentflow_prometheus._instruments import Instruments

__all__ = ["PrometheusExporter"]

logger = logging.getLogger("agentflow.prometheus")

# Which exporter records into each registry under each namespace: at most one, so that no
# call is ever counted twice in one registry. Building, releasing and claiming hold the lock.
_lock = threading.RLock()
_owners: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, PrometheusExporter]] = (
    weakref.WeakKeyDictionary())


class PrometheusExporter:
    """Records every agentflow call in Prometheus metrics (the package README lists them).

    Register it as a plugin: ``AgentFlow.register_plugin(PrometheusExporter(registry))``.
    Installing agentflow-prometheus registers one of its own, :data:`agentflow_prometheus.EXPORTER`.

    :param registry: where the metrics go; default: prometheus_client's global ``REGISTRY``,
        so an application that already serves ``/metrics`` shows agentflow's figures too.
    :param namespace: the metric name prefix (``agentflow_requests_total``).
    :param buckets: histogram bounds to use instead of the defaults, by metric
        (``{"request_duration_seconds": [1, 5, 30]}``); see ``DEFAULT_BUCKETS``.
    :param config_key: follow ``plugins.<config_key>`` of the active configuration (see
        ``agentflow_configure``); default ``None``: an exporter made in code is configured in
        code and ignores the file.
    :raises ValueError: for a bad namespace or bucket list, or when another exporter made in
        code already records into ``registry`` under ``namespace``: every call would be
        counted twice. (The installed exporter gives way instead: its metrics leave the
        registry and this one's take their place.)

    The metrics stay in the registry until :meth:`close`.
    """

    #: The installed exporter builds its metrics when first needed, and gives way to an
    #: exporter made in code for the same registry and namespace.
    _installed: ClassVar[bool] = False

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 namespace: str = "agentflow",
                 buckets: Mapping[str, Sequence[float]] | None = None,
                 config_key: str | None = None) -> None:
        self._registry = registry
        self._layout = Layout.of(namespace, buckets)
        self._config_key = config_key
        self._instruments: Instruments | None = None
        self._pending = self._installed  # build at the first event
        self._server: tuple[WSGIServer, threading.Thread] | None = None
        self._served_addr: str | None = None
        self._server_lock = threading.Lock()
        if not self._installed:
            with _lock:
                self._build()

    @property
    def registry(self) -> CollectorRegistry:
        """The registry the metrics are recorded in."""
        if self._registry is None:
            from prometheus_client import REGISTRY

            return REGISTRY
        return self._registry

    @property
    def namespace(self) -> str:
        """The metric name prefix."""
        return self._layout.namespace

    @property
    def recording(self) -> bool:
        """Whether events are recorded (false when disabled, closed, or given way)."""
        return self._instruments is not None or self._pending

    # hooks --------------------------------------------------------------------------------

    @hookimpl
    def agentflow_record_event(self, event: ExecutionEvent) -> None:
        """Fold one event into the metrics; events of other types are ignored."""
        instruments = self._instruments
        if instruments is None:
            if not self._pending:
                return
            instruments = self._build_pending()
            if instruments is None:
                return
        instruments.record(event)

    @hookimpl
    def agentflow_configure(self, config: Config) -> None:
        """Apply ``plugins.<config_key>`` (``enabled``, ``http_port``, ``http_addr``,
        ``namespace``, ``buckets``); nothing for an exporter without a ``config_key``.

        :raises ConfigurationError: naming ``plugins.<config_key>.<key>`` for a bad setting,
            or a port that cannot be served.
        """
        if self._config_key is None:
            return
        where = f"plugins.{self._config_key}"
        sections = getattr(config, "plugins", None) or {}
        settings = PrometheusSettings.parse(sections.get(self._config_key) or {}, where=where)
        try:
            self._apply(settings)
        except OSError as exc:
            raise ConfigurationError(
                f"{where}.http_port: cannot serve /metrics on {settings.http_addr}:"
                f"{settings.http_port} ({exc.strerror or exc}); choose a free port, or leave "
                f"http_port out") from None
        except ValueError as exc:
            raise ConfigurationError(f"{where}.namespace: {exc}") from None

    @hookimpl
    def agentflow_check_settings(self, config: Config) -> list[ConfigurationError]:
        """The error of ``plugins.<config_key>``, located, as ``agentflow_configure`` would
        raise it, without starting the ``/metrics`` server or touching the metrics."""
        if self._config_key is None:
            return []
        where = f"plugins.{self._config_key}"
        sections = getattr(config, "plugins", None) or {}
        try:
            PrometheusSettings.parse(sections.get(self._config_key) or {}, where=where)
        except ConfigurationError as exc:
            message = str(exc)
            key, _, rest = message.removeprefix(f"{where}.").partition(" ")
            if message.startswith(f"{where}.") and rest:
                key = key.rstrip(":")
                return [config.setting_error(("plugins", self._config_key, key),
                                             rest.removeprefix(": ").strip(),
                                             anchor="key" if "unknown key" in rest else "value")]
            return [config.setting_error(("plugins", self._config_key), message)]
        return []

    def _apply(self, settings: PrometheusSettings) -> None:
        """Apply ``settings``, as ``agentflow_configure`` does with the file's.

        A new namespace or new buckets replace the metrics (their series start again from
        zero); disabling takes them out of the registry. The ``/metrics`` server moves only
        when its address changes.

        :raises OSError: when the server cannot listen there.
        :raises ValueError: when another exporter already records under the new namespace.
        """
        with _lock:
            if self._instruments is not None and (
                    not settings.enabled or settings.layout != self._layout):
                self._release()
            self._layout = settings.layout
            self._pending = False
            if settings.enabled and self._instruments is None:
                if self._installed:
                    self._pending = True
                else:
                    self._build()
        self.serve(settings.http_port if settings.enabled else None, settings.http_addr)

    # the /metrics endpoint ----------------------------------------------------------------

    @property
    def port(self) -> int | None:
        """The port ``/metrics`` is served on, or ``None``."""
        server = self._server
        return None if server is None else int(server[0].server_port)

    def serve(self, port: int | None, addr: str = "127.0.0.1") -> int | None:
        """Serve the registry on ``http://addr:port/metrics`` with prometheus_client's own
        server, in a daemon thread (``port=0``: any free port), or stop with ``port=None``.

        Serving the address already served keeps the running server, so a reloaded
        configuration neither fails nor leaks. Another address starts a new server, then
        stops the old one: if the new one cannot listen, the old one goes on (unless it holds
        that very port). Returns the port served.

        :raises OSError: when the server cannot listen on ``addr:port``.
        """
        with self._server_lock:
            running = self._server
            if running is None or port is None:
                if running is not None:
                    self._stop(running)
                self._server = None if port is None else self._start(port, addr)
            else:
                bound = int(running[0].server_port)
                if addr == self._served_addr and port in (0, bound):
                    return bound
                try:
                    self._server = self._start(port, addr)
                except OSError:
                    if port != bound:
                        raise
                    self._stop(running)  # the new address needs the old one's port
                    self._server = None
                    self._server = self._start(port, addr)
                else:
                    self._stop(running)
            if self._server is not None:
                self._served_addr = addr
            return self.port

    def _start(self, port: int, addr: str) -> tuple[WSGIServer, threading.Thread]:
        from prometheus_client import start_http_server

        server = start_http_server(port, addr=addr, registry=self.registry)
        logger.debug("serving /metrics on %s:%s", addr, server[0].server_port)
        return server

    @staticmethod
    def _stop(running: tuple[WSGIServer, threading.Thread]) -> None:
        server, thread = running
        server.shutdown()  # waits for the serving loop to notice: up to half a second
        server.server_close()
        thread.join(timeout=5)
        logger.debug("stopped serving /metrics on port %s", server.server_port)

    def close(self) -> None:
        """Stop serving ``/metrics`` and take the metrics out of the registry; the exporter
        records nothing more (unless a configuration turns it on again)."""
        self.serve(None)
        with _lock:
            self._release()
            self._pending = False

    # building -----------------------------------------------------------------------------

    def _build_pending(self) -> Instruments | None:
        with _lock:
            if self._instruments is None and self._pending:
                self._pending = False
                try:
                    self._build()
                except ValueError as exc:  # a metric of that name is in the registry already
                    logger.warning("agentflow-prometheus records nothing: %s", exc)
            return self._instruments

    def _build(self) -> None:
        """Make the metrics and claim the registry and namespace (holding ``_lock``)."""
        from agentflow_prometheus._instruments import Instruments

        registry, namespace = self.registry, self._layout.namespace
        owners = _owners.setdefault(registry, {})
        owner = owners.get(namespace)
        if owner is not None and owner is not self:
            if self._installed:
                logger.info("the installed agentflow-prometheus exporter gives way to %r, "
                            "which records into the same registry as %s_*", owner, namespace)
                return
            if not owner._installed:
                raise ValueError(
                    f"{owner!r} already records agentflow's calls into this registry as "
                    f"{namespace}_*; a second exporter there would count every call twice. "
                    f"Use that one, or give this one another registry or namespace")
            logger.info("the installed agentflow-prometheus exporter gives way to the one "
                        "made in code for the same registry and namespace (%s_*)", namespace)
            owner._release()
        self._instruments = Instruments(registry, self._layout)
        owners[namespace] = self

    def _release(self) -> None:
        """Take the metrics out of the registry and give up the claim (holding ``_lock``)."""
        instruments, self._instruments = self._instruments, None
        if instruments is None:
            return
        instruments.unregister()
        owners = _owners.get(instruments.registry, {})
        if owners.get(instruments.namespace) is self:
            del owners[instruments.namespace]

    def __repr__(self) -> str:
        installed = " (installed)" if self._installed else ""
        return f"<PrometheusExporter{installed} {self._layout.namespace}_* at {id(self):#x}>"


class InstalledExporter(PrometheusExporter):
    """The exporter the entry point registers: prometheus_client's default registry,
    configured by ``plugins.prometheus``, built on first use, giving way to one made in code."""

    _installed = True

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry, config_key="prometheus")
