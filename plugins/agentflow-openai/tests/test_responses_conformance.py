"""agentflow's provider conformance suite over OpenAI's Responses API and over Azure OpenAI.

The Responses API run sends the catalog's ``gpt-4o`` with the model option ``api: responses``
(what a configuration sets with ``models.gpt-4o.options.api``), so every sampling parameter
is accepted; the API has no stop sequences, so the two tests about them are replaced by tests
of the refusal. The Azure run sends ``azure-gpt-4o`` to its deployment with the ``api-key``
header.
"""

from __future__ import annotations

import attrs
import pytest

from agentflow.errors import HttpError, RateLimitError, ValidationError
from agentflow.testing import Reply
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import ConformanceHarness, ProviderConformance, WireRequest
from agentflow_openai import _catalog
from agentflow_openai.testing.wire import read_wire

_STATUSES = {400: HttpError, 401: HttpError, 403: HttpError, 404: HttpError, 409: HttpError,
             422: HttpError, 429: RateLimitError, 500: HttpError, 503: HttpError}


class TestResponsesApiConformance(ProviderConformance):
    provider = "openai"
    model = "gpt-4o"
    error_statuses = _STATUSES
    # The raw value is the status, or the reason of an incomplete response.
    finish_reasons = {"completed": "stop", "max_output_tokens": "length",
                      "content_filter": "content_filter"}
    stream_error = ("server_error", HttpError)

    @pytest.fixture(autouse=True)
    def _gpt_4o_on_responses(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The catalog's gpt-4o with ``api: responses``, as a configuration would set it."""
        def on_responses(models: tuple[_catalog.ModelInfo, ...]) -> tuple[_catalog.ModelInfo, ...]:
            return tuple(attrs.evolve(m, options={**m.options, "api": "responses"})
                         if m.name == "gpt-4o" else m for m in models)

        monkeypatch.setattr(_catalog, "MODELS", on_responses(_catalog.MODELS))
        monkeypatch.setattr(_catalog, "CATALOG", on_responses(_catalog.CATALOG))

    def wire(self, request: RecordedRequest) -> WireRequest:
        assert request.path.endswith("/v1/responses"), request.path
        return read_wire(request)

    @pytest.mark.anyio
    async def test_every_parameter_reaches_the_wire(self, harness: ConformanceHarness,
                                                    streamed: bool) -> None:
        builder = harness.builder().prompt("hi").temperature(0.5).max_tokens(64)
        if streamed:
            await harness.stream(builder)
        else:
            await builder.execute()
        first = harness.last_wire()
        await harness.builder().prompt("hi").top_p(0.9).execute()
        assert (first.temperature, first.max_tokens, first.stream) == (0.5, 64, streamed)
        assert harness.last_wire().top_p == 0.9

    @pytest.mark.anyio
    async def test_stop_sequence_ends_the_answer(self, harness: ConformanceHarness,
                                                 streamed: bool) -> None:
        """The Responses API has no stop sequences: refused before sending, never ignored."""
        builder = harness.builder().prompt("hi").stop("END")
        send = harness.stream(builder) if streamed else builder.execute()
        with pytest.raises(ValidationError, match="no stop sequences"):
            await send
        assert harness.requests == []

    @pytest.mark.anyio
    async def test_nothing_is_stored_at_openai(self, harness: ConformanceHarness) -> None:
        harness.script(Reply(text="kept nowhere"))
        assert await harness.builder().prompt("hi").execute() == "kept nowhere"
        body = harness.requests[-1].json
        assert body["store"] is False
        assert "previous_response_id" not in body


class TestAzureOpenAIConformance(ProviderConformance):
    provider = "azure_openai"
    model = "azure-gpt-4o"
    error_statuses = _STATUSES
    finish_reasons = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
                      "content_filter": "content_filter"}
    stream_error = ("server_error", HttpError)

    def wire(self, request: RecordedRequest) -> WireRequest:
        assert request.path.endswith("/openai/deployments/gpt-4o/chat/completions")
        assert request.query["api-version"] == "2024-10-21"
        return read_wire(request)
