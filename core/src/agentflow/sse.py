"""Incremental server-sent events decoding, per the WHATWG event-stream rules.

Feed bytes as they arrive, in any split: lines may end with LF, CR or CRLF (a CR at the end of
one piece and an LF at the start of the next are one line end), and a UTF-8 character may be cut
between pieces.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator

__all__ = ["EventTooLargeError", "SSEDecoder", "ServerSentEvent", "aiter_sse"]

#: The largest event (its data, or one line) a decoder holds by default: 16 MiB of text.
MAX_EVENT_SIZE = 16 * 1024 * 1024


class EventTooLargeError(ValueError):
    """An event, or a line, grew past the decoder's ``max_event_size`` before it ended."""


class ServerSentEvent:
    """One dispatched event: ``event`` (``"message"`` by default), ``data``, the last event
    ``id`` and ``retry`` (milliseconds) when the stream set them."""

    __slots__ = ("data", "event", "id", "retry")

    def __init__(self, data: str = "", event: str = "message", id: str | None = None,
                 retry: int | None = None) -> None:
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    def __repr__(self) -> str:
        return (f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, "
                f"retry={self.retry!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (self.data, self.event, self.id, self.retry) == (
            other.data, other.event, other.id, other.retry)

    __hash__ = None  # type: ignore[assignment]


class SSEDecoder:
    """Turns a byte stream into :class:`ServerSentEvent` objects as complete events arrive.

    A stream that never ends its line or its event cannot make the decoder hold more than
    ``max_event_size`` characters: it raises :class:`EventTooLargeError` instead.
    """

    def __init__(self, max_event_size: int | None = None) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max = MAX_EVENT_SIZE if max_event_size is None else max_event_size
        self._size = 0  # characters of data held for the event being read
        self._tail = ""  # text after the last line end
        self._parts: list[str] = []  # pieces of a long line still waiting for its end
        self._started = False
        self._skip_lf = False  # the previous piece ended in CR: a leading LF is part of it
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._dirty = False

    @property
    def pending(self) -> bool:
        """Whether fields or a partial line are waiting for a blank line that has not come."""
        return self._dirty or bool(self._tail) or bool(self._parts)

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return the events it completed (often none or one)."""
        text = self._utf8.decode(chunk)
        if not self._started and text:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf and text:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        if not text:
            return []
        if "\n" not in text and "\r" not in text:  # more of a line: keep it, join it later
            self._parts.append(text)
            held = len(self._tail) + sum(map(len, self._parts))
            if held > self._max:
                raise EventTooLargeError(f"a line of more than {self._max} characters")
            return []
        if self._parts:
            self._tail += "".join(self._parts)
            self._parts.clear()
        text = self._tail + text
        if text[-2:] == "\n\n" and not self._dirty and "\r" not in text:
            self._tail = ""
            return self._whole_events(text)
        if "\r" in text:
            if text[-1] == "\r":
                self._skip_lf = True
            lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        else:
            lines = text.split("\n")
        self._tail = lines.pop()
        if len(self._tail) > self._max:
            raise EventTooLargeError(f"a line of more than {self._max} characters")
        events: list[ServerSentEvent] = []
        self._take_lines(lines, events)
        return events

    def _take_lines(self, lines: list[str], events: list[ServerSentEvent]) -> None:
        """Each line a field, each blank line the end of an event (appended to ``events``)."""
        for line in lines:
            if line:
                self._field(line)
            else:
                self._dispatch(events)

    def _whole_events(self, text: str) -> list[ServerSentEvent]:
        """The events of ``text``: whole events after whole events, LF line ends only (what a
        read of a vendor's stream almost always holds). An event of one ``data: `` line is
        taken whole; any other goes line by line."""
        events: list[ServerSentEvent] = []
        for block in text[:-2].split("\n\n"):
            if block.startswith("data: ") and "\n" not in block:
                data = block[6:]
                if len(data) > self._max:
                    raise EventTooLargeError(f"an event of more than {self._max} characters")
                events.append(ServerSentEvent(data, "message", self._last_id, self._retry))
                continue
            self._take_lines(block.split("\n"), events)
            self._dispatch(events)
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of stream. Per the rules an event not closed by a blank line is discarded;
        check :attr:`pending` first to know whether one was."""
        self._utf8.decode(b"", final=True)
        self._tail = ""
        self._parts.clear()
        self._size = 0
        self._data.clear()
        self._event = ""
        self._dirty = False
        return []

    def _field(self, line: str) -> None:
        if line[0] == ":":
            return
        self._dirty = True
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._size += len(value)
            if self._size > self._max:
                raise EventTooLargeError(f"an event of more than {self._max} characters")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        self._dirty = False
        data = self._data
        if not data:
            self._event = ""
            self._size = 0
            return
        events.append(ServerSentEvent("\n".join(data), self._event or "message",
                                      self._last_id, self._retry))
        self._data = []
        self._size = 0
        self._event = ""


async def aiter_sse(byte_iter: AsyncIterator[bytes]) -> AsyncIterator[ServerSentEvent]:
    """The events of an async iterator of bytes (``response.aiter_bytes()``, say)."""
    decoder = SSEDecoder()
    async for chunk in byte_iter:
        for event in decoder.feed(chunk):
            yield event
    decoder.close()
