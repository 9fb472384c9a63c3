"""Anthropic's Messages API as the fake provider server plays it (the emulation; see
:mod:`agentflow_anthropic.testing`).

``POST /v1/messages`` and ``GET /v1/models``, mounted so that the provider's base URL on the fake
server is ``<server>/anthropic`` (like ``https://api.anthropic.com``). Requests are checked the
way the service does (``x-api-key``, ``anthropic-version``, then :mod:`._rules`: the
required fields, roles, ranges, content blocks, tool pairing, images, tools, ``tool_choice``)
and answered with the service's shapes: a ``message`` object, the full stream event sequence
(``message_start``, then per content block ``content_block_start``, ``content_block_delta``...,
``content_block_stop``, with a ``ping`` after the first start; ``message_delta``,
``message_stop``) or ``{"type": "error", "error": {...}, "request_id"}``, each with a
``request-id`` header. Token counts are one per whitespace-separated word (of the text, tool
inputs and results in; of the text and tool input JSON out).

The emulated model: scripted ``Reply.tool_calls`` become ``tool_use`` blocks after the text
(``stop_reason`` ``tool_use``; a stream sends each input's JSON in ``chunks`` or 3
``input_json_delta`` fragments, verbatim, and an empty input as one empty fragment, as the
service does). Unscripted, a ``tool_choice`` of type ``tool`` calls that tool and ``any`` the
first tool, or the last one when the request ends with tool results (where agentflow puts its
answer tool), with :func:`~agentflow.testing.fake.example_instance` input, or the scripted
``Reply.text`` parsed as JSON (the structured answer a test scripts). The service only sends
objects as ``input``; a scripted text that is not a JSON object is sent as a JSON string there
(and verbatim as fragments in a stream), so tests can script an unusable answer. Otherwise the
answer is the echo: of the last user text and its images (``describe_image``), or
``tool_result_text`` of the tool results that end the conversation.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import attrs

from agentflow.testing import FakeCall, FakeJSON, FakeProvider, FakeRoute, FakeStream, Reply
from agentflow.testing.emulation import count_tokens, cut_answer, retry_after_header
from agentflow.testing.fake import describe_image, example_instance, tool_result_text

__all__ = ["ERROR_TYPES", "anthropic_fake", "error_body"]

#: The error type the service answers each status with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(type_: str, message: str, request_id: str) -> dict[str, Any]:
    """The service's error body."""
    return {"type": "error", "error": {"type": type_, "message": message},
            "request_id": request_id}


def anthropic_fake() -> FakeProvider:
    """The emulation of the ``anthropic`` provider."""
    return FakeProvider(provider="anthropic", base_path="", routes=[
        FakeRoute(method="POST", path="/v1/messages", handler=_messages),
        FakeRoute(method="GET", path="/v1/models", handler=_models),
    ])


def _request_id() -> str:
    return f"req_{secrets.token_urlsafe(18)}"


def _refusal(call: FakeCall, headers: dict[str, str]) -> FakeJSON | None:
    """The service's answer to a request it refuses before reading it, or to a scripted
    error status; None to go on."""
    request_id = headers["request-id"]

    def fail(status: int, message: str, type_: str | None = None) -> FakeJSON:
        return FakeJSON(status=status, headers=headers,
                        body=error_body(type_ or ERROR_TYPES.get(status, "api_error"), message,
                                        request_id))

    key = call.headers.get("x-api-key")
    if not key:
        return fail(401, "x-api-key header is required")
    if " " in key.strip():
        return fail(401, "invalid x-api-key")
    if not call.headers.get("anthropic-version"):
        return fail(400, "anthropic-version: header is required")
    reply = call.reply
    if reply.status >= 400:
        headers.update(retry_after_header(reply))
        return fail(reply.status, reply.error_message, reply.error_type)
    return None


async def _models(call: FakeCall) -> FakeJSON:
    headers = {**call.reply.headers, "request-id": _request_id()}
    refused = _refusal(call, headers)
    if refused is not None:
        return refused
    from agentflow_anthropic._catalog import MODELS

    data = [{"type": "model", "id": model.name, "display_name": model.name,
             "created_at": "2026-01-01T00:00:00Z"} for model in MODELS]
    return FakeJSON(headers=headers, body={"data": data, "has_more": False,
                                           "first_id": data[0]["id"], "last_id": data[-1]["id"]})


