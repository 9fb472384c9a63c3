"""The guard's settings: plugins.guard in agentflow.yml, and PromptGuard(...) in code."""

from __future__ import annotations

import pytest

import agentflow_guard
import agentflow_openai
from agentflow import ConfigurationError
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config
from agentflow.types import Message, ModelSettings, Request
from agentflow_guard import GUARD, PromptGuard, PromptRejectedError

# A placeholder in the shape of an OpenAI key, built so no key-shaped literal sits here.
OPENAI_SHAPED = "sk-proj-" + "placeholder" * 2

SETTINGS = ModelSettings(name="m", provider="openai", vendor="openai", model_id="gpt-4o",
                         base_url="https://api.openai.com/v1")


def request(text: str) -> Request:
    return Request(model="gpt-4o", messages=(Message(role="user", content=text),))


@pytest.fixture
def runtime(monkeypatch):
    """A runtime with the installed guard's module, as its entry point registers it."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-guard-settings-0123456789")
    host = PluginHost(entry_points=False)
    host.register(agentflow_openai.PLUGIN)
    host.register(agentflow_guard, name="guard")
    yield Runtime(host=host)
    GUARD.configure(Config())  # the module's guard is the process's: leave it as found


@pytest.mark.parametrize(("section", "message"), [
    ({"enabled": "yes"}, "plugins.guard.enabled: must be true or false, got a string"),
    ({"max_prompt_chars": 0}, "plugins.guard.max_prompt_chars: must be a whole number greater "
                              "than 0, got the number 0"),
    ({"max_prompt_tokens": 2.5}, "plugins.guard.max_prompt_tokens: must be a whole number "
                                 "greater than 0, got the number 2.5"),
    ({"redact": "emails"}, "plugins.guard.redact: must be a list, got a string"),
    ({"redact": ["email"]}, "plugins.guard.redact.0: not a built-in redaction; did you mean "
                            "'emails'? built in are api_keys, emails, card_numbers, or give "
                            "{name: ..., pattern: ...} for your own"),
    ({"redact": [{"pattern": "x"}]}, "plugins.guard.redact.0.name: must be a name, got null"),
    ({"redact": [{"name": "any", "pattern": "a*"}]},
     "plugins.guard.redact.0.pattern: matches empty text, so it would redact between every "
     "two characters"),
    ({"deny": ["(unclosed"]}, "plugins.guard.deny.0: is not a valid regular expression: "
                              "missing ), unterminated subpattern at position 0"),
    ({"deny": [{"message": "x"}]}, "plugins.guard.deny.0.pattern: must be a regular "
                                   "expression, got null"),
    ({"deny": [{"pattern": "x", "reason": "y"}]},
     "plugins.guard.deny.0.reason: unknown key; keys here are: name, pattern, message"),
    ({"deny": [""]}, "plugins.guard.deny.0: must be a regular expression, got a string"),
    ({"replacement": "[{kind}]"}, "plugins.guard.replacement: may hold {name} (the "
                                  "redaction's name) and no other field in braces; write {{ "
                                  "and }} for braces"),
    ({"denny": []}, "plugins.guard.denny: unknown key (did you mean 'deny'?); keys here are: "
                    "enabled, max_prompt_chars, max_prompt_tokens, redact, deny, replacement, "
                    "time_budget_ms"),
])
def test_bad_settings_name_the_key(section, message):
    with pytest.raises(ConfigurationError) as caught:
        PromptGuard().configure(Config(plugins={"guard": section}))
    assert caught.value.message == message


def test_messages_never_repeat_a_pattern_which_may_be_a_secret():
    secret = "sk-live-do-not-show-me"
    for section in ({"deny": [f"{secret}("]}, {"redact": [secret]},
                    {"redact": [{"name": "k", "pattern": f"({secret}"}]}):
        with pytest.raises(ConfigurationError) as caught:
            PromptGuard().configure(Config(plugins={"guard": section}))
        assert secret not in str(caught.value)


def test_bad_settings_in_code_name_the_argument():
    with pytest.raises(ConfigurationError, match=r"^PromptGuard max_prompt_chars: must be a "
                                                 "whole number greater than 0, got the number "
                                                 "-1$"):
        PromptGuard(max_prompt_chars=-1)
    with pytest.raises(ConfigurationError, match=r"^PromptGuard redact: must be a list, got a "
                                                 "string$"):
        PromptGuard(redact="emails")
    with pytest.raises(ConfigurationError, match=r"^PromptGuard deny\.1: is not a valid"):
        PromptGuard(deny=("ok", "[a-"))


def test_configuring_replaces_every_rule():
    guard = PromptGuard(max_prompt_chars=5)
    guard.configure(Config(plugins={"guard": {"redact": ["emails"]}}))
    changed = guard.prepare(request(f"a@b.example {OPENAI_SHAPED}"), SETTINGS)
    assert changed is not None
    assert changed.messages[0].content == f"[REDACTED:email] {OPENAI_SHAPED}"


def test_a_guard_built_in_code_keeps_its_rules_when_a_configuration_becomes_active():
    guard = PromptGuard(max_prompt_chars=5)
    guard.agentflow_configure(Config(plugins={"guard": {"max_prompt_chars": 1000}}))
    with pytest.raises(PromptRejectedError, match="over the guard's limit of 5"):
        guard.prepare(request("longer than five"), SETTINGS)


def test_the_files_settings_are_checked_at_load_and_located(runtime, tmp_path):
    path = tmp_path / "agentflow.yml"
    path.write_text("plugins:\n"
                    "  guard:\n"
                    "    redact: [api_keys, emails]\n"
                    "    deny:\n"
                    "      - {name: exports, pattern: 'export('}\n")
    with pytest.raises(ConfigurationError) as caught:
        runtime.load_config(path)
    assert caught.value.message == (
        f"configuration {path} has 1 error:\n"
        f"  {path}:5:34: plugins.guard.deny.0.pattern: is not a valid regular expression: "
        "missing ), unterminated subpattern at position 6")
    assert [(i.line, i.column) for i in caught.value.issues] == [(5, 34)]


def test_an_unknown_key_is_placed_at_the_key(runtime, tmp_path):
    path = tmp_path / "agentflow.yml"
    path.write_text("plugins:\n  guard:\n    max_chars: 10\n")
    with pytest.raises(ConfigurationError) as caught:
        runtime.load_config(path)
    assert [(i.path, i.line, i.column) for i in caught.value.issues] == [
        ("plugins.guard.max_chars", 3, 5)]


def test_a_refused_reload_keeps_the_rules_in_force(runtime, tmp_path):
    path = tmp_path / "agentflow.yml"
    path.write_text("plugins:\n  guard: {max_prompt_chars: 5}\n")
    runtime.load_config(path)
    path.write_text("plugins:\n  guard: {max_prompt_chars: -5}\n")
    with pytest.raises(ConfigurationError, match=r"plugins\.guard\.max_prompt_chars: must be"):
        runtime.reload_config()
    with pytest.raises(PromptRejectedError, match=r"\(plugins\.guard\.max_prompt_chars\)"):
        GUARD.prepare(request("longer than five"), SETTINGS)


def test_with_no_file_the_installed_guard_has_its_defaults(runtime, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTFLOW_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    GUARD.configure(Config(plugins={"guard": {"max_prompt_chars": 1}}))
    runtime.resolve("gpt-4o")  # first use: no file, the plugins hear of an empty configuration
    assert runtime.config == Config()
    assert GUARD.prepare(request("no limit now"), SETTINGS) is None
    changed = GUARD.prepare(request(OPENAI_SHAPED), SETTINGS)
    assert changed is not None
    assert changed.messages[0].content == "[REDACTED:api_key]"
