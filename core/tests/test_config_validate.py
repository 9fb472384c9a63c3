"""validate_config: every problem at once, each at its exact line and column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from test_config_support import PROVIDERS

from agentflow.config import (
    Config,
    Defaults,
    Issue,
    ModelConfig,
    ProviderConfig,
    RateLimitConfig,
    RetryConfig,
    ValidationReport,
    load_config,
    load_config_text,
    validate_config,
    validate_config_text,
)
from agentflow.config._fields import file_keys
from agentflow.errors import ConfigurationError
from agentflow.types import ModelInfo

ENV = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}


def check(text: str, *, environ: dict[str, str] | None = None, providers=PROVIDERS,
          catalog=None) -> list[str]:
    report = validate_config_text(textwrap.dedent(text), source_name="agentflow.yml",
                                  providers=providers, environ=ENV if environ is None else environ,
                                  catalog=catalog)
    return [str(issue) for issue in report.issues]


VALID = """\
# yaml-language-server: $schema=agentflow.schema.json
models:
  gpt-4o:
    vendor: openai
    model_id: gpt-4o-2024-08-06
    temperature: 0.7
    top_p: 1
    max_tokens: 4096
    supports_streaming: true
    timeout_seconds: 30
    options: {max_completion_tokens: true}
  local-llama:
    vendor: local-vllm
    base_url: http://127.0.0.1:8000/v1
providers:
  openai:
    api_key_env: OPENAI_API_KEY
    base_url: https://api.openai.com/v1
    timeout_seconds: 60
    connect_timeout_seconds: 10
    allow_insecure_http: false
    rate_limit: {requests_per_minute: 500, tokens_per_minute: 80000, max_concurrent: 64}
    retry_config: {max_retries: 3, retry_delay_ms: 1000}
  local-vllm:
    vendor: openai_compatible
    base_url: http://localhost:8000/v1
defaults:
  timeout_seconds: 60
  connect_timeout_seconds: 10
  max_retries: 2
  retry_delay_ms: 500
  temperature: 1.0
