"""The fluent request builder: ``AgentFlow.model(name).prompt(...).temperature(0.7).execute()``.

Each setter checks its argument at once and raises :class:`~agentflow.errors.ValidationError`
naming the parameter, so a mistake surfaces on the line that made it and before any network
I/O. Checks that depend on the model (a vendor's narrower temperature range, streaming support)
run when the request is built.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from agentflow.errors import ValidationError
from agentflow.types import ImagePart, Message, Request, Tool, ToolChoice

if TYPE_CHECKING:
    from pathlib import Path

    from agentflow._api.agent import AgentRun
    from agentflow._call.client import LLMClient
    from agentflow._call.streaming import StreamingResponse
    from agentflow._call.timeouts import TimeoutOverrides
    from agentflow._observe.events import MetricsCollector
    from agentflow._runtime.runtime import Runtime
    from agentflow.types import ModelSettings, OutputSchema, ProviderSpec, Response

__all__ = ["LLMClientBuilder"]

_ROLES = ("system", "user", "assistant", "tool")
_CHOICES = ("auto", "none", "required")
T = TypeVar("T")


class LLMClientBuilder:
    """Collects one request's prompt and parameters, then executes it.

    Setters return the builder itself, so calls chain. Parameters left unset fall back to the
    model's configured settings (model > provider > defaults > catalog).
    """

    def __init__(self, model: str, *, runtime: Runtime | None = None) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValidationError("model name must be a non-empty string, e.g. 'gpt-4o'",
                                  parameter="model")
        self._model = model
        self._runtime = runtime
        self._system: str | None = None
        self._history: list[Message] = []
        self._prompt: str | None = None
        self._params: dict[str, Any] = {}
        self._stop: tuple[str, ...] = ()
        self._streaming = False
        self._timeouts: TimeoutOverrides | None = None
        self._collectors: list[MetricsCollector] = []
        self._images: list[ImagePart] = []
        self._tools: tuple[Tool, ...] = ()
        self._tool_choice: ToolChoice | None = None
        self._parallel_tool_calls: bool | None = None
        self._output: OutputSchema | None = None
        self._output_type: type | None = None

    def __repr__(self) -> str:
        return f"LLMClientBuilder(model={self._model!r}, params={self._params!r})"

    # conversation -------------------------------------------------------------------------

    def prompt(self, text: str) -> LLMClientBuilder:
        """The user's message (sent after any ``messages`` history)."""
        self._prompt = _text("prompt", text)
        return self

    def system(self, text: str) -> LLMClientBuilder:
        """A system prompt: instructions that frame the conversation."""
        self._system = _text("system", text)
        return self

    def messages(self, messages: Iterable[Message | Mapping[str, Any]]) -> LLMClientBuilder:
        """Conversation history, oldest first: ``Message`` objects (tool calls and results
        included) or ``{"role", "content"}`` mappings with role ``system``, ``user`` or
        ``assistant`` and text content."""
        self._history = [_message(i, item) for i, item in enumerate(messages)]
        return self

    def image(self, source: bytes | str | Path | ImagePart, *,
              media_type: str | None = None) -> LLMClientBuilder:
        """Add an image to the prompt: bytes, a file path, an ``https://`` or ``data:`` URL, or
        an :class:`~agentflow.types.ImagePart`. Call once per image; they follow the text.

        The media type is read from the bytes when not given (PNG, JPEG, GIF, WebP).
        """
        from pathlib import PurePath

        if isinstance(source, ImagePart):
            part = source
        elif isinstance(source, (bytes, bytearray, memoryview)):
            part = ImagePart.from_bytes(bytes(source), media_type)
        elif isinstance(source, PurePath):
            part = ImagePart.from_path(source, media_type)
        elif isinstance(source, str) and (source.startswith(("https://", "http://", "data:"))):
            part = ImagePart.from_url(source, media_type)
        elif isinstance(source, str):
            part = ImagePart.from_path(source, media_type)
        else:
            raise ValidationError(f"image must be bytes, a path, a URL or an ImagePart, got "
                                  f"{type(source).__name__}", parameter="image")
        self._images.append(part)
        return self

    # tools and structured output ------------------------------------------------------------

    def tools(self, *tools: Tool | Callable[..., Any] | type) -> LLMClientBuilder:
        """The tools the model may call: :class:`~agentflow.types.Tool` objects, typed
        functions (described from their signature and docstring; :meth:`run_tools` runs them),
        or attrs classes (their fields are the parameters). Replaces earlier ones."""
        import attrs

        made: list[Tool] = []
        for item in tools:
            if isinstance(item, Tool):
                from agentflow._content.tools import check_tool_name

                check_tool_name(item.name)
                made.append(item)
            elif isinstance(item, type) and attrs.has(item):
                made.append(Tool.from_type(item))
            elif callable(item):
                made.append(Tool.from_function(item))
            else:
                raise ValidationError(f"tools must be Tool objects, functions or attrs classes, "
                                      f"got {item!r}", parameter="tools")
        names = [tool.name for tool in made]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValidationError(f"two tools are named {', '.join(map(repr, repeated))}; "
                                  "tool names must be unique", parameter="tools")
        self._tools = tuple(made)
        return self

    def tool_choice(self, choice: str | Tool) -> LLMClientBuilder:
        """Whether the model must call a tool: ``"auto"`` (it decides; the default),
        ``"none"``, ``"required"`` (at least one), or a tool's name (that one)."""
        if isinstance(choice, Tool):
            choice = choice.name
        if not isinstance(choice, str) or not choice:
            raise ValidationError(f"tool_choice must be auto, none, required or a tool name, "
                                  f"got {choice!r}", parameter="tool_choice")
        self._tool_choice = (ToolChoice(mode=choice) if choice in _CHOICES  # type: ignore[arg-type]
                             else ToolChoice(mode="tool", name=choice))
        return self

    def parallel_tool_calls(self, enabled: bool = True) -> LLMClientBuilder:
        """Whether the model may ask for several calls in one answer, where the vendor lets
        that be chosen (left to the vendor's default unless set)."""
        self._parallel_tool_calls = bool(enabled)
        return self

    def json_schema(self, schema: Mapping[str, Any], *, name: str = "answer",
                    description: str = "") -> LLMClientBuilder:
        """Ask for a JSON answer matching ``schema`` (an object schema); ``Response.parsed``
        is then the parsed value, checked against the schema."""
        from agentflow._api.structured import output_schema_for_json

        self._output = output_schema_for_json(schema, name=name, description=description)
        self._output_type = None
        return self

    def output_type(self, output_type: type, *, name: str | None = None) -> LLMClientBuilder:
        """Ask for an answer shaped as the attrs class ``output_type``; ``Response.parsed``
        (and :meth:`execute_parsed`) is then an instance of it."""
        from agentflow._api.structured import output_schema_for_type

        self._output = output_schema_for_type(output_type, name=name)
        self._output_type = output_type
        return self

    # parameters ---------------------------------------------------------------------------

    def temperature(self, value: float) -> LLMClientBuilder:
        """Sampling temperature, 0 to 2 (some vendors allow less; checked when sent)."""
        self._params["temperature"] = _number("temperature", value, 0.0, 2.0)
        return self

    def top_p(self, value: float) -> LLMClientBuilder:
        """Nucleus sampling: the probability mass to sample from, 0 to 1."""
        self._params["top_p"] = _number("top_p", value, 0.0, 1.0)
        return self

    def max_tokens(self, value: int) -> LLMClientBuilder:
        """The most tokens the answer may have (a positive integer)."""
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(f"max_tokens must be a positive integer, got {value!r}",
                                  parameter="max_tokens")
        self._params["max_tokens"] = value
        return self

    def stop(self, *sequences: str | Iterable[str]) -> LLMClientBuilder:
        """Sequences at which the answer stops: ``.stop("END")`` or ``.stop(["a", "b"])``."""
        flat: list[str] = []
        for item in sequences:
            flat.extend([item] if isinstance(item, str) else item)
        if not all(isinstance(s, str) and s for s in flat):
            raise ValidationError("stop sequences must be non-empty strings", parameter="stop")
        self._stop = tuple(flat)
        return self

    def streaming(self, enabled: bool = True) -> LLMClientBuilder:
        """Ask for a streamed answer (``execute`` then gathers the stream into one text)."""
        self._streaming = bool(enabled)
        return self

    def timeout(self, seconds: float | None = None, *, connect: float | None = None,
                read: float | None = None, stream_idle: float | None = None) -> LLMClientBuilder:
        """Time limits for this call, in seconds, overriding the configuration's.

        ``seconds`` is the total (every attempt, and a stream to its end); ``connect`` opening
        a connection; ``read`` the longest wait for more of the answer; ``stream_idle`` the
        longest a stream may send nothing. Limits not given keep their configured values.
        """
        from agentflow._call.timeouts import TimeoutOverrides

        def checked(name: str, value: float | None) -> float | None:
            return None if value is None else _number(name, value, 0.0, math.inf,
                                                      open_low=True)

        self._timeouts = TimeoutOverrides(
            total=checked("timeout", seconds), connect=checked("connect timeout", connect),
            read=checked("read timeout", read),
            stream_idle=checked("stream_idle timeout", stream_idle))
        return self

    def with_metrics(self, collector: MetricsCollector) -> LLMClientBuilder:
        """Also report this call's events to ``collector``."""
        if not hasattr(collector, "record_event"):
            raise ValidationError("with_metrics needs a MetricsCollector (an object with "
                                  "record_event)", parameter="metrics")
        self._collectors.append(collector)
        return self

    # execution ----------------------------------------------------------------------------

    def build(self) -> LLMClient:
        """Resolve the model, check the request against it, and return a ready client.

        The client talks to this model only; ``execute*`` also follow its ``fallbacks``.
        """
        runtime = self._runtime_in_use()
        return self._client(runtime, runtime.resolve(self._model))

    async def execute(self) -> str:
        """Send the request and return the answer's text."""
        if self._streaming:
            stream = await self.execute_streaming()
            return await stream.collect_all()
        return (await self.execute_response()).text

    async def execute_response(self) -> Response:
        """Send the request and return the full response (text, usage, finish reason, tool
        calls, and the structured answer in ``parsed`` when one was asked for)."""
        response = await self._run(_execute_response)
        if self._output is not None and response.parsed is None and not response.tool_calls:
            import attrs

            response = attrs.evolve(response, parsed=self._parse_output(response.text))
        return response

    async def execute_parsed(self) -> Any:
        """Send a request made with :meth:`output_type` or :meth:`json_schema` and return the
        structured answer (streamed first, if :meth:`streaming` is on).

        Raises :class:`~agentflow.errors.ValidationError` with ``path`` and ``answer`` when the
        answer does not fit the schema.
        """
        if self._output is None:
            raise ValidationError("execute_parsed needs .output_type(...) or .json_schema(...)",
                                  parameter="output")
        if self._streaming:
            stream = await self.execute_streaming()
            return self._parse_output(await stream.collect_all())
        return (await self.execute_response()).parsed

    async def run_tools(self, *, max_steps: int = 8, tool_timeout: float | None = None,
                        raise_tool_errors: bool = False) -> AgentRun:
        """Let the model use the tools: call it, run the Python tools it asks for (async ones
        awaited, others in a worker thread, several at once), send the results back, and
        repeat until it answers without calling a tool.

        :param max_steps: the most model calls; :class:`~agentflow._api.agent.ToolLoopLimitError`
            (carrying the run so far) is raised when the model still wants tools after them.
        :param tool_timeout: seconds each tool call may take; a slower one is reported to
            the model as failed.
        :param raise_tool_errors: raise a tool's exception instead of reporting it to the
            model as a failed call (unknown tools and unfit arguments are always reported).
        """
        from agentflow._api.agent import run_tools

        return await run_tools(self, max_steps=max_steps, tool_timeout=tool_timeout,
                               raise_tool_errors=raise_tool_errors)

    async def execute_streaming(self) -> StreamingResponse:
        """Send the request and return the answer as a stream of chunks."""
        self._streaming = True
        return await self._run(_execute_streaming)

    def execute_sync(self) -> str:
        """:meth:`execute` for code that is not async (scripts, notebooks without a loop)."""
        from agentflow._api.sync import run_sync

        return run_sync(self.execute)

    def execute_response_sync(self) -> Response:
        """:meth:`execute_response` for code that is not async."""
        from agentflow._api.sync import run_sync

        return run_sync(self.execute_response)

    def execute_parsed_sync(self) -> Any:
        """:meth:`execute_parsed` for code that is not async."""
        from agentflow._api.sync import run_sync

        return run_sync(self.execute_parsed)

    def run_tools_sync(self, *, max_steps: int = 8, tool_timeout: float | None = None,
                       raise_tool_errors: bool = False) -> AgentRun:
        """:meth:`run_tools` for code that is not async."""
        from agentflow._api.sync import run_sync

        return run_sync(lambda: self.run_tools(max_steps=max_steps, tool_timeout=tool_timeout,
                                               raise_tool_errors=raise_tool_errors))

    # helpers ------------------------------------------------------------------------------

    def _runtime_in_use(self) -> Runtime:
        if self._runtime is not None:
            return self._runtime
        from agentflow._runtime.current import current_runtime

        return current_runtime()

    def _client(self, runtime: Runtime, settings: ModelSettings) -> LLMClient:
        from agentflow._call.client import LLMClient

        return LLMClient(runtime, settings, self._request(settings, runtime),
                         timeout=self._timeouts, collectors=self._collectors)

    async def _run(self, action: Callable[[LLMClient], Awaitable[T]]) -> T:
        """``action`` on a client for the model, then for its fallbacks while they fail."""
        runtime = self._runtime_in_use()
        registry = runtime.registry  # the configuration this call runs on, to its end
        primary = registry.resolve(self._model)
        if not primary.fallbacks:
            return await action(self._client(runtime, primary))
        from agentflow._call.fallback import run_with_fallbacks

        return await run_with_fallbacks(
            runtime, primary, lambda settings: action(self._client(runtime, settings)),
            self._collectors, resolve=registry.resolve)

    def _parse_output(self, text: str) -> Any:
        from agentflow._api.structured import parse_output

        assert self._output is not None
        return parse_output(text, self._output, self._output_type, model=self._model)

    def _conversation(self) -> list[Message]:
        """The messages to send: system prompt, history, then the prompt with its images."""
        messages: list[Message] = []
        if self._system is not None:
            messages.append(Message(role="system", content=self._system))
        messages.extend(self._history)
        if self._prompt is not None or self._images:
            messages.append(Message.user(self._prompt or "", *self._images))
        return messages

    def _request(self, settings: ModelSettings, runtime: Runtime) -> Request:
        messages = self._conversation()
        if not any(m.role == "user" for m in messages):
            raise ValidationError("nothing to send: give a .prompt() or user .messages()",
                                  parameter="prompt", model=settings.name)
        params = self._params
        temperature = params.get("temperature", settings.temperature)
        spec = runtime.host.providers().get(settings.vendor)
        if temperature is not None and spec is not None:
            low, high = spec.temperature_range
            if not low <= temperature <= high:
                raise ValidationError(
                    f"temperature {temperature} is outside {low:g}..{high:g}, the range "
                    f"{settings.vendor} accepts", parameter="temperature",
                    provider=settings.provider, model=settings.name)
        if self._streaming and not settings.supports_streaming:
            raise ValidationError(f"model {settings.name} does not support streaming",
                                  parameter="streaming", model=settings.name)
        if spec is not None:
            self._check_capabilities(messages, spec, settings)
        return Request(
            model=settings.model_id,
            messages=tuple(messages),
            temperature=temperature,
            top_p=params.get("top_p", settings.top_p),
            max_tokens=params.get("max_tokens", settings.max_tokens),
            stop=self._stop,
            stream=self._streaming,
            tools=self._tools,
            tool_choice=self._tool_choice,
            parallel_tool_calls=self._parallel_tool_calls,
            output_schema=self._output,
        )

    def _check_capabilities(self, messages: list[Message], spec: ProviderSpec,
                            settings: ModelSettings) -> None:
        """Refuse, before sending, what the vendor's plugin cannot send."""
        def refuse(parameter: str, what: str) -> ValidationError:
            return ValidationError(f"{spec.name} (provider {settings.provider}) does not "
                                   f"support {what}", parameter=parameter,
                                   provider=settings.provider, model=settings.name)

        capabilities = spec.capabilities
        uses_tools = self._tools or any(m.tool_calls or m.role == "tool" for m in messages)
        if uses_tools and "tools" not in capabilities:
            raise refuse("tools", "tool calling")
        if self._output is not None and "structured_output" not in capabilities:
            raise refuse("output", "structured output")
        choice = self._tool_choice
        if choice is not None and choice.mode in ("required", "tool") and not self._tools:
            raise ValidationError(f"tool_choice {choice.name or choice.mode!r} needs tools: "
                                  "give them with .tools()", parameter="tool_choice")
        if choice is not None and choice.mode == "tool" and choice.name not in {
                tool.name for tool in self._tools}:
            offered = ", ".join(tool.name for tool in self._tools)
            raise ValidationError(f"tool_choice names {choice.name!r}, which is not among the "
                                  f"tools given ({offered})", parameter="tool_choice")
        output = self._output
        if output is not None and output.name in {tool.name for tool in self._tools}:
            raise ValidationError(f"the output schema is named {output.name!r}, as a tool is; "
                                  "give it another name", parameter="output")
        if any(m.images for m in messages):
            from agentflow._content.images import check_images

            check_images(messages, spec, provider=settings.provider, model=settings.name)


