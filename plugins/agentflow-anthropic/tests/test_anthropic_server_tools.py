"""Anthropic's server tools (web search, web fetch, code execution) and citations: the wire
format read both ways, and end to end against the emulation."""

from __future__ import annotations

import json
from dataclasses import dataclass

import attrs
import httpx
import pytest

from agentflow import AgentFlow
from agentflow.errors import ValidationError
from agentflow.types import Citation, Message, ModelSettings, Request, StreamState
from agentflow_anthropic import _codec

MODEL = "claude-sonnet-4-5"
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"


def _request(stream: bool = False) -> Request:
    return Request(model=MODEL, messages=(Message(role="user", content="news?"),), stream=stream)


def _answer(body: dict) -> httpx.Response:
    return httpx.Response(200, json=body)


#: A message as the web search tool's page shows it (trimmed to one hit).
WEB_SEARCH_ANSWER = {
    "id": "msg_a", "type": "message", "role": "assistant", "model": MODEL,
    "content": [
        {"type": "text", "text": "I'll search for that."},
        {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search",
         "input": {"query": "claude shannon birth date"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": [
            {"type": "web_search_result", "url": "https://en.wikipedia.org/wiki/Claude_Shannon",
             "title": "Claude Shannon - Wikipedia", "encrypted_content": "EqgfCioIARgB",
             "page_age": "April 30, 2025"}]},
        {"type": "text", "text": "Based on the search results, "},
        {"type": "text", "text": "Claude Shannon was born on April 30, 1916",
         "citations": [{"type": "web_search_result_location",
                        "url": "https://en.wikipedia.org/wiki/Claude_Shannon",
                        "title": "Claude Shannon - Wikipedia", "encrypted_index": "Eo8BCioI",
                        "cited_text": "Claude Elwood Shannon (April 30, 1916 - February 24"}]},
    ],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 6039, "output_tokens": 931,
              "server_tool_use": {"web_search_requests": 1}},
}


def test_a_web_search_answer_is_read():
    """The response shape of https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool
    ("Response"): server_tool_use, web_search_tool_result, text blocks with citations."""
    response = _codec.parse_response(_answer(WEB_SEARCH_ANSWER), _request())
    assert response.text == ("I'll search for that.Based on the search results, "
                             "Claude Shannon was born on April 30, 1916")
    assert response.tool_calls == ()
    assert response.finish_reason == "stop"
    (search,) = response.server_tools
    assert (search.id, search.name, dict(search.input)) == (
        "srvtoolu_01", "web_search", {"query": "claude shannon birth date"})
    assert search.result_type == "web_search_tool_result"
    assert not search.is_error
    assert search.result[0]["title"] == "Claude Shannon - Wikipedia"
    (cited,) = response.citations
    assert cited == Citation(kind="web_search_result_location",
                             url="https://en.wikipedia.org/wiki/Claude_Shannon",
                             title="Claude Shannon - Wikipedia",
                             cited_text="Claude Elwood Shannon (April 30, 1916 - February 24")
    assert cited.extra == {"encrypted_index": "Eo8BCioI"}


