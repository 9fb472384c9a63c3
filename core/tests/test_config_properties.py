"""Properties: valid files load to what they say; any single breakage is located exactly.

Files are written by ``emit_yaml`` (test_config_support), which reports where it put every key
and value, so the expected positions do not come from the parser under test.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, note
from hypothesis import strategies as st
from test_config_support import PROVIDERS, emit_yaml, schema_errors

from agentflow.config import (
    Config,
    Defaults,
    ModelConfig,
    ProviderConfig,
    RateLimitConfig,
    RetryConfig,
    config_json_schema,
    load_config_text,
    validate_config_text,
)

VENDORS = sorted(PROVIDERS)
ENV = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}
SCHEMA = config_json_schema(PROVIDERS)

names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
texts = st.text(st.characters(exclude_characters="$", exclude_categories=("Cs",)),
                min_size=1, max_size=20).filter(lambda text: text.strip() != "")
hosts = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z]{2,5}){1,2}", fullmatch=True)
paths = st.sampled_from(["", "/", "/v1", "/api/v2/"])
ports = st.one_of(st.just(""), st.integers(1, 65535).map(lambda port: f":{port}"))
secure_urls = st.builds(lambda h, p, path: f"https://{h}{p}{path}", hosts, ports, paths)
loopback_urls = st.builds(lambda h, p, path: f"http://{h}{p}{path}",
                          st.sampled_from(["127.0.0.1", "localhost", "[::1]", "127.3.2.1"]),
                          ports, paths)
remote_http_urls = st.builds(lambda h, p, path: f"http://{h}{p}{path}", hosts, ports, paths)
positive = st.one_of(st.floats(min_value=0, max_value=1e6, exclude_min=True),
                     st.integers(1, 10**6))
counts = st.integers(1, 10**9)
option_values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), texts,
                          st.floats(allow_nan=False, allow_infinity=False),
                          st.lists(texts, max_size=3))
options = st.dictionaries(st.sampled_from(["seed", "reasoning_effort", "user", "store", "stop"]),
                          option_values, max_size=3)


def unit_range(high: float) -> st.SearchStrategy[float | int]:
    return st.one_of(st.floats(min_value=0, max_value=high), st.integers(0, int(high)))


@st.composite
def provider_entries(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for name in draw(st.lists(st.one_of(names, st.sampled_from(VENDORS)), unique=True,
                              max_size=3)):
        entry = draw(st.fixed_dictionaries({}, optional={
            "api_key_env": st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True),
            "timeout_seconds": positive,
            "connect_timeout_seconds": positive,
            "allow_insecure_http": st.booleans(),
            "rate_limit": st.fixed_dictionaries({}, optional={
                "requests_per_minute": counts, "tokens_per_minute": counts,
                "max_concurrent": counts}),
            "retry_config": st.fixed_dictionaries({}, optional={
                "max_retries": st.integers(0, 50), "retry_delay_ms": st.integers(0, 10**6)}),
        }))
        if name not in PROVIDERS or draw(st.booleans()):
            entry["vendor"] = draw(st.sampled_from(VENDORS))
        urls = [secure_urls, loopback_urls]
        if entry.get("allow_insecure_http") is True:
            urls.append(remote_http_urls)
        if draw(st.booleans()):
            entry["base_url"] = draw(st.one_of(*urls))
        entries[name] = entry
    return entries


@st.composite
def model_entries(draw: st.DrawFn, entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for alias in draw(st.lists(names, unique=True, max_size=3)):
        model = draw(st.fixed_dictionaries({}, optional={
            "model_id": texts, "top_p": unit_range(1), "max_tokens": counts,
            "supports_streaming": st.booleans(), "timeout_seconds": positive,
            "options": options}))
        high = 2.0
        insecure_ok = False
        if draw(st.booleans()):
            ref = draw(st.sampled_from([*entries, *VENDORS]))
            model["vendor"] = ref
            entry = entries.get(ref, {})
            high = PROVIDERS[entry.get("vendor", ref)].temperature_range[1]
            insecure_ok = entry.get("allow_insecure_http") is True
        if draw(st.booleans()):
            model["temperature"] = draw(unit_range(high))
        if draw(st.booleans()):
            urls = [secure_urls, loopback_urls, *([remote_http_urls] if insecure_ok else [])]
            model["base_url"] = draw(st.one_of(*urls))
        models[alias] = model
    return models


@st.composite
def valid_data(draw: st.DrawFn) -> dict[str, Any]:
    entries = draw(provider_entries())
    data: dict[str, Any] = {}
    if entries or draw(st.booleans()):
        data["providers"] = entries
    models = draw(model_entries(entries))
    if models or draw(st.booleans()):
        data["models"] = models
    defaults = draw(st.fixed_dictionaries({}, optional={
        "timeout_seconds": positive, "connect_timeout_seconds": positive,
        "max_retries": st.integers(0, 50), "retry_delay_ms": st.integers(0, 10**6),
        "temperature": unit_range(2), "top_p": unit_range(1), "max_tokens": counts}))
    if defaults or draw(st.booleans()):
        data["defaults"] = defaults
    return data


def expected_config(data: dict[str, Any]) -> Config:
    def provider(entry: dict[str, Any]) -> ProviderConfig:
        values = dict(entry)
        if "rate_limit" in values:
            values["rate_limit"] = RateLimitConfig(**values["rate_limit"])
        if "retry_config" in values:
            values["retry_config"] = RetryConfig(**values["retry_config"])
        return ProviderConfig(**values)

    return Config(
        models={alias: ModelConfig(**model) for alias, model in data.get("models", {}).items()},
        providers={name: provider(entry) for name, entry in data.get("providers", {}).items()},
        defaults=Defaults(**data.get("defaults", {})),
    )


@given(valid_data())
def test_valid_files_validate_clean_and_load_to_their_values(data):
    text, _, _ = emit_yaml(data)
    note(text)
    report = validate_config_text(text, providers=PROVIDERS, environ=ENV)
    assert report.errors == (), report.format()
    assert load_config_text(text, providers=PROVIDERS, environ=ENV) == expected_config(data)
    # The schema cannot follow a model to its provider entry; it applies the vendor's own
    # temperature range to a model whose vendor is a vendor name. Only an entry *named* like
    # one vendor that speaks another can make that stricter than the loader.
    shadowed = any(name in PROVIDERS and entry.get("vendor", name) != name
                   for name, entry in data.get("providers", {}).items())
    if not shadowed:
        assert schema_errors(SCHEMA, data) == []


# What each kind of mapping holds: key -> (kind, bad values of the right type).
NUMBER, INTEGER, BOOLEAN, STRING = "number", "integer", "boolean", "string"
FIELDS: dict[str, dict[str, tuple[str, list[Any]]]] = {
    "model": {
        "temperature": (NUMBER, [2.5, -0.5, 100]), "top_p": (NUMBER, [1.01, -1]),
        "max_tokens": (INTEGER, [0, -3]), "timeout_seconds": (NUMBER, [0, -1.5]),
        "supports_streaming": (BOOLEAN, []), "model_id": (STRING, [""]),
        "vendor": (STRING, ["zz-unknown-vendor"]), "base_url": (STRING, ["ftp://x.test"]),
    },
    "provider": {
        "timeout_seconds": (NUMBER, [0, -2]), "connect_timeout_seconds": (NUMBER, [0.0]),
        "allow_insecure_http": (BOOLEAN, []), "api_key_env": (STRING, ["sk-abc", "A B"]),
        "base_url": (STRING, ["https://", "mailto:x@y.test"]),
        "vendor": (STRING, ["zz-unknown-vendor"]),
    },
    "defaults": {
        "timeout_seconds": (NUMBER, [0]), "connect_timeout_seconds": (NUMBER, [-1]),
        "max_retries": (INTEGER, [-1]), "retry_delay_ms": (INTEGER, [-5]),
        "temperature": (NUMBER, [2.0001]), "top_p": (NUMBER, [7]), "max_tokens": (INTEGER, [0]),
    },
    "rate_limit": {"requests_per_minute": (INTEGER, [0]), "tokens_per_minute": (INTEGER, [-1]),
                   "max_concurrent": (INTEGER, [0])},
}
WRONG_TYPES = {NUMBER: [True, "fast", [1]], INTEGER: [1.5, False, "7"],
               BOOLEAN: [1, "yes", [True]], STRING: [42, True, [1], 1.5]}
KNOWN_KEYS = {key for fields in FIELDS.values() for key in fields} | {
    "models", "providers", "defaults", "options", "rate_limit", "retry_config"}


def containers(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    found: list[tuple[tuple[Any, ...], str]] = [(("defaults",), "defaults")]
    found += [(("models", alias), "model") for alias in data.get("models", {})]
    for name, entry in data.get("providers", {}).items():
        found.append((("providers", name), "provider"))
        if "rate_limit" in entry:
            found.append((("providers", name, "rate_limit"), "rate_limit"))
    return found


@st.composite
def broken_data(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[Any, ...], str]:
    """A valid file with one thing broken: (data, path of the broken key, "key" or "value")."""
    data = copy.deepcopy(draw(valid_data()))
    path, kind = draw(st.sampled_from(containers(data)))
    target = data
    for step in path:
        target = target.setdefault(step, {})
    how = draw(st.sampled_from(["unknown key", "wrong type", "out of range"]))
    if how == "unknown key":
        key = draw(st.from_regex(r"[a-z][a-z_]{2,14}", fullmatch=True).filter(
            lambda k: k not in KNOWN_KEYS))
        target[key] = draw(st.sampled_from([1, "x", True]))
        return data, (*path, key), "key"
    fields = FIELDS[kind]
    if how == "out of range":
        key = draw(st.sampled_from([k for k, (_, bad) in fields.items() if bad]))
        target[key] = draw(st.sampled_from(fields[key][1]))
    else:
        key = draw(st.sampled_from(sorted(fields)))
        target[key] = draw(st.sampled_from(WRONG_TYPES[fields[key][0]]))
    return data, (*path, key), "value"


@given(broken_data())
def test_one_breakage_gives_an_error_at_exactly_that_key_or_value(case):
    data, path, anchor = case
    text, keys, values = emit_yaml(data)
    note(text)
    report = validate_config_text(text, source_name="f.yml", providers=PROVIDERS, environ=ENV)
    line, column = (keys if anchor == "key" else values)[path]
    dotted = ".".join(str(step) for step in path)
    located = [issue for issue in report.errors
               if (issue.line, issue.column, issue.path) == (line, column, dotted)]
    assert located, f"expected an error at {line}:{column} {dotted}\n{report.format()}"
    assert 1 <= line <= len(text.splitlines())
    assert column <= len(text.splitlines()[line - 1])
