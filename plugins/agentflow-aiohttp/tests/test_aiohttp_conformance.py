"""agentflow's provider conformance suite, over the aiohttp transport (OpenAI's plugin and
emulation as the provider)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentflow.errors import HttpError, RateLimitError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import ProviderConformance, WireRequest
from agentflow.testing.server import FakeServer
from agentflow_aiohttp.transport import AiohttpTransport
from agentflow_openai.testing.wire import read_wire


class TestOpenAIOverAiohttp(ProviderConformance):
    provider = "openai"
    model = "gpt-4o"
    transport = "aiohttp"
    error_statuses = {400: HttpError, 401: HttpError, 429: RateLimitError, 500: HttpError,
                      503: HttpError}
    finish_reasons = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
    stream_error = ("server_error", HttpError)

    @pytest.fixture(params=["asyncio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        """aiohttp runs under asyncio only (under trio the core uses httpx's transport:
        test_aiohttp_transport.py checks that)."""
        return str(request.param)

    @pytest.fixture(autouse=True)
    def over_aiohttp(self, monkeypatch: pytest.MonkeyPatch,
                     fake_llm_server: FakeServer) -> Iterator[None]:
        """Every request the fake server got went through AiohttpTransport."""
        sent: list[object] = []
        original = AiohttpTransport.handle_async_request

        async def counted(transport: AiohttpTransport, request: object) -> object:
            sent.append(request)
            return await original(transport, request)  # type: ignore[arg-type]

        monkeypatch.setattr(AiohttpTransport, "handle_async_request", counted)
        yield
        assert len(sent) == len(fake_llm_server.requests)

    def wire(self, request: RecordedRequest) -> WireRequest:
        return read_wire(request)
