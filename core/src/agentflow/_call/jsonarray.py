"""A stream that arrives as one JSON array instead of server-sent events.

Gemini answers ``streamGenerateContent`` without ``alt=sse`` with a JSON array whose elements
are the objects its event stream would have carried, and a proxy may strip the parameter.
:class:`JSONArrayDecoder` splits such a body into its top-level elements as they arrive and
hands each on as a :class:`~agentflow.sse.ServerSentEvent` whose ``data`` is the element's
JSON text, so the vendor plugin parses them as it parses its events.
"""

from __future__ import annotations

import codecs
import re

from agentflow.sse import EventTooLargeError, ServerSentEvent

__all__ = ["JSONArrayDecoder", "NotAnArrayError"]

_IN_STRING = re.compile(r'["\\]')
_OUTSIDE = re.compile(r'["\[\]{},]')


class NotAnArrayError(ValueError):
    """The body is JSON, but not an array; ``head`` is how it starts."""

    def __init__(self, head: str) -> None:
        super().__init__(f"not a JSON array: {head!r}")
        self.head = head


class JSONArrayDecoder:
    """Feed it bytes; it returns the array's elements completed so far, as events."""

    def __init__(self, max_event_size: int | None = None) -> None:
        from agentflow import sse

        self._max = sse.MAX_EVENT_SIZE if max_event_size is None else max_event_size
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._started = False
        self.ended = False
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._parts: list[str] = []
        self._size = 0

    @property
    def started(self) -> bool:
        """Whether the array's ``[`` has arrived."""
        return self._started

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The elements completed by ``chunk``."""
        text = self._text.decode(chunk)
        if not self._started:
            text = text.lstrip()
            if not text:
                return []
            if text[0] != "[":
                raise NotAnArrayError(text[:200])
            self._started = True
            text = text[1:]
        events: list[ServerSentEvent] = []
        position, start, length = 0, 0, len(text)
        while position < length and not self.ended:
            if self._escape:
                self._escape = False
                position += 1
                continue
            if self._in_string:
                found = _IN_STRING.search(text, position)
                if found is None:
                    break
                position = found.end()
                if found.group() == "\\":
                    self._escape = True
                else:
                    self._in_string = False
                continue
            found = _OUTSIDE.search(text, position)
            if found is None:
                break
            mark, position = found.group(), found.end()
            if mark == '"':
                self._in_string = True
            elif mark in "[{":
                self._depth += 1
            elif self._depth > 0 and mark in "]}":
                self._depth -= 1
            elif self._depth == 0 and mark in ",]":
                self._keep(text[start:found.start()])
                start = position
                element = "".join(self._parts).strip()
                self._parts, self._size = [], 0
                if element:
                    events.append(ServerSentEvent(data=element))
                self.ended = mark == "]"
        if not self.ended:
            self._keep(text[start:])
        return events

    def _keep(self, piece: str) -> None:
        self._size += len(piece)
        if self._size > self._max:
            raise EventTooLargeError(f"an array element of more than {self._max} characters")
        self._parts.append(piece)
