"""Google's Gemini API (``generateContent``, ``streamGenerateContent``) as pure functions.

Errors are read in :mod:`agentflow_google._errors` (``map_error`` is re-exported, so this module
is the plugin's :class:`~agentflow.vendor.Codec`). Decisions worth knowing (also in the
README):

* URLs: the base URL is the host (``https://generativelanguage.googleapis.com``) and requests
  go to ``{base}/v1beta/models/{model}:generateContent``; a base URL whose last segment is
  already an API version (``.../v1beta``, ``.../v1``, as gateways spell it) is used as it is.
* The key travels in the ``x-goog-api-key`` header, never in the URL (Google also accepts
  ``?key=``, but URLs end up in proxy and access logs).
* System messages become ``systemInstruction`` (one part each); user and assistant turns
  become ``contents`` with the roles ``user`` and ``model``.
* Text is every text part of the first candidate joined, thought parts (``thought: true``)
  left out. ``completion_tokens`` counts the thinking tokens too
  (``candidatesTokenCount + thoughtsTokenCount``), as OpenAI's ``completion_tokens`` counts
  reasoning tokens, so that figures and costs compare across vendors; ``reasoning_tokens`` is
  ``thoughtsTokenCount`` alone. ``prompt_tokens`` adds ``toolUsePromptTokenCount`` (built-in
  tools' input) to ``promptTokenCount``, so prompt + completion = ``totalTokenCount``.
* A prompt blocked by ``promptFeedback.blockReason``, or a candidate stopped by a content
  filter before any text, raises :class:`~agentflow.errors.ProviderError` (not retried) naming
  the reason and the flagged safety categories, rather than returning an empty string; a
  filter stop after some text returns (or streams) that text with
  ``finish_reason == "content_filter"``.
* Function calls: ``functionCall`` parts become ``Response.tool_calls`` (in a stream, whole
  calls handed to ``state.tool_calls``), and ``finishReason: STOP`` with calls is reported as
  ``tool_calls``. Tools, tool results, thought signatures, structured output and images are
  laid out as :mod:`agentflow_google._content` describes.
* A stream has no end marker: the chunk that carries ``finishReason`` gives the final chunk
  (its ``usageMetadata`` arrives in that same chunk). ``responseId`` is the request id, of
  answers and of streams.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from agentflow.errors import ProviderError, StreamingError
from agentflow.types import Response, StreamChunk, ToolCall, Usage
from agentflow.vendor import endpoint_url, excerpt, parse_json, token_count
from agentflow_google import _content, _grounding
from agentflow_google._errors import LABEL, error_in_payload, error_object, map_error

if TYPE_CHECKING:
    import httpx

    from agentflow.types import ModelSettings, Request, StreamState

__all__ = [
    "API_VERSION",
    "FINISH_REASONS",
    "EventLike",
    "build_request",
    "check_request",
    "map_error",
    "model_url",
    "normalise_finish_reason",
    "parse_response",
    "parse_stream_event",
    "parse_usage",
]

PROVIDER = "google"
USER_AGENT = "agentflow-google/0.1.0"
#: The API version added to a base URL that names none.
API_VERSION = "v1beta"
_VERSION = re.compile(r"v[0-9]+[a-z0-9]*")

#: Gemini's ``finishReason`` -> agentflow's; any other value normalises to ``None``
#: (``OTHER``, ``FINISH_REASON_UNSPECIFIED``, values added later), the raw one being kept.
FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    # A content filter stopped the answer.
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    # The model could not go on: an unsupported language, a broken or runaway tool call.
    "LANGUAGE": "error",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "NO_IMAGE": "error",
}


class EventLike(Protocol):
    """What the codec reads of a server-sent event (``agentflow.sse.ServerSentEvent``)."""

    @property
    def data(self) -> str: ...


# --- requests ----------------------------------------------------------------------------------


def model_url(base_url: str, model: str, *, stream: bool) -> str:
    """The URL of ``model``'s ``generateContent`` (or ``streamGenerateContent?alt=sse``).

    ``{base}/v1beta/models/{model}:generateContent``; a base URL that already ends in an API
    version keeps it, a model id given as a resource name (``models/...``, ``tunedModels/...``)
    is used as one, and a query string on the base URL (some gateways need one) is kept.
    """
    base, _, query = base_url.partition("?")
    base = base.rstrip("/")
    if not _VERSION.fullmatch(base.rsplit("/", 1)[-1]):
        base = f"{base}/{API_VERSION}"
    name = model if "/" in model else f"models/{model}"
    method = "streamGenerateContent" if stream else "generateContent"
    params = "&".join(part for part in ("alt=sse" if stream else "", query) if part)
    return f"{base}/{quote(name, safe='/.-_~')}:{method}" + (f"?{params}" if params else "")


def build_request(request: Request, settings: ModelSettings) -> httpx.Request:
    """The ``httpx.Request`` for ``request``: URL, headers (with the key) and JSON body.

    ``generationConfig`` holds only what is set: ``temperature``, ``topP``,
    ``maxOutputTokens``, ``stopSequences``, ``thinkingConfig`` from the model options
    ``thinking_level`` / ``thinking_budget``, and ``responseMimeType`` with
    ``responseJsonSchema`` for an output schema. Tools, tool results and images are laid out
    by :mod:`agentflow_google._content`; ``parallel_tool_calls`` has no Gemini field.
    """
    import httpx

    body: dict[str, Any] = {"contents": _content.contents(request.messages, request.model)}
    system = [m.text for m in request.messages if m.role == "system"]
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    if request.tools:
        body["tools"] = _content.function_declarations(request.tools)
        config = _content.tool_config(request.tool_choice)
        if config is not None:
            body["toolConfig"] = config
    from agentflow_google._grounding import search_tools

    searches = search_tools(settings.options)
    if searches:
        body["tools"] = [*body.get("tools", ()), *searches]
    config = _generation_config(request, settings.options)
    if config:
        body["generationConfig"] = config
    headers = {"content-type": "application/json",
               "accept": "text/event-stream" if request.stream else "application/json",
               "user-agent": USER_AGENT}
    key = settings.api_key.reveal().strip() if settings.api_key is not None else ""
    if key:
        headers["x-goog-api-key"] = key
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return httpx.Request("POST", endpoint_url(model_url(settings.base_url, request.model,
                                                        stream=request.stream)),
                         headers=headers, content=content)


def check_request(settings: ModelSettings) -> httpx.Request:
    """``GET {base}/v1beta/models?pageSize=1`` with the key in ``x-goog-api-key``: the health
    check (authenticated, no tokens). The base URL's API version and query are kept."""
    import httpx

    base, _, query = settings.base_url.partition("?")
    base = base.rstrip("/")
    if not _VERSION.fullmatch(base.rsplit("/", 1)[-1]):
        base = f"{base}/{API_VERSION}"
    headers = {"accept": "application/json", "user-agent": USER_AGENT}
    key = settings.api_key.reveal().strip() if settings.api_key is not None else ""
    if key:
        headers["x-goog-api-key"] = key
    params = "&".join(part for part in ("pageSize=1", query) if part)
    return httpx.Request("GET", f"{base}/models?{params}", headers=headers)


