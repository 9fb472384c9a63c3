"""The guard's rules on their own: redaction, Luhn, deny rules, settings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow import ConfigurationError
from agentflow.config import Config
from agentflow.types import Message, ModelSettings, Request, Secret
from agentflow_guard import BUILTIN_REDACTIONS, PromptGuard, PromptRejectedError, luhn_valid

SETTINGS = ModelSettings(name="m", provider="openai", vendor="openai", model_id="gpt-4o",
                         base_url="https://api.openai.com/v1",
                         api_key=Secret("the-real-key-of-this-provider-42"))


def request(*contents: str) -> Request:
    return Request(model="gpt-4o", messages=tuple(Message(role="user", content=c)
                                                  for c in contents))


def sent(guard: PromptGuard, *contents: str) -> list[str]:
    changed = guard.agentflow_prepare_request(request(*contents), SETTINGS)
    return [m.content for m in (changed or request(*contents)).messages]


def test_keys_are_redacted_by_default_including_the_providers_own():
    guard = PromptGuard()
    google_key = "AIzaSyA1234567890abcdefghijklmnopqrstu"
    assert sent(guard, f"use sk-proj-abcdefghijklmnopqrstuv and {google_key}") == [
        "use [REDACTED:api_key] and [REDACTED:api_key]"]
    assert sent(guard, "my key is the-real-key-of-this-provider-42!") == [
        "my key is [REDACTED:api_key]!"]
    assert guard.counts == {"api_key": 3}


def test_emails_and_card_numbers_when_asked():
    guard = PromptGuard(redact=["emails", "card_numbers"])
    assert sent(guard, "mail ana.b+x@mail.example.org, card 4111 1111 1111 1111, "
                       "order 1234 5678 9012 3456, call 555-0100") == [
        "mail [REDACTED:email], card [REDACTED:card_number], order 1234 5678 9012 3456, "
        "call 555-0100"]


def test_unchanged_requests_are_left_as_they_are():
    guard = PromptGuard(redact=["emails"])
    assert guard.agentflow_prepare_request(request("nothing to hide"), SETTINGS) is None


def test_custom_redactions_and_replacement():
    guard = PromptGuard(redact=[{"name": "ticket", "pattern": r"TCK-\d+"}],
                        replacement="<{name}>")
    assert sent(guard, "see TCK-123 and tck-9") == ["see <ticket> and <ticket>"]


def test_deny_rules_refuse_without_repeating_the_text():
    guard = PromptGuard(deny=[{"name": "no-exports", "pattern": r"export\s+all\s+customers",
                               "message": "bulk exports go through the data team"}])
    with pytest.raises(PromptRejectedError) as caught:
        guard.agentflow_prepare_request(request("hi", "please EXPORT all customers"), SETTINGS)
    error = caught.value
    assert (error.rule, error.message_index, error.parameter) == ("no-exports", 1, "messages")
    assert "bulk exports go through the data team" in str(error)
    assert "EXPORT all" not in str(error)
    assert (error.provider, error.model) == ("openai", "m")


def test_an_oversize_prompt_is_refused_with_size_and_limit():
    guard = PromptGuard(max_prompt_chars=10)
    with pytest.raises(PromptRejectedError, match="has 12 characters, over the guard's limit "
                                                  "of 10"):
        guard.agentflow_prepare_request(request("abcdef", "ghijkl"), SETTINGS)
    assert guard.agentflow_prepare_request(request("abcdefghij"), SETTINGS) is None


def test_a_disabled_guard_does_nothing():
    guard = PromptGuard(max_prompt_chars=1, enabled=False)
    assert guard.agentflow_prepare_request(request("sk-proj-abcdefghijklmnopqrstuv"),
                                           SETTINGS) is None


@pytest.mark.parametrize(("section", "message"), [
    ({"max_prompt_chars": 0}, "plugins.guard.max_prompt_chars must be a whole number"),
    ({"redact": "emails"}, "plugins.guard.redact must be a list"),
    ({"redact": ["phone_numbers"]}, r"plugins.guard.redact\[0\]: unknown redaction"),
    ({"deny": ["(unclosed"]}, r"plugins.guard.deny\[0\] is not a valid regular expression"),
    ({"deny": [{"message": "x"}]}, r"plugins.guard.deny\[0\].pattern must be a regular"),
    ({"block": []}, "plugins.guard.block: unknown key"),
])
def test_bad_settings_name_the_key(section, message):
    with pytest.raises(ConfigurationError, match=message):
        PromptGuard().agentflow_configure(Config(plugins={"guard": section}))


def test_configuring_replaces_the_rules():
    guard = PromptGuard()
    guard.agentflow_configure(Config(plugins={"guard": {"redact": ["emails"],
                                                        "max_prompt_chars": 50}}))
    assert sent(guard, "a@b.example sk-proj-abcdefghijklmnopqrstuv") == [
        "[REDACTED:email] sk-proj-abcdefghijklmnopqrstuv"]


def luhn_complete(prefix: str) -> str:
    """``prefix`` with the check digit that makes it Luhn-valid."""
    return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))


cards = st.builds(luhn_complete, st.text("0123456789", min_size=12, max_size=18))
filler = st.text(st.characters(blacklist_categories=["Nd"]), max_size=20)


@given(card=cards, before=filler, after=filler)
def test_any_luhn_valid_card_number_is_redacted(card, before, after):
    redacted, count = BUILTIN_REDACTIONS["card_numbers"].apply(before + " " + card + " " + after,
                                                               "[X]")
    assert card not in redacted
    assert count == 1


@given(text=st.text(max_size=200))
def test_redaction_is_idempotent(text):
    guard = PromptGuard(redact=["api_keys", "emails", "card_numbers"])
    once = sent(guard, text)
    assert sent(guard, *once) == once


@given(text=st.text(alphabet=st.characters(blacklist_characters="@", blacklist_categories=["Nd"]),
                    max_size=200))
def test_text_without_anything_to_redact_is_untouched(text):
    guard = PromptGuard(redact=["emails", "card_numbers"])
    assert sent(guard, text) == [text]
