"""OpenAI's Responses API (``POST /responses``) as the fake provider server plays it.

The emulation reads a Responses request into the Chat Completions shape
(:func:`as_chat_body`), lets the Chat Completions emulation check and answer it (the same
model rules, tool rules, answers and token counts), and writes the answer back in the
Responses shape: a ``response`` object, or the typed event stream (``response.created``,
``response.output_item.added``, ``response.output_text.delta``,
``response.function_call_arguments.delta``, ``response.completed`` / ``response.incomplete``,
``error``). Shapes: https://platform.openai.com/docs/api-reference/responses and
https://platform.openai.com/docs/api-reference/responses-streaming.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from agentflow.testing import FakeCall, FakeJSON, FakeStream

__all__ = ["as_chat_body", "responses_handler"]

ChatHandler = Callable[[FakeCall], Awaitable[FakeJSON | FakeStream]]

_KNOWN = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text",
    "max_output_tokens", "temperature", "top_p", "reasoning", "store", "previous_response_id",
    "stream", "metadata", "include", "truncation", "user", "service_tier", "prompt_cache_key",
    "safety_identifier", "background", "max_tool_calls", "top_logprobs", "stream_options",
    "conversation", "prompt"})
_INCOMPLETE = {"length": "max_output_tokens", "max_output_tokens": "max_output_tokens",
               "content_filter": "content_filter"}


def error_body(message: str, type_: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error body (as :func:`agentflow_openai.testing.error_body`)."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def as_chat_body(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses request in the Chat Completions shape (for checks, answers, the wire)."""
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items or ():
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "function_call":
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant" or "tool_results" in last:
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append({
                "id": item.get("call_id"), "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")}})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": item.get("output")})
        elif kind == "message":
            messages.append({"role": item.get("role"), "content": _content(item.get("content"))})
        else:
            messages.append({"role": None, "content": ""})  # refused by the chat checks
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    for name in ("temperature", "top_p", "parallel_tool_calls", "stream"):
        if name in body:
            chat[name] = body[name]
    if "max_output_tokens" in body:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    if isinstance(body.get("reasoning"), dict) and "effort" in body["reasoning"]:
        chat["reasoning_effort"] = body["reasoning"]["effort"]
    if body.get("stream"):
        chat["stream_options"] = {"include_usage": True}
    if "tools" in body:
        chat["tools"] = [_tool(tool) for tool in body["tools"]] \
            if isinstance(body["tools"], list) else body["tools"]
    choice = body.get("tool_choice")
    if choice is not None:
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}} \
            if isinstance(choice, dict) else choice
    text_format = (body.get("text") or {}).get("format") if isinstance(body.get("text"),
                                                                      dict) else None
    if isinstance(text_format, dict) and text_format.get("type") == "json_schema":
        spec = {k: text_format[k] for k in ("name", "schema", "strict", "description")
                if k in text_format}
        chat["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif isinstance(text_format, dict) and text_format.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    return chat


def _content(content: Any) -> Any:
    if not isinstance(content, list):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text"):
            parts.append({"type": "text", "text": part.get("text")})
        elif kind == "input_image":
            parts.append({"type": "image_url", "image_url": {"url": part.get("image_url")}})
        else:
            parts.append({"type": str(kind)})
    return parts


def _tool(tool: Any) -> Any:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return tool
    return {"type": "function", "function": {k: tool[k] for k in (
        "name", "description", "parameters", "strict") if k in tool}}


def _problem(body: dict[str, Any]) -> dict[str, Any] | None:
    """The error body of a request the Responses API itself refuses, else ``None``."""
    for name in body:
        if name not in _KNOWN:
            return error_body(f"Unknown parameter: '{name}'.", "invalid_request_error", name,
                              "unknown_parameter")
    if "input" not in body:
        return error_body("Missing required parameter: 'input'.", "invalid_request_error",
                          "input", "missing_required_parameter")
    previous = body.get("previous_response_id")
    if previous:  # nothing is ever stored here
        return error_body(f"Previous response with id '{previous}' not found.",
                          "invalid_request_error", "previous_response_id",
                          "previous_response_not_found")
    return None


def responses_handler(chat: ChatHandler) -> Callable[[FakeCall], Awaitable[FakeJSON | FakeStream]]:
    """The ``POST /responses`` handler over a Chat Completions emulation's handler."""

    async def handle(call: FakeCall) -> FakeJSON | FakeStream:
        body = call.json if isinstance(call.json, dict) else None
        if body is not None and call.reply.status < 400:
            problem = _problem(body)
            if problem is not None:
                return FakeJSON(status=400, body=problem,
                                headers={"x-request-id": f"req_{secrets.token_hex(16)}"})
        chat_body = as_chat_body(body) if body is not None else None
        raw = call.body if chat_body is None else _dumps(chat_body).encode()
        forwarded = attrs.evolve(call, json=chat_body, body=raw)
        answer = await chat(forwarded)
        if answer.status >= 400:
            return answer
        store = bool(body.get("store", True)) if body is not None else True
        if isinstance(answer, FakeStream):
            return attrs.evolve(answer, events=_stream(answer.events, store))
        return attrs.evolve(answer, body=_response(answer.body, store))

    return handle


def _skeleton(chat: dict[str, Any], store: bool) -> dict[str, Any]:
    return {"id": f"resp_{secrets.token_hex(24)}", "object": "response",
            "created_at": int(time.time()), "status": "in_progress", "error": None,
            "incomplete_details": None, "model": chat.get("model"), "output": [],
            "parallel_tool_calls": True, "store": store, "usage": None}


def _usage(chat_usage: Any) -> dict[str, Any] | None:
    if not isinstance(chat_usage, dict):
        return None
    return {"input_tokens": chat_usage["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": chat_usage["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": chat_usage["total_tokens"]}


def _finish(response: dict[str, Any], finish: str | None) -> None:
    reason = _INCOMPLETE.get(finish or "")
    if reason is None:
        response["status"] = "completed"
    else:
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": reason}


def _message(text: str) -> dict[str, Any]:
    return {"id": f"msg_{secrets.token_hex(24)}", "type": "message", "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _function_call(call: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"fc_{secrets.token_hex(24)}", "type": "function_call", "status": "completed",
            "call_id": call["id"], "name": call["function"]["name"],
            "arguments": call["function"]["arguments"]}


def _response(chat: dict[str, Any], store: bool) -> dict[str, Any]:
    choice = chat["choices"][0]
    message = choice["message"]
    response = _skeleton(chat, store)
    if message.get("content"):
        response["output"].append(_message(message["content"]))
    response["output"].extend(_function_call(call) for call in message.get("tool_calls") or ())
    _finish(response, choice.get("finish_reason"))
    response["usage"] = _usage(chat.get("usage"))
    return response


class _StreamWriter:
    """Chat Completions chunks in, Responses events out."""

    def __init__(self, store: bool) -> None:
        self.store = store
        self.events: list[str | tuple[str, str]] = []
        self.sequence = 0
        self.response: dict[str, Any] | None = None
        self.text: list[str] = []
        self.message_index: int | None = None
        self.message_id = ""
        self.calls: dict[int, dict[str, Any]] = {}  # chat index -> function_call item
        self.finish: str | None = None
        self.outputs = 0

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append((kind, _dumps({"type": kind, "sequence_number": self.sequence,
                                          **fields})))
        self.sequence += 1

    def chunk(self, chat: dict[str, Any]) -> None:
        if self.response is None:
            self.response = _skeleton(chat, self.store)
            self.emit("response.created", response=self.response)
            self.emit("response.in_progress", response=self.response)
        if chat.get("usage"):
            self.response["usage"] = _usage(chat["usage"])
        for choice in chat.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.content(delta["content"])
            for fragment in delta.get("tool_calls") or ():
                self.call(fragment)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def content(self, piece: str) -> None:
        if self.message_index is None:
            self.message_index = self.outputs
            self.outputs += 1
            item = {**_message(""), "status": "in_progress", "content": []}
            self.message_id = item["id"]
            self.emit("response.output_item.added", output_index=self.message_index, item=item)
            self.emit("response.content_part.added", item_id=self.message_id,
                      output_index=self.message_index, content_index=0,
                      part={"type": "output_text", "text": "", "annotations": []})
        self.text.append(piece)
        self.emit("response.output_text.delta", item_id=self.message_id,
                  output_index=self.message_index, content_index=0, delta=piece)

    def call(self, fragment: dict[str, Any]) -> None:
        index = fragment.get("index", 0)
        if index not in self.calls:
            item = _function_call({"id": fragment.get("id"), "function": {
                "name": fragment["function"].get("name"), "arguments": ""}})
            item["status"] = "in_progress"
            item["output_index"] = self.outputs
            self.outputs += 1
            self.calls[index] = item
            shown = {k: v for k, v in item.items() if k != "output_index"}
            self.emit("response.output_item.added", output_index=item["output_index"],
                      item=shown)
        arguments = fragment["function"].get("arguments") or ""
        if arguments:
            item = self.calls[index]
            item["arguments"] += arguments
            self.emit("response.function_call_arguments.delta", item_id=item["id"],
                      output_index=item["output_index"], delta=arguments)

    def close(self) -> None:
        assert self.response is not None
        output: list[tuple[int, dict[str, Any]]] = []
        if self.message_index is not None:
            text = "".join(self.text)
            self.emit("response.output_text.done", item_id=self.message_id,
                      output_index=self.message_index, content_index=0, text=text)
            item = {**_message(text), "id": self.message_id}
            self.emit("response.output_item.done", output_index=self.message_index, item=item)
            output.append((self.message_index, item))
        for item in self.calls.values():
            index = item.pop("output_index")
            item["status"] = "completed"
            self.emit("response.function_call_arguments.done", item_id=item["id"],
                      output_index=index, arguments=item["arguments"])
            self.emit("response.output_item.done", output_index=index, item=item)
            output.append((index, item))
        response = {**self.response, "output": [item for _, item in sorted(
            output, key=lambda pair: pair[0])]}
        _finish(response, self.finish)
        self.emit(f"response.{response['status']}", response=response)


def _stream(events: Any, store: bool) -> list[str | tuple[str, str]]:
    writer = _StreamWriter(store)
    for event in events:
        data = event[1] if isinstance(event, tuple) else event
        if data == "[DONE]":
            writer.close()
            continue
        chunk = json.loads(data)
        if "error" in chunk:  # the service failed after the answer began
            error = chunk["error"]
            writer.emit("error", code=error.get("type"), message=error.get("message"),
                        param=None)
            continue
        writer.chunk(chunk)
    return writer.events
