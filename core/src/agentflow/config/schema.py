"""The JSON Schema (draft 2020-12) of the configuration file, for editors' YAML completion.

It is generated from the config classes and their settings' documentation and limits, plus
what the installed plugins add: the vendor names (with their descriptions) and each vendor's
temperature range. ``agentflow config schema > agentflow.schema.json`` writes it; a first line
``# yaml-language-server: $schema=agentflow.schema.json`` in ``agentflow.yml`` makes editors
that use the YAML language server complete and check keys as you type.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

import attrs

from agentflow.config._fields import required_keys, setting_of
from agentflow.config.models import Config
from agentflow.types import ProviderSpec

__all__ = ["SCHEMA_DIALECT", "config_json_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


def config_json_schema(providers: Mapping[str, ProviderSpec]) -> dict[str, Any]:
    """The JSON Schema of ``agentflow.yml`` with the vendors in ``providers``.

    Vendor names become completions: a provider entry's ``vendor`` must be one of them; a
    model's ``vendor`` may also name a provider entry, so any string is accepted there. A
    model whose ``vendor`` is a vendor's name gets that vendor's temperature range (a schema
    cannot follow the name to a provider entry, so an entry named like one vendor that speaks
    another is held to the first one's range here; the loader follows it).
    """
    defs = {cls.__name__: _class_schema(cls) for cls in _sections(Config)}
    vendors = [_vendor_choice(spec) for _, spec in sorted(providers.items())]
    if vendors:
        defs["ProviderConfig"]["properties"]["vendor"]["anyOf"] = [*vendors, {"type": "null"}]
        defs["ModelConfig"]["properties"]["vendor"]["anyOf"] = [
            *vendors, {"type": "string", "description": "The name of a provider entry."},
            {"type": "null"}]
        ranges = _temperature_ranges(providers)
        if ranges:
            defs["ModelConfig"]["allOf"] = ranges
    root = _class_schema(Config)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "agentflow configuration",
        "description": _doc(Config),
        **{key: value for key, value in root.items() if key != "description"},
        "$defs": defs,
    }


def _class_schema(cls: type) -> dict[str, Any]:
    attrs.resolve_types(cls)
    properties: dict[str, Any] = {}
    for field in attrs.fields(cls):
        meta = setting_of(field)
        if meta is None:
            continue
        schema = _type_schema(field.type)
        schema["description"] = meta.doc
        if isinstance(field.default, int | float | str):  # not a factory, not None
            schema["default"] = field.default
        for keyword, value in (("minimum", meta.minimum), ("maximum", meta.maximum),
                               ("exclusiveMinimum", meta.above)):
            if value is not None:
                schema[keyword] = value
        schema.update(meta.schema)
        properties[field.name] = schema
    schema = {"type": ["object", "null"], "description": _doc(cls),
              "additionalProperties": False, "properties": properties}
    required = required_keys(cls)
    if required:
        schema["type"] = "object"
        schema["required"] = required
    return schema


def _sections(root: type) -> list[type]:
    """Every config class reachable from ``root``'s fields (not ``root`` itself)."""
    found: list[type] = []
    pending = [root]
    while pending:
        cls = pending.pop(0)
        attrs.resolve_types(cls)
        for field in attrs.fields(cls):
            if setting_of(field) is None:  # not a key of the file
                continue
            for candidate in _classes_in(field.type):
                if candidate not in found:
                    found.append(candidate)
                    pending.append(candidate)
    return found


def _classes_in(type_: Any) -> list[type]:
    if attrs.has(type_):
        return [type_]
    return [cls for arg in get_args(type_) for cls in _classes_in(arg)]


def _type_schema(type_: Any) -> dict[str, Any]:
    origin = get_origin(type_)
    if origin in (Union, types.UnionType):
        inner = [arg for arg in get_args(type_) if arg is not type(None)]
        schema = _type_schema(inner[0])
        if "$ref" in schema:
            return {"anyOf": [schema, {"type": "null"}]}
        schema["type"] = [*_as_list(schema["type"]), "null"]
        return schema
    if origin in (Mapping, dict):
        value = get_args(type_)[1]
        if attrs.has(value):
            return {"type": ["object", "null"], "additionalProperties": _ref(value)}
        return {"type": ["object", "null"]}
    if origin is tuple:
        return {"type": ["array", "null"], "items": _type_schema(get_args(type_)[0])}
    if attrs.has(type_):
        return _ref(type_)
    return {"type": _SCALARS[type_]}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _ref(cls: Any) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{cls.__name__}"}


def _doc(cls: type) -> str:
    return (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")


def _vendor_choice(spec: ProviderSpec) -> dict[str, Any]:
    choice: dict[str, Any] = {"const": spec.name}
    description = spec.description or f"the {spec.name} vendor"
    if spec.api_key_env:
        description += f" (key from {' or '.join((spec.api_key_env, *spec.api_key_env_fallbacks))})"
    choice["description"] = description
    return choice


def _temperature_ranges(providers: Mapping[str, ProviderSpec]) -> list[dict[str, Any]]:
    rules = []
    for name, spec in sorted(providers.items()):
        low, high = spec.temperature_range
        if (low, high) == (0.0, 2.0):
            continue
        rules.append({
            "if": {"properties": {"vendor": {"const": name}}, "required": ["vendor"]},
            "then": {"properties": {"temperature": {"minimum": low, "maximum": high}}},
        })
    return rules
