"""The value types that travel between the core and provider plugins.

Everything here is plain data: frozen attrs classes with no behaviour beyond small derived
properties. A provider plugin imports these to build requests and to report what its vendor
answered; users meet :class:`Response`, :class:`Usage` and :class:`StreamChunk`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from agentflow.errors import MissingApiKeyError, StreamingError

if TYPE_CHECKING:
    from pathlib import Path

Role = Literal["system", "user", "assistant", "tool"]
ToolChoiceMode = Literal["auto", "none", "required", "tool"]

#: The normalised finish reasons; a vendor's own value is kept beside it as ``raw_finish_reason``.
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "error"})


@attrs.frozen(repr=False)
class Secret:
    """A credential that never shows itself in a repr, a str, a log line or an error.

    Call :meth:`reveal` at the one place that must put it on the wire.
    """

    _value: str = attrs.field(alias="value")

    @classmethod
    def from_env(cls, variable: str, environ: Mapping[str, str] | None = None
                 ) -> Secret | None:
        """The key in environment variable ``variable``, or ``None`` when it is unset or blank.

        Surrounding whitespace is dropped: a key copied with its line break (from a key file,
        a ``.env`` file, a mounted secret) would otherwise carry a newline that no HTTP header
        may hold, and httpx would quote the whole key in its error. A key with a control
        character inside is refused, naming the variable, never the value.

        :raises MissingApiKeyError: the value holds a control character (a pasted line
            break, a tab, an escape) between its first and last visible characters.
        """
        import os

        raw = (os.environ if environ is None else environ).get(variable)
        value = clean_key(raw, variable) if raw is not None else ""
        return cls(value) if value else None

    def reveal(self) -> str:
        """The secret value itself. Use it only to build an HTTP header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def clean_key(value: str, variable: str) -> str:
    """``value``, read from environment variable ``variable``, without surrounding whitespace.

    :raises MissingApiKeyError: a control character is left inside (the message names the
        variable and the character's code point, never the key).
    """
    value = value.strip()
    if value.isascii() and value.isprintable():  # every real key: no character to look at
        return value
    bad = next((char for char in value if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0), None)
    if bad is not None:
        raise MissingApiKeyError(
            f"{variable} holds a control character (U+{ord(bad):04X}) inside the key, which no "
            f"HTTP header may carry; export {variable} again with the key alone on one line",
            env_var=variable)
    return value


@attrs.frozen(kw_only=True)
class TextPart:
    """Text inside a message that also holds images."""

    text: str


@attrs.frozen(kw_only=True, repr=False)
class ImagePart:
    """An image inside a user message: its bytes and media type, or a URL the vendor fetches.

    Build one with :meth:`from_bytes`, :meth:`from_path` or :meth:`from_url`; those read the
    media type from the bytes (PNG, JPEG, GIF, WebP, HEIC, HEIF), or check a given one against
    them. Each vendor's size limit is checked
    when the request is built, before anything is sent.
    """

    media_type: str | None = None
    data: bytes | None = None
    url: str | None = None

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str | None = None) -> ImagePart:
        """An image from its bytes; ``media_type`` is read from the bytes when not given."""
        from agentflow._content.images import image_fields_from_bytes

        return cls(**image_fields_from_bytes(data, media_type))

    @classmethod
    def from_path(cls, path: str | Path, media_type: str | None = None) -> ImagePart:
        """An image read from a file."""
        from pathlib import Path as _Path

        from agentflow._content.images import image_fields_from_bytes

        return cls(**image_fields_from_bytes(_Path(path).read_bytes(), media_type,
                                             where=str(path)))

    @classmethod
    def from_url(cls, url: str, media_type: str | None = None) -> ImagePart:
        """An image the vendor downloads itself (``https://...``), or a ``data:`` URL."""
        from agentflow._content.images import image_fields_from_url

        return cls(**image_fields_from_url(url, media_type))

    @property
    def base64(self) -> str:
        """The bytes in base64, as most vendors want inline images."""
        import base64

        return base64.b64encode(self.data or b"").decode("ascii")

    def __repr__(self) -> str:
        if self.data is not None:
            return f"ImagePart(media_type={self.media_type!r}, {len(self.data)} bytes)"
        return f"ImagePart(url={self.url!r})"


ContentPart = TextPart | ImagePart


