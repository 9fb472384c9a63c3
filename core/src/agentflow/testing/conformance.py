"""The conformance suite: one set of tests every provider plugin runs against its own emulation.

A plugin subclasses :class:`ProviderConformance` in its test suite, names its provider and a
catalog model, and says how to read its vendor's request back (:meth:`ProviderConformance.wire`)::

    from agentflow.testing.conformance import ProviderConformance, WireRequest

    class TestAcmeConformance(ProviderConformance):
        provider = "acme"
        model = "acme-large"

        def wire(self, request):
            body = request.json
            return WireRequest(model=body["model"], messages=..., temperature=..., ...)

pytest then collects every ``test_*`` method below for that class, each once under asyncio and
once under trio. They go along the real path: the fluent API, the plugin's hooks, httpx, real
loopback sockets to the fake provider server (``fake_llm_server``), the plugin's emulation of
its vendor, and back through the SSE decoder.

What the suite expects of the emulation is written in :class:`agentflow.testing.Reply`'s
docstring and in ``docs/writing-a-provider-plugin.md``: one token per word, the answer cut at
``max_tokens`` words with the vendor's length reason, a stop sequence honoured, scripted statuses
answered with the vendor's error body, and so on.

pytest must be installed to import this module (``agentflow-core[testing]`` brings it along
with uvicorn).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import anyio
import attrs
import pytest

from agentflow.errors import (
    HttpError,
    LLMError,
    MissingApiKeyError,
    ProviderError,
    RateLimitError,
    StreamingError,
    ValidationError,
)
from agentflow.testing.fake import FakeToolCall, Reply, describe_image, tool_result_text

if TYPE_CHECKING:
    from agentflow._api.builder import LLMClientBuilder
    from agentflow._runtime.runtime import Runtime
    from agentflow.testing.app import RecordedRequest
    from agentflow.testing.server import FakeServer
    from agentflow.types import ProviderSpec, Response, StreamChunk

__all__ = ["CUT_WARNING", "ConformanceHarness", "ProviderConformance", "WireImage",
           "WireRequest", "WireTool", "WireToolCall", "WireToolResult"]

#: A 1x1 PNG, the image the suite sends.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def get_weather(city: str, days: int = 1) -> str:
    """Today's weather in a city.

    :param city: the city's name
    :param days: how many days to forecast
    """
    return f"sunny in {city} for {days} day(s)"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@attrs.frozen
class Forecast:
    """A weather forecast."""

    city: str
    temperature: float
    conditions: Literal["sunny", "cloudy", "rain"]
    hourly: list[int]


#: The variable the suite's configuration reads the (dummy) key from.
KEY_ENV = "AGENTFLOW_CONFORMANCE_API_KEY"
#: The key every test of the suite sends: random, so no vendor shape or other test's value
#: can stand in for it, and one per process, since agentflow remembers every key it sends
#: to redact it (a key per test made each remembered key cost more than the one before).
KEY = f"conformance-{secrets.token_hex(12)}"

# A cut stream: the answer is sent in this many pieces and the connection cut after this many
# events, leaving room for a vendor's opening events (a role delta, message_start, a ping).
_CUT_PIECES = 20
_CUT_AFTER = 10
# Tolerate the warning trio gives when httpx's generators are left to the collector after a
# cut connection (see docs/streaming.md); the connection itself is released.
CUT_WARNING = "ignore:Async generator 'http:ResourceWarning"


@attrs.frozen(kw_only=True)
class WireRequest:
    """A vendor request as it reached the fake server, in agentflow's terms.

    ``messages`` are ``(role, text)`` pairs with roles ``user`` and ``assistant`` (a vendor's
    ``model`` role is ``assistant`` here) for the turns that hold text; system text goes in
    ``system``, not in ``messages``. A parameter the request did not carry is ``None`` (``()``
    for ``stop`` and the tuples).

    Tools: ``tools`` as offered; ``tool_choice`` as ``auto``, ``none``, ``required`` or the
    forced tool's name (``None`` if not sent); ``output_schema`` the schema the vendor was asked
    to match (for a vendor doing it through a forced tool, that tool's schema, and that tool
    is then not listed in ``tools``); ``images`` of every message, in order; ``tool_calls``
    of the assistant turns and ``tool_results``, in order.
    """

    model: str
    messages: tuple[tuple[str, str], ...]
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = False
    tools: tuple[WireTool, ...] = ()
    tool_choice: str | None = None
    output_schema: Mapping[str, Any] | None = None
    images: tuple[WireImage, ...] = ()
    tool_calls: tuple[WireToolCall, ...] = ()
    tool_results: tuple[WireToolResult, ...] = ()


@attrs.frozen(kw_only=True)
class WireTool:
    """A tool definition as sent: its name, description and parameters' JSON Schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class WireImage:
    """An image as sent: its media type, and its decoded bytes or its URL."""

    media_type: str | None
    data: bytes | None = None
    url: str | None = None


