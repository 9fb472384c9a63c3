"""Shared helpers of the configuration tests (this module holds no tests).

* ``PROVIDERS``: installed vendors as ``PluginHost.providers()`` would give them;
* ``AcmePlugin``: a vendor plugin with a catalog, for registry tests;
* ``emit_yaml``: a small block-style YAML writer that also returns where it put every key and
  value, so tests know the exact expected positions without asking the parser under test;
* ``schema_errors``: a small JSON Schema validator (jsonschema is not a dependency).
"""

from __future__ import annotations

import re
from typing import Any

from agentflow.hookspecs import hookimpl
from agentflow.types import ModelInfo, Pricing, ProviderSpec

OPENAI = ProviderSpec(name="openai", default_base_url="https://api.openai.com/v1",
                      api_key_env="OPENAI_API_KEY", description="OpenAI Chat Completions")
ANTHROPIC = ProviderSpec(name="anthropic", default_base_url="https://api.anthropic.com/v1",
                         api_key_env="ANTHROPIC_API_KEY", temperature_range=(0.0, 1.0))
COMPATIBLE = ProviderSpec(name="openai_compatible", default_base_url="http://127.0.0.1:8000/v1",
                          api_key_env="OPENAI_COMPATIBLE_API_KEY", api_key_optional=True)
PROVIDERS = {spec.name: spec for spec in (OPENAI, ANTHROPIC, COMPATIBLE)}

ACME = ProviderSpec(name="acme", default_base_url="https://api.acme.test/v1",
                    api_key_env="ACME_API_KEY", temperature_range=(0.0, 1.0))
LOCAL = ProviderSpec(name="local", default_base_url="http://127.0.0.1:9000/v1",
                     api_key_env="LOCAL_API_KEY", api_key_optional=True,
                     capabilities=frozenset())
KEYLESS = ProviderSpec(name="keyless", default_base_url="https://keyless.test", api_key_env=None)


class AcmePlugin:
    """Vendors ``acme`` (key required), ``local`` (key optional) and ``keyless``."""

    @hookimpl
    def agentflow_register_providers(self) -> list[ProviderSpec]:
        return [ACME, LOCAL, KEYLESS]

    @hookimpl
    def agentflow_default_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(name="acme-large", provider="acme", model_id="acme-large-2026",
                      options={"reasoning": "high", "cache": True},
                      pricing=Pricing(input_per_million=3.0, output_per_million=15.0)),
            ModelInfo(name="acme-small", provider="acme", supports_streaming=False),
            ModelInfo(name="acme-medium", provider="acme"),
            ModelInfo(name="tiny-local", provider="local", model_id="tiny:1b"),
            ModelInfo(name="ghost", provider="uninstalled"),
        ]


_PLAIN_KEY = re.compile(r"[a-z_][a-z0-9_]*\Z")


def scalar(value: Any) -> str:
    """``value`` written as a YAML scalar or flow collection."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".eE") or text in ("inf", "nan") else text + ".0"
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, list):
        return "[" + ", ".join(scalar(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key_text(k)}: {scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def quoted(text: str) -> str:
    """A YAML double-quoted string: printable ASCII as is, anything else escaped by code point.

    (JSON's escapes will not do: YAML does not join JSON's surrogate pairs.)
    """
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def key_text(key: Any) -> str:
    """A key, plain when it is a simple identifier, else double-quoted."""
    if isinstance(key, str) and _PLAIN_KEY.match(key) and key not in ("null", "true", "false"):
        return key
    return scalar(key)


def emit_yaml(data: dict[Any, Any]) -> tuple[str, dict[tuple[Any, ...], tuple[int, int]],
                                              dict[tuple[Any, ...], tuple[int, int]]]:
    """Block YAML for ``data``, with 1-based (line, column) of every key and value by path."""
    lines: list[str] = ["# written by the tests"]
    keys: dict[tuple[Any, ...], tuple[int, int]] = {}
    values: dict[tuple[Any, ...], tuple[int, int]] = {}

    def write(mapping: dict[Any, Any], path: tuple[Any, ...], indent: int) -> None:
        for key, value in mapping.items():
            child = (*path, key)
            prefix = " " * indent + key_text(key) + ":"
            keys[child] = (len(lines) + 1, indent + 1)
            if isinstance(value, dict) and value:
                lines.append(prefix)
                values[child] = (len(lines) + 1, indent + 3)
                write(value, child, indent + 2)
            else:
                values[child] = (len(lines) + 1, len(prefix) + 2)
                lines.append(f"{prefix} {scalar(value)}")

    write(data, (), 0)
    return "\n".join(lines) + "\n", keys, values


def is_type(value: Any, name: str) -> bool:
    return {
        "object": isinstance(value, dict), "array": isinstance(value, list),
        "string": isinstance(value, str), "boolean": isinstance(value, bool),
        "null": value is None,
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
    }[name]


def schema_errors(schema: dict[str, Any], value: Any, root: dict[str, Any] | None = None,
           where: str = "") -> list[str]:
    """Where ``value`` breaks ``schema``: a validator for the keywords our schema uses."""
    root = root or schema
    found: list[str] = []
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        found += schema_errors(target, value, root, where)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(is_type(value, name) for name in names):
            return [*found, f"{where}: not {names}"]
    if "const" in schema and (value != schema["const"] or type(value) is not type(
            schema["const"])):
        found.append(f"{where}: not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: not one of {schema['enum']}")
    if is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{where}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{where}: above maximum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            found.append(f"{where}: not above exclusiveMinimum")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        found.append(f"{where}: does not match {schema['pattern']}")
    if isinstance(value, dict):
        found += [f"{where}: missing {name}" for name in schema.get("required", ())
                  if name not in value]
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                found += schema_errors(properties[key], item, root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{where}: unknown {key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                found += schema_errors(schema["additionalProperties"], item, root, f"{where}.{key}")
    if "anyOf" in schema and all(schema_errors(sub, value, root, where) for sub in schema["anyOf"]):
        found.append(f"{where}: matches nothing of anyOf")
    for sub in schema.get("allOf", ()):
        found += schema_errors(sub, value, root, where)
    if "if" in schema and not schema_errors(schema["if"], value, root, where):
        found += schema_errors(schema.get("then", {}), value, root, where)
    return found
