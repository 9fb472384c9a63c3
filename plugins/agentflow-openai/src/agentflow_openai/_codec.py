"""The Chat Completions wire format (``POST {base_url}/chat/completions``) as pure functions.

Nothing here knows which vendor it serves: a :class:`Dialect` says that (provider name, how the
vendor is named in messages, its key variable, its catalog). The OpenAI plugin uses it for
``openai`` and ``openai_compatible``; other OpenAI-compatible vendor plugins (agentflow-moonshot)
reuse it with a dialect of their own. The public, stable API for that reuse is:

* :class:`Dialect`, :class:`ErrorBody`
* :func:`build_request`, :func:`chat_completions_url`
* :func:`parse_response`, :func:`parse_stream_event`, :func:`parse_usage`,
  :func:`normalise_finish_reason`
* :func:`map_error`, :func:`read_error_body`, :func:`error_from_status`,
  :func:`retry_after_seconds`, :func:`excerpt`

Decisions worth knowing (also in the README):

* Finish reasons: ``stop``, ``length``, ``content_filter`` and ``tool_calls`` are kept;
  ``function_call`` (deprecated) becomes ``tool_calls``; the end-of-sequence spellings of some
  compatible servers (``eos``, ``eos_token``, ``stop_sequence``) become ``stop``, and vLLM's
  ``abort`` / ``error`` become ``error``. Anything else, or no reason at all, is ``None``: an
  unknown value is not guessed at. The vendor's own value is always in ``raw_finish_reason``.
* A refusal (``message.content`` null, ``message.refusal`` set) is returned as the text, so the
  caller sees why, with ``finish_reason="content_filter"`` (the raw reason stays as sent).
* An error object inside a 200 body or a stream is raised as the error its status or type
  denotes; if it denotes none, as :class:`ProviderError` (body) or :class:`StreamingError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from agentflow.errors import (
    HttpError,
    LLMError,
    ProviderError,
    RateLimitError,
    StreamingError,
)
from agentflow.types import Response, StreamChunk, Usage
from agentflow_openai._content import (
    message_body,
    output_fields,
    read_tool_calls,
    stream_tool_calls,
    tool_fields,
)

if TYPE_CHECKING:
    import httpx

    from agentflow.types import ModelSettings, Request, StreamState

__all__ = [
    "Dialect",
    "ErrorBody",
    "EventLike",
    "build_request",
    "chat_completions_url",
    "error_from_status",
    "excerpt",
    "map_error",
    "models_request",
    "normalise_finish_reason",
    "parse_response",
    "parse_stream_event",
    "parse_usage",
    "read_error_body",
    "retry_after_seconds",
]

#: The longest excerpt of an unreadable body that goes into an error message.
EXCERPT_LIMIT = 200
_VENDOR_MESSAGE_LIMIT = 1000

_FINISH_REASONS: dict[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    # Spellings of OpenAI-compatible servers (TGI, vLLM, llama.cpp and friends).
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "abort": "error",
    "error": "error",
}

# What an error object's type or code says about the status it stands for, when no HTTP status
# does (errors inside a stream or a 200 body).
_STATUS_OF_KIND: dict[str, int] = {
    "invalid_request_error": 400,
    "invalid_api_key": 401,
    "authentication_error": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
    "tokens": 429,
    "requests": 429,
    "server_error": 500,
    "api_error": 500,
    "internal_error": 500,
    "service_unavailable_error": 503,
    "overloaded_error": 503,
}


class EventLike(Protocol):
    """What the codec reads of a server-sent event (``agentflow.sse.ServerSentEvent``)."""

    @property
    def data(self) -> str: ...


@attrs.frozen(kw_only=True)
class Dialect:
    """One vendor speaking the Chat Completions format, and how it differs from the others.

    :param provider: the vendor name the hooks answer to (``openai``).
    :param label: how messages name the vendor (``OpenAI``); starts a sentence.
    :param api_key_env: the key variable a 401 message tells the user to check.
    :param user_agent: the ``user-agent`` header sent.
    :param catalog_options: model id -> catalog options, consulted for a model whose settings
        carry no option of that name (a configured alias of a catalog model, a dated snapshot).
    :param completion_token_prefixes: model ids starting with one of these take
        ``max_completion_tokens`` when neither settings nor catalog say (new reasoning models).
    :param stream_usage: ask for a usage chunk (``stream_options.include_usage``) by default;
        a model option ``stream_include_usage: false`` turns it off for servers that refuse it.
    :param error_statuses: the vendor's own error types -> the status each stands for, for
        errors reported without one (inside a stream), over the common OpenAI-style names.
    :param quota_errors: error types or codes meaning the account's quota is used up: such a
        429 is not retried.
    :param json_schema: the vendor takes ``response_format`` of type ``json_schema``; if not,
        a structured answer is asked for as ``json_object`` with the schema in a system message.
    :param strict_tools_by_default: the vendor holds a function definition without ``strict``
        to its parameters' schema (Moonshot); ``strict: false`` is then sent for parameters
        that do not meet the strict rules, instead of ``strict: true`` for those that do.
    """

    provider: str
    label: str
    api_key_env: str | None
    user_agent: str
    catalog_options: Callable[[str], Mapping[str, Any] | None] | None = None
    completion_token_prefixes: tuple[str, ...] = ()
    stream_usage: bool = True
    error_statuses: Mapping[str, int] = attrs.field(factory=dict)
    quota_errors: tuple[str, ...] = ("insufficient_quota",)
    json_schema: bool = True
    strict_tools_by_default: bool = False


@attrs.frozen(kw_only=True)
class ErrorBody:
    """What a vendor's error answer said: the ``error`` object's fields, as far as present."""

    message: str
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


# --- requests ----------------------------------------------------------------------------------


def chat_completions_url(base_url: str) -> str:
    """``{base_url}/chat/completions``, whether or not ``base_url`` ends with ``/``.

    A query string on the base URL (some gateways need one) is kept at the end.
    """
    base, mark, query = base_url.partition("?")
    return f"{base.rstrip('/')}/chat/completions{mark}{query}"


def build_request(dialect: Dialect, request: Request, settings: ModelSettings) -> httpx.Request:
    """The ``httpx.Request`` for ``request``: URL, headers (with the key, if any) and JSON body.

    ``temperature`` / ``top_p`` / ``stop`` / the output limit are sent only when set; the limit
    goes out as ``max_completion_tokens`` where the model needs it, and sampling parameters are
    left out where the model accepts only its default (see :mod:`agentflow_openai._catalog`).
    """
    import httpx

    option = _Options(dialect, request.model, settings.options)
    messages = [message_body(m) for m in request.messages]
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    body.update(tool_fields(request, strict_by_default=dialect.strict_tools_by_default))
    if request.output_schema is not None:
        fields, instruction = output_fields(request.output_schema,
                                            json_schema=dialect.json_schema)
        body.update(fields)
        if instruction is not None:
            messages.insert(0, {"role": "system", "content": instruction})
    effort = option.get("reasoning_effort")
    if _sampling_allowed(option, effort):
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
    if request.max_tokens is not None:
        body[_limit_field(dialect, request.model, option)] = request.max_tokens
    if request.stop:
        body["stop"] = list(request.stop)
    if effort is not None:
        body["reasoning_effort"] = effort
    if request.stream:
        body["stream"] = True
        if option.get("stream_include_usage", dialect.stream_usage):
            body["stream_options"] = {"include_usage": True}
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if request.stream else "application/json",
        "user-agent": dialect.user_agent,
    }
    key = settings.api_key.reveal() if settings.api_key is not None else ""
    if key:
        headers["authorization"] = f"Bearer {key}"
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return httpx.Request("POST", chat_completions_url(settings.base_url), headers=headers,
                         content=content)


def models_request(dialect: Dialect, settings: ModelSettings) -> httpx.Request:
    """``GET {base_url}/models`` with the key: the health check (authenticated, no tokens)."""
    import httpx

    base, mark, query = settings.base_url.partition("?")
    headers = {"accept": "application/json", "user-agent": dialect.user_agent}
    key = settings.api_key.reveal() if settings.api_key is not None else ""
    if key:
        headers["authorization"] = f"Bearer {key}"
    return httpx.Request("GET", f"{base.rstrip('/')}/models{mark}{query}", headers=headers)


class _Options:
    """A model option from the settings, else from the dialect's catalog by model id."""

    __slots__ = ("_catalog", "_dialect", "_model", "_settings")

    def __init__(self, dialect: Dialect, model: str, settings: Mapping[str, Any]) -> None:
        self._dialect, self._model, self._settings = dialect, model, settings
        self._catalog: Mapping[str, Any] | None = None

    def get(self, name: str, default: Any = None) -> Any:
        if name in self._settings:
            return self._settings[name]
        if self._catalog is None:
            lookup = self._dialect.catalog_options
            self._catalog = (lookup(self._model) if lookup else None) or {}
        return self._catalog.get(name, default)


