"""Tool definitions from Python, argument parsing, stream assembly, and running tools."""

from __future__ import annotations

import json
from typing import Literal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow._content.tools import invoke, parse_arguments, result_text, valid_tool_name
from agentflow.errors import ProviderError, StreamingError, ToolError, ValidationError
from agentflow.types import Message, Tool, ToolCall, ToolCallAssembler


def search(query: str, limit: int = 5, sort: Literal["new", "top"] = "top") -> list[str]:
    """Search the archive.

    Longer explanation that is not part of the description.

    :param query: what to look for
    :param limit: how many results
    """
    return [query] * limit


def google_style(city: str, when: str | None = None) -> str:
    """Look up the weather.

    Args:
        city: The city, e.g. Paris.
        when (str): ISO date; today if not given.
    """
    return city


@attrs.frozen
class Booking:
    """Book a table."""

    restaurant: str
    guests: int = 2


def test_tool_from_a_function() -> None:
    tool = Tool.from_function(search)
    assert tool.name == "search"
    assert tool.description == "Search the archive."
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "what to look for"},
            "limit": {"type": "integer", "description": "how many results"},
            "sort": {"type": "string", "enum": ["new", "top"]},
        },
        "required": ["query"], "additionalProperties": False}
    assert tool.function is search


def test_google_style_docstrings_describe_parameters() -> None:
    properties = Tool.from_function(google_style).parameters["properties"]
    assert properties["city"]["description"] == "The city, e.g. Paris."
    assert properties["when"]["description"] == "ISO date; today if not given."


def test_name_and_description_can_be_given() -> None:
    tool = Tool.from_function(search, name="archive_search", description="Find things.")
    assert (tool.name, tool.description) == ("archive_search", "Find things.")


def test_tool_from_an_attrs_class() -> None:
    tool = Tool.from_type(Booking)
    assert tool.name == "booking"
    assert tool.description == "Book a table."
    assert tool.parameters["required"] == ["restaurant"]
    assert "description" not in tool.parameters
    assert tool.arguments_type is Booking


def untyped(city):  # type: ignore[no-untyped-def]
    return city


def variadic(*cities: str) -> None:
    pass


@pytest.mark.parametrize(("build", "message"), [
    (lambda: Tool.from_function(untyped), "needs a type hint"),
    (lambda: Tool.from_function(variadic), "*cities"),
    (lambda: Tool.from_function(search, name="has space"), "not accepted by every vendor"),
    (lambda: Tool.from_function(search, name="9lives"), "not accepted by every vendor"),
    (lambda: Tool.from_type(dict), "attrs class"),
    (lambda: Tool.from_function(lambda x: x), "not accepted"),  # "<lambda>"
])
def test_functions_that_cannot_be_tools_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("*", r"\*")):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(("name", "valid"), [
    ("get_weather", True), ("a", True), ("_x-1", True), ("x" * 64, True), ("x" * 65, False),
    ("", False), ("1x", False), ("a.b", False), (None, False)])
def test_valid_tool_names(name: object, valid: bool) -> None:
    assert valid_tool_name(name) is valid


# --- arguments -----------------------------------------------------------------------------


def test_arguments_are_parsed() -> None:
    assert parse_arguments('{"a": 1}', tool="t", provider="p") == {"a": 1}
    assert parse_arguments("  ", tool="t", provider="p") == {}


@pytest.mark.parametrize(("raw", "stream", "kind"), [
    ('{"a": ', False, ProviderError), ("[1, 2]", False, ProviderError),
    ('{"a": ', True, StreamingError)])
def test_unusable_arguments_keep_the_raw_text(raw: str, stream: bool, kind: type) -> None:
    with pytest.raises(kind) as caught:
        parse_arguments(raw, tool="lookup", provider="acme", stream=stream)
    assert caught.value.raw_arguments == raw
    assert "lookup" in str(caught.value)
    assert "acme" in str(caught.value)
    assert caught.value.provider is None  # the core fills in the provider entry's name


_ARGUMENTS = st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8)
                             | st.lists(st.booleans(), max_size=3), max_size=4)