async def _messages(call: FakeCall) -> FakeJSON | FakeStream:
    from agentflow_anthropic.testing._rules import problem as find_problem

    headers = {**call.reply.headers, "request-id": _request_id()}
    refused = _refusal(call, headers)
    if refused is not None:
        return refused
    body = call.json
    problem = "There was an error parsing the body of your request: not a JSON object" if (
        not isinstance(body, dict)) else find_problem(body)
    if problem is not None:
        return FakeJSON(status=400, headers=headers, body=error_body(
            "invalid_request_error", problem, headers["request-id"]))
    return _answer(body, call.reply, headers)


@attrs.frozen
class _Use:
    """A ``tool_use`` block the emulated model sends: its input as JSON text."""

    id: str
    name: str
    text: str

    def input(self) -> Any:
        """The ``input`` of a non-stream answer: the object, or the text that is not one."""
        try:
            value = json.loads(self.text)
        except ValueError:
            return self.text
        return value if isinstance(value, dict) else self.text

    def fragments(self, reply: Reply) -> list[str]:
        """The ``partial_json`` pieces of a stream: an empty input is one empty piece."""
        if self.text in ("", "{}"):
            return [""]
        return attrs.evolve(reply, chunks=reply.chunks or 3).split(self.text)


def _tool_id() -> str:
    return f"toolu_{secrets.token_urlsafe(18)}"


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content if isinstance(block, dict)]


def _words(content: Any) -> int:
    """The tokens of a turn's content: one per word of its text, tool inputs and results."""
    count = 0
    for block in _blocks(content):
        kind = block.get("type")
        if kind == "text":
            count += count_tokens(block["text"])
        elif kind == "tool_use":
            count += count_tokens(json.dumps(block["input"]))
        elif kind == "tool_result":
            count += count_tokens(_result_text(block))
    return count


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") for part in content if isinstance(part, dict))


def _echo(messages: list[dict[str, Any]], reply: Reply) -> str:
    """The answer of a model that repeats what it was given."""
    at = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"),
              None)
    if at is None:
        return reply.text_for("")
    blocks = _blocks(messages[at]["content"])
    prompt = " ".join(block["text"] for block in blocks if block["type"] == "text")
    results = [block for block in blocks if block["type"] == "tool_result"]
    if reply.text is None and results and not prompt:
        from agentflow_anthropic.testing._rules import tool_uses

        names = tool_uses(messages[at - 1]) if at else {}
        return tool_result_text([(names.get(block["tool_use_id"], "?"), _result_text(block))
                                 for block in results])
    images = [_describe(block["source"]) for block in blocks if block["type"] == "image"]
    answer = reply.text_for(prompt)
    return f"{answer} {' '.join(images)}" if images and reply.text is None else answer


def _describe(source: dict[str, Any]) -> str:
    import base64

    if source["type"] == "url":
        return describe_image(None, url=source["url"])
    return describe_image(source["media_type"], base64.b64decode(source["data"]))


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool the request's ``tool_choice`` makes the model call, if any."""
    choice = body.get("tool_choice") or {}
    tools = body.get("tools") or []
    if choice.get("type") == "tool":
        return next(dict(tool) for tool in tools if tool["name"] == choice["name"])
    if choice.get("type") != "any":
        return None
    last = _blocks(body["messages"][-1]["content"])
    after_results = any(block["type"] == "tool_result" for block in last)
    return dict(tools[-1] if after_results else tools[0])


def _model_turn(body: dict[str, Any], reply: Reply) -> tuple[str, list[_Use], str, str | None]:
    """The text, tool uses, stop reason and stop sequence of the emulated answer."""
    if reply.tool_calls:
        text, stop_reason, stop_sequence = _shape(reply.text or "", body)
        uses = [_Use(call.id or _tool_id(), call.name, call.arguments_text())
                for call in reply.tool_calls]
        return text, uses, reply.finish_reason or "tool_use", stop_sequence
    forced = _forced_tool(body)
    if forced is not None:
        given = reply.text if reply.text is not None else json.dumps(
            example_instance(forced["input_schema"]), separators=(",", ":"))
        use = _Use(_tool_id(), forced["name"], given)
        return "", [use], reply.finish_reason or "tool_use", None
    text, stop_reason, stop_sequence = _shape(_echo(body["messages"], reply), body)
    return text, [], reply.finish_reason or stop_reason, stop_sequence


