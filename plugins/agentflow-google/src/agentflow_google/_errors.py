"""Gemini's error answers, read into agentflow's errors.

Google answers every failure with ``{"error": {"code", "message", "status", "details"}}``
(sometimes wrapped in a one-element list, as the streaming endpoint does). ``status`` is the
``google.rpc`` code name (``INVALID_ARGUMENT``, ``RESOURCE_EXHAUSTED`` ...) and becomes
``error_type``; ``details`` may hold an ``ErrorInfo`` (its ``reason``: ``API_KEY_INVALID`` ...),
a ``RetryInfo`` (``retryDelay``: ``"13s"``) and a ``QuotaFailure`` (which quota ran out).

Decisions worth knowing (also in the README):

* A rejected key is a 400 ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID`` (or
  ``API_KEY_EXPIRED``); no key at all is a 403 "unregistered callers"; an API key sent as an
  OAuth token is a 401. All three say so and name the key variables, and are not retried.
* A 429 waits ``Retry-After`` when there is one, else the ``RetryInfo`` delay. A 429 for a
  per-day quota is not retried: the quota resets at midnight Pacific time, not in seconds.
* An error object inside a 200 answer or a stream raises the error its ``code`` (else its
  ``status``) denotes; with neither, :class:`ProviderError` or :class:`StreamingError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from agentflow.vendor import ErrorBody as VendorErrorBody
from agentflow.vendor import ErrorWords, parse_retry_after
from agentflow.vendor import read_error_body as read_body

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError

__all__ = [
    "KEY_VARIABLES",
    "LABEL",
    "STATUS_CODES",
    "ErrorBody",
    "error_fields",
    "error_from_status",
    "error_in_payload",
    "error_object",
    "map_error",
    "read_error_body",
]

LABEL = "Gemini"
#: What a key error tells the user to check.
KEY_VARIABLES = "GOOGLE_API_KEY or GEMINI_API_KEY"
_VENDOR_MESSAGE_LIMIT = 1000

#: The HTTP status each ``google.rpc`` status name stands for (for an error object that
#: arrives without a code, inside a stream).
STATUS_CODES: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "ACCESS_TOKEN_TYPE_UNSUPPORTED"})
# Google API keys start with "AIza"; no message of ours repeats one, even if a proxy echoes it.
_KEY_PATTERN = re.compile(r"AIza[0-9A-Za-z_\-]{10,}")


@attrs.frozen(kw_only=True)
class ErrorBody(VendorErrorBody):
    """What an error answer said: the ``error`` object's fields (``type`` is its ``status``, the
    ``google.rpc`` code name; ``code`` its HTTP status) and the details that matter."""

    reason: str | None = None
    retry_delay: float | None = None
    quota_ids: tuple[str, ...] = ()

    def details(self) -> str:
        """``status=..., reason=...``, for an error message."""
        return ", ".join(f"{name}={value}" for name, value in
                         (("status", self.type), ("reason", self.reason)) if value)


#: How Gemini's errors are worded, where agentflow's common wording does not fit.
WORDS = ErrorWords(label=LABEL, key_env=KEY_VARIABLES, wording={
    403: ("refused access", "The key's project may lack access to this model, or the API may "
          "be restricted for this key."),
    404: ("has no such model or method",
          "Check the model id (`agentflow models` lists the catalog) and base_url."),
    504: ("did not finish in time", "Retry, or send a shorter prompt."),
})
_NO_PROJECT = ("cannot serve this request as the project is set up", "The free tier is not "
               "offered in every country; enabling billing for the project in Google AI "
               "Studio lifts that.")
_DAILY_QUOTA = ("a daily quota", "It resets at midnight Pacific time; retrying sooner will not "
                "help (a paid tier raises the limits).")


def _redact(text: str) -> str:
    return _KEY_PATTERN.sub("AIza***", text) if "AIza" in text else text


def read_error_body(content: bytes) -> ErrorBody:
    """The fields of Google's error body (bare or in a one-element list), or, for a body that
    is not one, an excerpt of it as the message."""
    return read_body(content, _fields_of, ErrorBody)


def _fields_of(body: Any) -> ErrorBody | None:
    error = error_object(body)
    return error_fields(error) if error is not None else None


def error_object(body: Any) -> dict[str, Any] | None:
    """The ``error`` object of ``body`` (or of the one element of a list), if it has one."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def error_fields(error: Mapping[str, Any]) -> ErrorBody:
    """An :class:`ErrorBody` from an ``error`` object."""
    reason: str | None = None
    delay: float | None = None
    quotas: list[str] = []
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.ErrorInfo") and isinstance(detail.get("reason"), str):
            reason = detail["reason"]
        elif kind.endswith("google.rpc.RetryInfo"):
            delay = _seconds(detail.get("retryDelay"))
        elif kind.endswith("google.rpc.QuotaFailure"):
            violations = detail.get("violations")
            quotas += [str(v["quotaId"]) for v in violations if isinstance(v, dict)
                       and "quotaId" in v] if isinstance(violations, list) else []
    message = error.get("message")
    status = error.get("status")
    code = error.get("code")
    return ErrorBody(
        message=_redact(message[:_VENDOR_MESSAGE_LIMIT].strip())
        if isinstance(message, str) and message.strip() else "(no message)",
        type=status if isinstance(status, str) and status else None,
        code=code if type(code) is int else None,
        reason=reason, retry_delay=delay, quota_ids=tuple(quotas))


