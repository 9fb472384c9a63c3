"""Grounding with Google Search read into agentflow's shared Citation and ServerToolUse."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from agentflow.types import Message, ModelSettings, Request, StreamState
from agentflow_google import _codec

MODEL = "gemini-2.5-flash"

#: The candidate of https://ai.google.dev/gemini-api/docs/google-search ("Understanding the
#: grounding response"), trimmed.
CANDIDATE = {
    "content": {"role": "model", "parts": [{"text": "Spain won Euro 2024, defeating England."}]},
    "finishReason": "STOP",
    "groundingMetadata": {
        "webSearchQueries": ["UEFA Euro 2024 winner"],
        "searchEntryPoint": {"renderedContent": "<!-- HTML -->"},
        "groundingChunks": [
            {"web": {"uri": "https://vertexaisearch.cloud.google.com/a", "title": "aljazeera.com"}},
            {"web": {"uri": "https://vertexaisearch.cloud.google.com/b", "title": "uefa.com"}},
        ],
        "groundingSupports": [{
            "segment": {"startIndex": 0, "endIndex": 38,
                        "text": "Spain won Euro 2024, defeating England"},
            "groundingChunkIndices": [0]}],
    },
}


def _request(stream: bool = False) -> Request:
    return Request(model=MODEL, messages=(Message(role="user", content="who won?"),),
                   stream=stream)


def test_grounding_metadata_becomes_citations_and_searches():
    """The grounding response of https://ai.google.dev/gemini-api/docs/google-search."""
    body = {"candidates": [CANDIDATE], "modelVersion": MODEL}
    response = _codec.parse_response(httpx.Response(200, json=body), _request())
    (search,) = response.server_tools
    assert (search.name, dict(search.input)) == ("google_search",
                                                {"query": "UEFA Euro 2024 winner"})
    supported, unused = response.citations
    assert (supported.url, supported.title, supported.start, supported.end) == (
        "https://vertexaisearch.cloud.google.com/a", "aljazeera.com", 0, 38)
    assert supported.text == "Spain won Euro 2024, defeating England"
    assert (unused.title, unused.text) == ("uefa.com", None)
    assert response.tool_calls == ()


@dataclass(frozen=True)
class Event:
    data: str


def test_a_stream_carries_them_on_the_final_chunk():
    state = StreamState(provider="google", model=MODEL, request=_request(stream=True))
    first = {"candidates": [{"content": {"parts": [{"text": "Spain won"}]}}]}
    last = {"candidates": [{**CANDIDATE, "content": {"parts": [{"text": " Euro 2024."}]}}]}
    chunks = [*_codec.parse_stream_event(Event(json.dumps(first)), state),
              *_codec.parse_stream_event(Event(json.dumps(last)), state)]
    final = chunks[-1]
    assert final.is_final
    assert [c.title for c in final.citations] == ["aljazeera.com", "uefa.com"]
    assert final.server_tools[0].input["query"] == "UEFA Euro 2024 winner"


def test_the_server_tools_option_adds_google_search():
    """``tools: [{"googleSearch": {}}]`` as the grounding page's REST example sends it."""
    settings = ModelSettings(name=MODEL, provider="google", vendor="google", model_id=MODEL,
                             base_url="https://generativelanguage.googleapis.com",
                             options={"server_tools": ["web_search"]})
    sent = json.loads(_codec.build_request(_request(), settings).content)
    assert sent["tools"] == [{"googleSearch": {}}]
