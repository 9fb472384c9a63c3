"""Anthropic's Messages API (``POST {base_url}/v1/messages``) as pure functions.

Decisions worth knowing (also in the README):

* System messages go in the top-level ``system`` field (several are joined by a blank line);
  the other turns go in ``messages`` as they are. Consecutive turns of one role are sent as
  they are too: the API combines them into one turn. Tool calls, tool results, images, tools
  and structured output (through a forced *answer tool*) are content blocks: see
  :mod:`agentflow_anthropic._content`.
* ``max_tokens`` is always sent, as the API requires: the call's or the configuration's, else
  the model's ``default_max_tokens`` option, else :data:`~agentflow_anthropic._catalog.
  DEFAULT_MAX_TOKENS`.
* Usage: ``prompt_tokens`` counts every input token, the cache reads and writes included
  (``input_tokens`` alone leaves them out); ``cached_tokens`` is ``cache_read_input_tokens``.
* Stop reasons: ``end_turn`` and ``stop_sequence`` are ``stop``; ``max_tokens`` and
  ``model_context_window_exceeded`` are ``length``; ``tool_use`` is ``tool_calls``; ``refusal``
  is ``content_filter``; anything else (``pause_turn``, say) is ``None``, with the raw value kept.
* Streams: text comes from ``content_block_delta`` events with a ``text_delta``; the input usage
  from ``message_start``, the stop reason and output usage from ``message_delta`` and the final
  chunk from ``message_stop``. A ``tool_use`` block's ``content_block_start`` begins a tool
  call and its ``input_json_delta`` events carry the arguments' JSON text (the core assembles
  them); the answer tool's fragments are the answer's text instead. Server tools (web search,
  web fetch, code execution) and citations are read by :mod:`agentflow_anthropic._server`:
  they go on ``Response.server_tools`` / ``citations``, never into tool calls. ``ping``,
  thinking, unknown blocks and unknown events are skipped, as Anthropic asks of clients; an
  ``error`` event raises the error its type denotes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from agentflow.errors import ProviderError, StreamingError
from agentflow.types import Response, StreamChunk, Usage
from agentflow.vendor import (
    ErrorBody,
    ErrorWords,
    endpoint_url,
    excerpt,
    parse_json,
    parse_retry_after,
    token_count,
)
from agentflow.vendor import read_error_body as read_body

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError
    from agentflow.types import ModelSettings, Request, StreamState
    from agentflow_anthropic._server import ServerTools

__all__ = [
    "API_VERSION",
    "WORDS",
    "ErrorBody",
    "build_request",
    "check_request",
    "map_error",
    "messages_url",
    "normalise_stop_reason",
    "parse_response",
    "parse_stream_event",
    "parse_usage",
    "read_error_body",
    "retry_after_seconds",
]

API_VERSION = "2023-06-01"
USER_AGENT = "agentflow-anthropic/0.1.0"
LABEL = "Anthropic"
KEY_ENV = "ANTHROPIC_API_KEY"

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

#: The status each of Anthropic's error types stands for (errors inside a stream carry none).
ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class EventLike(Protocol):
    """What the codec reads of a server-sent event (``agentflow.sse.ServerSentEvent``)."""

    @property
    def data(self) -> str: ...

    @property
    def event(self) -> str: ...


#: How Anthropic's errors are worded, where agentflow's common wording does not fit.
WORDS = ErrorWords(label=LABEL, key_env=KEY_ENV, wording={
    402: ("refused the request for billing reasons", ""),
    403: ("refused access", "The key's workspace may lack access to this model or feature."),
    529: ("is overloaded", "The fault is on the provider's side; retry later."),
})


# --- requests ----------------------------------------------------------------------------------


def messages_url(base_url: str) -> str:
    """``{base_url}/v1/messages``; a base URL that already ends in ``/v1`` is not doubled."""
    base = base_url.rstrip("/")
    return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"


def build_request(request: Request, settings: ModelSettings) -> httpx.Request:
    """The ``httpx.Request`` for ``request``: URL, headers (with the key) and JSON body."""
    import httpx

    from agentflow_anthropic._catalog import DEFAULT_MAX_TOKENS, model_options

    options: Mapping[str, Any] = settings.options
    if "default_max_tokens" not in options:
        options = {**(model_options(request.model) or {}), **options}
    from agentflow_anthropic._content import tool_fields, turns

    system = [m.text for m in request.messages if m.role == "system"]
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or options.get("default_max_tokens",
                                                        DEFAULT_MAX_TOKENS),
        "messages": turns(request.messages),
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    body.update(tool_fields(request))
    from agentflow_anthropic._server import beta_flags, server_tool_fields

    server_tools = server_tool_fields(options)
    if server_tools:
        body["tools"] = [*body.get("tools", ()), *server_tools]
    if request.stream:
        body["stream"] = True
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if request.stream else "application/json",
        "anthropic-version": str(options.get("anthropic_version", API_VERSION)),
        "user-agent": USER_AGENT,
    }
    flags = beta_flags(options) if server_tools else []
    if flags:
        headers["anthropic-beta"] = ",".join(flags)
    if settings.api_key is not None:
        headers["x-api-key"] = settings.api_key.reveal()
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return httpx.Request("POST", endpoint_url(messages_url(settings.base_url)),
                         headers=headers, content=content)


def check_request(settings: ModelSettings) -> httpx.Request:
    """``GET {base_url}/v1/models?limit=1`` with the key: the health check (authenticated,
    no tokens)."""
    import httpx

    base = settings.base_url.rstrip("/")
    url = f"{base}/models" if base.endswith("/v1") else f"{base}/v1/models"
    headers = {"accept": "application/json",
               "anthropic-version": str(settings.options.get("anthropic_version", API_VERSION)),
               "user-agent": USER_AGENT}
    if settings.api_key is not None:
        headers["x-api-key"] = settings.api_key.reveal()
    return httpx.Request("GET", url, params={"limit": 1}, headers=headers)


# --- answers -----------------------------------------------------------------------------------


def normalise_stop_reason(raw: str | None, *, answered: bool = False) -> str | None:
    """agentflow's finish reason for Anthropic's ``stop_reason``; ``None`` if unknown.

    ``answered``: the model called the answer tool and no other, so ``tool_use`` is ``stop``.
    """
    reason = _STOP_REASONS.get(raw) if raw is not None else None
    return "stop" if answered and reason == "tool_calls" else reason


def parse_usage(raw: Any) -> Usage | None:
    """A :class:`Usage` from a ``usage`` object, the cache reads and writes counted as input.

    :class:`TypeError` when a count is not an integer.
    """
    if not isinstance(raw, dict):
        return None
    fresh, written, read, output = (token_count(raw.get(name)) or 0 for name in (
        "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
        "output_tokens"))
    return Usage.of(fresh + written + read, output,
                    cached_tokens=read if "cache_read_input_tokens" in raw else None)


def parse_response(response: httpx.Response, request: Request | None = None) -> Response:
    """The :class:`Response` in a 2xx ``message`` answer.

    Raises :class:`ProviderError` for a body that is not a message object, or the mapped error
    for an ``error`` object.
    """
    content = response.content
    body = parse_json(content, LABEL)
    if body.get("type") == "error":
        raise WORDS.in_answer(_error_fields(body), ERROR_STATUSES, stream=False,
                              **_context(response.headers))
    from agentflow_anthropic._content import read_blocks

    try:
        text, calls, answered = read_blocks(body["content"], request)
        server = _server_blocks(body["content"])
        raw = body.get("stop_reason")
        return Response(
            text=text,
            model=body.get("model") or (request.model if request is not None else ""),
            provider="anthropic",
            finish_reason=normalise_stop_reason(raw, answered=answered and not calls),
            raw_finish_reason=raw,
            usage=parse_usage(body.get("usage")),
            request_id=response.headers.get("request-id") or body.get("id"),
            tool_calls=calls,
            server_tools=server.tools(),
            citations=tuple(server.citations),
        )
    except (AttributeError, KeyError, TypeError) as exc:
        raise ProviderError(f"{LABEL} sent a message of an unexpected shape "
                            f"({type(exc).__name__}: {exc}): {excerpt(content)}") from None


def parse_stream_event(event: EventLike, state: StreamState) -> list[StreamChunk]:
    """The chunks in one server-sent event of a streamed message."""
    data = event.data
    body = parse_json(data, LABEL, stream=True)
    kind = body.get("type", event.event)
    try:
        if kind == "content_block_delta":
            delta = body["delta"]
            if delta.get("type") == "text_delta" and delta["text"]:
                return [StreamChunk(content=delta["text"])]
            if delta.get("type") == "input_json_delta":
                server = _server_state(state)
                if server.takes_input(body["index"]):
                    server.add_input(body["index"], delta["partial_json"])
                    return []
                return _arguments(state, body["index"], delta["partial_json"])
            if delta.get("type") == "citations_delta":
                _server_state(state).cite(delta["citation"])
            return []
        if kind == "content_block_start":
            block = body["content_block"]
            if block.get("type") == "tool_use":
                return _tool_use_start(state, body["index"], block)
            if _server_state(state).read(block, body["index"]):
                return []
            text = block.get("text") if block.get("type") == "text" else None
            for cited in block.get("citations") or () if text is not None else ():
                _server_state(state).cite(cited)
            return [StreamChunk(content=text)] if text else []
        if kind == "message_start":
            message = body["message"]
            if isinstance(message.get("model"), str):
                state.response_model = message["model"]
            _merge_usage(state, message.get("usage"))
            return []
        if kind == "message_delta":
            reason = body["delta"].get("stop_reason")
            if reason is not None:
                state.data["stop_reason"] = reason
            _merge_usage(state, body.get("usage"))
            return []
        if kind == "message_stop":
            return [_final_chunk(state)]
        if kind == "error":
            raise WORDS.in_answer(_error_fields(body), ERROR_STATUSES, stream=True)
    except (AttributeError, KeyError, TypeError) as exc:
        raise StreamingError(f"{LABEL} sent a {kind} event of an unexpected shape "
                             f"({type(exc).__name__}: {exc}): {excerpt(data)}") from None
    return []  # ping, content_block_stop, thinking and events added later: skipped


def _tool_use_start(state: StreamState, index: Any, block: dict[str, Any]) -> list[StreamChunk]:
    """A ``tool_use`` block starts: a tool call, or the answer tool's answer."""
    from agentflow_anthropic._content import answer_tool_name

    given = block.get("input")
    # The service starts the block with an empty input and streams it; text given here is kept.
    text = json.dumps(given, separators=(",", ":"), ensure_ascii=False) if given else ""
    request = state.request
    if request is not None and block["name"] == answer_tool_name(request):
        state.data.setdefault("answer_blocks", set()).add(index)
        return [StreamChunk(content=text)] if text else []
    state.tool_calls.begin(index, id=block["id"], name=block["name"], arguments=text)
    return []


