"""The Chat Completions emulation's tools, structured answers and images.

:mod:`agentflow_openai.testing._service` answers requests; this module checks the parts of a
request that concern tools and images the way the service does, and decides what the emulated
model says when tools, a response format or images are involved (see
:class:`agentflow.testing.Reply`): the scripted calls, a call the tool choice forces, an example
answer matching the requested schema, the echo of tool results, images described after the
echo.
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

from agentflow.testing.fake import (
    FakeToolCall,
    Reply,
    describe_image,
    example_instance,
    tool_result_text,
)
from agentflow.vendor import is_strict, sniff_media_type
from agentflow_openai._content import schema_in_instruction

__all__ = ["Decision", "ToolRules", "check_tools_and_images", "decide"]

_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_STRICT_RULES = ("'required' is required to be supplied and to be an array including every key "
                 "in properties, and 'additionalProperties' is required to be supplied and to "
                 "be false, in every object")


@attrs.frozen(kw_only=True)
class ToolRules:
    """What a Chat Completions service accepts of tools and images, where vendors differ.

    :param tool_name: the pattern a function name must match in full (OpenAI: 1 to 64 letters,
        digits, ``_`` or ``-``; Moonshot: 3 to 64, not starting with a digit or ``-``).
    :param max_tools: how many functions ``tools`` may hold.
    :param image_urls: whether an image may be a web address (Moonshot takes ``data:`` URLs
        and its own ``ms://`` file references only).
    """

    tool_name: re.Pattern[str] = re.compile(r"[a-zA-Z0-9_-]{1,64}")
    max_tools: int = 128
    image_urls: bool = True


_OPENAI = ToolRules()


@attrs.frozen(kw_only=True)
class Decision:
    """What the emulated model answers: text (``None`` for none) and tool calls, each an
    ``(id, name, arguments text)`` triple."""

    text: str | None
    calls: tuple[tuple[str, str, str], ...] = ()


def check_tools_and_images(body: Mapping[str, Any],
                           rules: ToolRules = _OPENAI) -> tuple[str, str | None] | None:
    """``(message, param)`` of the 400 the service gives for the request's tools, response
    format, tool messages or images, or ``None`` when they are fine."""
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid type for 'tools': expected an array of objects.", "tools"
        if len(tools) > rules.max_tools:
            return (f"Invalid 'tools': array too long. Expected an array with maximum length "
                    f"{rules.max_tools}, but got an array with length {len(tools)} instead.",
                    "tools")
        for index, tool in enumerate(tools):
            problem = _check_tool(tool, index, rules)
            if problem is not None:
                return problem
            names.append(tool["function"]["name"])
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        if wanted not in names:
            return (f"Invalid value for 'tool_choice': tool '{wanted}' not found in 'tools' "
                    "array.", "tool_choice")
    elif choice in ("required", "auto") and not names:
        return ("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified.", "tool_choice")
    return _check_response_format(body) or _check_messages(body.get("messages") or [], rules)


def _check_tool(tool: Any, index: int, rules: ToolRules) -> tuple[str, str | None] | None:
    where = f"tools[{index}].function"
    if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
        return f"Missing required parameter: '{where}'.", where
    function = tool["function"]
    name = function.get("name")
    if tool.get("type") != "function" or not isinstance(name, str):
        return f"Missing required parameter: '{where}'.", where
    if not rules.tool_name.fullmatch(name):
        return (f"Invalid '{where}.name': string does not match pattern. Expected a string "
                f"that matches the pattern '^{rules.tool_name.pattern}$'.", f"{where}.name")
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        return (f"Invalid schema for function '{name}': schema must be a JSON Schema of "
                "'type: \"object\"'.", f"{where}.parameters")
    if function.get("strict") is True and not is_strict(parameters):
        return (f"Invalid schema for function '{name}': with strict set, {_STRICT_RULES}.",
                f"{where}.parameters")
    return None


def _check_response_format(body: Mapping[str, Any]) -> tuple[str, str | None] | None:
    response_format = body.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return ("Missing required parameter: 'response_format.json_schema.name'.",
                "response_format.json_schema.name")
    name, schema = spec["name"], spec.get("schema", {})
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
        return ("Invalid 'response_format.json_schema.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                "response_format.json_schema.name")
    if spec.get("strict") is True and not is_strict(schema):
        return (f"Invalid schema for response_format '{name}': with strict set, "
                f"{_STRICT_RULES}.", "response_format")
    return None


def _check_messages(messages: Sequence[Any],
                    rules: ToolRules) -> tuple[str, str | None] | None:
    """Tool messages answer the calls of the assistant message just before them, every call
    is answered before the conversation goes on, and images are readable."""
    unanswered: list[str] = []
    answerable: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in answerable:
                return ("Invalid parameter: messages with role 'tool' must be a response to a "
                        "preceeding message with 'tool_calls'.", f"messages.[{index}].role")
            answerable.discard(call_id)
            unanswered.remove(call_id)
            continue
        if unanswered:
            return _unanswered(unanswered, index - 1)
        answerable.clear()
        if role == "assistant":
            unanswered = [call.get("id") for call in message.get("tool_calls") or ()]
            answerable = set(unanswered)
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                problem = _check_image(part, index, rules)
                if problem is not None:
                    return problem
    if unanswered:
        return _unanswered(unanswered, len(messages) - 1)
    return None


def _unanswered(ids: Sequence[str], index: int) -> tuple[str, str | None]:
    return ("An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(ids)}", f"messages.[{index}].role")


def _check_image(part: Any, index: int, rules: ToolRules) -> tuple[str, str | None] | None:
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return None
    url = (part.get("image_url") or {}).get("url", "")
    if not url.startswith("data:"):
        if rules.image_urls or url.startswith("ms://"):
            return None
        return ("Invalid 'image_url': the url must be a base64-encoded data URL "
                "('data:image/png;base64,...') or a file reference ('ms://<file id>').",
                f"messages.[{index}].content")
    decoded = _data_url(url)
    if decoded is None:
        return ("Invalid 'image_url'. Expected a base64-encoded data URL with an image MIME "
                "type (e.g. 'data:image/png;base64,...').", f"messages.[{index}].content")
    media_type, data = decoded
    if media_type not in _IMAGE_TYPES or sniff_media_type(data) != media_type:
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
        stated = (schema_in_instruction(message) for message in body.get("messages") or ())
        return next((schema for schema in stated if schema is not None), {"type": "object"})
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
