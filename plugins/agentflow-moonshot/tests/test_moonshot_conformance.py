"""agentflow's provider conformance suite, on both Moonshot endpoints."""

from __future__ import annotations

from agentflow.errors import HttpError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import ProviderConformance, WireRequest

FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
                  "content_filter": "content_filter"}


def read_wire(request: RecordedRequest) -> WireRequest:
    body = request.json
    system = [m["content"] for m in body["messages"] if m["role"] == "system"]
    stop = body.get("stop")
    return WireRequest(
        model=body["model"],
        system="\n".join(system) if system else None,
        messages=tuple((m["role"], m["content"]) for m in body["messages"]
                       if m["role"] != "system"),
        temperature=body.get("temperature"), top_p=body.get("top_p"),
        max_tokens=body.get("max_tokens"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        stream=bool(body.get("stream")))


class TestMoonshotConformance(ProviderConformance):
    provider = "moonshot"
    model = "moonshot-v1-8k"
    finish_reasons = FINISH_REASONS
    stream_error = ("engine_overloaded_error", HttpError)

    def wire(self, request: RecordedRequest) -> WireRequest:
        return read_wire(request)


class TestMoonshotChinaConformance(TestMoonshotConformance):
    provider = "moonshot_cn"
