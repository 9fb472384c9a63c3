"""Tools: building their definitions from Python, reading the calls a model makes, running them.

* :func:`tool_fields_from_function` / :func:`tool_fields_from_type` describe a
  :class:`~agentflow.types.Tool` from a typed function or an attrs class (for
  ``Tool.from_function`` and ``Tool.from_type``).
* :func:`parse_arguments` turns a vendor's argument JSON into a mapping, or raises an error
  that keeps the raw text (:class:`~agentflow.types.ToolCallAssembler` uses it for argument
  fragments that arrive across stream events).
* :func:`invoke` runs a tool's function with a call's arguments, checked against the tool's
  schema and structured into the function's parameter types.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentflow._content.typeschema import first_mismatch, schema_of, snake_case
from agentflow.errors import ProviderError, StreamingError, ToolError, ValidationError

if TYPE_CHECKING:
    from agentflow.types import Tool, ToolCall

__all__ = ["check_tool_name", "invoke", "parse_arguments", "result_text",
           "tool_fields_from_function", "tool_fields_from_type", "valid_tool_name"]

#: What every vendor accepts as a tool name (OpenAI and Anthropic: 64 of these characters;
#: Gemini: no leading digit or dash).
_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_PARAM_LINE = re.compile(r":param\s+(?:[^:]*\s)?(\w+):\s*(.*)")
_ARGS_LINE = re.compile(r"\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.*)")


def valid_tool_name(name: object) -> bool:
    """Whether ``name`` is a tool name every vendor accepts."""
    return isinstance(name, str) and _TOOL_NAME.fullmatch(name) is not None


# --- definitions ---------------------------------------------------------------------------


def tool_fields_from_function(function: Callable[..., Any], *, name: str | None = None,
                              description: str | None = None) -> dict[str, Any]:
    """The fields of a :class:`~agentflow.types.Tool` whose parameters are ``function``'s.

    Every parameter needs a type hint; those without a default are required. Raises
    :class:`ValidationError` for a function that cannot be described (``*args``, a missing
    hint, a type JSON cannot carry).
    """
    if not callable(function):
        raise ValidationError(f"a tool must be a function, got {function!r}", parameter="tools")
    tool_name = str(name or getattr(function, "__name__", ""))
    check_tool_name(tool_name)
    try:
        hints = typing.get_type_hints(function, include_extras=True)
        signature = inspect.signature(function)
    except (NameError, TypeError, ValueError) as exc:
        raise ValidationError(f"tool {tool_name!r}: cannot read the signature ({exc})",
                              parameter="tools") from None
    summary, notes = _docstring(inspect.getdoc(function))
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ValidationError(f"tool {tool_name!r}: *{parameter.name} cannot be offered to a "
                                  "model; name every parameter", parameter="tools")
        if parameter.name not in hints:
            raise ValidationError(f"tool {tool_name!r}: parameter {parameter.name!r} needs a "
                                  "type hint", parameter="tools")
        try:
            properties[parameter.name] = schema_of(hints[parameter.name],
                                                   description=notes.get(parameter.name))
        except TypeError as exc:
            raise ValidationError(f"tool {tool_name!r}, parameter {parameter.name!r}: {exc}",
                                  parameter="tools") from None
        if parameter.default is parameter.empty:
            required.append(parameter.name)
    parameters = {"type": "object", "properties": properties, "required": required,
                  "additionalProperties": False}
    return {"name": tool_name, "parameters": parameters, "function": function,
            "description": description if description is not None else summary}


def tool_fields_from_type(arguments_type: type, *, name: str | None = None,
                          description: str | None = None) -> dict[str, Any]:
    """The fields of a :class:`~agentflow.types.Tool` whose parameters are the fields of an
    attrs class.

    Its name is the class name in snake case unless given; its description the class's
    docstring. Calls to it are structured into the class by :func:`invoke`.
    """
    import attrs

    if not (isinstance(arguments_type, type) and attrs.has(arguments_type)):
        raise ValidationError(f"a tool type must be an attrs class, got {arguments_type!r}",
                              parameter="tools")
    tool_name = name or snake_case(arguments_type.__name__)
    check_tool_name(tool_name)
    try:
        parameters = schema_of(arguments_type)
    except TypeError as exc:
        raise ValidationError(f"tool {tool_name!r}: {exc}", parameter="tools") from None
    summary = parameters.pop("description", "")
    return {"name": tool_name, "parameters": parameters, "arguments_type": arguments_type,
            "description": description if description is not None else summary}


def check_tool_name(name: str) -> None:
    """Raise :class:`ValidationError` for a name :func:`valid_tool_name` refuses."""
    if not valid_tool_name(name):
        raise ValidationError(
            f"tool name {name!r} is not accepted by every vendor: use 1 to 64 letters, digits, "
            "'_' or '-', starting with a letter or '_'", parameter="tools")


def _docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """A docstring's first paragraph, and its parameter descriptions (reST ``:param x:`` or a
    Google-style ``Args:`` section)."""
    if not doc:
        return "", {}
    summary = " ".join(doc.split("\n\n", 1)[0].split())
    notes: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        found = _PARAM_LINE.match(line.strip())
        if found:
            notes[found.group(1)] = found.group(2).strip()
            continue
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            found = _ARGS_LINE.match(line)
            if found:
                notes[found.group(1)] = found.group(2).strip()
            elif line.strip() and not line.startswith(" "):
                in_args = False
    return summary, notes


# --- calls ---------------------------------------------------------------------------------


def parse_arguments(raw: str, *, tool: str, provider: str, stream: bool = False) -> dict[str, Any]:
    """The arguments object in ``raw`` (``""`` means none); ``provider`` names the sender in
    an error's message (a vendor's label, say).

    Raises :class:`StreamingError` (``stream``) or :class:`ProviderError` when ``raw`` is not a
    JSON object; the error's ``raw_arguments`` keeps the text.
    """
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        problem = f"is not valid JSON ({exc})"
    else:
        if isinstance(value, dict):
            return value
        problem = f"is a JSON {type(value).__name__}, not an object"
    shown = raw if len(raw) <= 200 else raw[:200] + "..."
    kind = StreamingError if stream else ProviderError
    # ``provider`` may be a vendor's label ("OpenAI"): it names the sender in the message only;
    # the core fills in the error's provider entry.
    error = kind(f"{provider} sent arguments for tool {tool!r} that cannot be used: the text "
                 f"{problem}: {shown} (the whole text is kept in .raw_arguments)")
    error.raw_arguments = raw
    raise error



def result_text(result: Any) -> str:
    """A tool's result as the text sent back to the model: strings as they are, anything else
    (attrs instances included) as JSON."""
    if isinstance(result, str):
        return result
    from agentflow._content.converter import converter

    return json.dumps(converter().unstructure(result), ensure_ascii=False, default=str)


async def invoke(tool: Tool, call: ToolCall) -> Any:
    """Run ``tool``'s function with ``call``'s arguments and return what it returns.

    The arguments are checked against the tool's schema and structured into the function's
    parameter types (an attrs class parameter receives an instance). A function that is not
    async runs in a worker thread, so a slow one does not stall the event loop. Raises
    :class:`ToolError` for arguments that do not fit; the function's own exceptions propagate.
    """
    import anyio

    from agentflow._content.converter import converter

    function = tool.function
    if function is None:
        raise ToolError(f"tool {tool.name!r} has no Python function to run")
    problem = first_mismatch(dict(call.arguments), tool.parameters)
    if problem is not None:
        where, what = problem
        raise ToolError(f"arguments of tool {tool.name!r} do not fit its parameters: "
                        f"{where.replace('$.', '', 1)} {what}")
    structure = converter()
    hints = typing.get_type_hints(function)
    try:
        arguments = {name: structure.structure(value, hints[name]) if name in hints else value
                     for name, value in call.arguments.items()}
    except Exception as exc:
        raise ToolError(f"arguments of tool {tool.name!r} do not fit its parameters: "
                        f"{exc}") from None
    if inspect.iscoroutinefunction(function):
        return await function(**arguments)
    return await anyio.to_thread.run_sync(lambda: function(**arguments))
