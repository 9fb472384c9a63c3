"""Anthropic's Messages API as the fake provider server plays it.

``POST /v1/messages`` and ``GET /v1/models``, mounted so that the provider's base URL on the fake
server is ``<server>/anthropic`` (like ``https://api.anthropic.com``). Requests are checked the
way the service does (``x-api-key``, ``anthropic-version``, the required fields, roles, ranges,
``temperature`` with ``top_p`` on models that refuse both) and answered with the service's
shapes: a ``message`` object, the full stream event sequence (``message_start``,
``content_block_start``, ``ping``, ``content_block_delta``..., ``content_block_stop``,
``message_delta``, ``message_stop``) or ``{"type": "error", "error": {...}, "request_id"}``,
each with a ``request-id`` header. Token counts are one per whitespace-separated word.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from agentflow.testing.fake import (
    FakeCall,
    FakeJSON,
    FakeProvider,
    FakeRoute,
    FakeStream,
    Reply,
)

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
_ROLES = ("user", "assistant")


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
        if reply.retry_after is not None:
            headers["retry-after"] = f"{reply.retry_after:g}"
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
    headers = {**call.reply.headers, "request-id": _request_id()}
    refused = _refusal(call, headers)
    if refused is not None:
        return refused
    body = call.json
    problem = "There was an error parsing the body of your request: not a JSON object" if (
        not isinstance(body, dict)) else _problem(body)
    if problem is not None:
        return FakeJSON(status=400, headers=headers, body=error_body(
            "invalid_request_error", problem, headers["request-id"]))
    return _answer(body, call.reply, headers)


def _problem(body: dict[str, Any]) -> str | None:
    """What the service says about an invalid request, or None."""
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            return f"{field}: Field required"
    if type(body["max_tokens"]) is not int or body["max_tokens"] < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            return ('messages: Unexpected role "system". The Messages API accepts a top-level '
                    '`system` parameter, not "system" as an input message role.')
        if role not in _ROLES:
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        if not message.get("content"):
            return f"messages.{index}: all messages must have non-empty content"
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):
        value = body.get(name)
        if value is not None and not 0 <= value <= high:
            return f"{name}: range: 0..{high:g}"
    if "temperature" in body and "top_p" in body and _single_sampling(body["model"]):
        return ("`temperature` and `top_p` cannot both be specified for this model. Please use "
                "only one.")
    return None


def _single_sampling(model: str) -> bool:
    from agentflow_anthropic._catalog import model_options

    return bool((model_options(model) or {}).get("single_sampling_parameter"))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(block.get("text", "") for block in content if isinstance(block, dict))
    return ""


def _answer(body: dict[str, Any], reply: Reply, headers: dict[str, str]) -> FakeJSON | FakeStream:
    messages = body["messages"]
    prompt = next((_text(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
    text, stop_reason, stop_sequence = _shape(reply.text_for(prompt), body)
    stop_reason = reply.finish_reason or stop_reason
    system = body.get("system")
    input_tokens, output_tokens = reply.usage or (
        sum(len(_text(m["content"]).split()) for m in messages)
        + len(_text(system).split()), len(text.split()))
    message_id = f"msg_{secrets.token_urlsafe(18)}"
    if body.get("stream"):
        return FakeStream(headers=headers, events=_events(
            message_id, body["model"], reply, text, stop_reason, stop_sequence, input_tokens,
            output_tokens))
    return FakeJSON(headers=headers, body={
        "id": message_id, "type": "message", "role": "assistant", "model": body["model"],
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop_reason, "stop_sequence": stop_sequence,
        "usage": _usage(input_tokens, output_tokens)})


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": output_tokens,
            "service_tier": "standard"}


def _shape(text: str, body: dict[str, Any]) -> tuple[str, str, str | None]:
    """The answer cut where a stop sequence starts or ``max_tokens`` ends, and why."""
    found: str | None = None
    for sequence in body.get("stop_sequences") or ():
        at = text.find(sequence)
        if at >= 0:
            text, found = text[:at], sequence
    limit = body["max_tokens"]
    if len(text.split()) > limit:
        return " ".join(text.split()[:limit]), "max_tokens", None
    return text, "stop_sequence" if found else "end_turn", found


def _events(message_id: str, model: str, reply: Reply, text: str, stop_reason: str,
            stop_sequence: str | None, input_tokens: int,
            output_tokens: int) -> list[str | tuple[str, str]]:
    def event(name: str, payload: dict[str, Any]) -> tuple[str, str]:
        return name, json.dumps({"type": name, **payload}, separators=(",", ":"),
                                ensure_ascii=False)

    events = [
        event("message_start", {"message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": _usage(input_tokens, 1)}}),
        event("content_block_start", {"index": 0,
                                      "content_block": {"type": "text", "text": ""}}),
        event("ping", {}),
    ]
    pieces = reply.split(text)
    if reply.error_after is not None:
        events += [event("content_block_delta", {
            "index": 0, "delta": {"type": "text_delta", "text": piece}})
            for piece in pieces[:reply.error_after]]
        events.append(event("error", {"error": {
            "type": reply.error_type or "overloaded_error", "message": reply.error_message}}))
        return list(events)
    events += [event("content_block_delta", {"index": 0,
                                             "delta": {"type": "text_delta", "text": piece}})
               for piece in pieces]
    events += [
        event("content_block_stop", {"index": 0}),
        event("message_delta", {"delta": {"stop_reason": stop_reason,
                                          "stop_sequence": stop_sequence},
                                "usage": {"output_tokens": output_tokens}}),
        event("message_stop", {}),
    ]
    return list(events)
