"""The Gemini API as the fake provider server plays it.

``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent`` and
``GET /v1beta/models``, mounted so that the provider's base URL on the fake server is
``<server>/google`` (like ``https://generativelanguage.googleapis.com``). Requests are checked
the way the service does: no key is a 403 ("unregistered callers"), a malformed one a 400 with
the ``API_KEY_INVALID`` reason, unknown models a 404, contents, roles and generationConfig
ranges a 400. Answers have the service's shapes: ``GenerateContentResponse`` objects (a stream
sends one per ``data:`` event, the last carrying ``finishReason`` and the usage, and no end
marker), and ``{"error": {"code", "message", "status", "details"}}``. Token counts are one per
whitespace-separated word.

Scripting beyond :class:`~agentflow.testing.Reply`'s common fields:

* ``Reply(finish_reason="SAFETY")`` (or another safety reason) answers with a candidate that
  was stopped before any text, with a flagged safety rating, as the service does;
* ``Reply(finish_reason="blocked:SAFETY")`` answers with no candidate and
  ``promptFeedback.blockReason = "SAFETY"``: a blocked prompt;
* ``Reply(status=429, retry_after=7)`` sends the wait as a ``RetryInfo`` detail (``"7s"``),
  which is where Google puts it;
* ``Reply(error_after=K)`` ends a stream after K chunks with an error object
  (``error_type`` is the status name, ``UNAVAILABLE`` by default).
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

__all__ = ["STATUS_NAMES", "error_body", "gemini_fake"]

#: The ``google.rpc`` status name the service answers each HTTP status with.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
#: The HTTP status of each status name (for a scripted in-stream error).
STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}
_SAFETY_STOPS = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                 "IMAGE_SAFETY"}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_NO_KEY = ("Method doesn't allow unregistered callers (callers without established identity). "
           "Please use API Key or other form of API consumer identity to call this API.")


def error_body(code: int, message: str, status: str | None = None,
               details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The service's error body."""
    error: dict[str, Any] = {"code": code, "message": message,
                             "status": status or STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return {"error": error}


def gemini_fake() -> FakeProvider:
    """The emulation of the ``google`` provider."""
    return FakeProvider(provider="google", base_path="", routes=[
        FakeRoute(method="POST", path="/v1beta/models/{model}:generateContent",
                  handler=_generate),
        FakeRoute(method="POST", path="/v1beta/models/{model}:streamGenerateContent",
                  handler=_stream_generate),
        FakeRoute(method="GET", path="/v1beta/models", handler=_list_models),
    ])


def _refusal(call: FakeCall) -> FakeJSON | None:
    key = call.headers.get("x-goog-api-key") or call.query.get("key")
    if not key:
        return FakeJSON(status=403, body=error_body(403, _NO_KEY))
    if any(ch.isspace() for ch in key):
        return FakeJSON(status=400, body=error_body(
            400, "API key not valid. Please pass a valid API key.", details=[{
                "@type": _ERROR_INFO, "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"}}]))
    reply = call.reply
    if reply.status < 400:
        return None
    details = [] if reply.retry_after is None else [
        {"@type": _RETRY_INFO, "retryDelay": f"{reply.retry_after:g}s"}]
    return FakeJSON(status=reply.status, headers=dict(reply.headers), body=error_body(
        reply.status, reply.error_message, reply.error_type, details))


def _known(model: str) -> bool:
    from agentflow_google._catalog import MODELS

    return model.startswith(("gemini-", "gemma-")) or any(m.name == model for m in MODELS)


async def _list_models(call: FakeCall) -> FakeJSON:
    refused = _refusal(call)
    if refused is not None:
        return refused
    from agentflow_google._catalog import MODELS

    return FakeJSON(body={"models": [{
        "name": f"models/{model.name}", "displayName": model.name,
        "inputTokenLimit": model.context_window, "outputTokenLimit": model.max_output_tokens,
        "supportedGenerationMethods": ["generateContent", "countTokens"]} for model in MODELS]})


async def _generate(call: FakeCall) -> FakeJSON | FakeStream:
    return _serve(call, stream=False)


async def _stream_generate(call: FakeCall) -> FakeJSON | FakeStream:
    return _serve(call, stream=True)


def _serve(call: FakeCall, *, stream: bool) -> FakeJSON | FakeStream:
    refused = _refusal(call)
    if refused is not None:
        return refused
    model = call.path_params["model"]
    method = "streamGenerateContent" if stream else "generateContent"
    if not _known(model):
        return FakeJSON(status=404, body=error_body(
            404, f"models/{model} is not found for API version v1beta, or is not supported "
                 f"for {method}. Call ListModels to see the list of available models and "
                 "their supported methods."))
    body = call.json
    problem = _problem(body)
    if problem is not None:
        return FakeJSON(status=400, body=error_body(400, problem))
    chunks = _answer(model, body, call.reply, stream=stream)
    if not stream:
        return FakeJSON(body=chunks[0])
    if call.query.get("alt") != "sse":  # without alt=sse the service streams a JSON array
        return FakeJSON(body=chunks)
    events: list[str | tuple[str, str]] = [
        json.dumps(chunk, separators=(",", ":"), ensure_ascii=False) for chunk in chunks]
    return FakeStream(events=events, malformed_event='{"candidates": [')


