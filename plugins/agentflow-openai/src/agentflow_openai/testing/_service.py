"""OpenAI's Chat Completions API as the fake provider server plays it (the emulation; see
:mod:`agentflow_openai.testing`).

:func:`chat_completions_fake` builds the emulation of one provider: ``POST /chat/completions``
and ``GET /models`` under ``/v1``. It checks a request the way the service does (the key, the
required fields, the ranges, the parameters reasoning models refuse) and answers with the
service's own shapes: a ``chat.completion`` object, a stream of ``chat.completion.chunk``
events closed by ``[DONE]``, or an ``{"error": {message, type, param, code}}`` body, each with
an ``x-request-id`` header. Token counts are one per whitespace-separated word.

Other OpenAI-compatible plugins reuse it with their own provider name and catalog.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from agentflow.testing import FakeCall, FakeJSON, FakeProvider, FakeRoute, FakeStream, Reply
from agentflow.testing.emulation import count_tokens, cut_answer, retry_after_header
from agentflow_openai.testing._tools import ToolRules, check_tools_and_images, decide

__all__ = ["ToolRules", "chat_completions_fake", "error_body"]

# The service's error type and code for each status, when a scripted reply names none.
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("service_unavailable_error", "server_is_overloaded"),
}
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_NO_KEY = ("You didn't provide an API key. You need to provide your API key in an "
           "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
_BAD_KEY = ("Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys.")
_NOT_JSON = ("We could not parse the JSON body of your request. The OpenAI API expects a JSON "
             "payload, but what was sent was not valid JSON.")


def error_body(message: str, type_: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def chat_completions_fake(
    provider: str,
    *,
    require_key: bool,
    model_options: Callable[[str], Mapping[str, Any] | None] | None = None,
    models: Sequence[str] = (),
    owned_by: str = "system",
    base_path: str = "/v1",
    temperature_range: tuple[float, float] = (0.0, 2.0),
    error_kinds: Mapping[int, tuple[str, str | None]] | None = None,
    tool_rules: ToolRules | None = None,
    responses: bool = False,
) -> FakeProvider:
    """The emulation of one Chat Completions provider, mounted at ``/<provider><base_path>``.

    :param require_key: answer 401 to a request without ``Authorization: Bearer <key>``
        (a local vLLM or Ollama asks for none).
    :param model_options: catalog options by model id: requests to a model flagged
        ``max_completion_tokens`` / ``supports_temperature`` are refused as the service would.
    :param models: the ids ``GET /models`` lists.
    :param temperature_range: what the service accepts (Moonshot: 0 to 1).
    :param error_kinds: status -> the service's error ``(type, code)``, over OpenAI's.
    :param tool_rules: what the service accepts of tools and images, where it differs from
        OpenAI (tool names, image URLs).
    :param responses: serve OpenAI's Responses API too (``POST /responses``), answered by
        the same service (:mod:`agentflow_openai.testing._responses`).
    """
    service = _Service(provider=provider, require_key=require_key, model_options=model_options,
                       models=tuple(models), owned_by=owned_by,
                       temperature_range=temperature_range,
                       error_kinds={**_ERROR_KINDS, **(error_kinds or {})},
                       tool_rules=tool_rules or ToolRules())
    routes = [FakeRoute(method="POST", path="/chat/completions", handler=service.chat_completions),
              FakeRoute(method="GET", path="/models", handler=service.list_models)]
    if responses:
        from agentflow_openai.testing._responses import responses_handler

        routes.append(FakeRoute(method="POST", path="/responses",
                                handler=responses_handler(service.chat_completions)))
    return FakeProvider(provider=provider, base_path=base_path, routes=routes)


@attrs.frozen(kw_only=True)
class _Problem:
    """A request the service refuses with 400."""

    message: str
    param: str | None = None
    code: str | None = None


@attrs.frozen(kw_only=True)
class _Service:
    provider: str
    require_key: bool
    model_options: Callable[[str], Mapping[str, Any] | None] | None
    models: tuple[str, ...]
    owned_by: str
    temperature_range: tuple[float, float]
    error_kinds: Mapping[int, tuple[str, str | None]]
    tool_rules: ToolRules

    async def chat_completions(self, call: FakeCall) -> FakeJSON | FakeStream:
        headers = {**call.reply.headers, "x-request-id": f"req_{secrets.token_hex(16)}"}
        refusal = self._refuse(call, headers)
        if refusal is not None:
            return refusal
        body = call.json if isinstance(call.json, dict) else _json_object(call.body)
        if body is None:
            return FakeJSON(status=400, body=error_body(_NOT_JSON, "invalid_request_error"),
                            headers=headers)
        problem = _check(body, self.temperature_range) or self._check_for_model(body)
        found = check_tools_and_images(body, self.tool_rules) if problem is None else None
        if found is not None:
            problem = _Problem(message=found[0], param=found[1])
        if problem is not None:
            return FakeJSON(status=400, headers=headers, body=error_body(
                problem.message, "invalid_request_error", problem.param, problem.code))
        return _answer(body, call.reply, headers)

    async def list_models(self, call: FakeCall) -> FakeJSON:
        headers = {**call.reply.headers, "x-request-id": f"req_{secrets.token_hex(16)}"}
        refusal = self._refuse(call, headers)
        if refusal is not None:
            return refusal
        return FakeJSON(headers=headers, body={"object": "list", "data": [
            {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": self.owned_by}
            for model in self.models]})

    def _refuse(self, call: FakeCall, headers: dict[str, str]) -> FakeJSON | None:
        """401 for a missing or ill-formed key; the scripted error status, if any."""
        if self.require_key:
            auth = _header(call.headers, "authorization")
            scheme, _, key = (auth or "").strip().partition(" ")
            if not auth:
                return FakeJSON(status=401, headers=headers,
                                body=error_body(_NO_KEY, "invalid_request_error"))
            if scheme.lower() != "bearer" or not key.strip() or " " in key.strip():
                return FakeJSON(status=401, headers=headers, body=error_body(
                    _BAD_KEY, "invalid_request_error", code="invalid_api_key"))
        reply = call.reply
        if reply.status < 400:
            return None
        type_, code = self.error_kinds.get(reply.status, (
            "server_error" if reply.status >= 500 else "invalid_request_error", None))
        if reply.error_type is not None:
            type_ = reply.error_type
            code = "insufficient_quota" if type_ == "insufficient_quota" else code
        headers.update(retry_after_header(reply))
        return FakeJSON(status=reply.status, headers=headers,
                        body=error_body(reply.error_message, type_, code=code))

    def _check_for_model(self, body: dict[str, Any]) -> _Problem | None:
        """What a reasoning model refuses: ``max_tokens``, sampling away from the default."""
        options = self.model_options(body["model"]) if self.model_options else None
        if not options:
            return None
        if options.get("max_completion_tokens") and "max_tokens" in body:
            return _Problem(message="Unsupported parameter: 'max_tokens' is not supported with "
                            "this model. Use 'max_completion_tokens' instead.",
                            param="max_tokens", code="unsupported_parameter")
        supports = options.get("supports_temperature", True)
        if supports == "reasoning_none":
            effort = body.get("reasoning_effort", options.get("default_reasoning_effort"))
            supports = effort == "none"
        if not supports:
            for name in ("temperature", "top_p"):
                value = body.get(name)
                if value is not None and value != 1:
                    return _Problem(message=f"Unsupported value: '{name}' does not support "
                                    f"{value} with this model. Only the default (1) value is "
                                    "supported.", param=name, code="unsupported_value")
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _check(body: dict[str, Any], temperature_range: tuple[float, float]) -> _Problem | None:
    """The service's checks of the fields every model shares."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _Problem(message="you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        return _Problem(message="Missing required parameter: 'messages'.", param="messages",
                        code="missing_required_parameter")
    if not isinstance(messages, list):
        return _Problem(message="Invalid type for 'messages': expected an array of objects.",
                        param="messages", code="invalid_type")
    if not messages:
        return _Problem(message="Invalid 'messages': empty array. Expected an array with "
                        "minimum length 1, but got an empty array instead.",
                        param="messages", code="empty_array")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            role = message.get("role") if isinstance(message, dict) else None
            return _Problem(message=f"Invalid value: '{role}'. Supported values are: "
                            + ", ".join(f"'{r}'" for r in _ROLES) + ".",
                            param=f"{where}.role", code="invalid_value")
        if "content" not in message:
            return _Problem(message=f"Missing required parameter: '{where}.content'.",
                            param=f"{where}.content", code="missing_required_parameter")
    return _check_numbers(body, temperature_range)


