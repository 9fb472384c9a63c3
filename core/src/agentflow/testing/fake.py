"""The vocabulary vendor plugins use to emulate their API on the fake provider server.

A plugin's ``agentflow_fake_routes`` hook returns :class:`FakeProvider` entries. Each route
handler receives a :class:`FakeCall` (the parsed request plus the :class:`Reply` scripted for it)
and returns one of :class:`FakeJSON`, :class:`FakeStream` or :class:`FakeRaw`. The server, not
the handler, applies the generic faults a :class:`Reply` asks for: a delay before answering,
a delay between stream events, a connection cut after K events, a malformed body. So a handler
only has to say what its vendor would send.

Nothing here imports a web server; :mod:`agentflow.testing.server` does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["FakeCall", "FakeJSON", "FakeProvider", "FakeRaw", "FakeRoute", "FakeStream",
           "FakeToolCall", "Reply", "describe_image", "example_instance", "tool_result_text"]


@attrs.frozen(kw_only=True)
class FakeToolCall:
    """A tool call a scripted :class:`Reply` makes the emulated model ask for.

    ``arguments`` is sent as the vendor sends arguments (JSON text, or an object for Gemini);
    ``raw_arguments``, when given, is sent as the text instead, even if it is not valid JSON
    (for vendors that send text). ``id`` defaults to one the emulation makes up.
    """

    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)
    raw_arguments: str | None = None
    id: str | None = None

    def arguments_text(self) -> str:
        """The arguments as the JSON text to send."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)


def _calls(calls: Iterable[FakeToolCall]) -> tuple[FakeToolCall, ...]:
    return tuple(calls)


@attrs.frozen(kw_only=True)
class Reply:
    """What the fake server should do with one request, scripted by a test or the demo.

    ``text=None`` answers with a deterministic echo of the last user message. A ``status`` of
    400 or more makes the vendor's handler answer with its vendor's error body, carrying
    ``error_message`` and ``error_type``; ``retry_after`` adds a Retry-After header (seconds).
    ``chunks`` splits a streamed answer into that many content events (default: one per word).
    ``delay`` waits before the response starts, ``chunk_delay`` between stream events.
    ``cut_after`` aborts the connection after that many stream events (or, for a non-stream
    answer, after half of the body). ``malformed`` sends a body (or one stream event) that is
    not valid JSON. ``error_after`` makes a streamed answer end, after that many content events,
    with the vendor's in-stream error event (``error_type`` and ``error_message``; for vendors
    that have one, e.g. Anthropic's ``overloaded_error``); the vendor's handler applies it.
    ``finish_reason`` is the vendor's raw value to report; ``usage`` overrides the token counts
    the handler would compute, as (prompt_tokens, completion_tokens).

    ``tool_calls`` makes the answer ask for those calls (after ``text``, if any, and with the
    vendor's tool-call finish reason); a stream sends each call's arguments in ``chunks``
    pieces (default 3). Without scripted calls, the emulations behave as a model that must
    obey the request: a ``required`` or named ``tool_choice`` gets a call to that tool (or the
    first) with :func:`example_instance` arguments; a requested output schema gets an
    :func:`example_instance` of it as the answer; after tool results, the echo is
    :func:`tool_result_text`; images in the last user message are echoed as
    :func:`describe_image` after the text.

    **The emulation contract.** A vendor's emulation (its ``agentflow_fake_routes`` handlers)
    keeps these rules, and the conformance suite (:mod:`agentflow.testing.conformance`) relies
    on them:

    - the answer is ``reply.text_for(<the last user message's text>)``, cut by
      :func:`cut_answer` at ``max_tokens`` words (reported with the vendor's length reason) and
      where the first stop sequence starts;
    - one token per whitespace-separated word (:func:`count_tokens`), the prompt's counted over
      every input message; ``reply.usage``, when scripted, is reported instead;
    - ``reply.finish_reason``, when scripted, is reported as given (the vendor's raw word);
      otherwise the vendor's normal stop word, or its length word when the answer was cut;
    - a stream sends one content event per piece of ``reply.split(text)``, then the vendor's
      closing event(s) with the finish reason and the usage;
    - a ``status`` of 400 or more is answered with that status and the vendor's error body
      holding ``error_message`` (and ``error_type`` where the vendor has one), the
      :func:`retry_after_header` of the reply, and the request-id header the vendor sends;
    - ``error_after`` ends a stream, after that many content events, with the vendor's
      in-stream error event holding ``error_message`` (and ``error_type``);
    - a request without the vendor's key header is refused as the vendor refuses it (401);
    - the generic faults (``delay``, ``chunk_delay``, ``cut_after``, ``malformed``) are the
      server's: a handler never applies them.
    """

    text: str | None = None
    status: int = 200
    error_message: str = "scripted failure"
    error_type: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    chunks: int | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    malformed: bool = False
    error_after: int | None = None
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None
    tool_calls: Sequence[FakeToolCall] = attrs.field(default=(), converter=_calls)

    def text_for(self, prompt: str) -> str:
        """The answer text: the scripted one, or an echo of ``prompt``."""
        if self.text is not None:
            return self.text
        return f"You said: {prompt}" if prompt else "Hello from the fake server."

    def split(self, text: str) -> list[str]:
        """``text`` cut into the stream pieces this reply asks for; joined, they give ``text``."""
        if not text:
            return []
        if self.chunks is None:
            words = text.split(" ")
            return [word if i == 0 else " " + word for i, word in enumerate(words)]
        count = max(1, min(self.chunks, len(text)))
        size, extra = divmod(len(text), count)
        pieces, start = [], 0
        for i in range(count):
            end = start + size + (1 if i < extra else 0)
            pieces.append(text[start:end])
            start = end
        return pieces


