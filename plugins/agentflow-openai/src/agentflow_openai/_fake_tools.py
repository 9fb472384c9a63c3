"""The Chat Completions emulation's tools, structured answers and images.

:mod:`agentflow_openai._fake` answers requests; this module checks the parts of a request that
concern tools and images the way the service does, and decides what the emulated model says
when tools, a response format or images are involved (see :class:`agentflow.testing.Reply`):
the scripted calls, a call the tool choice forces, an example answer matching the requested
schema, the echo of tool results, images described after the echo.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from agentflow.images import sniff_media_type
from agentflow.testing.fake import (
    FakeToolCall,
    Reply,
    describe_image,
    example_instance,
    tool_result_text,
)

__all__ = ["Decision", "check_tools_and_images", "decide"]

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_SCHEMA_MARK = "JSON Schema: "


@attrs.frozen(kw_only=True)
class Decision:
    """What the emulated model answers: text (``None`` for none) and tool calls, each an
    ``(id, name, arguments text)`` triple."""

    text: str | None
    calls: tuple[tuple[str, str, str], ...] = ()


def check_tools_and_images(body: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """``(message, param)`` of the 400 the service gives for the request's tools, tool
    messages or images, or ``None`` when they are fine."""
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid type for 'tools': expected an array of objects.", "tools"
        for index, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
                return f"Missing required parameter: 'tools[{index}].function'.", \
                    f"tools[{index}].function"
            function = tool["function"]
            name = function.get("name")
            if tool.get("type") != "function" or not isinstance(name, str):
                return f"Missing required parameter: 'tools[{index}].function'.", \
                    f"tools[{index}].function"
            if not _TOOL_NAME.fullmatch(name):
                return (f"Invalid 'tools[{index}].function.name': string does not match "
                        "pattern. Expected a string that matches the pattern "
                        "'^[a-zA-Z0-9_-]+$'.", f"tools[{index}].function.name")
            parameters = function.get("parameters", {"type": "object"})
            if not isinstance(parameters, dict) or parameters.get("type") != "object":
                return (f"Invalid schema for function '{name}': schema must be a JSON Schema "
                        "of 'type: \"object\"'.", f"tools[{index}].function.parameters")
            names.append(name)
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        if wanted not in names:
            return (f"Invalid value for 'tool_choice': tool '{wanted}' not found in 'tools' "
                    "array.", "tool_choice")
    elif choice in ("required", "auto") and not names:
        return ("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified.", "tool_choice")
    return _check_messages(body.get("messages") or [])


def _check_messages(messages: Sequence[Any]) -> tuple[str, str | None] | None:
    asked: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "assistant":
            asked.update(call.get("id") for call in message.get("tool_calls") or ())
        elif role == "tool" and message.get("tool_call_id") not in asked:
            return ("Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.", f"messages.[{index}].role")
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                problem = _check_image(part, index)
                if problem is not None:
                    return problem
    return None


def _check_image(part: Any, index: int) -> tuple[str, str | None] | None:
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return None
    url = (part.get("image_url") or {}).get("url", "")
    if not url.startswith("data:"):
        return None
    decoded = _data_url(url)
    if decoded is None:
        return ("Invalid 'image_url'. Expected a base64-encoded data URL with an image MIME "
                "type (e.g. 'data:image/png;base64,...').", f"messages.[{index}].content")
    media_type, data = decoded
    if sniff_media_type(data) != media_type:
        return ("You uploaded an unsupported image. Please make sure your image is valid and "
                "of a supported format.", f"messages.[{index}].content")
    return None


def _data_url(url: str) -> tuple[str, bytes] | None:
    header, comma, payload = url[5:].partition(",")
    if not comma or not header.endswith(";base64"):
        return None
    try:
        return header[: -len(";base64")], base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def decide(body: Mapping[str, Any], reply: Reply, prompt: str) -> Decision:
    """What the emulated model answers to ``body`` (``prompt``: the last user text)."""
    tools = {tool["function"]["name"]: tool["function"] for tool in body.get("tools") or ()}
    if reply.tool_calls:
        return Decision(text=reply.text, calls=tuple(_scripted(call) for call in reply.tool_calls))
    forced = _forced_tool(body.get("tool_choice"), tools)
    if forced is not None:
        arguments = example_instance(tools[forced].get("parameters", {"type": "object"}))
        return Decision(text=None, calls=((_call_id(), forced, json.dumps(arguments)),))
    schema = _requested_schema(body)
    if schema is not None and reply.text is None:
        return Decision(text=json.dumps(example_instance(schema)))
    messages = body.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        return Decision(text=reply.text if reply.text is not None
                        else tool_result_text(_latest_results(messages)))
    text = reply.text_for(prompt)
    images = _last_user_images(messages)
    if reply.text is None and images:
        text = " ".join([text, *images])
    return Decision(text=text)


def _scripted(call: FakeToolCall) -> tuple[str, str, str]:
    return call.id or _call_id(), call.name, call.arguments_text()


def _call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


def _forced_tool(choice: Any, tools: Mapping[str, Any]) -> str | None:
    if isinstance(choice, dict):
        return str((choice.get("function") or {}).get("name"))
    if choice == "required" and tools:
        return next(iter(tools))
    return None


def _requested_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The schema the answer must match: ``json_schema``'s, or for ``json_object`` the one a
    system message states (as agentflow's codec writes it for vendors without JSON Schema)."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema", {})
        return schema if isinstance(schema, dict) else None
    if response_format.get("type") == "json_object":
        for message in body.get("messages") or ():
            content = message.get("content")
            if message.get("role") == "system" and isinstance(content, str) and \
                    _SCHEMA_MARK in content:
                try:
                    found = json.loads(content.split(_SCHEMA_MARK, 1)[1])
                except ValueError:
                    continue
                return found if isinstance(found, dict) else None
        return {"type": "object"}
    return None


def _latest_results(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(tool name, content)`` of the tool messages at the end of the conversation."""
    names = {call.get("id"): (call.get("function") or {}).get("name", "")
             for message in messages if message.get("role") == "assistant"
             for call in message.get("tool_calls") or ()}
    results: list[tuple[str, str]] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append((names.get(message.get("tool_call_id"), "?"),
                        str(message.get("content", ""))))
    return results[::-1]


def _last_user_images(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    content = user.get("content") if user else None
    if not isinstance(content, list):
        return []
    described = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            decoded = _data_url(url) if url.startswith("data:") else None
            described.append(describe_image(decoded[0], decoded[1]) if decoded
                             else describe_image(None, url=url))
    return described
