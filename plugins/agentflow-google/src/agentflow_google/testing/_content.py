"""Function calling, structured output and images as the Gemini emulation plays them.

:mod:`agentflow_google.testing._service` serves the routes; this module checks what a request
says about tools, schemas and media, and decides what the emulated model answers:

* Scripted ``Reply.tool_calls`` become ``functionCall`` parts (after the text, if any), sent
  whole, in the last chunk of a stream, with ``finishReason: STOP``. A call's ``id`` is sent
  only when the script gives one (the Gemini API usually sends none); ``raw_arguments``,
  which Gemini cannot send as text, is sent as the ``args`` value it parses to, or as a
  string when it is not JSON (so a test can make ``args`` something other than an object).
* With no scripted calls, ``functionCallingConfig.mode: ANY`` makes the model call the first
  allowed function (else the first declared) with :func:`example_instance` arguments.
* ``responseJsonSchema`` (or ``responseSchema``) with no scripted text answers
  :func:`example_instance` of the schema as JSON text.
* After function responses (the last turn holds ``functionResponse`` parts), the echo is
  :func:`tool_result_text` of them; images of the last user turn are echoed after the text
  as :func:`describe_image`.
* Gemini 3 and later models sign their calls: the first ``functionCall`` part of an answer
  carries a ``thoughtSignature``, and a request whose current turn holds calls without one
  is refused, as is a signature the emulation did not make (the placeholders Google documents
  are accepted).

Requests are checked as the service checks them, each failure a 400 in Google's shape:
function names, duplicate declarations, ``parameters`` beside ``parametersJsonSchema``,
parameter schemas that do not describe an object, a calling mode or allowed function name
that is unknown, inline data that is not base64 or whose bytes are not the image type named,
image types Gemini does not read, file URIs it cannot fetch, function responses that follow
no function call turn (or answer a different number of calls, or other functions), function
calls that follow no user turn, response schemas without a JSON response type.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

from agentflow.testing.fake import (
    FakeToolCall,
    Reply,
    describe_image,
    example_instance,
    tool_result_text,
)
from agentflow_google._content import PLACEHOLDER_SIGNATURE, response_text, signs_calls

__all__ = ["IMAGE_TYPES", "Problem", "function_words", "reply_content", "request_problem"]

#: The image types Gemini reads.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})

_TYPE = "type.googleapis.com/google.rpc."
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
_MODES = ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED")
_TOOL_FIELDS = frozenset({"functionDeclarations", "googleSearch", "googleSearchRetrieval",
                          "codeExecution", "urlContext", "fileSearch", "googleMaps",
                          "computerUse"})
_PLACEHOLDERS = (PLACEHOLDER_SIGNATURE, "context_engineering_is_the_way_to_go")
# Every signature the emulation makes starts with these bytes (base64 "++++////").
_SIGNED = b"\xfb\xef\xbe\xff\xff\xff"
_BAD_IMAGE = ("Unable to process input image. Please retry or report in "
              "https://developers.generativeai.google/guide/troubleshooting")
_UNSIGNED = ("Function call is missing a thought_signature in functionCall parts. This is "
             "required for tools to work correctly, and missing thought_signature may lead to "
             "degraded model performance. Additional data, function call `default_api:{name}` "
             ", position {position}. Please refer to "
             "https://ai.google.dev/gemini-api/docs/thought-signatures for more details.")


@attrs.frozen
class Problem:
    """A request the service refuses with 400; ``field`` for a ``BadRequest`` detail."""

    message: str
    field: str | None = None

    def details(self) -> list[dict[str, Any]] | None:
        if self.field is None:
            return None
        violation = {"field": self.field, "description": self.message} if self.field else {
            "description": self.message}
        return [{"@type": f"{_TYPE}BadRequest", "fieldViolations": [violation]}]


def _get(mapping: Any, camel: str) -> Any:
    """A field in either spelling the service accepts."""
    if not isinstance(mapping, Mapping):
        return None
    value = mapping.get(camel)
    if value is None:
        value = mapping.get(_snake(camel))
    return value


def _snake(camel: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in camel)


def _invalid(path: str, value: Any, kind: str) -> Problem:
    return Problem(f"Invalid value at '{path}' ({kind}), {json.dumps(value)}", path)


def _field(path: str, message: str) -> Problem:
    return Problem(f"* GenerateContentRequest.{path}: {message}\n", path)


# --- checks ------------------------------------------------------------------------------------


def request_problem(body: dict[str, Any], model: str) -> Problem | None:
    """What the service would refuse in ``body``'s tools, tool config, parts and schemas."""
    declared, problem = _declarations(body)
    return (problem or _tool_config_problem(body, declared) or _parts_problem(body)
            or _turns_problem(body["contents"], model) or _schema_problem(body))


