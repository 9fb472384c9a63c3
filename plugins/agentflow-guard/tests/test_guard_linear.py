"""The guard's matching is linear in the text, shown without a clock: patterns users write are
RE2's (linear whatever they are), built-in patterns have a bounded width, and the guard's own
Python code takes a number of steps (traced line events) in proportion to its input. A time
budget per request bounds whatever is left; it is tested on a clock the test drives."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import pytest

from agentflow.errors import ConfigurationError
from agentflow.types import Message, ModelSettings, Request, Secret
from agentflow_guard import BUILTIN_REDACTIONS, PromptGuard, PromptRejectedError
from agentflow_guard._rules import key_redaction

SETTINGS = ModelSettings(name="m", provider="openai", vendor="openai", model_id="gpt-4o",
                         base_url="https://api.openai.com/v1",
                         api_key=Secret("the-key-in-use-" + "0123456789"))
GUARD_MODULES = ("agentflow_guard",)


def request(text: str) -> Request:
    return Request(model="gpt-4o", messages=(Message.user(text),))


def python_steps(work: Callable[[], Any]) -> int:
    """How many lines of the guard's own code ``work`` executes (a count, not a time)."""
    steps = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        nonlocal steps
        if not frame.f_globals.get("__name__", "").startswith(GUARD_MODULES):
            return None
        if event == "line":
            steps += 1
        return trace

    sys.settrace(trace)
    try:
        work()
    except PromptRejectedError:
        pass
    finally:
        sys.settrace(None)
    return steps


ADVERSARIAL = {
    "single digits": "1 ",                # 8 s for 200 KB before: every group a stretch start
    "groups of three": "123 ",
    "groups of four": "4111 ",
    "Luhn-valid cards": "4111 1111 1111 1111 ",
    "bearer words": "Bearer ",
    "zero-width spaces": "a\u200b",
    "full-width letters": "\uff53\uff4b\uff0d",  # sk- in full-width letters
    "masked stars": "sk-****",
    "base64": "QUJD",
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_the_guards_own_work_grows_in_proportion_to_the_text(name):
    guard = PromptGuard(redact=["api_keys", "emails", "card_numbers"], deny=["(a+)+$"])
    unit = ADVERSARIAL[name]
    small, large = (python_steps(lambda n=n: guard.prepare(request(unit * n), SETTINGS))
                    for n in (2_000, 8_000))
    assert large <= 4 * small + 200, (small, large)


def parsed_width(pattern: re.Pattern[str]) -> int:
    parser: Any = getattr(re, "_parser", None)
    if parser is None:  # Python 3.10
        import sre_parse as parser
    return int(parser.parse(pattern.pattern, pattern.flags).getwidth()[1])


def test_every_built_in_pattern_has_a_bounded_width():
    """One match attempt reads at most this many characters, so a search is linear."""
    redactions = [*BUILTIN_REDACTIONS.values(), key_redaction(("a-key-in-use-0123",))]
    widths = {pattern.pattern[:40]: parsed_width(pattern)
              for redaction in redactions if redaction is not None
              for pattern in redaction.patterns}
    card_run = BUILTIN_REDACTIONS["card_numbers"].patterns[0].pattern[:40]
    # The digit-group run is unbounded but cannot fail once started: each digit is read
    # once; what happens inside a run is counted by the step test above.
    widths.pop(card_run)
    assert max(widths.values()) <= 20_000, widths


def test_patterns_users_write_are_matched_by_re2():
    guard = PromptGuard(deny=["(a+)+$"], redact=[{"name": "t", "pattern": "(x|xx)+y"}])
    engines = {type(rule.pattern).__module__.split(".")[0] for rule in guard._rules.deny}
    engines |= {type(pattern).__module__.split(".")[0]
                for redaction in guard._rules.redactions for pattern in redaction.patterns}
    assert engines == {"re2"}
    # 27 characters took 21 s with Python's backtracking engine
    with pytest.raises(PromptRejectedError):
        guard.prepare(request("a" * 27), SETTINGS)


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?<=x)secret", r"secret(?!s)"])
def test_patterns_that_need_backtracking_are_refused_without_repeating_them(pattern):
    with pytest.raises(ConfigurationError) as caught:
        PromptGuard(deny=[pattern])
    message = caught.value.message
    assert message == ("PromptGuard deny.0: uses a construct that needs backtracking (a "
                       "backreference, lookahead or lookbehind); the guard matches in linear "
                       "time only, so write the pattern without it")
    assert pattern not in message


class Clock:
    """A clock that moves only when read: ``step`` seconds per reading."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def many_texts(count: int) -> Request:
    return Request(model="gpt-4o", messages=tuple(Message.user(f"part {i}")
                                                  for i in range(count)))


def test_a_request_that_takes_longer_than_the_budget_is_refused():
    guard = PromptGuard(time_budget_ms=100, clock=Clock(0.03))
    with pytest.raises(PromptRejectedError) as caught:
        guard.prepare(many_texts(10), SETTINGS)
    error = caught.value
    assert error.rule == "time_budget_ms"
    assert error.message == (
        "the guard could not check the prompt within its time budget of 100 ms "
        "(PromptGuard(time_budget_ms=...)); shorten the prompt or raise the budget. Nothing "
        "was sent")


def test_a_request_within_the_budget_goes():
    guard = PromptGuard(time_budget_ms=1000, clock=Clock(0.03))
    assert guard.prepare(many_texts(10), SETTINGS) is None


@pytest.mark.parametrize("value", [0, -1, 1.5, "1s", True])
def test_the_budget_must_be_a_positive_whole_number_of_milliseconds(value):
    with pytest.raises(ConfigurationError, match="time_budget_ms"):
        PromptGuard(time_budget_ms=value)
