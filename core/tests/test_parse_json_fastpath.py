"""agentflow.vendor.parse_json reads a str with the decoder's raw_decode (no whitespace scans),
falling back to json.loads: the result, and every refusal, are json.loads's."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow.errors import StreamingError
from agentflow.vendor import parse_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)
SPACE = st.sampled_from(["", " ", "\n", "\t ", "\r\n"])


@given(JSON, SPACE, SPACE)
def test_the_same_value_as_json_loads(value, before, after):
    text = before + json.dumps(value) + after
    assert parse_json(text, "acme", stream=True, object_only=False) == json.loads(text)


@given(st.text(max_size=40))
def test_refuses_what_json_loads_refuses(text):
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(StreamingError, match="not JSON"):
            parse_json(text, "acme", stream=True, object_only=False)
    else:
        assert parse_json(text, "acme", stream=True, object_only=False) == expected


@pytest.mark.parametrize("text", ["[1, 2]", "3", '"x"'])
def test_an_object_is_required_when_asked(text):
    with pytest.raises(StreamingError, match="not a JSON object"):
        parse_json(text, "acme", stream=True)


def test_trailing_data_is_refused():
    with pytest.raises(StreamingError, match="not JSON"):
        parse_json('{"a": 1} {"b": 2}', "acme", stream=True)