def _check_numbers(body: dict[str, Any],
                   temperature_range: tuple[float, float]) -> _Problem | None:
    for name, low, high in (("temperature", *temperature_range), ("top_p", 0, 1)):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return _Problem(message=f"Invalid type for '{name}': expected a decimal.",
                            param=name, code="invalid_type")
        if not low <= value <= high:
            side, word, sign, bound = ("above", "max", "<=", high) if value > high else (
                "below", "min", ">=", low)
            return _Problem(message=f"Invalid '{name}': decimal {side} {word}imum value. "
                            f"Expected a value {sign} {bound:g}, but got {value} instead.",
                            param=name, code=f"decimal_{side}_{word}_value")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (type(value) is not int or value < 1):
            return _Problem(message=f"Invalid '{name}': integer below minimum value. Expected "
                            f"a value >= 1, but got {value} instead.", param=name,
                            code="integer_below_min_value")
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > 4:
        return _Problem(message="Invalid 'stop': array too long. Expected an array with "
                        f"maximum length 4, but got an array with length {len(stop)} instead.",
                        param="stop", code="array_above_max_length")
    if body.get("stream_options") is not None and not body.get("stream"):
        return _Problem(message="The 'stream_options' parameter is only allowed when 'stream' "
                        "is enabled.", param="stream_options", code="invalid_value")
    return None


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content
                        if isinstance(part, dict) and part.get("type") == "text")
    return ""


