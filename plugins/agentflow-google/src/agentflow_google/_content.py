"""Conversations, tools and images in Gemini's terms, both ways.

:mod:`agentflow_google._codec` builds requests and reads answers; this module holds the
pieces that concern tools, structured output and images. Decisions (also in
``docs/vendors/google.md``):

* Tools are sent as ``tools: [{functionDeclarations: [...]}]`` with each tool's JSON Schema as
  ``parametersJsonSchema``, unconverted (Gemini takes full JSON Schema there on every model
  of the catalog; keywords it does not know are ignored by the service). The OpenAPI-subset
  ``parameters`` field is not used, so nothing is lost in a conversion.
* ``tool_choice``: ``auto`` -> ``AUTO``, ``none`` -> ``NONE``, ``required`` -> ``ANY``, a named
  tool -> ``ANY`` with ``allowedFunctionNames: [name]``. ``parallel_tool_calls`` has no Gemini
  switch and is not sent.
* An assistant turn becomes a ``model`` turn: its text, then one ``functionCall`` part per call.
  Consecutive tool results become one ``user`` turn of ``functionResponse`` parts, each naming
  its tool; ``response`` is the result's JSON object when the result is one,
  ``{"result": value}`` for any other result (parsed JSON, else the text), and
  ``{"error": text}`` for a failed tool.
* Call ids: Gemini may send calls without an ``id``; those get ``gemini_call_<n>`` (``n`` the
  call's place in the answer), which is never sent back. An id Gemini sent is sent back on
  the call and on its result.
* Thought signatures: Gemini 3 models sign function calls (``thoughtSignature`` beside the
  ``functionCall``) and refuse a history whose calls lost their signature. The signature is
  kept in the call's ``extra`` (``ToolCall.extra["thought_signature"]``), which
  ``Response.message()`` carries into the history, and is put back on the part when the call
  is sent again. A turn
  of calls that carries no signature (history written by hand, or from another vendor) gets
  the placeholder Google documents for that case, ``skip_thought_signature_validator``, on
  models after Gemini 2.
* Structured output: ``responseMimeType: application/json`` with the schema, unconverted, as
  ``responseJsonSchema``; the JSON comes back as the answer's text.
* Images: bytes as ``inlineData`` (base64), URLs as ``fileData.fileUri`` (the Gemini API
  fetches public and signed ``https`` URLs itself), with the media type when known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentflow.errors import ValidationError
from agentflow.types import TextPart
from agentflow.vendor import parse_arguments
from agentflow_google._errors import LABEL

if TYPE_CHECKING:
    from agentflow.types import ImagePart, Message, OutputSchema, Tool, ToolChoice

__all__ = [
    "PLACEHOLDER_SIGNATURE",
    "SIGNATURE_KEY",
    "arguments",
    "call_extra",
    "call_id",
    "contents",
    "function_declarations",
    "read_calls",
    "response_object",
    "response_text",
    "signs_calls",
    "structured_output",
    "tool_config",
    "wire_call_id",
]

#: The signature Google documents for function calls Gemini did not make.
PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"
#: The key of ``ToolCall.extra`` that holds a call's thought signature.
SIGNATURE_KEY = "thought_signature"
_GENERATED = re.compile(r"gemini_call_[0-9]+")
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_EXTENSIONS = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
               "webp": "image/webp", "heic": "image/heic", "heif": "image/heif",
               "gif": "image/gif"}


# --- call ids ----------------------------------------------------------------------------------


def call_id(wire_id: Any, index: int) -> str:
    """agentflow's id of a call: Gemini's ``id``, or ``gemini_call_<index>`` without one."""
    return wire_id if isinstance(wire_id, str) and wire_id else f"gemini_call_{index}"


def wire_call_id(value: str | None) -> str | None:
    """The id to send back to Gemini for agentflow's id of a call: ``None`` for one agentflow
    made up."""
    if not value or _GENERATED.fullmatch(value):
        return None
    return value


def call_extra(signature: Any) -> dict[str, Any] | None:
    """The ``ToolCall.extra`` of a call with this thought signature (``None`` without)."""
    return {SIGNATURE_KEY: signature} if isinstance(signature, str) and signature else None


# --- requests ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """``value`` with every mapping a dict and every sequence a list, for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def function_declarations(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    """The ``tools`` field: one tool holding every function declaration."""
    return [{"functionDeclarations": [
        {"name": tool.name, "description": tool.description,
         "parametersJsonSchema": _plain(tool.parameters)} for tool in tools]}]


def tool_config(choice: ToolChoice | None) -> dict[str, Any] | None:
    """The ``toolConfig`` field for ``choice`` (``None``: the service's default, ``AUTO``)."""
    if choice is None:
        return None
    if choice.mode == "tool":
        config: dict[str, Any] = {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    else:
        config = {"mode": _MODES[choice.mode]}
    return {"functionCallingConfig": config}


def structured_output(output: OutputSchema) -> dict[str, Any]:
    """The ``generationConfig`` fields that ask for JSON matching ``output``'s schema."""
    return {"responseMimeType": "application/json",
            "responseJsonSchema": _plain(output.schema)}


def contents(messages: Iterable[Message], model: str) -> list[dict[str, Any]]:
    """The ``contents`` of a conversation (system messages are left to the caller)."""
    turns: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    signs = signs_calls(model)
    previous = None
    for message in messages:
        role = message.role
        if role == "system":
            continue
        if role == "tool":
            part = _function_response(message, names)
            if previous == "tool":
                turns[-1]["parts"].append(part)
            else:
                turns.append({"role": "user", "parts": [part]})
        elif role == "assistant":
            names.update((call.id, call.name) for call in message.tool_calls)
            turns.append({"role": "model", "parts": _model_parts(message, signs)})
        else:
            parts = [{"text": part.text} if isinstance(part, TextPart) else _image(part)
                     for part in message.parts]
            turns.append({"role": "user", "parts": parts or [{"text": ""}]})
        previous = role
    return turns


def signs_calls(model: str) -> bool:
    """Whether ``model`` checks thought signatures (Gemini 3 and later)."""
    name = model.rsplit("/", 1)[-1]
    return not name.startswith(("gemini-1", "gemini-2", "gemma"))


def _model_parts(message: Message, signs: bool) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": message.text}] if message.text else []
    signed = False
    for call in message.tool_calls:
        wire_id, signature = wire_call_id(call.id), call.extra.get(SIGNATURE_KEY)
        function: dict[str, Any] = {"name": call.name, "args": _plain(call.arguments)}
        if wire_id is not None:
            function["id"] = wire_id
        part: dict[str, Any] = {"functionCall": function}
        if signature:
            part["thoughtSignature"] = signature
            signed = True
        parts.append(part)
    if message.tool_calls and signs and not signed:
        parts[len(parts) - len(message.tool_calls)]["thoughtSignature"] = PLACEHOLDER_SIGNATURE
    return parts or [{"text": ""}]


def _function_response(message: Message, names: Mapping[str, str]) -> dict[str, Any]:
    name = message.name or names.get(message.tool_call_id or "")
    if not name:
        raise ValidationError(
            f"a tool result (tool_call_id={message.tool_call_id!r}) names no tool and answers "
            "no call of an earlier assistant message; Gemini needs the tool's name",
            parameter="messages")
    wire_id = wire_call_id(message.tool_call_id)
    response: dict[str, Any] = {"name": name,
                                "response": response_object(message.text, message.is_error)}
    if wire_id is not None:
        response["id"] = wire_id
    return {"functionResponse": response}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def response_object(text: str, is_error: bool = False) -> dict[str, Any]:
    """A tool result as ``functionResponse.response``, which must be an object."""
    if is_error:
        return {"error": text}
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def response_text(response: Mapping[str, Any]) -> tuple[str, bool]:
    """The result text and failure flag that :func:`response_object` made ``response`` of."""
    if set(response) == {"error"}:
        value, failed = response["error"], True
    elif set(response) == {"result"}:
        value, failed = response["result"], False
    else:
        value, failed = response, False
    return (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)), failed


def _image(image: ImagePart) -> dict[str, Any]:
    if image.data is not None:
        from agentflow.vendor import sniff_media_type

        media_type = image.media_type or sniff_media_type(image.data)
        return {"inlineData": {"mimeType": media_type or "application/octet-stream",
                               "data": image.base64}}
    data: dict[str, Any] = {"fileUri": image.url}
    path = (image.url or "").split("?", 1)[0].split("#", 1)[0]
    media_type = image.media_type or _EXTENSIONS.get(path.rsplit(".", 1)[-1].lower())
    if media_type:
        data["mimeType"] = media_type
    return {"fileData": data}


# --- answers -----------------------------------------------------------------------------------


def read_calls(parts: Iterable[Any],
               start: int = 0) -> list[tuple[str, str, Any, dict[str, Any] | None]]:
    """``(id, name, args, extra)`` of every ``functionCall`` part, the made-up ids counting
    from ``start``. ``args`` is as Gemini sent it (``{}`` when absent): see :func:`arguments`;
    ``extra`` holds the thought signature, if any."""
    calls: list[tuple[str, str, Any, dict[str, Any] | None]] = []
    for part in parts:
        call = part.get("functionCall") if isinstance(part, dict) else None
        if call is None:
            continue
        name = call["name"]
        if not isinstance(name, str):
            raise TypeError(f"a function call's name is a {type(name).__name__}")
        args = call.get("args")
        calls.append((call_id(call.get("id"), start + len(calls)), name,
                      {} if args is None else args, call_extra(part.get("thoughtSignature"))))
    return calls


def arguments(name: str, args: Any) -> dict[str, Any]:
    """A call's ``args`` if they are an object; else :class:`~agentflow.errors.ProviderError`,
    keeping their JSON as ``raw_arguments``."""
    if isinstance(args, dict):
        return args
    return parse_arguments(json.dumps(args, ensure_ascii=False), tool=name, provider=LABEL)