@attrs.frozen(kw_only=True)
class WireToolCall:
    """A tool call of an assistant turn sent back as history (``id`` ``None`` where the vendor
    has no call ids)."""

    id: str | None
    name: str
    arguments: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class WireToolResult:
    """A tool result as sent (``id``/``name`` ``None`` where the vendor's format has none)."""

    id: str | None
    name: str | None
    content: str
    is_error: bool = False


class ConformanceHarness:
    """What each conformance test works with: the fake server and a runtime pointed at it.

    The runtime's configuration sends the plugin's provider to the server with no retries, so
    that every scripted fault surfaces as it is.
    """

    def __init__(self, suite: ProviderConformance, server: FakeServer, runtime: Runtime,
                 key: str, spec: ProviderSpec) -> None:
        self.suite = suite
        self.server = server
        self.runtime = runtime
        self.key = key
        self.spec = spec

    def builder(self) -> LLMClientBuilder:
        """A fresh builder for the suite's model."""
        from agentflow._api.builder import LLMClientBuilder

        return LLMClientBuilder(self.suite.model, runtime=self.runtime)

    def script(self, *replies: Reply) -> None:
        """Queue ``replies`` for the provider under test."""
        self.server.script(self.suite.provider, *replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests the provider under test received, oldest first."""
        return [r for r in self.server.requests if r.provider == self.suite.provider]

    def last_wire(self) -> WireRequest:
        """The last request, read back by the plugin's :meth:`ProviderConformance.wire`."""
        requests = self.requests
        assert requests, f"no request reached the {self.suite.provider} emulation"
        return self.suite.wire(requests[-1])

    def model_id(self) -> str:
        """The vendor's id of the suite's model."""
        return self.runtime.resolve(self.suite.model).model_id

    async def answer(self, builder: LLMClientBuilder,
                     streamed: bool) -> tuple[str, str | None, str | None]:
        """Text, finish reason and raw finish reason of ``builder``'s answer, streamed or not
        (for plugins overriding a test of the suite)."""
        return await _answer(self, builder, streamed)

    async def stream(self, builder: LLMClientBuilder) -> list[StreamChunk]:
        """Every chunk of ``builder``'s streamed answer, the final one included."""
        response = await builder.execute_streaming()
        async with response:
            return [chunk async for chunk in response]

    def assert_no_key(self, error: BaseException) -> None:
        """``error`` shows the key nowhere: message, repr, arguments or attributes."""
        shown = [str(error), repr(error), *map(str, error.args), *map(str, vars(error).values())]
        assert not any(self.key in text for text in shown), (
            f"the API key appears in {type(error).__name__}: {shown}")


class ProviderConformance:
    """Subclass as ``Test<Vendor>Conformance`` to run the suite on a provider plugin.

    Set :attr:`provider` and :attr:`model`, implement :meth:`wire`, and adjust the class
    attributes that describe the vendor. The tests need the ``fake_llm_server`` fixture, which
    ``agentflow-core[testing]`` registers with pytest.
    """

    #: The provider (vendor) name the plugin registers.
    provider: ClassVar[str]
    #: A model name of the plugin's catalog (its vendor may be ``provider`` or another vendor
    #: speaking the same format, such as a regional endpoint).
    model: ClassVar[str]
    #: HTTP status -> the class of error it must raise.
    error_statuses: ClassVar[Mapping[int, type[LLMError]]] = MappingProxyType({
        400: HttpError, 401: HttpError, 403: HttpError, 404: HttpError,
        429: RateLimitError, 500: HttpError, 503: HttpError,
    })
    #: The vendor's raw finish reasons -> agentflow's; each is scripted and checked.
    finish_reasons: ClassVar[Mapping[str, str | None]] = MappingProxyType({})
    #: The vendor's in-stream error type sent for ``Reply(error_after=K)`` and the error class
    #: it must raise; ``None`` if the vendor never reports errors inside a stream.
    stream_error: ClassVar[tuple[str, type[LLMError]] | None] = None
    #: Whether the vendor requires an output limit, so one is sent when none is set.
    always_sends_max_tokens: ClassVar[bool] = False
    #: Whether the vendor's error answers carry a request id.
    errors_carry_request_id: ClassVar[bool] = True
    #: The HTTP stack the calls go over (``transport`` in the configuration): a transport
    #: plugin runs the suite over its own with ``transport = "aiohttp"``, say.
    transport: ClassVar[str] = "httpx"

    def wire(self, request: RecordedRequest) -> WireRequest:
        """Read ``request`` (as the fake server recorded it) back into a :class:`WireRequest`."""
        raise NotImplementedError(f"{type(self).__name__} must implement wire()")

    def raises_for_finish_reason(self, raw: str) -> bool:
        """Whether an answer ending with the vendor's ``raw`` reason raises instead of
        returning (a vendor whose safety stop leaves no text, say). Default: never."""
        return False

    # --- parametrisation and fixtures -------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrise the tests over the vendor's statuses and finish reasons."""
        if "error_status" in metafunc.fixturenames:
            statuses = sorted(self.error_statuses)
            metafunc.parametrize("error_status", statuses, ids=[str(s) for s in statuses])
        if "finish_case" in metafunc.fixturenames:
            cases = sorted(self.finish_reasons.items())
            metafunc.parametrize("finish_case", cases, ids=[raw for raw, _ in cases])

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        """Every test runs under asyncio and under trio."""
        return str(request.param)

    @pytest.fixture(params=[False, True], ids=["plain", "stream"])
    def streamed(self, request: pytest.FixtureRequest) -> bool:
        """Tests taking this run once for each answer mode."""
        return bool(request.param)

    @pytest.fixture
    async def harness(self, fake_llm_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                      anyio_backend: str) -> AsyncIterator[ConformanceHarness]:
        """A runtime whose only provider is the plugin's, on the fake server, with the suite's
        key."""
        from agentflow._runtime.runtime import Runtime
        from agentflow.config import Config, Defaults, ModelConfig, ProviderConfig

        monkeypatch.setenv(KEY_ENV, KEY)
        runtime = Runtime()
        specs = runtime.host.providers()
        assert self.provider in specs, (
            f"no installed plugin registers provider {self.provider!r}; "
            f"installed: {', '.join(sorted(specs))}")
        assert self.provider in fake_llm_server.provider_names, (
            f"the fake server has no emulation of {self.provider!r}: the plugin's "
            "agentflow_fake_routes hook must return one")
        info = runtime.host.catalog().get(self.model)
        assert info is not None, f"{self.model!r} is in no installed plugin's catalog"
        endpoint = ProviderConfig(api_key_env=KEY_ENV,
                                  base_url=fake_llm_server.base_url(self.provider))
        # The catalog model, sent to the vendor under test (which may be another endpoint of
        # the same format than the catalog's own vendor, such as a regional one).
        model = ModelConfig(vendor=self.provider, model_id=info.model_id or info.name)
        runtime.set_config(Config(models={self.model: model},
                                  providers={self.provider: endpoint},
                                  defaults=attrs.evolve(Defaults(), max_retries=0,
                                                        transport=self.transport)))
        try:
            yield ConformanceHarness(self, fake_llm_server, runtime, KEY, specs[self.provider])
        finally:
            await runtime.aclose()

    # --- requests ---------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_plain_text(self, harness: ConformanceHarness) -> None:
        harness.script(Reply(text="Conformance answer in five words"))
        response = await harness.builder().prompt("Hello there").execute_response()
        assert response.text == "Conformance answer in five words"
        assert response.provider == self.provider
        assert response.model, "the response names no model"
        assert response.finish_reason == "stop"
        assert response.raw_finish_reason, "the vendor's own finish reason is not kept"
        assert response.request_id, "the vendor's request id is not on the response"
        _assert_usage(response, prompt=2, completion=5)
        wire = harness.last_wire()
        assert wire.model == harness.model_id()
        assert wire.messages == (("user", "Hello there"),)
        assert wire.system is None
        assert not wire.stream
        assert len(harness.requests) == 1

    @pytest.mark.anyio
    async def test_system_prompt(self, harness: ConformanceHarness) -> None:
        await harness.builder().system("Answer briefly.").prompt("What is SSE?").execute()
        wire = harness.last_wire()
        assert wire.system == "Answer briefly."
        assert wire.messages == (("user", "What is SSE?"),)

    @pytest.mark.anyio
    async def test_multi_turn(self, harness: ConformanceHarness) -> None:
        turns = [{"role": "user", "content": "first question"},
                 {"role": "assistant", "content": "first answer"},
                 {"role": "user", "content": "second question"}]
        text = await harness.builder().messages(turns).execute()
        assert text == Reply().text_for("second question")
        assert harness.last_wire().messages == (
            ("user", "first question"), ("assistant", "first answer"),
            ("user", "second question"))

    @pytest.mark.anyio
    async def test_every_parameter_reaches_the_wire(self, harness: ConformanceHarness,
                                                    streamed: bool) -> None:
        # temperature and top_p go in separate calls: some vendors refuse both at once.
        calls = [harness.builder().prompt("hi").temperature(0.5).max_tokens(64)
                 .stop("END", "STOP"), harness.builder().prompt("hi").top_p(0.9)]
        wires = []
        for builder in calls:
            if streamed:
                await harness.stream(builder)
            else:
                await builder.execute()
            wires.append(harness.last_wire())
        first, second = wires
        assert (first.temperature, first.max_tokens, first.stop) == (0.5, 64, ("END", "STOP"))
        assert second.top_p == 0.9
        assert first.stream is streamed

    @pytest.mark.anyio
    async def test_unset_parameters_are_not_sent(self, harness: ConformanceHarness) -> None:
        await harness.builder().prompt("hi").execute()
        wire = harness.last_wire()
        assert (wire.temperature, wire.top_p, wire.stop) == (None, None, ())
        if self.always_sends_max_tokens:
            assert wire.max_tokens is not None
            assert wire.max_tokens > 0
        else:
            assert wire.max_tokens is None

    @pytest.mark.anyio
    async def test_temperature_outside_the_vendor_range_is_refused_before_sending(
            self, harness: ConformanceHarness) -> None:
        high = harness.spec.temperature_range[1]
        with pytest.raises(ValidationError):
            await harness.builder().prompt("hi").temperature(high + 0.5).execute()
        assert harness.requests == []

    @pytest.mark.anyio
    async def test_concurrent_requests_get_their_own_answers(
            self, harness: ConformanceHarness) -> None:
        answers: dict[int, str] = {}

        async def ask(number: int) -> None:
            answers[number] = await harness.builder().prompt(f"question {number}").execute()

        async with anyio.create_task_group() as tasks:
            for number in range(12):
                tasks.start_soon(ask, number)
        assert answers == {n: Reply().text_for(f"question {n}") for n in range(12)}

    # --- streaming --------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_streaming_gives_the_plain_text(self, harness: ConformanceHarness) -> None:
        text = "one two three four five six seven"
        harness.script(Reply(text=text, chunks=4), Reply(text=text, chunks=4))
        plain = await harness.builder().prompt("hi").execute()
        chunks = await harness.stream(harness.builder().prompt("hi"))
        assert plain == text
        assert "".join(chunk.content for chunk in chunks) == text
        assert sum(1 for chunk in chunks if chunk.content) >= 2, "the answer was not streamed"
        assert chunks[-1].is_final
        assert not any(chunk.is_final for chunk in chunks[:-1])
        assert harness.last_wire().stream

    @pytest.mark.anyio
    async def test_final_chunk_carries_usage_and_finish_reason(
            self, harness: ConformanceHarness) -> None:
        harness.script(Reply(text="a b c", usage=(11, 7)))
        final = (await harness.stream(harness.builder().prompt("hi")))[-1]
        assert final.is_final
        assert final.finish_reason == "stop"
        assert final.raw_finish_reason
        assert final.usage is not None
        assert (final.usage.prompt_tokens, final.usage.completion_tokens,
                final.usage.total_tokens) == (11, 7, 18)

    @pytest.mark.anyio
    async def test_scripted_usage_is_reported_exactly(self, harness: ConformanceHarness) -> None:
        harness.script(Reply(text="a b c", usage=(123, 45)))
        response = await harness.builder().prompt("hi").execute_response()
        _assert_usage(response, prompt=123, completion=45)

    @pytest.mark.anyio
    async def test_output_limit_gives_length(self, harness: ConformanceHarness,
                                             streamed: bool) -> None:
        harness.script(Reply(text="one two three four five"))
        text, finish, _ = await _answer(harness, harness.builder().prompt("hi").max_tokens(2),
                                        streamed)
        assert text.split() == ["one", "two"]
        assert finish == "length"

    @pytest.mark.anyio
    async def test_stop_sequence_ends_the_answer(self, harness: ConformanceHarness,
                                                 streamed: bool) -> None:
        harness.script(Reply(text="alpha beta END gamma delta"))
        text, finish, _ = await _answer(harness, harness.builder().prompt("hi").stop("END"),
                                        streamed)
        assert text.strip() == "alpha beta"
        assert finish == "stop"

    @pytest.mark.anyio
    @pytest.mark.filterwarnings(CUT_WARNING)
    async def test_finish_reason_is_normalised(self, harness: ConformanceHarness,
                                               finish_case: tuple[str, str | None],
                                               streamed: bool) -> None:
        raw, expected = finish_case
        harness.script(Reply(text="some words", finish_reason=raw))
        if expected in ("content_filter", "error") and self.raises_for_finish_reason(raw):
            with pytest.raises(LLMError) as caught:
                await _answer(harness, harness.builder().prompt("hi"), streamed)
            harness.assert_no_key(caught.value)
            return
        _, finish, raw_seen = await _answer(harness, harness.builder().prompt("hi"), streamed)
        assert (finish, raw_seen) == (expected, raw)

    # --- tools, structured output, images ---------------------------------------------------

    @pytest.mark.anyio
    async def test_tool_definitions_reach_the_wire(self, harness: ConformanceHarness) -> None:
        if await _refused_without(harness, "tools",
                                  harness.builder().prompt("x").tools(get_weather).execute):
            return
        await harness.builder().prompt("weather?").tools(get_weather, add).execute()
        wire = harness.last_wire()
        assert [tool.name for tool in wire.tools] == ["get_weather", "add"]
        weather = wire.tools[0]
        assert weather.description == "Today's weather in a city."
        assert set(weather.parameters.get("properties", {})) == {"city", "days"}
        assert wire.tool_choice in (None, "auto")
        assert wire.output_schema is None

    @pytest.mark.anyio
    @pytest.mark.parametrize("choice", ["none", "required", "add"])
    async def test_tool_choice_reaches_the_wire(self, harness: ConformanceHarness,
                                                choice: str) -> None:
        if await _refused_without(harness, "tools",
                                  harness.builder().prompt("x").tools(get_weather).execute):
            return
        await harness.builder().prompt("sum?").tools(get_weather, add).tool_choice(
            choice).execute_response()
        assert harness.last_wire().tool_choice == choice

    @pytest.mark.anyio
    async def test_tool_calls_are_returned_parsed(self, harness: ConformanceHarness,
                                                  streamed: bool) -> None:
        if await _refused_without(harness, "tools",
                                  harness.builder().prompt("x").tools(get_weather).execute):
            return
        harness.script(Reply(tool_calls=[
            FakeToolCall(name="get_weather", arguments={"city": "Paris", "days": 2}),
            FakeToolCall(name="add", arguments={"a": 40, "b": 2})]))
        builder = harness.builder().prompt("weather and sum?").tools(get_weather, add)
        if streamed:
            final = (await harness.stream(builder))[-1]
            calls, finish = final.tool_calls, final.finish_reason
        else:
            response = await builder.execute_response()
            calls, finish = response.tool_calls, response.finish_reason
        assert [(call.name, dict(call.arguments)) for call in calls] == [
            ("get_weather", {"city": "Paris", "days": 2}), ("add", {"a": 40, "b": 2})]
        assert all(call.id for call in calls), "a tool call has no id"
        assert len({call.id for call in calls}) == 2, "two tool calls share an id"
        assert all(json.loads(call.raw_arguments) == call.arguments for call in calls)
        assert finish == "tool_calls"

    @pytest.mark.anyio
    async def test_forced_tool_is_called(self, harness: ConformanceHarness,
                                         streamed: bool) -> None:
        if await _refused_without(harness, "tools",
                                  harness.builder().prompt("x").tools(get_weather).execute):
            return
        builder = harness.builder().prompt("weather?").tools(get_weather, add).tool_choice(
            "get_weather")
        if streamed:
            calls = (await harness.stream(builder))[-1].tool_calls
        else:
            calls = (await builder.execute_response()).tool_calls
        assert [call.name for call in calls] == ["get_weather"]
        assert "city" in calls[0].arguments

    @pytest.mark.anyio
    async def test_tool_results_are_sent_back(self, harness: ConformanceHarness,
                                              streamed: bool) -> None:
        if await _refused_without(harness, "tools",
                                  harness.builder().prompt("x").tools(get_weather).execute):
            return
        from agentflow.types import Message, ToolCall

        calls = (ToolCall.of("call_w", "get_weather", {"city": "Oslo"}),
                 ToolCall.of("call_a", "add", {"a": 1, "b": 2}))
        history = [Message.user("weather and sum?"), Message.assistant("", calls),
                   Message.tool_result(calls[0], "snow"), Message.tool_result(calls[1], 3)]
        text, finish, _ = await _answer(
            harness, harness.builder().messages(history).tools(get_weather, add), streamed)
        wire = harness.last_wire()
        assert [(call.name, dict(call.arguments)) for call in wire.tool_calls] == [
            ("get_weather", {"city": "Oslo"}), ("add", {"a": 1, "b": 2})]
        assert [result.content for result in wire.tool_results] == ["snow", "3"]
        for sent, result in zip(wire.tool_calls, wire.tool_results, strict=True):
            if sent.id is not None:
                assert result.id == sent.id
            if result.name is not None:
                assert result.name == sent.name
        assert text == tool_result_text([("get_weather", "snow"), ("add", "3")])
        assert finish == "stop"

    @pytest.mark.anyio
    async def test_failed_tool_result_is_marked(self, harness: ConformanceHarness) -> None:
        if await _refused_without(harness, "tools",
                                  harness.builder().prompt("x").tools(get_weather).execute):
            return
        from agentflow.types import Message, ToolCall

        call = ToolCall.of("call_w", "get_weather", {"city": "Oslo"})
        history = [Message.user("weather?"), Message.assistant("", (call,)),
                   Message.tool_result(call, "Error: the service is down", is_error=True)]
        await harness.builder().messages(history).tools(get_weather).execute()
        (result,) = harness.last_wire().tool_results
        assert "the service is down" in result.content
        assert result.is_error or result.content.startswith("Error")

    @pytest.mark.anyio
    async def test_malformed_tool_arguments_keep_the_raw_text(
            self, harness: ConformanceHarness, streamed: bool) -> None:
        if await _refused_without(harness, "tools",
                                  harness.builder().prompt("x").tools(get_weather).execute):
            return
        raw = '{"city": "Par'
        harness.script(Reply(tool_calls=[FakeToolCall(name="get_weather", raw_arguments=raw)]))
        with pytest.raises((ProviderError, StreamingError)) as caught:
            await _answer(harness, harness.builder().prompt("weather?").tools(get_weather),
                          streamed)
        error = caught.value
        assert isinstance(error, StreamingError if streamed else ProviderError)
        assert error.raw_arguments == raw
        assert "get_weather" in str(error)

    @pytest.mark.anyio
    async def test_agent_loop_runs_the_tools(self, harness: ConformanceHarness) -> None:
        if await _refused_without(harness, "tools",
                                  harness.builder().prompt("x").tools(get_weather).execute):
            return
        harness.script(Reply(tool_calls=[
            FakeToolCall(name="get_weather", arguments={"city": "Lima", "days": 3}),
            FakeToolCall(name="add", arguments={"a": 2, "b": 5})]))
        run = await harness.builder().prompt("weather and sum?").tools(
            get_weather, add).run_tools(max_steps=3)
        assert run.text == tool_result_text([("get_weather", "sunny in Lima for 3 day(s)"),
                                             ("add", "7")])
        assert [len(step.tool_runs) for step in run.steps] == [2, 0]
        assert [message.role for message in run.messages] == [
            "user", "assistant", "tool", "tool", "assistant"]

    @pytest.mark.anyio
    async def test_structured_output_is_parsed(self, harness: ConformanceHarness,
                                               streamed: bool) -> None:
        if await _refused_without(harness, "structured_output",
                                  harness.builder().prompt("x").output_type(Forecast).execute):
            return
        builder = harness.builder().prompt("forecast?").output_type(Forecast)
        if streamed:
            builder = builder.streaming()
        forecast = await builder.execute_parsed()
        assert isinstance(forecast, Forecast)
        assert forecast.conditions in ("sunny", "cloudy", "rain")
        schema = harness.last_wire().output_schema
        assert schema is not None, "no output schema reached the wire"
        assert set(schema.get("properties", {})) == {"city", "temperature", "conditions",
                                                     "hourly"}

    @pytest.mark.anyio
    async def test_json_schema_answer_is_returned(self, harness: ConformanceHarness) -> None:
        if await _refused_without(harness, "structured_output",
                                  harness.builder().prompt("x").output_type(Forecast).execute):
            return
        schema = {"type": "object", "properties": {"total": {"type": "integer"}},
                  "required": ["total"], "additionalProperties": False}
        harness.script(Reply(text='{"total": 42}'))
        response = await harness.builder().prompt("sum?").json_schema(
            schema, name="sum").execute_response()
        assert response.parsed == {"total": 42}
        assert response.finish_reason == "stop"
        assert not response.tool_calls

    @pytest.mark.anyio
    async def test_answer_that_does_not_fit_the_schema_is_located(
            self, harness: ConformanceHarness) -> None:
        if await _refused_without(harness, "structured_output",
                                  harness.builder().prompt("x").output_type(Forecast).execute):
            return
        answer = '{"city": "Rome", "temperature": "warm", "conditions": "sunny", "hourly": []}'
        harness.script(Reply(text=answer))
        with pytest.raises(ValidationError) as caught:
            await harness.builder().prompt("forecast?").output_type(Forecast).execute_parsed()
        assert caught.value.path == "$.temperature"
        assert caught.value.answer is not None
        assert json.loads(caught.value.answer) == json.loads(answer)

    @pytest.mark.anyio
    async def test_image_bytes_reach_the_vendor(self, harness: ConformanceHarness,
                                                streamed: bool) -> None:
        if await _refused_without(harness, "images",
                                  harness.builder().prompt("x").image(PIXEL_PNG).execute):
            return
        text, _, _ = await _answer(
            harness, harness.builder().prompt("What is this?").image(PIXEL_PNG), streamed)
        (image,) = harness.last_wire().images
        assert (image.media_type, image.data) == ("image/png", PIXEL_PNG)
        assert describe_image("image/png", PIXEL_PNG) in text

    @pytest.mark.anyio
    async def test_image_url_is_sent_or_refused_before_sending(
            self, harness: ConformanceHarness) -> None:
        if await _refused_without(harness, "images",
                                  harness.builder().prompt("x").image(PIXEL_PNG).execute):
            return
        url = "https://example.com/cat.png"
        builder = harness.builder().prompt("What is this?").image(url)
        if "image_urls" not in harness.spec.capabilities:
            with pytest.raises(ValidationError, match="bytes"):
                await builder.execute()
            assert harness.requests == []
            return
        await builder.execute()
        (image,) = harness.last_wire().images
        assert image.url == url

    @pytest.mark.anyio
    async def test_image_over_the_vendor_limit_is_refused_before_sending(
            self, harness: ConformanceHarness) -> None:
        if await _refused_without(harness, "images",
                                  harness.builder().prompt("x").image(PIXEL_PNG).execute):
            return
        limit = harness.spec.max_image_bytes
        assert limit is not None, "declare the vendor's per-image limit (max_image_bytes)"
        too_big = PIXEL_PNG + bytes(limit + 1 - len(PIXEL_PNG))
        with pytest.raises(ValidationError, match="more than"):
            await harness.builder().prompt("What is this?").image(too_big).execute()
        assert harness.requests == []

    # --- errors -----------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_error_status_is_mapped(self, harness: ConformanceHarness, error_status: int,
                                          streamed: bool) -> None:
        expected = self.error_statuses[error_status]
        harness.script(Reply(status=error_status, error_message="conformance failure 4711"))
        with pytest.raises(LLMError) as caught:
            await _answer(harness, harness.builder().prompt("hi"), streamed)
        error = caught.value
        assert type(error) is expected, f"HTTP {error_status} raised {error!r}"
        assert isinstance(error, HttpError)
        assert error.status_code == error_status
        assert error.provider == self.provider
        assert error.model == self.model
        assert "conformance failure 4711" in (error.vendor_message or "")
        assert "conformance failure 4711" in str(error)
        if self.errors_carry_request_id:
            assert error.request_id, f"HTTP {error_status} error has no request id"
        harness.assert_no_key(error)
        assert len(harness.requests) == 1, "an error was retried with retries turned off"

    @pytest.mark.anyio
    async def test_rate_limit_carries_retry_after(self, harness: ConformanceHarness) -> None:
        harness.script(Reply(status=429, retry_after=7))
        with pytest.raises(RateLimitError) as caught:
            await harness.builder().prompt("hi").execute()
        assert caught.value.retry_after == 7

    @pytest.mark.anyio
    async def test_missing_key(self, harness: ConformanceHarness,
                               monkeypatch: pytest.MonkeyPatch) -> None:
        """A vendor that needs a key fails before sending anything; one whose key is optional
        (a local server) sends the request without one."""
        monkeypatch.delenv(KEY_ENV)
        if harness.spec.api_key_optional:
            assert await harness.builder().prompt("hi").execute()
            assert len(harness.requests) == 1
            return
        with pytest.raises(MissingApiKeyError) as caught:
            await harness.builder().prompt("hi").execute()
        assert caught.value.env_var == KEY_ENV
        assert harness.requests == []

    @pytest.mark.anyio
    async def test_key_travels_in_a_header_only(self, harness: ConformanceHarness,
                                                streamed: bool) -> None:
        await _answer(harness, harness.builder().prompt("hi"), streamed)
        request = harness.requests[-1]
        assert any(harness.key in value for value in request.headers.values()), (
            "the key was not sent in any header")
        assert harness.key not in request.path
        assert not any(harness.key in f"{k}={v}" for k, v in request.query.items()), (
            "the key is in the URL, where proxies and logs keep it")
        assert harness.key.encode() not in request.body

    @pytest.mark.anyio
    @pytest.mark.filterwarnings(CUT_WARNING)
    async def test_malformed_answer_is_a_provider_error(self, harness: ConformanceHarness,
                                                        streamed: bool) -> None:
        harness.script(Reply(malformed=True))
        with pytest.raises((ProviderError, StreamingError)) as caught:
            await _answer(harness, harness.builder().prompt("hi"), streamed)
        assert isinstance(caught.value, StreamingError if streamed else ProviderError)
        harness.assert_no_key(caught.value)

    @pytest.mark.anyio
    @pytest.mark.filterwarnings(CUT_WARNING)
    async def test_cut_body_is_a_provider_error(self, harness: ConformanceHarness) -> None:
        harness.script(Reply(text="one two three four five six", cut_after=1))
        with pytest.raises(ProviderError):
            await harness.builder().prompt("hi").execute()

    @pytest.mark.anyio
    @pytest.mark.filterwarnings(CUT_WARNING)
    async def test_cut_stream_keeps_the_partial_text(self, harness: ConformanceHarness) -> None:
        text = " ".join(f"word{n}" for n in range(_CUT_PIECES))
        harness.script(Reply(text=text, chunks=_CUT_PIECES, cut_after=_CUT_AFTER))
        received: list[str] = []

        async def read() -> None:
            response = await harness.builder().prompt("hi").execute_streaming()
            async with response:
                async for chunk in response:
                    received.append(chunk.content)

        with pytest.raises(StreamingError) as caught:
            await read()
        partial = caught.value.partial_text
        assert partial, "nothing was kept of the text received before the cut"
        assert partial == "".join(received)
        assert text.startswith(partial)
        assert partial != text
        harness.assert_no_key(caught.value)

    @pytest.mark.anyio
    @pytest.mark.filterwarnings(CUT_WARNING)
    async def test_error_inside_a_stream_keeps_the_partial_text(
            self, harness: ConformanceHarness) -> None:
        if self.stream_error is None:
            pytest.skip(f"{self.provider} reports no errors inside a stream")
        error_type, expected = self.stream_error
        harness.script(Reply(text="one two three four five", error_after=2,
                             error_type=error_type, error_message="conformance overload"))
        with pytest.raises(LLMError) as caught:
            await harness.stream(harness.builder().prompt("hi"))
        error = caught.value
        assert isinstance(error, expected), f"the in-stream error raised {error!r}"
        assert error.partial_text == "one two"
        assert "conformance overload" in str(error)
        assert error.provider == self.provider
        harness.assert_no_key(error)


async def _refused_without(harness: ConformanceHarness, capability: str,
                           send: Callable[[], Awaitable[object]]) -> bool:
    """For a vendor whose plugin lacks ``capability``: check that a request needing it is
    refused before anything is sent, and return ``True`` (the test then ends there)."""
    if capability in harness.spec.capabilities:
        return False
    with pytest.raises(ValidationError, match=f"{harness.spec.name} .*does not"):
        await send()
    assert harness.requests == [], f"a request needing {capability} was sent anyway"
    return True


async def _answer(harness: ConformanceHarness, builder: LLMClientBuilder,
                  streamed: bool) -> tuple[str, str | None, str | None]:
    """Text, finish reason and raw finish reason of the answer, streamed or not."""
    if not streamed:
        response = await builder.execute_response()
        return response.text, response.finish_reason, response.raw_finish_reason
    chunks = await harness.stream(builder)
    final = chunks[-1]
    assert final.is_final, "the stream ended without a final chunk"
    return "".join(c.content for c in chunks), final.finish_reason, final.raw_finish_reason


def _assert_usage(response: Response, *, prompt: int, completion: int) -> None:
    usage = response.usage
    assert usage is not None, "the response carries no usage"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        prompt, completion, prompt + completion), f"usage {usage!r}"

