"""agentflow_prepare_request: plugins rewrite or refuse a request before any vendor sees it."""

from __future__ import annotations

import attrs
import pytest
from echo_vendor import EchoVendor

from agentflow import LLMClientBuilder, ValidationError
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, ProviderConfig
from agentflow.hookspecs import hookimpl

pytestmark = pytest.mark.anyio


class Upper:
    @hookimpl
    def agentflow_prepare_request(self, request, settings):
        return attrs.evolve(request, messages=tuple(
            attrs.evolve(m, content=m.content.upper()) for m in request.messages))


class Suffix:
    @hookimpl
    def agentflow_prepare_request(self, request, settings):
        if "forbidden" in request.messages[-1].content.lower():
            raise ValidationError("refused by policy", parameter="messages")
        last = request.messages[-1]
        return attrs.evolve(request, messages=(*request.messages[:-1], attrs.evolve(
            last, content=f"{last.content} [via {settings.provider}]")))


class Silent:
    @hookimpl
    def agentflow_prepare_request(self, request, settings):
        return None


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    server.clear()
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    for plugin in (Upper(), Silent(), Suffix()):  # called last registered first
        host.register(plugin)
    runtime = Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"))}))
    yield runtime
    await runtime.aclose()


@pytest.mark.parametrize("stream", [False, True])
async def test_each_plugin_gets_what_the_one_before_returned(runtime, server, stream):
    builder = LLMClientBuilder("echo-1", runtime=runtime).prompt("hi")
    text = (await (await builder.execute_streaming()).collect_all() if stream
            else await builder.execute())
    assert server.requests[-1].json["messages"][-1]["content"] == "HI [VIA ECHO]"
    assert text == "You said: HI [VIA ECHO]"


async def test_a_refusal_sends_nothing(runtime, server):
    with pytest.raises(ValidationError, match="refused by policy"):
        await LLMClientBuilder("echo-1", runtime=runtime).prompt("forbidden").execute()
    assert server.requests == []


class Tagger:
    """Takes only the argument it needs, as any hook implementation may."""

    @hookimpl(tryfirst=True)
    def agentflow_prepare_request(self, request):
        return attrs.evolve(request, messages=(*request.messages[:-1], attrs.evolve(
            request.messages[-1], content=f"{request.messages[-1].content} #tag")))


class Wrapping:
    """Wraps the whole chain once: sees the request as given and the chain's result."""

    def __init__(self):
        self.seen = []

    @hookimpl(wrapper=True)
    def agentflow_prepare_request(self, request):
        (prepared,) = yield
        self.seen.append((request.messages[-1].content, prepared.messages[-1].content))
        return [attrs.evolve(prepared, messages=(*prepared.messages[:-1], attrs.evolve(
            prepared.messages[-1], content=f"<{prepared.messages[-1].content}>")))]


async def test_implementations_may_take_fewer_arguments_and_run_first(runtime, server):
    runtime.host.register(Tagger())  # registered last, yet tryfirst: Upper sees its tag
    await LLMClientBuilder("echo-1", runtime=runtime).prompt("hi").execute()
    assert server.requests[-1].json["messages"][-1]["content"] == "HI #TAG [VIA ECHO]"


async def test_a_wrapper_wraps_the_whole_chain_once(runtime, server):
    wrapping = Wrapping()
    runtime.host.register(wrapping, name="wrapping")
    await LLMClientBuilder("echo-1", runtime=runtime).prompt("hi").execute()
    assert wrapping.seen == [("hi", "HI [VIA ECHO]")]
    assert server.requests[-1].json["messages"][-1]["content"] == "<HI [VIA ECHO]>"