@attrs.frozen(kw_only=True)
class Tool:
    """A tool the model may call: a name, what it does, and its parameters as JSON Schema.

    :meth:`from_function` builds one from a typed Python function (which
    :meth:`~agentflow._api.builder.LLMClientBuilder.run_tools` then runs), :meth:`from_type` from
    an attrs class whose fields are the parameters. ``function`` is the Python callable behind
    the tool, if any; ``arguments_type`` the attrs class the arguments are structured into.
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}})
    function: Callable[..., Any] | None = attrs.field(default=None, eq=False, repr=False)
    arguments_type: type | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def from_function(cls, function: Callable[..., Any], *, name: str | None = None,
                      description: str | None = None) -> Tool:
        """A tool from a function's signature, type hints and docstring.

        The docstring's first paragraph describes the tool; ``:param x:`` lines or a Google
        style ``Args:`` section describe the parameters.
        """
        from agentflow._content.tools import tool_fields_from_function

        return cls(**tool_fields_from_function(function, name=name, description=description))

    @classmethod
    def from_type(cls, arguments_type: type, *, name: str | None = None,
                  description: str | None = None) -> Tool:
        """A tool whose parameters are the fields of the attrs class ``arguments_type``."""
        from agentflow._content.tools import tool_fields_from_type

        return cls(**tool_fields_from_type(arguments_type, name=name, description=description))


@attrs.frozen(kw_only=True)
class ToolCall:
    """A call the model asked for: the vendor's call id, the tool's name and its arguments.

    ``arguments`` is the parsed JSON object; ``raw_arguments`` the JSON text as the vendor sent
    it (Gemini sends objects, whose JSON is given here). ``extra`` is what the vendor's plugin
    needs back when the call is sent again as history (Gemini's thought signature); keep it
    as it is (``Response.message()`` does). It takes no part in equality.
    """

    id: str
    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)
    raw_arguments: str = "{}"
    extra: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def of(cls, id: str, name: str, arguments: Mapping[str, Any], *,
           extra: Mapping[str, Any] | None = None) -> ToolCall:
        """A call whose arguments came as an object rather than JSON text."""
        return cls(id=id, name=name, arguments=arguments,
                   raw_arguments=json.dumps(arguments, ensure_ascii=False,
                                            separators=(",", ":")),
                   extra=extra or {})


@attrs.frozen(kw_only=True)
class ToolChoice:
    """Whether and which tool the model must call: ``auto`` (it decides), ``none``,
    ``required`` (at least one), or ``tool`` (the one called ``name``)."""

    mode: ToolChoiceMode = "auto"
    name: str | None = None


@attrs.frozen(kw_only=True)
class OutputSchema:
    """The JSON Schema a structured answer must match.

    ``strict`` says the schema meets the strict rules some vendors enforce exactly (every
    object closed with ``additionalProperties: false``, every property required); vendors
    that offer strict decoding use it then.
    """

    name: str
    schema: Mapping[str, Any]
    description: str = ""
    strict: bool = False


def _content(value: str | Any) -> str | tuple[ContentPart, ...]:
    return value if isinstance(value, str) else tuple(value)


def _calls(value: Any) -> tuple[ToolCall, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Message:
    """One turn of a conversation.

    ``content`` is text, or for a user message a sequence of :class:`TextPart` and
    :class:`ImagePart`. An assistant message may carry the ``tool_calls`` it made; a ``tool``
    message is the result of one call (``tool_call_id``, and the tool's ``name``, which some
    vendors need), with ``is_error`` when the tool failed. The constructors :meth:`user`,
    :meth:`assistant` and :meth:`tool_result` build each kind.
    """

    role: Role
    content: str | tuple[ContentPart, ...] = attrs.field(default="", converter=_content)
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_calls)
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False

    @classmethod
    def system(cls, text: str) -> Message:
        """Instructions that frame the conversation."""
        return cls(role="system", content=text)

    @classmethod
    def user(cls, text: str = "", *images: ImagePart) -> Message:
        """What the user says, with any images after the text."""
        if not images:
            return cls(role="user", content=text)
        parts: tuple[ContentPart, ...] = ((TextPart(text=text),) if text else ()) + images
        return cls(role="user", content=parts)

    @classmethod
    def assistant(cls, text: str = "", tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        """What the model answered: its text and the tool calls it made."""
        return cls(role="assistant", content=text, tool_calls=tool_calls)

    @classmethod
    def tool_result(cls, call: ToolCall, result: Any, *, is_error: bool = False) -> Message:
        """The result of ``call``: text as it is, anything else as JSON."""
        from agentflow._content.tools import result_text

        return cls(role="tool", content=result_text(result), tool_call_id=call.id,
                   name=call.name, is_error=is_error)

    @property
    def text(self) -> str:
        """The message's text (its text parts joined, when it holds images)."""
        content = self.content
        if isinstance(content, str):
            return content
        return "".join(part.text for part in content if isinstance(part, TextPart))

    @property
    def parts(self) -> tuple[ContentPart, ...]:
        """The content as parts: one :class:`TextPart` for plain text (none when empty)."""
        content = self.content
        if isinstance(content, str):
            return (TextPart(text=content),) if content else ()
        return content

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The images in the message."""
        content = self.content
        if isinstance(content, str):
            return ()
        return tuple(part for part in content if isinstance(part, ImagePart))


@attrs.frozen(kw_only=True)
class Request:
    """A provider-neutral chat request, with every layer of settings already merged.

    ``model`` is the vendor's own model id (``ModelSettings.model_id``), not the alias the
    user asked for. Parameters left as ``None`` are not sent, so the vendor's default applies.
    ``tool_choice`` ``None`` leaves the choice to the vendor's default (``auto`` when tools are
    given). With an ``output_schema`` the vendor is asked for JSON matching it, and the plugin
    returns that JSON as the response's text (whatever mechanism it used to get it).
    """

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = False
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    output_schema: OutputSchema | None = None


@attrs.frozen(kw_only=True)
class Usage:
    """Token counts as the vendor reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int, total_tokens: int | None = None,
           **extra: int | None) -> Usage:
        """Build a Usage, computing ``total_tokens`` when the vendor does not send it."""
        if total_tokens is None:
            total_tokens = prompt_tokens + completion_tokens
        return cls(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   total_tokens=total_tokens, **extra)


