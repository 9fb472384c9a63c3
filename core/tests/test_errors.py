from __future__ import annotations

import pytest

from agentflow import errors
from agentflow.types import Secret


def test_every_error_derives_from_llm_error():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.LLMError), name


def test_timeout_error_is_also_builtin_timeout():
    error = errors.LLMTimeoutError("slow", timeout_kind="read")
    assert isinstance(error, TimeoutError)
    assert error.timeout_kind == "read"


def test_validation_error_is_also_value_error():
    assert isinstance(errors.ValidationError("bad", parameter="x"), ValueError)


def test_rate_limit_error_is_http_429_with_retry_after():
    error = errors.RateLimitError("slow down", retry_after=2.5)
    assert isinstance(error, errors.HttpError)
    assert (error.status_code, error.retry_after) == (429, 2.5)


def test_message_names_context():
    error = errors.HttpError("boom", status_code=500, provider="openai", model="gpt-4o",
                             request_id="req-1")
    assert str(error) == "boom (provider=openai, model=gpt-4o, request_id=req-1)"
    assert repr(error) == "HttpError('boom')"


def test_with_context_fills_only_unset_attributes():
    error = errors.StreamingError("cut", provider="a")
    assert error.with_context(provider="b", model="m", partial_text="Hel") is error
    assert (error.provider, error.model, error.partial_text) == ("a", "m", "Hel")


@pytest.mark.parametrize("render", [repr, str])
def test_secret_never_shows_itself(render):
    secret = Secret("sk-test-1234567890")
    assert "sk-test" not in render(secret)
    assert secret.reveal() == "sk-test-1234567890"


def test_secret_hidden_inside_containing_reprs():
    from agentflow.types import ModelSettings

    settings = ModelSettings(name="m", provider="p", vendor="p", model_id="m",
                             base_url="https://x", api_key=Secret("sk-hidden-value"))
    assert "sk-hidden-value" not in repr(settings)
