"""The one exception tree of agentflow.

::

    LLMError                          anything agentflow raises on purpose
    ├── ConfigurationError            a configuration file or setting is unusable
    │   ├── MissingApiKeyError        the provider's key variable is unset or empty
    │   └── UnsupportedProviderError  no installed plugin speaks this vendor
    ├── ModelNotFoundError            no model of that name in config or catalogs
    ├── ValidationError               a request parameter is out of range (also ValueError)
    ├── HttpError                     the provider answered with an HTTP error status
    │   └── RateLimitError            429, or a vendor "overloaded" signal; has retry_after
    ├── StreamingError                a stream broke off or could not be decoded
    ├── LLMTimeoutError               a time limit fired (also the builtin TimeoutError)
    ├── ProviderError                 unreachable provider or an answer that makes no sense
    │   └── CircuitOpenError          the provider failed too often; calls wait out a cool-down
    ├── ToolError                     a tool could not be run as the model asked
    └── ToolLoopLimitError            the model still asked for tools after ``max_steps`` calls

Every error carries its context as attributes (``provider``, ``model``, ``status_code``,
``request_id``, ``partial_text``) and a message that names what failed and what to do. No
message, repr or attribute ever holds an API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentflow._observe.logs import redact

if TYPE_CHECKING:
    from agentflow._api.agent import AgentRun

__all__ = [
    "CircuitOpenError",
    "ConfigurationError",
    "HttpError",
    "LLMError",
    "LLMTimeoutError",
    "MissingApiKeyError",
    "ModelNotFoundError",
    "ProviderError",
    "RateLimitError",
    "StreamingError",
    "ToolError",
    "ToolLoopLimitError",
    "UnsupportedProviderError",
    "ValidationError",
]


class LLMError(Exception):
    """Base class of every error agentflow raises.

    ``partial_text`` holds the text a stream had delivered before the failure, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        partial_text: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message = message
        super().__init__(self.message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.request_id = request_id
        self.partial_text = partial_text
        #: ``False`` when a plugin knows a retry cannot help (an exhausted quota answered with
        #: 429, say); ``None`` lets the core decide from the status.
        self.retryable = retryable
        #: One entry per failed attempt (a status code or an exception name) when retried.
        self.attempts: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """What failed and what to do; a key that a vendor echoed back is redacted."""
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        self._message = redact(value)

    @property
    def request_id(self) -> str | None:
        """The request id the server sent (``x-request-id``), redacted like the message: a
        server may echo anything there."""
        return self._request_id

    @request_id.setter
    def request_id(self, value: str | None) -> None:
        self._request_id = None if value is None else redact(value)

    def __str__(self) -> str:
        where = ", ".join(
            f"{label}={value}"
            for label, value in (
                ("provider", self.provider),
                ("model", self.model),
                ("request_id", self.request_id),
            )
            if value
        )
        return f"{self.message} ({where})" if where else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle (and copy) every error with all its attributes, whatever its constructor
        asks for: an error raised in a worker process reaches the parent whole (Python's
        default would call ``cls(message)``, which fails for a required keyword argument)."""
        return _rebuild, (type(self), self.message, dict(self.__dict__))

    def with_context(self, **context: Any) -> LLMError:
        """Fill in context attributes that are still unset, and return self (for ``raise``)."""
        for name, value in context.items():
            if getattr(self, name, None) is None:
                setattr(self, name, value)
        return self


class ConfigurationError(LLMError):
    """A configuration file or setting cannot be used.

    ``issues`` holds the located problems (:class:`agentflow.config.Issue`) when the error
    comes from validating a file.
    """

    def __init__(self, message: str, *, issues: Sequence[Any] = (), **context: Any) -> None:
        super().__init__(message, **context)
        self.issues = tuple(issues)


class MissingApiKeyError(ConfigurationError):
    """The environment variable that should hold a provider's API key is unset or empty."""

    def __init__(self, message: str, *, env_var: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.env_var = env_var


class UnsupportedProviderError(ConfigurationError):
    """No installed plugin implements the requested vendor."""


class ModelNotFoundError(LLMError, LookupError):
    """No model of this name in the configuration or in any installed plugin's catalog."""

    def __init__(self, message: str, *, suggestions: Sequence[str] = (), **context: Any) -> None:
        super().__init__(message, **context)
        self.suggestions = tuple(suggestions)


class ValidationError(LLMError, ValueError):
    """A request parameter is invalid (raised before anything is sent), or a structured answer
    does not fit its schema: then ``path`` is where the first mismatch is (``$.items[2].price``)
    and ``answer`` is the text the model sent."""

    def __init__(self, message: str, *, parameter: str | None = None, path: str | None = None,
                 answer: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.parameter = parameter
        self.path = path
        self.answer = answer


class HttpError(LLMError):
    """The provider answered with an HTTP error status; ``status_code`` says which.

    ``vendor_message`` and ``error_type`` are the vendor's own words, as sent, with any key
    in them redacted.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        vendor_message: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, status_code=status_code, **context)
        self.error_type = error_type
        self.vendor_message = vendor_message

    @property
    def error_type(self) -> str | None:
        """The vendor's own error type, redacted (it comes from the server)."""
        return self._error_type

    @error_type.setter
    def error_type(self, value: str | None) -> None:
        self._error_type = None if value is None else redact(value)

    @property
    def vendor_message(self) -> str | None:
        """The vendor's own words, redacted (a key it echoed is not repeated)."""
        return self._vendor_message

    @vendor_message.setter
    def vendor_message(self, value: str | None) -> None:
        self._vendor_message = None if value is None else redact(value)


class RateLimitError(HttpError):
    """The provider refused for load (429). ``retry_after`` is the advised wait in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        context.setdefault("status_code", 429)
        super().__init__(message, **context)
        self.retry_after = retry_after


class StreamingError(LLMError):
    """A stream broke off or could not be decoded; ``partial_text`` keeps what arrived.

    ``raw_arguments`` keeps a tool call's argument text when that is what could not be read.
    """

    raw_arguments: str | None = None


class LLMTimeoutError(LLMError, TimeoutError):
    """A time limit fired. ``timeout_kind`` is one of connect, read, stream_idle, write, pool,
    total."""

    def __init__(self, message: str, *, timeout_kind: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.timeout_kind = timeout_kind


class ProviderError(LLMError):
    """The provider could not be reached, or answered something that cannot be understood.

    ``raw_arguments`` keeps a tool call's argument text when that is what could not be read.
    """

    raw_arguments: str | None = None


class CircuitOpenError(ProviderError):
    """The provider failed too many times in a row, so requests to it fail at once, without
    being sent, until a cool-down ends; ``retry_at`` is when (``time.monotonic()``'s
    clock) the next probe request may go. A model's ``fallbacks`` are tried meanwhile."""

    def __init__(self, message: str, *, retry_at: float | None = None,
                 **context: Any) -> None:
        context.setdefault("retryable", False)
        super().__init__(message, **context)
        self.retry_at = retry_at


class ToolError(LLMError):
    """A tool could not be run as the model asked (unknown name, arguments that do not fit).

    :meth:`~agentflow.LLMClientBuilder.run_tools` reports it to the model as the call's result
    rather than raising it, so the model can correct itself.
    """


class ToolLoopLimitError(LLMError):
    """The model still asked for tools after ``max_steps`` calls. ``run`` holds everything so
    far (its ``response`` is the last answer, its ``messages`` end with the last results)."""

    def __init__(self, message: str, *, run: AgentRun, **context: Any) -> None:
        super().__init__(message, **context)
        self.run = run


def _rebuild(cls: type[LLMError], message: str, state: dict[str, Any]) -> LLMError:
    """An unpickled :class:`LLMError`: made without its constructor, then given its state."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error
