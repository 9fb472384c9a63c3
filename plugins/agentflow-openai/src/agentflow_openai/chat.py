"""The Chat Completions wire format (``POST {base_url}/chat/completions``): a public codec.

Nothing here knows which vendor it serves: a :class:`Dialect` says that (vendor name, how the
vendor is named in messages, its key variable, its catalog, where it differs from OpenAI). The
OpenAI plugin uses it for ``openai`` and ``openai_compatible``; other OpenAI-compatible vendor
plugins (agentflow-moonshot) reuse it with a dialect of their own, and so may third parties. A
:class:`Dialect` is a :class:`~agentflow.vendor.Codec`, so a whole plugin is::

    from agentflow.vendor import VendorPlugin
    from agentflow_openai.chat import Dialect

    ACME = Dialect(vendor="acme", label="Acme", api_key_env="ACME_API_KEY",
                   user_agent="agentflow-acme/1.0")
    PLUGIN = VendorPlugin(providers=[ProviderSpec(name="acme", ...)], codec=ACME)

This module is the stable API for that reuse (documented in docs/vendors/openai.md):

* :class:`Dialect`, and :class:`~agentflow.vendor.ErrorBody` for error bodies;
* :func:`build_request`, :func:`chat_completions_url`, :func:`models_request`;
* :func:`parse_response`, :func:`parse_stream_event`, :func:`parse_usage`,
  :func:`normalise_finish_reason`;
* :func:`map_error`, :func:`read_error_body`, :func:`error_from_status`,
  :func:`retry_after_seconds`, and :func:`~agentflow.vendor.excerpt`.

The emulation of the format for the fake server is in :mod:`agentflow_openai.testing`.

Decisions worth knowing (also in the README):

* Finish reasons: ``stop``, ``length``, ``content_filter`` and ``tool_calls`` are kept;
  ``function_call`` (deprecated) becomes ``tool_calls``; the end-of-sequence spellings of some
  compatible servers (``eos``, ``eos_token``, ``stop_sequence``) become ``stop``, and vLLM's
  ``abort`` / ``error`` become ``error``. Anything else, or no reason at all, is ``None``: an
  unknown value is not guessed at. The vendor's own value is always in ``raw_finish_reason``.
* A refusal (``message.content`` null, ``message.refusal`` set) is returned as the text, so the
  caller sees why, with ``finish_reason="content_filter"`` (the raw reason stays as sent).
* An error object inside a 200 body or a stream is raised as the error its status or type
  denotes; if it denotes none, as :class:`ProviderError` (body) or :class:`StreamingError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from agentflow.errors import ProviderError, StreamingError
from agentflow.types import Response, StreamChunk, Usage
from agentflow.vendor import (
    EXCERPT_LIMIT,
    ErrorBody,
    endpoint_url,
    excerpt,
    parse_json,
    token_count,
)
from agentflow_openai._content import (
    message_body,
    output_fields,
    read_tool_calls,
    stream_tool_calls,
    tool_fields,
)
from agentflow_openai._errors import (
    error_from_status,
    error_in_payload,
    map_error,
    read_error_body,
    retry_after_seconds,
)

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError
    from agentflow.types import ModelSettings, Request, StreamState

__all__ = [
    "EXCERPT_LIMIT",
    "Dialect",
    "ErrorBody",
    "EventLike",
    "build_request",
    "chat_completions_url",
    "error_from_status",
    "excerpt",
    "map_error",
    "models_request",
    "normalise_finish_reason",
    "parse_response",
    "parse_stream_event",
    "parse_usage",
    "read_error_body",
    "retry_after_seconds",
]

_FINISH_REASONS: dict[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    # Spellings of OpenAI-compatible servers (TGI, vLLM, llama.cpp and friends).
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "abort": "error",
    "error": "error",
}

class EventLike(Protocol):
    """What the codec reads of a server-sent event (``agentflow.sse.ServerSentEvent``)."""

    @property
    def data(self) -> str: ...


@attrs.frozen(kw_only=True)
class Dialect:
    """One vendor speaking the Chat Completions format, and how it differs from the others.

    A dialect is the vendor's :class:`~agentflow.vendor.Codec`: its methods are this module's
    functions for it, so ``VendorPlugin(codec={dialect.vendor: dialect, ...})`` answers the
    vendor hooks.

    :param vendor: the vendor name the hooks answer to (``openai``).
    :param label: how messages name the vendor (``OpenAI``); starts a sentence.
    :param api_key_env: the key variable a 401 message tells the user to check.
    :param user_agent: the ``user-agent`` header sent.
    :param catalog_options: model id -> catalog options, consulted for a model whose settings
        carry no option of that name (a configured alias of a catalog model, a dated snapshot).
    :param completion_token_prefixes: model ids starting with one of these take
        ``max_completion_tokens`` when neither settings nor catalog say (new reasoning models).
    :param stream_usage: ask for a usage chunk (``stream_options.include_usage``) by default;
        a model option ``stream_include_usage: false`` turns it off for servers that refuse it.
    :param error_statuses: the vendor's own error types -> the status each stands for, for
        errors reported without one (inside a stream), over the common OpenAI-style names.
    :param quota_errors: error types or codes meaning the account's quota is used up: such a
        429 is not retried.
    :param json_schema: the vendor takes ``response_format`` of type ``json_schema``; if not,
        a structured answer is asked for as ``json_object`` with the schema in a system message.
    :param strict_tools_by_default: the vendor holds a function definition without ``strict``
        to its parameters' schema (Moonshot); ``strict: false`` is then sent for parameters
        that do not meet the strict rules, instead of ``strict: true`` for those that do.
    :param max_completion_tokens: the output limit goes out as ``max_completion_tokens`` for
        every model (Groq, Cerebras), unless the model option ``max_completion_tokens`` says
        otherwise; else as ``max_tokens`` but for ``completion_token_prefixes``.
    :param ends_without_done: the vendor's streams may end without ``data: [DONE]``: the
        chunk that carries a finish reason is then the last one (its usage, or the usage seen
        before, is the final chunk's), and ``stream_options`` is not sent: such servers send
        the usage with the finish reason.
    """

    vendor: str
    label: str
    api_key_env: str | None
    user_agent: str
    catalog_options: Callable[[str], Mapping[str, Any] | None] | None = None
    completion_token_prefixes: tuple[str, ...] = ()
    stream_usage: bool = True
    error_statuses: Mapping[str, int] = attrs.field(factory=dict)
    quota_errors: tuple[str, ...] = ("insufficient_quota",)
    json_schema: bool = True
    strict_tools_by_default: bool = False
    max_completion_tokens: bool = False
    ends_without_done: bool = False

    def build_request(self, request: Request, settings: ModelSettings) -> httpx.Request:
        """:func:`build_request` in this dialect."""
        return build_request(self, request, settings)

    def parse_response(self, response: httpx.Response, request: Request) -> Response:
        """:func:`parse_response` in this dialect."""
        return parse_response(self, response, request)

    def parse_stream_event(self, event: EventLike, state: StreamState) -> list[StreamChunk]:
        """:func:`parse_stream_event` in this dialect."""
        return parse_stream_event(self, event, state)

    def map_error(self, response: httpx.Response) -> LLMError:
        """:func:`map_error` in this dialect."""
        return map_error(self, response)

    def check_request(self, settings: ModelSettings) -> httpx.Request:
        """:func:`models_request` in this dialect: the health check."""
        return models_request(self, settings)


# --- requests ----------------------------------------------------------------------------------


def chat_completions_url(base_url: str) -> str:
    """``{base_url}/chat/completions``, whether or not ``base_url`` ends with ``/``.

    A query string on the base URL (some gateways need one) is kept at the end.
    """
    base, mark, query = base_url.partition("?")
    return f"{base.rstrip('/')}/chat/completions{mark}{query}"


def build_request(dialect: Dialect, request: Request, settings: ModelSettings) -> httpx.Request:
    """The ``httpx.Request`` for ``request``: URL, headers (with the key, if any) and JSON body.

    ``temperature`` / ``top_p`` / ``stop`` / the output limit are sent only when set; the limit
    goes out as ``max_completion_tokens`` where the model needs it, and sampling parameters are
    left out where the model accepts only its default (see :mod:`agentflow_openai._catalog`).
    """
    import httpx

    option = _Options(dialect, request.model, settings.options)
    messages = [message_body(m) for m in request.messages]
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    body.update(tool_fields(request, strict_by_default=dialect.strict_tools_by_default))
    if request.output_schema is not None:
        fields, instruction = output_fields(request.output_schema,
                                            json_schema=dialect.json_schema)
        body.update(fields)
        if instruction is not None:
            messages.insert(0, {"role": "system", "content": instruction})
    effort = option.get("reasoning_effort")
    if _sampling_allowed(option, effort):
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
    if request.max_tokens is not None:
        body[_limit_field(dialect, request.model, option)] = request.max_tokens
    if request.stop:
        body["stop"] = list(request.stop)
    if effort is not None:
        body["reasoning_effort"] = effort
    if request.stream:
        body["stream"] = True
        if option.get("stream_include_usage", dialect.stream_usage):
            body["stream_options"] = {"include_usage": True}
        if dialect.ends_without_done:
            body.pop("stream_options", None)  # the usage comes with the finish reason
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if request.stream else "application/json",
        "user-agent": dialect.user_agent,
    }
    key = settings.api_key.reveal() if settings.api_key is not None else ""
    if key:
        headers["authorization"] = f"Bearer {key}"
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return httpx.Request("POST", endpoint_url(chat_completions_url(settings.base_url)),
                         headers=headers, content=content)


def models_request(dialect: Dialect, settings: ModelSettings) -> httpx.Request:
    """``GET {base_url}/models`` with the key: the health check (authenticated, no tokens)."""
    import httpx

    base, mark, query = settings.base_url.partition("?")
    headers = {"accept": "application/json", "user-agent": dialect.user_agent}
    key = settings.api_key.reveal() if settings.api_key is not None else ""
    if key:
        headers["authorization"] = f"Bearer {key}"
    return httpx.Request("GET", f"{base.rstrip('/')}/models{mark}{query}", headers=headers)


class _Options:
    """A model option from the settings, else from the dialect's catalog by model id."""

    __slots__ = ("_catalog", "_dialect", "_model", "_settings")

    def __init__(self, dialect: Dialect, model: str, settings: Mapping[str, Any]) -> None:
        self._dialect, self._model, self._settings = dialect, model, settings
        self._catalog: Mapping[str, Any] | None = None

    def get(self, name: str, default: Any = None) -> Any:
        if name in self._settings:
            return self._settings[name]
        if self._catalog is None:
            lookup = self._dialect.catalog_options
            self._catalog = (lookup(self._model) if lookup else None) or {}
        return self._catalog.get(name, default)


def _sampling_allowed(option: _Options, effort: Any) -> bool:
    supports = option.get("supports_temperature", True)
    if supports == "reasoning_none":
        effective = effort if effort is not None else option.get("default_reasoning_effort")
        return bool(effective == "none")
    return bool(supports)


def _limit_field(dialect: Dialect, model: str, option: _Options) -> str:
    wanted = option.get("max_completion_tokens")
    if wanted is None:
        wanted = dialect.max_completion_tokens or model.startswith(
            dialect.completion_token_prefixes)
    return "max_completion_tokens" if wanted else "max_tokens"


# --- answers -----------------------------------------------------------------------------------


def normalise_finish_reason(raw: str | None) -> str | None:
    """Our finish reason for the vendor's ``raw`` one; ``None`` for none or an unknown value."""
    return _FINISH_REASONS.get(raw) if raw is not None else None


def parse_usage(raw: Any) -> Usage | None:
    """A :class:`Usage` from a ``usage`` object, with cached and reasoning token details.

    ``None`` when ``raw`` is not an object; :class:`TypeError` when a count is not an integer.
    ``total_tokens`` is computed when the server leaves it out. Cached prompt tokens are read
    from ``prompt_tokens_details`` (OpenAI) or a top-level ``cached_tokens`` (Moonshot).
    """
    if not isinstance(raw, dict):
        return None
    prompt_details = raw.get("prompt_tokens_details")
    completion_details = raw.get("completion_tokens_details")
    return Usage.of(
        token_count(raw.get("prompt_tokens")) or 0,
        token_count(raw.get("completion_tokens")) or 0,
        token_count(raw.get("total_tokens")),
        cached_tokens=token_count(prompt_details.get("cached_tokens"))
        if isinstance(prompt_details, dict) else token_count(raw.get("cached_tokens")),
        reasoning_tokens=token_count(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict) else None,
    )


def parse_response(dialect: Dialect, response: httpx.Response,
                   request: Request | None = None) -> Response:
    """The :class:`Response` in a 2xx ``chat.completion`` answer.

    Raises :class:`ProviderError` for a body that is not JSON or has no ``choices`` (quoting
    at most :data:`EXCERPT_LIMIT` characters of it), or the mapped error for an error object.
    """
    content = response.content
    label = dialect.label
    body = parse_json(content, label)
    choices = body.get("choices")
    if not choices or not isinstance(choices, list):
        if body.get("error") is not None:
            raise error_in_payload(dialect, body, response.headers, stream=False)
        what = "an empty 'choices' list" if isinstance(choices, list) else "no 'choices' list"
        raise ProviderError(f"{label} sent an answer with {what}, so there is no text to "
                            f"return: {excerpt(content)}")
    try:
        choice = choices[0]
        message = choice.get("message") or {}
        raw_reason = choice.get("finish_reason")
        finish = normalise_finish_reason(raw_reason)
        text = message.get("content")
        if text is None:
            refusal = message.get("refusal")
            text = refusal or ""
            if refusal:
                finish = "content_filter"
        if not isinstance(text, str):
            raise TypeError(f"message content is a {type(text).__name__}, not text")
        calls = read_tool_calls(message, label)
        if calls and finish in (None, "stop"):
            finish = "tool_calls"  # some compatible servers report "stop" or nothing
        return Response(
            text=text,
            model=body.get("model") or (request.model if request is not None else ""),
            provider=dialect.vendor,
            finish_reason=finish,
            raw_finish_reason=raw_reason,
            usage=parse_usage(body.get("usage")),
            request_id=response.headers.get("x-request-id"),
            tool_calls=calls,
        )
    except (AttributeError, TypeError) as exc:
        raise ProviderError(f"{label} sent a chat.completion of an unexpected shape ({exc}): "
                            f"{excerpt(content)}") from None


def parse_stream_event(dialect: Dialect, event: EventLike,
                       state: StreamState) -> list[StreamChunk]:
    """The chunks in one ``chat.completion.chunk`` event.

    ``[DONE]`` gives the final chunk, carrying the finish reason and the usage seen earlier
    (both kept in ``state.data``); for a dialect whose streams may end without it
    (``ends_without_done``), the chunk with the finish reason does. Once the finish reason has
    arrived, ``state.end_chunk`` holds the final chunk as things stand, so a body that ends
    cleanly without ``[DONE]`` is a complete answer (with the usage, if it came). Content
    deltas give a chunk each; role-only, usage-only and reasoning deltas
    (``reasoning_content``, ``reasoning``) give none. Usage is read at the top level, inside
    the choice, or in Groq's ``x_groq``. An error object raises the mapped error, also in a
    chunk that has choices (OpenRouter's errors after the answer began); a payload that is not
    JSON raises :class:`StreamingError`.
    """
    data = event.data
    if data == "[DONE]":
        return [_final_chunk(state)]
    if not data:
        return []
    body = parse_json(data, dialect.label, stream=True, object_only=False)
    try:
        choices = body["choices"]
    except (KeyError, TypeError):
        return _other_event(dialect, body, state, data)
    if isinstance(body, dict) and body.get("error") is not None:
        raise error_in_payload(dialect, body, None, stream=True)
    try:
        if state.response_model is None and isinstance(body.get("model"), str):
            state.response_model = body["model"]
        usage = body.get("usage") or (body.get("x_groq") or {}).get("usage")
        if usage:
            state.data["usage"] = usage
        if not choices:
            _note_end(state)
            return []
        choice = choices[0]
        if choice.get("usage"):
            state.data["usage"] = choice["usage"]
        reason = choice.get("finish_reason")
        if reason is not None:
            state.data["finish_reason"] = reason
        chunks = _delta_chunks(choice.get("delta"), state)
        if reason is not None and dialect.ends_without_done:
            chunks.append(_final_chunk(state))
        else:
            _note_end(state)
        return chunks
    except (AttributeError, KeyError, TypeError) as exc:
        raise StreamingError(f"{dialect.label} sent a chat.completion.chunk of an unexpected "
                             f"shape ({type(exc).__name__}: {exc}): {excerpt(data)}") from None


def _delta_chunks(delta: Any, state: StreamState) -> list[StreamChunk]:
    if not delta:
        return []
    if delta.get("tool_calls"):
        stream_tool_calls(delta, state)
    text = delta.get("content")
    if text:
        return [StreamChunk(content=text)]
    refusal = delta.get("refusal")
    if refusal:
        state.data["refused"] = True
        return [StreamChunk(content=refusal)]
    return []


def _other_event(dialect: Dialect, body: Any, state: StreamState, data: str) -> list[StreamChunk]:
    if not isinstance(body, dict):
        raise StreamingError(f"{dialect.label} sent a stream event that is not a JSON object: "
                             f"{excerpt(data)}")
    if body.get("error") is not None:
        raise error_in_payload(dialect, body, None, stream=True)
    usage = body.get("usage")
    if usage:
        state.data["usage"] = usage
        _note_end(state)
    return []  # an object we do not know: skipped, as OpenAI asks of clients


def _note_end(state: StreamState) -> None:
    """Once the finish reason has arrived, the final chunk as things stand (the usage seen so
    far): if the body ends cleanly before ``[DONE]`` (several compatible servers stop after
    the finish chunk, or after the usage chunk), the core ends the stream with it."""
    if "finish_reason" not in state.data:
        return
    try:
        state.end_chunk = _final_chunk(state)
    except StreamingError:
        state.end_chunk = None  # an unreadable usage report: [DONE] says so, a bare end is a cut


def _final_chunk(state: StreamState) -> StreamChunk:
    data = state.data
    raw = data.get("finish_reason")
    try:
        usage = parse_usage(data.get("usage"))
    except TypeError as exc:
        raise StreamingError(f"the stream's usage report could not be read: {exc}") from None
    finish = "content_filter" if data.get("refused") else normalise_finish_reason(raw)
    if state.tool_calls and finish in (None, "stop"):
        finish = "tool_calls"  # some compatible servers report "stop" or nothing
    return StreamChunk(is_final=True, finish_reason=finish, raw_finish_reason=raw, usage=usage)