def _sampling_allowed(option: _Options, effort: Any) -> bool:
    supports = option.get("supports_temperature", True)
    if supports == "reasoning_none":
        effective = effort if effort is not None else option.get("default_reasoning_effort")
        return bool(effective == "none")
    return bool(supports)


def _limit_field(dialect: Dialect, model: str, option: _Options) -> str:
    wanted = option.get("max_completion_tokens")
    if wanted is None:
        wanted = model.startswith(dialect.completion_token_prefixes)
    return "max_completion_tokens" if wanted else "max_tokens"


# --- answers -----------------------------------------------------------------------------------


def normalise_finish_reason(raw: str | None) -> str | None:
    """Our finish reason for the vendor's ``raw`` one; ``None`` for none or an unknown value."""
    return _FINISH_REASONS.get(raw) if raw is not None else None


def parse_usage(raw: Any) -> Usage | None:
    """A :class:`Usage` from a ``usage`` object, with cached and reasoning token details.

    ``None`` when ``raw`` is not an object; :class:`TypeError` when a count is not an integer.
    ``total_tokens`` is computed when the server leaves it out. Cached prompt tokens are read
    from ``prompt_tokens_details`` (OpenAI) or a top-level ``cached_tokens`` (Moonshot).
    """
    if not isinstance(raw, dict):
        return None
    prompt_details = raw.get("prompt_tokens_details")
    completion_details = raw.get("completion_tokens_details")
    return Usage.of(
        _count(raw.get("prompt_tokens")) or 0,
        _count(raw.get("completion_tokens")) or 0,
        _count(raw.get("total_tokens")),
        cached_tokens=_count(prompt_details.get("cached_tokens"))
        if isinstance(prompt_details, dict) else _count(raw.get("cached_tokens")),
        reasoning_tokens=_count(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict) else None,
    )


