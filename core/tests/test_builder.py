"""The fluent builder checks every parameter where it is given, before any I/O."""

from __future__ import annotations

import math

import pytest

from agentflow import LLMClientBuilder, Message, ValidationError


def builder() -> LLMClientBuilder:
    return LLMClientBuilder("echo-1")


@pytest.mark.parametrize(("method", "value", "fragment"), [
    ("temperature", 2.5, "temperature must be between 0 and 2, got 2.5"),
    ("temperature", -0.1, "temperature must be between 0 and 2"),
    ("temperature", "hot", "temperature must be a number, got 'hot'"),
    ("temperature", True, "temperature must be a number, got True"),
    ("temperature", math.nan, "temperature must be a number"),
    ("top_p", 1.5, "top_p must be between 0 and 1"),
    ("max_tokens", 0, "max_tokens must be a positive integer, got 0"),
    ("max_tokens", 10.5, "max_tokens must be a positive integer"),
    ("max_tokens", True, "max_tokens must be a positive integer"),
    ("timeout", 0, "timeout must be greater than 0, got 0"),
    ("prompt", 42, "prompt must be a string, got int"),
    ("system", None, "system must be a string, got NoneType"),
])
def test_bad_parameter_raises_at_the_setter(method, value, fragment):
    with pytest.raises(ValidationError) as caught:
        getattr(builder(), method)(value)
    assert fragment in str(caught.value)
    assert caught.value.parameter == method


def test_setters_chain_and_accept_edges():
    b = builder().temperature(0).temperature(2).top_p(1).max_tokens(1).timeout(0.5)
    assert isinstance(b, LLMClientBuilder)


@pytest.mark.parametrize("name", ["", "   ", None])
def test_model_name_must_be_given(name):
    with pytest.raises(ValidationError, match="model name must be a non-empty string"):
        LLMClientBuilder(name)


def test_stop_accepts_strings_and_lists_and_refuses_empty():
    builder().stop("END").stop(["a", "b"], "c")
    with pytest.raises(ValidationError, match="stop sequences must be non-empty strings"):
        builder().stop("")


def test_messages_accept_mappings_and_messages_and_name_the_bad_index():
    builder().messages([{"role": "user", "content": "hi"},
                        Message(role="assistant", content="hello")])
    with pytest.raises(ValidationError, match=r"messages\[1\] must be a Message"):
        builder().messages([{"role": "user", "content": "hi"}, {"role": "robot", "content": 1}])


def test_with_metrics_needs_a_collector():
    with pytest.raises(ValidationError, match="with_metrics needs a MetricsCollector"):
        builder().with_metrics(object())  # type: ignore[arg-type]


def test_repr_shows_model_and_parameters():
    assert repr(builder().temperature(0.5)) == (
        "LLMClientBuilder(model='echo-1', params={'temperature': 0.5})")
