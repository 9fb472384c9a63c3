"""The Gemini API as the fake provider server plays it (the emulation; see
:mod:`agentflow_google.testing`).

Routes, mounted so that the provider's base URL on the fake server is ``<server>/google`` (as
``https://generativelanguage.googleapis.com`` is the real one):

* ``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent`` (with
  ``alt=sse`` a stream of ``data:`` events, one ``GenerateContentResponse`` each and no end
  marker, the last carrying ``finishReason`` and the full ``usageMetadata``; without it the
  same chunks as one JSON array, as the service does);
* ``GET /v1beta/models`` and ``GET /v1beta/models/{model}``.

Requests are checked the way the service checks them: no key is a 403 "unregistered
callers"; a key with whitespace in it (real keys have none) a 400 ``API_KEY_INVALID``; a bearer
token instead of a key a 401; a model id that starts with neither ``gemini-`` nor ``gemma-``
and is not in the catalog a 404; missing ``contents``, a role other than ``user`` / ``model``,
empty ``parts``, unknown field names, values of the wrong type or out of range a 400. The key
is also accepted as ``?key=``, as the service accepts it. Every error is Google's
``{"error": {"code", "message", "status", "details"}}``. Answers carry ``modelVersion`` and a
``responseId``, and no request-id header: the service sends none. Token counts are one per
whitespace-separated word.

How a :class:`~agentflow.testing.Reply` is played, beyond the fields every emulation shares:

* ``finish_reason`` is reported as given. A content-filter reason (``SAFETY``, ``RECITATION``,
  ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``, ``IMAGE_SAFETY``) withholds the whole answer,
  as the service does when it blocks the output: the candidate has no content, only the reason
  (and, for ``SAFETY``, a safety rating marked ``blocked``), in both modes.
* ``finish_reason="blocked:<REASON>"`` plays a blocked prompt: no candidate, and
  ``promptFeedback.blockReason = <REASON>`` (``SAFETY``, ``PROHIBITED_CONTENT``, ``BLOCKLIST``,
  ``OTHER``), in both modes.
* ``status >= 400`` answers with ``error_message`` and, as ``status``, ``error_type`` when it
  is a ``google.rpc`` status name (``RESOURCE_EXHAUSTED`` ...), else the status the service uses
  for that HTTP code. Any other ``error_type`` becomes the ``ErrorInfo`` reason of the details
  (``Reply(status=400, error_type="API_KEY_INVALID")``), or, on a 429, the ``quotaId`` of the
  ``QuotaFailure`` when it names a quota
  (``Reply(status=429, error_type="GenerateRequestsPerDayPerProjectPerModel-FreeTier")``).
  A 429 carries Google's ``QuotaFailure`` and ``Help`` details, and ``retry_after`` also goes
  in a ``RetryInfo`` detail (``"7s"``), which is where Google puts the advised wait.
* ``error_after=K`` ends a stream after K content events with an event holding an error object
  (``{"error": {"code": 503, "message", "status": "UNAVAILABLE"}}`` unless ``error_type`` names
  another status), which is what the service sends when it fails mid-answer.
* Function calls, structured output and images are played as
  :mod:`agentflow_google.testing._content` describes: scripted ``tool_calls`` become whole
  ``functionCall`` parts with ``finishReason: STOP``, mode ``ANY`` forces a call, a response
  schema gets an example answer, function responses and images are echoed, and tools, parts
  and schemas are checked as the service checks them.
* A ``generationConfig.thinkingConfig`` other than a zero budget or the ``minimal`` level makes
  the model "think": 8 thinking tokens are reported as ``thoughtsTokenCount`` (on top of a
  scripted ``usage``), and with ``includeThoughts`` a thought part (``thought: true``) comes
  first.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from agentflow.testing import FakeCall, FakeJSON, FakeProvider, FakeRoute, FakeStream, Reply
from agentflow.testing.emulation import count_tokens, cut_answer
from agentflow_google._errors import STATUS_CODES
from agentflow_google.testing._content import (
    Problem,
    function_words,
    reply_content,
    request_problem,
)

__all__ = ["STATUS_NAMES", "THOUGHT_TOKENS", "error_body", "gemini_fake"]

#: The ``google.rpc`` status name the service answers each HTTP status with.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
#: The thinking tokens a thinking request reports.
THOUGHT_TOKENS = 8

_FILTER_STOPS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                           "IMAGE_SAFETY"})
_TYPE = "type.googleapis.com/google.rpc."
_SERVICE = "generativelanguage.googleapis.com"
# Google's front end sends these on every answer; nothing that identifies the request.
_HEADERS = {"server": "scaffolding on HTTPServer2", "vary": "Origin, X-Origin, Referer",
            "x-content-type-options": "nosniff", "x-frame-options": "SAMEORIGIN",
            "x-xss-protection": "0"}
_JSON_HEADERS = {**_HEADERS, "content-type": "application/json; charset=UTF-8"}
_NO_KEY = ("Method doesn't allow unregistered callers (callers without established identity). "
           "Please use API Key or other form of API consumer identity to call this API.")
_BAD_KEY = "API key not valid. Please pass a valid API key."
_BEARER = ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
           "login cookie or other valid authentication credential. See "
           "https://developers.google.com/identity/sign-in/web/devconsole-project.")
_QUOTA_MESSAGE = "Learn more about Gemini API quotas"
_RATE_LIMITS = "https://ai.google.dev/gemini-api/docs/rate-limits"

# Field names the service knows, in both the camelCase and the snake_case spelling it accepts.
_REQUEST_FIELDS = frozenset({
    "model", "contents", "systemInstruction", "generationConfig", "safetySettings", "tools",
    "toolConfig", "cachedContent", "serviceTier", "store"})
_CONFIG_FIELDS = frozenset({
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
    "responseModalities", "candidateCount", "maxOutputTokens", "temperature", "topP", "topK",
    "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
    "enableEnhancedCivicAnswers", "speechConfig", "thinkingConfig", "imageConfig",
    "mediaResolution"})
_THINKING_LEVELS = ("minimal", "low", "medium", "high")


def error_body(code: int, message: str, status: str | None = None,
               details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Google's error body."""
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
        FakeRoute(method="GET", path="/v1beta/models/{model}", handler=_get_model),
    ])


