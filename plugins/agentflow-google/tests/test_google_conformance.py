"""agentflow's provider conformance suite, on the Gemini plugin."""

from __future__ import annotations

from agentflow.errors import HttpError, RateLimitError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import ProviderConformance, WireRequest

SAFETY_STOPS = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                "IMAGE_SAFETY")


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
        return WireRequest(
            model=request.path.rsplit("/", 1)[-1].split(":")[0],
            system="\n".join(p["text"] for p in system["parts"]) if system else None,
            messages=tuple(("assistant" if c["role"] == "model" else c["role"],
                            "".join(p["text"] for p in c["parts"])) for c in body["contents"]),
            temperature=config.get("temperature"), top_p=config.get("topP"),
            max_tokens=config.get("maxOutputTokens"),
            stop=tuple(config.get("stopSequences", ())),
            stream=request.path.endswith(":streamGenerateContent"))
