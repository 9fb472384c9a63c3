"""Issue 15, item 13: every exported error survives pickle and deepcopy with its attributes, so
one raised in a worker process (ProcessPoolExecutor) reaches the parent whole."""

from __future__ import annotations

import copy
import inspect
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import agentflow.errors
from agentflow._api.agent import AgentRun
from agentflow.errors import HttpError, LLMError, ToolLoopLimitError
from agentflow.types import Response

RUN = AgentRun(response=Response(text="done", model="m", provider="p"), steps=(), messages=())
#: What each constructor needs beyond the message, and an attribute to check after a round trip.
EXTRA: dict[str, dict[str, Any]] = {
    "HttpError": {"status_code": 502, "error_type": "overloaded", "vendor_message": "busy"},
    "RateLimitError": {"retry_after": 2.5},
    "ToolLoopLimitError": {"run": RUN},
    "LLMTimeoutError": {"timeout_kind": "total"},
    "CircuitOpenError": {"retry_at": 12.0},
    "MissingApiKeyError": {"env_var": "OPENAI_API_KEY"},
    "ModelNotFoundError": {"suggestions": ("gpt-4o",)},
    "ValidationError": {"parameter": "temperature", "path": "$.x", "answer": "{}"},
}

ERRORS = [cls for _, cls in inspect.getmembers(agentflow.errors, inspect.isclass)
          if issubclass(cls, LLMError)]


def make(cls: type[LLMError]) -> LLMError:
    extra = EXTRA.get(cls.__name__, {})
    error = cls("it failed; try again", provider="openai", model="gpt-4o", request_id="req-1",
                partial_text="half", **extra)
    error.attempts = ("503", "read timeout")
    return error


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("round_trip", [lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy,
                                        copy.copy], ids=["pickle", "deepcopy", "copy"])
def test_every_error_round_trips_with_its_attributes(cls, round_trip):
    error = make(cls)
    again = round_trip(error)
    assert type(again) is cls
    assert str(again) == str(error)
    assert again.args == error.args
    assert {k: v for k, v in vars(again).items() if k != "run"} == {
        k: v for k, v in vars(error).items() if k != "run"}
    if isinstance(error, ToolLoopLimitError):
        assert again.run == RUN


def fail_in_worker(status: int) -> None:
    raise HttpError("the vendor failed", status_code=status, provider="openai")


def test_an_error_raised_in_a_worker_process_reaches_the_parent():
    with ProcessPoolExecutor(max_workers=1) as pool, pytest.raises(HttpError) as caught:
        pool.submit(fail_in_worker, 503).result()
    assert caught.value.status_code == 503
    assert caught.value.provider == "openai"
