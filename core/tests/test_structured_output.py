"""Structured answers: the schema asked for, and the answer read, checked and structured."""

from __future__ import annotations

import datetime
import json
from typing import Any, Literal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow._api.structured import (
    output_schema_for_json,
    output_schema_for_type,
    parse_output,
)
from agentflow.errors import ValidationError
from agentflow.testing.fake import example_instance


@attrs.frozen
class Item:
    name: str
    price: float


@attrs.frozen
class Invoice:
    """An invoice."""

    number: int
    items: list[Item]
    status: Literal["open", "paid"]
    due: datetime.date
    note: str | None = None


def test_the_schema_of_a_class() -> None:
    output = output_schema_for_type(Invoice)
    assert output.name == "invoice"
    assert output.description == "An invoice."
    assert output.schema["required"] == ["number", "items", "status", "due"]
    assert not output.strict
    assert output_schema_for_type(Item, name="line").name == "line"
    assert output_schema_for_type(Item).strict


def test_an_answer_is_structured_into_the_class() -> None:
    text = json.dumps({"number": 7, "items": [{"name": "tea", "price": 2}], "status": "paid",
                       "due": "2026-12-01"})
    invoice = parse_output(text, output_schema_for_type(Invoice), Invoice)
    assert invoice == Invoice(number=7, items=[Item(name="tea", price=2.0)], status="paid",
                              due=datetime.date(2026, 12, 1))


def test_a_fenced_answer_is_read() -> None:
    text = '```json\n{"name": "tea", "price": 1.5}\n```'
    assert parse_output(text, output_schema_for_type(Item), Item) == Item("tea", 1.5)


@pytest.mark.parametrize(("answer", "path"), [
    ({"number": 7, "items": [{"name": "tea", "price": "2"}], "status": "paid",
      "due": "2026-12-01"}, "$.items[0].price"),
    ({"number": 7, "items": [], "status": "late", "due": "2026-12-01"}, "$.status"),
    ({"number": 7, "items": [], "status": "paid"}, "$.due"),
    ({"number": 7, "items": [], "status": "paid", "due": "someday"}, "$"),
])
def test_an_answer_that_does_not_fit_names_where(answer: dict[str, Any], path: str) -> None:
    text = json.dumps(answer)
    with pytest.raises(ValidationError) as caught:
        parse_output(text, output_schema_for_type(Invoice), Invoice, model="m")
    assert caught.value.path == path
    assert caught.value.answer == text
    assert "invoice" in str(caught.value)


def test_an_answer_that_is_not_json() -> None:
    with pytest.raises(ValidationError, match="not JSON") as caught:
        parse_output("Sure! Here it is", output_schema_for_type(Item), Item)
    assert caught.value.answer == "Sure! Here it is"


def test_json_schema_gives_the_value() -> None:
    output = output_schema_for_json({"type": "object", "properties": {"n": {"type": "integer"}},
                                     "required": ["n"], "additionalProperties": False})
    assert output.strict
    assert output.name == "answer"
    assert parse_output('{"n": 3}', output, None) == {"n": 3}


@pytest.mark.parametrize(("schema", "message"), [
    ({"type": "array"}, "object at its root"), ([], "mapping")])
def test_json_schema_must_be_an_object_schema(schema: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        output_schema_for_json(schema)


def test_output_type_must_be_an_attrs_class() -> None:
    with pytest.raises(ValidationError, match="attrs class"):
        output_schema_for_type(dict)


@given(st.builds(Item, name=st.text(max_size=10),
                 price=st.floats(allow_nan=False, allow_infinity=False)))
def test_any_instance_round_trips(item: Item) -> None:
    text = json.dumps(attrs.asdict(item))
    assert parse_output(text, output_schema_for_type(Item), Item) == item


def test_the_fake_servers_example_answer_fits() -> None:
    output = output_schema_for_type(Invoice)
    parsed = parse_output(json.dumps(example_instance(output.schema)), output, Invoice)
    assert isinstance(parsed, Invoice)
