"""OpenAI's Responses API (``POST {base_url}/responses``): a public codec.

Reference: https://platform.openai.com/docs/api-reference/responses (the request and the
``response`` object) and https://platform.openai.com/docs/api-reference/responses-streaming
(the typed event stream). A :class:`ResponsesCodec` speaks it for a
:class:`~agentflow_openai.chat.Dialect` (the vendor's name, label, key variable, catalog and
error words are the same as for Chat Completions); :class:`ApiSwitch` is the codec of a vendor
whose models choose their API with the model option ``api`` (``chat`` or ``responses``).

What is sent (docs/vendors/openai.md, "The Responses API"):

* the whole conversation as ``input`` items, every time: messages (``input_text`` and
  ``input_image`` parts), earlier tool calls as ``function_call`` items and their results as
  ``function_call_output`` items; ``store: false`` unless the model option ``store`` says
  otherwise, and ``previous_response_id`` only when the model option of that name is set;
* ``tools`` as ``{"type": "function", name, description, parameters, strict}`` (``strict`` is
  always sent: the API's default is ``true``, which would hold a function with optional
  parameters to rules it does not meet), ``tool_choice``, ``parallel_tool_calls``;
* a JSON Schema answer as ``text.format`` (``{"type": "json_schema", name, schema, strict}``);
* ``max_output_tokens``, ``temperature`` / ``top_p`` where the model takes them,
  ``reasoning.effort`` from the model option ``reasoning_effort``.

Stop sequences do not exist in this API: a request with ``stop`` is refused before sending
(:class:`~agentflow.errors.ValidationError`) rather than silently ignored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from agentflow.errors import ConfigurationError, ProviderError, StreamingError, ValidationError
from agentflow.types import ImagePart, Response, StreamChunk, TextPart, ToolCall, Usage
from agentflow.vendor import (
    endpoint_url,
    excerpt,
    is_strict,
    parse_arguments,
    parse_json,
    token_count,
)
from agentflow_openai._errors import error_in_payload, map_error
from agentflow_openai.chat import Dialect, EventLike, _Options, _sampling_allowed, models_request

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError
    from agentflow.types import Message, ModelSettings, Request, StreamState, Tool

__all__ = ["APIS", "ApiSwitch", "ResponsesCodec", "api_of", "finish_reason", "parse_usage",
           "request_body", "responses_url"]

#: The values of the model option ``api``.
APIS = ("chat", "responses")

_ERROR_PREFIX = "Error: "


def api_of(dialect: Dialect, model: str, options: Any) -> str:
    """The API a model is sent to: the option ``api`` of its settings, else of the catalog,
    else ``chat``. :class:`~agentflow.errors.ConfigurationError` for another value."""
    api = _Options(dialect, model, options).get("api", "chat")
    if api not in APIS:
        raise ConfigurationError(
            f"the option api of model {model!r} must be one of {', '.join(map(repr, APIS))}, "
            f"got {api!r}")
    return str(api)


def responses_url(base_url: str) -> str:
    """``{base_url}/responses``, a query string on the base URL kept at the end."""
    base, mark, query = base_url.partition("?")
    return f"{base.rstrip('/')}/responses{mark}{query}"


# --- requests ----------------------------------------------------------------------------------


def request_body(dialect: Dialect, request: Request, settings: ModelSettings) -> dict[str, Any]:
    """The JSON body of a ``POST /responses`` for ``request``."""
    if request.stop:
        raise ValidationError(
            f"{dialect.label}'s Responses API has no stop sequences, so stop={list(request.stop)!r}"
            f" cannot be honoured for model {request.model!r}; leave stop out, or send the "
            "model through Chat Completions (model option api: chat)")
    option = _Options(dialect, request.model, settings.options)
    body: dict[str, Any] = {"model": request.model,
                            "input": [item for m in request.messages for item in _items(m)]}
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
        choice = request.tool_choice
        if choice is not None:
            body["tool_choice"] = ({"type": "function", "name": choice.name}
                                   if choice.mode == "tool" else choice.mode)
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.output_schema is not None:
        out = request.output_schema
        spec: dict[str, Any] = {"type": "json_schema", "name": out.name,
                                "schema": dict(out.schema), "strict": out.strict}
        if out.description:
            spec["description"] = out.description
        body["text"] = {"format": spec}
    effort = option.get("reasoning_effort")
    if _sampling_allowed(option, effort):
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
    if request.max_tokens is not None:
        body["max_output_tokens"] = request.max_tokens
    if effort is not None:
        body["reasoning"] = {"effort": effort}
    body["store"] = bool(option.get("store", False))
    previous = option.get("previous_response_id")
    if previous:
        body["previous_response_id"] = previous
    if request.stream:
        body["stream"] = True
    return body


def _items(message: Message) -> list[dict[str, Any]]:
    """One message as ``input`` items."""
    if message.role == "tool":
        text = message.text
        if message.is_error and not text.startswith("Error"):
            text = _ERROR_PREFIX + text
        return [{"type": "function_call_output",
                 "call_id": message.tool_call_id or message.name or "", "output": text}]
    items: list[dict[str, Any]] = []
    if message.role == "assistant":
        if message.text:
            items.append({"role": "assistant", "content": message.text})
        items.extend({"type": "function_call", "call_id": call.id, "name": call.name,
                      "arguments": call.raw_arguments} for call in message.tool_calls)
        return items
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    return [{"role": message.role, "content": [_part(part) for part in message.content]}]


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    url = part.url if part.url is not None else f"data:{part.media_type};base64,{part.base64}"
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def _tool(tool: Tool) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "function", "name": tool.name}
    if tool.description:
        body["description"] = tool.description
    body["parameters"] = dict(tool.parameters)
    body["strict"] = is_strict(tool.parameters)
    return body


def build_request(dialect: Dialect, request: Request, settings: ModelSettings, *,
                  url: str | None = None) -> httpx.Request:
    """The ``httpx.Request``: ``POST {base_url}/responses`` (or ``url``), the key as a bearer
    token when one is set, the JSON body of :func:`request_body`."""
    import httpx

    body = request_body(dialect, request, settings)
    headers = {"content-type": "application/json",
               "accept": "text/event-stream" if request.stream else "application/json",
               "user-agent": dialect.user_agent}
    key = settings.api_key.reveal() if settings.api_key is not None else ""
    if key:
        headers["authorization"] = f"Bearer {key}"
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return httpx.Request("POST", endpoint_url(url or responses_url(settings.base_url)),
                         headers=headers, content=content)


# --- answers -----------------------------------------------------------------------------------


def parse_usage(raw: Any) -> Usage | None:
    """A :class:`Usage` from the ``usage`` of a ``response`` object: input and output tokens,
    ``input_tokens_details.cached_tokens`` and ``output_tokens_details.reasoning_tokens``."""
    if not isinstance(raw, dict):
        return None
    cached = raw.get("input_tokens_details")
    reasoning = raw.get("output_tokens_details")
    return Usage.of(
        token_count(raw.get("input_tokens")) or 0, token_count(raw.get("output_tokens")) or 0,
        token_count(raw.get("total_tokens")),
        cached_tokens=token_count(cached.get("cached_tokens"))
        if isinstance(cached, dict) else None,
        reasoning_tokens=token_count(reasoning.get("reasoning_tokens"))
        if isinstance(reasoning, dict) else None)


def finish_reason(body: dict[str, Any], has_calls: bool,
                  refused: bool) -> tuple[str | None, str | None]:
    """``(finish_reason, raw)`` of a ``response`` object: ``completed`` is ``stop`` (or
    ``tool_calls``), ``incomplete`` is read from ``incomplete_details.reason``
    (``max_output_tokens`` -> ``length``, ``content_filter``); the raw value is that reason,
    else the status."""
    status = body.get("status")
    details = body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if status == "incomplete":
        mapped = {"max_output_tokens": "length", "content_filter": "content_filter"}.get(
            reason) if isinstance(reason, str) else None
        return mapped, reason if isinstance(reason, str) else status
    if status == "completed":
        if refused:
            return "content_filter", status
        return ("tool_calls" if has_calls else "stop"), status
    return None, status if isinstance(status, str) else None


def _read_output(output: Any, label: str) -> tuple[str, tuple[ToolCall, ...], bool]:
    """Text, tool calls and whether the model refused, from a response's ``output`` items."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    refused = False
    for item in output or ():
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    texts.append(part["text"])
                elif part.get("type") == "refusal":
                    texts.append(part["refusal"])
                    refused = True
        elif kind == "function_call":
            calls.append(_call(item, label))
    return "".join(texts), tuple(calls), refused