def _seconds(value: Any) -> float | None:
    """Seconds in a protobuf ``Duration`` as JSON: ``"13s"``, ``"1.500s"``."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        seconds = float(value[:-1])
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def map_error(response: httpx.Response) -> LLMError:
    """The error for an HTTP error answer (status >= 400), with Google's own words."""
    body = read_error_body(response.content)
    advised = parse_retry_after(response.headers.get("retry-after"))
    return error_from_status(response.status_code, body,
                             advised if advised is not None else body.retry_delay)


def error_in_payload(error: Mapping[str, Any], *, stream: bool) -> LLMError:
    """The error for an ``error`` object found where an answer was expected."""
    fields = error_fields(error)
    code = fields.code
    status = code if isinstance(code, int) and 400 <= code <= 599 else STATUS_CODES.get(
        fields.type or "", 0)
    return WORDS.in_answer(fields, STATUS_CODES, stream=stream,
                           **_context(status, fields, fields.retry_delay))


def error_from_status(status: int, body: ErrorBody, retry_after: float | None = None, *,
                      where: str | None = None) -> LLMError:
    """The most specific error for ``status`` and Google's ``body``.

    ``where`` says how the status was learnt when it was not an HTTP status (``"in the
    stream"``); messages then say so instead of ``HTTP <status>``.
    """
    return WORDS.from_status(status, body, where=where, **_context(status, body, retry_after))


def _context(status: int, body: ErrorBody, retry_after: float | None) -> dict[str, Any]:
    """The retry advice, the daily quota, and how a refused key or project is worded."""
    context: dict[str, Any] = {"retry_after": retry_after}
    if any("PerDay" in quota for quota in body.quota_ids):
        context["quota"] = _DAILY_QUOTA
    key_problem = _key_problem(status, body)
    if key_problem is not None:
        context["wording"] = (key_problem, f"Check that {KEY_VARIABLES} (or the api_key_env "
                              "configured for this provider) holds a valid Gemini API key.")
        context["retryable"] = False
    elif status == 400 and body.type == "FAILED_PRECONDITION":
        context["wording"] = _NO_PROJECT
    return context


def _key_problem(status: int, body: ErrorBody) -> str | None:
    """How the key was refused, when that is what the answer says."""
    if body.reason in _KEY_REASONS or (status == 400 and "API key" in body.message
                                       and "not valid" in body.message):
        return "rejected the API key"
    if status == 403 and "unregistered callers" in body.message:
        return "received no API key"
    if status == 401:
        return "could not authenticate the request"
    return None