def _answer(body: dict[str, Any], reply: Reply, headers: dict[str, str]) -> FakeJSON | FakeStream:
    from agentflow_anthropic.testing._server import server_blocks

    served = server_blocks(body, reply)
    if served is not None:
        return _server_answer(body, reply, headers, served)
    messages = body["messages"]
    text, uses, stop_reason, stop_sequence = _model_turn(body, reply)
    system = body.get("system")
    input_tokens, output_tokens = reply.usage or (
        sum(_words(m["content"]) for m in messages) + len(_text(system).split()),
        len(text.split()) + sum(len(use.text.split()) for use in uses))
    message_id = f"msg_{secrets.token_urlsafe(18)}"
    if body.get("stream"):
        return FakeStream(headers=headers, events=_events(
            message_id, body["model"], reply, text, uses, stop_reason, stop_sequence,
            input_tokens, output_tokens))
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input()}
                for use in uses]
    return FakeJSON(headers=headers, body={
        "id": message_id, "type": "message", "role": "assistant", "model": body["model"],
        "content": content, "stop_reason": stop_reason, "stop_sequence": stop_sequence,
        "usage": _usage(input_tokens, output_tokens)})


def _server_answer(body: dict[str, Any], reply: Reply, headers: dict[str, str],
                   content: list[dict[str, Any]]) -> FakeJSON | FakeStream:
    """The answer of a turn that ran server tools (see :mod:`._server`)."""
    from agentflow_anthropic.testing._server import server_events

    input_tokens, output_tokens = reply.usage or (
        sum(_words(m["content"]) for m in body["messages"]),
        sum(len(block.get("text", "").split()) for block in content))
    searches = sum(1 for block in content if block["type"] == "web_search_tool_result")
    usage = {**_usage(input_tokens, output_tokens),
             "server_tool_use": {"web_search_requests": searches}}
    message_id = f"msg_{secrets.token_urlsafe(18)}"
    stop_reason = reply.finish_reason or "end_turn"
    if not body.get("stream"):
        return FakeJSON(headers=headers, body={
            "id": message_id, "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": usage})
    return FakeStream(headers=headers, events=_stream(
        message_id, body["model"], reply, server_events(content, reply), stop_reason, None,
        input_tokens, output_tokens))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(block.get("text", "") for block in content if isinstance(block, dict))
    return ""


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": output_tokens,
            "service_tier": "standard"}


def _shape(text: str, body: dict[str, Any]) -> tuple[str, str, str | None]:
    """The answer cut where a stop sequence starts or ``max_tokens`` ends, and why."""
    cut = cut_answer(text, body.get("stop_sequences"), body["max_tokens"])
    if cut.at_limit:
        return cut.text, "max_tokens", None
    return cut.text, "stop_sequence" if cut.stop_sequence else "end_turn", cut.stop_sequence


def _events(message_id: str, model: str, reply: Reply, text: str, uses: list[_Use],
            stop_reason: str, stop_sequence: str | None, input_tokens: int,
            output_tokens: int) -> list[str | tuple[str, str]]:
    # Each block: how it starts, and its deltas.
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if text or not uses:
        blocks.append(({"type": "text", "text": ""},
                       [{"type": "text_delta", "text": piece} for piece in reply.split(text)]))
    blocks += [({"type": "tool_use", "id": use.id, "name": use.name, "input": {}},
                [{"type": "input_json_delta", "partial_json": piece}
                 for piece in use.fragments(reply)]) for use in uses]
    return _stream(message_id, model, reply, blocks, stop_reason, stop_sequence, input_tokens,
                   output_tokens)


def _stream(message_id: str, model: str, reply: Reply,
            blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]], stop_reason: str,
            stop_sequence: str | None, input_tokens: int,
            output_tokens: int) -> list[str | tuple[str, str]]:
    """The event sequence of a streamed message made of ``blocks`` (start, deltas)."""
    def event(name: str, payload: dict[str, Any]) -> tuple[str, str]:
        return name, json.dumps({"type": name, **payload}, separators=(",", ":"),
                                ensure_ascii=False)

    events = [event("message_start", {"message": {
        "id": message_id, "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": _usage(input_tokens, 1)}})]
    sent = 0
    for index, (start, deltas) in enumerate(blocks):
        events.append(event("content_block_start", {"index": index, "content_block": start}))
        if index == 0:
            events.append(event("ping", {}))
        for delta in deltas:
            if reply.error_after is not None and sent == reply.error_after:
                events.append(event("error", {"error": {
                    "type": reply.error_type or "overloaded_error",
                    "message": reply.error_message}}))
                return list(events)
            events.append(event("content_block_delta", {"index": index, "delta": delta}))
            sent += 1
        events.append(event("content_block_stop", {"index": index}))
    events += [
        event("message_delta", {"delta": {"stop_reason": stop_reason,
                                          "stop_sequence": stop_sequence},
                                "usage": {"output_tokens": output_tokens}}),
        event("message_stop", {}),
    ]
    return list(events)