def _count(value: Any) -> int | None:
    if value is None or (type(value) is int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"token count {value!r} is not an integer")


def parse_response(dialect: Dialect, response: httpx.Response,
                   request: Request | None = None) -> Response:
    """The :class:`Response` in a 2xx ``chat.completion`` answer.

    Raises :class:`ProviderError` for a body that is not JSON or has no ``choices`` (quoting
    at most :data:`EXCERPT_LIMIT` characters of it), or the mapped error for an error object.
    """
    content = response.content
    label = dialect.label
    try:
        body = json.loads(content)
    except ValueError as exc:
        raise ProviderError(f"{label} sent an answer that is not JSON ({exc}); it starts: "
                            f"{excerpt(content)}") from None
    if not isinstance(body, dict):
        raise ProviderError(f"{label} sent an answer that is not a JSON object: "
                            f"{excerpt(content)}")
    choices = body.get("choices")
    if not choices or not isinstance(choices, list):
        if body.get("error") is not None:
            raise _error_in_payload(dialect, body, response.headers, stream=False)
        what = "an empty 'choices' list" if isinstance(choices, list) else "no 'choices' list"
        raise ProviderError(f"{label} sent an answer with {what}, so there is no text to "
                            f"return: {excerpt(content)}")
    try:
        choice = choices[0]
        message = choice.get("message") or {}
        raw_reason = choice.get("finish_reason")
        finish = normalise_finish_reason(raw_reason)
        text = message.get("content")
        if text is None:
            refusal = message.get("refusal")
            text = refusal or ""
            if refusal:
                finish = "content_filter"
        if not isinstance(text, str):
            raise TypeError(f"message content is a {type(text).__name__}, not text")
        calls = read_tool_calls(message, label)
        if calls and finish in (None, "stop"):
            finish = "tool_calls"  # some compatible servers report "stop" or nothing
        return Response(
            text=text,
            model=body.get("model") or (request.model if request is not None else ""),
            provider=dialect.provider,
            finish_reason=finish,
            raw_finish_reason=raw_reason,
            usage=parse_usage(body.get("usage")),
            request_id=response.headers.get("x-request-id"),
            tool_calls=calls,
        )
    except (AttributeError, TypeError) as exc:
        raise ProviderError(f"{label} sent a chat.completion of an unexpected shape ({exc}): "
                            f"{excerpt(content)}") from None


