"""The configuration file's shape: frozen attrs classes, one per section.

``models`` names the aliases users pass to ``AgentFlow.model()``; ``providers`` configures the
endpoints that speak a vendor's wire format; ``defaults`` applies to every model. Each key is a
:func:`~agentflow.config._fields.setting` whose documentation and limits also drive the checks
and the JSON Schema. Every field is optional: an empty file is a valid configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from agentflow.config._fields import non_empty, setting
from agentflow.config._secrets import api_key_env_problem
from agentflow.config._source import SourceMap
from agentflow.config._urls import base_url_problem

if TYPE_CHECKING:
    from agentflow.errors import ConfigurationError

__all__ = ["CircuitBreakerConfig", "Config", "Defaults", "ModelConfig", "ObservabilityConfig",
           "PricingConfig", "ProviderConfig", "RateLimitConfig", "RetryConfig"]

_BASE_URL_SCHEMA = {"format": "uri", "pattern": "^https?://"}
_ENV_NAME_SCHEMA = {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "examples": ["OPENAI_API_KEY"]}


def _base_url(doc: str) -> Any:
    return setting(doc, check=base_url_problem, schema=_BASE_URL_SCHEMA)


def _temperature(doc: str) -> Any:
    return setting(doc, minimum=0.0, maximum=2.0)


def _top_p(doc: str) -> Any:
    return setting(doc, minimum=0.0, maximum=1.0)


def _max_tokens(doc: str) -> Any:
    return setting(doc, above=0)


def _ca_bundle(doc: str) -> Any:
    return setting(doc, check=non_empty, schema={"examples": ["certs/corporate-ca.pem"]})


#: The HTTP stacks a provider's requests may go over: httpx's own, or aiohttp's (under
#: asyncio, with the agentflow-aiohttp plugin installed).
TRANSPORTS = ("httpx", "aiohttp")


def _transport_problem(value: Any) -> str | None:
    if value in TRANSPORTS:
        return None
    return f"must be one of {', '.join(map(repr, TRANSPORTS))}, got {value!r}"


def _transport(doc: str, default: str | None = None) -> Any:
    return setting(doc, default=default, check=_transport_problem,
                   schema={"enum": list(TRANSPORTS)})


def _read_timeout(doc: str) -> Any:
    return setting(doc, above=0)


def _fallback_names(names: Any) -> str | None:
    if any(not name.strip() for name in names):
        return "model names must not be empty"
    repeated = sorted({name for name in names if names.count(name) > 1})
    return f"{', '.join(map(repr, repeated))} listed twice" if repeated else None


@attrs.frozen(kw_only=True)
class ModelConfig:
    """One model alias (``models.<alias>``): which provider serves it, and its parameters."""

    vendor: str | None = setting(
        "The provider entry (a key of `providers`) or installed vendor that serves this model. "
        "Optional for models in an installed plugin's catalog.", check=non_empty)
    model_id: str | None = setting(
        "The vendor's own model id. Defaults to the catalog's id for this alias, else the alias.",
        check=non_empty)
    base_url: str | None = _base_url(
        "Base URL for this model only, overriding the provider's.")
    temperature: float | None = _temperature(
        "Sampling temperature, 0 to 2 (a vendor may allow a narrower range).")
    top_p: float | None = _top_p("Nucleus sampling probability mass, 0 to 1.")
    max_tokens: int | None = _max_tokens("Most tokens to generate per answer (> 0).")
    supports_streaming: bool | None = setting(
        "Whether the model streams. Defaults to the catalog's answer, else the vendor's.")
    timeout_seconds: float | None = setting(
        "Total time limit of one request in seconds (> 0), overriding provider and defaults.",
        above=0)
    fallbacks: tuple[str, ...] = setting(
        "Models to try, in order, when this one fails with a transient error after its "
        "retries, or its provider's circuit is open. Their own fallbacks are not followed.",
        factory=tuple, check=_fallback_names, schema={"uniqueItems": True})
    rate_limit: RateLimitConfig | None = setting(  # noqa: RUF009
        "Client-side limits for this model alone, on top of its provider's.")
    pricing: PricingConfig | None = setting(  # noqa: RUF009
        "What this model costs, for the cost figures of metrics; overrides the catalog's "
        "price.")
    options: Mapping[str, Any] = setting(
        "Free-form vendor options, merged over the catalog's options and passed to the "
        "vendor plugin.", factory=dict)


@attrs.frozen(kw_only=True)
class RateLimitConfig:
    """Client-side limits for one provider (``providers.<name>.rate_limit``)."""

    requests_per_minute: int | None = setting("Most requests started per minute (> 0).",
                                              above=0)
    tokens_per_minute: int | None = setting("Most tokens (prompt + answer) per minute (> 0).",
                                            above=0)
    max_concurrent: int | None = setting("Most requests in flight at once (> 0).", above=0)
    strict_window: bool = setting(
        "Read requests_per_minute strictly: no more than N requests start in any 60-second "
        "window (a sliding log), instead of a bucket of N refilled continuously.",
        default=False)


@attrs.frozen(kw_only=True)
class PricingConfig:
    """A model's price in US dollars per million tokens (``models.<alias>.pricing``)."""

    input_per_million: float = setting(
        "Dollars per million prompt tokens (>= 0).", minimum=0, required=True)
    output_per_million: float = setting(
        "Dollars per million answer tokens (>= 0).", minimum=0, required=True)
    cached_input_per_million: float | None = setting(
        "Dollars per million prompt tokens served from the vendor's cache (>= 0; default: the "
        "input price).", minimum=0)