def _generation_config(request: Request, options: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, value in (("temperature", request.temperature), ("topP", request.top_p),
                        ("maxOutputTokens", request.max_tokens)):
        if value is not None:
            config[name] = value
    if request.stop:
        config["stopSequences"] = list(request.stop)
    thinking = {field: options[option] for option, field in
                (("thinking_level", "thinkingLevel"), ("thinking_budget", "thinkingBudget"))
                if options.get(option) is not None}
    if thinking:
        config["thinkingConfig"] = thinking
    if request.output_schema is not None:
        config.update(_content.structured_output(request.output_schema))
    return config


# --- answers -----------------------------------------------------------------------------------


def normalise_finish_reason(raw: str | None) -> str | None:
    """agentflow's finish reason for Gemini's ``finishReason``; ``None`` if none or unknown."""
    return FINISH_REASONS.get(raw) if raw is not None else None


def parse_usage(raw: Any) -> Usage | None:
    """A :class:`Usage` from ``usageMetadata``; ``None`` when ``raw`` is not an object,
    :class:`TypeError` when a count is not an integer."""
    if not isinstance(raw, dict):
        return None
    thoughts = token_count(raw.get("thoughtsTokenCount"))
    return Usage.of(
        (token_count(raw.get("promptTokenCount")) or 0)
        + (token_count(raw.get("toolUsePromptTokenCount")) or 0),
        (token_count(raw.get("candidatesTokenCount")) or 0) + (thoughts or 0),
        token_count(raw.get("totalTokenCount")),
        cached_tokens=token_count(raw.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def parse_response(response: httpx.Response, request: Request | None = None) -> Response:
    """The :class:`Response` in a 2xx ``GenerateContentResponse``.

    Raises :class:`ProviderError` for a body that is not JSON or not of that shape (quoting an
    excerpt), for a blocked prompt and for a filtered candidate with no text; an error object
    raises the error it denotes.
    """
    content = response.content
    body = parse_json(content, LABEL, object_only=False)
    error = error_object(body)
    if error is not None:
        raise error_in_payload(error, stream=False)
    if not isinstance(body, dict):
        raise ProviderError(f"{LABEL} sent an answer that is not a JSON object: "
                            f"{excerpt(content)}")
    response_id = body.get("responseId")
    request_id = response_id if isinstance(response_id, str) and response_id else None
    try:
        candidate = _first_candidate(body)
        if candidate is None:
            raise ProviderError(f"{LABEL} sent an answer with no candidate and no block "
                                f"reason, so there is no text to return: {excerpt(content)}")
        text = _text(candidate)
        calls = tuple(ToolCall.of(id, name, _content.arguments(name, args), extra=extra)
                      for id, name, args, extra in _content.read_calls(_parts(candidate)))
        raw = candidate.get("finishReason") or None
        finish = _finish(raw, bool(calls))
        if finish == "content_filter" and not text and not calls:
            raise _filtered(candidate, raw)
        return Response(
            text=text,
            model=body.get("modelVersion") or (request.model if request is not None else ""),
            provider=PROVIDER,
            finish_reason=finish,
            raw_finish_reason=raw,
            usage=parse_usage(body.get("usageMetadata")),
            request_id=request_id,
            tool_calls=calls,
            server_tools=_grounding.server_tools(candidate.get("groundingMetadata")),
            citations=_grounding.citations(candidate.get("groundingMetadata")),
        )
    except ProviderError as exc:
        raise exc.with_context(request_id=request_id) from None
    except (AttributeError, KeyError, TypeError, IndexError) as exc:
        raise ProviderError(f"{LABEL} sent an answer of an unexpected shape "
                            f"({type(exc).__name__}: {exc}): {excerpt(content)}") from None


def _first_candidate(body: dict[str, Any]) -> dict[str, Any] | None:
    """The first candidate, ``None`` for none; raises for a prompt that was blocked."""
    candidates = body.get("candidates")
    if candidates:
        candidate = candidates[0]
        if not isinstance(candidate, dict):
            raise TypeError(f"a candidate is a {type(candidate).__name__}, not an object")
        return candidate
    feedback = body.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        raise _blocked(feedback)
    return None


def _parts(candidate: dict[str, Any]) -> list[Any]:
    content = candidate.get("content")
    parts = None if content is None else content.get("parts")
    return list(parts or ())


def _text(candidate: dict[str, Any]) -> str:
    """The candidate's text parts joined, thoughts left out."""
    texts = [part.get("text") for part in _parts(candidate) if not part.get("thought")]
    return "".join(text for text in texts if text is not None)


def _finish(raw: str | None, calls: bool) -> str | None:
    """The finish reason; Gemini says ``STOP`` when it stops to have functions called."""
    finish = normalise_finish_reason(raw)
    return "tool_calls" if calls and finish == "stop" else finish


def _flagged(ratings: Any) -> str:
    """``"; flagged: harassment (HIGH)"``: the safety categories rated as a problem."""
    if not isinstance(ratings, list):
        return ""
    flagged = [f"{str(r.get('category', '?')).removeprefix('HARM_CATEGORY_').lower()} "
               f"({r.get('probability', 'blocked')})" for r in ratings if isinstance(r, dict)
               and (r.get("blocked") or r.get("probability") in ("MEDIUM", "HIGH"))]
    return f"; flagged: {', '.join(flagged)}" if flagged else ""


def _blocked(feedback: dict[str, Any]) -> ProviderError:
    said = feedback.get("blockReasonMessage")
    return ProviderError(
        f"{LABEL} blocked the prompt (blockReason={feedback.get('blockReason')}"
        f"{_flagged(feedback.get('safetyRatings'))}) and gave no answer"
        f"{f': {said}' if isinstance(said, str) and said else ''}. Rephrase the prompt; "
        "retrying it unchanged will not help.", retryable=False)


def _filtered(candidate: dict[str, Any], raw: str | None) -> ProviderError:
    said = candidate.get("finishMessage")
    return ProviderError(
        f"{LABEL} stopped the answer before any text (finishReason={raw}"
        f"{_flagged(candidate.get('safetyRatings'))})"
        f"{f': {said}' if isinstance(said, str) and said else ''}. Rephrase the prompt; "
        "retrying it unchanged will not help.", retryable=False)


# --- streams -----------------------------------------------------------------------------------


def parse_stream_event(event: EventLike, state: StreamState) -> list[StreamChunk]:
    """The chunks in one streamed ``GenerateContentResponse`` (a ``data:`` event).

    Its text gives a chunk, and its ``functionCall`` parts (which Gemini streams whole) go to
    ``state.tool_calls``; a ``finishReason`` gives the final chunk, with the latest
    ``usageMetadata`` (kept in ``state.data``). The first ``responseId`` becomes the stream's
    request id. An error object raises the error it denotes, a blocked prompt or a filtered
    stream with no text at all :class:`ProviderError`, and an event that is not a JSON object
    :class:`StreamingError`.
    """
    data = event.data
    if not data.strip():
        return []
    body = parse_json(data, LABEL, stream=True, object_only=False)
    error = error_object(body)
    if error is not None:
        raise error_in_payload(error, stream=True)
    if not isinstance(body, dict):
        raise StreamingError(f"{LABEL} sent a stream event that is not a JSON object: "
                             f"{excerpt(data)}")
    try:
        return _stream_chunks(body, state)
    except (AttributeError, KeyError, TypeError, IndexError) as exc:
        raise StreamingError(f"{LABEL} sent a stream chunk of an unexpected shape "
                             f"({type(exc).__name__}: {exc}): {excerpt(data)}") from None


def _stream_chunks(body: dict[str, Any], state: StreamState) -> list[StreamChunk]:
    response_id = body.get("responseId")
    if state.request_id is None and isinstance(response_id, str) and response_id:
        state.request_id = response_id
    version = body.get("modelVersion")
    if state.response_model is None and isinstance(version, str) and version:
        state.response_model = version
    usage = body.get("usageMetadata")
    if isinstance(usage, dict):
        state.data["usage"] = usage
    candidate = _first_candidate(body)
    if candidate is None:
        return []  # a chunk with usage only
    text = _text(candidate)
    chunks = [StreamChunk(content=text)] if text else []
    calls = state.tool_calls
    for id, name, args, extra in _content.read_calls(_parts(candidate), len(calls)):
        if isinstance(args, dict):
            calls.add(id, name, args, extra=extra)
        else:  # the core refuses it, with its JSON, when the stream ends
            calls.begin(("not an object", len(calls)), id=id, name=name,
                        arguments=json.dumps(args, ensure_ascii=False), extra=extra)
    if candidate.get("groundingMetadata") is not None:
        state.data["grounding"] = candidate["groundingMetadata"]
    raw = candidate.get("finishReason") or None
    if raw is None:
        return chunks
    finish = _finish(raw, bool(calls))
    if finish == "content_filter" and not text and not state.text_parts and not calls:
        raise _filtered(candidate, raw)
    grounding = state.data.get("grounding")
    chunks.append(StreamChunk(is_final=True, finish_reason=finish, raw_finish_reason=raw,
                              usage=parse_usage(state.data.get("usage")),
                              server_tools=_grounding.server_tools(grounding),
                              citations=_grounding.citations(grounding)))
    return chunks
