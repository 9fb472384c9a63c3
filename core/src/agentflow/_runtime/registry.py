"""From a model name to the settings a request needs: the configuration and plugins merged.

For a model alias, each setting comes from the first layer that has it::

    models.<alias>  >  providers.<entry>  >  defaults  >  the catalog entry  >  the vendor's
                                                          for the alias         ProviderSpec

A model's ``vendor`` names a provider entry (``providers.<entry>``) or, directly, an installed
vendor; an entry's own ``vendor`` (default: its name) says which plugin speaks its wire format.
A catalog model needs no configuration at all. The API key is read from the environment at
resolve time, never from the file.

A registry is immutable: it merges each alias once and keeps the result; a new configuration
means a new registry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from agentflow._observe.logs import remember_secret
from agentflow.config._install_hints import NO_VENDOR_PLUGIN, find_plugin, install_phrase
from agentflow.config._problems import did_you_mean
from agentflow.config._secrets import unset_phrase
from agentflow.config._urls import base_url_problem, insecure_host, insecure_http_message
from agentflow.errors import (
    ConfigurationError,
    MissingApiKeyError,
    ModelNotFoundError,
    UnsupportedProviderError,
)
from agentflow.types import ModelInfo, ModelSettings, Pricing, ProviderSpec, Secret

if TYPE_CHECKING:
    from agentflow._plugins.host import PluginHost
    from agentflow.config import (
        CircuitBreakerConfig,
        Config,
        Defaults,
        ModelConfig,
        PricingConfig,
        ProviderConfig,
        RateLimitConfig,
    )

__all__ = ["ModelRegistry"]


@attrs.frozen
class _Merged:
    """An alias merged once: its settings without a key, and how to find the key."""

    settings: ModelSettings
    key_required: bool
    #: The variables the key may be in, first set one wins (``settings.api_key_env`` first).
    key_variables: tuple[str, ...] = ()


class ModelRegistry:
    """Resolves model names against one configuration and the installed plugins.

    :param config: the active configuration (``Config()`` for catalogs only).
    :param host: the plugin host whose providers and catalogs complete the configuration.
    :param environ: where API keys are read (default ``os.environ``, read at each resolve).
    """

    def __init__(self, config: Config, host: PluginHost, *,
                 environ: Mapping[str, str] | None = None,
                 on_key_access: Callable[..., None] | None = None) -> None:
        self._config = config
        self._host = host
        self._environ = environ
        #: Told of every key read: ``provider``, ``variable``, ``secret``, ``model`` (keywords).
        self._on_key_access = on_key_access
        self._merged: dict[str, _Merged] = {}
        self._with_key: dict[str, tuple[str, ModelSettings]] = {}

    @property
    def config(self) -> Config:
        """The configuration this registry resolves against."""
        return self._config

    def resolve(self, name: str) -> ModelSettings:
        """The merged settings of model ``name``, with its API key.

        :raises ModelNotFoundError: no such alias in the configuration or any catalog.
        :raises UnsupportedProviderError: no installed plugin implements the model's vendor.
        :raises MissingApiKeyError: the key variable is unset or empty (and the vendor needs
            a key).
        :raises ConfigurationError: the base URL is malformed, or plain http to another host.
        """
        merged = self._merged.get(name)
        if merged is None:
            merged = self._merged[name] = self._merge(name)
        settings = merged.settings
        variable, key = self._key(merged, model=name)
        if not key:
            return settings
        cached = self._with_key.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        remember_secret(key)
        keyed = attrs.evolve(settings, api_key=Secret(key), api_key_env=variable)
        self._with_key[name] = (key, keyed)
        return keyed

    def provider_settings(self, provider: str) -> ModelSettings:
        """The settings of provider entry (or installed vendor) ``provider`` without a model,
        with its API key: what every request to it shares. ``name`` and ``model_id`` are empty.

        Raises what :meth:`resolve` raises, for the same reasons (never
        :class:`ModelNotFoundError`).
        """
        entry = self._config.providers.get(provider)
        vendor = entry.vendor if entry is not None and entry.vendor is not None else provider
        spec = self._spec(vendor, provider, None)
        defaults = self._config.defaults
        settings = ModelSettings(
            name="", provider=provider, vendor=vendor, model_id="",
            base_url=_first(entry and entry.base_url, spec.default_base_url),
            api_key_env=_first(entry and entry.api_key_env, spec.api_key_env),
            timeout_seconds=_first(entry and entry.timeout_seconds, defaults.timeout_seconds),
            connect_timeout_seconds=_first(entry and entry.connect_timeout_seconds,
                                           defaults.connect_timeout_seconds),
            allow_insecure_http=entry is not None and entry.allow_insecure_http,
            **_transport(entry, defaults))
        _check_base_url(settings, "providers")
        configured = entry.api_key_env if entry is not None else None
        merged = _Merged(settings=settings, key_required=not spec.api_key_optional,
                         key_variables=_key_variables(configured, spec))
        variable, key = self._key(merged, model=None)
        if not key:
            return settings
        remember_secret(key)
        return attrs.evolve(settings, api_key=Secret(key), api_key_env=variable)

    def _key(self, merged: _Merged, *, model: str | None) -> tuple[str | None, str | None]:
        """The variable the key was found in and the key, or ``(None, None)`` when the vendor
        needs no key and none is set.

        :raises MissingApiKeyError: the vendor needs a key and every variable is unset, or
            the key holds a control character (see :meth:`Secret.from_env`).
        """
        if not merged.key_variables:
            return None, None
        environ = os.environ if self._environ is None else self._environ
        found = ((name, Secret.from_env(name, environ)) for name in merged.key_variables)
        try:
            variable, secret = next(((name, value) for name, value in found if value is not None),
                                    (merged.key_variables[0], None))
        except MissingApiKeyError as exc:
            raise exc.with_context(provider=merged.settings.provider, model=model) from None
        key = secret.reveal() if secret is not None else None
        if key and self._on_key_access is not None:
            self._on_key_access(provider=merged.settings.provider, variable=variable,
                                secret=key, model=model)
        if not key and merged.key_required:
            provider = merged.settings.provider
            raise MissingApiKeyError(
                f"{unset_phrase(merged.key_variables)}: export {variable}=... or set "
                f"providers.{provider}.api_key_env to the variable that holds the key",
                env_var=variable, provider=provider, model=model)
        return variable, key or None

    def available_models(self) -> list[str]:
        """Configured aliases and the catalog models of installed vendors, sorted."""
        installed = self._host.providers()
        names = set(self._config.models)
        names.update(alias for alias, info in self._host.catalog().items()
                     if info.provider in installed)
        return sorted(names)

    def describe(self) -> list[dict[str, str]]:
        """One row per available model, for ``agentflow models``.

        Each row has ``name``, ``provider``, ``vendor``, ``model_id`` and ``source``
        (``"config"`` or ``"catalog"``). Rows never fail: a model whose vendor is not
        installed shows the vendor it names.
        """
        rows = []
        for name in self.available_models():
            source = "config" if name in self._config.models else "catalog"
            try:
                merged = self._merged.get(name) or self._merged.setdefault(name, self._merge(name))
                provider, vendor = merged.settings.provider, merged.settings.vendor
                model_id = merged.settings.model_id
            except ConfigurationError:
                provider, vendor = self._route(name)
                model_id = self._model_id(name, self._config.models.get(name),
                                          self._host.catalog().get(name))
            rows.append({"name": name, "provider": provider, "vendor": vendor,
                         "model_id": model_id, "source": source})
        return rows

    def rate_limit(self, provider: str) -> RateLimitConfig | None:
        """The configured client-side rate limits of provider entry ``provider``, if any."""
        entry = self._config.providers.get(provider)
        return entry.rate_limit if entry is not None else None

    def model_rate_limit(self, name: str) -> RateLimitConfig | None:
        """The configured client-side rate limits of model alias ``name`` alone, if any."""
        model = self._config.models.get(name)
        return model.rate_limit if model is not None else None

    # merging -----------------------------------------------------------------------------

    def _route(self, name: str) -> tuple[str, str]:
        """The provider entry name and vendor of ``name`` (which must exist)."""
        model = self._config.models.get(name)
        info = self._host.catalog().get(name)
        ref = model.vendor if model is not None and model.vendor is not None else (
            info.provider if info is not None else None)
        if ref is None:
            raise ConfigurationError(
                f"model {name!r} has no vendor and is in no installed plugin's catalog; set "
                f"models.{name}.vendor to a provider entry or an installed vendor",
                model=name)
        entry = self._config.providers.get(ref)
        vendor = entry.vendor if entry is not None and entry.vendor is not None else ref
        return ref, vendor

    def _merge(self, name: str) -> _Merged:
        model = self._config.models.get(name)
        info = self._host.catalog().get(name)
        if model is None and info is None:
            raise self._not_found(name)
        provider, vendor = self._route(name)
        spec = self._spec(vendor, provider, name)
        entry = self._config.providers.get(provider)
        defaults = self._config.defaults
        retry = entry.retry_config if entry is not None else None
        breaker = entry.circuit_breaker if entry is not None else None
        settings = ModelSettings(
            name=name,
            provider=provider,
            vendor=vendor,
            model_id=self._model_id(name, model, info),
            base_url=_first(model and model.base_url, entry and entry.base_url,
                            spec.default_base_url),
            api_key_env=_first(entry and entry.api_key_env, spec.api_key_env),
            temperature=_first(model and model.temperature, defaults.temperature),
            top_p=_first(model and model.top_p, defaults.top_p),
            max_tokens=_first(model and model.max_tokens, defaults.max_tokens),
            supports_streaming=_first(model and model.supports_streaming,
                                      info and info.supports_streaming,
                                      "streaming" in spec.capabilities),
            timeout_seconds=_first(model and model.timeout_seconds,
                                   entry and entry.timeout_seconds, defaults.timeout_seconds),
            connect_timeout_seconds=_first(entry and entry.connect_timeout_seconds,
                                           defaults.connect_timeout_seconds),
            read_timeout_seconds=_first(entry and entry.read_timeout_seconds,
                                        defaults.read_timeout_seconds),
            stream_idle_timeout_seconds=_first(entry and entry.stream_idle_timeout_seconds,
                                               defaults.stream_idle_timeout_seconds),
            max_retries=_first(retry and retry.max_retries, defaults.max_retries),
            retry_delay_ms=_first(retry and retry.retry_delay_ms, defaults.retry_delay_ms),
            max_retry_delay_ms=_first(retry and retry.max_retry_delay_ms,
                                      defaults.max_retry_delay_ms),
            max_stream_chars=defaults.max_stream_chars,
            circuit_failure_threshold=_circuit_threshold(breaker, defaults.circuit_breaker),
            circuit_cooldown_seconds=_first(
                breaker and breaker.cooldown_seconds,
                defaults.circuit_breaker and defaults.circuit_breaker.cooldown_seconds,
                DEFAULT_CIRCUIT_COOLDOWN_SECONDS),
            fallbacks=model.fallbacks if model is not None else (),
            allow_insecure_http=entry is not None and entry.allow_insecure_http,
            **_transport(entry, defaults),
            pricing=_pricing(model.pricing if model is not None else None,
                             info or self._catalog_entry(vendor,
                                                         self._model_id(name, model, info))),
            options={**(info.options if info else {}), **(entry.options if entry else {}),
                     **(model.options if model else {})},
        )
        _check_base_url(settings, "models" if model and model.base_url else "providers")
        configured = entry.api_key_env if entry is not None else None
        return _Merged(settings=settings, key_required=not spec.api_key_optional,
                       key_variables=_key_variables(configured, spec))

    def _catalog_entry(self, vendor: str, model_id: str) -> ModelInfo | None:
        """The catalog entry of ``vendor`` for the vendor's model ``model_id``, if any: an
        alias of a catalog model (``model_id: gpt-4o-mini``) takes its price from there."""
        return next((info for info in self._host.catalog().values()
                     if info.provider == vendor and (info.model_id or info.name) == model_id),
                    None)

    @staticmethod
    def _model_id(name: str, model: ModelConfig | None, info: ModelInfo | None) -> str:
        if model is not None and model.model_id is not None:
            return model.model_id
        if info is not None:
            return info.model_id or info.name
        return name

    def _spec(self, vendor: str, provider: str, name: str | None) -> ProviderSpec:
        installed = self._host.providers()
        spec = installed.get(vendor)
        if spec is not None:
            return spec
        names = ", ".join(sorted(installed)) or "none"
        close = did_you_mean(vendor, installed)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        user = f"model {name!r}" if name is not None else f"provider entry {provider!r}"
        phrase = install_phrase(vendor, installed)
        advice = find_plugin(any_installed=bool(installed))
        add = (f" To use it: {phrase}." if phrase is not None else
               f" {advice[0].upper()}{advice[1:]}.")
        raise UnsupportedProviderError(
            f"no installed plugin provides vendor {vendor!r} (used by {user}); "
            f"installed vendors: {names}.{hint}{add}", provider=provider, model=name)

    def _not_found(self, name: str) -> ModelNotFoundError:
        known = self.available_models()
        close = did_you_mean(name, known, limit=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        where = f"in {self._config.source}" if self._config.source else "in the configuration"
        advice = ("Run `agentflow models` to list the available models." if self._host.providers()
                  else f"{NO_VENDOR_PLUGIN[0].upper()}{NO_VENDOR_PLUGIN[1:]}.")
        return ModelNotFoundError(
            f"no model named {name!r} {where} or in the installed plugins' catalogs.{hint} "
            f"{advice}", suggestions=close, model=name)


#: The circuit breaker when no configuration says otherwise.
DEFAULT_CIRCUIT_FAILURE_THRESHOLD = 5
DEFAULT_CIRCUIT_COOLDOWN_SECONDS = 30.0


def _circuit_threshold(own: CircuitBreakerConfig | None,
                       defaults: CircuitBreakerConfig | None) -> int | None:
    """The failure threshold in force, or None when the breaker is off."""
    enabled = _first(own and own.enabled, defaults and defaults.enabled, True)
    if not enabled:
        return None
    return int(_first(own and own.failure_threshold, defaults and defaults.failure_threshold,
                      DEFAULT_CIRCUIT_FAILURE_THRESHOLD))


def _key_variables(configured: str | None, spec: ProviderSpec) -> tuple[str, ...]:
    """The variables a provider's key may be in, first set one wins: the configured variable
    alone, else the vendor's and its fallbacks."""
    if configured is not None:
        return (configured,)
    if spec.api_key_env is not None:
        return (spec.api_key_env, *spec.api_key_env_fallbacks)
    return ()


