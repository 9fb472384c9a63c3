"""Every text a request sends, visited and replaced where the guard changes it.

Messages (their text, text parts and image URLs; an assistant message's tool calls: name, JSON
arguments as text and as values; a tool result's tool name), tool definitions (name,
description, and every string of the parameters' JSON Schema, property names included), the
output schema (name, description, schema), and stop sequences. Not visited: call ids, which
the vendor issued, and ``ToolCall.extra``, the vendor's own opaque data sent back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from agentflow.types import ImagePart, Message, OutputSchema, Request, TextPart, Tool, ToolCall

__all__ = ["Where", "rewrite"]


@attrs.frozen
class Where:
    """Where a text is in the request, for messages: ``message 1, user`` or ``tool lookup,
    description``. ``message_index`` and ``role`` are set for the texts of messages."""

    label: str
    message_index: int | None = None
    role: str | None = None


Visit = Callable[[str, Where], str]
T = TypeVar("T")


def rewrite(request: Request, visit: Visit) -> Request:
    """``request`` with every text it sends replaced by ``visit(text, where)``."""
    messages = tuple(_message(index, message, visit)
                     for index, message in enumerate(request.messages))
    tools = tuple(_tool(tool, visit) for tool in request.tools)
    stop = tuple(visit(text, Where(f"stop sequence {index}"))
                 for index, text in enumerate(request.stop))
    schema = request.output_schema
    if schema is not None:
        schema = _output_schema(schema, visit)
    return _kept(request, attrs.evolve(request, messages=messages, tools=tools, stop=stop,
                                       output_schema=schema))


def _kept(original: T, changed: T) -> T:
    """``original`` itself when nothing in it changed: unchanged parts stay the same objects."""
    return original if changed == original else changed


def _message(index: int, message: Message, visit: Visit) -> Message:
    where = Where(f"message {index}, {message.role}", index, message.role)
    content = message.content
    if isinstance(content, str):
        changed: Any = visit(content, where)
    else:
        changed = tuple(_part(part, where, visit) for part in content)
    calls = tuple(_call(call, where, visit) for call in message.tool_calls)
    name = None if message.name is None else visit(message.name, where)
    return _kept(message, attrs.evolve(message, content=changed, tool_calls=calls, name=name))


def _part(part: Any, where: Where, visit: Visit) -> Any:
    if isinstance(part, TextPart):
        return attrs.evolve(part, text=visit(part.text, where))
    if isinstance(part, ImagePart) and part.url is not None and not part.url.startswith("data:"):
        return attrs.evolve(part, url=visit(part.url, where))
    return part


def _call(call: ToolCall, where: Where, visit: Visit) -> ToolCall:
    inner = attrs.evolve(where, label=f"{where.label}, tool call {call.name}")
    return attrs.evolve(call, name=visit(call.name, inner),
                        raw_arguments=visit(call.raw_arguments, inner),
                        arguments=_json(call.arguments, inner, visit))


def _tool(tool: Tool, visit: Visit) -> Tool:
    where = Where(f"tool {tool.name}")
    return _kept(tool, attrs.evolve(tool, name=visit(tool.name, where),
                                    description=visit(tool.description, where),
                                    parameters=_json(tool.parameters, where, visit)))


def _output_schema(schema: OutputSchema, visit: Visit) -> OutputSchema:
    where = Where("output schema")
    return _kept(schema, attrs.evolve(schema, name=visit(schema.name, where),
                                      description=visit(schema.description, where),
                                      schema=_json(schema.schema, where, visit)))


def _json(value: Any, where: Where, visit: Visit) -> Any:
    """A JSON value with every string in it (keys of objects too) visited."""
    if isinstance(value, str):
        return visit(value, where)
    if isinstance(value, Mapping):
        return {visit(key, where) if isinstance(key, str) else key: _json(item, where, visit)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_json(item, where, visit) for item in value)
    return value
