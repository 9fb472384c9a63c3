"""agentflow's provider conformance suite, run on both of this plugin's providers."""

from __future__ import annotations

from agentflow.errors import HttpError, RateLimitError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import ProviderConformance, WireRequest
from agentflow_openai.testing.wire import read_wire

_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


class TestOpenAIConformance(ProviderConformance):
    provider = "openai"
    model = "gpt-4o"
    error_statuses = {400: HttpError, 401: HttpError, 403: HttpError, 404: HttpError,
                      409: HttpError, 422: HttpError, 429: RateLimitError, 500: HttpError,
                      502: HttpError, 503: HttpError}
    finish_reasons = _FINISH_REASONS
    stream_error = ("server_error", HttpError)

    def wire(self, request: RecordedRequest) -> WireRequest:
        return read_wire(request)


class TestOpenAICompatibleConformance(ProviderConformance):
    provider = "openai_compatible"
    model = "gpt-4o"
    finish_reasons = {**_FINISH_REASONS, "eos": "stop", "abort": "error"}
    stream_error = ("server_error", HttpError)

    def wire(self, request: RecordedRequest) -> WireRequest:
        return read_wire(request)