def parse_stream_event(dialect: Dialect, event: EventLike,
                       state: StreamState) -> list[StreamChunk]:
    """The chunks in one ``chat.completion.chunk`` event.

    ``[DONE]`` gives the final chunk, carrying the finish reason and the usage seen earlier
    (both kept in ``state.data``). Content deltas give a chunk each; role-only and usage-only
    events give none. An error object raises the mapped error; a payload that is not JSON
    raises :class:`StreamingError`.
    """
    data = event.data
    if data == "[DONE]":
        return [_final_chunk(state)]
    if not data:
        return []
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise StreamingError(f"{dialect.label} sent a stream event that is not JSON ({exc}); "
                             f"it starts: {excerpt(data)}") from None
    try:
        choices = body["choices"]
    except (KeyError, TypeError):
        return _other_event(dialect, body, state, data)
    try:
        if state.response_model is None and isinstance(body.get("model"), str):
            state.response_model = body["model"]
        usage = body.get("usage")
        if usage:
            state.data["usage"] = usage
        if not choices:
            return []
        choice = choices[0]
        reason = choice.get("finish_reason")
        if reason is not None:
            state.data["finish_reason"] = reason
        delta = choice.get("delta")
        if delta:
            if delta.get("tool_calls"):
                stream_tool_calls(delta, state)
            text = delta.get("content")
            if text:
                return [StreamChunk(content=text)]
            refusal = delta.get("refusal")
            if refusal:
                state.data["refused"] = True
                return [StreamChunk(content=refusal)]
        return []
    except (AttributeError, KeyError, TypeError) as exc:
        raise StreamingError(f"{dialect.label} sent a chat.completion.chunk of an unexpected "
                             f"shape ({type(exc).__name__}: {exc}): {excerpt(data)}") from None


def _other_event(dialect: Dialect, body: Any, state: StreamState, data: str) -> list[StreamChunk]:
    if not isinstance(body, dict):
        raise StreamingError(f"{dialect.label} sent a stream event that is not a JSON object: "
                             f"{excerpt(data)}")
    if body.get("error") is not None:
        raise _error_in_payload(dialect, body, None, stream=True)
    usage = body.get("usage")
    if usage:
        state.data["usage"] = usage
    return []  # an object we do not know: skipped, as OpenAI asks of clients


