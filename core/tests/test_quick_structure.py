"""The quick structuring of a configuration gives what the cattrs converter gives, or steps
aside: it never accepts what the converter refuses."""

from __future__ import annotations

from collections.abc import Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow.config import Config
from agentflow.config._structure import _class_plan, _converter, _quick_structure

ODD_VALUES = st.sampled_from([None, True, 0, -1, 1.5, float("inf"), "", " ", "x", "httpx",
                              "http://127.0.0.1:8000/v1", [], ["a"], ["a", "a"], {}, {"k": 1}])


def values_of(type_: Any) -> st.SearchStrategy[Any]:
    """Mostly well-typed values of ``type_``, sometimes anything."""
    return st.one_of(_typed(type_), _typed(type_), _typed(type_), ODD_VALUES)


def _typed(type_: Any) -> st.SearchStrategy[Any]:
    if type_ is bool:
        return st.booleans()
    if type_ is int:
        return st.integers(-2, 100_000)
    if type_ is float:
        return st.one_of(st.integers(-1, 100), st.floats(-1, 300, allow_nan=False))
    if type_ is str:
        return st.sampled_from(["openai", "httpx", "aiohttp", "OPENAI_API_KEY", "gpt-4o",
                                "http://127.0.0.1:8000/v1", "https://example.com", " "])
    if type_ is Any:
        return ODD_VALUES
    if isinstance(type_, type) and attrs.has(type_):
        return sections(type_)
    origin, args = get_origin(type_), get_args(type_)
    if origin in (UnionType, Union):
        return st.one_of(*(st.none() if arg is type(None) else values_of(arg) for arg in args))
    if origin in (Mapping, dict):
        return st.dictionaries(st.sampled_from(["a", "gpt-4o", "openai"]), values_of(args[1]),
                               max_size=2)
    if origin is tuple:
        return st.lists(values_of(args[0]), max_size=3)
    raise AssertionError(f"no strategy for {type_!r}")  # pragma: no cover


def sections(cls: type) -> st.SearchStrategy[Any]:
    fields, _ = _class_plan(cls)

    @st.composite
    def section(draw: st.DrawFn) -> dict[str, Any]:
        keys = draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True))
        found = {key: draw(values_of(fields[key][1])) for key in keys}
        if draw(st.integers(0, 9)) == 0:
            found["unknown_key"] = 1
        return found

    return st.deferred(section)


def assert_agrees(data: Any) -> bool:
    """Whether the quick path structured ``data``; if so, cattrs gives an equal Config."""
    try:
        quick = _quick_structure(data, Config)
    except Exception:
        return False
    slow = _converter().structure(data, Config)
    assert quick == slow
    assert repr(quick) == repr(slow)
    return True


@given(sections(Config))
def test_the_quick_path_agrees_with_cattrs_or_steps_aside(data):
    assert_agrees(data)


@pytest.mark.parametrize("data", [
    {},
    {"providers": {"openai": {"base_url": "http://127.0.0.1:8000/v1", "timeout_seconds": 5}},
     "defaults": {"transport": "httpx", "timeout_seconds": 120}},
    {"models": {"fast": {"vendor": "openai", "model_id": "gpt-4o-mini", "temperature": 1,
                         "fallbacks": ["gpt-4o"], "options": {"seed": 1},
                         "pricing": {"input_per_million": 1, "output_per_million": 2}}},
     "plugins": {"guard": {"max_prompt_chars": 100}}, "observability": {"include_text": True}},
])
def test_typical_files_take_the_quick_path(data):
    assert assert_agrees(data)