def _arguments(state: StreamState, index: Any, fragment: str) -> list[StreamChunk]:
    """Some of a tool's input JSON: the answer's text, or a call's arguments."""
    if not isinstance(fragment, str):
        raise TypeError(f"partial_json is {type(fragment).__name__}, not text")
    if index in state.data.get("answer_blocks", ()):
        return [StreamChunk(content=fragment)] if fragment else []
    state.tool_calls.append(index, fragment)
    return []


def _merge_usage(state: StreamState, usage: Any) -> None:
    """Keep the latest count of each kind: ``message_delta`` counts are cumulative."""
    if isinstance(usage, dict):
        merged = state.data.setdefault("usage", {})
        merged.update({name: value for name, value in usage.items() if value is not None})


def _final_chunk(state: StreamState) -> StreamChunk:
    raw = state.data.get("stop_reason")
    try:
        usage = parse_usage(state.data.get("usage"))
    except TypeError as exc:
        raise StreamingError(f"the stream's usage report could not be read: {exc}") from None
    answered = bool(state.data.get("answer_blocks")) and not state.tool_calls
    server = state.data.get("server_tools")
    return StreamChunk(is_final=True, finish_reason=normalise_stop_reason(raw, answered=answered),
                       raw_finish_reason=raw, usage=usage,
                       server_tools=server.tools() if server else (),
                       citations=tuple(server.citations) if server else ())


