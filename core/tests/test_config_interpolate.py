"""${VAR} and ${VAR:-default} in string values; $${ for a literal; unset is a located error."""

from __future__ import annotations

import pytest

from agentflow.config import load_config_text, validate_config_text
from agentflow.config.interpolate import InterpolationError, expand, expand_tree

ENV = {"HOST": "api.example.com", "EMPTY": "", "PORT": "8443", "NESTED": "${HOST}"}


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("${HOST}", "api.example.com"),
    ("https://${HOST}:${PORT}/v1", "https://api.example.com:8443/v1"),
    ("${MISSING:-fallback}", "fallback"),
    ("${EMPTY:-fallback}", "fallback"),
    ("${HOST:-fallback}", "api.example.com"),
    ("${MISSING:-}", ""),
    ("${MISSING:-a:-b}", "a:-b"),
    ("${EMPTY}", ""),
    ("$${HOST}", "${HOST}"),
    ("$$${HOST}", "$${HOST}"),  # leftmost first: a lone "$", then the escape
    ("cost: $5 and $HOST", "cost: $5 and $HOST"),
    ("$", "$"),
    ("${NESTED}", "${HOST}"),
])
def test_expand(text, expected):
    assert expand(text, ENV) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("${MISSING}", "environment variable MISSING is not set; export MISSING=... or write "
                   "${MISSING:-default}"),
    ("${1ABC}", "malformed ${...} reference: write ${NAME} or ${NAME:-default}, or $${ for a "
                "literal ${"),
    ("${}", "malformed ${...} reference"),
    ("${HOST", "malformed ${...} reference"),
    ("${HOST:default}", "malformed ${...} reference"),
])
def test_expand_errors(text, message):
    with pytest.raises(InterpolationError) as caught:
        expand(text, ENV)
    assert str(caught.value).startswith(message)


def test_values_of_variables_never_appear_in_messages():
    with pytest.raises(InterpolationError) as caught:
        expand("${HOST}/${MISSING}", ENV)
    assert "api.example.com" not in str(caught.value)


def test_expand_tree_reaches_nested_values_but_not_keys():
    data = {"${HOST}": {"a": ["${PORT}", 3, {"b": "${HOST}"}]}, "n": 1.5, "t": True}
    result, problems = expand_tree(data, ENV)
    assert problems == []
    assert result == {"${HOST}": {"a": ["8443", 3, {"b": "api.example.com"}]}, "n": 1.5,
                      "t": True}


def test_interpolated_values_reach_the_config():
    config = load_config_text(
        "providers:\n  p:\n    vendor: openai\n    base_url: https://${HOST}/v1\n"
        "    api_key_env: ${KEY_VAR:-OPENAI_API_KEY}\n"
        "models:\n  m: {vendor: p, model_id: '${MODEL:-gpt-4o}', options: {tag: '$${lit}'}}\n",
        environ=ENV)
    assert config.providers["p"].base_url == "https://api.example.com/v1"
    assert config.providers["p"].api_key_env == "OPENAI_API_KEY"
    assert config.models["m"].model_id == "gpt-4o"
    assert config.models["m"].options == {"tag": "${lit}"}


def test_an_unset_variable_is_an_error_at_its_value_and_reported_once():
    report = validate_config_text(
        "models:\n  m:\n    vendor: openai\n    base_url: https://${NOPE}/v1\n"
        "    options:\n      list: [a, '${ALSO_NOPE}']\n",
        source_name="agentflow.yml", environ=ENV)
    assert report.format().splitlines() == [
        "agentflow.yml:4:15: models.m.base_url: environment variable NOPE is not set; export "
        "NOPE=... or write ${NOPE:-default}",
        "agentflow.yml:6:17: models.m.options.list.1: environment variable ALSO_NOPE is not "
        "set; export ALSO_NOPE=... or write ${ALSO_NOPE:-default}",
    ]


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AGENTFLOW_TEST_MODEL", "from-env")
    config = load_config_text("models:\n  m: {vendor: x, model_id: '${AGENTFLOW_TEST_MODEL}'}\n")
    assert config.models["m"].model_id == "from-env"


def test_an_interpolated_number_is_still_a_string():
    report = validate_config_text("defaults:\n  timeout_seconds: ${T:-30}\n", environ={})
    assert [issue.message for issue in report.issues] == ["expected a number, got a string"]
