"""The SSE decoder against the WHATWG event-stream rules, and under every chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow.sse import EventTooLargeError, ServerSentEvent, SSEDecoder, aiter_sse


def decode(*pieces: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    return events + decoder.close()


def test_data_event_and_default_type():
    assert decode(b"data: hello\n\n") == [ServerSentEvent("hello")]


def test_event_name_id_and_retry():
    events = decode(b"event: delta\nid: 7\nretry: 1500\ndata: x\n\n")
    assert events == [ServerSentEvent("x", "delta", "7", 1500)]


def test_multi_line_data_joined_with_newlines():
    assert decode(b"data: a\ndata:\ndata: c\n\n") == [ServerSentEvent("a\n\nc")]


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending(ending):
    stream = ending.join([b"data: one", b"", b"data: two", b"", b""])
    assert [e.data for e in decode(stream)] == ["one", "two"]


def test_crlf_split_between_feeds_is_one_line_end():
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [
        ServerSentEvent("a"), ServerSentEvent("b")]


def test_comments_are_ignored_and_do_not_dispatch():
    assert decode(b": keep-alive\n\n:another\ndata: x\n\n") == [ServerSentEvent("x")]


def test_only_one_leading_space_is_removed():
    assert decode(b"data:  two spaces\n\n")[0].data == " two spaces"
    assert decode(b"data:none\n\n")[0].data == "none"


def test_line_without_colon_is_a_field_with_empty_value():
    assert decode(b"data\n\n") == [ServerSentEvent("")]


def test_event_without_data_dispatches_nothing_and_resets_the_type():
    assert decode(b"event: ping\n\ndata: x\n\n") == [ServerSentEvent("x")]


def test_last_event_id_persists_and_nul_ids_are_ignored():
    events = decode(b"id: 1\ndata: a\n\ndata: b\n\nid: bad\0id\ndata: c\n\n")
    assert [e.id for e in events] == ["1", "1", "1"]


def test_retry_must_be_all_digits():
    assert decode(b"retry: 12a\ndata: x\n\n")[0].retry is None


def test_unknown_fields_are_ignored():
    assert decode(b"foo: bar\ndata: x\n\n") == [ServerSentEvent("x")]


def test_leading_bom_is_stripped_once():
    # A BOM later in the stream is part of the field name, so that line is an unknown field.
    assert decode(b"\xef\xbb\xbfdata: x\n\n", b"\xef\xbb\xbfdata: y\n\n") == [
        ServerSentEvent("x")]


def test_utf8_character_split_across_feeds():
    encoded = "data: 日本語 🎉\n\n".encode()
    for cut in range(len(encoded)):
        assert decode(encoded[:cut], encoded[cut:]) == [ServerSentEvent("日本語 🎉")]


def test_invalid_utf8_is_replaced():
    assert decode(b"data: \xff\n\n")[0].data == "\ufffd"


def test_unterminated_event_at_end_is_discarded_but_reported_pending():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete\n\ndata: cut") == [ServerSentEvent("complete")]
    assert decoder.pending
    assert decoder.close() == []


def test_nothing_pending_after_a_clean_end():
    decoder = SSEDecoder()
    decoder.feed(b"data: x\n\n: trailing comment\n")
    assert not decoder.pending


@pytest.mark.anyio
async def test_aiter_sse_over_an_async_byte_source():
    async def source():
        for piece in (b"data: a\n", b"\ndata: ", b"b\n\n"):
            yield piece

    assert [e.data async for e in aiter_sse(source())] == ["a", "b"]


# properties -----------------------------------------------------------------------------------

line_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"),
                    max_size=20)
field_value = line_text.filter(lambda s: not s.startswith(" "))
events = st.lists(st.tuples(
    st.one_of(st.none(), st.text(st.characters(min_codepoint=97, max_codepoint=122),
                                 min_size=1, max_size=8)),
    st.lists(field_value, min_size=1, max_size=4),
    st.one_of(st.none(), field_value),
    st.booleans(),
), max_size=8)
endings = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def streams(draw):
    """A serialised stream (with random line endings and comments) and its expected events."""
    lines: list[str] = []
    expected: list[ServerSentEvent] = []
    last_id = None
    for name, data_lines, event_id, comment in draw(events):
        if comment:
            lines.append(": " + draw(line_text))
        if name is not None:
            lines.append(f"event: {name}")
        if event_id is not None:
            lines.append(f"id: {event_id}")
            last_id = event_id
        lines.extend(f"data: {value}" for value in data_lines)
        lines.append("")
        expected.append(ServerSentEvent("\n".join(data_lines), name or "message", last_id))
    parts: list[str] = []
    previous = ""
    for line in lines:
        ending = draw(endings)
        if previous == "\r" and not line and ending == "\n":
            ending = "\r"  # CR then LF would be one CRLF line end, not two
        parts.append(line + ending)
        previous = ending
    return "".join(parts).encode(), expected


@given(streams(), st.lists(st.integers(min_value=0), max_size=12))
def test_any_chunking_decodes_to_the_same_events(stream, cuts):
    data, expected = stream
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert decode(*pieces) == expected
    assert decode(data) == expected


@given(streams())
def test_byte_by_byte_equals_one_piece(stream):
    data, expected = stream
    assert decode(*(data[i:i + 1] for i in range(len(data)))) == expected


def test_a_long_line_in_many_pieces_is_joined_once():
    decoder = SSEDecoder()
    pieces = ["data: "] + ["x" * 1000] * 2000
    events = [event for piece in pieces for event in decoder.feed(piece.encode())]
    events += decoder.feed(b"\n\n")
    assert [len(event.data) for event in events] == [2_000_000]


def test_a_line_that_never_ends_is_refused_past_the_limit():
    decoder = SSEDecoder(max_event_size=100)
    decoder.feed(b"data: " + b"x" * 90)
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"x" * 20)


def test_an_event_that_never_ends_is_refused_past_the_limit():
    decoder = SSEDecoder(max_event_size=100)
    decoder.feed(b"data: " + b"y" * 60 + b"\n")
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: " + b"y" * 60 + b"\n")


def test_the_limit_is_per_event():
    decoder = SSEDecoder(max_event_size=100)
    events = []
    for _ in range(10):
        events += decoder.feed(b"data: " + b"z" * 80 + b"\n\n")
    assert len(events) == 10


@given(streams(), st.data())
def test_events_fed_one_by_one_with_lf_ends_decode_as_in_one_piece(stream, data):
    # A vendor's read: whole events, LF line ends (the decoder's fast path), here mixed with
    # comments, names, ids and multi-line data, and sometimes a piece that splits an event.
    raw, expected = stream
    text = raw.decode().replace("\r\n", "\n").replace("\r", "\n")
    blocks = [block + "\n\n" for block in text.split("\n\n")[:-1]]
    pieces: list[bytes] = []
    for block in blocks:
        if data.draw(st.booleans()) and len(block) > 3:
            cut = data.draw(st.integers(min_value=1, max_value=len(block) - 1))
            pieces += [block[:cut].encode(), block[cut:].encode()]
        else:
            pieces.append(block.encode())
    assert b"".join(pieces) == text.encode()
    assert decode(*pieces) == decode(text.encode())
    assert [event.data for event in decode(*pieces)] == [event.data for event in expected]


def test_the_id_and_retry_of_earlier_events_carry_over_to_whole_events():
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 7\nretry: 1500\ndata: a\n\n") == [
        ServerSentEvent("a", "message", "7", 1500)]
    assert decoder.feed(b"data: b\n\ndata: c\n\n") == [
        ServerSentEvent("b", "message", "7", 1500), ServerSentEvent("c", "message", "7", 1500)]
    assert decoder.feed(b"data:d\n\nevent: x\ndata: e\n\n") == [
        ServerSentEvent("d", "message", "7", 1500), ServerSentEvent("e", "x", "7", 1500)]


def test_a_whole_event_too_large_is_refused():
    decoder = SSEDecoder(max_event_size=100)
    assert [len(e.data) for e in decoder.feed(b"data: " + b"x" * 100 + b"\n\n")] == [100]
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: " + b"x" * 101 + b"\n\n")


def test_a_piece_ending_an_event_begun_earlier_completes_it():
    decoder = SSEDecoder()
    assert decoder.feed(b"event: delta\n") == []
    assert decoder.feed(b"data: a\n\n") == [ServerSentEvent("a", "delta")]
    assert decoder.feed(b"data: par") == []
    assert decoder.feed(b"t\n\n") == [ServerSentEvent("part")]
