"""What the emulated Messages API refuses, in the service's words (``invalid_request_error``).

:func:`problem` checks a request body as the service does: the required fields, roles and
ranges, the content blocks (``text``, ``image``, ``tool_use``, ``tool_result``), the pairing of
tool results with the previous turn's tool uses, images (media type, base64, the bytes against
the media type, the 5 MB of base64 per image), tool definitions (names, object schemas, unique
names) and ``tool_choice`` (a tool it names must be offered).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

__all__ = ["IMAGE_MEDIA_TYPES", "MAX_IMAGE_BASE64", "problem", "tool_uses"]

#: What ``image.source.media_type`` may be.
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
#: The per-image limit, on the base64 text.
MAX_IMAGE_BASE64 = 5 * 1024 * 1024
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_ROLES = ("user", "assistant")
_CHOICES = ("auto", "any", "tool", "none")
#: Which role may send each kind of block.
_BLOCK_ROLES = {"image": "user", "tool_result": "user", "tool_use": "assistant"}


def problem(body: dict[str, Any]) -> str | None:
    """What the service says about an invalid request, or None."""
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            return f"{field}: Field required"
    if type(body["max_tokens"]) is not int or body["max_tokens"] < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        found = _message_problem(index, message)
        if found is not None:
            return found
    return (_pairing_problem(messages) or _tools_problem(body.get("tools"))
            or _choice_problem(body) or _sampling_problem(body))


def _message_problem(index: int, message: Any) -> str | None:
    role = message.get("role") if isinstance(message, dict) else None
    if role == "system":
        return ('messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.')
    if role not in _ROLES:
        return f"messages.{index}.role: Input should be 'user' or 'assistant'"
    content = message.get("content")
    if not content:
        return f"messages.{index}: all messages must have non-empty content"
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f"messages.{index}.content: Input should be a valid string or a valid list"
    for number, block in enumerate(content):
        where = f"messages.{index}.content.{number}"
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(kind, str):
            return f"{where}: Input should be a valid content block with a `type`"
        allowed = _BLOCK_ROLES.get(kind, role)
        if allowed != role:
            return f"{where}: `{kind}` blocks are only allowed in `{allowed}` messages"
        found = _block_problem(where, kind, block)
        if found is not None:
            return found
    return None


def _block_problem(where: str, kind: str, block: dict[str, Any]) -> str | None:
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            return f"{where}.text.text: Input should be a valid string"
        return None if text else f"{where}.text: text content blocks must be non-empty"
    if kind == "image":
        return _image_problem(f"{where}.image.source", block.get("source"))
    if kind == "tool_use":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            return f"{where}.tool_use: `id` and `name` are required strings"
        if not isinstance(block.get("input"), dict):
            return f"{where}.tool_use.input: Input should be a valid dictionary"
        return None
    if kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            return f"{where}.tool_result.tool_use_id: Field required"
        content = block.get("content", "")
        if not isinstance(content, (str, list)):
            return f"{where}.tool_result.content: Input should be a valid string or list"
        if not isinstance(block.get("is_error", False), bool):
            return f"{where}.tool_result.is_error: Input should be a valid boolean"
    return None


def _image_problem(where: str, source: Any) -> str | None:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "url":
        url = source.get("url") if isinstance(source, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return f"{where}.url.url: Input should be a valid URL"
        return None
    if kind != "base64" or not isinstance(source, dict):
        return f"{where}: Input tag does not match any of the expected tags: 'base64', 'url'"
    media_type = source.get("media_type")
    if media_type not in IMAGE_MEDIA_TYPES:
        listed = ", ".join(f"'{t}'" for t in IMAGE_MEDIA_TYPES)
        return f"{where}.base64.media_type: Input should be {listed}"
    data = source.get("data")
    if not isinstance(data, str):
        return f"{where}.base64.data: Input should be a valid string"
    if len(data) > MAX_IMAGE_BASE64:
        return (f"{where}.base64: image exceeds 5 MB maximum: {len(data)} bytes > "
                f"{MAX_IMAGE_BASE64} bytes")
    try:
        image = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return f"{where}.base64.data: The image data is not valid base64"
    from agentflow.vendor import sniff_media_type

    found = sniff_media_type(image)
    if found is None:
        return f"{where}.base64.data: Could not process image"
    if found != media_type:
        return f"{where}.base64.data: Image does not match the provided media type {media_type}"
    return None


def tool_uses(message: Any) -> dict[str, str]:
    """The ``tool_use`` blocks of an assistant turn: id -> tool name."""
    if not isinstance(message, dict) or message.get("role") != "assistant":
        return {}
    content = message.get("content")
    if not isinstance(content, list):
        return {}
    return {block["id"]: block["name"] for block in content
            if isinstance(block, dict) and block.get("type") == "tool_use"}


def _pairing_problem(messages: list[Any]) -> str | None:
    """Each ``tool_result`` answers a ``tool_use`` of the turn just before, and each
    ``tool_use`` is answered at the start of the next turn."""
    for index, message in enumerate(messages):
        content = message["content"]
        if message["role"] == "user" and isinstance(content, list):
            used = tool_uses(messages[index - 1]) if index else {}
            for number, block in enumerate(content):
                if block["type"] == "tool_result" and block["tool_use_id"] not in used:
                    return (f"messages.{index}.content.{number}: unexpected `tool_use_id` "
                            f"found in `tool_result` blocks: {block['tool_use_id']}. Each "
                            "`tool_result` block must have a corresponding `tool_use` block in "
                            "the previous message.")
        used = tool_uses(message)
        if not used or index + 1 == len(messages):
            continue
        following = messages[index + 1]["content"]
        answered = set()
        for block in following if isinstance(following, list) else ():
            if block["type"] != "tool_result":
                break
            answered.add(block["tool_use_id"])
        missing = [id for id in used if id not in answered]
        if missing:
            return (f"messages.{index}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                    "a corresponding `tool_result` block in the next message.")
    return None


def _tools_problem(tools: Any) -> str | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    names = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return f"tools.{index}: Input should be a valid dictionary"
        if tool.get("type", "custom") != "custom":
            from agentflow_anthropic.testing._server import server_tool_problem

            found = server_tool_problem(index, tool)
            if found is not None:
                return found
            names.append(tool["name"])
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            return (f"tools.{index}.custom.name: String should match pattern "
                    "'^[a-zA-Z0-9_-]{1,128}$'")
        if not isinstance(tool.get("description", ""), str):
            return f"tools.{index}.custom.description: Input should be a valid string"
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            return f"tools.{index}.custom.input_schema: Field required"
        if schema.get("type") != "object":
            return f"tools.{index}.custom.input_schema.type: Input should be 'object'"
        names.append(name)
    if len(set(names)) != len(names):
        return "tools: Tool names must be unique."
    return None


def _choice_problem(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in _CHOICES:
        return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
    if not isinstance(choice.get("disable_parallel_tool_use", False), bool):
        return f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean"
    names = [tool["name"] for tool in body.get("tools") or ()]
    if kind in ("any", "tool") and not names:
        return f"tool_choice: a tool_choice of type '{kind}' needs `tools`"
    if kind == "tool" and choice.get("name") not in names:
        return f"tool_choice.tool.name: no tool named {choice.get('name')!r} is in `tools`"
    return None


def _sampling_problem(body: dict[str, Any]) -> str | None:
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):
        value = body.get(name)
        if value is not None and not 0 <= value <= high:
            return f"{name}: range: 0..{high:g}"
    if "temperature" in body and "top_p" in body and _single_sampling(body["model"]):
        return ("`temperature` and `top_p` cannot both be specified for this model. Please use "
                "only one.")
    return None


def _single_sampling(model: str) -> bool:
    from agentflow_anthropic._catalog import model_options

    return bool((model_options(model) or {}).get("single_sampling_parameter"))
