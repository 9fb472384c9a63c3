"""The builder's tools, structured output and images: checked where given, refused before
sending when the vendor's plugin cannot send them, and carried into the Request."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from echo_vendor import NAME, EchoVendor

from agentflow import ImagePart, LLMClientBuilder, Message, Tool, ToolCall, ValidationError
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config
from agentflow.hookspecs import hookimpl
from agentflow.testing.conformance import PIXEL_PNG
from agentflow.types import ProviderSpec, ToolChoice


class CapableEcho(EchoVendor):
    """The echo vendor, declaring every capability (with a 1 KiB image limit)."""

    @hookimpl
    def agentflow_register_providers(self) -> list[ProviderSpec]:
        return [ProviderSpec(name=NAME, default_base_url="https://echo.invalid/v1",
                             api_key_env="ECHO_API_KEY", max_image_bytes=1024,
                             capabilities=frozenset({"streaming", "tools", "structured_output",
                                                     "images", "image_urls"}))]


def _runtime(vendor: EchoVendor, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("ECHO_API_KEY", "k")
    host = PluginHost(entry_points=False)
    host.register(vendor)
    return Runtime(host=host, config=Config())


@pytest.fixture
def capable(monkeypatch: pytest.MonkeyPatch) -> Runtime:
    return _runtime(CapableEcho(), monkeypatch)


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Runtime:
    return _runtime(EchoVendor(), monkeypatch)


def lookup(city: str) -> str:
    """Look a city up."""
    return city


@attrs.frozen
class Answer:
    total: int


def test_tools_functions_classes_and_tool_objects_reach_the_request(capable: Runtime) -> None:
    manual = Tool(name="manual", description="by hand",
                  parameters={"type": "object", "properties": {}})
    request = (LLMClientBuilder("echo-1", runtime=capable).prompt("hi")
               .tools(lookup, Answer, manual).tool_choice("lookup").parallel_tool_calls(False)
               .build().request)
    assert [tool.name for tool in request.tools] == ["lookup", "answer", "manual"]
    assert request.tool_choice == ToolChoice(mode="tool", name="lookup")
    assert request.parallel_tool_calls is False
    assert request.output_schema is None


@pytest.mark.parametrize("mode", ["auto", "none", "required"])
def test_tool_choice_modes(capable: Runtime, mode: str) -> None:
    request = (LLMClientBuilder("echo-1", runtime=capable).prompt("hi").tools(lookup)
               .tool_choice(mode).build().request)
    assert request.tool_choice == ToolChoice(mode=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize(("configure", "message"), [
    (lambda b: b.tools(lookup, lookup), "two tools are named 'lookup'"),
    (lambda b: b.tools(42), "Tool objects, functions or attrs classes"),
    (lambda b: b.tools(Tool(name="bad name")), "not accepted by every vendor"),
    (lambda b: b.tool_choice(""), "tool_choice must be"),
    (lambda b: b.tools(lookup).tool_choice("other").build(), "not among the tools given"),
    (lambda b: b.tool_choice("required").build(), "needs tools"),
    (lambda b: b.json_schema({"type": "string"}), "object at its root"),
    (lambda b: b.tools(lookup).json_schema({"type": "object"}, name="lookup").build(),
     "named 'lookup', as a tool is"),
    (lambda b: b.output_type(int), "attrs class"),
    (lambda b: b.image(3.5), "bytes, a path, a URL or an ImagePart"),
    (lambda b: b.image(b"plain text"), "not PNG, JPEG, GIF, WebP"),
    (lambda b: b.image(PIXEL_PNG + bytes(1024)).build(), "more than the 1024 bytes"),
])
def test_mistakes_are_refused_before_sending(capable: Runtime, configure: Any,
                                              message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        configure(LLMClientBuilder("echo-1", runtime=capable).prompt("hi"))


@pytest.mark.parametrize(("configure", "parameter", "what"), [
    (lambda b: b.tools(lookup), "tools", "tool calling"),
    (lambda b: b.output_type(Answer), "output", "structured output"),
])
def test_a_vendor_without_the_capability_refuses(plain: Runtime, configure: Any,
                                                  parameter: str, what: str) -> None:
    with pytest.raises(ValidationError, match=f"echo .*does not support {what}") as caught:
        configure(LLMClientBuilder("echo-1", runtime=plain).prompt("hi")).build()
    assert caught.value.parameter == parameter


def test_history_with_tool_turns_needs_the_tools_capability(plain: Runtime) -> None:
    call = ToolCall.of("c1", "lookup", {"city": "Oslo"})
    history = [Message.user("hi"), Message.assistant("", (call,)),
               Message.tool_result(call, "cold")]
    with pytest.raises(ValidationError, match="tool calling"):
        LLMClientBuilder("echo-1", runtime=plain).messages(history).build()


def test_images_need_the_images_capability(plain: Runtime) -> None:
    with pytest.raises(ValidationError, match="echo does not take images"):
        LLMClientBuilder("echo-1", runtime=plain).prompt("x").image(PIXEL_PNG).build()


def test_images_follow_the_prompt_in_one_user_message(capable: Runtime, tmp_path: Any) -> None:
    path = tmp_path / "p.png"
    path.write_bytes(PIXEL_PNG)
    request = (LLMClientBuilder("echo-1", runtime=capable).prompt("what?")
               .image(PIXEL_PNG).image(path).image(str(path))
               .image("https://example.com/a.png").image(ImagePart.from_bytes(PIXEL_PNG))
               .build().request)
    (message,) = request.messages
    assert message.text == "what?"
    assert [image.data or image.url for image in message.images] == [
        PIXEL_PNG, PIXEL_PNG, PIXEL_PNG, "https://example.com/a.png", PIXEL_PNG]


def test_structured_output_reaches_the_request(capable: Runtime) -> None:
    request = (LLMClientBuilder("echo-1", runtime=capable).prompt("x").output_type(Answer)
               .build().request)
    assert request.output_schema is not None
    assert request.output_schema.name == "answer"
    assert request.output_schema.strict


def test_messages_are_checked() -> None:
    call = ToolCall.of("c1", "lookup", {})
    for bad, message in (
            (Message(role="tool", content="x"), "tool result naming no call"),
            (Message(role="assistant", content=(ImagePart.from_bytes(PIXEL_PNG),)),
             "only user messages may hold images"),
            ({"role": "tool", "content": "x"}, "must be a Message or a mapping")):
        with pytest.raises(ValidationError, match=message):
            LLMClientBuilder("echo-1").messages([bad])
    LLMClientBuilder("echo-1").messages([Message.assistant("", (call,)),
                                         Message.tool_result(call, "ok")])


@pytest.mark.anyio
async def test_execute_parsed_needs_a_schema() -> None:
    with pytest.raises(ValidationError, match=r"needs \.output_type"):
        await LLMClientBuilder("echo-1").prompt("x").execute_parsed()


@pytest.mark.anyio
async def test_run_tools_needs_runnable_tools(capable: Runtime) -> None:
    builder = LLMClientBuilder("echo-1", runtime=capable).prompt("x")
    with pytest.raises(ValidationError, match="needs tools"):
        await builder.run_tools()
    with pytest.raises(ValidationError, match="have none: answer"):
        await builder.tools(lookup, Answer).run_tools()
    with pytest.raises(ValidationError, match="max_steps"):
        await builder.tools(lookup).run_tools(max_steps=0)