def _transport(entry: ProviderConfig | None, defaults: Defaults) -> dict[str, Any]:
    """TLS trust, proxy use and HTTP stack: the provider entry's, else the defaults'."""
    return {"ca_bundle": _first(entry and entry.ca_bundle, defaults.ca_bundle),
            "trust_env": bool(_first(entry and entry.trust_env, defaults.trust_env)),
            "transport": _first(entry and entry.transport, defaults.transport)}


def _pricing(configured: PricingConfig | None, info: ModelInfo | None) -> Pricing | None:
    """The model's price: the configuration's, else the catalog's, else unknown."""
    if configured is not None:
        return Pricing(input_per_million=configured.input_per_million,
                       output_per_million=configured.output_per_million,
                       cached_input_per_million=configured.cached_input_per_million)
    return info.pricing if info is not None else None


def _first(*values: object) -> Any:
    """The first value that is not None (an unset layer); ``0`` and ``False`` count."""
    for value in values:
        if value is not None:
            return value
    return None


def _check_base_url(settings: ModelSettings, level: Literal["models", "providers"]) -> None:
    key = (f"models.{settings.name}.base_url" if level == "models"
           else f"providers.{settings.provider}.base_url")
    problem = base_url_problem(settings.base_url)
    if problem is not None:
        raise ConfigurationError(f"{key} {problem}", provider=settings.provider,
                                 model=settings.name)
    host = insecure_host(settings.base_url)
    if host is not None and not settings.allow_insecure_http:
        raise ConfigurationError(f"{key}: {insecure_http_message(host, settings.provider)}",
                                 provider=settings.provider, model=settings.name)
