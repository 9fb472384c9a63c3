"""The runtime's rate limiters and circuit breakers, made on first use.

Limiters exist per provider entry and per model alias that configures limits, and per event
loop (their concurrency slots belong to one loop, and they keep time by its clock, the one
their waits sleep on); breakers exist per provider entry, shared by every loop of the process,
and keep time by ``time.monotonic``. A new configuration starts a new set, adopting the
limiters and breakers whose settings it did not change.

When a plugin provides a limit store (the ``agentflow_limit_store`` hook), limiters and
breakers keep their state there instead: one per provider entry and model for every loop (the
store serves them all), shared with every process that uses the same store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Union

import anyio

from agentflow._http.transport import current_loop_token
from agentflow._limits.breaker import CircuitBreaker, Probe
from agentflow._limits.rates import Permit, RequestLimiter

if TYPE_CHECKING:
    from agentflow._limits.shared import StoreBreaker, StoreLimiter, StorePermit, StoreProbe
    from agentflow._runtime.registry import ModelRegistry
    from agentflow.config import RateLimitConfig
    from agentflow.limitstore import LimitStore
    from agentflow.types import ModelSettings

__all__ = ["Admission", "Limits"]

#: What an attempt passes: an in-process limiter or breaker, or one over a plugin's store.
Limiter = Union["RequestLimiter", "StoreLimiter"]
Breaker = Union["CircuitBreaker", "StoreBreaker"]
Passage = Union["Probe", "StoreProbe"]


class Limits:
    """Limiters and breakers for one configuration (``Runtime.limits``)."""

    def __init__(self, registry: ModelRegistry, *, clock: Callable[[], float] = time.monotonic,
                 on_circuit_change: Callable[[str, str, str, str], None] | None = None,
                 store: LimitStore | None = None) -> None:
        self._registry = registry
        self._clock = clock
        self._on_change = on_circuit_change
        self.store = store
        self._limiters: dict[tuple[str, str, object], Limiter] = {}
        self._unlimited_models: set[str] = set()
        # (provider entry, base URL, model id) -> its breaker: one per endpoint
        self._breakers: dict[tuple[str, str, str], Breaker] = {}

    def provider_limiter(self, settings: ModelSettings) -> Limiter:
        """The limiter of the settings' provider entry, for the running loop."""
        key = ("provider", settings.provider, self._loop())
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = self._limiter(
                f"provider:{settings.provider}", self._registry.rate_limit(settings.provider))
        return limiter

    def model_limiter(self, settings: ModelSettings) -> Limiter | None:
        """The limiter of the model alone, when its configuration sets one."""
        if settings.name in self._unlimited_models:
            return None
        key = ("model", settings.name, self._loop())
        limiter = self._limiters.get(key)
        if limiter is None:
            config = self._registry.model_rate_limit(settings.name)
            if config is None:
                self._unlimited_models.add(settings.name)
                return None
            limiter = self._limiters[key] = self._limiter(f"model:{settings.name}", config)
        return limiter

    def _loop(self) -> object:
        # A store serves every loop; an in-process limiter belongs to one.
        return None if self.store is not None else current_loop_token()

    def _limiter(self, scope: str, config: RateLimitConfig | None) -> Limiter:
        if self.store is None:
            return RequestLimiter.of(config, clock=anyio.current_time)
        from agentflow._limits.shared import StoreLimiter
        from agentflow.limitstore import LimitScope

        limits = ({} if config is None else
                  {"requests_per_minute": config.requests_per_minute,
                   "tokens_per_minute": config.tokens_per_minute,
                   "max_concurrent": config.max_concurrent})
        return StoreLimiter(self.store, LimitScope(key=scope, **limits))

    def limiters(self, settings: ModelSettings) -> list[Limiter]:
        """The limiters an attempt of ``settings`` passes: the model's own first, if any,
        then its provider's."""
        model = self.model_limiter(settings)
        provider = self.provider_limiter(settings)
        return [provider] if model is None else [model, provider]

    def breaker(self, settings: ModelSettings) -> Breaker | None:
        """The circuit breaker of the settings' endpoint: its provider entry, base URL and
        model (``None`` when turned off). One model failing (at its own base URL, say) does not
        open the circuit of the provider's other models, as routers key cool-downs by
        deployment."""
        threshold = settings.circuit_failure_threshold
        if threshold is None:
            return None
        key = (settings.provider, settings.base_url, settings.model_id)
        breaker = self._breakers.get(key)
        if breaker is None:
            provider = settings.provider
            endpoint = f"{settings.model_id} at {settings.base_url}"
            on_change = self._on_change

            def changed(old: str, new: str) -> None:
                if on_change is not None:
                    on_change(provider, endpoint, old, new)

            breaker = self._breakers[key] = self._breaker(
                key, threshold, settings.circuit_cooldown_seconds, changed)
        return breaker

    def _breaker(self, key: tuple[str, str, str], threshold: int, cooldown: float,
                 changed: Callable[[str, str], None]) -> Breaker:
        provider, base_url, model_id = key
        if self.store is None:
            return CircuitBreaker(provider, failure_threshold=threshold,
                                  cooldown_seconds=cooldown, clock=self._clock,
                                  on_change=changed, endpoint=f"{model_id} at {base_url}")
        from agentflow._limits.shared import StoreBreaker
        from agentflow.limitstore import CircuitScope

        return StoreBreaker(self.store, CircuitScope(
            key=f"{provider}|{base_url}|{model_id}", failure_threshold=threshold,
            cooldown_seconds=cooldown), on_change=changed)

    def adopt(self, previous: Limits) -> None:
        """Take over ``previous``'s limiters and breakers whose settings this configuration
        did not change, with their state (tokens spent, slots in use, an open circuit): a
        reload must not reset the limits of a provider it did not touch."""
        if previous.store is not self.store:
            return  # the state lives elsewhere now: nothing to carry over
        old, new = previous._registry, self._registry
        for key, limiter in previous._limiters.items():
            kind, name, _ = key
            same = (old.rate_limit(name) == new.rate_limit(name) if kind == "provider"
                    else old.model_rate_limit(name) == new.model_rate_limit(name))
            if same:
                self._limiters[key] = limiter
        old_defaults = old.config.defaults.circuit_breaker
        new_defaults = new.config.defaults.circuit_breaker
        for key, breaker in previous._breakers.items():
            provider = key[0]  # a new base URL or model is a new key: a fresh breaker
            if (old_defaults == new_defaults
                    and _breaker_config(old, provider) == _breaker_config(new, provider)):
                self._breakers[key] = breaker

    def breakers(self) -> list[Breaker]:
        """Every breaker made so far."""
        return list(self._breakers.values())