def _call(item: dict[str, Any], label: str) -> ToolCall:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise TypeError("a function_call item has no name")
    raw = item.get("arguments")
    raw = raw if isinstance(raw, str) else json.dumps(raw)
    return ToolCall(id=str(item.get("call_id") or item.get("id") or ""), name=name,
                    arguments=parse_arguments(raw, tool=name, provider=label),
                    raw_arguments=raw or "{}")


def _failure(dialect: Dialect, body: dict[str, Any], *, stream: bool) -> LLMError:
    """The error of a ``failed`` response or an ``error`` event (``code`` and ``message``)."""
    found = body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else body
    code = error.get("code") or error.get("type") or "server_error"
    payload = {"error": {"message": error.get("message") or "the response failed",
                         "type": code, "code": code, "param": error.get("param")}}
    return error_in_payload(dialect, payload, None, stream=stream)


def parse_response(dialect: Dialect, response: httpx.Response,
                   request: Request | None = None) -> Response:
    """The :class:`Response` in a 2xx ``response`` object; a ``failed`` one raises its error."""
    content = response.content
    body = parse_json(content, dialect.label)
    if body.get("status") == "failed" or (body.get("error") and "output" not in body):
        raise _failure(dialect, body, stream=False)
    if "output" not in body:
        raise ProviderError(f"{dialect.label} sent an answer with no 'output' list, so there is "
                            f"no text to return: {excerpt(content)}")
    try:
        text, calls, refused = _read_output(body["output"], dialect.label)
        finish, raw = finish_reason(body, bool(calls), refused)
        return Response(text=text, model=body.get("model") or (request.model if request else ""),
                        provider=dialect.vendor, finish_reason=finish, raw_finish_reason=raw,
                        usage=parse_usage(body.get("usage")),
                        request_id=response.headers.get("x-request-id"), tool_calls=calls)
    except (AttributeError, KeyError, TypeError) as exc:
        raise ProviderError(f"{dialect.label} sent a response object of an unexpected shape "
                            f"({type(exc).__name__}: {exc}): {excerpt(content)}") from None


