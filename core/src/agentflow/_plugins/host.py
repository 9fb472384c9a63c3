"""Finding, loading and asking plugins.

Plugins are modules registered under the ``agentflow`` entry-point group. Nothing is imported
when :mod:`agentflow` is imported: the first call that needs a plugin (a request, listing models,
validating a file) loads them all through :meth:`PluginHost.load`. A plugin that fails to import
or register gives a :class:`PluginLoadWarning` naming its distribution and the error; the others
keep working. Two plugins declaring the same provider give a :class:`PluginConflictWarning`
naming both distributions (and ``agentflow plugins`` exits non-zero).

``AGENTFLOW_LOAD_PLUGINS`` (comma-separated entry-point names) restricts which installed plugins
load; set to an empty string, none do. ``AGENTFLOW_TRACE_HOOKS=1`` logs every hook call at
DEBUG level on the ``agentflow.plugins`` logger.

Every hook call goes through pluggy: ``host.hook.<name>(...)`` for first-result and collect
hooks, ``call_historic`` for ``agentflow_configure``, and, where each plugin must be reached on
its own (an exporter's failure isolated from the others, a chain), one pluggy hook caller per
plugin made with ``PluginManager.subset_hook_caller`` (:meth:`PluginHost.callers_by_plugin`,
:meth:`PluginHost.prepare_request`). So every implementation is called the way pluggy documents
it: with only the arguments it names, in pluggy's order, inside the hook's wrappers, and seen by
the tracing of ``add_hookcall_monitoring``.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import pluggy
from pluggy import HookimplOpts

from agentflow import hookspecs
from agentflow.errors import ConfigurationError
from agentflow.types import ModelInfo, ProviderSpec

if TYPE_CHECKING:
    from agentflow.config import Config
    from agentflow.types import ModelSettings, Request

__all__ = ["PluginConflictWarning", "PluginHost", "PluginInfo", "PluginLoadWarning",
           "ProviderConflict", "get_plugin_host"]

ENTRY_POINT_GROUP = "agentflow"
LOAD_PLUGINS_ENV = "AGENTFLOW_LOAD_PLUGINS"
TRACE_HOOKS_ENV = "AGENTFLOW_TRACE_HOOKS"

logger = logging.getLogger("agentflow.plugins")


class PluginLoadWarning(UserWarning):
    """An installed plugin could not be loaded; agentflow carries on without it."""


class PluginConflictWarning(UserWarning):
    """Two plugins declare the same provider; one of them is used, the other ignored."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """An installed or registered plugin, as ``agentflow plugins`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    providers: tuple[str, ...]
    error: str | None = None


@attrs.frozen(kw_only=True)
class ProviderConflict:
    """A provider name declared by more than one plugin; ``plugins[0]`` is the one used."""

    provider: str
    plugins: tuple[PluginInfo, ...]

    def describe(self) -> str:
        """One line naming the provider and each plugin with its distribution."""
        named = " and ".join(f"plugin {info.name!r} ({_origin(info)})" for info in self.plugins)
        return (f"provider {self.provider!r} is declared by {named}; {self.plugins[0].name!r} "
                "is used. Uninstall one of the distributions (or leave one out with "
                f"{LOAD_PLUGINS_ENV})")


class _Source:
    """The distribution a plugin came from (``None`` for one registered in code).

    Its name and version are read from the distribution's metadata when first asked for
    (``agentflow plugins``, a conflict, an error): reading them parses the METADATA file with
    the email package, which a request never needs.
    """

    def __init__(self, dist: Any = None) -> None:
        self._dist = dist

    @functools.cached_property
    def distribution(self) -> str | None:
        return None if self._dist is None else str(self._dist.name)

    @functools.cached_property
    def version(self) -> str | None:
        return None if self._dist is None else str(self._dist.version)


#: What the host's plugin managers found on each plugin's attributes (see _HostManager).
ImplOpts = dict[tuple[int, str], tuple[object, HookimplOpts | None]]

#: One pluggy hook caller per plugin, with that plugin's name, in pluggy's call order.
HookCallers = Sequence[tuple[str, pluggy.HookCaller]]


class PluginHost:
    """One pluggy ``PluginManager`` with agentflow's hook specs, plus what it knows of plugins.

    Build one with :func:`get_plugin_host` (the process-wide host) or directly in tests:
    ``PluginHost(entry_points=False)`` gives a host with only what you :meth:`register`.
    """

    def __init__(self, *, entry_points: bool = True) -> None:
        self._use_entry_points = entry_points
        self._loaded = False
        self._lock = threading.RLock()
        self._plugins: dict[str, object] = {}  # registration order, which pluggy's order keeps
        self._sources: dict[str, _Source] = {}
        self._failures: list[PluginInfo] = []
        # Which attributes of each registered plugin are hook implementations, shared by the
        # managers this host builds (see _HostManager).
        self._impl_opts: ImplOpts = {}
        self._pm = _new_manager(self._impl_opts)
        self._configured = False  # whether agentflow_configure's history holds a configuration
        self._providers: dict[str, ProviderSpec] | None = None
        self._catalog: dict[str, ModelInfo] | None = None
        self._callers: dict[tuple[str, bool], HookCallers] = {}
        self._warned_conflicts: set[str] = set()

    @property
    def hook(self) -> Any:
        """The hook relay (``host.hook.agentflow_build_request(...)``), plugins loaded."""
        self.load()
        return self._pm.hook

    # registration -----------------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register an in-house or test plugin (a module, class or instance with hookimpls).

        Returns the name it was registered under. Registering never triggers entry-point loading.
        A plugin registered after a configuration became active is configured with it at once
        (``agentflow_configure`` is historic); if it refuses it, it is not registered and the
        :class:`~agentflow.errors.ConfigurationError` says why. Registering a plugin twice, or
        under a name already taken, is a :class:`~agentflow.errors.ConfigurationError` too.
        """
        with self._lock:
            return self._add(plugin, name, _Source())

    def plugin_names(self) -> tuple[str, ...]:
        """The names of the registered plugins (the installed ones loaded first), in the order
        they were registered."""
        self.load()
        return tuple(self._plugins)

    def unregister(self, name: str) -> None:
        """Remove a registered plugin by name."""
        with self._lock:
            self._pm.unregister(name=name)
            self._plugins.pop(name, None)
            self._sources.pop(name, None)
            self._invalidate()

    def _add(self, plugin: object, name: str | None, source: _Source) -> str:
        pm = self._pm
        if pm.is_registered(plugin):
            raise ConfigurationError(
                f"plugin {plugin!r} is already registered, as {pm.get_name(plugin)!r}: a plugin "
                "is registered once (unregister it first to register it again)")
        wanted = name or pm.get_canonical_name(plugin)
        if pm.has_plugin(wanted):
            taken = self._sources.get(wanted)
            where = (f" (distribution {taken.distribution})"
                     if taken is not None and taken.distribution else "")
            raise ConfigurationError(
                f"a plugin named {wanted!r} is already registered{where}; register "
                f"{plugin!r} under another name")
        try:
            registered = pm.register(plugin, wanted)
        except pluggy.PluginValidationError as exc:  # nothing was registered
            raise ConfigurationError(f"plugin {wanted!r} cannot be registered: {exc}") from None
        except ConfigurationError as exc:  # the configuration in force, replayed, was refused
            pm.unregister(plugin)
            raise ConfigurationError(
                f"plugin {wanted!r} refuses the active configuration: {exc.message}",
                issues=exc.issues) from None
        except BaseException:
            if pm.is_registered(plugin):
                pm.unregister(plugin)
            raise
        if registered is None:  # pragma: no cover - pluggy returns None only when blocked
            raise ConfigurationError(f"plugin {wanted!r} is blocked and was not registered")
        self._plugins[registered] = plugin
        self._sources[registered] = source
        self._invalidate()
        return registered

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
            source = _Source(dist)
            try:
                self._add(entry_point.load(), entry_point.name, source)
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
        self._invalidate()

    def _invalidate(self) -> None:
        self._providers = None
        self._catalog = None
        self._callers = {}

    # calling ----------------------------------------------------------------------------------

    def configure(self, config: Config) -> None:
        """Make ``config`` the configuration every plugin is told of, and tell them.

        ``agentflow_configure`` is a historic hook (as pytest's ``pytest_configure``): pluggy
        calls it on every plugin now and replays it to every plugin registered later. pluggy
        replays *every* historic call, so a late plugin would be handed every configuration
        since the first, refused ones included. The first configuration is called on the
        plugin manager as it is; every later one (a reload, or the previous configuration
        handed back after a refusal) is called on a new plugin manager with the same plugins
        in the same order, whose history is that configuration alone: each plugin hears of it
        once, and a plugin registered later hears of the configuration in force only.

        A :class:`~agentflow.errors.ConfigurationError` from a plugin propagates; the host then
        keeps its previous manager and history (the caller hands the previous configuration
        back, :meth:`agentflow._runtime.runtime.Runtime.set_config`).
        """
        self.load()
        with self._lock:
            pm = self._rebuilt() if self._configured else self._pm
            try:
                pm.hook.agentflow_configure.call_historic(kwargs={"config": config})
            except BaseException:
                if pm is self._pm:  # its history now holds the refused configuration
                    self._pm, self._configured = self._rebuilt(), False
                    self._invalidate()
                raise
            self._pm, self._configured = pm, True
            self._invalidate()

    def check_settings(self, config: Config) -> list[ConfigurationError]:
        """Every plugin's own check of its section of ``config`` (``agentflow_check_settings``),
        without configuring anything: what ``agentflow validate`` reports."""
        errors: list[ConfigurationError] = []
        for found in self.hook.agentflow_check_settings(config=config):
            errors += found or ()
        return errors

    def _rebuilt(self) -> pluggy.PluginManager:
        live = {id(plugin) for plugin in self._plugins.values()}
        for key in [key for key in self._impl_opts if key[0] not in live]:
            del self._impl_opts[key]  # unregistered since: its id may be reused
        pm = _new_manager(self._impl_opts)
        for name, plugin in self._plugins.items():
            pm.register(plugin, name)
        return pm

    def callers_by_plugin(self, name: str, *, wrapped: bool = True) -> HookCallers:
        """One pluggy hook caller per plugin implementing hook ``name``, in pluggy's order.

        Each is ``PluginManager.subset_hook_caller`` leaving out the other plugins with a
        plain (non-wrapper) implementation: calling it is a pluggy call of the hook that
        reaches that one plugin's implementation (with the arguments it names), inside every
        ``wrapper=True`` implementation of the hook (unless ``wrapped`` is false), and is seen
        by hook tracing. The core calls notify and collect hooks this way where one plugin's
        exception must not keep the others from being called: exporters
        (``agentflow_record_event``), fakes (``agentflow_fake_routes``), and to know which
        plugin declared what (``agentflow plugins``).

        The order is pluggy's: ``tryfirst`` implementations, then the last registered first,
        then ``trylast`` ones. Cached until a plugin is registered or unregistered.
        """
        key = (name, wrapped)
        cached = self._callers.get(key)
        if cached is None:
            self.load()
            pm = self._pm
            impls = getattr(pm.hook, name).get_hookimpls()
            plain = [impl for impl in reversed(impls) if not (impl.wrapper or impl.hookwrapper)]
            others = {impl.plugin for impl in (impls if not wrapped else plain)}
            cached = tuple((impl.plugin_name,
                            pm.subset_hook_caller(name, others - {impl.plugin}))
                           for impl in plain)
            self._callers[key] = cached
        return cached

    def prepare_request(self, request: Request, settings: ModelSettings) -> Request:
        """``request`` after every plugin's ``agentflow_prepare_request``, each handed the
        request the one before returned (``None``: unchanged), in pluggy's order.

        pluggy has no chain hooks, so the chain is made of pluggy calls: each link is one call
        of the hook reaching one plugin (:meth:`callers_by_plugin`, without wrappers), so it gets
        only the arguments it names and is traced. ``wrapper=True`` implementations wrap the
        whole chain, once: the chain runs as an extra implementation
        (``HookCaller.call_extra``) of one call that only the wrappers take part in; their
        ``yield`` gives ``[final_request]`` (pluggy's list of results) and they may return
        another one-item list.
        """
        hook = self.hook.agentflow_prepare_request
        links = self.callers_by_plugin("agentflow_prepare_request", wrapped=False)
        impls = hook.get_hookimpls()
        wrapped = any(impl.wrapper or impl.hookwrapper for impl in impls)
        if not links and not wrapped:
            hook(request=request, settings=settings)  # no implementation; traced as pluggy does
            return request

        def chain(request: Request, settings: ModelSettings) -> Request:
            for _plugin, link in links:
                for changed in link(request=request, settings=settings):
                    request = changed
            return request

        if not wrapped:
            return chain(request, settings)
        plain = {impl.plugin for impl in impls if not (impl.wrapper or impl.hookwrapper)}
        outer = self._pm.subset_hook_caller("agentflow_prepare_request", plain)
        results = outer.call_extra([chain], {"request": request, "settings": settings})
        return results[-1] if results else request

    # what the plugins declare -----------------------------------------------------------------

    def providers(self) -> Mapping[str, ProviderSpec]:
        """Every provider the loaded plugins declare, by name (the first in pluggy's order wins;
        a name declared twice gives a :class:`PluginConflictWarning`)."""
        if self._providers is None:
            found: dict[str, ProviderSpec] = {}
            declared_twice = False
            for specs in self.hook.agentflow_register_providers():
                for spec in specs:
                    declared_twice |= spec.name in found
                    found.setdefault(spec.name, spec)
            if declared_twice:
                self._warn_conflicts()
            self._providers = found
        return self._providers

    def provider_conflicts(self) -> list[ProviderConflict]:
        """Every provider name more than one plugin declares, with those plugins."""
        declared: dict[str, list[PluginInfo]] = {}
        for info in self._infos():
            for provider in dict.fromkeys(info.providers):
                declared.setdefault(provider, []).append(info)
        return [ProviderConflict(provider=name, plugins=tuple(infos))
                for name, infos in declared.items() if len(infos) > 1]

    def _warn_conflicts(self) -> None:
        for conflict in self.provider_conflicts():
            if conflict.provider not in self._warned_conflicts:
                self._warned_conflicts.add(conflict.provider)
                warnings.warn(f"agentflow: {conflict.describe()}.", PluginConflictWarning,
                              stacklevel=4)

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
        return sorted(self._infos(), key=lambda info: info.name) + list(self._failures)

    def _infos(self) -> list[PluginInfo]:
        """The loaded plugins in pluggy's order of ``agentflow_register_providers``."""
        self.load()
        declared: dict[str, tuple[str, ...]] = {}
        for plugin_name, caller in self.callers_by_plugin("agentflow_register_providers",
                                                            wrapped=False):
            declared[plugin_name] = tuple(spec.name for specs in caller() for spec in specs or ())
        order = {name: index for index, name in enumerate(declared)}
        infos: list[PluginInfo] = []
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ()))
            source = self._sources.get(name, _Source())
            infos.append(PluginInfo(name=name, distribution=source.distribution,
                                    version=source.version, hooks=hooks,
                                    providers=declared.get(name, ())))
        return sorted(infos, key=lambda info: order.get(info.name, len(order)))


class _HostManager(pluggy.PluginManager):
    """pluggy's manager, remembering what it found on each plugin's attributes.

    The host builds a new manager with the same plugins for every configuration after the
    first (:meth:`PluginHost.configure`), and registering makes pluggy look at every attribute
    of every plugin (a plugin module has hundreds): about 20 ms per configuration with the
    first-party plugins installed. ``parse_hookimpl_opts`` is pluggy's documented point of
    customisation for that look; this one asks pluggy once per plugin object and attribute,
    for as long as the plugin stays registered with the host.
    """

    def __init__(self, impl_opts: ImplOpts) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self._impl_opts = impl_opts

    def parse_hookimpl_opts(self, plugin: object, name: str) -> HookimplOpts | None:
        key = (id(plugin), name)
        found = self._impl_opts.get(key)
        if found is not None and found[0] is plugin:
            return found[1]
        opts = super().parse_hookimpl_opts(plugin, name)
        self._impl_opts[key] = (plugin, opts)  # the plugin held, so its id is not reused
        return opts


def _new_manager(impl_opts: ImplOpts) -> pluggy.PluginManager:
    pm = _HostManager(impl_opts)
    pm.add_hookspecs(hookspecs)
    if os.environ.get(TRACE_HOOKS_ENV):
        pm.add_hookcall_monitoring(_log_before, _log_after)
    return pm


def _origin(info: PluginInfo) -> str:
    if info.distribution is None:
        return "registered in code"
    return f"distribution {info.distribution} {info.version or ''}".strip()


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