@given(st.lists(_ARGUMENTS, min_size=1, max_size=3), st.data())
def test_any_split_of_argument_text_assembles_the_same_calls(
        calls: list[dict[str, object]], data: st.DataObject) -> None:
    assembler = ToolCallAssembler()
    for index, arguments in enumerate(calls):
        text = json.dumps(arguments)
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=6)))
        pieces = [text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)],
                                                        strict=True)]
        assembler.begin(index, id=f"call_{index}", name=f"tool_{index}", arguments=pieces[0])
        for piece in pieces[1:]:
            assembler.append(index, piece)
    done = assembler.complete("acme")
    assert [dict(call.arguments) for call in done] == calls
    assert [call.id for call in done] == [f"call_{i}" for i in range(len(calls))]


def test_whole_calls_and_empty_arguments() -> None:
    assembler = ToolCallAssembler()
    assembler.begin(0, id="a", name="now")
    assembler.add("b", "add", {"x": 1}, extra={"signature": "s"})
    first, second = assembler.complete("acme")
    assert (first.name, first.arguments, first.raw_arguments) == ("now", {}, "{}")
    assert (first.extra, second.extra) == ({}, {"signature": "s"})
    assert (second.name, second.arguments, json.loads(second.raw_arguments)) == (
        "add", {"x": 1}, {"x": 1})


def test_a_second_begin_fills_in_what_the_first_lacked() -> None:
    assembler = ToolCallAssembler()
    assembler.begin(0, id="call_1", name="")
    assembler.begin(0, id="", name="lookup", arguments='{"q":')
    assembler.append(0, '"x"}')
    (call,) = assembler.complete("acme")
    assert (call.id, call.name, call.arguments) == ("call_1", "lookup", {"q": "x"})


def test_fragments_of_a_call_never_started_are_an_error() -> None:
    with pytest.raises(StreamingError, match="never started"):
        ToolCallAssembler().append(3, "{}")


def test_malformed_streamed_arguments_keep_the_raw_text() -> None:
    assembler = ToolCallAssembler()
    assembler.begin("block-1", id="a", name="lookup", arguments='{"q": "unterminated')
    with pytest.raises(StreamingError) as caught:
        assembler.complete("acme")
    assert caught.value.raw_arguments == '{"q": "unterminated'


# --- results and running -------------------------------------------------------------------


def test_results_become_text() -> None:
    assert result_text("plain") == "plain"
    assert json.loads(result_text({"a": [1, 2]})) == {"a": [1, 2]}
    assert json.loads(result_text(Booking(restaurant="Chez"))) == {"restaurant": "Chez",
                                                                   "guests": 2}
    message = Message.tool_result(ToolCall.of("c1", "add", {}), 3, is_error=False)
    assert (message.role, message.content, message.tool_call_id, message.name) == (
        "tool", "3", "c1", "add")


def book(booking: Booking, note: str = "") -> str:
    return f"{booking.restaurant} for {booking.guests}{note}"


async def async_add(a: int, b: int) -> int:
    return a + b


@pytest.mark.anyio
async def test_invoke_structures_arguments_into_parameter_types() -> None:
    tool = Tool.from_function(book)
    call = ToolCall.of("c", "book", {"booking": {"restaurant": "Chez", "guests": 4}})
    assert await invoke(tool, call) == "Chez for 4"


@pytest.mark.anyio
async def test_invoke_awaits_async_functions() -> None:
    assert await invoke(Tool.from_function(async_add), ToolCall.of("c", "a", {"a": 1, "b": 2})) == 3


@pytest.mark.anyio
@pytest.mark.parametrize(("arguments", "message"), [
    ({"a": "one", "b": 2}, "a expected integer"),
    ({"b": 2}, "a is required"),
    ({"a": 1, "b": 2, "c": 3}, "c is not a known property")])
async def test_invoke_refuses_arguments_that_do_not_fit(arguments: dict[str, object],
                                                        message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await invoke(Tool.from_function(async_add), ToolCall.of("c", "async_add", arguments))


@pytest.mark.anyio
async def test_a_tool_without_a_function_cannot_be_invoked() -> None:
    with pytest.raises(ToolError, match="no Python function"):
        await invoke(Tool.from_type(Booking), ToolCall.of("c", "booking", {"restaurant": "x"}))
