"""Finding, loading and asking plugins.

Plugins are modules registered under the ``agentflow`` entry-point group. Nothing is imported
when :mod:`agentflow` is imported: the first call that needs a plugin (a request, listing models,
validating a file) loads them all through :meth:`PluginHost.load`. A plugin that fails to import
or register gives a :class:`PluginLoadWarning` naming its distribution and the error; the others
keep working.

``AGENTFLOW_LOAD_PLUGINS`` (comma-separated entry-point names) restricts which installed plugins
load; set to an empty string, none do. ``AGENTFLOW_TRACE_HOOKS=1`` logs every hook call at
DEBUG level on the ``agentflow.plugins`` logger.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pluggy

from agentflow import hookspecs
from agentflow.errors import ConfigurationError
from agentflow.types import ModelInfo, ProviderSpec

__all__ = ["PluginHost", "PluginInfo", "PluginLoadWarning", "get_plugin_host"]

ENTRY_POINT_GROUP = "agentflow"
LOAD_PLUGINS_ENV = "AGENTFLOW_LOAD_PLUGINS"
TRACE_HOOKS_ENV = "AGENTFLOW_TRACE_HOOKS"

logger = logging.getLogger("agentflow.plugins")


class PluginLoadWarning(UserWarning):
    """An installed plugin could not be loaded; agentflow carries on without it."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """An installed or registered plugin, as ``agentflow plugins`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    providers: tuple[str, ...]
    error: str | None = None


@attrs.frozen
class _Source:
    distribution: str | None
    version: str | None


class PluginHost:
    """One pluggy ``PluginManager`` with agentflow's hook specs, plus what it knows of plugins.

    Build one with :func:`get_plugin_host` (the process-wide host) or directly in tests:
    ``PluginHost(entry_points=False)`` gives a host with only what you :meth:`register`.
    """

    def __init__(self, *, entry_points: bool = True) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._use_entry_points = entry_points
        self._loaded = False
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self._failures: list[PluginInfo] = []
        self._providers: dict[str, ProviderSpec] | None = None
        self._catalog: dict[str, ModelInfo] | None = None
        if os.environ.get(TRACE_HOOKS_ENV):
            self._pm.add_hookcall_monitoring(_log_before, _log_after)

    @property
    def hook(self) -> Any:
        """The hook relay (``host.hook.agentflow_build_request(...)``), plugins loaded."""
        self.load()
        return self._pm.hook

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register an in-house or test plugin (a module, class or instance with hookimpls).

        Returns the name it was registered under. Registering never triggers entry-point loading.
        """
        registered = self._pm.register(plugin, name)
        if registered is None:  # pragma: no cover - pluggy returns None only when blocked
            raise ConfigurationError(f"plugin {name or plugin!r} is blocked and was not registered")
        self._sources.setdefault(registered, _Source(None, None))
        self._invalidate()
        return registered

    def unregister(self, name: str) -> None:
        """Remove a registered plugin by name."""
        self._pm.unregister(name=name)
        self._sources.pop(name, None)
        self._invalidate()

    def load(self) -> None:
        """Load the entry-point plugins once; later calls return at once."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:  # another thread loaded them meanwhile
                return  # type: ignore[unreachable]
            if self._use_entry_points:
                self._load_entry_points()
            self._loaded = True

    def _load_entry_points(self) -> None:
        import importlib_metadata

        allowed = _allow_list()
        for entry_point in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and entry_point.name not in allowed:
                continue
            if self._pm.has_plugin(entry_point.name):
                continue
            dist = entry_point.dist
            source = _Source(dist.name if dist else None, dist.version if dist else None)
            try:
                self._pm.register(entry_point.load(), entry_point.name)
            except Exception as exc:  # a broken plugin must not break the others
                origin = f"distribution {source.distribution} {source.version}" if dist else (
                    f"entry point {entry_point.value}")
                warnings.warn(
                    f"agentflow plugin {entry_point.name!r} from {origin} failed to load: "
                    f"{type(exc).__name__}: {exc}. agentflow continues without it.",
                    PluginLoadWarning,
                    stacklevel=2,
                )
                self._failures.append(PluginInfo(
                    name=entry_point.name, distribution=source.distribution,
                    version=source.version, hooks=(), providers=(),
                    error=f"{type(exc).__name__}: {exc}"))
                continue
            self._sources[entry_point.name] = source
        self._invalidate()

    def _invalidate(self) -> None:
        self._providers = None
        self._catalog = None

    def providers(self) -> Mapping[str, ProviderSpec]:
        """Every provider the loaded plugins declare, by name."""
        if self._providers is None:
            found: dict[str, ProviderSpec] = {}
            for specs in self.hook.agentflow_register_providers():
                for spec in specs:
                    found.setdefault(spec.name, spec)
            self._providers = found
        return self._providers

    def catalog(self) -> Mapping[str, ModelInfo]:
        """Every catalog model the loaded plugins contribute, by alias (first one wins)."""
        if self._catalog is None:
            found: dict[str, ModelInfo] = {}
            for entries in self.hook.agentflow_default_models():
                for info in entries:
                    found.setdefault(info.name, info)
            self._catalog = found
        return self._catalog

    def plugin_infos(self) -> list[PluginInfo]:
        """The plugins loaded (and those that failed to), with the hooks each implements."""
        self.load()
        infos: list[PluginInfo] = []
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ()))
            providers: tuple[str, ...] = ()
            if "agentflow_register_providers" in hooks:
                impl = plugin.agentflow_register_providers  # type: ignore[attr-defined]
                providers = tuple(spec.name for spec in impl() or ())
            source = self._sources.get(name, _Source(None, None))
            infos.append(PluginInfo(name=name, distribution=source.distribution,
                                    version=source.version, hooks=hooks, providers=providers))
        return sorted(infos, key=lambda info: info.name) + list(self._failures)


def _allow_list() -> frozenset[str] | None:
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def _log_before(hook_name: str, hook_impls: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
    logger.debug("hook %s called with %s", hook_name, sorted(kwargs))


def _log_after(outcome: Any, hook_name: str, hook_impls: Iterable[Any],
               kwargs: Mapping[str, Any]) -> None:
    logger.debug("hook %s returned %s", hook_name, type(outcome.get_result()).__name__
                 if outcome.exception is None else f"error {outcome.exception!r}")


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_plugin_host() -> PluginHost:
    """The process-wide plugin host, created on first use."""
    global _host
    if _host is None:
        with _host_lock:
            if _host is None:
                _host = PluginHost()
    return _host


def set_plugin_host(host: PluginHost | None) -> PluginHost | None:
    """Replace the process-wide host (tests, embedding); returns the previous one."""
    global _host
    previous, _host = _host, host
    return previous