def parse_stream_event(dialect: Dialect, event: EventLike,
                       state: StreamState) -> list[StreamChunk]:
    """The chunks in one event of the typed stream; unknown event types give none."""
    data = event.data
    if not data or data == "[DONE]":
        return []
    body = parse_json(data, dialect.label, stream=True)
    try:
        return _on_event(dialect, body, state)
    except (AttributeError, KeyError, TypeError) as exc:
        raise StreamingError(f"{dialect.label} sent a stream event of an unexpected shape "
                             f"({type(exc).__name__}: {exc}): {excerpt(data)}") from None


def _on_event(dialect: Dialect, body: dict[str, Any], state: StreamState) -> list[StreamChunk]:
    kind = body.get("type")
    if kind == "response.output_text.delta":
        return [StreamChunk(content=body["delta"])] if body["delta"] else []
    if kind == "response.refusal.delta":
        state.data["refused"] = True
        return [StreamChunk(content=body["delta"])] if body["delta"] else []
    if kind == "response.function_call_arguments.delta":
        state.tool_calls.append(body["output_index"], body["delta"])
        return []
    if kind in ("response.output_item.added", "response.output_item.done"):
        item = body["item"]
        if item.get("type") == "function_call":
            _stream_call(kind, body["output_index"], item, state)
        return []
    if kind in ("response.created", "response.in_progress"):
        model = body["response"].get("model")
        if state.response_model is None and isinstance(model, str):
            state.response_model = model
        return []
    if kind in ("response.completed", "response.incomplete"):
        return [_final(dialect, body["response"], state)]
    if kind == "response.failed":
        raise _failure(dialect, body["response"], stream=True)
    if kind == "error":
        raise _failure(dialect, body, stream=True)
    if kind is None and body.get("error") is not None:
        raise error_in_payload(dialect, body, None, stream=True)
    return []  # reasoning summaries, annotations, content parts, and types not known yet


