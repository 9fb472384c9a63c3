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
from agentflow.types import Message, Request

if TYPE_CHECKING:
    from agentflow.client import LLMClient
    from agentflow.observability import MetricsCollector
    from agentflow.runtime import Runtime
    from agentflow.streaming import StreamingResponse
    from agentflow.timeouts import TimeoutOverrides
    from agentflow.types import ModelSettings, Response

__all__ = ["LLMClientBuilder"]

_ROLES = ("system", "user", "assistant")
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

    def messages(self, messages: Iterable[Message | Mapping[str, str]]) -> LLMClientBuilder:
        """Conversation history, oldest first: ``Message`` objects or ``{"role", "content"}``
        mappings with role ``system``, ``user`` or ``assistant``."""
        self._history = [_message(i, item) for i, item in enumerate(messages)]
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
        from agentflow.timeouts import TimeoutOverrides

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
        """Send the request and return the full response (text, usage, finish reason...)."""
        return await self._run(_execute_response)

    async def execute_streaming(self) -> StreamingResponse:
        """Send the request and return the answer as a stream of chunks."""
        self._streaming = True
        return await self._run(_execute_streaming)

    def execute_sync(self) -> str:
        """:meth:`execute` for code that is not async (scripts, notebooks without a loop)."""
        from agentflow.sync import run_sync

        return run_sync(self.execute)

    def execute_response_sync(self) -> Response:
        """:meth:`execute_response` for code that is not async."""
        from agentflow.sync import run_sync

        return run_sync(self.execute_response)

    # helpers ------------------------------------------------------------------------------

    def _runtime_in_use(self) -> Runtime:
        if self._runtime is not None:
            return self._runtime
        from agentflow.facade import AgentFlow

        return AgentFlow.runtime()

    def _client(self, runtime: Runtime, settings: ModelSettings) -> LLMClient:
        from agentflow.client import LLMClient

        return LLMClient(runtime, settings, self._request(settings, runtime),
                         timeout=self._timeouts, collectors=self._collectors)

    async def _run(self, action: Callable[[LLMClient], Awaitable[T]]) -> T:
        """``action`` on a client for the model, then for its fallbacks while they fail."""
        runtime = self._runtime_in_use()
        registry = runtime.registry  # the configuration this call runs on, to its end
        primary = registry.resolve(self._model)
        if not primary.fallbacks:
            return await action(self._client(runtime, primary))
        from agentflow.fallback import run_with_fallbacks

        return await run_with_fallbacks(
            runtime, primary, lambda settings: action(self._client(runtime, settings)),
            self._collectors, resolve=registry.resolve)

    def _request(self, settings: ModelSettings, runtime: Runtime) -> Request:
        messages: list[Message] = []
        if self._system is not None:
            messages.append(Message(role="system", content=self._system))
        messages.extend(self._history)
        if self._prompt is not None:
            messages.append(Message(role="user", content=self._prompt))
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
        return Request(
            model=settings.model_id,
            messages=tuple(messages),
            temperature=temperature,
            top_p=params.get("top_p", settings.top_p),
            max_tokens=params.get("max_tokens", settings.max_tokens),
            stop=self._stop,
            stream=self._streaming,
        )


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


def _message(index: int, item: Message | Mapping[str, str]) -> Message:
    if isinstance(item, Message):
        return item
    if isinstance(item, Mapping):
        role, content = item.get("role"), item.get("content")
        if role in _ROLES and isinstance(content, str):
            return Message(role=role, content=content)  # type: ignore[arg-type]
    raise ValidationError(
        f"messages[{index}] must be a Message or a mapping with role "
        f"({'/'.join(_ROLES)}) and string content, got {item!r}", parameter="messages")
