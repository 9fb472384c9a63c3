"""The circuit breaker's states: closed, open after N failures, one probe, closed again."""

from __future__ import annotations

import pytest

from agentflow._limits.breaker import CircuitBreaker
from agentflow.errors import CircuitOpenError


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def changes():
    return []


@pytest.fixture
def breaker(clock, changes):
    return CircuitBreaker("acme", failure_threshold=3, cooldown_seconds=10, clock=clock,
                          on_change=lambda old, new: changes.append((old, new)))


def fail(breaker, times=1):
    for _ in range(times):
        breaker.enter().failure("503")


def test_opens_after_exactly_n_consecutive_failures(breaker, changes):
    fail(breaker, 2)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"
    assert changes == [("closed", "open")]


def test_a_success_in_between_resets_the_count(breaker):
    fail(breaker, 2)
    breaker.enter().success()
    fail(breaker, 2)
    assert breaker.state == "closed"


def test_open_fails_fast_with_a_clear_error(breaker, clock):
    fail(breaker, 3)
    clock.now += 4
    with pytest.raises(CircuitOpenError) as caught:
        breaker.enter()
    message = str(caught.value)
    assert "acme failed 3 times in a row (last: 503)" in message
    assert "next probe may go in 6.0 s" in message
    assert caught.value.retry_at == 60.0
    assert caught.value.retryable is False


def test_one_probe_after_the_cooldown_and_others_still_fail_fast(breaker, clock, changes):
    fail(breaker, 3)
    clock.now += 10
    probe = breaker.enter()
    assert probe.is_probe
    assert breaker.state == "half_open"
    with pytest.raises(CircuitOpenError, match="a probe request is under way"):
        breaker.enter()
    probe.success()
    assert breaker.state == "closed"
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert not breaker.enter().is_probe


def test_a_failed_probe_opens_it_for_another_cooldown(breaker, clock):
    fail(breaker, 3)
    clock.now += 10
    breaker.enter().failure("timeout")
    assert breaker.state == "open"
    clock.now += 9
    with pytest.raises(CircuitOpenError, match="last: timeout"):
        breaker.enter()
    clock.now += 1
    assert breaker.enter().is_probe


def test_an_abandoned_probe_gives_the_next_caller_its_turn(breaker, clock):
    fail(breaker, 3)
    clock.now += 10
    breaker.enter().abandon()
    probe = breaker.enter()
    assert probe.is_probe
    probe.success()
    assert breaker.state == "closed"


def test_a_verdict_counts_once(breaker):
    probe = breaker.enter()
    probe.failure("500")
    probe.failure("500")
    probe.success()
    assert breaker.failures == 1


def test_snapshot(breaker):
    fail(breaker, 3)
    assert breaker.snapshot() == {"provider": "acme", "endpoint": None, "state": "open",
                                  "failures": 3, "opened_at": 50.0, "last_failure": "503"}
