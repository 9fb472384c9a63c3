"""agentflow's provider conformance suite, on the Gemini plugin."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from agentflow.errors import HttpError, ProviderError, RateLimitError, StreamingError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import (
    CUT_WARNING,
    ConformanceHarness,
    ProviderConformance,
    WireImage,
    WireRequest,
    WireTool,
    WireToolCall,
    WireToolResult,
    get_weather,
)
from agentflow.testing.fake import FakeToolCall, Reply
from agentflow_google._content import response_text

SAFETY_STOPS = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                "IMAGE_SAFETY")
_CHOICES = {"AUTO": "auto", "NONE": "none", "ANY": "required"}


class TestGeminiConformance(ProviderConformance):
    provider = "google"
    model = "gemini-3.8-flash"
    error_statuses = {400: HttpError, 401: HttpError, 403: HttpError, 404: HttpError,
                      429: RateLimitError, 500: HttpError, 503: HttpError, 504: HttpError}
    finish_reasons = {"STOP": "stop", "MAX_TOKENS": "length", "LANGUAGE": "error",
                      "MALFORMED_FUNCTION_CALL": "error", "UNEXPECTED_TOOL_CALL": "error",
                      "TOO_MANY_TOOL_CALLS": "error", "OTHER": None,
                      "FINISH_REASON_UNSPECIFIED": None, "A_REASON_ADDED_LATER": None,
                      **dict.fromkeys(SAFETY_STOPS, "content_filter")}
    stream_error = ("UNAVAILABLE", HttpError)
    errors_carry_request_id = False

    def raises_for_finish_reason(self, raw: str) -> bool:
        # The emulation withholds the answer for a filter stop, as the service does when it
        # blocks the output: agentflow raises rather than returning an empty answer.
        return raw in SAFETY_STOPS

    def wire(self, request: RecordedRequest) -> WireRequest:
        body = request.json
        config = body.get("generationConfig", {})
        system = body.get("systemInstruction")
        parts = [(content["role"], part) for content in body["contents"]
                 for part in content["parts"]]
        return WireRequest(
            model=request.path.rsplit("/", 1)[-1].split(":")[0],
            system="\n".join(p["text"] for p in system["parts"]) if system else None,
            messages=tuple(("assistant" if c["role"] == "model" else c["role"],
                            "".join(p["text"] for p in c["parts"] if "text" in p))
                           for c in body["contents"]
                           if any("text" in p for p in c["parts"])),
            temperature=config.get("temperature"), top_p=config.get("topP"),
            max_tokens=config.get("maxOutputTokens"),
            stop=tuple(config.get("stopSequences", ())),
            stream=request.path.endswith(":streamGenerateContent"),
            tools=tuple(WireTool(name=d["name"], description=d.get("description", ""),
                                 parameters=d.get("parametersJsonSchema", d.get("parameters")))
                        for tool in body.get("tools", ())
                        for d in tool.get("functionDeclarations", ())),
            tool_choice=_tool_choice(body.get("toolConfig")),
            output_schema=config.get("responseJsonSchema", config.get("responseSchema")),
            images=tuple(_image(part) for _, part in parts
                         if "inlineData" in part or "fileData" in part),
            tool_calls=tuple(
                WireToolCall(id=part["functionCall"].get("id"), name=part["functionCall"]["name"],
                             arguments=part["functionCall"].get("args", {}))
                for role, part in parts if role == "model" and "functionCall" in part),
            tool_results=tuple(_result(part["functionResponse"]) for _, part in parts
                               if "functionResponse" in part))

    # Gemini sends arguments as objects, so it cannot send malformed argument text; what it
    # can send is a value that is not an object, which is refused the same way. (The core
    # raises at the final chunk, before httpx's generator is exhausted: trio's warning about
    # it is tolerated as the suite tolerates it for other errors inside a stream.)
    @pytest.mark.anyio
    @pytest.mark.filterwarnings(CUT_WARNING)
    async def test_malformed_tool_arguments_keep_the_raw_text(
            self, harness: ConformanceHarness, streamed: bool) -> None:
        harness.script(Reply(tool_calls=[FakeToolCall(name="get_weather",
                                                      raw_arguments='["Paris", 2]')]))
        with pytest.raises((ProviderError, StreamingError)) as caught:
            await harness.answer(harness.builder().prompt("weather?").tools(get_weather),
                                 streamed)
        error = caught.value
        assert isinstance(error, StreamingError if streamed else ProviderError)
        assert error.raw_arguments == '["Paris", 2]'
        assert "get_weather" in str(error)
        assert "not an object" in str(error)


def _tool_choice(config: Any) -> str | None:
    calling = (config or {}).get("functionCallingConfig")
    if calling is None:
        return None
    allowed = calling.get("allowedFunctionNames") or ()
    if calling.get("mode") == "ANY" and len(allowed) == 1:
        return str(allowed[0])
    return _CHOICES[calling.get("mode", "AUTO")]


def _image(part: dict[str, Any]) -> WireImage:
    if "inlineData" in part:
        inline = part["inlineData"]
        return WireImage(media_type=inline["mimeType"], data=base64.b64decode(inline["data"]))
    file = part["fileData"]
    return WireImage(media_type=file.get("mimeType"), url=file["fileUri"])


def _result(response: dict[str, Any]) -> WireToolResult:
    content, failed = response_text(response["response"])
    return WireToolResult(id=response.get("id"), name=response["name"], content=content,
                          is_error=failed)


def test_a_result_object_reads_back_as_its_json():
    assert response_text({"temperature": 21}) == (json.dumps({"temperature": 21}), False)