def _declarations(body: dict[str, Any]) -> tuple[dict[str, Any], Problem | None]:
    """Every declared function's parameter schema by name, or the first problem."""
    declared: dict[str, Any] = {}
    tools = _get(body, "tools")
    if tools is None:
        return declared, None
    if not isinstance(tools, list):
        return declared, _invalid("tools", tools, "type.googleapis.com/google.ai."
                                  "generativelanguage.v1beta.Tool")
    for t, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return declared, _invalid(f"tools[{t}]", tool, "TYPE_MESSAGE")
        unknown = next((name for name in tool if _camel(name) not in _TOOL_FIELDS), None)
        if unknown is not None:
            return declared, Problem(f'Invalid JSON payload received. Unknown name "{unknown}" '
                                     f"at 'tools[{t}]': Cannot find field.", f"tools[{t}]")
        for d, declaration in enumerate(_get(tool, "functionDeclarations") or ()):
            where = f"tools[{t}].function_declarations[{d}]"
            problem = _declaration_problem(declaration, where, declared)
            if problem is not None:
                return declared, problem
            schema = _get(declaration, "parametersJsonSchema")
            declared[declaration["name"]] = schema if schema is not None else _lowered(
                _get(declaration, "parameters") or {})
    return declared, None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _declaration_problem(declaration: Any, where: str,
                         declared: Mapping[str, Any]) -> Problem | None:
    if not isinstance(declaration, dict):
        return _invalid(where, declaration, "TYPE_MESSAGE")
    name = declaration.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return _field(f"{where}.name", "Invalid function name. Must start with a letter or an "
                      "underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots "
                      "(.), colons (:), or dashes (-), with a maximum length of 64.")
    if name in declared:
        return _field(where, f"Duplicate function declaration found: {name}")
    schema = _get(declaration, "parametersJsonSchema")
    parameters = _get(declaration, "parameters")
    if schema is not None and parameters is not None:
        return _field(where, "parameters and parameters_json_schema are mutually exclusive; "
                      "set one of them.")
    if schema is not None and (not isinstance(schema, dict) or schema.get("type") != "object"):
        return _field(f"{where}.parameters_json_schema", "the schema must describe an object "
                      "(type: object) whose properties are the function's parameters.")
    if parameters is not None and (not isinstance(parameters, dict)
                                   or str(parameters.get("type", "")).upper() != "OBJECT"):
        return _field(f"{where}.parameters", "parameters must be of type OBJECT.")
    return None