def _error(code: int, message: str, status: str | None = None,
           details: list[dict[str, Any]] | None = None) -> FakeJSON:
    return FakeJSON(status=code, headers=_JSON_HEADERS,
                    body=error_body(code, message, status, details))


def _error_info(reason: str) -> dict[str, Any]:
    return {"@type": f"{_TYPE}ErrorInfo", "reason": reason, "domain": "googleapis.com",
            "metadata": {"service": _SERVICE}}


# --- keys and scripted failures ----------------------------------------------------------------


def _refusal(call: FakeCall) -> FakeJSON | None:
    """The service's answer to a missing or malformed key; the scripted error, if any."""
    key = call.headers.get("x-goog-api-key", call.query.get("key"))
    if key is None:
        if call.headers.get("authorization"):
            return _error(401, _BEARER, details=[_error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED")])
        return _error(403, _NO_KEY)
    if not key or any(ch.isspace() for ch in key):
        return _error(400, _BAD_KEY, details=[
            _error_info("API_KEY_INVALID"),
            {"@type": f"{_TYPE}LocalizedMessage", "locale": "en-US", "message": _BAD_KEY}])
    reply = call.reply
    return _scripted_error(reply) if reply.status >= 400 else None


def _scripted_error(reply: Reply) -> FakeJSON:
    code, kind = reply.status, reply.error_type
    status = kind if kind in STATUS_CODES else None
    details: list[dict[str, Any]] = []
    reason = kind if kind is not None and status is None else None
    if code == 429:
        quota = reason if reason is not None and "Per" in reason else (
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier")
        reason = None if quota == reason else reason
        details.append({"@type": f"{_TYPE}QuotaFailure", "violations": [{
            "quotaMetric": f"{_SERVICE}/generate_content_free_tier_requests",
            "quotaId": quota, "quotaValue": "10"}]})
        details.append({"@type": f"{_TYPE}Help", "links": [
            {"description": _QUOTA_MESSAGE, "url": _RATE_LIMITS}]})
    if reason is not None:
        details.insert(0, _error_info(reason))
    if reply.retry_after is not None:
        details.append({"@type": f"{_TYPE}RetryInfo", "retryDelay": f"{reply.retry_after:g}s"})
    return _error(code, reply.error_message, status, details)


# --- models ------------------------------------------------------------------------------------


def _known(model: str) -> bool:
    from agentflow_google._catalog import MODELS

    return model.startswith(("gemini-", "gemma-")) or any(m.name == model for m in MODELS)


def _not_found(model: str, method: str) -> FakeJSON:
    return _error(404, f"models/{model} is not found for API version v1beta, or is not "
                       f"supported for {method}. Call ListModels to see the list of available "
                       "models and their supported methods.")


def _model_resource(model: str) -> dict[str, Any]:
    from agentflow_google._catalog import MODELS

    info = next((m for m in MODELS if m.name == model), None)
    words = model.split("-")
    return {
        "name": f"models/{model}", "version": "001",
        "displayName": " ".join(w.capitalize() if w.isalpha() else w for w in words),
        "description": f"Emulated {model}.",
        "inputTokenLimit": info.context_window if info else 1_048_576,
        "outputTokenLimit": info.max_output_tokens if info else 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens",
                                       "createCachedContent", "batchGenerateContent"],
        "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True,
    }


async def _list_models(call: FakeCall) -> FakeJSON:
    from agentflow_google._catalog import MODELS

    refused = _refusal(call)
    if refused is not None:
        return refused
    return FakeJSON(headers=_JSON_HEADERS,
                    body={"models": [_model_resource(m.name) for m in MODELS]})


async def _get_model(call: FakeCall) -> FakeJSON:
    refused = _refusal(call)
    if refused is not None:
        return refused
    model = call.path_params["model"]
    if ":" in model or not _known(model):
        return _not_found(model, "getModel")
    return FakeJSON(headers=_JSON_HEADERS, body=_model_resource(model))


# --- generateContent ---------------------------------------------------------------------------


async def _generate(call: FakeCall) -> FakeJSON | FakeStream:
    return _serve(call, stream=False)


async def _stream_generate(call: FakeCall) -> FakeJSON | FakeStream:
    return _serve(call, stream=True)


def _serve(call: FakeCall, *, stream: bool) -> FakeJSON | FakeStream:
    refused = _refusal(call)
    if refused is not None:
        return refused
    model = call.path_params["model"]
    if not _known(model):
        return _not_found(model, "streamGenerateContent" if stream else "generateContent")
    body = call.json
    if not isinstance(body, dict):
        return _error(400, "Invalid JSON payload received. Expected an object.")
    problem = (_field_problem(body) or _contents_problem(body) or _config_problem(body)
               or request_problem(body, model))
    if problem is not None:
        return _error(400, problem.message, details=problem.details())
    chunks = _answer(model, body, call.reply, stream=stream)
    if not stream:
        return FakeJSON(headers=_JSON_HEADERS, body=chunks[0])
    if call.query.get("alt") != "sse":  # without alt=sse the service streams a JSON array
        return FakeJSON(headers=_JSON_HEADERS, body=chunks)
    events: list[str | tuple[str, str]] = [
        json.dumps(chunk, separators=(",", ":"), ensure_ascii=False) for chunk in chunks]
    return FakeStream(events=events, headers=_HEADERS, malformed_event='{"candidates": [')


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _get(mapping: Mapping[str, Any], camel: str) -> Any:
    """A field in either spelling the service accepts."""
    value = mapping.get(camel)
    if value is None:
        snake = "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in camel)
        value = mapping.get(snake)
    return value


def _unknown(mapping: Mapping[str, Any], known: frozenset[str], where: str) -> Problem | None:
    for name in mapping:
        if _camel(name) not in known:
            at = f" at '{where}'" if where else ""
            return Problem(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot '
                            "find field.", where)
    return None


def _field_problem(body: dict[str, Any]) -> Problem | None:
    config = _get(body, "generationConfig")
    if config is not None and not isinstance(config, dict):
        return Problem(f"Invalid value at 'generation_config' (type.googleapis.com/google.ai."
                        f"generativelanguage.v1beta.GenerationConfig), {json.dumps(config)}",
                        "generation_config")
    return _unknown(body, _REQUEST_FIELDS, "") or (
        _unknown(config, _CONFIG_FIELDS, "generation_config") if config else None)


def _contents_problem(body: dict[str, Any]) -> Problem | None:
    contents = body.get("contents")
    if not contents:
        return Problem("* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(contents, list):
        return Problem(f"Invalid value at 'contents' (type.googleapis.com/google.ai."
                        f"generativelanguage.v1beta.Content), {json.dumps(contents)}",
                        "contents")
    for index, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model"):
            return Problem("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not parts or not isinstance(parts, list):
            return Problem(f"* GenerateContentRequest.contents[{index}].parts: "
                            "contents.parts must not be empty.\n")
    return None


def _config_problem(body: dict[str, Any]) -> Problem | None:
    config = _get(body, "generationConfig") or {}
    for name, low, high in (("temperature", 0, 2), ("topP", 0, 1)):
        value = _get(config, name)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return _invalid_value(name, value, "TYPE_FLOAT")
        if not low <= value <= high:
            return Problem(f"Unable to submit request because it has a {name} value of "
                            f"{value:g} but the supported range is from {low} (inclusive) to "
                            f"{high + 0.0001:g} (exclusive). Update the value and try again.")
    limit = _get(config, "maxOutputTokens")
    if limit is not None and (type(limit) is not int or limit < 1):
        if type(limit) is not int:
            return _invalid_value("maxOutputTokens", limit, "TYPE_INT32")
        return Problem(f"Unable to submit request because it has a maxOutputTokens value of "
                        f"{limit} but the supported range is from 1 (inclusive) to 65537 "
                        "(exclusive). Update the value and try again.")
    stop = _get(config, "stopSequences")
    if stop is not None and (not isinstance(stop, list)
                             or not all(isinstance(s, str) for s in stop)):
        return _invalid_value("stopSequences", stop, "TYPE_STRING")
    if stop is not None and len(stop) > 5:
        return Problem("Unable to submit request because it has more than 5 stop sequences. "
                        "Remove some and try again.")
    return _thinking_problem(_get(config, "thinkingConfig"))


def _thinking_problem(thinking: Any) -> Problem | None:
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        return _invalid_value("thinkingConfig", thinking, "TYPE_MESSAGE")
    level = _get(thinking, "thinkingLevel")
    if level is not None and str(level).lower() not in _THINKING_LEVELS:
        return _invalid_value("thinkingConfig.thinkingLevel", level, "TYPE_ENUM")
    budget = _get(thinking, "thinkingBudget")
    if budget is not None and type(budget) is not int:
        return _invalid_value("thinkingConfig.thinkingBudget", budget, "TYPE_INT32")
    return None


def _invalid_value(name: str, value: Any, kind: str) -> Problem:
    path = ".".join("".join(f"_{c.lower()}" if c.isupper() else c for c in part)
                    for part in f"generationConfig.{name}".split("."))
    return Problem(f"Invalid value at '{path}' ({kind}), {json.dumps(value)}", path)


# --- answers -----------------------------------------------------------------------------------


def _text(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    return " ".join(str(part["text"]) for part in parts or ()
                    if isinstance(part, dict) and "text" in part and not part.get("thought"))


def _answer(model: str, body: dict[str, Any], reply: Reply, *,
            stream: bool) -> list[dict[str, Any]]:
    """The answer's chunks (one for a plain answer)."""
    contents = body["contents"]
    config = _get(body, "generationConfig") or {}
    answer, calls = reply_content(model, body, reply)
    text, finish = _shape(answer, config)
    finish = reply.finish_reason or finish
    prompt_tokens, answer_tokens = reply.usage or (
        sum(count_tokens(_text(c)) + function_words(c) for c in contents)
        + count_tokens(_text(_get(body, "systemInstruction"))),
        count_tokens(text) + function_words({"parts": calls}))
    thinking = _get(config, "thinkingConfig") or {}
    thoughts = THOUGHT_TOKENS if _thinks(thinking) else 0
    head = {"modelVersion": model, "responseId": secrets.token_urlsafe(17)}
    opening = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens,
               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}]}
    if finish.startswith("blocked:"):
        reason = finish.removeprefix("blocked:")
        feedback: dict[str, Any] = {"blockReason": reason}
        if reason == "SAFETY":
            feedback["safetyRatings"] = _ratings()
        return [{"promptFeedback": feedback, "usageMetadata": opening, **head}]
    usage = {**opening, "candidatesTokenCount": answer_tokens,
             "totalTokenCount": prompt_tokens + answer_tokens + thoughts}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if finish in _FILTER_STOPS:
        candidate: dict[str, Any] = {"finishReason": finish, "index": 0}
        if finish == "SAFETY":
            candidate["safetyRatings"] = _ratings()
        usage = {**usage, "candidatesTokenCount": 0, "totalTokenCount": prompt_tokens + thoughts}
        return [{"candidates": [candidate], "usageMetadata": usage, **head}]
    thought: list[dict[str, Any]] = [{"text": "Thinking it over.", "thought": True}] if (
        thoughts and _get(thinking, "includeThoughts")) else []
    if not stream:
        said = [{"text": text}] if text or not calls else []
        return [_chunk([*thought, *said, *calls], finish, usage, head)]
    pieces: list[list[dict[str, Any]]] = [[{"text": piece}] for piece in reply.split(text)]
    if thought:
        pieces.insert(0, thought)
    if calls:  # Gemini streams each function call whole
        pieces.append(calls)
    if reply.error_after is not None:
        kept = [_chunk(parts, None, opening, head) for parts in pieces[:reply.error_after]]
        status = reply.error_type if reply.error_type in STATUS_CODES else "UNAVAILABLE"
        return [*kept, error_body(STATUS_CODES[status], reply.error_message, status)]
    pieces = pieces or [[{"text": ""}]]
    chunks = [_chunk(parts, None, opening, head) for parts in pieces[:-1]]
    chunks.append(_chunk(pieces[-1], finish, usage, head))
    return chunks


def _thinks(thinking: Mapping[str, Any]) -> bool:
    if not thinking:
        return False
    level = _get(thinking, "thinkingLevel")
    return _get(thinking, "thinkingBudget") != 0 and str(level).lower() != "minimal"


def _chunk(parts: list[dict[str, Any]], finish: str | None, usage: dict[str, Any],
           head: dict[str, Any]) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return {"candidates": [candidate], "usageMetadata": usage, **head}


def _ratings() -> list[dict[str, Any]]:
    return [{"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
            {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True},
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"}]


def _shape(text: str, config: Mapping[str, Any]) -> tuple[str, str]:
    """The answer cut where a stop sequence starts or ``maxOutputTokens`` ends, and why."""
    cut = cut_answer(text, _get(config, "stopSequences"), _get(config, "maxOutputTokens"))
    return cut.text, "MAX_TOKENS" if cut.at_limit else "STOP"