@attrs.frozen(kw_only=True)
class Pricing:
    """What a model costs, in US dollars per million tokens.

    ``cached_input_per_million`` prices prompt tokens the vendor served from its cache
    (``Usage.cached_tokens``, which are part of ``prompt_tokens``); ``None`` means the input
    price.
    """

    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None

    def cost(self, usage: Usage) -> float:
        """The cost in dollars of a call that used ``usage``."""
        cached = min(usage.cached_tokens or 0, usage.prompt_tokens)
        cached_price = (self.input_per_million if self.cached_input_per_million is None
                        else self.cached_input_per_million)
        return ((usage.prompt_tokens - cached) * self.input_per_million
                + cached * cached_price
                + usage.completion_tokens * self.output_per_million) / 1_000_000


@attrs.frozen(kw_only=True)
class ServerToolUse:
    """A tool the vendor ran on its own side during the answer (web search, web fetch, code
    execution): not a client tool call, so it never reaches ``run_tools``.

    ``id`` and ``name`` are the vendor's (``srvtoolu_...``, ``web_search``); ``input`` what the
    model asked of the tool (a search query, a URL, code); ``result_type`` the kind of result
    block the vendor sent back for it (``web_search_tool_result``; ``None`` when none came) and
    ``result`` that block's content as sent (search hits, fetched page, program output), kept
    raw since each tool shapes it its own way; ``is_error`` is set when the result is an error
    object (``web_search_tool_result_error``, ...).
    """

    id: str
    name: str
    input: Mapping[str, Any] = attrs.field(factory=dict)
    result_type: str | None = None
    result: Any = attrs.field(default=None, eq=False, repr=False)
    is_error: bool = False


@attrs.frozen(kw_only=True)
class Citation:
    """A source the answer's text cites: a web page a search or fetch found (Anthropic's
    ``web_search_result_location``, Gemini's grounding chunks) or a place in a document the
    request carried (``char_location``, ``page_location``, ...).

    ``kind`` is the vendor's citation type; ``url`` and ``title`` name the source where it has
    them; ``cited_text`` is the quoted passage, and ``text`` the part of the answer that cites it
    when the vendor says (Gemini's grounding supports); ``start`` / ``end`` are that part's
    offsets as the vendor gives them (Gemini: UTF-8 bytes of the part), when it does.
    ``extra`` keeps the vendor's other fields (document index, page numbers, encrypted index).
    """

    kind: str
    url: str | None = None
    title: str | None = None
    cited_text: str | None = None
    text: str | None = None
    start: int | None = None
    end: int | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class Response:
    """A complete (non-streaming) answer.

    ``tool_calls`` are the calls the model asked for (``finish_reason`` is then
    ``"tool_calls"``). ``parsed`` is the structured answer when the request asked for one
    (``output_type`` / ``json_schema``): an instance of the output type, or the JSON value.
    ``server_tools`` are the tools the vendor ran itself (web search, code execution), in the
    order they ran, and ``citations`` the sources the text cites, in the order they appear:
    both empty for a vendor or model that has none.
    """

    text: str
    model: str
    provider: str
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    usage: Usage | None = None
    request_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    parsed: Any = None
    server_tools: tuple[ServerToolUse, ...] = ()
    citations: tuple[Citation, ...] = ()

    def message(self) -> Message:
        """This answer as the assistant message that continues the conversation."""
        return Message.assistant(self.text, self.tool_calls)