def _lowered(schema: Any) -> Any:
    """An OpenAPI-subset schema (``type: STRING``) read as JSON Schema (``type: string``)."""
    if isinstance(schema, Mapping):
        return {key: value.lower() if key == "type" and isinstance(value, str)
                else _lowered(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_lowered(item) for item in schema]
    return schema


def _calling_config(body: dict[str, Any]) -> dict[str, Any]:
    config = _get(_get(body, "toolConfig"), "functionCallingConfig")
    return config if isinstance(config, dict) else {}


def _tool_config_problem(body: dict[str, Any], declared: Mapping[str, Any]) -> Problem | None:
    where = "tool_config.function_calling_config"
    config = _calling_config(body)
    mode = _get(config, "mode") or "MODE_UNSPECIFIED"
    if mode not in _MODES:
        return _invalid(f"{where}.mode", mode, "type.googleapis.com/google.ai."
                        "generativelanguage.v1beta.FunctionCallingConfig.Mode")
    allowed = _get(config, "allowedFunctionNames")
    if allowed and mode not in ("ANY", "VALIDATED"):
        return _field(f"{where}.allowed_function_names", "allowed_function_names may only be "
                      "set when mode is ANY or VALIDATED.")
    for index, name in enumerate(allowed or ()):
        if name not in declared:
            return _field(f"{where}.allowed_function_names[{index}]", f"function {name!r} is "
                          "not among the function declarations.")
    if mode in ("ANY", "VALIDATED") and not declared:
        return _field(f"{where}.mode", f"function calling mode {mode} needs function "
                      "declarations.")
    return None


def _parts_problem(body: dict[str, Any]) -> Problem | None:
    for c, content in enumerate(body["contents"]):
        for p, part in enumerate(content["parts"]):
            where = f"contents[{c}].parts[{p}]"
            if not isinstance(part, dict):
                return _invalid(where, part, "type.googleapis.com/google.ai."
                                "generativelanguage.v1beta.Part")
            for name in ("functionCall", "functionResponse"):
                value = _get(part, name)
                if value is not None and not isinstance(value, dict):
                    return _invalid(f"{where}.{_snake(name)}", value, "TYPE_MESSAGE")
            problem = (_inline_problem(_get(part, "inlineData"), where)
                       or _file_problem(_get(part, "fileData"), where)
                       or _signature_problem(_get(part, "thoughtSignature"), where))
            if problem is not None:
                return problem
    return None


def _inline_problem(inline: Any, where: str) -> Problem | None:
    if inline is None:
        return None
    data, media_type = _get(inline, "data"), _get(inline, "mimeType")
    if not media_type:
        return _field(f"{where}.inline_data.mime_type", "mime_type is not specified.")
    decoded = _decoded(data)
    if decoded is None:
        shown = str(data)[:40]
        return Problem(f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 "
                       f'decoding failed for "{shown}"', f"{where}.inline_data.data")
    if not str(media_type).startswith("image/"):
        return None
    if media_type not in IMAGE_TYPES:
        return Problem(f"Unsupported MIME type: {media_type}")
    from agentflow.vendor import sniff_media_type

    found = sniff_media_type(decoded)
    if not decoded or (found != media_type and (found is not None or media_type in (
            "image/png", "image/jpeg", "image/webp"))):
        return Problem(_BAD_IMAGE)
    return None


def _decoded(data: Any) -> bytes | None:
    """``data`` decoded as the service decodes bytes (standard or URL-safe base64)."""
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def _file_problem(file: Any, where: str) -> Problem | None:
    if file is None:
        return None
    uri = _get(file, "fileUri")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
        return _field(f"{where}.file_data.file_uri", f"Unsupported file uri: {uri}")
    media_type = _get(file, "mimeType")
    if media_type is not None and str(media_type).startswith("image/") and (
            media_type not in IMAGE_TYPES):
        return Problem(f"Unsupported MIME type: {media_type}")
    return None


def _signature_problem(signature: Any, where: str) -> Problem | None:
    if signature is None or signature in _PLACEHOLDERS:
        return None
    decoded = _decoded(signature)
    if decoded is None or not decoded.startswith(_SIGNED):
        return Problem("Corrupted thought signature.", f"{where}.thought_signature")
    return None


def _calls(content: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [part for part in content["parts"] if _get(part, "functionCall") is not None]


def _responses(content: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [response for part in content["parts"]
            if (response := _get(part, "functionResponse")) is not None]


def _turns_problem(contents: list[dict[str, Any]], model: str) -> Problem | None:
    """Function calls and responses in their places; the current turn's calls signed."""
    called: list[str] = []
    current = 0  # where the current turn starts: the last user turn that says something
    for c, content in enumerate(contents):
        calls, responses = _calls(content), _responses(content)
        user = content.get("role", "user") == "user"
        if user and not responses:
            current = c
        if calls and (c == 0 or contents[c - 1].get("role", "user") != "user"):
            return Problem("Please ensure that function call turn comes immediately after a "
                           "user turn or after a function response turn.")
        if responses:
            problem = _answers_problem(responses, called, c)
            if problem is not None:
                return problem
        called = [_get(_get(part, "functionCall"), "name") for part in calls] if not user else []
    if not signs_calls(model):
        return None
    for content in contents[current:]:
        calls = _calls(content)
        if calls and _get(calls[0], "thoughtSignature") is None:
            position = content["parts"].index(calls[0]) + 1
            return Problem(_UNSIGNED.format(name=_get(_get(calls[0], "functionCall"), "name"),
                                            position=position))
    return None


def _answers_problem(responses: list[dict[str, Any]], called: list[str],
                     c: int) -> Problem | None:
    if not called:
        return Problem("Please ensure that function response turn comes immediately after a "
                       "function call turn.")
    if len(responses) != len(called):
        return Problem("Please ensure that the number of function response parts is equal to "
                       "the number of function call parts of the function call turn.")
    for p, response in enumerate(responses):
        where = f"contents[{c}].parts[{p}].function_response"
        if response.get("name") not in called:
            return _field(f"{where}.name", f"function response {response.get('name')!r} "
                          "answers no function call of the function call turn.")
        if not isinstance(response.get("response"), dict):
            return _invalid(f"{where}.response", response.get("response"),
                            "type.googleapis.com/google.protobuf.Struct")
    return None


def _schema_problem(body: dict[str, Any]) -> Problem | None:
    config = _get(body, "generationConfig") or {}
    schema, json_schema = _get(config, "responseSchema"), _get(config, "responseJsonSchema")
    if schema is not None and json_schema is not None:
        return _field("generation_config", "response_schema and response_json_schema are "
                      "mutually exclusive; set one of them.")
    if (schema is not None or json_schema is not None) and _get(
            config, "responseMimeType") not in ("application/json", "text/x.enum"):
        return _field("generation_config.response_mime_type", "response_mime_type must be "
                      "application/json or text/x.enum when a response schema is set.")
    if json_schema is not None and not isinstance(json_schema, (dict, bool)):
        return _invalid("generation_config.response_json_schema", json_schema,
                        "type.googleapis.com/google.protobuf.Value")
    return None


# --- answers -----------------------------------------------------------------------------------


def reply_content(model: str, body: dict[str, Any],
                  reply: Reply) -> tuple[str, list[dict[str, Any]]]:
    """The answer's text and its ``functionCall`` parts."""
    contents = body["contents"]
    calls = [_scripted(call) for call in reply.tool_calls] or _forced(body)
    config = _get(body, "generationConfig") or {}
    schema = _get(config, "responseJsonSchema")
    if schema is None and _get(config, "responseSchema") is not None:
        schema = _lowered(_get(config, "responseSchema"))
    results = [(str(response.get("name")), response_text(response.get("response") or {})[0])
               for response in _responses(contents[-1])]
    if reply.text is not None:
        text = reply.text
    elif calls:
        text = ""
    elif schema is not None:
        text = json.dumps(example_instance(schema), ensure_ascii=False)
    elif results:
        text = tool_result_text(results)
    else:
        text = _echo(contents, reply)
    if calls and signs_calls(model):
        calls[0]["thoughtSignature"] = _signature(calls[0])
    return text, calls


def _scripted(call: FakeToolCall) -> dict[str, Any]:
    arguments: Any = dict(call.arguments)
    if call.raw_arguments is not None:
        try:
            arguments = json.loads(call.raw_arguments)
        except ValueError:
            arguments = call.raw_arguments
    function: dict[str, Any] = {"name": call.name, "args": arguments}
    if call.id:
        function["id"] = call.id
    return {"functionCall": function}


def _forced(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The call a request in mode ``ANY`` forces."""
    config = _calling_config(body)
    if _get(config, "mode") != "ANY":
        return []
    declared, _ = _declarations(body)
    allowed = _get(config, "allowedFunctionNames") or list(declared)
    if not allowed:
        return []
    name = allowed[0]
    return [{"functionCall": {"name": name, "args": example_instance(declared[name])}}]


def _signature(part: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(part, sort_keys=True).encode()).digest()
    return base64.b64encode(_SIGNED + digest[:10]).decode("ascii")


def _echo(contents: list[dict[str, Any]], reply: Reply) -> str:
    """The echo of the last user turn: its text, then its images described."""
    last = next((c for c in reversed(contents) if c.get("role", "user") == "user"
                 and not _responses(c)), None)
    parts = last["parts"] if last is not None else ()
    text = reply.text_for(" ".join(str(part["text"]) for part in parts
                                   if "text" in part and not part.get("thought")))
    images = []
    for part in parts:
        inline, file = _get(part, "inlineData"), _get(part, "fileData")
        if inline is not None:
            images.append(describe_image(_get(inline, "mimeType"),
                                         _decoded(_get(inline, "data"))))
        elif file is not None:
            images.append(describe_image(_get(file, "mimeType"), url=_get(file, "fileUri")))
    return " ".join([text, *images])


def function_words(content: Mapping[str, Any]) -> int:
    """The words of a turn's function calls and responses, as JSON (one token each)."""
    words = 0
    for part in content.get("parts") or ():
        call, response = _get(part, "functionCall"), _get(part, "functionResponse")
        if call is not None:
            words += len(json.dumps(call.get("args")).split())
        if response is not None:
            words += len(json.dumps(response.get("response")).split())
    return words
