"""agentflow's provider conformance suite, run on both of this plugin's providers."""

from __future__ import annotations

from agentflow.errors import HttpError, RateLimitError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import ProviderConformance, WireRequest

_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def _wire(request: RecordedRequest) -> WireRequest:
    body = request.json
    system = [m["content"] for m in body["messages"] if m["role"] in ("system", "developer")]
    stop = body.get("stop")
    return WireRequest(
        model=body["model"],
        system="\n".join(system) if system else None,
        messages=tuple((m["role"], m["content"]) for m in body["messages"]
                       if m["role"] not in ("system", "developer")),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        stream=bool(body.get("stream")),
    )


class TestOpenAIConformance(ProviderConformance):
    provider = "openai"
    model = "gpt-4o"
    error_statuses = {400: HttpError, 401: HttpError, 403: HttpError, 404: HttpError,
                      409: HttpError, 422: HttpError, 429: RateLimitError, 500: HttpError,
                      502: HttpError, 503: HttpError}
    finish_reasons = _FINISH_REASONS
    stream_error = ("server_error", HttpError)

    def wire(self, request: RecordedRequest) -> WireRequest:
        return _wire(request)


class TestOpenAICompatibleConformance(ProviderConformance):
    provider = "openai_compatible"
    model = "gpt-4o"
    finish_reasons = {**_FINISH_REASONS, "eos": "stop", "abort": "error"}
    stream_error = ("server_error", HttpError)

    def wire(self, request: RecordedRequest) -> WireRequest:
        return _wire(request)