def example_instance(schema: Mapping[str, Any] | bool) -> Any:
    """A small, deterministic JSON value that matches ``schema``, as a model obeying it would
    write: every property present, enums' first option, numbers within their bounds, one item
    per array (or the minimum)."""
    if not isinstance(schema, Mapping):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        typed = [option for option in options if option.get("type") != "null"]
        return example_instance(typed[0] if typed else options[0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return {name: example_instance(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        prefix = schema.get("prefixItems")
        if prefix:
            return [example_instance(sub) for sub in prefix]
        count = max(1, schema.get("minItems", 1))
        return [example_instance(schema.get("items", {})) for _ in range(count)]
    if kind == "string":
        formats = {"date-time": "2026-01-02T03:04:05+00:00", "date": "2026-01-02",
                   "time": "03:04:05"}
        text = formats.get(schema.get("format", ""), "example")
        return text.ljust(schema.get("minLength", 0), "x")
    if kind in ("integer", "number"):
        low = schema.get("minimum", 1)
        high = schema.get("maximum")
        value = low if high is None or low <= high else high
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "example"


def describe_image(media_type: str | None, data: bytes | None = None,
                   url: str | None = None) -> str:
    """How the emulations echo an image: ``[image/png, 68 bytes, sha256:1a2b3c4d]`` for bytes,
    ``[image at https://...]`` for a URL, so a test sees exactly what reached the vendor."""
    if data is not None:
        digest = hashlib.sha256(data).hexdigest()[:8]
        return f"[{media_type}, {len(data)} bytes, sha256:{digest}]"
    return f"[image at {url}]"


def tool_result_text(results: Sequence[tuple[str, str]]) -> str:
    """How the emulations answer after tool results, given ``(tool name, result)`` pairs:
    ``Tool results: get_weather -> sunny; add -> 5``."""
    listed = "; ".join(f"{name} -> {content}" for name, content in results)
    return f"Tool results: {listed}"


@attrs.frozen(kw_only=True)
class FakeCall:
    """One request as a route handler sees it."""

    provider: str
    method: str
    path: str
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    json: Any
    reply: Reply


@attrs.frozen(kw_only=True)
class FakeJSON:
    """A JSON response."""

    body: Any
    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class FakeRaw:
    """A response with a body sent as given."""

    body: bytes
    status: int = 200
    content_type: str = "application/octet-stream"
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class FakeStream:
    """A ``text/event-stream`` response: each item of ``events`` is one SSE event.

    An item is either a ``data`` payload (``str``: sent as ``data: <payload>``) or an
    ``(event_name, data)`` pair. ``malformed_event`` is what replaces an event's data when the
    reply asks for a malformed stream.
    """

    events: Sequence[str | tuple[str, str]]
    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    malformed_event: str = '{"truncated": '


FakeResponse = FakeJSON | FakeRaw | FakeStream
Handler = Callable[[FakeCall], Awaitable[FakeResponse]]


@attrs.frozen(kw_only=True)
class FakeRoute:
    """One endpoint: ``path`` may hold ``{name}`` placeholders (a whole path segment, or the
    part before a ``:`` as in Gemini's ``/models/{model}:generateContent``)."""

    method: str
    path: str
    handler: Handler


@attrs.frozen(kw_only=True)
class FakeProvider:
    """A vendor emulation. Mounted at ``/<provider><base_path>`` on the fake server, so that
    the provider's ``base_url`` there is ``<server url>/<provider><base_path>``."""

    provider: str
    base_path: str
    routes: Iterable[FakeRoute]