def _problem(body: Any) -> str | None:
    """What the service says about an invalid request, or None."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Unknown name: the body is not a JSON object."
    contents = body.get("contents")
    if not contents or not isinstance(contents, list):
        return "* GenerateContentRequest.contents: contents is not specified\n"
    for content in contents:
        if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model"):
            return "Please use a valid role: user, model."
        if not content.get("parts"):
            return "* GenerateContentRequest.contents.parts: contents.parts must not be empty.\n"
    config = body.get("generationConfig") or {}
    for name, high in (("temperature", 2.0), ("topP", 1.0)):
        value = config.get(name)
        if value is not None and not 0 <= value <= high:
            return (f"* GenerateContentRequest.generation_config.{_snake(name)}: "
                    f"must be in the range [0, {high:g}]\n")
    limit = config.get("maxOutputTokens")
    if limit is not None and (type(limit) is not int or limit < 1):
        return "* GenerateContentRequest.generation_config.max_output_tokens: must be positive\n"
    if len(config.get("stopSequences") or ()) > 5:
        return "* GenerateContentRequest.generation_config.stop_sequences: at most 5\n"
    return None


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name)


def _text(content: dict[str, Any]) -> str:
    return " ".join(part.get("text", "") for part in content.get("parts", ())
                    if isinstance(part, dict))


def _answer(model: str, body: dict[str, Any], reply: Reply, *,
            stream: bool) -> list[dict[str, Any]]:
    """The response chunks (one for a plain answer)."""
    contents = body["contents"]
    prompt = next((_text(c) for c in reversed(contents) if c.get("role", "user") == "user"), "")
    config = body.get("generationConfig") or {}
    text, finish = _shape(reply.text_for(prompt), config)
    finish = reply.finish_reason or finish
    system = body.get("systemInstruction") or {}
    prompt_tokens, answer_tokens = reply.usage or (
        sum(len(_text(c).split()) for c in contents) + len(_text(system).split()),
        len(text.split()))
    head = {"modelVersion": model, "responseId": secrets.token_urlsafe(16)}
    usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": answer_tokens,
             "totalTokenCount": prompt_tokens + answer_tokens,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}]}
    if finish.startswith("blocked:"):
        return [{"promptFeedback": {"blockReason": finish.removeprefix("blocked:"),
                                    "safetyRatings": _ratings(flagged=True)},
                 "usageMetadata": {"promptTokenCount": prompt_tokens,
                                   "totalTokenCount": prompt_tokens}, **head}]
    if finish in _SAFETY_STOPS:
        return [{"candidates": [{"finishReason": finish, "index": 0,
                                 "safetyRatings": _ratings(flagged=True)}],
                 "usageMetadata": {**usage, "candidatesTokenCount": 0,
                                   "totalTokenCount": prompt_tokens}, **head}]
    pieces = reply.split(text) if stream else [text]
    if reply.error_after is not None and stream:
        chunks = [_chunk(piece, None, None, head) for piece in pieces[:reply.error_after]]
        return [*chunks, error_body(STATUS_CODES.get(reply.error_type or "", 503),
                                    reply.error_message, reply.error_type or "UNAVAILABLE")]
    pieces = pieces or [""]
    chunks = [_chunk(piece, None, {"promptTokenCount": prompt_tokens,
                                   "totalTokenCount": prompt_tokens}, head)
              for piece in pieces[:-1]]
    chunks.append(_chunk(pieces[-1], finish, usage, head))
    return chunks


def _chunk(text: str, finish: str | None, usage: dict[str, Any] | None,
           head: dict[str, Any]) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"},
                                 "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    chunk: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        chunk["usageMetadata"] = usage
    return {**chunk, **head}


def _ratings(*, flagged: bool) -> list[dict[str, Any]]:
    return [{"category": "HARM_CATEGORY_HARASSMENT",
             "probability": "HIGH" if flagged else "NEGLIGIBLE", "blocked": flagged},
            {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]


def _shape(text: str, config: dict[str, Any]) -> tuple[str, str]:
    """The answer cut where a stop sequence starts or ``maxOutputTokens`` ends, and why."""
    for sequence in config.get("stopSequences") or ():
        at = text.find(sequence)
        if at >= 0:
            text = text[:at]
    limit = config.get("maxOutputTokens")
    if isinstance(limit, int) and len(text.split()) > limit:
        return " ".join(text.split()[:limit]), "MAX_TOKENS"
    return text, "STOP"