def _stream_call(kind: str, index: int, item: dict[str, Any], state: StreamState) -> None:
    begun = state.data.setdefault("begun", set())
    if index in begun:
        return
    begun.add(index)
    call_id, name = str(item.get("call_id") or item.get("id") or ""), item.get("name") or ""
    if kind == "response.output_item.added":
        state.tool_calls.begin(index, id=call_id, name=name, arguments=item.get("arguments") or "")
    else:  # the whole call, its .added never seen
        raw = item.get("arguments") or "{}"
        state.tool_calls.add(call_id, name, parse_arguments(raw, tool=name,
                                                            provider="the stream"))


def _final(dialect: Dialect, body: dict[str, Any], state: StreamState) -> StreamChunk:
    if state.response_model is None and isinstance(body.get("model"), str):
        state.response_model = body["model"]
    try:
        usage = parse_usage(body.get("usage"))
    except TypeError as exc:
        raise StreamingError(f"the stream's usage report could not be read: {exc}") from None
    finish, raw = finish_reason(body, bool(state.tool_calls),
                                bool(state.data.get("refused")))
    return StreamChunk(is_final=True, finish_reason=finish, raw_finish_reason=raw, usage=usage)


# --- codecs ------------------------------------------------------------------------------------


@attrs.frozen
class ResponsesCodec:
    """The Responses API for the vendor ``dialect`` describes (a vendor toolkit codec)."""

    dialect: Dialect

    def build_request(self, request: Request, settings: ModelSettings) -> httpx.Request:
        return build_request(self.dialect, request, settings)

    def parse_response(self, response: httpx.Response, request: Request) -> Response:
        return parse_response(self.dialect, response, request)

    def parse_stream_event(self, event: EventLike, state: StreamState) -> list[StreamChunk]:
        return parse_stream_event(self.dialect, event, state)

    def map_error(self, response: httpx.Response) -> LLMError:
        return map_error(self.dialect, response)  # the same error bodies as Chat Completions

    def check_request(self, settings: ModelSettings) -> httpx.Request:
        return models_request(self.dialect, settings)


def is_responses_answer(response: httpx.Response) -> bool:
    """Whether ``response`` answers a request sent to ``.../responses``."""
    try:
        path = response.request.url.path
    except RuntimeError:  # built by hand, without its request
        return response.content.lstrip().startswith(b"{") and b'"object":"response"' in \
            response.content.replace(b" ", b"")
    return path.rstrip("/").endswith("/responses")


def is_responses_event(event: EventLike, state: StreamState) -> bool:
    """Whether a stream speaks the Responses API: its events are named (``event:
    response.created``) or typed (``"type": "response..."``), which Chat Completions' are not.
    Decided on the first event and remembered in ``state.data``."""
    known = state.data.get("api")
    if known is None:
        name = getattr(event, "event", "message")
        typed = event.data.lstrip().startswith('{"type":') or '"type":"response.' in event.data
        known = "responses" if (name not in ("message", "", None) or typed) else "chat"
        state.data["api"] = known
    return bool(known == "responses")


@attrs.frozen
class ApiSwitch:
    """The codec of a vendor whose models pick their API: the model option ``api``
    (``chat``, the default, or ``responses``) chooses the request; an answer is read by the
    API it came from (the request's path, the stream's event names)."""

    chat: Dialect
    responses: ResponsesCodec

    def build_request(self, request: Request, settings: ModelSettings) -> httpx.Request:
        if api_of(self.chat, request.model, settings.options) == "responses":
            return self.responses.build_request(request, settings)
        return self.chat.build_request(request, settings)

    def parse_response(self, response: httpx.Response, request: Request) -> Response:
        if is_responses_answer(response):
            return self.responses.parse_response(response, request)
        return self.chat.parse_response(response, request)

    def parse_stream_event(self, event: EventLike, state: StreamState) -> list[StreamChunk]:
        if is_responses_event(event, state):
            return self.responses.parse_stream_event(event, state)
        return self.chat.parse_stream_event(event, state)

    def map_error(self, response: httpx.Response) -> LLMError:
        return self.chat.map_error(response)

    def check_request(self, settings: ModelSettings) -> httpx.Request:
        return self.chat.check_request(settings)
