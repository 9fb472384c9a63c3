"""Google's Gemini API (``generateContent`` and ``streamGenerateContent``) as pure functions.

Decisions worth knowing (also in the README):

* The key travels in the ``x-goog-api-key`` header, never in the URL, so no proxy or access log
  ever keeps it.
* System messages become ``systemInstruction``; user and assistant turns become ``contents``
  with the roles ``user`` and ``model``.
* Text is every text part of the first candidate joined, thought parts (``thought: true``)
  left out. ``completion_tokens`` counts the thinking tokens too
  (``candidatesTokenCount + thoughtsTokenCount``), as OpenAI's does, so that figures and costs
  compare across vendors; ``reasoning_tokens`` is ``thoughtsTokenCount`` alone.
* A prompt blocked by ``promptFeedback.blockReason``, or a candidate stopped for safety before
  any text, raises :class:`~agentflow.errors.ProviderError` naming the reason and the flagged
  categories, rather than returning an empty string; a safety stop after some text returns the
  text with ``finish_reason == "content_filter"``.
* A stream has no end marker: the chunk that carries ``finishReason`` is the last one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import attrs

from agentflow.errors import HttpError, LLMError, ProviderError, RateLimitError, StreamingError
from agentflow.types import Response, StreamChunk, Usage

if TYPE_CHECKING:
    import httpx

    from agentflow.types import ModelSettings, Request, StreamState

__all__ = [
    "ErrorBody",
    "build_request",
    "map_error",
    "model_url",
    "normalise_finish_reason",
    "parse_response",
    "parse_stream_event",
    "parse_usage",
    "read_error_body",
]

LABEL = "Gemini"
KEY_VARIABLES = "GOOGLE_API_KEY or GEMINI_API_KEY"
USER_AGENT = "agentflow-google/0.1.0"
EXCERPT_LIMIT = 200

_FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "LANGUAGE": "error",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
}

#: The HTTP status each ``google.rpc`` status stands for (an error object in a stream).
STATUS_CODES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class EventLike(Protocol):
    """What the codec reads of a server-sent event (``agentflow.sse.ServerSentEvent``)."""

    @property
    def data(self) -> str: ...


@attrs.frozen(kw_only=True)
class ErrorBody:
    """What an error answer said: ``error.message``, ``error.status``, the ``ErrorInfo``
    reason and the ``RetryInfo`` delay of its details."""

    message: str
    status: str | None = None
    code: int | None = None
    reason: str | None = None
    retry_delay: float | None = None


# --- requests ----------------------------------------------------------------------------------


def model_url(base_url: str, model: str, *, stream: bool) -> str:
    """``{base}/v1beta/models/{model}:generateContent`` (or ``:streamGenerateContent?alt=sse``);
    a base URL that already names an API version (``.../v1beta``, ``.../v1``) keeps it."""
    base = base_url.rstrip("/")
    if not base.rsplit("/", 1)[-1].startswith("v1"):
        base = f"{base}/v1beta"
    model = model.removeprefix("models/")
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base}/models/{quote(model, safe='.-_')}:{method}"


def build_request(request: Request, settings: ModelSettings) -> httpx.Request:
    """The ``httpx.Request`` for ``request``: URL, headers (with the key) and JSON body."""
    import httpx

    body: dict[str, Any] = {"contents": [
        {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
        for m in request.messages if m.role != "system"]}
    system = [m.content for m in request.messages if m.role == "system"]
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    config: dict[str, Any] = {}
    for name, value in (("temperature", request.temperature), ("topP", request.top_p),
                        ("maxOutputTokens", request.max_tokens)):
        if value is not None:
            config[name] = value
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if config:
        body["generationConfig"] = config
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    if settings.api_key is not None:
        headers["x-goog-api-key"] = settings.api_key.reveal()
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return httpx.Request("POST", model_url(settings.base_url, request.model,
                                           stream=request.stream),
                         headers=headers, content=content)


# --- answers -----------------------------------------------------------------------------------


def normalise_finish_reason(raw: str | None) -> str | None:
    """agentflow's finish reason for Gemini's ``finishReason``; ``None`` if unknown."""
    return _FINISH_REASONS.get(raw) if raw is not None else None


def parse_usage(raw: Any) -> Usage | None:
    """A :class:`Usage` from ``usageMetadata`` (thinking tokens counted as completion)."""
    if not isinstance(raw, dict):
        return None
    prompt = _count(raw.get("promptTokenCount"))
    answer = _count(raw.get("candidatesTokenCount"))
    thoughts = raw.get("thoughtsTokenCount")
    cached = raw.get("cachedContentTokenCount")
    completion = answer + _count(thoughts)
    total = raw.get("totalTokenCount")
    return Usage.of(prompt, completion,
                    _count(total) if total is not None else None,
                    cached_tokens=_count(cached) if cached is not None else None,
                    reasoning_tokens=_count(thoughts) if thoughts is not None else None)


def _count(value: Any) -> int:
    if value is None:
        return 0
    if type(value) is int:
        return value
    raise TypeError(f"token count {value!r} is not an integer")


def excerpt(body: bytes | str) -> str:
    """At most :data:`EXCERPT_LIMIT` characters of ``body``, quoted, for an error message."""
    text = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body).strip()
    if not text:
        return "(empty body)"
    return repr(text[:EXCERPT_LIMIT] + "..." if len(text) > EXCERPT_LIMIT else text)


def parse_response(response: httpx.Response, request: Request | None = None) -> Response:
    """The :class:`Response` in a 2xx ``GenerateContentResponse``."""
    content = response.content
    try:
        body = json.loads(content)
    except ValueError as exc:
        raise ProviderError(f"{LABEL} sent an answer that is not JSON ({exc}); it starts: "
                            f"{excerpt(content)}") from None
    if not isinstance(body, dict):
        raise ProviderError(f"{LABEL} sent an answer that is not a JSON object: "
                            f"{excerpt(content)}")
    if isinstance(body.get("error"), dict):
        raise _error_in_payload(body, where="in a 200 answer")
    try:
        text, raw = _candidate(body)
        finish = normalise_finish_reason(raw)
        if not text and finish == "content_filter":
            raise _blocked_candidate(body, raw)
        return Response(
            text=text,
            model=body.get("modelVersion") or (request.model if request is not None else ""),
            provider="google",
            finish_reason=finish,
            raw_finish_reason=raw,
            usage=parse_usage(body.get("usageMetadata")),
            request_id=body.get("responseId"),
        )
    except (AttributeError, KeyError, TypeError) as exc:
        raise ProviderError(f"{LABEL} sent an answer of an unexpected shape "
                            f"({type(exc).__name__}: {exc}): {excerpt(content)}") from None


def _candidate(body: dict[str, Any]) -> tuple[str, str | None]:
    """The first candidate's text (thoughts left out) and finish reason; raises for a blocked
    prompt."""
    candidates = body.get("candidates")
    if not candidates:
        feedback = body.get("promptFeedback") or {}
        if feedback.get("blockReason"):
            raise _blocked_prompt(feedback)
        return "", None
    candidate = candidates[0]
    content = candidate.get("content")
    parts = [] if content is None else content.get("parts") or []
    text = "".join(part["text"] for part in parts
                   if "text" in part and not part.get("thought"))
    return text, candidate.get("finishReason")


def _flagged(ratings: Any) -> str:
    """The safety categories rated as a problem, for a message."""
    if not isinstance(ratings, list):
        return ""
    flagged = [str(r.get("category", "?")).removeprefix("HARM_CATEGORY_").lower()
               for r in ratings if isinstance(r, dict)
               and (r.get("blocked") or r.get("probability") in ("MEDIUM", "HIGH"))]
    return f"; flagged: {', '.join(flagged)}" if flagged else ""


def _blocked_prompt(feedback: dict[str, Any]) -> ProviderError:
    reason = feedback.get("blockReason")
    return ProviderError(
        f"{LABEL} blocked the prompt (blockReason={reason}"
        f"{_flagged(feedback.get('safetyRatings'))}) and gave no answer; rephrase the prompt, "
        "or review the safety settings of your Google project", retryable=False)


def _blocked_candidate(body: dict[str, Any], raw: str | None) -> ProviderError:
    candidate = body["candidates"][0]
    return ProviderError(
        f"{LABEL} stopped the answer before any text (finishReason={raw}"
        f"{_flagged(candidate.get('safetyRatings'))}); rephrase the prompt", retryable=False)


def parse_stream_event(event: EventLike, state: StreamState) -> list[StreamChunk]:
    """The chunks in one streamed ``GenerateContentResponse``: its text, and the final chunk
    when it carries the finish reason."""
    data = event.data
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise StreamingError(f"{LABEL} sent a stream event that is not JSON ({exc}); it "
                             f"starts: {excerpt(data)}") from None
    if not isinstance(body, dict):
        raise StreamingError(f"{LABEL} sent a stream event that is not a JSON object: "
                             f"{excerpt(data)}")
    if isinstance(body.get("error"), dict):
        raise _error_in_payload(body, where="in the stream")
    try:
        text, raw = _candidate(body)
        usage = body.get("usageMetadata")
        if usage:
            state.data["usage"] = usage
        chunks = [StreamChunk(content=text)] if text else []
        if raw is None:
            return chunks
        finish = normalise_finish_reason(raw)
        if finish == "content_filter" and not text and not state.text_parts:
            raise _blocked_candidate(body, raw)
        chunks.append(StreamChunk(is_final=True, finish_reason=finish, raw_finish_reason=raw,
                                  usage=parse_usage(state.data.get("usage"))))
        return chunks
    except (AttributeError, KeyError, TypeError) as exc:
        raise StreamingError(f"{LABEL} sent a stream chunk of an unexpected shape "
                             f"({type(exc).__name__}: {exc}): {excerpt(data)}") from None


# --- errors ------------------------------------------------------------------------------------


def read_error_body(content: bytes) -> ErrorBody:
    """The fields of ``{"error": {"code", "message", "status", "details"}}``, or an excerpt of
    a body that is not one."""
    try:
        body = json.loads(content)
    except ValueError:
        return ErrorBody(message=excerpt(content))
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return ErrorBody(message=excerpt(content))
    return _error_fields(body["error"])


def _error_fields(error: dict[str, Any]) -> ErrorBody:
    reason = None
    delay = None
    for detail in error.get("details") or ():
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.ErrorInfo"):
            reason = detail.get("reason")
        elif kind.endswith("google.rpc.RetryInfo"):
            delay = _duration(detail.get("retryDelay"))
    message = error.get("message")
    code = error.get("code")
    status = error.get("status")
    return ErrorBody(message=str(message)[:1000] if message else "(no message)",
                     status=status if isinstance(status, str) else None,
                     code=code if type(code) is int else None,
                     reason=reason if isinstance(reason, str) else None, retry_delay=delay)


def _duration(value: Any) -> float | None:
    """Seconds in a protobuf Duration as JSON (``"13s"``, ``"1.5s"``)."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return max(0.0, float(value[:-1]))
        except ValueError:
            return None
    return None


