"""Chat Completions error answers, read into agentflow's errors (see :mod:`agentflow_openai.chat`).

Bodies: OpenAI's ``{"error": {message, type, param, code}}``, the bare ``{"message", "type",
"code"}`` of older vLLM, or ``{"error": "text"}``. The wait a 429 advises is read from
``retry-after-ms``, ``Retry-After`` and OpenAI's ``x-ratelimit-reset-*`` durations. A masked key
that a vendor quotes in a 401 message is not repeated.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentflow.vendor import (
    ErrorBody,
    ErrorWords,
    excerpt,
    parse_retry_after,
)
from agentflow.vendor import read_error_body as read_body

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError
    from agentflow_openai.chat import Dialect

__all__ = ["duration_seconds", "error_fields", "error_from_status", "error_in_payload",
           "map_error", "read_error_body", "retry_after_seconds"]

_VENDOR_MESSAGE_LIMIT = 1000
_QUOTA = ("the quota", "Check the account's plan and billing; retrying will not help until "
          "the quota is raised.")
_WORDING = {
    400: ("rejected the request as invalid",
          "Fix the parameter it names; retrying unchanged will not help."),
    403: ("refused access", "The key's project or organisation may lack access to this model, "
          "or the region may not be supported."),
    404: ("found nothing at this address", "Check base_url (for most servers it ends in /v1)."),
}
_NO_MODEL = ("has no such model, or the key has no access to it",
             "Check the model id (`agentflow models` lists the catalog).")

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


def read_error_body(content: bytes) -> ErrorBody:
    """The fields of an error answer, or, for a body of no known shape, an excerpt of it as
    the message."""
    return read_body(content, error_fields)


def error_fields(body: Any) -> ErrorBody | None:
    """The :class:`~agentflow.vendor.ErrorBody` of a parsed error answer; ``None`` for none."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    fields = error if isinstance(error, dict) else body
    message = error if isinstance(error, str) else fields.get("message")
    if not isinstance(message, str) or not message:
        return None
    code = fields.get("code")
    return ErrorBody(message=_redact(message[:_VENDOR_MESSAGE_LIMIT]),
                     type=_text(fields.get("type")), param=_text(fields.get("param")),
                     code=code if isinstance(code, (str, int)) and not isinstance(code, bool)
                     else None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _redact(message: str) -> str:
    """Vendors quote a masked key in 401 messages; agentflow messages quote none of it."""
    if "sk-" not in message and "earer" not in message:  # [Bb]earer
        return message
    message = re.sub(r"sk-[A-Za-z0-9_\-*]+", "sk-***", message)
    return re.sub(r"([Bb]earer) [^\s,;]+", r"\1 ***", message)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a response advises: ``retry-after-ms``, else ``Retry-After`` (seconds or an
    HTTP date), else the ``x-ratelimit-reset-*`` time of a limit that is used up (OpenAI's
    ``6m0s`` durations). ``None`` when there is no usable advice."""
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
    return parse_retry_after(advice) if advice else _reset_wait(headers)


def _reset_wait(headers: Mapping[str, str]) -> float | None:
    """The longest reset among the limits (requests, tokens) whose remaining count is 0."""
    waits = [duration_seconds(headers.get(f"x-ratelimit-reset-{limit}", ""))
             for limit in ("requests", "tokens")
             if headers.get(f"x-ratelimit-remaining-{limit}") == "0"]
    found = [wait for wait in waits if wait is not None]
    return max(found) if found else None


def duration_seconds(text: str) -> float | None:
    """Seconds in a duration such as ``1s``, ``6m0s``, ``1h2m3.5s`` or ``20ms``."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?(?:([\d.]+)ms)?",
                         text.strip())
    if not text.strip() or parts is None:
        return None
    hours, minutes, seconds, millis = (float(part) if part else 0.0 for part in parts.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def map_error(dialect: Dialect, response: httpx.Response) -> LLMError:
    """The error for an HTTP error answer (status >= 400), with the vendor's own words."""
    return error_from_status(dialect, response.status_code, read_error_body(response.content),
                             response.headers)


def _words(dialect: Dialect, body: ErrorBody) -> ErrorWords:
    no_model = body.code == "model_not_found" or "model" in body.message.lower()
    return ErrorWords(label=dialect.label,
                      key_env=dialect.api_key_env and f"the variable {dialect.api_key_env}",
                      wording={**_WORDING, 404: _NO_MODEL} if no_model else _WORDING)


def _context(dialect: Dialect, body: ErrorBody,
             headers: Mapping[str, str] | None) -> dict[str, Any]:
    """What :meth:`~agentflow.vendor.ErrorWords.from_status` needs beyond the status."""
    headers = headers if headers is not None else {}
    quota = body.type in dialect.quota_errors or body.code in dialect.quota_errors
    return {"retry_after": retry_after_seconds(headers), "quota": _QUOTA if quota else None,
            "request_id": headers.get("x-request-id")}


def error_from_status(dialect: Dialect, status: int, body: ErrorBody,
                      headers: Mapping[str, str] | None = None, *,
                      where: str | None = None) -> LLMError:
    """The most specific error for ``status`` and the vendor's ``body``.

    ``where`` says how the status was learnt when it was not an HTTP status (``"in the
    stream"``); messages then say so instead of ``HTTP <status>``.
    """
    return _words(dialect, body).from_status(status, body, where=where,
                                             **_context(dialect, body, headers))


def error_in_payload(dialect: Dialect, payload: dict[str, Any],
                     headers: Mapping[str, str] | None, *, stream: bool) -> LLMError:
    """The error for an error object found where an answer was expected (200 body, stream)."""
    body = error_fields(payload) or ErrorBody(message=excerpt(json.dumps(payload)))
    return _words(dialect, body).in_answer(body, {**_STATUS_OF_KIND, **dialect.error_statuses},
                                           stream=stream, **_context(dialect, body, headers))
