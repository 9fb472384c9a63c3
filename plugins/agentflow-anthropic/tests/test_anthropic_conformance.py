"""agentflow's provider conformance suite, on the Anthropic plugin."""

from __future__ import annotations

from agentflow.errors import HttpError, RateLimitError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import ProviderConformance, WireRequest


class TestAnthropicConformance(ProviderConformance):
    provider = "anthropic"
    model = "claude-sonnet-4-5"
    error_statuses = {400: HttpError, 401: HttpError, 403: HttpError, 404: HttpError,
                      413: HttpError, 429: RateLimitError, 500: HttpError, 529: HttpError}
    finish_reasons = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                      "model_context_window_exceeded": "length", "tool_use": "tool_calls",
                      "refusal": "content_filter", "pause_turn": None}
    stream_error = ("overloaded_error", HttpError)
    always_sends_max_tokens = True

    def wire(self, request: RecordedRequest) -> WireRequest:
        body = request.json
        return WireRequest(
            model=body["model"], system=body.get("system"),
            messages=tuple((m["role"], m["content"]) for m in body["messages"]),
            temperature=body.get("temperature"), top_p=body.get("top_p"),
            max_tokens=body.get("max_tokens"), stop=tuple(body.get("stop_sequences", ())),
            stream=bool(body.get("stream")))