@attrs.frozen(kw_only=True)
class ObservabilityConfig:
    """What execution events carry (``observability``)."""

    include_text: bool = setting(
        "Put prompt and answer text in execution events (off by default: events go to "
        "exporters and logs).", default=False)


@attrs.frozen(kw_only=True)
class CircuitBreakerConfig:
    """When to stop sending to a failing provider (``providers.<name>.circuit_breaker``)."""

    enabled: bool | None = setting("Whether the circuit breaker is on (default: on).")
    failure_threshold: int | None = setting(
        "Consecutive failures (connection errors, timeouts, 5xx) that open the circuit "
        "(>= 1; default 5).", minimum=1)
    cooldown_seconds: float | None = setting(
        "How long an open circuit fails fast before one probe request is let through "
        "(> 0; default 30).", above=0)


@attrs.frozen(kw_only=True)
class RetryConfig:
    """Retries of failed requests for one provider (``providers.<name>.retry_config``)."""

    max_retries: int | None = setting(
        "Retries after the first attempt of a request that failed transiently (>= 0).",
        minimum=0)
    retry_delay_ms: int | None = setting(
        "Base delay before a retry in milliseconds (>= 0); grows exponentially with jitter.",
        minimum=0)
    max_retry_delay_ms: int | None = setting(
        "Longest wait before a retry in milliseconds (>= 0); a Retry-After asking for longer "
        "ends the retries.", minimum=0)


@attrs.frozen(kw_only=True)
class ProviderConfig:
    """One provider entry (``providers.<name>``): an endpoint speaking a vendor's format.

    The entry name is what models refer to with ``vendor:``. Two entries may share a vendor,
    for example two OpenAI-compatible servers.
    """

    vendor: str | None = setting(
        "The installed vendor (plugin provider) whose wire format this endpoint speaks. "
        "Defaults to the entry's name.", check=non_empty)
    api_key_env: str | None = setting(
        "Name of the environment variable holding the API key. Defaults to the vendor's "
        "variable (e.g. OPENAI_API_KEY). Keys are never written in the file.",
        check=api_key_env_problem, schema=_ENV_NAME_SCHEMA)
    base_url: str | None = _base_url(
        "Base URL of the API. Defaults to the vendor's public endpoint.")
    timeout_seconds: float | None = setting(
        "Total time limit of one request in seconds (> 0).", above=0)
    connect_timeout_seconds: float | None = setting(
        "Time limit for opening a connection in seconds (> 0).", above=0)
    read_timeout_seconds: float | None = _read_timeout(
        "Longest wait for the next bytes of an answer in seconds (> 0).")
    stream_idle_timeout_seconds: float | None = _read_timeout(
        "Longest wait for the next event of a stream in seconds (> 0).")
    allow_insecure_http: bool = setting(
        "Allow plain http to a host other than this machine (sends the key unencrypted).",
        default=False)
    ca_bundle: str | None = _ca_bundle(
        "PEM file of the certificates that verify this provider's TLS certificate, for private "
        "CAs and inspecting proxies (relative to this file's folder). Verification itself is "
        "never turned off.")
    trust_env: bool | None = setting(
        "Use proxies from HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY in the environment "
        "(default: defaults.trust_env, off).")
    transport: str | None = _transport(
        "The HTTP stack of this provider's requests: httpx (agentflow's own) or aiohttp "
        "(faster; needs agentflow-aiohttp, asyncio only). Default: defaults.transport.")
    # setting() returns an attrs field, not a shared default value (RUF009 cannot know that).
    rate_limit: RateLimitConfig | None = setting("Client-side rate limits.")  # noqa: RUF009
    retry_config: RetryConfig | None = setting("Retry policy for this provider.")  # noqa: RUF009
    circuit_breaker: CircuitBreakerConfig | None = setting(  # noqa: RUF009
        "Circuit breaker for this provider.")
    options: Mapping[str, Any] = setting(
        "Free-form vendor options for every model of this entry: merged over the catalog's "
        "options, under each model's own (e.g. api: responses for agentflow-openai).",
        factory=dict)