async def _execute_response(client: LLMClient) -> Response:
    return await client.execute_response()


async def _execute_streaming(client: LLMClient) -> StreamingResponse:
    return await client.execute_streaming()


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {type(value).__name__}",
                              parameter=name)
    return value


def _number(name: str, value: object, low: float, high: float, *,
            open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValidationError(f"{name} must be a number, got {value!r}", parameter=name)
    too_low = value <= low if open_low else value < low
    if too_low or value > high:
        bounds = f"greater than {low:g}" if math.isinf(high) else f"between {low:g} and {high:g}"
        raise ValidationError(f"{name} must be {bounds}, got {value!r}", parameter=name)
    return float(value)


def _message(index: int, item: Message | Mapping[str, Any]) -> Message:
    if isinstance(item, Message):
        if item.role not in _ROLES:
            raise ValidationError(f"messages[{index}] has role {item.role!r}; use one of "
                                  f"{'/'.join(_ROLES)}", parameter="messages")
        if item.role == "tool" and not (item.tool_call_id or item.name):
            raise ValidationError(f"messages[{index}] is a tool result naming no call; build "
                                  "it with Message.tool_result(call, result)",
                                  parameter="messages")
        if item.images and item.role != "user":
            raise ValidationError(f"messages[{index}]: only user messages may hold images",
                                  parameter="messages")
        return item
    if isinstance(item, Mapping):
        role, content = item.get("role"), item.get("content")
        if role in _ROLES[:3] and isinstance(content, str):
            return Message(role=role, content=content)
    raise ValidationError(
        f"messages[{index}] must be a Message or a mapping with role "
        f"({'/'.join(_ROLES[:3])}) and string content, got {item!r}", parameter="messages")
