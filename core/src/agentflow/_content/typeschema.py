"""JSON Schema from Python types, and checking a JSON value against such a schema.

:func:`schema_of` describes a type hint as the JSON Schema that tools' parameters and
structured answers are declared with. It covers what a model can fill in: ``str``, ``int``,
``float``, ``bool``, ``None``, lists, tuples, sets, ``dict[str, T]``, ``Literal``, enums,
unions, ``datetime``/``date``/``time``, ``typing.Annotated[T, "description"]`` and attrs
classes (an object with their fields; a field's ``metadata["description"]`` describes it).

:func:`first_mismatch` checks a value against a schema, covering the keywords vendors accept
(``type``, ``enum``, ``const``, ``properties``, ``required``, ``additionalProperties``,
``items``, ``prefixItems``, ``anyOf``/``oneOf``, bounds, ``nullable``), and says where the
first difference is, as a path such as ``$.items[2].price``.
"""

from __future__ import annotations

import datetime
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = ["first_mismatch", "is_strict", "schema_of", "snake_case"]

_SCALARS: dict[type, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    type(None): {"type": "null"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
}
_ARRAYS = (list, tuple, set, frozenset, Sequence)
_OBJECTS = (dict, Mapping)


def snake_case(name: str) -> str:
    """``WeatherReport`` -> ``weather_report``: a class name as a tool or schema name."""
    out: list[str] = []
    for index, char in enumerate(name):
        if char.isupper() and index and (not name[index - 1].isupper()
                                         or (index + 1 < len(name) and name[index + 1].islower())):
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def schema_of(hint: Any, *, description: str | None = None) -> dict[str, Any]:
    """The JSON Schema of the type ``hint``.

    Raises :class:`TypeError` for a type a model cannot fill in (a callable, a class that is
    not an attrs class, a recursive class), naming it.
    """
    schema = _schema(hint, ())
    if description:
        schema = {**schema, "description": description}
    return schema


def _schema(hint: Any, seen: tuple[type, ...]) -> dict[str, Any]:
    if hint is Any or hint is object:
        return {}
    if isinstance(hint, type) and hint in _SCALARS:
        return dict(_SCALARS[hint])
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    if origin is typing.Annotated:
        inner = _schema(arguments[0], seen)
        notes = [note for note in arguments[1:] if isinstance(note, str)]
        return {**inner, "description": " ".join(notes)} if notes else inner
    if origin is typing.Literal:
        return _enum(list(arguments))
    if origin is typing.Union or origin is types.UnionType:
        options = [_schema(argument, seen) for argument in arguments]
        return {"anyOf": options}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum([member.value for member in hint])
    if origin is tuple and arguments and arguments[-1] is not Ellipsis:
        items = [_schema(argument, seen) for argument in arguments]
        return {"type": "array", "prefixItems": items, "items": False,
                "minItems": len(items), "maxItems": len(items)}
    if origin in _ARRAYS or hint in _ARRAYS:
        item = arguments[0] if arguments else Any
        schema: dict[str, Any] = {"type": "array", "items": _schema(item, seen)}
        if origin in (set, frozenset) or hint in (set, frozenset):
            schema["uniqueItems"] = True
        return schema
    if origin in _OBJECTS or hint in _OBJECTS:
        value = arguments[1] if len(arguments) == 2 else Any
        if arguments and arguments[0] is not str:
            raise TypeError(f"{hint!r}: JSON object keys are strings, so only dict[str, ...] "
                            "can be described")
        return {"type": "object", "additionalProperties": _schema(value, seen)}
    if isinstance(hint, type) and attrs.has(hint):
        return _object(hint, seen)
    raise TypeError(f"{hint!r} cannot be described as JSON Schema: use str, int, float, bool, "
                    "lists, dicts, Literal, enums, unions or attrs classes")


def _enum(values: list[Any]) -> dict[str, Any]:
    kinds = {_json_type(value) for value in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _object(cls: type, seen: tuple[type, ...]) -> dict[str, Any]:
    if cls in seen:
        raise TypeError(f"{cls.__name__} refers to itself; recursive types cannot be described "
                        "inline")
    hints = typing.get_type_hints(cls, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        if not field.init:
            continue
        name = field.alias or field.name
        schema = _schema(hints.get(field.name, Any), (*seen, cls))
        note = field.metadata.get("description")
        if note:
            schema = {**schema, "description": note}
        properties[name] = schema
        if field.default is attrs.NOTHING:
            required.append(name)
    schema = {"type": "object", "properties": properties, "required": required,
              "additionalProperties": False}
    summary = _summary(cls.__doc__)
    if summary:
        schema["description"] = summary
    return schema


def _summary(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    if not doc:
        return ""
    import inspect

    return " ".join(inspect.cleandoc(doc).split("\n\n", 1)[0].split())


def is_strict(schema: Any) -> bool:
    """Whether ``schema`` meets the rules of strict decoding: every object lists all its
    properties as required and is closed (``additionalProperties: false``); no keyword outside
    what strict decoders accept."""
    if not isinstance(schema, Mapping):
        return False
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required", ())) != set(properties):
            return False
        if not all(is_strict(sub) for sub in properties.values()):
            return False
    if "prefixItems" in schema or "uniqueItems" in schema:
        return False
    items = schema.get("items")
    if isinstance(items, Mapping) and not is_strict(items):
        return False
    return all(is_strict(option) for option in schema.get("anyOf", ()))


# --- checking ------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is(value: Any, kind: str) -> bool:
    actual = _json_type(value)
    if kind == "number":
        return actual in ("number", "integer")
    if kind == "integer" and actual == "number":
        return bool(value.is_integer())
    return actual == kind


def _same(value: Any, option: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``True != 1``."""
    if _is(value, "number") and _is(option, "number"):
        return bool(value == option)
    return _json_type(value) == _json_type(option) and value == option


def _shown(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def first_mismatch(value: Any, schema: Mapping[str, Any] | bool,
                   path: str = "$") -> tuple[str, str] | None:
    """``(path, what is wrong)`` for the first place where ``value`` does not match
    ``schema``, or ``None`` when it matches."""
    if schema is True or schema == {}:
        return None
    if schema is False:
        return path, "is not allowed here"
    kinds = schema.get("type")
    if kinds is not None:
        allowed = [kinds] if isinstance(kinds, str) else list(kinds)
        if schema.get("nullable"):
            allowed.append("null")
        if not any(_is(value, kind) for kind in allowed):
            return path, f"expected {' or '.join(allowed)}, got {_shown(value)}"
    if "const" in schema and value != schema["const"]:
        return path, f"expected {_shown(schema['const'])}, got {_shown(value)}"
    if ("enum" in schema and not (value is None and schema.get("nullable"))
            and not any(_same(value, option) for option in schema["enum"])):
        listed = ", ".join(_shown(option) for option in schema["enum"])
        return path, f"expected one of {listed}, got {_shown(value)}"
    options = schema.get("anyOf") or schema.get("oneOf")
    if options is not None:
        found = [first_mismatch(value, option, path) for option in options]
        mismatches = [item for item in found if item is not None]
        if len(mismatches) == len(found):
            # the deepest mismatch says most about what was meant
            return max(mismatches, key=lambda item: len(item[0]))
    if isinstance(value, dict):
        return _object_mismatch(value, schema, path)
    if isinstance(value, list):
        return _array_mismatch(value, schema, path)
    return _bounds_mismatch(value, schema, path)


def _object_mismatch(value: dict[str, Any], schema: Mapping[str, Any],
                     path: str) -> tuple[str, str] | None:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            return f"{path}.{name}", "is required but missing"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}"
        if name in properties:
            problem = first_mismatch(item, properties[name], where)
        else:
            problem = first_mismatch(item, extra, where) if extra is not True else None
            if extra is False:
                problem = (where, "is not a known property")
        if problem:
            return problem
    return None


def _array_mismatch(value: list[Any], schema: Mapping[str, Any],
                    path: str) -> tuple[str, str] | None:
    low, high = schema.get("minItems"), schema.get("maxItems")
    if low is not None and len(value) < low:
        return path, f"expected at least {low} items, got {len(value)}"
    if high is not None and len(value) > high:
        return path, f"expected at most {high} items, got {len(value)}"
    prefix = schema.get("prefixItems", ())
    items = schema.get("items", True)
    for index, item in enumerate(value):
        rule = prefix[index] if index < len(prefix) else items
        problem = first_mismatch(item, rule, f"{path}[{index}]")
        if problem:
            return problem
    return None


def _bounds_mismatch(value: Any, schema: Mapping[str, Any],
                     path: str) -> tuple[str, str] | None:
    if _is(value, "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and value < low:
            return path, f"expected at least {low}, got {value}"
        if high is not None and value > high:
            return path, f"expected at most {high}, got {value}"
    if isinstance(value, str):
        low, high = schema.get("minLength"), schema.get("maxLength")
        if low is not None and len(value) < low:
            return path, f"expected at least {low} characters, got {len(value)}"
        if high is not None and len(value) > high:
            return path, f"expected at most {high} characters, got {len(value)}"
    return None