@attrs.frozen(kw_only=True)
class Defaults:
    """Settings for every model unless a model or its provider says otherwise."""

    timeout_seconds: float = setting(
        "Total time limit of one request in seconds (> 0).", default=60.0, above=0)
    connect_timeout_seconds: float = setting(
        "Time limit for opening a connection in seconds (> 0).", default=10.0, above=0)
    read_timeout_seconds: float | None = _read_timeout(
        "Longest wait for the next bytes of an answer in seconds (> 0; default: the total "
        "time limit).")
    stream_idle_timeout_seconds: float | None = _read_timeout(
        "Longest wait for the next event of a stream in seconds (> 0; default: no limit "
        "beyond the read limit).")
    max_retries: int = setting(
        "Retries after the first attempt of a request that failed transiently (>= 0).",
        default=2, minimum=0)
    retry_delay_ms: int = setting(
        "Base delay before a retry in milliseconds (>= 0).", default=500, minimum=0)
    max_retry_delay_ms: int = setting(
        "Longest wait before a retry in milliseconds (>= 0).", default=60_000, minimum=0)
    max_stream_chars: int = setting(
        "Most characters of text one streamed answer may bring (> 0); a stream that sends "
        "more ends with StreamingError.", default=32 * 1024 * 1024, above=0)
    circuit_breaker: CircuitBreakerConfig | None = setting(  # noqa: RUF009
        "Circuit breaker of every provider.")
    ca_bundle: str | None = _ca_bundle(
        "PEM file of the certificates that verify every provider's TLS certificate (relative "
        "to this file's folder; default: the public roots of certifi).")
    trust_env: bool = setting(
        "Use proxies from HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY in the environment.",
        default=False)
    transport: str = _transport(
        "The HTTP stack of every provider's requests: httpx (agentflow's own) or aiohttp "
        "(faster; needs agentflow-aiohttp, asyncio only; under trio httpx is used).",
        default="httpx")
    temperature: float | None = _temperature("Default sampling temperature, 0 to 2.")
    top_p: float | None = _top_p("Default nucleus sampling probability mass, 0 to 1.")
    max_tokens: int | None = _max_tokens("Default most tokens per answer (> 0).")


@attrs.frozen(kw_only=True)
class Config:
    """A whole configuration: model aliases, provider entries and defaults.

    ``Config()`` is valid and means "the installed plugins' catalogs only". ``source`` is the
    file it was read from, if any; it takes no part in equality, nor do the positions of the
    file's keys that :meth:`setting_error` points at.
    """

    models: Mapping[str, ModelConfig] = setting(
        "Model aliases: the names users pass to AgentFlow.model().", factory=dict)
    providers: Mapping[str, ProviderConfig] = setting(
        "Provider entries: endpoints that models refer to with `vendor`.", factory=dict)
    defaults: Defaults = setting("Settings for every model.", factory=Defaults)  # noqa: RUF009
    observability: ObservabilityConfig = setting(  # noqa: RUF009
        "What execution events carry.", factory=ObservabilityConfig)
    plugins: Mapping[str, Mapping[str, Any]] = setting(
        "Settings of installed plugins, one mapping per plugin (plugins.prometheus, "
        "plugins.guard, ...); each plugin documents and checks its own keys.", factory=dict,
        schema={"additionalProperties": {"type": ["object", "null"]}})
    source: Path | None = attrs.field(default=None, eq=False)
    _positions: SourceMap | None = attrs.field(default=None, eq=False, repr=False)

    def setting_error(self, path: Sequence[str | int], message: str, *,
                      anchor: Literal["key", "value"] = "value") -> ConfigurationError:
        """A :class:`~agentflow.errors.ConfigurationError` about the setting at ``path``, at its
        line and column when this configuration was read from a file, for plugins refusing
        their settings in ``agentflow_configure``::

            raise config.setting_error(("plugins", "guard", "max_prompt_chars"),
                                       "must be greater than 0, got 0")
            # agentflow.yml:4:23: plugins.guard.max_prompt_chars: must be greater than 0, got 0

        ``anchor="key"`` points at the key rather than its value (an unknown key). A path the
        file does not have is placed at its nearest ancestor that it has. The error's
        ``issues`` holds the located :class:`~agentflow.config.Issue`.
        """
        from agentflow.config.report import Issue
        from agentflow.errors import ConfigurationError

        dotted = ".".join(str(step) for step in path)
        if self.source is None or self._positions is None:
            return ConfigurationError(f"{dotted}: {message}")
        line, column = self._positions.locate(tuple(path), anchor)
        issue = Issue(file=str(self.source), path=dotted, line=line, column=column,
                      message=message)
        return ConfigurationError(str(issue), issues=(issue,))