@attrs.frozen(kw_only=True)
class StreamChunk:
    """One piece of a streamed answer.

    Only the last chunk of a stream has ``is_final`` set; it carries ``finish_reason`` and,
    where the vendor reports it, ``usage``, and the complete ``tool_calls`` of the answer (their
    argument fragments are assembled by the core), and the ``server_tools`` and ``citations``
    of the whole answer (see :class:`Response`). Its ``content`` may be empty.
    """

    content: str = ""
    is_final: bool = False
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    server_tools: tuple[ServerToolUse, ...] = ()
    citations: tuple[Citation, ...] = ()


@attrs.frozen(kw_only=True)
class ProviderSpec:
    """What a vendor plugin declares about a provider it implements.

    ``name`` is what ``vendor:`` in a configuration file refers to. ``api_key_env`` names the
    environment variable the key is read from by default (``None``: the vendor needs no key);
    ``api_key_env_fallbacks`` are read, in order, when that one is unset (Gemini's key may be in
    ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY``). With ``api_key_optional`` a missing key is not an
    error (local OpenAI-compatible servers). A provider entry's own ``api_key_env`` replaces all
    of them.
    ``temperature_range`` is checked before any request is sent.

    ``capabilities`` says what the vendor's plugin can send: ``streaming``, ``tools``,
    ``structured_output``, ``images`` (inline bytes) and ``image_urls``; ``server_tools`` says
    the plugin reads the model option ``server_tools`` (a list of tool names such as
    ``"web_search"``, or the vendor's own tool objects) and reports what ran on
    ``Response.server_tools``. A request that needs a
    capability the vendor lacks is refused before sending. ``image_media_types`` and
    ``max_image_bytes`` (per image) are checked likewise.
    """

    name: str
    default_base_url: str
    api_key_env: str | None
    api_key_env_fallbacks: tuple[str, ...] = ()
    api_key_optional: bool = False
    description: str = ""
    capabilities: frozenset[str] = frozenset({"streaming"})
    temperature_range: tuple[float, float] = (0.0, 2.0)
    docs_url: str | None = None
    image_media_types: frozenset[str] = frozenset(
        {"image/png", "image/jpeg", "image/gif", "image/webp"})
    max_image_bytes: int | None = None


@attrs.frozen(kw_only=True)
class ModelInfo:
    """A catalog entry: a model that works with no configuration file at all.

    ``name`` is the alias users pass to ``AgentFlow.model``; ``model_id`` the vendor's own id
    (defaults to ``name``). ``options`` holds vendor-specific flags that the vendor's own
    request builder reads (for example OpenAI's ``max_completion_tokens``). ``pricing`` is
    the published price, if known; it feeds the cost figures of metrics.
    """

    name: str
    provider: str
    model_id: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_streaming: bool = True
    pricing: Pricing | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ModelSettings:
    """One model's settings after every layer (model > provider > defaults > catalog) merged.

    This is what ``agentflow_build_request`` receives. ``provider`` is the name of the provider
    entry (``providers.<name>`` in the file), ``vendor`` the plugin provider that speaks its wire
    format; they differ when, for example, two OpenAI-compatible servers are configured.
    ``read_timeout_seconds`` ``None`` means the total limit; ``stream_idle_timeout_seconds``
    ``None`` means none. ``circuit_failure_threshold`` ``None`` turns the breaker off.
    ``ca_bundle`` is an absolute path to the PEM certificates that verify the provider (``None``:
    the public roots of certifi); ``trust_env`` lets proxy variables of the environment apply;
    ``transport`` names the HTTP stack (``"httpx"``, or ``"aiohttp"`` through a transport plugin,
    see ``agentflow_http_transport``).
    """

    name: str
    provider: str
    vendor: str
    model_id: str
    base_url: str
    api_key: Secret | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    supports_streaming: bool = True
    timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float | None = None
    stream_idle_timeout_seconds: float | None = None
    max_retries: int = 2
    retry_delay_ms: int = 500
    max_retry_delay_ms: int = 60_000
    max_stream_chars: int = 32 * 1024 * 1024
    circuit_failure_threshold: int | None = 5
    circuit_cooldown_seconds: float = 30.0
    fallbacks: tuple[str, ...] = ()
    allow_insecure_http: bool = False
    ca_bundle: str | None = None
    trust_env: bool = False
    transport: str = "httpx"
    pricing: Pricing | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class StreamState:
    """Mutable scratch space for one stream, handed to every ``agentflow_parse_stream_event``.

    Plugins keep what they need between events in ``data`` (a finish reason seen before the
    usage arrives, say). ``text`` is the answer received so far, kept by the core. A plugin sets
    ``response_model`` when the stream names the model that answered.

    Tool calls: a plugin feeds what the stream says of them to ``tool_calls`` (a
    :class:`ToolCallAssembler`: ``begin`` a call, ``append`` argument
    fragments, or ``add`` a whole call); the core puts the complete calls on the final chunk.
    ``request`` is the request being answered.

    ``end_chunk``: a plugin whose vendor's streams may end without their usual last event
    (OpenAI-compatible servers that stop after the chunk with the finish reason, without
    ``data: [DONE]``) sets it to the final chunk the stream would have had, as soon as the
    finish reason arrives, and updates it as more arrives (the usage). If the body then ends
    cleanly (no transport error) before a chunk marked ``is_final``, the core ends the stream
    with ``end_chunk`` instead of reporting it cut off. Left ``None``, a clean end before the
    final chunk is a cut.
    """

    provider: str
    model: str
    request_id: str | None = None
    response_model: str | None = None
    text_parts: list[str] = attrs.field(factory=list)
    data: dict[str, Any] = attrs.field(factory=dict)
    request: Request | None = None
    tool_calls: ToolCallAssembler = attrs.field(factory=lambda: ToolCallAssembler())
    end_chunk: StreamChunk | None = None

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self.text_parts)

