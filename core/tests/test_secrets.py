"""How keys are read from the environment: surrounding whitespace dropped, control characters
inside refused naming the variable and never the value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_config_support import AcmePlugin

from agentflow._plugins.host import PluginHost
from agentflow._runtime.registry import ModelRegistry
from agentflow.config import Config
from agentflow.errors import MissingApiKeyError
from agentflow.types import Secret, clean_key

KEY = "acme-key-0123456789"


def resolve(value: str):
    host = PluginHost(entry_points=False)
    host.register(AcmePlugin())
    return ModelRegistry(Config(), host, environ={"ACME_API_KEY": value}).resolve("acme-large")


@pytest.mark.parametrize("value", [f"{KEY}\n", f"{KEY}\r\n", f"  {KEY}\t", f"\n{KEY}\n\n"])
def test_surrounding_whitespace_is_dropped(value):
    # KEY=$(cat keyfile) keeps no newline, but KEY="$(cat keyfile)"$'\n' and .env files do
    assert resolve(value).api_key == Secret(KEY)


@pytest.mark.parametrize("value", ["\n", "   ", ""])
def test_a_blank_key_is_missing(value):
    with pytest.raises(MissingApiKeyError, match="ACME_API_KEY is not set"):
        resolve(value)


@pytest.mark.parametrize("inner", ["\n", "\r", "\t", "\x1b", "\x00", "\x7f", "\x85"])
def test_a_control_character_inside_is_refused_naming_the_variable(inner):
    with pytest.raises(MissingApiKeyError) as caught:
        resolve(f"{KEY[:8]}{inner}{KEY[8:]}")
    error = caught.value
    assert error.env_var == "ACME_API_KEY"
    assert str(error) == (
        f"ACME_API_KEY holds a control character (U+{ord(inner):04X}) inside the key, which no "
        "HTTP header may carry; export ACME_API_KEY again with the key alone on one line "
        "(provider=acme, model=acme-large)")
    assert KEY[:8] not in repr(error)
    assert KEY[8:] not in str(error)


@given(key=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
       before=st.text(" \t\r\n"), after=st.text(" \t\r\n"))
def test_from_env_returns_the_visible_key(key, before, after):
    secret = Secret.from_env("V", {"V": f"{before}{key}{after}"})
    assert secret is not None
    assert secret.reveal() == key


def test_a_key_with_non_ascii_letters_is_kept():
    assert Secret.from_env("V", {"V": " clé-ключ-0123456789\n"}) == Secret("clé-ключ-0123456789")


@given(value=st.text())
def test_clean_key_refuses_exactly_the_values_with_a_control_character_inside(value):
    # the rule, spelled out: C0 controls and DEL..C1 controls, once surrounding whitespace goes
    visible = value.strip()
    bad = [char for char in visible if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0]
    if bad:
        with pytest.raises(MissingApiKeyError, match=f"U\\+{ord(bad[0]):04X}"):
            clean_key(value, "V")
    else:
        assert clean_key(value, "V") == visible


def test_from_env_of_an_unset_variable_is_none():
    assert Secret.from_env("UNSET_VARIABLE_OF_THIS_TEST", {}) is None