"""


def test_a_full_valid_file_has_no_issues_and_loads_every_value():
    assert check(VALID) == []
    config = load_config_text(VALID, providers=PROVIDERS, environ=ENV)
    assert config == Config(
        models={
            "gpt-4o": ModelConfig(vendor="openai", model_id="gpt-4o-2024-08-06", temperature=0.7,
                                  top_p=1.0, max_tokens=4096, supports_streaming=True,
                                  timeout_seconds=30.0, options={"max_completion_tokens": True}),
            "local-llama": ModelConfig(vendor="local-vllm", base_url="http://127.0.0.1:8000/v1"),
        },
        providers={
            "openai": ProviderConfig(
                api_key_env="OPENAI_API_KEY", base_url="https://api.openai.com/v1",
                timeout_seconds=60.0, connect_timeout_seconds=10.0,
                rate_limit=RateLimitConfig(requests_per_minute=500, tokens_per_minute=80000,
                                           max_concurrent=64),
                retry_config=RetryConfig(max_retries=3, retry_delay_ms=1000)),
            "local-vllm": ProviderConfig(vendor="openai_compatible",
                                         base_url="http://localhost:8000/v1"),
        },
        defaults=Defaults(temperature=1.0),
    )
    assert isinstance(config.models["gpt-4o"].timeout_seconds, float)


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "models:\nproviders:\n",
                                  "models: {}\nproviders: {}\ndefaults: {}\n"])
def test_an_empty_configuration_is_valid(text):
    assert check(text) == []
    assert load_config_text(text) == Config()


def test_every_problem_is_reported_at_once_sorted_by_position():
    text = """\
    models:
      gpt-4o:
        vendor: opnai
        temprature: 0.7
        temperature: 3.5
        top_p: true
        max_tokens: 0
      claude:
        vendor: anthropic
        temperature: 1.5
    providers:
      openai:
        api_key: sk-live-1234567890abcdef
        base_url: api.openai.com/v1
        timeout_seconds: -1
      remote:
        vendor: openai_compatible
        base_url: http://10.0.0.5:8000/v1
    defaults:
      max_retries: 1.5
      retry_delay_ms: 250
    model: {}
    """
    assert check(text) == [
        "agentflow.yml:3:13: models.gpt-4o.vendor: 'opnai' is neither a provider entry nor "
        "an installed vendor; installed vendors: anthropic, openai, openai_compatible; did you "
        "mean 'openai'?",
        "agentflow.yml:4:5: models.gpt-4o.temprature: unknown key 'temprature'; did you mean "
        "'temperature'?",
        "agentflow.yml:5:18: models.gpt-4o.temperature: must be between 0 and 2, got 3.5",
        "agentflow.yml:6:12: models.gpt-4o.top_p: expected a number, got true (a boolean)",
        "agentflow.yml:7:17: models.gpt-4o.max_tokens: must be greater than 0, got 0",
        "agentflow.yml:10:18: models.claude.temperature: must be between 0 and 1 for vendor "
        "anthropic, got 1.5",
        "agentflow.yml:13:5: providers.openai.api_key: refused: API keys are never read from "
        "files; put the key in an environment variable and name it with api_key_env "
        "(api_key_env: OPENAI_API_KEY, then export OPENAI_API_KEY=...)",
        "agentflow.yml:14:15: providers.openai.base_url: must be an http(s) URL with a host, "
        "like https://api.example.com/v1",
        "agentflow.yml:15:22: providers.openai.timeout_seconds: must be greater than 0, got -1",
        "agentflow.yml:18:15: providers.remote.base_url: plain http to 10.0.0.5 would send the "
        "API key unencrypted; use https, or set providers.remote.allow_insecure_http: true to "
        "allow it",
        "agentflow.yml:20:16: defaults.max_retries: expected a whole number, got the number 1.5",
        "agentflow.yml:22:1: model: unknown key 'model'; did you mean 'models'?",
    ]


def test_issue_str_and_report_format():
    report = ValidationReport(file="agentflow.yml", issues=(
        Issue(file="agentflow.yml", path="providers.openai.api_key_env", line=20, column=18,
              message="OPENAI_API_KEY is not set", severity="warning"),
        Issue(file="agentflow.yml", path="models.gpt-4o.temperature", line=12, column=5,
              message="must be between 0 and 2, got 3.5"),
        Issue(file="agentflow.yml", path="", line=1, column=1, message="invalid YAML: x"),
    ))
    assert report.format().splitlines() == [
        "agentflow.yml:1:1: invalid YAML: x",
        "agentflow.yml:12:5: models.gpt-4o.temperature: must be between 0 and 2, got 3.5",
        "agentflow.yml:20:18: warning: providers.openai.api_key_env: OPENAI_API_KEY is not set",
    ]
    assert not report.is_valid
    assert [i.line for i in report.errors] == [1, 12]
    assert [i.line for i in report.warnings] == [20]
    assert ValidationReport(file="x", issues=report.warnings).is_valid
    assert ValidationReport(file="x").format() == ""


def test_validation_report_is_exported_from_the_top_level_package():
    from agentflow import ValidationReport as Exported

    assert Exported is ValidationReport


class TestYamlSyntax:
    def test_a_syntax_error_is_located_and_is_the_only_issue(self):
        assert check("models:\n  gpt-4o: {vendor: openai\n") == [
            "agentflow.yml:3:1: invalid YAML: expected ',' or '}', but got '<stream end>' "
            "(while parsing a flow mapping)"]

    def test_a_tab_indent_is_located(self):
        assert check("models:\n\tgpt-4o: {}\n") == [
            "agentflow.yml:2:1: invalid YAML: found character '\\t' that cannot start any "
            "token (while scanning for the next token)"]

    def test_a_duplicate_key_is_located_without_repeating_values(self):
        lines = check("providers:\n  openai:\n    base_url: https://a.test\n"
                      "    base_url: https://b.test\n")
        assert lines == ["agentflow.yml:4:5: invalid YAML: duplicate key 'base_url'; a key may "
                         "appear only once in a mapping"]

    def test_a_second_document_is_an_error(self):
        assert check("models: {}\n---\nmodels: {}\n") == [
            "agentflow.yml:2:1: invalid YAML: but found another document (expected a single "
            "document in the stream)"]

    def test_a_python_tag_builds_nothing_and_is_refused(self):
        assert check("defaults:\n  timeout_seconds: !!python/object/apply:os.system [ls]\n") == [
            "agentflow.yml:2:20: defaults.timeout_seconds: expected a number, got a list",
            "agentflow.yml:2:20: defaults.timeout_seconds: the YAML tag "
            "!!python/object/apply:os.system is not supported: configuration files hold plain "
            "data only",
        ]

    @pytest.mark.parametrize(("text", "what"), [("- a\n- b\n", "a list"),
                                                ("just words\n", "a string")])
    def test_the_document_must_be_a_mapping(self, text, what):
        assert check(text) == ["agentflow.yml:1:1: the file must be a mapping with the sections "
                               f"models, providers and defaults, not {what}"]


class TestTypes:
    @pytest.mark.parametrize(("key", "value", "message"), [
        ("temperature", "true", "expected a number, got true (a boolean)"),
        ("temperature", '"0.7"', "expected a number, got a string"),
        ("temperature", "[0.7]", "expected a number, got a list"),
        ("max_tokens", "100.0", "expected a whole number, got the number 100.0"),
        ("max_tokens", "false", "expected a whole number, got false (a boolean)"),
        ("supports_streaming", "1", "expected true or false, got the number 1"),
        ("supports_streaming", "yes", "expected true or false, got a string"),
        ("model_id", "4", "expected a string, got the number 4; quote it to make it a string"),
        ("model_id", "2024-08-06", "expected a string, got a date; quote it to make it a string"),
        ("model_id", '""', "must not be empty"),
        ("options", "[1, 2]", "expected a mapping, got a list"),
    ])
    def test_a_wrong_type_is_located_at_the_value(self, key, value, message):
        text = f"models:\n  m:\n    vendor: openai\n    {key}: {value}\n"
        column = 5 + len(key) + 2
        assert check(text) == [f"agentflow.yml:4:{column}: models.m.{key}: {message}"]

    def test_an_int_is_a_fine_float(self):
        config = load_config_text("defaults: {timeout_seconds: 5, temperature: 1}\n")
        assert config.defaults.timeout_seconds == 5.0
        assert isinstance(config.defaults.timeout_seconds, float)

    def test_a_section_of_the_wrong_type(self):
        assert check("models: [gpt-4o]\ndefaults: 3\n") == [
            "agentflow.yml:1:9: models: expected a mapping, got a list",
            "agentflow.yml:2:11: defaults: expected a mapping of settings, got the number 3",
        ]

    def test_a_model_that_is_not_a_mapping(self):
        assert check("models:\n  gpt-4o: openai\n") == [
            "agentflow.yml:2:11: models.gpt-4o: expected a mapping of settings, got a string"]

    def test_a_name_that_is_not_a_string(self):
        assert check("models:\n  4: {vendor: openai}\n") == [
            "agentflow.yml:2:3: models.4: names must be strings, got the number 4; quote it"]

    def test_an_empty_value_is_located_at_its_key(self):
        assert check("models:\n  m:\n    vendor: openai\n    max_tokens:\n") == []
        assert check("providers:\n  openai:\n    allow_insecure_http:\n") == [
            "agentflow.yml:3:5: providers.openai.allow_insecure_http: expected true or false, "
            "got null"]


class TestRanges:
    @pytest.mark.parametrize(("section", "key", "value", "message"), [
        ("models.m", "temperature", "-0.1", "must be between 0 and 2, got -0.1"),
        ("models.m", "temperature", "2.01", "must be between 0 and 2, got 2.01"),
        ("models.m", "top_p", "1.5", "must be between 0 and 1, got 1.5"),
        ("models.m", "max_tokens", "-5", "must be greater than 0, got -5"),
        ("models.m", "timeout_seconds", "0", "must be greater than 0, got 0"),
        ("models.m", "timeout_seconds", ".nan", "must be a finite number, got nan"),
        ("providers.openai", "connect_timeout_seconds", "0.0",
         "must be greater than 0, got 0.0"),
        ("providers.openai", "timeout_seconds", ".inf", "must be a finite number, got inf"),
        ("defaults", "retry_delay_ms", "-1", "must be at least 0, got -1"),
        ("defaults", "top_p", "-1", "must be between 0 and 1, got -1"),
        ("defaults", "max_tokens", "0", "must be greater than 0, got 0"),
    ])
    def test_out_of_range(self, section, key, value, message):
        parts = section.split(".")
        lines = [f"{'  ' * depth}{part}:" for depth, part in enumerate(parts)]
        if parts[0] == "models":
            lines.append("    vendor: openai")
        indent = "  " * len(parts)
        lines.append(f"{indent}{key}: {value}")
        column = len(indent) + len(key) + 3
        assert check("\n".join(lines) + "\n") == [
            f"agentflow.yml:{len(lines)}:{column}: {section}.{key}: {message}"]

    @pytest.mark.parametrize("value", ["0", "0.0", "2", "2.0", "1e-3"])
    def test_bounds_are_inclusive(self, value):
        assert check(f"models:\n  m: {{vendor: openai, temperature: {value}}}\n") == []

    def test_rate_limit_and_retry_limits(self):
        assert check("""\
        providers:
          openai:
            rate_limit: {requests_per_minute: 0, tokens_per_minute: -1, max_concurent: 2}
            retry_config: {max_retries: -1, retry_delay: 5}
        """) == [
            "agentflow.yml:3:39: providers.openai.rate_limit.requests_per_minute: must be "
            "greater than 0, got 0",
            "agentflow.yml:3:61: providers.openai.rate_limit.tokens_per_minute: must be greater "
            "than 0, got -1",
            "agentflow.yml:3:65: providers.openai.rate_limit.max_concurent: unknown key "
            "'max_concurent'; did you mean 'max_concurrent'?",
            "agentflow.yml:4:33: providers.openai.retry_config.max_retries: must be at least 0, "
            "got -1",
            "agentflow.yml:4:37: providers.openai.retry_config.retry_delay: unknown key "
            "'retry_delay'; did you mean 'retry_delay_ms'?",
        ]

    def test_a_vendor_temperature_range_applies_through_a_provider_entry(self):
        assert check("""\
        providers:
          claude-eu: {vendor: anthropic, base_url: "https://eu.anthropic.test"}
        models:
          c: {vendor: claude-eu, temperature: 1.2}
          d: {vendor: claude-eu, temperature: 1.0}
        """) == ["agentflow.yml:4:39: models.c.temperature: must be between 0 and 1 for vendor "
                 "anthropic, got 1.2"]


class TestUnknownKeys:
    @pytest.mark.parametrize(("text", "expected"), [
        ("modles: {}\n", "agentflow.yml:1:1: modles: unknown key 'modles'; did you mean "
                         "'models'?"),
        ("defaults:\n  timeout: 5\n", "agentflow.yml:2:3: defaults.timeout: unknown key "
                                      "'timeout'; did you mean 'timeout_seconds'?"),
        ("providers:\n  openai:\n    baseurl: https://x.test\n",
         "agentflow.yml:3:5: providers.openai.baseurl: unknown key 'baseurl'; did you mean "
         "'base_url'?"),
        ("models:\n  m:\n    vendor: openai\n    colour: red\n",
         "agentflow.yml:4:5: models.m.colour: unknown key 'colour'; keys here are: vendor, "
         "model_id, base_url, temperature, top_p, max_tokens, supports_streaming, "
         "timeout_seconds, fallbacks, rate_limit, pricing, options"),
        ("source: elsewhere.yml\n", "agentflow.yml:1:1: source: unknown key 'source'; keys here "
                                    f"are: {', '.join(file_keys(Config))}"),
    ])
    def test_unknown_keys_suggest_the_closest(self, text, expected):
        assert check(text) == [expected]

    def test_an_unknown_key_in_a_flow_mapping_is_located_exactly(self):
        assert check('models:\n  "gpt 4": {vendor: openai, tempreture: 1}\n') == [
            "agentflow.yml:2:29: models.gpt 4.tempreture: unknown key 'tempreture'; did you "
            "mean 'temperature'?"]


class TestVendors:
    def test_an_unknown_provider_vendor_names_the_installed_ones(self):
        assert check("providers:\n  x:\n    vendor: antropic\n") == [
            "agentflow.yml:3:13: providers.x.vendor: unknown vendor 'antropic'; installed "
            "vendors: anthropic, openai, openai_compatible; did you mean 'anthropic'?"]

    def test_an_unknown_vendor_without_a_close_match_says_how_to_find_its_plugin(self):
        # no distribution name is guessed from the vendor: anyone may register one
        assert check("providers:\n  x: {vendor: mistral_ai}\n") == [
            "agentflow.yml:2:15: providers.x.vendor: unknown vendor 'mistral_ai'; installed "
            "vendors: anthropic, openai, openai_compatible; `agentflow plugins` lists what is "
            "installed; third-party vendor plugins are named agentflow-<vendor>: check who "
            "publishes one before installing it"]

    def test_an_unknown_vendor_with_no_plugins_installed(self):
        assert check("providers:\n  x: {vendor: mistral_ai}\n", providers={}) == [
            "agentflow.yml:2:15: providers.x.vendor: unknown vendor 'mistral_ai'; no vendor "
            "plugin is installed; third-party vendor plugins are named agentflow-<vendor>: "
            "check who publishes one before installing it"]

    def test_an_entry_without_vendor_must_be_named_after_one(self):
        assert check("providers:\n  openai: {}\n  my-server:\n    base_url: https://x.test\n") == [
            "agentflow.yml:3:3: providers.my-server: no installed vendor is named 'my-server'; "
            "set providers.my-server.vendor to the vendor this endpoint speaks; installed "
            "vendors: anthropic, openai, openai_compatible"]

    def test_no_plugins_installed(self):
        assert check("providers:\n  x: {vendor: openai}\n", providers={}) == [
            "agentflow.yml:2:15: providers.x.vendor: unknown vendor 'openai'; no vendor plugin "
            "is installed (try pip install agentflow-openai)"]

    def test_a_model_vendor_may_name_an_entry_or_an_installed_vendor(self):
        assert check("""\
        providers:
          mine: {vendor: openai}
        models:
          a: {vendor: mine}
          b: {vendor: anthropic}
          c: {vendor: mien}
        """) == ["agentflow.yml:6:15: models.c.vendor: 'mien' is neither a provider entry nor an "
                 "installed vendor; installed vendors: anthropic, openai, openai_compatible; did "
                 "you mean 'mine'?"]

    def test_a_model_vendor_that_no_plugin_serves_says_how_to_get_one(self):
        assert check("models:\n  a: {vendor: ollama}\n  b: {vendor: mistral_ai}\n") == [
            "agentflow.yml:2:15: models.a.vendor: 'ollama' is neither a provider entry nor an "
            "installed vendor; installed vendors: anthropic, openai, openai_compatible; to use "
            "it: pip install agentflow-openai",
            "agentflow.yml:3:15: models.b.vendor: 'mistral_ai' is neither a provider entry nor "
            "an installed vendor; installed vendors: anthropic, openai, openai_compatible; "
            "`agentflow plugins` lists what is installed; third-party vendor plugins are named "
            "agentflow-<vendor>: check who publishes one before installing it"]

    def test_a_model_without_vendor_must_be_in_a_catalog_when_the_catalog_is_known(self):
        catalog = {"gpt-4o": ModelInfo(name="gpt-4o", provider="openai")}
        text = "models:\n  gpt-4o: {temperature: 0.2}\n  mine: {temperature: 0.2}\n"
        assert check(text) == []
        assert check(text, catalog=catalog) == [
            "agentflow.yml:3:3: models.mine: model 'mine' has no vendor and is in no installed "
            "plugin's catalog; set models.mine.vendor to a provider entry or an installed "
            "vendor; installed vendors: anthropic, openai, openai_compatible"]

    def test_a_catalog_model_gets_its_vendor_temperature_range(self):
        catalog = {"claude": ModelInfo(name="claude", provider="anthropic")}
        assert check("models:\n  claude: {temperature: 1.5}\n", catalog=catalog) == [
            "agentflow.yml:2:25: models.claude.temperature: must be between 0 and 1 for vendor "
            "anthropic, got 1.5"]

    def test_without_providers_vendors_are_not_checked(self):
        report = validate_config_text("models:\n  m: {vendor: anything}\n")
        assert report.is_valid


class TestApiKeyVariables:
    def test_an_unset_key_variable_is_a_warning_once_per_variable(self):
        text = """\
        providers:
          openai: {api_key_env: MY_OPENAI_KEY}
          openai-2: {vendor: openai}
        models:
          a: {vendor: anthropic}
          b: {vendor: anthropic}
          c: {vendor: openai_compatible}
        """
        assert check(text, environ={}) == [
            "agentflow.yml:2:25: warning: providers.openai.api_key_env: MY_OPENAI_KEY is not "
            "set; requests through providers.openai will fail until you export "
            "MY_OPENAI_KEY=...",
            "agentflow.yml:3:3: warning: providers.openai-2: OPENAI_API_KEY is not set; "
            "requests through providers.openai-2 will fail until you export OPENAI_API_KEY=...",
            "agentflow.yml:5:15: warning: models.a.vendor: ANTHROPIC_API_KEY is not set; "
            "requests to model a will fail until you export ANTHROPIC_API_KEY=...",
        ]
        report = validate_config_text(text, providers=PROVIDERS, environ={})
        assert report.is_valid
        assert len(report.warnings) == 3

    def test_a_set_variable_gives_no_warning_and_an_empty_one_does(self):
        text = "providers:\n  openai: {}\n"
        assert check(text, environ={"OPENAI_API_KEY": "x"}) == []
        assert len(check(text, environ={"OPENAI_API_KEY": ""})) == 1

    def test_warnings_do_not_stop_loading(self):
        config = load_config_text("providers:\n  openai: {}\n", providers=PROVIDERS, environ={})
        assert config.providers == {"openai": ProviderConfig()}


class TestUrls:
    @pytest.mark.parametrize("url", [
        "https://api.openai.com/v1", "http://127.0.0.1:8000/v1", "http://127.9.9.9",
        "http://localhost:11434/v1", "http://[::1]:8080", "HTTPS://EXAMPLE.COM",
        "https://h.test/v1?api-version=2024-06-01", "https://h.test/v1beta?alt=sse"])
    def test_accepted(self, url):
        assert check(f"providers:\n  openai:\n    base_url: {url}\n") == []

    @pytest.mark.parametrize(("url", "message"), [
        ("ftp://files.test", "must be an http(s) URL with a host, like https://api.example.com/v1"),
        ("https://", "must be an http(s) URL with a host, like https://api.example.com/v1"),
        ("localhost:8000", "must be an http(s) URL with a host, like https://api.example.com/v1"),
        ("https://h.test:99999", "must be an http(s) URL with a host, like "
                                 "https://api.example.com/v1"),
        ('"https://h.test/a b"', "must be an http(s) URL with a host, without spaces"),
        ("https://user:pw@h.test", "must not carry credentials (user:password@): API keys are "
                                   "never read from files; name the variable that holds the key "
                                   "with api_key_env"),
        ("http://api.example.com", "plain http to api.example.com would send the API key "
                                   "unencrypted; use https, or set providers.openai."
                                   "allow_insecure_http: true to allow it"),
        # only localhost itself is sure to be this machine; a resolver may send these anywhere
        ("http://ollama.localhost:11434/v1", "plain http to ollama.localhost would send the API "
                                             "key unencrypted; use https, or set providers."
                                             "openai.allow_insecure_http: true to allow it"),
        ("https://h.test/v1?key=abc123", "must not carry a key in its query (key=...), where it "
                                         "would be sent, logged and shown with every request: "
                                         "API keys are never read from files; name the variable "
                                         "that holds the key with api_key_env"),
        ("https://h.test/v1?x=1&api_key=abc123", "must not carry a key in its query (api_key=...),"
                                                 " where it would be sent, logged and shown with "
                                                 "every request: API keys are never read from "
                                                 "files; name the variable that holds the key "
                                                 "with api_key_env"),
    ])
    def test_refused(self, url, message):
        assert check(f"providers:\n  openai:\n    base_url: {url}\n") == [
            f"agentflow.yml:3:15: providers.openai.base_url: {message}"]

    def test_credentials_in_a_url_are_not_echoed(self):
        lines = check("providers:\n  openai:\n    base_url: https://me:hunter22@h.test\n")
        assert lines
        assert "hunter22" not in "".join(lines)

    @pytest.mark.parametrize("where", ["?key={}", "?alt=sse&{}", "/models/{}/x"])
    def test_a_vendor_shaped_key_anywhere_in_a_url_is_refused_and_not_echoed(self, where):
        key = "AI" + "za" + "Sy" + "0123456789" * 3 + "abc"  # built here: no key-shaped literal
        lines = check("providers:\n  openai:\n    base_url: https://h.test/v1"
                      f"{where.format(key)}\n")
        assert len(lines) == 1
        assert "api_key_env" in lines[0]
        assert lines[0].startswith("agentflow.yml:3:15: providers.openai.base_url: must not ")
        assert key[:8] not in lines[0]

    def test_insecure_http_can_be_allowed_per_provider(self):
        text = """\
        providers:
          lan: {vendor: openai_compatible, base_url: "http://10.1.2.3/v1",
                allow_insecure_http: true}
        models:
          m: {vendor: lan, base_url: "http://10.1.2.4/v1"}
          n: {vendor: openai, base_url: "http://10.1.2.5/v1"}
        """
        assert check(text) == [
            "agentflow.yml:6:33: models.n.base_url: plain http to 10.1.2.5 would send the API "
            "key unencrypted; use https, or set providers.openai.allow_insecure_http: true to "
            "allow it"]


class TestLoading:
    def test_load_config_raises_with_every_located_error(self, tmp_path: Path):
        path = tmp_path / "agentflow.yml"
        path.write_text("defaults:\n  temperature: 9\n  top_p: 2\n")
        with pytest.raises(ConfigurationError) as caught:
            load_config(path)
        error = caught.value
        assert str(error) == (
            f"configuration {path} has 2 errors:\n"
            f"  {path}:2:16: defaults.temperature: must be between 0 and 2, got 9\n"
            f"  {path}:3:10: defaults.top_p: must be between 0 and 1, got 2")
        assert [issue.path for issue in error.issues] == ["defaults.temperature", "defaults.top_p"]

    def test_load_config_sets_the_source(self, tmp_path: Path):
        path = tmp_path / "agentflow.yml"
        path.write_text("models:\n  m: {vendor: openai}\n")
        config = load_config(path, providers=PROVIDERS)
        assert config.source == path
        assert config == load_config_text(path.read_text())  # source takes no part in equality

    def test_validate_config_reads_the_file_and_names_it(self, tmp_path: Path):
        path = tmp_path / "bad.yml"
        path.write_text("defaults:\n  max_retries: -2\n", encoding="utf-8")
        report = validate_config(str(path), providers=PROVIDERS)
        assert report.file == str(path)
        assert report.format() == f"{path}:2:16: defaults.max_retries: must be at least 0, got -2"

    def test_a_missing_file_is_a_configuration_error(self, tmp_path: Path):
        with pytest.raises(ConfigurationError, match="does not exist"):
            validate_config(tmp_path / "nope.yml", providers=PROVIDERS)

    def test_a_file_that_is_not_utf8(self, tmp_path: Path):
        path = tmp_path / "latin1.yml"
        path.write_bytes(b"models:\n  caf\xe9: {}\n")
        with pytest.raises(ConfigurationError, match=r"latin1.yml:2: the file is not UTF-8"):
            load_config(path)

    def test_a_byte_order_mark_is_fine(self, tmp_path: Path):
        path = tmp_path / "bom.yml"
        path.write_bytes(b"\xef\xbb\xbfdefaults: {max_retries: 4}\n")
        assert load_config(path).defaults.max_retries == 4

    def test_anchors_and_merge_keys_work(self):
        config = load_config_text("""\
        defaults: {}
        models:
          base: &base {vendor: openai, temperature: 0.1}
          derived:
            <<: *base
            temperature: 0.9
        """.replace("        ", ""))
        assert config.models["derived"] == ModelConfig(vendor="openai", temperature=0.9)

    def test_an_error_in_merged_keys_points_at_the_mapping_that_merges(self):
        assert check("""\
        models:
          base: &base {vendor: openai, temprature: 0.1}
          derived:
            <<: *base
        """) == [
            "agentflow.yml:2:32: models.base.temprature: unknown key 'temprature'; did you mean "
            "'temperature'?",
            "agentflow.yml:3:3: models.derived.temprature: unknown key 'temprature'; did you "
            "mean 'temperature'?",
        ]
