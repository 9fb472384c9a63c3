"""Vendors' error answers read, and agentflow's errors worded for them, once for every plugin."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar, overload

import attrs

from agentflow._observe.logs import redact
from agentflow.errors import HttpError, LLMError, ProviderError, RateLimitError, StreamingError

__all__ = ["EXCERPT_LIMIT", "STATUS_WORDING", "ErrorBody", "ErrorWords", "excerpt",
           "parse_json", "read_error_body", "token_count"]

#: The longest excerpt of an unreadable body that goes into an error message.
EXCERPT_LIMIT = 200

#: For each status: what the vendor did, and what to do about it (``{key}``: the key variable).
STATUS_WORDING: Mapping[int, tuple[str, str]] = MappingProxyType({
    400: ("rejected the request as invalid",
          "Fix what it names; retrying unchanged will not help."),
    401: ("rejected the API key", "Check that {key} holds a valid, active key."),
    403: ("refused access", "The key may lack access to this model or feature."),
    404: ("found no such model or resource",
          "Check the model id (`agentflow models` lists the catalog) and base_url."),
    409: ("reported a conflict", "Retrying usually helps."),
    413: ("refused a request that is too large", "Shorten the prompt or its attachments."),
    422: ("could not process the request", "Check the request's parameters."),
})
_SERVER_FAULT = ("failed to handle the request",
                 "The fault is on the provider's side; retry later.")
_OTHER = ("answered with an error", "")

Body = TypeVar("Body", bound="ErrorBody")


@attrs.frozen(kw_only=True)
class ErrorBody:
    """What a vendor's error answer said, as far as it said it.

    :param message: the vendor's own words, or an excerpt of a body that could not be read.
    :param type: the vendor's error type (or status name); it becomes ``error_type``.
    :param code: the vendor's error code, a word or a number.
    :param param: the request parameter the error is about.
    :param request_id: the request id, for vendors that put it in the body.
    """

    message: str
    type: str | None = None
    code: str | int | None = None
    param: str | None = None
    request_id: str | None = None

    def details(self) -> str:
        """``type=..., code=..., param=...`` (those given), for an error message."""
        return ", ".join(f"{name}={value}" for name, value in
                         (("type", self.type), ("code", self.code), ("param", self.param))
                         if value is not None)


def excerpt(body: bytes | str, limit: int = EXCERPT_LIMIT) -> str:
    """At most ``limit`` characters of ``body``, quoted, key-shaped strings redacted, for an
    error message about an answer that could not be read."""
    text = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body).strip()
    if not text:
        return "(empty body)"
    return repr(redact(text[:limit] + "..." if len(text) > limit else text))


#: ``json.loads`` of a str is this decoder's ``raw_decode`` between two whitespace scans (two
#: regex matches); an event's data has no whitespace around it, so :func:`parse_json` calls
#: ``raw_decode`` directly and falls back to ``json.loads`` for anything else.
_DECODER = json.JSONDecoder()


def parse_json(raw: bytes | str, label: str, *, stream: bool = False,
               object_only: bool = True) -> Any:
    """The JSON of a vendor's answer (``stream``: of one stream event's data).

    Raises :class:`ProviderError` (:class:`StreamingError` for a stream event) quoting an
    :func:`excerpt` when it is not JSON or, with ``object_only``, not a JSON object; ``label``
    names the vendor in the message.
    """
    if isinstance(raw, str):  # a stream event's data, the per-chunk path: no regex scans
        try:
            body, end = _DECODER.raw_decode(raw)
        except ValueError:
            pass  # json.loads below says what is wrong (or accepts leading whitespace)
        else:
            if end == len(raw) and (not object_only or isinstance(body, dict)):
                return body
    what = "a stream event" if stream else "an answer"
    failure = StreamingError if stream else ProviderError
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise failure(f"{label} sent {what} that is not JSON ({exc}); it starts: "
                      f"{excerpt(raw)}") from None
    if object_only and not isinstance(body, dict):
        raise failure(f"{label} sent {what} that is not a JSON object: {excerpt(raw)}")
    return body


@overload
def read_error_body(content: bytes, fields: Callable[[Any], ErrorBody | None]) -> ErrorBody: ...


@overload
def read_error_body(content: bytes, fields: Callable[[Any], Body | None],
                    kind: type[Body]) -> Body: ...


def read_error_body(content: bytes, fields: Callable[[Any], Any],
                    kind: type[ErrorBody] = ErrorBody) -> ErrorBody:
    """The error body in ``content``: ``fields`` reads the vendor's shape from the parsed JSON
    (``None`` when it is not that shape); a body that is not JSON, or not that shape, gives a
    ``kind`` whose message is an :func:`excerpt` of it."""
    try:
        parsed = json.loads(content)
    except ValueError:
        return kind(message=excerpt(content))
    found = fields(parsed)
    return found if found is not None else kind(message=excerpt(content))


def token_count(value: Any) -> int | None:
    """A token count as a vendor sent it: ``None`` for none, else an integer (``12.0`` is
    ``12``). :class:`TypeError` for anything else, which a codec reports as an answer of an
    unexpected shape."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"token count {value!r} is not an integer")