def _answer(body: dict[str, Any], reply: Reply, headers: dict[str, str]) -> FakeJSON | FakeStream:
    messages = body["messages"]
    prompt = next((_text_of(m.get("content")) for m in reversed(messages)
                   if m.get("role") == "user"), "")
    decision = decide(body, reply, prompt)
    text, finish = _shape(decision.text or "", body)
    calls = decision.calls
    if calls:
        finish = "tool_calls"
    prompt_tokens, completion_tokens = reply.usage or (
        sum(count_tokens(_text_of(m.get("content"))) for m in messages),
        count_tokens(text) + sum(count_tokens(arguments) for _, _, arguments in calls))
    finish = reply.finish_reason or finish
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }
    head = {
        "id": f"chatcmpl-{secrets.token_urlsafe(21)[:29]}",
        "object": "chat.completion.chunk" if body.get("stream") else "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "service_tier": "default",
        "system_fingerprint": f"fp_{secrets.token_hex(5)}",
    }
    if body.get("stream"):
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = _stream_events(head, reply.split(text), finish, usage if with_usage else None,
                                _call_deltas(calls, reply.chunks or 3))
        if reply.error_after is not None:
            events = _failing_stream(events, reply)
        return FakeStream(events=events, headers=headers)
    return FakeJSON(headers=headers, body={**head, "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": text if text or not calls else None,
                    "refusal": None, "annotations": [],
                    **({"tool_calls": [_call_body(call) for call in calls]} if calls else {})},
        "logprobs": None,
        "finish_reason": finish,
    }], "usage": usage})


def _shape(text: str, body: dict[str, Any]) -> tuple[str, str]:
    """The answer cut where a stop sequence starts or the token limit ends, and why."""
    cut = cut_answer(text, body.get("stop"),
                     body.get("max_completion_tokens", body.get("max_tokens")))
    return cut.text, "length" if cut.at_limit else "stop"


def _call_body(call: tuple[str, str, str]) -> dict[str, Any]:
    call_id, name, arguments = call
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _call_deltas(calls: tuple[tuple[str, str, str], ...], pieces: int) -> list[dict[str, Any]]:
    """The ``tool_calls`` deltas of a stream: each call's id and name, then its arguments in
    ``pieces`` fragments, as the service streams them."""
    deltas: list[dict[str, Any]] = []
    for index, (call_id, name, arguments) in enumerate(calls):
        deltas.append({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                       "function": {"name": name, "arguments": ""}}]})
        size = max(1, -(-len(arguments) // pieces))
        deltas.extend({"tool_calls": [{"index": index, "function": {
            "arguments": arguments[start:start + size]}}]}
            for start in range(0, len(arguments), size))
    return deltas


def _stream_events(head: dict[str, Any], pieces: list[str], finish: str,
                   usage: dict[str, Any] | None,
                   call_deltas: list[dict[str, Any]] | None = None) -> list[str | tuple[str, str]]:
    """The stream's events: a role delta, one content delta per piece, the tool-call deltas,
    the finish reason, the usage chunk when asked for, then ``[DONE]``."""
    extra = {} if usage is None else {"usage": None}

    def chunk(delta: dict[str, Any], reason: str | None = None) -> str:
        return json.dumps({**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                "finish_reason": reason}], **extra},
                          separators=(",", ":"), ensure_ascii=False)

    events: list[str | tuple[str, str]] = [
        chunk({"role": "assistant", "content": "", "refusal": None})]
    events.extend(chunk({"content": piece}) for piece in pieces)
    events.extend(chunk(delta) for delta in call_deltas or ())
    events.append(chunk({}, finish))
    if usage is not None:
        events.append(json.dumps({**head, "choices": [], "usage": usage},
                                 separators=(",", ":"), ensure_ascii=False))
    events.append("[DONE]")
    return events


def _failing_stream(events: list[str | tuple[str, str]],
                    reply: Reply) -> list[str | tuple[str, str]]:
    """The role event and ``reply.error_after`` content events, then an error object in the
    stream (as the service sends when it fails after the answer began) and no ``[DONE]``."""
    kept = events[:1 + (reply.error_after or 0)]
    error = error_body(reply.error_message, reply.error_type or "server_error")
    return [*kept, json.dumps(error, separators=(",", ":"))]