def map_error(response: httpx.Response) -> LLMError:
    """The error for an HTTP error answer (status >= 400), with Google's own words."""
    from agentflow.retry import parse_retry_after

    body = read_error_body(response.content)
    advised = parse_retry_after(response.headers.get("retry-after"))
    return error_from_status(response.status_code, body,
                             advised if advised is not None else body.retry_delay)


def _error_in_payload(body: dict[str, Any], *, where: str) -> LLMError:
    fields = _error_fields(body["error"])
    status = fields.code if fields.code and 400 <= fields.code <= 599 else STATUS_CODES.get(
        fields.status or "")
    if status is None:
        message = f"{LABEL} reported an error {where} ({fields.status}): {fields.message}"
        return StreamingError(message) if where == "in the stream" else ProviderError(message)
    return error_from_status(status, fields, fields.retry_delay, where=where)


def error_from_status(status: int, body: ErrorBody, retry_after: float | None = None, *,
                      where: str | None = None) -> LLMError:
    """The most specific error for ``status`` and Google's ``body``."""
    said = body.message
    details = ", ".join(f"{name}={value}" for name, value in
                        (("status", body.status), ("reason", body.reason)) if value)
    status_text = f"HTTP {status}" if where is None else f"error {where}, taken as {status}"
    ref = f"{status_text}; {details}" if details else status_text
    context: dict[str, Any] = {"status_code": status, "error_type": body.status,
                               "vendor_message": said}
    if status == 429:
        wait = (f"It advises waiting {retry_after:g} s." if retry_after is not None
                else "Slow down and retry later.")
        return RateLimitError(f"{LABEL} is rate limiting requests or the quota is used up "
                              f"({ref}): {said}. {wait}", retry_after=retry_after, **context)
    if body.reason in ("API_KEY_INVALID", "API_KEY_EXPIRED") or status == 401 or (
            status == 403 and "unregistered callers" in said):
        return HttpError(f"{LABEL} rejected the API key ({ref}): {said}. Check that "
                         f"{KEY_VARIABLES} (or the api_key_env configured for this provider) "
                         "holds a valid key.", retryable=False, **context)
    return HttpError(_status_message(status, ref, said), **context)


def _status_message(status: int, ref: str, said: str) -> str:
    if status == 400:
        return (f"{LABEL} rejected the request as invalid ({ref}): {said}. Fix what it names; "
                "retrying unchanged will not help.")
    if status == 403:
        return (f"{LABEL} refused access ({ref}): {said}. The key's project may lack access "
                "to this model, or the region may not be supported.")
    if status == 404:
        return (f"{LABEL} has no such model or method ({ref}): {said}. Check the model id "
                "(`agentflow models` lists the catalog) and base_url.")
    if status >= 500:
        return (f"{LABEL} failed to handle the request ({ref}): {said}. The fault is on the "
                "provider's side; retry later.")
    return f"{LABEL} answered with an error ({ref}): {said}"