def _server_state(state: StreamState) -> ServerTools:
    """The stream's server tool calls and citations so far."""
    from agentflow_anthropic._server import ServerTools

    server = state.data.get("server_tools")
    if server is None:
        server = state.data["server_tools"] = ServerTools()
    return server


def _server_blocks(blocks: list[Any]) -> ServerTools:
    """The server tool calls, their results and the citations in a message's ``content``."""
    from agentflow_anthropic._server import ServerTools

    server = ServerTools()
    for block in blocks:
        if not server.read(block) and block.get("type") == "text":
            for cited in block.get("citations") or ():
                server.cite(cited)
    return server


# --- errors ------------------------------------------------------------------------------------


def read_error_body(content: bytes) -> ErrorBody:
    """The fields of an error answer ``{"type": "error", "error": {"type", "message"},
    "request_id"}``, or an excerpt of a body that is not one."""
    return read_body(content, lambda body: _error_fields(body) if isinstance(body, dict)
                     else None)


def _error_fields(body: dict[str, Any]) -> ErrorBody:
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        kind = error.get("type")
        request_id = body.get("request_id")
        return ErrorBody(message=error["message"][:1000],
                         type=kind if isinstance(kind, str) else None,
                         request_id=request_id if isinstance(request_id, str) else None)
    return ErrorBody(message=excerpt(json.dumps(body)))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a 429 advises: ``retry-after``, else the soonest ``anthropic-ratelimit-*-reset``
    time of a limit that is used up."""
    advised = parse_retry_after(headers.get("retry-after"))
    if advised is not None:
        return advised
    waits = []
    for limit in ("requests", "tokens", "input-tokens", "output-tokens"):
        if headers.get(f"anthropic-ratelimit-{limit}-remaining") != "0":
            continue
        reset = _seconds_until(headers.get(f"anthropic-ratelimit-{limit}-reset"))
        if reset is not None:
            waits.append(reset)
    return max(waits) if waits else None


def _seconds_until(timestamp: str | None) -> float | None:
    """Seconds until an RFC 3339 time, as Anthropic's reset headers give it."""
    import time
    from datetime import datetime

    if not timestamp:
        return None
    try:
        when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _context(headers: Mapping[str, str]) -> dict[str, Any]:
    return {"retry_after": retry_after_seconds(headers), "request_id": headers.get("request-id")}


def map_error(response: httpx.Response) -> LLMError:
    """The error for an HTTP error answer (status >= 400), with Anthropic's own words."""
    return WORDS.from_status(response.status_code, read_error_body(response.content),
                             **_context(response.headers))
