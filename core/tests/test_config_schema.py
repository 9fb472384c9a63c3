"""The JSON Schema: well-formed draft 2020-12, in step with the loader, naming installed vendors.

jsonschema is not a dependency, so a small validator for the keywords the schema uses
(``test_config_support.schema_errors``) stands in for it; the structural tests make sure no
other keyword sneaks in.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
import pytest
from test_config_support import PROVIDERS, is_type
from test_config_support import schema_errors as errors

from agentflow.config import (
    Config,
    Defaults,
    ModelConfig,
    ObservabilityConfig,
    PricingConfig,
    ProviderConfig,
    RateLimitConfig,
    RetryConfig,
    config_json_schema,
    validate_config_text,
)
from agentflow.config._fields import file_keys
from agentflow.config._source import parse_yaml

KNOWN_KEYWORDS = {"$schema", "$defs", "$ref", "title", "description", "type", "properties",
                  "additionalProperties", "anyOf", "allOf", "if", "then", "const", "enum",
                  "minimum", "maximum", "exclusiveMinimum", "pattern", "format", "default",
                  "examples", "required", "items", "uniqueItems"}
TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
SUBSCHEMA_MAPS = {"properties", "$defs"}
SUBSCHEMA_LISTS = {"anyOf", "allOf"}
SUBSCHEMAS = {"additionalProperties", "if", "then", "items"}


def walk(schema: Any, where: str = "#"):
    """Every (location, schema object) in ``schema``."""
    assert isinstance(schema, dict), where
    yield where, schema
    for key, value in schema.items():
        if key in SUBSCHEMA_MAPS:
            for name, sub in value.items():
                yield from walk(sub, f"{where}/{key}/{name}")
        elif key in SUBSCHEMA_LISTS:
            for index, sub in enumerate(value):
                yield from walk(sub, f"{where}/{key}/{index}")
        elif key in SUBSCHEMAS and isinstance(value, dict):
            yield from walk(value, f"{where}/{key}")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return config_json_schema(PROVIDERS)


def test_it_is_draft_2020_12_and_json(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(json.dumps(schema)) == schema
    assert schema["title"] == "agentflow configuration"


def test_only_known_keywords_and_types_and_every_ref_resolves(schema):
    for where, sub in walk(schema):
        assert set(sub) <= KNOWN_KEYWORDS, (where, set(sub) - KNOWN_KEYWORDS)
        if "type" in sub:
            names = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
            assert names, where
            assert set(names) <= TYPES, where
            assert len(names) == len(set(names)), where
        if "$ref" in sub:
            name = sub["$ref"].removeprefix("#/$defs/")
            assert name in schema["$defs"], where
        if "enum" in sub:
            assert sub["enum"], where
        if "pattern" in sub:
            re.compile(sub["pattern"])
        for keyword in ("minimum", "maximum", "exclusiveMinimum"):
            if keyword in sub:
                assert is_type(sub[keyword], "number"), where


def test_every_key_of_every_section_is_there_and_documented(schema):
    for cls in (ModelConfig, ProviderConfig, Defaults, RateLimitConfig, RetryConfig,
                PricingConfig, ObservabilityConfig):
        definition = schema["$defs"][cls.__name__]
        assert definition["additionalProperties"] is False
        assert list(definition["properties"]) == file_keys(cls)
        for name, prop in definition["properties"].items():
            assert len(prop["description"]) > 15, (cls.__name__, name)
        assert definition["description"]
    assert list(schema["properties"]) == file_keys(Config)
    assert list(schema["properties"])[:3] == ["models", "providers", "defaults"]
    assert "source" not in schema["properties"]


def test_limits_and_defaults_are_those_of_the_loader(schema):
    model = schema["$defs"]["ModelConfig"]["properties"]
    assert (model["temperature"]["minimum"], model["temperature"]["maximum"]) == (0.0, 2.0)
    assert (model["top_p"]["minimum"], model["top_p"]["maximum"]) == (0.0, 1.0)
    assert model["max_tokens"]["exclusiveMinimum"] == 0
    assert model["max_tokens"]["type"] == ["integer", "null"]
    assert model["temperature"]["type"] == ["number", "null"]
    defaults = schema["$defs"]["Defaults"]["properties"]
    assert defaults["timeout_seconds"]["default"] == Defaults().timeout_seconds
    assert defaults["max_retries"]["default"] == 2
    assert defaults["max_retries"]["type"] == "integer"
    provider = schema["$defs"]["ProviderConfig"]["properties"]
    assert provider["allow_insecure_http"]["default"] is False
    assert provider["rate_limit"]["anyOf"][0] == {"$ref": "#/$defs/RateLimitConfig"}


def test_vendors_are_the_installed_ones(schema):
    provider_vendor = schema["$defs"]["ProviderConfig"]["properties"]["vendor"]
    consts = [choice.get("const") for choice in provider_vendor["anyOf"]]
    assert consts == ["anthropic", "openai", "openai_compatible", None]
    openai = provider_vendor["anyOf"][1]
    assert openai["description"] == "OpenAI Chat Completions (key from OPENAI_API_KEY)"
    model_vendor = schema["$defs"]["ModelConfig"]["properties"]["vendor"]
    assert {"type": "string", "description": "The name of a provider entry."} in (
        model_vendor["anyOf"])


def test_without_plugins_there_is_no_vendor_list():
    schema = config_json_schema({})
    assert "anyOf" not in schema["$defs"]["ProviderConfig"]["properties"]["vendor"]
    assert "allOf" not in schema["$defs"]["ModelConfig"]


EXAMPLE = """\
models:
  gpt-4o: {vendor: openai, temperature: 0.7, max_tokens: 4096, options: {seed: 1}}
  claude: {vendor: anthropic, temperature: 0.9}
