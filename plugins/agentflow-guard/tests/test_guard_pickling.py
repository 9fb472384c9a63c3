"""The guard's error survives pickle and deepcopy with its attributes (issue 15, item 13)."""

from __future__ import annotations

import copy
import pickle

import pytest

from agentflow_guard import PromptRejectedError


@pytest.mark.parametrize("round_trip", [lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy])
def test_a_rejection_round_trips_with_its_attributes(round_trip):
    error = PromptRejectedError("message 2 matches deny rule 'secrets'", rule="secrets",
                                message_index=2, role="user", provider="openai")
    again = round_trip(error)
    assert type(again) is PromptRejectedError
    assert (again.rule, again.message_index, again.role) == ("secrets", 2, "user")
    assert again.parameter == "messages"
    assert str(again) == str(error)