def _final_chunk(state: StreamState) -> StreamChunk:
    data = state.data
    raw = data.get("finish_reason")
    try:
        usage = parse_usage(data.get("usage"))
    except TypeError as exc:
        raise StreamingError(f"the stream's usage report could not be read: {exc}") from None
    finish = "content_filter" if data.get("refused") else normalise_finish_reason(raw)
    if state.tool_calls and finish in (None, "stop"):
        finish = "tool_calls"  # some compatible servers report "stop" or nothing
    return StreamChunk(is_final=True, finish_reason=finish, raw_finish_reason=raw, usage=usage)


# --- errors ------------------------------------------------------------------------------------


def excerpt(body: bytes | str, limit: int = EXCERPT_LIMIT) -> str:
    """At most ``limit`` characters of ``body``, quoted, for an error message."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    if not text:
        return "(empty body)"
    return repr(text[:limit] + "..." if len(text) > limit else text)


def read_error_body(content: bytes) -> ErrorBody:
    """The fields of an error answer: OpenAI's ``{"error": {message, type, param, code}}``,
    the bare ``{"message", "type", "code"}`` of older vLLM, ``{"error": "text"}``, or, for a
    body that is none of these, an excerpt of it as the message."""
    try:
        body = json.loads(content)
    except ValueError:
        return ErrorBody(message=excerpt(content))
    return _error_fields(body) or ErrorBody(message=excerpt(content))


def _error_fields(body: Any) -> ErrorBody | None:
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    fields = error if isinstance(error, dict) else body
    message = error if isinstance(error, str) else fields.get("message")
    if not isinstance(message, str) or not message:
        return None
    return ErrorBody(message=_redact(message[:_VENDOR_MESSAGE_LIMIT]),
                     type=_text(fields.get("type")), code=_code(fields.get("code")),
                     param=_text(fields.get("param")))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _code(value: Any) -> str | int | None:
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _redact(message: str) -> str:
    """Vendors quote a masked key in 401 messages; agentflow messages quote none of it."""
    if "sk-" not in message and "earer" not in message:  # [Bb]earer
        return message
    import re

    message = re.sub(r"sk-[A-Za-z0-9_\-*]+", "sk-***", message)
    return re.sub(r"([Bb]earer) [^\s,;]+", r"\1 ***", message)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a response advises: ``retry-after-ms``, else ``Retry-After`` (seconds or an
    HTTP date), else the ``x-ratelimit-reset-*`` time of a limit that is used up (OpenAI's
    ``6m0s`` durations). ``None`` when there is no usable advice."""
    import math

    millis = headers.get("retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return max(0.0, value)
    advice = headers.get("retry-after")
    if not advice:
        return _reset_wait(headers)
    try:
        value = float(advice)
    except ValueError:
        return _seconds_until(advice)
    return max(0.0, value) if math.isfinite(value) else None


def _reset_wait(headers: Mapping[str, str]) -> float | None:
    """The longest reset among the limits (requests, tokens) whose remaining count is 0."""
    waits = [duration_seconds(headers.get(f"x-ratelimit-reset-{limit}", ""))
             for limit in ("requests", "tokens")
             if headers.get(f"x-ratelimit-remaining-{limit}") == "0"]
    found = [wait for wait in waits if wait is not None]
    return max(found) if found else None


def duration_seconds(text: str) -> float | None:
    """Seconds in a duration such as ``1s``, ``6m0s``, ``1h2m3.5s`` or ``20ms``."""
    import re

    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?(?:([\d.]+)ms)?",
                         text.strip())
    if not text.strip() or parts is None:
        return None
    hours, minutes, seconds, millis = (float(part) if part else 0.0 for part in parts.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _seconds_until(http_date: str) -> float | None:
    import time
    from datetime import timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def map_error(dialect: Dialect, response: httpx.Response) -> LLMError:
    """The error for an HTTP error answer (status >= 400), with the vendor's own words."""
    return error_from_status(dialect, response.status_code, read_error_body(response.content),
                             response.headers)


def error_from_status(dialect: Dialect, status: int, body: ErrorBody,
                      headers: Mapping[str, str] | None = None, *,
                      where: str | None = None) -> LLMError:
    """The most specific error for ``status`` and the vendor's ``body``.

    ``where`` says how the status was learnt when it was not an HTTP status (``"in the
    stream"``); messages then say so instead of ``HTTP <status>``.
    """
    headers = headers if headers is not None else {}
    label = dialect.label
    said = body.message
    details = ", ".join(f"{name}={value}" for name, value in
                        (("type", body.type), ("code", body.code), ("param", body.param))
                        if value is not None)
    status_text = f"HTTP {status}" if where is None else f"error {where}, taken as {status}"
    ref = f"{status_text}; {details}" if details else status_text
    context: dict[str, Any] = {"status_code": status, "error_type": body.type,
                               "vendor_message": said,
                               "request_id": headers.get("x-request-id")}
    if status == 429:
        retry_after = retry_after_seconds(headers)
        if body.type in dialect.quota_errors or body.code in dialect.quota_errors:
            return RateLimitError(
                f"{label} says the quota is used up ({ref}): {said}. Check the account's plan "
                "and billing; retrying will not help until the quota is raised.",
                retry_after=retry_after, retryable=False, **context)
        wait = (f"It advises waiting {retry_after:g} s." if retry_after is not None
                else "Slow down and retry later.")
        return RateLimitError(f"{label} is rate limiting requests ({ref}): {said}. {wait}",
                              retry_after=retry_after, **context)
    return HttpError(_status_message(dialect, status, ref, said, body), **context)


def _status_message(dialect: Dialect, status: int, ref: str, said: str, body: ErrorBody) -> str:
    label = dialect.label
    if status == 400:
        return (f"{label} rejected the request as invalid ({ref}): {said}. Fix the parameter "
                "it names; retrying unchanged will not help.")
    if status == 401:
        where = (f"the variable {dialect.api_key_env} (or the api_key_env configured for this "
                 "provider)" if dialect.api_key_env else "the provider's api_key_env variable")
        return (f"{label} rejected the API key ({ref}): {said}. Check that {where} holds a "
                "valid, active key.")
    if status == 403:
        return (f"{label} refused access ({ref}): {said}. The key's project or organisation "
                "may lack access to this model, or the region may not be supported.")
    if status == 404:
        if body.code == "model_not_found" or "model" in said.lower():
            return (f"{label} has no such model, or the key has no access to it ({ref}): "
                    f"{said}. Check the model id (`agentflow models` lists the catalog).")
        return (f"{label} found nothing at this address ({ref}): {said}. Check base_url "
                "(for most servers it ends in /v1).")
    if status == 409:
        return f"{label} reported a conflict ({ref}): {said}. Retrying usually helps."
    if status == 422:
        return (f"{label} could not process the request ({ref}): {said}. Check the "
                "request's parameters.")
    if status >= 500:
        return (f"{label} failed to handle the request ({ref}): {said}. The fault is on the "
                "provider's side; retry later.")
    return f"{label} answered with an error ({ref}): {said}"


def _error_in_payload(dialect: Dialect, payload: dict[str, Any],
                      headers: Mapping[str, str] | None, *, stream: bool) -> LLMError:
    """The error for an error object found where an answer was expected (200 body, stream)."""
    body = _error_fields(payload) or ErrorBody(message=excerpt(json.dumps(payload)))
    code = body.code
    kinds = {**_STATUS_OF_KIND, **dialect.error_statuses}
    status = code if isinstance(code, int) and 400 <= code <= 599 else (
        kinds.get(str(code)) or kinds.get(body.type or ""))
    where = "in the stream" if stream else "in a 200 answer"
    if status is not None:
        return error_from_status(dialect, status, body, headers, where=where)
    kind = f"type={body.type}; " if body.type else ""
    message = (f"{dialect.label} reported an error {where} ({kind}no status given): "
               f"{body.message}")
    return StreamingError(message) if stream else ProviderError(message)
