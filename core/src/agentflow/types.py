"""The value types that travel between the core and provider plugins.

Everything here is plain data: frozen attrs classes with no behaviour beyond small derived
properties. A provider plugin imports these to build requests and to report what its vendor
answered; users meet :class:`Response`, :class:`Usage` and :class:`StreamChunk`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

Role = Literal["system", "user", "assistant"]

#: The normalised finish reasons; a vendor's own value is kept beside it as ``raw_finish_reason``.
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "error"})


@attrs.frozen(repr=False)
class Secret:
    """A credential that never shows itself in a repr, a str, a log line or an error.

    Call :meth:`reveal` at the one place that must put it on the wire.
    """

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        """The secret value itself. Use it only to build an HTTP header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@attrs.frozen(kw_only=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str


@attrs.frozen(kw_only=True)
class Request:
    """A provider-neutral chat request, with every layer of settings already merged.

    ``model`` is the vendor's own model id (``ModelSettings.model_id``), not the alias the
    user asked for. Parameters left as ``None`` are not sent, so the vendor's default applies.
    """

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = False


@attrs.frozen(kw_only=True)
class Usage:
    """Token counts as the vendor reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int, total_tokens: int | None = None,
           **extra: int | None) -> Usage:
        """Build a Usage, computing ``total_tokens`` when the vendor does not send it."""
        if total_tokens is None:
            total_tokens = prompt_tokens + completion_tokens
        return cls(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   total_tokens=total_tokens, **extra)


@attrs.frozen(kw_only=True)
class Pricing:
    """What a model costs, in US dollars per million tokens.

    ``cached_input_per_million`` prices prompt tokens the vendor served from its cache
    (``Usage.cached_tokens``, which are part of ``prompt_tokens``); ``None`` means the input
    price.
    """

    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None

    def cost(self, usage: Usage) -> float:
        """The cost in dollars of a call that used ``usage``."""
        cached = min(usage.cached_tokens or 0, usage.prompt_tokens)
        cached_price = (self.input_per_million if self.cached_input_per_million is None
                        else self.cached_input_per_million)
        return ((usage.prompt_tokens - cached) * self.input_per_million
                + cached * cached_price
                + usage.completion_tokens * self.output_per_million) / 1_000_000


@attrs.frozen(kw_only=True)
class Response:
    """A complete (non-streaming) answer."""

    text: str
    model: str
    provider: str
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    usage: Usage | None = None
    request_id: str | None = None


@attrs.frozen(kw_only=True)
class StreamChunk:
    """One piece of a streamed answer.

    Only the last chunk of a stream has ``is_final`` set; it carries ``finish_reason`` and,
    where the vendor reports it, ``usage``. Its ``content`` may be empty.
    """

    content: str = ""
    is_final: bool = False
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    usage: Usage | None = None


@attrs.frozen(kw_only=True)
class ProviderSpec:
    """What a vendor plugin declares about a provider it implements.

    ``name`` is what ``vendor:`` in a configuration file refers to. ``api_key_env`` names the
    environment variable the key is read from by default (``None``: the vendor needs no key);
    ``api_key_env_fallbacks`` are read, in order, when that one is unset (Gemini's key may be in
    ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY``). With ``api_key_optional`` a missing key is not an
    error (local OpenAI-compatible servers). A provider entry's own ``api_key_env`` replaces all
    of them.
    ``temperature_range`` is checked before any request is sent.
    """

    name: str
    default_base_url: str
    api_key_env: str | None
    api_key_env_fallbacks: tuple[str, ...] = ()
    api_key_optional: bool = False
    description: str = ""
    capabilities: frozenset[str] = frozenset({"streaming"})
    temperature_range: tuple[float, float] = (0.0, 2.0)
    docs_url: str | None = None


@attrs.frozen(kw_only=True)
class ModelInfo:
    """A catalog entry: a model that works with no configuration file at all.

    ``name`` is the alias users pass to ``AgentFlow.model``; ``model_id`` the vendor's own id
    (defaults to ``name``). ``options`` holds vendor-specific flags that the vendor's own
    request builder reads (for example OpenAI's ``max_completion_tokens``). ``pricing`` is
    the published price, if known; it feeds the cost figures of metrics.
    """

    name: str
    provider: str
    model_id: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_streaming: bool = True
    pricing: Pricing | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ModelSettings:
    """One model's settings after every layer (model > provider > defaults > catalog) merged.

    This is what ``agentflow_build_request`` receives. ``provider`` is the name of the provider
    entry (``providers.<name>`` in the file), ``vendor`` the plugin provider that speaks its wire
    format; they differ when, for example, two OpenAI-compatible servers are configured.
    ``read_timeout_seconds`` ``None`` means the total limit; ``stream_idle_timeout_seconds``
    ``None`` means none. ``circuit_failure_threshold`` ``None`` turns the breaker off.
    ``ca_bundle`` is an absolute path to the PEM certificates that verify the provider (``None``:
    the public roots of certifi); ``trust_env`` lets proxy variables of the environment apply.
    """

    name: str
    provider: str
    vendor: str
    model_id: str
    base_url: str
    api_key: Secret | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    supports_streaming: bool = True
    timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float | None = None
    stream_idle_timeout_seconds: float | None = None
    max_retries: int = 2
    retry_delay_ms: int = 500
    max_retry_delay_ms: int = 60_000
    circuit_failure_threshold: int | None = 5
    circuit_cooldown_seconds: float = 30.0
    fallbacks: tuple[str, ...] = ()
    allow_insecure_http: bool = False
    ca_bundle: str | None = None
    trust_env: bool = False
    pricing: Pricing | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class StreamState:
    """Mutable scratch space for one stream, handed to every ``agentflow_parse_stream_event``.

    Plugins keep what they need between events in ``data`` (a finish reason seen before the
    usage arrives, say). ``text`` is the answer received so far, kept by the core. A plugin sets
    ``response_model`` when the stream names the model that answered.
    """

    provider: str
    model: str
    request_id: str | None = None
    response_model: str | None = None
    text_parts: list[str] = attrs.field(factory=list)
    data: dict[str, Any] = attrs.field(factory=dict)

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self.text_parts)
