"""API keys live only in the environment: literal keys in a file are refused, never echoed."""

from __future__ import annotations

import pytest
from test_config_support import PROVIDERS

from agentflow.config import load_config_text, validate_config_text
from agentflow.config._secrets import is_secret_key_name, looks_like_a_key
from agentflow.errors import ConfigurationError

SECRET = "sk-proj-Zq8vW2xY7tK4mN1pL6rS9aB3cD5eF0gH"
WHY = ("API keys are never read from files; put the key in an environment variable and name it "
       "with api_key_env")


def lines(text: str) -> list[str]:
    report = validate_config_text(text, source_name="agentflow.yml", providers=PROVIDERS,
                                  environ={"OPENAI_API_KEY": "x"})
    return [str(issue) for issue in report.issues]


@pytest.mark.parametrize("name", ["api_key", "apikey", "api-key", "API_KEY", "apiKey", "key",
                                  "token", "secret", "password", "passwd", "access_token",
                                  "auth_token", "client_secret", "openai_api_key", "x-api-key",
                                  "Authorization", "private_key", "db_password"])
def test_a_key_named_like_a_credential_is_refused_at_the_key(name):
    assert lines(f"providers:\n  openai:\n    {name}: {SECRET}\n") == [
        f"agentflow.yml:3:5: providers.openai.{name}: refused: {WHY} (api_key_env: "
        "OPENAI_API_KEY, then export OPENAI_API_KEY=...)"]


@pytest.mark.parametrize("where", [
    "api_key: {0}\n",
    "models:\n  m:\n    vendor: openai\n    token: {0}\n",
    "models:\n  m:\n    vendor: openai\n    options:\n      headers: {{Authorization: {0}}}\n",
    "defaults:\n  secret: {0}\n",
    "providers:\n  openai:\n    rate_limit: {{password: {0}}}\n",
])
def test_refused_anywhere_and_the_value_never_appears(where):
    text = where.format(SECRET)
    report = validate_config_text(text, providers=PROVIDERS, environ={"OPENAI_API_KEY": "x"})
    assert len(report.errors) == 1
    assert WHY in report.errors[0].message
    assert SECRET not in report.format()
    assert "sk-" not in report.format()
    with pytest.raises(ConfigurationError) as caught:
        load_config_text(text)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert all(SECRET not in str(issue) for issue in caught.value.issues)


@pytest.mark.parametrize("name", ["api_key_env", "max_tokens", "tokens_per_minute", "eos_token",
                                  "prompt_cache_key", "keys", "token_budget", "monkey"])
def test_ordinary_names_are_not_credentials(name):
    assert not is_secret_key_name(name)


def test_model_and_provider_names_are_free_to_contain_credential_words():
    assert lines("providers:\n  secret:\n    vendor: openai\nmodels:\n  token: {vendor: secret}\n"
                 ) == []


def test_a_credential_option_is_refused_but_ordinary_options_pass():
    assert lines("models:\n  m:\n    vendor: openai\n    options: {eos_token: x, api_key: y}\n"
                 ) == [f"agentflow.yml:4:29: models.m.options.api_key: refused: {WHY}"]


def test_a_duplicate_credential_key_does_not_leak_either_value():
    text = f"providers:\n  openai:\n    api_key: {SECRET}\n    api_key: {SECRET[::-1]}\n"
    output = "\n".join(lines(text))
    assert output == ("agentflow.yml:4:5: invalid YAML: duplicate key 'api_key'; a key may "
                      "appear only once in a mapping")


class TestApiKeyEnv:
    @pytest.mark.parametrize("value", [SECRET, "sk-abc", "sk_live_abc", "AIzaSyA1b2C3d4E5f6G7h8",
                                       "ghp_abcdefghijklmnop", "0123456789abcdef0123456789abcdef",
                                       "Xy7_kQ9z_Lm3_Np8_Rt2_Vw5"])
    def test_a_key_in_place_of_a_variable_name_is_refused_without_echo(self, value):
        output = lines(f"providers:\n  openai:\n    api_key_env: {value}\n")
        assert output == [
            "agentflow.yml:3:18: providers.openai.api_key_env: looks like an API key itself, "
            f"not the name of an environment variable; {WHY} (export OPENAI_API_KEY=... and "
            "write api_key_env: OPENAI_API_KEY)"]
        assert value not in output[0]

    @pytest.mark.parametrize("value", ["OPENAI_API_KEY", "MY_KEY_2", "openai_key",
                                       "OPENAI_API_KEY_PRODUCTION_2024", "_X", "HF_TOKEN",
                                       "GSK_KEY", "SK_PROD_KEY", "AKIA_ROTATED"])
    def test_variable_names_are_accepted(self, value):
        assert not looks_like_a_key(value)
        report = validate_config_text(f"providers:\n  openai:\n    api_key_env: {value}\n",
                                      providers=PROVIDERS, environ={value: "set"})
        assert report.issues == ()

    @pytest.mark.parametrize("value", ["MY KEY", "2FAST", "KEY-NAME", '""'])
    def test_other_malformed_names(self, value):
        assert lines(f"providers:\n  openai:\n    api_key_env: {value}\n") == [
            "agentflow.yml:3:18: providers.openai.api_key_env: must be the name of an "
            "environment variable, in UPPER_SNAKE_CASE like OPENAI_API_KEY"]
