"""Every httpx error, mapped once to the most specific :class:`~agentflow.errors.LLMError`.

:func:`map_http_error` is the one place an ``httpx.HTTPError`` becomes ours: the client (a
failed attempt, a broken answer), the stream reader (a body that breaks off) and the health
checks all use it. :data:`DESCRIPTIONS` has an entry for every exception class httpx exports;
a test enumerates httpx's classes against it, so an httpx release that adds one fails the tests
until it is described here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentflow.errors import (
    ConfigurationError,
    HttpError,
    LLMError,
    LLMTimeoutError,
    ProviderError,
    StreamingError,
)

if TYPE_CHECKING:
    import ssl

    from agentflow.types import ModelSettings

__all__ = ["DESCRIPTIONS", "map_http_error", "reason", "tls_failure"]

#: What to raise, per kind of timeout: the setting that governs it.
TIMEOUT_SETTINGS = {
    "connect": "connect_timeout_seconds (or .timeout(connect=...))",
    "read": "read_timeout_seconds (or .timeout(read=...))",
    "stream_idle": "stream_idle_timeout_seconds (or .timeout(stream_idle=...))",
    "write": "read_timeout_seconds (or .timeout(read=...))",
    "pool": "timeout_seconds, or lower the number of requests in flight",
    "total": "timeout_seconds (or .timeout(...))",
}

_TIMEOUT_WORDS = {
    "stream_idle": "the stream sent nothing for too long",
    "pool": "no connection of the pool became free in time",
    "total": "no complete answer within the total time limit",
}

#: ``(error class, what happened)`` per httpx exception class name; ``{where}`` is the provider
#: and its URL, ``{reason}`` the deepest non-empty message of the exception's causes.
DESCRIPTIONS: dict[str, tuple[type[LLMError], str]] = {
    # timeouts: see _timeout (the kind comes from the class and the attempt's limits)
    "TimeoutException": (LLMTimeoutError, ""),
    "ConnectTimeout": (LLMTimeoutError, ""),
    "ReadTimeout": (LLMTimeoutError, ""),
    "WriteTimeout": (LLMTimeoutError, ""),
    "PoolTimeout": (LLMTimeoutError, ""),
    # connections: see _connect_failure for certificates and TLS handshakes
    "ConnectError": (ProviderError, "could not connect to {where}: {reason}; check base_url and "
                     "your network"),
    "ReadError": (ProviderError, "the connection to {where} broke while reading the answer "
                  "({reason})"),
    "WriteError": (ProviderError, "the connection to {where} broke while sending the request "
                   "({reason})"),
    "CloseError": (ProviderError, "the connection to {where} failed as it closed ({reason})"),
    "NetworkError": (ProviderError, "the network failed talking to {where} ({reason})"),
    "RemoteProtocolError": (ProviderError, "{where} broke off the HTTP exchange ({reason}): "
                            "the connection closed before the answer was complete, or what "
                            "came is not HTTP"),
    "LocalProtocolError": (ProviderError, "the request to {where} could not be sent as valid "
                           "HTTP ({reason}); a header value (a key with a line break, say) "
                           "may be malformed"),
    "ProtocolError": (ProviderError, "HTTP failed between agentflow and {where} ({reason})"),
    "ProxyError": (ProviderError, "the proxy refused to reach {where} ({reason}); check "
                   "HTTPS_PROXY / ALL_PROXY, or set trust_env: false to go direct"),
    "UnsupportedProtocol": (ConfigurationError, "{where} cannot be reached: {reason}; base_url "
                            "must start with https:// (or http:// for a local server)"),
    "TransportError": (ProviderError, "transport error talking to {where} ({reason})"),
    "DecodingError": (ProviderError, "{where} sent a body that cannot be decoded ({reason}); "
                      "its content-encoding does not match its bytes"),
    "TooManyRedirects": (ProviderError, "{where} redirected too many times ({reason}); set "
                         "base_url to the address the API is served at"),
    "RequestError": (ProviderError, "the request to {where} failed ({reason})"),
    "HTTPStatusError": (HttpError, "{where} answered with an error status ({reason})"),
    "HTTPError": (ProviderError, "HTTP failed talking to {where} ({reason})"),
    # not HTTPError subclasses, but raised by httpx on misuse or bad input all the same
    "InvalidURL": (ConfigurationError, "the URL of {where} is not valid ({reason}); check "
                   "base_url"),
    "CookieConflict": (ProviderError, "{where} set conflicting cookies ({reason})"),
    "StreamError": (ProviderError, "the answer of {where} was read in a way httpx refuses "
                    "({reason}); this is a bug of agentflow or a plugin, please report it"),
    "StreamConsumed": (ProviderError, "the answer of {where} was read twice ({reason}); this "
                       "is a bug of agentflow or a plugin, please report it"),
    "StreamClosed": (ProviderError, "the answer of {where} was read after it was closed "
                     "({reason}); this is a bug of agentflow or a plugin, please report it"),
    "ResponseNotRead": (ProviderError, "the answer of {where} was used before it was read "
                        "({reason}); this is a bug of agentflow or a plugin, please report it"),
    "RequestNotRead": (ProviderError, "the request to {where} was used before it was read "
                       "({reason}); this is a bug of agentflow or a plugin, please report it"),
}


def map_http_error(exc: Exception, settings: ModelSettings, *, read_kind: str = "read",
                   stream_body: bool = False, **context: Any) -> LLMError:
    """The :class:`LLMError` for an exception httpx raised while talking to ``settings``'
    provider.

    ``read_kind`` is the limit behind httpx's read timeout (``read``, ``stream_idle`` or
    ``total``). ``stream_body``: the exception broke a stream's body that had begun, which
    is a :class:`~agentflow.errors.StreamingError` (a timeout stays an ``LLMTimeoutError``).
    The returned error's ``__cause__`` is ``exc``.
    """
    where = f"{settings.provider} at {settings.base_url}"
    context.setdefault("provider", settings.provider)
    context.setdefault("model", settings.name)
    error = _mapped(exc, where, settings, read_kind, context)
    if stream_body and not isinstance(error, LLMTimeoutError):
        error = StreamingError(
            f"the stream broke off: {error.message}; the text received so far is kept in "
            ".partial_text", **context)
    error.__cause__ = exc
    return error


def _mapped(exc: Exception, where: str, settings: ModelSettings, read_kind: str,
            context: dict[str, Any]) -> LLMError:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return _timeout(exc, where, read_kind, context)
    if isinstance(exc, httpx.ConnectError):
        found = _connect_failure(exc, where, settings, context)
        if found is not None:
            return found
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return HttpError(f"{where} answered HTTP {status}", status_code=status, **context)
    kind, template = _describe(exc)
    return kind(template.format(where=where, reason=reason(exc)), **context)


def _describe(exc: BaseException) -> tuple[type[LLMError], str]:
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("httpx") and cls.__name__ in DESCRIPTIONS:
            return DESCRIPTIONS[cls.__name__]
    return ProviderError, "talking to {where} failed ({reason})"


def _timeout(exc: Exception, where: str, read_kind: str,
             context: dict[str, Any]) -> LLMTimeoutError:
    import httpx

    kinds: dict[type[Exception], str] = {
        httpx.ConnectTimeout: "connect", httpx.ReadTimeout: read_kind,
        httpx.WriteTimeout: "write", httpx.PoolTimeout: "pool"}
    kind = kinds.get(type(exc), "read")
    what = _TIMEOUT_WORDS.get(kind, f"{kind} timeout")
    return LLMTimeoutError(
        f"{what} talking to {where} ({kind} limit); raise {TIMEOUT_SETTINGS[kind]} if the "
        "provider is just slow", timeout_kind=kind, **context)


def _connect_failure(exc: Exception, where: str, settings: ModelSettings,
                     context: dict[str, Any]) -> LLMError | None:
    import ssl

    tls = tls_failure(exc)
    if tls is None:
        return None
    if isinstance(tls, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(tls):
        return ProviderError(
            f"the TLS certificate of {where} could not be verified ({reason(tls)}); if the "
            "provider uses a private CA or you are behind a proxy that inspects TLS, set "
            f"providers.{settings.provider}.ca_bundle to its CA certificates", **context)
    plain = tls.reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE",
                           "PACKET_LENGTH_TOO_LONG")
    hint = ("the server does not speak TLS there: an https:// base_url pointing at a plain "
            "http port fails this way" if plain else
            "check base_url, and for a proxy that intercepts TLS set "
            f"providers.{settings.provider}.ca_bundle")
    return ProviderError(
        f"the TLS handshake with {where} failed ({tls.reason or reason(tls)}); {hint}",
        **context)


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc`` (httpx wraps httpcore's, which wraps anyio's or trio's
    wrapping of ssl's), if any."""
    import ssl

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def reason(exc: BaseException) -> str:
    """The most telling words about ``exc``: its message, or the first non-empty message among
    its causes (httpx's connection errors often have none of their own), or its class name."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        text = str(current).strip()
        if text:
            return text if current is exc else f"{type(current).__name__}: {text}"
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return type(exc).__name__


def httpx_error_types() -> list[type[BaseException]]:
    """Every exception class httpx exports (what :data:`DESCRIPTIONS` must cover)."""
    import httpx

    return [value for value in vars(httpx).values()
            if isinstance(value, type) and issubclass(value, Exception)]