def test_tool_errors_and_code_execution_results_are_kept():
    """Error results (``web_search_tool_result_error``) and code execution results, as
    https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/code-execution-tool shows them;
    a block type this plugin does not know is skipped."""
    body = {**WEB_SEARCH_ANSWER, "content": [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
         "input": {"query": "q"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
         "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}},
        {"type": "server_tool_use", "id": "srvtoolu_2", "name": "bash_code_execution",
         "input": {"command": "echo 9"}},
        {"type": "bash_code_execution_tool_result", "tool_use_id": "srvtoolu_2",
         "content": {"type": "bash_code_execution_result", "stdout": "9\n", "stderr": "",
                     "return_code": 0, "content": []}},
        {"type": "a_block_added_next_year", "whatever": 1},
        {"type": "text", "text": "done", "citations": None},
    ]}
    response = _codec.parse_response(_answer(body), _request())
    failed, ran = response.server_tools
    assert failed.is_error
    assert failed.result["error_code"] == "max_uses_exceeded"
    assert ran.result_type == "bash_code_execution_tool_result"
    assert not ran.is_error
    assert ran.result["stdout"] == "9\n"
    assert response.text == "done"
    assert response.citations == ()


def _stream(*events: tuple[str, dict]) -> tuple[list, StreamState]:
    state = StreamState(provider="anthropic", model=MODEL, request=_request(stream=True))
    chunks = []
    for name, payload in events:
        chunks += _codec.parse_stream_event(Event(json.dumps({"type": name, **payload}), name),
                                            state)
    return chunks, state


def test_a_streamed_server_tool_is_not_a_client_tool_call():
    """The stream of https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool
    ("Streaming") and https://docs.anthropic.com/en/api/messages-streaming: ``server_tool_use``
    starts with an empty input and streams it as ``input_json_delta``; the result block comes
    whole; citations come as ``citations_delta``. This failed before with "the stream sent
    arguments for tool call 0, which it never started"."""
    chunks, state = _stream(
        ("message_start", {"message": {"model": MODEL, "usage": {"input_tokens": 10}}}),
        ("content_block_start", {"index": 0, "content_block": {
            "type": "server_tool_use", "id": "srvtoolu_x", "name": "web_search", "input": {}}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta",
                                                        "partial_json": '{"query": "lat'}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta",
                                                        "partial_json": 'est news"}'}}),
        ("content_block_stop", {"index": 0}),
        ("content_block_start", {"index": 1, "content_block": {
            "type": "web_search_tool_result", "tool_use_id": "srvtoolu_x",
            "content": [{"type": "web_search_result", "url": "https://example.com/a",
                         "title": "A"}]}}),
        ("content_block_stop", {"index": 1}),
        ("content_block_start", {"index": 2, "content_block": {"type": "text", "text": "",
                                                                "citations": []}}),
        ("content_block_delta", {"index": 2, "delta": {"type": "citations_delta", "citation": {
            "type": "web_search_result_location", "url": "https://example.com/a",
            "title": "A", "cited_text": "a passage"}}}),
        ("content_block_delta", {"index": 2, "delta": {"type": "text_delta", "text": "News."}}),
        ("content_block_start", {"index": 3, "content_block": {"type": "mystery_block"}}),
        ("message_delta", {"delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 5}}),
        ("message_stop", {}),
    )
    assert [chunk.content for chunk in chunks if chunk.content] == ["News."]
    final = chunks[-1]
    assert final.is_final
    assert final.finish_reason == "stop"
    assert not state.tool_calls
    (search,) = final.server_tools
    assert dict(search.input) == {"query": "latest news"}
    assert search.result_type == "web_search_tool_result"
    assert [(c.url, c.cited_text) for c in final.citations] == [
        ("https://example.com/a", "a passage")]


def test_the_server_tools_option_goes_in_tools_after_the_users():
    """Server tools are declared in ``tools`` with their versioned ``type``
    (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool, "Tool
    definition"; the code execution tool's page for its type and beta header)."""
    from agentflow.types import Tool

    settings = ModelSettings(name=MODEL, provider="anthropic", vendor="anthropic",
                             model_id=MODEL, base_url="https://api.anthropic.com",
                             options={"server_tools": [WEB_SEARCH]})
    request = attrs.evolve(_request(), tools=(Tool(name="lookup"),))
    sent = json.loads(_codec.build_request(request, settings).content)
    assert [tool.get("type") for tool in sent["tools"]] == [None, "web_search_20250305"]
    assert sent["tools"][1] == WEB_SEARCH
    assert "anthropic-beta" not in _codec.build_request(request, settings).headers
    named = attrs.evolve(settings, options={"server_tools": ["web_search", "code_execution"]})
    built = _codec.build_request(request, named)
    assert [tool.get("type") for tool in json.loads(built.content)["tools"]] == [
        None, "web_search_20250305", "code_execution_20250825"]
    assert built.headers["anthropic-beta"] == "code-execution-2025-08-25"
    bad = attrs.evolve(settings, options={"server_tools": [{"name": "web_search"}]})
    with pytest.raises(ValidationError, match="versioned 'type'"):
        _codec.build_request(request, bad)


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_server_tool_answer_end_to_end(fake_agentflow, streamed):
    from agentflow.config import ModelConfig

    config = fake_agentflow.config
    config = attrs.evolve(config, models={**config.models, "searcher": ModelConfig(
        vendor="anthropic", model_id=MODEL, options={"server_tools": [WEB_SEARCH]})})
    fake_agentflow.runtime.set_config(config)
    builder = AgentFlow.model("searcher").prompt("server tools")
    if streamed:
        stream = await builder.execute_streaming()
        text = await stream.collect_all()
        final = stream.final_chunk
        server_tools, citations = final.server_tools, final.citations
    else:
        response = await builder.execute_response()
        text, server_tools, citations = (response.text, response.server_tools,
                                         response.citations)
        assert response.tool_calls == ()
    assert text == "Based on the search: Here is what I found about server tools."
    assert [(tool.name, dict(tool.input)) for tool in server_tools] == [
        ("web_search", {"query": "server tools"})]
    assert server_tools[0].result_type == "web_search_tool_result"
    assert [citation.kind for citation in citations] == ["web_search_result_location"]
    sent = fake_agentflow.server.requests[-1].json
    assert sent["tools"] == [WEB_SEARCH]
