"""JSON Schema from Python types, and locating where a value departs from a schema."""

from __future__ import annotations

import datetime
import enum
from typing import Annotated, Any, Literal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow._content.typeschema import first_mismatch, is_strict, schema_of, snake_case
from agentflow.testing.fake import example_instance


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Point:
    """A point on a plane."""

    x: float
    y: float = attrs.field(default=0.0, metadata={"description": "height"})


@attrs.frozen
class Shape:
    name: str
    corners: list[Point]
    colour: Colour
    tags: dict[str, int] = attrs.field(factory=dict)
    note: str | None = None


@attrs.frozen
class Node:
    children: list[Node]


@pytest.mark.parametrize(("hint", "schema"), [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (type(None), {"type": "null"}),
    (Any, {}),
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
    (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
    (tuple[int, str], {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
                       "items": False, "minItems": 2, "maxItems": 2}),
    (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
    (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
    (Literal[1, "a"], {"enum": [1, "a"]}),
    (Colour, {"type": "string", "enum": ["red", "blue"]}),
    (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
    (datetime.datetime, {"type": "string", "format": "date-time"}),
    (Annotated[int, "how many"], {"type": "integer", "description": "how many"}),
])
def test_schema_of_each_kind_of_type(hint: Any, schema: dict[str, Any]) -> None:
    assert schema_of(hint) == schema


def test_attrs_class_is_a_closed_object_with_its_required_fields() -> None:
    schema = schema_of(Point)
    assert schema == {
        "type": "object", "description": "A point on a plane.",
        "properties": {"x": {"type": "number"},
                       "y": {"type": "number", "description": "height"}},
        "required": ["x"], "additionalProperties": False}
    assert not is_strict(schema)  # y is optional


def test_nested_classes_are_inlined() -> None:
    schema = schema_of(Shape)
    assert schema["properties"]["corners"]["items"]["properties"]["x"] == {"type": "number"}
    assert schema["required"] == ["name", "corners", "colour"]


@pytest.mark.parametrize("hint", [Node, dict[int, str], object.__new__, complex])
def test_types_that_cannot_be_described_are_refused(hint: Any) -> None:
    with pytest.raises(TypeError):
        schema_of(hint)


def test_strict_schemas_are_recognised() -> None:
    closed = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    assert is_strict(closed)
    assert not is_strict({**closed, "required": []})
    assert not is_strict({**closed, "additionalProperties": True})
    assert not is_strict({"type": "object", "properties": {"a": {**closed, "required": []}},
                          "required": ["a"], "additionalProperties": False})


@pytest.mark.parametrize(("name", "snake"), [
    ("WeatherReport", "weather_report"), ("HTTPStatus", "http_status"), ("lower", "lower"),
    ("ABC", "abc")])
def test_snake_case(name: str, snake: str) -> None:
    assert snake_case(name) == snake


@pytest.mark.parametrize(("value", "where", "what"), [
    ({"name": "t", "corners": [{"x": "1"}], "colour": "red"}, "$.corners[0].x",
     'expected number, got "1"'),
    ({"name": "t", "corners": [], "colour": "green"}, "$.colour", "expected one of"),
    ({"name": "t", "colour": "red"}, "$.corners", "is required but missing"),
    ({"name": "t", "corners": [], "colour": "red", "size": 3}, "$.size",
     "is not a known property"),
    ({"name": "t", "corners": [], "colour": "red", "tags": {"a": 1.5}}, "$.tags.a",
     "expected integer"),
    ({"name": True, "corners": [], "colour": "red"}, "$.name", "expected string"),
    ([], "$", "expected object"),
])
def test_first_mismatch_is_located(value: Any, where: str, what: str) -> None:
    found = first_mismatch(value, schema_of(Shape))
    assert found is not None
    assert found[0] == where
    assert what in found[1]


def test_numbers_follow_json_rules() -> None:
    assert first_mismatch(2.0, {"type": "integer"}) is None
    assert first_mismatch(True, {"type": "integer"}) is not None
    assert first_mismatch(1, {"enum": [1.0]}) is None
    assert first_mismatch(True, {"enum": [1]}) is not None
    assert first_mismatch(5, {"type": "integer", "maximum": 4}) == (
        "$", "expected at most 4, got 5")
    assert first_mismatch(None, {"type": "string", "nullable": True}) is None


_HINTS = st.sampled_from([int, float, str, bool, list[int], dict[str, str], Point, Shape,
                          int | None, Literal["x", "y"], tuple[int, str], Colour])


@given(_HINTS)
def test_an_example_of_any_schema_matches_it(hint: Any) -> None:
    schema = schema_of(hint)
    assert first_mismatch(example_instance(schema), schema) is None


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=10))
def test_a_value_never_departs_from_the_empty_schema_and_always_from_false(value: Any) -> None:
    assert first_mismatch(value, {}) is None
    assert first_mismatch(value, False) == ("$", "is not allowed here")
