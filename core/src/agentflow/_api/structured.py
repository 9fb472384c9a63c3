"""Structured answers: the schema a request asks for, and reading the answer against it.

``.output_type(cls)`` asks for JSON matching the attrs class ``cls`` and structures the answer
into an instance; ``.json_schema(schema)`` asks for JSON matching a schema and returns the
parsed value. Vendor plugins only get the :class:`~agentflow.types.OutputSchema` and return the
JSON as the answer's text; reading it is done here, the same for every vendor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentflow._content.typeschema import first_mismatch, is_strict, schema_of, snake_case
from agentflow.errors import ValidationError
from agentflow.types import OutputSchema

__all__ = ["output_schema_for_json", "output_schema_for_type", "parse_output"]


def output_schema_for_type(output_type: type, *, name: str | None = None) -> OutputSchema:
    """The schema of an attrs class, for ``.output_type``."""
    import attrs

    if not (isinstance(output_type, type) and attrs.has(output_type)):
        raise ValidationError(
            f"output_type must be an attrs class, got {output_type!r}; for another shape give "
            ".json_schema(...) or wrap it in an attrs class", parameter="output_type")
    try:
        schema = schema_of(output_type)
    except TypeError as exc:
        raise ValidationError(f"output_type: {exc}", parameter="output_type") from None
    description = schema.pop("description", "")
    return _named(name or snake_case(output_type.__name__), schema, description)


def output_schema_for_json(schema: Mapping[str, Any], *, name: str = "answer",
                           description: str = "") -> OutputSchema:
    """The schema given to ``.json_schema``; its root must describe an object."""
    if not isinstance(schema, Mapping):
        raise ValidationError(f"json_schema must be a mapping, got {type(schema).__name__}",
                              parameter="json_schema")
    if schema.get("type") != "object":
        raise ValidationError(
            "json_schema must describe an object at its root ({'type': 'object', ...}): "
            "vendors require one; put a list or a value in a property",
            parameter="json_schema")
    return _named(name, dict(schema), description)


def _named(name: str, schema: dict[str, Any], description: str) -> OutputSchema:
    from agentflow._content.tools import valid_tool_name

    if not valid_tool_name(name):
        raise ValidationError(f"schema name {name!r} must be 1 to 64 letters, digits, '_' or "
                              "'-', starting with a letter or '_'", parameter="json_schema")
    return OutputSchema(name=name, schema=schema, description=description,
                        strict=is_strict(schema))


def parse_output(text: str, output: OutputSchema, output_type: type | None, *,
                 provider: str | None = None, model: str | None = None) -> Any:
    """The answer ``text`` read as JSON, checked against ``output`` and, with an
    ``output_type``, structured into an instance of it.

    Raises :class:`ValidationError` with ``path`` (where the first mismatch is) and ``answer``
    (the text) when the answer is not JSON or does not fit.
    """
    def refuse(problem: str, path: str = "$") -> ValidationError:
        return ValidationError(f"the answer does not match the schema {output.name!r}: "
                               f"{problem} (the text is kept in .answer)", parameter="output",
                               path=path, answer=text, provider=provider, model=model)

    try:
        value = json.loads(_unfenced(text))
    except ValueError as exc:
        raise refuse(f"it is not JSON ({exc})") from None
    mismatch = first_mismatch(value, output.schema)
    if mismatch is not None:
        path, problem = mismatch
        raise refuse(f"{path} {problem}", path)
    if output_type is None:
        return value
    from agentflow._content.converter import converter

    try:
        return converter().structure(value, output_type)
    except Exception as exc:
        raise refuse(_cattrs_problem(exc)) from None


def _unfenced(text: str) -> str:
    """``text`` without a Markdown code fence around it, which some models add."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        inner = stripped[3:-3]
        return inner.split("\n", 1)[1] if "\n" in inner else inner
    return stripped


def _cattrs_problem(exc: Exception) -> str:
    try:
        from cattrs import transform_error

        messages = transform_error(exc)
    except Exception:
        return str(exc)
    return messages[0] if messages else str(exc)
