"""agentflow's provider conformance suite, on the Anthropic plugin."""

from __future__ import annotations

import base64

from agentflow.errors import HttpError, RateLimitError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import (
    ProviderConformance,
    WireImage,
    WireRequest,
    WireTool,
    WireToolCall,
    WireToolResult,
)
from agentflow_anthropic._content import ANSWER_TOOL_NOTE


def _result_text(content):
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content)


def _choice(choice, answer, user_tools):
    """The tool choice as the user's tools see it.

    Anthropic's ``any`` is ``required``; with the answer tool offered, ``any`` lets the model
    pick a user tool or answer (``auto`` for the user's tools), and the answer tool forced
    leaves the user's tools unusable (``none``, or nothing when there are none).
    """
    if choice is None:
        return None
    kind = choice["type"]
    if answer is not None and kind == "any":
        return "auto"
    if kind == "tool":
        if answer is not None and choice["name"] == answer["name"]:
            return "none" if user_tools else None
        return choice["name"]
    return "required" if kind == "any" else kind


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
        tools = body.get("tools", [])
        answer = next((tool for tool in tools
                       if tool.get("description", "").endswith(ANSWER_TOOL_NOTE)), None)
        user_tools = [tool for tool in tools if tool is not answer]
        messages, images, calls, results = [], [], [], []
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                text = content
            else:
                text = "".join(block["text"] for block in content if block["type"] == "text")
                for block in content:
                    if block["type"] == "image":
                        source = block["source"]
                        images.append(
                            WireImage(media_type=None, url=source["url"])
                            if source["type"] == "url" else
                            WireImage(media_type=source["media_type"],
                                      data=base64.b64decode(source["data"])))
                    elif block["type"] == "tool_use":
                        calls.append(WireToolCall(id=block["id"], name=block["name"],
                                                  arguments=block["input"]))
                    elif block["type"] == "tool_result":
                        results.append(WireToolResult(
                            id=block["tool_use_id"], name=None,
                            content=_result_text(block.get("content", "")),
                            is_error=bool(block.get("is_error", False))))
            if text:
                messages.append((message["role"], text))
        return WireRequest(
            model=body["model"], system=body.get("system"), messages=tuple(messages),
            temperature=body.get("temperature"), top_p=body.get("top_p"),
            max_tokens=body.get("max_tokens"), stop=tuple(body.get("stop_sequences", ())),
            stream=bool(body.get("stream")),
            tools=tuple(WireTool(name=tool["name"], description=tool.get("description", ""),
                                 parameters=tool["input_schema"]) for tool in user_tools),
            tool_choice=_choice(body.get("tool_choice"), answer, user_tools),
            output_schema=answer["input_schema"] if answer is not None else None,
            images=tuple(images), tool_calls=tuple(calls), tool_results=tuple(results))