class _Pending:
    __slots__ = ("extra", "fragments", "id", "name")

    def __init__(self, id: str, name: str, extra: Mapping[str, Any] | None = None) -> None:
        self.id, self.name = id, name
        self.extra = extra or {}
        self.fragments: list[str] = []


class ToolCallAssembler:
    """The tool calls of one stream, put together from what its events say.

    A vendor plugin calls :meth:`begin` when a call starts (OpenAI's first ``tool_calls``
    delta of an index, Anthropic's ``tool_use`` block start), :meth:`append` for each argument
    fragment, or :meth:`add` for a call that arrives whole (Gemini). ``key`` is whatever
    identifies the call within the stream (an index, a block number). The core then puts
    :meth:`complete` on the final chunk.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[object, _Pending] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    def begin(self, key: object, *, id: str, name: str, arguments: str = "",
              extra: Mapping[str, Any] | None = None) -> None:
        """A call starts; a second ``begin`` for the same key fills in what the first lacked.
        ``extra`` is the vendor data the call keeps (:attr:`ToolCall.extra`)."""
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = _Pending(id, name, extra)
        else:
            call.id, call.name = call.id or id, call.name or name
        if arguments:
            call.fragments.append(arguments)

    def append(self, key: object, fragment: str) -> None:
        """More of the arguments' JSON text of the call ``key``."""
        call = self._calls.get(key)
        if call is None:
            raise StreamingError(f"the stream sent arguments for tool call {key!r}, which it "
                                 "never started")
        call.fragments.append(fragment)

    def add(self, id: str, name: str, arguments: Mapping[str, Any], *,
            extra: Mapping[str, Any] | None = None) -> None:
        """A whole call, its arguments already an object."""
        call = self._calls[("whole", len(self._calls))] = _Pending(id, name, extra)
        call.fragments.append(json.dumps(arguments, ensure_ascii=False, separators=(",", ":")))

    def arguments_text(self, key: object) -> str:
        """The argument text received so far for the call ``key``."""
        call = self._calls.get(key)
        return "".join(call.fragments) if call is not None else ""

    def complete(self, provider: str) -> tuple[ToolCall, ...]:
        """Every call, in the order they started, with parsed arguments.

        Raises :class:`StreamingError` (keeping the text in ``raw_arguments``) for arguments
        that are not a JSON object.
        """
        from agentflow._content.tools import parse_arguments

        calls = []
        for pending in self._calls.values():
            raw = "".join(pending.fragments)
            arguments = parse_arguments(raw, tool=pending.name, provider=provider, stream=True)
            calls.append(ToolCall(id=pending.id, name=pending.name, arguments=arguments,
                                  raw_arguments=raw or "{}", extra=pending.extra))
        return tuple(calls)
