"""agentflow plugin for the Acme LLM API (a fictional vendor, used by the tutorial).

Acme's wire format::

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

The module is imported when agentflow first needs plugins, so it imports nothing heavy at the
top: httpx and json are imported inside the hooks that use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentflow.hookspecs import hookimpl
from agentflow.types import ModelInfo, ProviderSpec

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError
    from agentflow.sse import ServerSentEvent
    from agentflow.testing import FakeProvider
    from agentflow.types import ModelSettings, Request, Response, StreamChunk, StreamState

NAME = "acme"
STOP_REASONS = {"end": "stop", "max_length": "length", "blocked": "content_filter"}


@hookimpl
def agentflow_register_providers() -> list[ProviderSpec]:
    return [ProviderSpec(name=NAME, default_base_url="https://api.acme.example/v1",
                         api_key_env="ACME_API_KEY", temperature_range=(0.0, 1.0),
                         description="Acme LLM API (tutorial)")]


@hookimpl
def agentflow_default_models() -> list[ModelInfo]:
    return [ModelInfo(name="acme-large", provider=NAME, model_id="acme-large-2026-01",
                      context_window=32_000, max_output_tokens=4_096)]


@hookimpl
def agentflow_build_request(vendor: str, request: Request,
                            settings: ModelSettings) -> httpx.Request | None:
    if vendor != NAME:
        return None
    import httpx

    body: dict[str, Any] = {
        "model": request.model,
        "input": [{"role": m.role, "text": m.content} for m in request.messages],
    }
    for field in ("temperature", "top_p", "max_tokens"):
        value = getattr(request, field)
        if value is not None:
            body[field] = value
    if request.stop:
        body["stop"] = list(request.stop)
    if request.stream:
        body["stream"] = True
    headers = {"x-acme-key": settings.api_key.reveal()} if settings.api_key else {}
    return httpx.Request("POST", settings.base_url.rstrip("/") + "/complete",
                         json=body, headers=headers)


@hookimpl
def agentflow_parse_response(vendor: str, response: httpx.Response) -> Response | None:
    if vendor != NAME:
        return None
    from agentflow.errors import ProviderError
    from agentflow.types import Response

    try:
        body = response.json()
        return Response(text=body["output"], model=body["model"], provider=NAME,
                        finish_reason=STOP_REASONS.get(body["stop_reason"]),
                        raw_finish_reason=body["stop_reason"], usage=_usage(body["tokens"]),
                        request_id=body.get("id"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderError(f"Acme sent an answer agentflow cannot read ({exc!r}): "
                            f"{response.text[:200]!r}") from exc


@hookimpl
def agentflow_parse_stream_event(vendor: str, event: ServerSentEvent,
                                 state: StreamState) -> list[StreamChunk] | None:
    if vendor != NAME:
        return None
    import json

    from agentflow.errors import StreamingError
    from agentflow.types import StreamChunk

    try:
        body = json.loads(event.data)
    except ValueError as exc:
        raise StreamingError(f"Acme sent a stream event that is not JSON: {exc}") from exc
    if event.event == "delta":
        return [StreamChunk(content=body["text"])]
    if event.event == "done":
        reason = body["stop_reason"]
        return [StreamChunk(is_final=True, finish_reason=STOP_REASONS.get(reason),
                            raw_finish_reason=reason, usage=_usage(body["tokens"]))]
    if event.event == "error":  # the core attaches the text received so far
        raise _error(body.get("status", 500), body.get("problem", event.data), {})
    return []  # events we do not know are skipped, as Acme's docs ask


@hookimpl
def agentflow_map_error(vendor: str, response: httpx.Response) -> LLMError | None:
    if vendor != NAME:
        return None
    try:
        problem = response.json()["problem"]
    except (ValueError, KeyError, TypeError):
        problem = response.text[:200]
    return _error(response.status_code, problem, response.headers)


@hookimpl
def agentflow_check_provider(vendor: str, settings: ModelSettings) -> httpx.Request | None:
    if vendor != NAME:
        return None
    import httpx

    headers = {"x-acme-key": settings.api_key.reveal()} if settings.api_key else {}
    return httpx.Request("GET", settings.base_url.rstrip("/") + "/models", headers=headers)


@hookimpl
def agentflow_fake_routes() -> list[FakeProvider]:
    from agentflow_acme._fake import acme_fake

    return [acme_fake()]


def _error(status: int, problem: str, headers: Mapping[str, str]) -> LLMError:
    from agentflow.errors import HttpError, RateLimitError

    if status == 429:
        retry_after = headers.get("retry-after")
        return RateLimitError(f"Acme is rate limiting: {problem}", status_code=status,
                              vendor_message=problem,
                              retry_after=float(retry_after) if retry_after else None)
    hint = " (check ACME_API_KEY)" if status == 401 else ""
    return HttpError(f"Acme answered {status}: {problem}{hint}", status_code=status,
                     vendor_message=problem)


def _usage(tokens: dict[str, int]) -> Any:
    from agentflow.types import Usage

    return Usage.of(tokens["in"], tokens["out"])