providers:
  openai:
    api_key_env: OPENAI_API_KEY
    base_url: https://api.openai.com/v1
    rate_limit: {requests_per_minute: 500}
    retry_config: {max_retries: 3}
  local: {vendor: openai_compatible, base_url: "http://127.0.0.1:8000/v1"}
defaults: {timeout_seconds: 30, max_retries: 1}
"""


def plain(text: str) -> Any:
    return parse_yaml(text)[0]


def test_a_valid_example_is_valid_for_both_schema_and_loader(schema):
    assert validate_config_text(EXAMPLE, providers=PROVIDERS, environ={}).is_valid
    assert errors(schema, plain(EXAMPLE)) == []
    assert errors(schema, {}) == []
    assert errors(schema, None) == []


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("temperature: 0.7", "temperature: 2.5", ".models.gpt-4o.temperature: above maximum"),
    ("temperature: 0.7", "temperature: true", ".models.gpt-4o.temperature: not ['number', "
                                              "'null']"),
    ("temperature: 0.9", "temperature: 1.5", ".models.claude.temperature: above maximum"),
    ("max_tokens: 4096", "max_tokens: 0", ".models.gpt-4o.max_tokens: not above "
                                          "exclusiveMinimum"),
    ("max_tokens: 4096", "max_tokens: 4.5", ".models.gpt-4o.max_tokens: not ['integer', 'null']"),
    ("max_tokens: 4096", "max_tokenz: 4", ".models.gpt-4o: unknown max_tokenz"),
    ("vendor: openai_compatible", "vendor: openai_compat", ".providers.local.vendor: matches "
                                                           "nothing of anyOf"),
    ("api_key_env: OPENAI_API_KEY", "api_key_env: sk-123", ".providers.openai.api_key_env: "
                                                           "does not match"),
    ("base_url: https://api", "base_url: ftp://api", ".providers.openai.base_url: does not "
                                                     "match"),
    ("requests_per_minute: 500", "requests_per_minute: 0", ".providers.openai.rate_limit: "
                                                           "matches nothing of anyOf"),
    ("defaults:", "default:", ": unknown default"),
])
def test_invalid_examples_are_invalid_for_both(schema, old, new, expected):
    text = EXAMPLE.replace(old, new, 1)
    assert text != EXAMPLE
    assert not validate_config_text(text, providers=PROVIDERS, environ={}).is_valid
    found = errors(schema, plain(text))
    assert any(error.startswith(expected) for error in found), found


def test_the_schema_accepts_exactly_the_loaders_keys():
    assert set(config_json_schema({})["properties"]) == set(file_keys(Config))
    assert [f.name for f in attrs.fields(Config) if f.name not in file_keys(Config)] == [
        "source", "_positions"]
