"""Health checks: does each provider answer, and does it accept the API key?

:func:`check_providers` asks every provider, at once, for the cheapest authenticated request
its vendor's API has (the plugin's ``agentflow_check_provider`` hook, usually listing models),
sends it through the provider's pooled HTTP client with a time limit, and says what it found
in one :class:`ProviderHealth` per provider. A provider's failure is a result, never an
exception. ``agentflow doctor`` prints the results; ``AgentFlow.check_providers()`` returns
them.

No result, log record or message holds an API key: the key travels in the request only, and
every detail is passed through :func:`agentflow._observe.logs.redact`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import anyio
import attrs

from agentflow._http.body import BodyTooLargeError, read_body, with_body
from agentflow._http.errors import map_http_error, reason, tls_failure
from agentflow._observe.logs import redact
from agentflow.errors import ConfigurationError, LLMError, MissingApiKeyError

if TYPE_CHECKING:
    import httpx

    from agentflow._runtime.runtime import Runtime
    from agentflow.types import ModelSettings

__all__ = ["STATUSES", "HealthStatus", "ProviderHealth", "check_providers", "providers_to_check"]

logger = logging.getLogger("agentflow.health")

HealthStatus = Literal["ok", "slow", "missing_key", "key_rejected", "unreachable", "tls_error",
                       "timeout", "error", "misconfigured", "unsupported"]
#: Every status, healthy ones first.
STATUSES: tuple[HealthStatus, ...] = (
    "ok", "slow", "unsupported", "missing_key", "key_rejected", "unreachable", "tls_error",
    "timeout", "error", "misconfigured")
_USABLE = frozenset({"ok", "slow"})
_NOT_FAILED = frozenset({"ok", "slow", "unsupported"})

#: Default limits of :func:`check_providers`, in seconds.
DEFAULT_TIMEOUT = 10.0
DEFAULT_SLOW_AFTER = 2.0
#: The most of a health check's answer that is read (decoded); a larger one is an error.
MAX_HEALTH_BYTES = 1024 * 1024


@attrs.frozen(kw_only=True)
class ProviderHealth:
    """What checking one provider found.

    ``provider`` is the provider entry (``providers.<name>``, or an installed vendor's name),
    ``vendor`` the plugin provider that speaks its format. ``status`` is one of
    :data:`STATUSES`; ``detail`` one sentence saying what is wrong and what to do (or what
    worked). ``latency_ms`` is the check request's round trip, when an answer came.
    ``api_key_env`` names the variable the key is (or should be) in; the key itself is never
    kept. ``status_code`` is the HTTP status of the answer, if any. ``required`` is false for a
    provider that nobody configured and whose key is unset (checked only because its plugin is
    installed): ``agentflow doctor`` does not fail for it.
    """

    provider: str
    vendor: str
    status: HealthStatus
    detail: str
    latency_ms: float | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    status_code: int | None = None
    required: bool = True

    @property
    def usable(self) -> bool:
        """Whether the provider answered and accepted the key (``ok`` or ``slow``)."""
        return self.status in _USABLE

    @property
    def failed(self) -> bool:
        """Whether the provider is known not to work: not usable, and not merely unchecked
        (``unsupported``)."""
        return self.status not in _NOT_FAILED

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data (``agentflow doctor --json``), with ``usable``."""
        return {**attrs.asdict(self), "usable": self.usable}


async def check_providers(runtime: Runtime, *, timeout: float = DEFAULT_TIMEOUT,
                          slow_after: float = DEFAULT_SLOW_AFTER,
                          providers: Iterable[str] | None = None) -> list[ProviderHealth]:
    """Check every provider concurrently; one result each, in the providers' order.

    :param runtime: whose configuration, plugins and connection pools to use.
    :param timeout: the limit of each check in seconds, connecting included; a check that
        takes longer is reported as ``timeout``.
    :param slow_after: an answer slower than this (seconds) is reported as ``slow``, which is
        still usable.
    :param providers: provider entries or vendor names to check; by default those of
        :func:`providers_to_check`.

    Never raises for a provider's failure (an unloadable configuration still raises
    :class:`~agentflow.errors.ConfigurationError`).
    """
    if timeout <= 0 or slow_after < 0:
        raise ValueError("timeout must be > 0 and slow_after >= 0 seconds")
    targets = ([(name, False) for name in dict.fromkeys(providers)] if providers is not None
               else [(name, not named) for name, named in _targets(runtime)])
    results: list[ProviderHealth | None] = [None] * len(targets)

    async def check(index: int, provider: str, implicit: bool) -> None:
        try:
            result = await _check(runtime, provider, timeout=timeout, slow_after=slow_after)
        except Exception as exc:  # a broken plugin must not hide the other providers' results
            logger.debug("health check of %s failed", provider, exc_info=exc)
            result = _result(runtime, provider, "error", (
                f"the check itself failed ({type(exc).__name__}: {exc}); report it to the "
                "authors of the vendor's plugin"))
        if implicit:  # installed but not configured: it matters only if its key is set
            result = attrs.evolve(result, required=_key_is_set(runtime, provider))
        logger.debug("health of provider %s: %s (%s)", provider, result.status, result.detail)
        results[index] = result

    async with anyio.create_task_group() as group:
        for index, (provider, implicit) in enumerate(targets):
            group.start_soon(check, index, provider, implicit)
    return [result for result in results if result is not None]


def providers_to_check(runtime: Runtime) -> list[str]:
    """The providers :func:`check_providers` checks by default: those the active configuration
    names (``providers:`` entries and the providers its models use), or, when it names none,
    every installed vendor."""
    return [name for name, _ in _targets(runtime)]


def _targets(runtime: Runtime) -> list[tuple[str, bool]]:
    """Each provider to check, and whether the configuration names it."""
    config = runtime.registry.config
    catalog = runtime.host.catalog()
    named = dict.fromkeys(config.providers)
    for alias, model in config.models.items():
        info = catalog.get(alias)
        ref = model.vendor if model.vendor is not None else (info.provider if info else None)
        if ref is not None:
            named[ref] = None
    if named:
        return [(name, True) for name in named]
    return [(name, False) for name in sorted(runtime.host.providers())]


def _key_is_set(runtime: Runtime, provider: str) -> bool:
    try:
        return runtime.registry.provider_settings(provider).api_key is not None
    except LLMError:
        return False


# one provider -----------------------------------------------------------------------------------


async def _check(runtime: Runtime, provider: str, *, timeout: float,
                 slow_after: float) -> ProviderHealth:
    try:
        settings = runtime.registry.provider_settings(provider)
    except MissingApiKeyError as exc:
        return _result(runtime, provider, "missing_key", exc.message, api_key_env=exc.env_var)
    except ConfigurationError as exc:
        return _result(runtime, provider, "misconfigured", exc.message)
    request: httpx.Request | None = runtime.host.hook.agentflow_check_provider(
        vendor=settings.vendor, settings=settings)
    if request is None:
        key = "its key is set" if settings.api_key is not None else "it needs no key"
        return _result(runtime, provider, "unsupported", settings=settings, detail=(
            f"not checked: the plugin of vendor {settings.vendor!r} has no health check "
            f"(agentflow_check_provider); {key}, so try a request"))
    return await _probe(runtime, settings, request, timeout=timeout, slow_after=slow_after)


async def _probe(runtime: Runtime, settings: ModelSettings, request: httpx.Request, *,
                 timeout: float, slow_after: float) -> ProviderHealth:
    import httpx

    pool = runtime.pools.client_for(settings)
    connect = min(timeout, settings.connect_timeout_seconds)
    request.extensions["timeout"] = httpx.Timeout(timeout, connect=connect).as_dict()
    host = request.url.host
    started = anyio.current_time()
    try:
        with anyio.fail_after(timeout):
            response = await pool.send(request)
            try:
                response = with_body(response, await read_body(response, MAX_HEALTH_BYTES))
            finally:
                await response.aclose()
    except TimeoutError:
        return _timed_out(runtime, settings, f"no complete answer within {timeout:g} s")
    except BodyTooLargeError:
        return _result(runtime, settings.provider, "error", settings=settings, detail=(
            f"{settings.base_url} answered the health check with more than "
            f"{MAX_HEALTH_BYTES // 1024} KiB (decoded), so base_url probably points at "
            "something else than the API"))
    except httpx.TimeoutException as exc:
        phase = "connection" if isinstance(exc, httpx.ConnectTimeout) else "answer"
        limit = connect if isinstance(exc, httpx.ConnectTimeout) else timeout
        return _timed_out(runtime, settings, f"no {phase} within {limit:g} s")
    except httpx.HTTPError as exc:
        return _transport_failure(runtime, settings, exc, host)
    latency = (anyio.current_time() - started) * 1000
    return _classify(runtime, settings, response, latency, slow_after)


def _timed_out(runtime: Runtime, settings: ModelSettings, what: str) -> ProviderHealth:
    return _result(runtime, settings.provider, "timeout", settings=settings, detail=(
        f"{what} from {settings.base_url}; the provider may be down or overloaded, or a "
        "firewall drops the traffic: retry with a larger --timeout, or check the network"))


def _transport_failure(runtime: Runtime, settings: ModelSettings, exc: httpx.HTTPError,
                       host: str) -> ProviderHealth:
    import httpx

    tls = tls_failure(exc)
    if tls is not None:
        import ssl

        if isinstance(tls, ssl.SSLCertVerificationError):
            what = f"the certificate of {host} is not trusted ({tls.verify_message})"
        else:
            what = f"the TLS handshake with {host} failed ({tls.reason or tls})"
        return _result(runtime, settings.provider, "tls_error", settings=settings, detail=(
            f"{what}; check base_url and the system clock, and for a private CA or a proxy "
            f"that intercepts TLS set providers.{settings.provider}.ca_bundle"))
    if isinstance(exc, httpx.ConnectError):
        return _result(runtime, settings.provider, "unreachable", settings=settings, detail=(
            f"cannot connect to {settings.base_url} ({reason(exc)}); check base_url, the "
            "network and that the server is running"))
    # everything else as a call would report it: one mapping of httpx's errors
    return _result(runtime, settings.provider, "error", settings=settings,
                   detail=map_http_error(exc, settings).message)


def _classify(runtime: Runtime, settings: ModelSettings, response: httpx.Response,
              latency: float, slow_after: float) -> ProviderHealth:
    status = response.status_code
    where = f"{settings.provider} at {settings.base_url}"

    def result(health: HealthStatus, detail: str) -> ProviderHealth:
        return _result(runtime, settings.provider, health, detail, settings=settings,
                       latency_ms=round(latency, 1), status_code=status)

    if 200 <= status < 300:
        try:
            json.loads(response.content)
        except ValueError:
            return result("error", f"{where} answered HTTP {status} but not with JSON, so "
                          "base_url probably points at something else than the API")
        if latency > slow_after * 1000:
            return result("slow", f"answered and accepted the key, but took "
                          f"{latency / 1000:.1f} s (over {slow_after:g} s): requests will be "
                          "slow; check the network or the provider's status page")
        return result("ok", "answered and accepted the key" if settings.api_key is not None
                      else "answered (no key needed)")
    said = _vendor_words(runtime, settings, response)
    variable = settings.api_key_env
    if status in (400, 401, 403):
        if settings.api_key is None:
            return result("missing_key", f"{where} asks for an API key (HTTP {status}: {said})"
                          f"; export {variable or 'the key variable'}=...")
        return result("key_rejected", f"{where} refused the key in {variable} (HTTP {status}: "
                      f"{said}); check that it is current and meant for this endpoint")
    if 300 <= status < 400:
        location = response.headers.get("location", "elsewhere")
        return result("error", f"{where} redirects to {location} (HTTP {status}); set "
                      "base_url to the address the API is served at")
    if status == 404:
        return result("error", f"{where} has no such endpoint (HTTP 404: {said}); check "
                      "base_url")
    if status == 429:
        return result("error", f"{where} is rate limiting or out of quota (HTTP 429: {said}); "
                      "the key works, but requests fail until the limit resets")
    if status >= 500:
        return result("error", f"{where} failed on its side (HTTP {status}: {said}); retry "
                      "later, or see the provider's status page")
    return result("error", f"{where} answered HTTP {status} ({said}); check base_url, and "
                  "that the plugin is up to date")


def _vendor_words(runtime: Runtime, settings: ModelSettings, response: httpx.Response) -> str:
    """The vendor's own words about an error answer, as its plugin reads them."""
    try:
        error = runtime.host.hook.agentflow_map_error(vendor=settings.vendor,
                                                      response=response)
    except Exception:  # a plugin that cannot read the body must not hide the status
        error = None
    said = getattr(error, "vendor_message", None) or (error.message if error else None)
    if not said:
        said = response.text[:200].strip() or response.reason_phrase
    return " ".join(str(said).split())[:300]


def _result(runtime: Runtime, provider: str, status: HealthStatus, detail: str, *,
            settings: ModelSettings | None = None, api_key_env: str | None = None,
            latency_ms: float | None = None, status_code: int | None = None) -> ProviderHealth:
    """A result, with the vendor and base URL filled in and the detail redacted."""
    base_url: str | None
    if settings is not None:
        vendor, base_url = settings.vendor, settings.base_url
        api_key_env = api_key_env or settings.api_key_env
        if settings.api_key is not None:
            detail = detail.replace(settings.api_key.reveal(), "***")
    else:
        vendor, base_url, variable = _describe(runtime, provider)
        api_key_env = api_key_env or variable
    return ProviderHealth(provider=provider, vendor=vendor, status=status, detail=redact(detail),
                          latency_ms=latency_ms, base_url=base_url, api_key_env=api_key_env,
                          status_code=status_code)


def _describe(runtime: Runtime, provider: str) -> tuple[str, str | None, str | None]:
    """The vendor, base URL and key variable a provider entry would use, without resolving
    (and so without failing on) anything."""
    entry = runtime.registry.config.providers.get(provider)
    vendor = entry.vendor if entry is not None and entry.vendor is not None else provider
    spec = runtime.host.providers().get(vendor)
    base_url = entry.base_url if entry is not None and entry.base_url else (
        spec.default_base_url if spec is not None else None)
    variable = entry.api_key_env if entry is not None and entry.api_key_env else (
        spec.api_key_env if spec is not None else None)
    return vendor, base_url, variable

