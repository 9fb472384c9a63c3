"""One guard per call: the installed guard stands aside for a call a guard in code checked."""

from __future__ import annotations

import gc

import pytest

import agentflow_guard
from agentflow.config import Config
from agentflow.types import Message, ModelSettings, Request
from agentflow_guard import GUARD, PromptGuard

SETTINGS = ModelSettings(name="m", provider="openai", vendor="openai", model_id="gpt-4o",
                         base_url="https://api.openai.com/v1")
REQUEST = Request(model="gpt-4o", messages=(Message(role="user", content="ana@example.com"),))


@pytest.fixture(autouse=True)
def installed_redacts_emails():
    GUARD.configure(Config(plugins={"guard": {"redact": ["emails"]}}))
    yield
    GUARD.configure(Config())


def installed(settings: ModelSettings = SETTINGS) -> Request | None:
    """What the installed guard's hook returns, as the core calls it last in the chain."""
    return agentflow_guard.agentflow_prepare_request(request=REQUEST, settings=settings)


def test_alone_the_installed_guard_acts():
    changed = installed()
    assert changed is not None
    assert changed.messages[0].content == "[REDACTED:email]"


def test_after_a_guard_in_code_checked_the_call_it_stands_aside_once():
    mine = PromptGuard(redact=[])
    assert mine.agentflow_prepare_request(REQUEST, SETTINGS) is None
    assert installed() is None
    assert installed() is not None  # the note is used up: the next call is its own


def test_a_note_for_another_call_excuses_nothing():
    mine = PromptGuard(redact=[])
    mine.agentflow_prepare_request(REQUEST, SETTINGS)
    other = ModelSettings(name="m", provider="openai", vendor="openai", model_id="gpt-4o",
                          base_url="https://api.openai.com/v1")
    assert installed(other) is not None


def test_a_note_whose_guard_is_gone_or_disabled_excuses_nothing():
    mine = PromptGuard(redact=[])
    mine.agentflow_prepare_request(REQUEST, SETTINGS)
    del mine
    gc.collect()
    assert installed() is not None
    disabled = PromptGuard(enabled=False)
    disabled.agentflow_prepare_request(REQUEST, SETTINGS)
    assert installed() is not None