@attrs.frozen(kw_only=True)
class ErrorWords:
    """How one vendor's errors are worded: ``<label> <what it did> (<status>; <details>):
    <its words>. <what to do>``, with the 429 and quota messages every vendor shares.

    :param label: how messages name the vendor (``Anthropic``); starts a sentence.
    :param key_env: the key variable a rejected key's message tells the user to check.
    :param wording: per status, ``(what the vendor did, what to do)`` over
        :data:`STATUS_WORDING`.
    """

    label: str
    key_env: str | None = None
    wording: Mapping[int, tuple[str, str]] = attrs.field(factory=dict)

    def from_status(self, status: int, body: ErrorBody, *, where: str | None = None,
                    retry_after: float | None = None, request_id: str | None = None,
                    quota: tuple[str, str] | None = None,
                    wording: tuple[str, str] | None = None,
                    retryable: bool | None = None) -> LLMError:
        """The most specific error for ``status`` and the vendor's ``body``.

        :param where: how the status was learnt when it was not an HTTP status (``"in the
            stream"``); the message then says so instead of ``HTTP <status>``.
        :param retry_after: the wait the vendor advised, for a 429.
        :param request_id: the vendor's request id (else the body's).
        :param quota: for a 429 that means a quota is used up, ``(which quota, what to do)``:
            such an error is not retried.
        :param wording: ``(what the vendor did, what to do)`` for this answer only.
        :param retryable: overrides whether the error is retried.
        """
        said = body.message
        status_text = f"HTTP {status}" if where is None else f"error {where}, taken as {status}"
        details = body.details()
        ref = f"{status_text}; {details}" if details else status_text
        context: dict[str, Any] = {"status_code": status, "error_type": body.type,
                                   "vendor_message": said,
                                   "request_id": request_id or body.request_id}
        if retryable is not None:
            context["retryable"] = retryable
        if status == 429 and quota is not None:
            context.setdefault("retryable", False)
            return RateLimitError(f"{self.label} says {quota[0]} is used up ({ref}): {said}. "
                                  f"{quota[1]}", retry_after=retry_after, **context)
        if status == 429:
            wait = (f"It advises waiting {retry_after:g} s." if retry_after is not None
                    else "Slow down and retry later.")
            return RateLimitError(f"{self.label} is rate limiting requests ({ref}): {said}. "
                                  f"{wait}", retry_after=retry_after, **context)
        did, advice = wording or self._wording(status)
        advice = advice.replace("{key}", f"{self.key_env} (or the api_key_env configured for "
                                "this provider)" if self.key_env else
                                "the provider's api_key_env variable")
        message = f"{self.label} {did} ({ref}): {said}"
        return HttpError(f"{message}. {advice}" if advice else message, **context)

    def _wording(self, status: int) -> tuple[str, str]:
        found = self.wording.get(status) or STATUS_WORDING.get(status)
        if found is not None:
            return found
        return _SERVER_FAULT if status >= 500 else _OTHER

    def in_answer(self, body: ErrorBody, statuses: Mapping[str, int], *, stream: bool,
                  **context: Any) -> LLMError:
        """The error for an error object found where an answer was expected (a 200 body, a
        stream event): that of the status its code, or its code or type by ``statuses``,
        stands for; with none, a :class:`ProviderError` (or :class:`StreamingError`).
        ``context`` goes to :meth:`from_status`."""
        where = "in the stream" if stream else "in a 200 answer"
        code = body.code
        status = code if isinstance(code, int) and 400 <= code <= 599 else (
            (statuses.get(str(code)) if code is not None else None)
            or statuses.get(body.type or ""))
        if status is not None:
            return self.from_status(status, body, where=where, **context)
        details = body.details()
        message = (f"{self.label} reported an error {where} "
                   f"({f'{details}; ' if details else ''}no status given): {body.message}")
        return StreamingError(message) if stream else ProviderError(message)
