"""The guard's rules on their own: key, e-mail and card redaction, deny rules, size limits."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow.types import Message, ModelSettings, Request, Secret
from agentflow_guard import BUILTIN_REDACTIONS, PromptGuard, PromptRejectedError, luhn_valid

OWN_KEY = "the-real-key-of-this-provider-42"
SETTINGS = ModelSettings(name="m", provider="openai", vendor="openai", model_id="gpt-4o",
                         base_url="https://api.openai.com/v1", api_key=Secret(OWN_KEY))


def request(*contents: str, role: str = "user") -> Request:
    return Request(model="gpt-4o", messages=tuple(Message(role=role, content=c)
                                                  for c in contents))


def sent(guard: PromptGuard, *contents: str) -> list[str]:
    """What the vendor would receive of each message."""
    original = request(*contents)
    changed = guard.prepare(original, SETTINGS)
    return [m.content for m in (changed or original).messages]


# Placeholders in the shapes of real keys, built here so that no key-shaped literal sits in
# the source.
OPENAI_SHAPED = "sk-proj-" + "placeholder" * 2
ANTHROPIC_SHAPED = "sk-ant-api03-" + "placeholder" * 3
GOOGLE_SHAPED = "AIza" + "placeholder" * 3
GITHUB_SHAPED = "ghp_" + "placeholder" * 3


# API keys ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [
    OPENAI_SHAPED,
    ANTHROPIC_SHAPED,
    GOOGLE_SHAPED,
    GITHUB_SHAPED,
    "AK" + "IAIOSFODNN7EXAMPLE",
])
def test_key_shapes_are_redacted_by_default(key):
    guard = PromptGuard()
    assert sent(guard, f"use {key} now") == ["use [REDACTED:api_key] now"]
    assert guard.counts == {"api_key": 1}


def test_bearer_tokens_lose_the_token_and_keep_the_word():
    assert sent(PromptGuard(), "Authorization: Bearer abcdefghijklmnop0123.xyz") == [
        "Authorization: Bearer [REDACTED:api_key]"]


def test_the_called_providers_own_key_is_redacted_whatever_its_shape():
    assert sent(PromptGuard(), f"my key is {OWN_KEY}!") == ["my key is [REDACTED:api_key]!"]


def test_the_keys_of_every_configured_provider_are_redacted(monkeypatch):
    from agentflow.config import Config, ProviderConfig

    monkeypatch.setenv("OTHER_VENDOR_KEY", "0ther.vendor.key.value")
    guard = PromptGuard()
    guard.agentflow_configure(Config(providers={"other": ProviderConfig(
        api_key_env="OTHER_VENDOR_KEY")}))
    assert sent(guard, "leaked 0ther.vendor.key.value here") == [
        "leaked [REDACTED:api_key] here"]


def test_without_api_keys_in_redact_no_key_is_touched():
    guard = PromptGuard(redact=["emails"])
    assert sent(guard, f"{OWN_KEY} {OPENAI_SHAPED}") == [
        f"{OWN_KEY} {OPENAI_SHAPED}"]


def test_ordinary_text_is_not_taken_for_a_key():
    text = "ask-me-anything and skip-the-line, Bearer of bad news, AKIA"
    assert sent(PromptGuard(), text) == [text]


# e-mail addresses and card numbers -------------------------------------------------------------

def test_emails_and_card_numbers_when_asked():
    guard = PromptGuard(redact=["emails", "card_numbers"])
    assert sent(guard, "mail ana.b+x@mail.example.org, card 4111 1111 1111 1111, "
                       "order 1234 5678 9012 3456, call 555-0100") == [
        "mail [REDACTED:email], card [REDACTED:card_number], order 1234 5678 9012 3456, "
        "call 555-0100"]
    assert guard.counts == {"email": 1, "card_number": 1}


@pytest.mark.parametrize(("text", "expected"), [
    ("4111-1111-1111-1111", "[REDACTED:card_number]"),
    ("378282246310005", "[REDACTED:card_number]"),  # 15 digits (Amex)
    ("3782 822463 10005", "[REDACTED:card_number]"),  # grouped 4-6-5
    ("4111 1111 1111 1111 123", "[REDACTED:card_number] 123"),  # and its security code
    ("qty 12 4111 1111 1111 1111", "qty 12 [REDACTED:card_number]"),
    ("41111111111111110000", "41111111111111110000"),  # 20 digits: not a card, not cut
    ("411111111111", "411111111111"),  # 12 digits
    ("4111 1111 1111 1112", "4111 1111 1111 1112"),  # fails the Luhn check
])
def test_card_numbers(text, expected):
    assert sent(PromptGuard(redact=["card_numbers"]), text) == [expected]


def test_luhn():
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")


def test_long_text_without_an_address_is_scanned_quickly():
    text = "a." * 100_000  # word boundaries everywhere, and no @
    assert sent(PromptGuard(redact=["emails"]), text) == [text]


# custom rules, replacement, refusals -----------------------------------------------------------

def test_custom_redactions_and_replacement():
    guard = PromptGuard(redact=[{"name": "ticket", "pattern": r"TCK-\d+"}],
                        replacement="<{name}>")
    assert sent(guard, "see TCK-123 and tck-9") == ["see <ticket> and <ticket>"]
    assert guard.counts == {"ticket": 2}


def test_unchanged_requests_are_left_as_they_are():
    assert PromptGuard(redact=["emails"]).prepare(request("nothing to hide"), SETTINGS) is None


def test_every_message_is_redacted_whatever_its_role():
    original = Request(model="m", messages=(
        Message(role="system", content="admin is root@example.com"),
        Message(role="assistant", content="noted"),
        Message(role="user", content="write to root@example.com")))
    changed = PromptGuard(redact=["emails"]).prepare(original, SETTINGS)
    assert changed is not None
    assert [m.content for m in changed.messages] == [
        "admin is [REDACTED:email]", "noted", "write to [REDACTED:email]"]
    assert changed.messages[1] is original.messages[1]


def test_deny_rules_refuse_without_repeating_the_text():
    guard = PromptGuard(deny=[{"name": "no-exports", "pattern": r"export\s+all\s+customers",
                               "message": "bulk exports go through the data team"}])
    with pytest.raises(PromptRejectedError) as caught:
        guard.prepare(request("hi", "please EXPORT all customers"), SETTINGS)
    error = caught.value
    assert (error.rule, error.message_index, error.role, error.parameter) == (
        "no-exports", 1, "user", "messages")
    assert error.message == ("the prompt was refused by the guard's deny rule 'no-exports' "
                             "(message 1, user): bulk exports go through the data team. "
                             "Nothing was sent")
    assert (error.provider, error.model) == ("openai", "m")


def test_a_plain_deny_pattern_is_named_by_its_place():
    guard = PromptGuard(deny=["ignore", r"internal\s+only"])
    with pytest.raises(PromptRejectedError, match=r"deny rule 'deny\[1\]' \(message 0, user\): "
                                                  "this content is not allowed"):
        guard.prepare(request("INTERNAL only"), SETTINGS)


def test_deny_rules_look_at_the_prompt_as_written():
    guard = PromptGuard(redact=["emails"], deny=[r"ceo@example\.com"])
    with pytest.raises(PromptRejectedError):
        guard.prepare(request("forward to ceo@example.com"), SETTINGS)


def test_an_oversize_prompt_is_refused_with_size_and_limit():
    guard = PromptGuard(max_prompt_chars=10)
    with pytest.raises(PromptRejectedError) as caught:
        guard.prepare(request("abcdef", "ghijkl"), SETTINGS)
    assert caught.value.message == (
        "the prompt has 12 characters, over the guard's limit of 10 "
        "(PromptGuard(max_prompt_chars=...)); shorten it or raise the limit. Nothing was sent")
    assert (caught.value.rule, caught.value.message_index) == ("max_prompt_chars", None)
    assert guard.prepare(request("abcdefghij"), SETTINGS) is None


def test_a_token_limit_is_checked_on_an_estimate():
    guard = PromptGuard(max_prompt_tokens=2)
    assert guard.prepare(request("12345678"), SETTINGS) is None  # 8 characters: 2 tokens
    with pytest.raises(PromptRejectedError, match=r"the prompt has 3 tokens \(estimated: 9 "
                                                  r"characters at 4 a token\), over the guard's "
                                                  "limit of 2") as caught:
        guard.prepare(request("123456789"), SETTINGS)
    assert caught.value.rule == "max_prompt_tokens"


def test_a_disabled_guard_does_nothing():
    guard = PromptGuard(max_prompt_chars=1, enabled=False)
    assert guard.prepare(request(OPENAI_SHAPED), SETTINGS) is None
    assert not guard.enabled


def test_logs_give_counts_never_text(caplog):
    caplog.set_level(logging.INFO, logger="agentflow.guard")
    guard = PromptGuard(redact=["api_keys", "emails"], deny=["forbidden"])
    sent(guard, f"a@example.com b@example.com {OPENAI_SHAPED}")
    with pytest.raises(PromptRejectedError):
        sent(guard, "forbidden a@example.com")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "redacted 1 api_key, 2 email before sending to openai"),
        ("WARNING", "refused a prompt to openai: deny rule deny[0] matched message 0 (user)")]


# properties ------------------------------------------------------------------------------------

def luhn_complete(prefix: str) -> str:
    """``prefix`` with the check digit that makes it Luhn-valid."""
    return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))


def grouped(digits: str, sizes: list[int], separator: str) -> str:
    """``digits`` written in groups of about these sizes."""
    groups, rest = [], digits
    for size in sizes:
        if rest:
            groups.append(rest[:size])
            rest = rest[size:]
    return separator.join([*groups, rest] if rest else groups)


cards = st.builds(luhn_complete, st.text("0123456789", min_size=12, max_size=18))
written_cards = st.builds(grouped, cards, st.lists(st.integers(3, 6), max_size=5),
                          st.sampled_from([" ", "-"]))
no_digits = st.text(st.characters(blacklist_categories=["Nd"]), max_size=20)
# Around a card: no digit, and no space or dash that a neighbouring number could join it with.
edges = st.text(st.characters(blacklist_categories=["Nd", "Zs"], blacklist_characters="-"),
                max_size=20)


@given(card=written_cards, before=edges, after=edges)
def test_any_luhn_valid_card_number_is_redacted(card, before, after):
    redacted, count = BUILTIN_REDACTIONS["card_numbers"].apply(f"{before}{card}{after}", "[X]")
    assert redacted == f"{before}[X]{after}"
    assert count == 1


@given(text=st.text(max_size=300))
def test_redaction_is_idempotent(text):
    guard = PromptGuard(redact=["api_keys", "emails", "card_numbers"])
    once = sent(guard, text)
    assert sent(guard, *once) == once


@given(text=st.text(alphabet=st.characters(blacklist_characters="@", blacklist_categories=["Nd"]),
                    max_size=300))
def test_text_without_anything_to_redact_is_untouched(text):
    guard = PromptGuard(redact=["emails", "card_numbers"])
    assert guard.prepare(request(text), SETTINGS) is None


def test_tokens_are_estimated_as_the_cores_rate_limits_estimate_them():
    from agentflow._limits.rates import CHARS_PER_TOKEN
    from agentflow_guard._guard import CHARS_PER_TOKEN as GUARDS

    assert GUARDS == CHARS_PER_TOKEN
