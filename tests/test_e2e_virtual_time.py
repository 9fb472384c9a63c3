"""docs/testing.md's recipes, as a user writes them: the fake server's app under AgentFlow
through the public transport seam, on trio's MockClock; a factory transport that records."""

from __future__ import annotations

import anyio
import httpx
import pytest
from trio.testing import MockClock

from agentflow import AgentFlow
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "trio", {"clock": MockClock(autojump_threshold=0)}


async def test_retry_after_is_honoured_on_virtual_time(fake_agentflow):
    AgentFlow.use_transport(httpx.ASGITransport(app=fake_agentflow.server.app))
    fake_agentflow.server.script("openai", Reply(status=429, retry_after=30), Reply(text="ok"))
    started = anyio.current_time()
    assert await AgentFlow.model("gpt-4o").prompt("hi").execute() == "ok"
    assert anyio.current_time() - started == pytest.approx(30)  # and no real time passed
    assert len(fake_agentflow.server.requests) == 2


class Recording(httpx.AsyncBaseTransport):
    made: list[Recording] = []

    def __init__(self, settings):
        self.inner = httpx.ASGITransport(app=self.app)
        self.provider = settings.provider
        self.sent: list[str] = []
        self.closed = False
        Recording.made.append(self)

    async def handle_async_request(self, request):
        self.sent.append(request.url.path)
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        self.closed = True


async def test_a_factory_transport_records_and_is_closed_with_the_pools(fake_agentflow):
    Recording.app, Recording.made = fake_agentflow.server.app, []
    AgentFlow.use_transport(Recording)
    assert await AgentFlow.model("gpt-4o").prompt("hi").execute()
    assert await AgentFlow.model("gpt-4o").prompt("again").execute()
    (recording,) = Recording.made
    assert recording.provider == "openai"
    assert len(recording.sent) == 2
    assert recording.sent[0].endswith("/chat/completions")
    await AgentFlow.aclose()
    assert recording.closed
    AgentFlow.use_transport(None)
