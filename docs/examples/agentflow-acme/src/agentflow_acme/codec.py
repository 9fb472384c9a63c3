"""Acme's wire format, both ways: the five functions agentflow's vendor hooks need.

Acme's API::

    POST {base_url}/complete          header x-acme-key: <key>
    {"model": "...", "input": [{"role": "user", "text": "..."}], "temperature": 0.5, ...}

    200 {"id": "...", "model": "...", "output": "...", "stop_reason": "end" | "max_length",
         "tokens": {"in": 3, "out": 5}}
    4xx/5xx {"problem": "what went wrong"}

    GET {base_url}/models             header x-acme-key: <key>     (the health check)
    200 {"models": [{"id": "acme-large-2026-01"}]}

With ``"stream": true`` the answer is server-sent events: ``event: delta`` with
``{"text": "..."}``, then one ``event: done`` with ``{"stop_reason", "tokens"}``; a failure
mid-stream ends it with ``event: error`` and ``{"problem": "...", "status": 503}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentflow.errors import ProviderError, StreamingError
from agentflow.types import Response, StreamChunk, Usage
from agentflow.vendor import ErrorBody, ErrorWords, parse_json, parse_retry_after, read_error_body

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError
    from agentflow.sse import ServerSentEvent
    from agentflow.types import ModelSettings, Request, StreamState

NAME = "acme"
STOP_REASONS = {"end": "stop", "max_length": "length", "blocked": "content_filter"}
#: How Acme's errors read: "Acme rejected the API key (HTTP 401): ... Check that ACME_API_KEY..."
WORDS = ErrorWords(label="Acme", key_env="ACME_API_KEY")


def build_request(request: Request, settings: ModelSettings) -> httpx.Request:
    import httpx

    body: dict[str, Any] = {
        "model": request.model,
        "input": [{"role": m.role, "text": m.text} for m in request.messages],
    }
    for field in ("temperature", "top_p", "max_tokens"):
        value = getattr(request, field)
        if value is not None:  # None: not set anywhere, the vendor's default applies
            body[field] = value
    if request.stop:
        body["stop"] = list(request.stop)
    if request.stream:
        body["stream"] = True
    return httpx.Request("POST", settings.base_url.rstrip("/") + "/complete",
                         json=body, headers=_auth(settings))


def _auth(settings: ModelSettings) -> dict[str, str]:
    return {"x-acme-key": settings.api_key.reveal()} if settings.api_key else {}


def parse_response(response: httpx.Response, request: Request) -> Response:
    body = parse_json(response.content, "Acme")
    try:
        return Response(text=body["output"], model=body["model"], provider=NAME,
                        finish_reason=STOP_REASONS.get(body["stop_reason"]),
                        raw_finish_reason=body["stop_reason"], usage=_usage(body["tokens"]),
                        request_id=body.get("id"))
    except (KeyError, TypeError) as exc:
        raise ProviderError(f"Acme sent an answer agentflow cannot read ({exc!r})") from exc


def _usage(tokens: dict[str, int]) -> Usage:
    return Usage.of(tokens["in"], tokens["out"])


def parse_stream_event(event: ServerSentEvent, state: StreamState) -> list[StreamChunk]:
    body = parse_json(event.data, "Acme", stream=True)  # StreamingError if it is not JSON
    try:
        if event.event == "delta":
            return [StreamChunk(content=body["text"])]
        if event.event == "done":
            reason = body["stop_reason"]
            return [StreamChunk(is_final=True, finish_reason=STOP_REASONS.get(reason),
                                raw_finish_reason=reason, usage=_usage(body["tokens"]))]
    except (KeyError, TypeError) as exc:
        raise StreamingError(f"Acme sent a {event.event} event agentflow cannot read "
                             f"({exc!r})") from exc
    if event.event == "error":  # an HttpError, with the status the event names
        raise WORDS.from_status(body.get("status", 500), _problem(body) or
                                ErrorBody(message=event.data), where="in the stream")
    return []  # events we do not know are skipped, as Acme's docs ask


def map_error(response: httpx.Response) -> LLMError:
    return WORDS.from_status(response.status_code, read_error_body(response.content, _problem),
                             retry_after=parse_retry_after(response.headers.get("retry-after")))


def _problem(body: Any) -> ErrorBody | None:
    """Acme's error body, ``{"problem": "..."}``; ``None`` for any other."""
    problem = body.get("problem") if isinstance(body, dict) else None
    return ErrorBody(message=problem) if isinstance(problem, str) else None


def check_request(settings: ModelSettings) -> httpx.Request:
    import httpx

    return httpx.Request("GET", settings.base_url.rstrip("/") + "/models",
                         headers=_auth(settings))
