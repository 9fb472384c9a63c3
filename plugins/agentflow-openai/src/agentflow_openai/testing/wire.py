"""A Chat Completions request read back into agentflow's terms, for the conformance suite.

Test code: nothing at run time imports it (``agentflow_openai.testing`` does not either).

:func:`read_wire` is what the OpenAI plugin's conformance tests, and those of other
OpenAI-compatible plugins (agentflow-moonshot), give as ``ProviderConformance.wire``. Importing
this module imports pytest (through :mod:`agentflow.testing.conformance`): use it in tests only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import (
    WireImage,
    WireRequest,
    WireTool,
    WireToolCall,
    WireToolResult,
)
from agentflow_openai._content import schema_in_instruction

__all__ = ["read_body", "read_wire"]

_SYSTEM = ("system", "developer")


def read_wire(request: RecordedRequest) -> WireRequest:
    """``request``'s body as a :class:`WireRequest`: a Chat Completions request, or a
    Responses API one (a request to ``.../responses``, read through its Chat Completions
    equivalent)."""
    if request.path.rstrip("/").endswith("/responses"):
        from agentflow_openai.testing._responses import as_chat_body

        return read_body(as_chat_body(request.json))
    return read_body(request.json)


def read_body(body: Mapping[str, Any]) -> WireRequest:
    """A Chat Completions request body as a :class:`WireRequest`."""
    messages = body["messages"]
    system = [m["content"] for m in messages
              if m["role"] in _SYSTEM and schema_in_instruction(m) is None]
    stop = body.get("stop")
    calls = [call for m in messages if m["role"] == "assistant"
             for call in m.get("tool_calls") or ()]
    return WireRequest(
        model=body["model"],
        system="\n".join(system) if system else None,
        messages=tuple((m["role"], _text(m.get("content"))) for m in messages
                       if m["role"] not in (*_SYSTEM, "tool") and _text(m.get("content"))),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        stream=bool(body.get("stream")),
        tools=tuple(WireTool(name=t["function"]["name"],
                             description=t["function"].get("description", ""),
                             parameters=t["function"].get("parameters", {}))
                    for t in body.get("tools") or ()),
        tool_choice=_choice(body.get("tool_choice")),
        output_schema=_output_schema(body),
        images=tuple(_image(part) for m in messages if isinstance(m.get("content"), list)
                     for part in m["content"] if part.get("type") == "image_url"),
        tool_calls=tuple(WireToolCall(id=c["id"], name=c["function"]["name"],
                                      arguments=json.loads(c["function"]["arguments"] or "{}"))
                         for c in calls),
        tool_results=tuple(WireToolResult(id=m["tool_call_id"], name=None,
                                          content=m["content"],
                                          is_error=m["content"].startswith("Error"))
                           for m in messages if m["role"] == "tool"),
    )


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content or ""


def _choice(choice: Any) -> str | None:
    if isinstance(choice, dict):
        return str(choice["function"]["name"])
    return choice if isinstance(choice, str) else None


def _output_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return dict(response_format["json_schema"]["schema"])
    if response_format.get("type") == "json_object":
        return next((schema for schema in map(schema_in_instruction, body["messages"])
                     if schema is not None), None)
    return None


def _image(part: Mapping[str, Any]) -> WireImage:
    url = part["image_url"]["url"]
    if not url.startswith("data:"):
        return WireImage(media_type=None, url=url)
    header, _, payload = url[5:].partition(",")
    return WireImage(media_type=header.removesuffix(";base64"), data=base64.b64decode(payload))
