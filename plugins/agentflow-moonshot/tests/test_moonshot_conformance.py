"""agentflow's provider conformance suite, on both Moonshot endpoints."""

from __future__ import annotations

from agentflow.errors import HttpError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import ProviderConformance, WireRequest
from agentflow_openai.testing.wire import read_wire

FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
                  "content_filter": "content_filter"}


class TestMoonshotConformance(ProviderConformance):
    provider = "moonshot"
    model = "moonshot-v1-8k"
    finish_reasons = FINISH_REASONS
    stream_error = ("engine_overloaded_error", HttpError)

    def wire(self, request: RecordedRequest) -> WireRequest:
        return read_wire(request)


class TestMoonshotChinaConformance(TestMoonshotConformance):
    provider = "moonshot_cn"
