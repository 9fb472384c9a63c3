"""Messages, tools, structured output and tool calls in the Chat Completions format.

:mod:`agentflow_openai._codec` builds requests and reads answers; this module holds the parts
that concern conversations with tools, images and typed answers. Decisions (also in
``docs/vendors/openai.md``):

* A user message holding images is an array of ``text`` and ``image_url`` parts; image bytes
  travel as ``data:<type>;base64,...`` URLs, URL images as given.
* An assistant message with tool calls carries ``tool_calls`` (``content`` ``null`` when it has
  no text); a tool result is a ``tool`` message with ``tool_call_id``. The format has no flag
  for a failed tool, so a failed result's text starts with ``Error:`` (added unless it does).
* Tools are ``{"type": "function", "function": {name, description, parameters}}``, with
  ``strict: true`` when the parameters meet the strict rules (every property required, every
  object closed), where the service then guarantees arguments that match. For a vendor whose
  functions are strict unless told otherwise (Moonshot), it is the other way round: nothing
  for parameters that meet the rules, ``strict: false`` for those that do not.
* ``tool_choice``: ``auto`` / ``none`` / ``required`` as strings, a named tool as
  ``{"type": "function", "function": {"name": ...}}``; ``parallel_tool_calls`` as given.
* Structured output: ``response_format: {"type": "json_schema", "json_schema": {name, schema,
  strict, description}}``, or, for a dialect without JSON Schema support, ``{"type":
  "json_object"}`` with the schema stated in a system message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentflow.types import ImagePart, TextPart, ToolCall
from agentflow.vendor import is_strict, parse_arguments

if TYPE_CHECKING:
    from agentflow.types import Message, OutputSchema, Request, StreamState, Tool, ToolChoice

__all__ = ["message_body", "output_fields", "read_tool_calls", "schema_in_instruction",
           "stream_tool_calls", "tool_fields"]

_ERROR_PREFIX = "Error: "
#: What precedes the schema in the system instruction of a JSON-mode request.
_SCHEMA_MARK = "JSON Schema: "


def message_body(message: Message) -> dict[str, Any]:
    """One message in the Chat Completions shape."""
    if message.role == "tool":
        text = message.text
        if message.is_error and not text.startswith("Error"):
            text = _ERROR_PREFIX + text
        return {"role": "tool", "tool_call_id": message.tool_call_id or message.name or "",
                "content": text}
    if message.role == "assistant" and message.tool_calls:
        return {"role": "assistant", "content": message.text or None,
                "tool_calls": [_call_body(call) for call in message.tool_calls]}
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    return {"role": message.role, "content": [_part_body(part) for part in message.content]}


def _call_body(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.raw_arguments}}


def _part_body(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    url = part.url if part.url is not None else f"data:{part.media_type};base64,{part.base64}"
    return {"type": "image_url", "image_url": {"url": url}}


def tool_fields(request: Request, *, strict_by_default: bool = False) -> dict[str, Any]:
    """The body fields of the request's tools, tool choice and parallel-calls switch.

    ``strict_by_default``: the vendor holds a function without ``strict`` to its schema, so
    ``strict`` is sent only to turn that off, for parameters that do not meet the rules.
    """
    if not request.tools:  # the service refuses a tool choice without tools
        return {}
    fields: dict[str, Any] = {"tools": [_tool_body(tool, strict_by_default)
                                        for tool in request.tools]}
    if request.tool_choice is not None:
        fields["tool_choice"] = _choice_body(request.tool_choice)
    if request.parallel_tool_calls is not None:
        fields["parallel_tool_calls"] = request.parallel_tool_calls
    return fields


def _tool_body(tool: Tool, strict_by_default: bool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = dict(tool.parameters)
    strict = is_strict(tool.parameters)
    if strict != strict_by_default:
        function["strict"] = strict
    return {"type": "function", "function": function}


def _choice_body(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def output_fields(output: OutputSchema, *, json_schema: bool) -> tuple[dict[str, Any], str | None]:
    """The ``response_format`` for a structured answer, and the system instruction to add when
    the vendor takes only ``json_object`` (``json_schema=False``)."""
    if not json_schema:
        schema = json.dumps(output.schema, ensure_ascii=False, separators=(",", ":"))
        instruction = ("Answer with a single JSON object, and nothing else, that matches this "
                       f"{_SCHEMA_MARK}{schema}")
        return {"response_format": {"type": "json_object"}}, instruction
    spec: dict[str, Any] = {"name": output.name, "schema": dict(output.schema),
                            "strict": output.strict}
    if output.description:
        spec["description"] = output.description
    return {"response_format": {"type": "json_schema", "json_schema": spec}}, None


def schema_in_instruction(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The schema a system message written by :func:`output_fields` states, else ``None``
    (for the emulation and the conformance suite, which read requests back)."""
    content = message.get("content")
    if message.get("role") not in ("system", "developer") or not isinstance(content, str) \
            or _SCHEMA_MARK not in content:
        return None
    try:
        schema = json.loads(content.split(_SCHEMA_MARK, 1)[1])
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


def read_tool_calls(message: Mapping[str, Any], label: str) -> tuple[ToolCall, ...]:
    """The calls of an answer's ``message.tool_calls``, arguments parsed."""
    calls = message.get("tool_calls") or ()
    read: list[ToolCall] = []
    for call in calls:
        function = call.get("function") or {}
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise TypeError("a tool call has no function name")
        raw = function.get("arguments")
        raw = raw if isinstance(raw, str) else json.dumps(raw)
        read.append(ToolCall(id=str(call.get("id") or f"call_{len(read)}"), name=name,
                             arguments=parse_arguments(raw, tool=name, provider=label),
                             raw_arguments=raw or "{}"))
    return tuple(read)


def stream_tool_calls(delta: Mapping[str, Any], state: StreamState) -> None:
    """Feed a delta's ``tool_calls`` fragments to the stream's assembler, keyed by index.

    A server that leaves ``index`` out (some compatible ones) is followed by call id: a new id
    starts a new call, a fragment without one continues the last call.
    """
    for fragment in delta.get("tool_calls") or ():
        function = fragment.get("function") or {}
        arguments = function.get("arguments") or ""
        call_id = fragment.get("id")
        key = fragment.get("index")
        if key is None:
            key = ("id", call_id) if call_id else state.data.get("tool_call_key", 0)
        state.data["tool_call_key"] = key
        if call_id or function.get("name"):
            state.tool_calls.begin(key, id=call_id or "", name=function.get("name") or "",
                                   arguments=arguments)
        elif arguments:
            state.tool_calls.append(key, arguments)