def _breaker_config(registry: ModelRegistry, provider: str) -> object:
    entry = registry.config.providers.get(provider)
    return entry.circuit_breaker if entry is not None else None


class Admission:
    """The permits one attempt holds, from every limiter that applies to it."""

    __slots__ = ("_permits", "waited")

    def __init__(self, permits: list[Permit | StorePermit]) -> None:
        self._permits = permits
        self.waited = max((permit.waited for permit in permits), default=0.0)

    @classmethod
    async def acquire(cls, limiters: list[Limiter], tokens: int, *,
                      ttl_seconds: float | None = None) -> Admission:
        """Permits from each of ``limiters`` in turn; a cancelled wait gives back those
        already granted. ``ttl_seconds``: the longest the attempt may hold them."""
        permits: list[Permit | StorePermit] = []
        try:
            for limiter in limiters:
                permits.append(await limiter.acquire(tokens, ttl_seconds=ttl_seconds))
        except BaseException:
            for permit in permits:
                await permit.aclose()
            raise
        return cls(permits)

    def settle(self, used_tokens: int | None) -> None:
        """Correct every token reservation with what the answer used."""
        for permit in self._permits:
            permit.settle(used_tokens)

    async def aclose(self) -> None:
        """Free every slot in flight (idempotent; safe while cancelled)."""
        for permit in self._permits:
            await permit.aclose()
