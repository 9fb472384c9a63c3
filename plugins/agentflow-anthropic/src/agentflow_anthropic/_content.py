"""Content blocks of the Messages API: turns, tools, images and the answer tool, both ways.

Requests:

* A user message is its text, or ``text`` and ``image`` blocks (``source`` ``base64`` with the
  bytes, or ``url``) in the order given. An assistant message with tool calls is a ``text``
  block (when it has text) and one ``tool_use`` block per call.
* Consecutive ``tool`` messages (the results of one assistant turn) become ONE user turn of
  ``tool_result`` blocks, as the API requires; a user message right after them joins that turn,
  after the results (``tool_result`` blocks must come first).
* Tools go in ``tools`` as ``{name, description, input_schema}``. ``tool_choice`` ``auto``,
  ``none``, ``required`` and a tool's name become ``{"type": "auto" | "none" | "any" |
  "tool"}``; ``parallel_tool_calls=False`` adds ``disable_parallel_tool_use: true`` (to an
  ``auto`` choice when none was given).

Structured output: the API has no response format, so an output schema is offered as one more
tool, the *answer tool*, named after the schema, whose ``input_schema`` is the schema; its
description ends with :data:`ANSWER_TOOL_NOTE`. The model is made to call it: ``tool_choice``
``{"type": "tool"}`` naming it, or ``{"type": "any"}`` when user tools are offered too (the
model then calls a user tool or answers). When the request forces a user tool (``required`` or
a named tool) the answer tool is left out of that request: its answer is that call. The answer
tool's ``input`` is returned as the response's text (compact JSON), never as a tool call, with
``finish_reason`` ``stop`` (``raw_finish_reason`` stays ``tool_use``); beside a user tool call
it is still the text (a stream has sent it as content already), and the finish reason is
``tool_calls``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentflow.errors import ValidationError
from agentflow.types import ImagePart, TextPart, ToolCall

if TYPE_CHECKING:
    from agentflow.types import Message, Request

__all__ = ["ANSWER_TOOL_NOTE", "answer_tool_name", "read_blocks", "tool_fields", "turns"]

#: How the answer tool's description ends: it tells the model what the tool is for, and lets a
#: reader of the request tell the answer tool from the user's tools.
ANSWER_TOOL_NOTE = "Give your final answer by calling this tool: its input is the answer."

_LABEL = "Anthropic"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- tools -----------------------------------------------------------------------------------


def answer_tool_name(request: Request) -> str | None:
    """The name of the answer tool ``request`` offers (see the module docstring), or ``None``."""
    output = request.output_schema
    if output is None:
        return None
    choice = request.tool_choice
    if request.tools and choice is not None and choice.mode in ("required", "tool"):
        return None
    return output.name


def tool_fields(request: Request) -> dict[str, Any]:
    """The ``tools`` and ``tool_choice`` fields of the body (none when nothing is offered)."""
    tools: list[dict[str, Any]] = [_tool(t.name, t.description, t.parameters)
                                   for t in request.tools]
    answer = answer_tool_name(request)
    if answer is not None and request.output_schema is not None:
        if any(tool.name == answer for tool in request.tools):
            raise ValidationError(
                f"the output schema is named {answer!r} like one of the tools; Anthropic gets "
                "the answer through a tool of the schema's name, so give the schema another "
                "name", parameter="output")
        output = request.output_schema
        described = (f"{output.description.strip()}\n\n{ANSWER_TOOL_NOTE}"
                     if output.description.strip() else ANSWER_TOOL_NOTE)
        tools.append(_tool(answer, described, output.schema))
    if not tools:
        return {}
    fields: dict[str, Any] = {"tools": tools}
    choice = _tool_choice(request, answer)
    if choice is not None:
        fields["tool_choice"] = choice
    return fields


def _tool(name: str, description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": name}
    if description:
        tool["description"] = description
    tool["input_schema"] = dict(schema)
    return tool


def _tool_choice(request: Request, answer: str | None) -> dict[str, Any] | None:
    choice = request.tool_choice
    sent: dict[str, Any] | None
    if answer is not None:
        lets_model_choose = choice is None or choice.mode == "auto"
        sent = ({"type": "any"} if request.tools and lets_model_choose
                else {"type": "tool", "name": answer})
    elif choice is None:
        sent = None
    elif choice.mode == "none":
        return {"type": "none"}  # takes no disable_parallel_tool_use
    elif choice.mode == "required":
        sent = {"type": "any"}
    elif choice.mode == "tool":
        sent = {"type": "tool", "name": choice.name}
    else:
        sent = {"type": "auto"}
    if request.parallel_tool_calls is False:
        sent = {**(sent or {"type": "auto"}), "disable_parallel_tool_use": True}
    return sent


# --- turns -----------------------------------------------------------------------------------


def turns(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """The ``messages`` field: every turn but the system ones, tool results grouped."""
    sent: list[dict[str, Any]] = []
    results: dict[str, Any] | None = None  # the user turn of tool results still open
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            block = _result_block(message, len(sent))
            if results is not None and sent and sent[-1] is results:
                results["content"].append(block)
            else:
                results = {"role": "user", "content": [block]}
                sent.append(results)
            continue
        if message.role == "user" and results is not None and sent and sent[-1] is results:
            results["content"].extend(_user_blocks(message))
        else:
            sent.append(_turn(message))
        results = None
    return sent


def _turn(message: Message) -> dict[str, Any]:
    if message.role == "assistant" and message.tool_calls:
        blocks: list[dict[str, Any]] = ([{"type": "text", "text": message.text}]
                                        if message.text else [])
        blocks += [{"type": "tool_use", "id": call.id, "name": call.name,
                    "input": dict(call.arguments)} for call in message.tool_calls]
        return {"role": "assistant", "content": blocks}
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    return {"role": message.role, "content": _user_blocks(message)}


def _user_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            blocks.append(_image_block(part))
    return blocks


def _image_block(image: ImagePart) -> dict[str, Any]:
    if image.data is not None:
        return {"type": "image", "source": {"type": "base64", "media_type": image.media_type,
                                            "data": image.base64}}
    return {"type": "image", "source": {"type": "url", "url": image.url}}


def _result_block(message: Message, turn: int) -> dict[str, Any]:
    if not message.tool_call_id:
        raise ValidationError(
            f"a tool result (turn {turn}) has no tool_call_id: Anthropic pairs each result with "
            "its call by id; build results with Message.tool_result(call, result)",
            parameter="messages")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id,
                             "content": message.text}
    if message.is_error:
        block["is_error"] = True
    return block


# --- answers ---------------------------------------------------------------------------------


def read_blocks(blocks: list[Any], request: Request | None) -> tuple[str, tuple[ToolCall, ...],
                                                                      bool]:
    """The text, the tool calls, and whether the answer tool was called, in a message's
    ``content``: the answer tool's input, as JSON text, is then the whole text.

    Raises :class:`~agentflow.errors.ProviderError` (keeping the text in ``raw_arguments``) for
    tool input that is not an object; ``KeyError``/``TypeError`` for blocks of another shape.
    """
    answer_name = answer_tool_name(request) if request is not None else None
    texts: list[str] = []
    calls: list[ToolCall] = []
    answer: str | None = None
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            name, given = block["name"], block.get("input")
            if name == answer_name:
                answer = given if isinstance(given, str) else _json(given)
            else:
                calls.append(_call(block["id"], name, given))
    if answer is not None:
        return answer, tuple(calls), True
    return "".join(texts), tuple(calls), False


def _call(id: str, name: str, given: Any) -> ToolCall:
    if isinstance(given, dict):
        return ToolCall.of(id, name, given)
    from agentflow.vendor import parse_arguments

    raw = given if isinstance(given, str) else ("" if given is None else _json(given))
    return ToolCall(id=id, name=name, arguments=parse_arguments(raw, tool=name, provider=_LABEL),
                    raw_arguments=raw or "{}")
