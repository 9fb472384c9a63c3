"""Server tools as the fake Messages API plays them: web search, web fetch and code execution.

A request offering a server tool (a ``tools`` entry with a versioned ``type`` such as
``web_search_20250305``), with no scripted tool calls, is answered the way the service answers
one (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool): a
``server_tool_use`` block per server tool offered, its result block, then the answer as ``text``
blocks, the first carrying a ``web_search_result_location`` citation of the first search hit
(for web search). Streams send each block as the service does: ``server_tool_use`` with an empty
input then ``input_json_delta`` fragments, result blocks whole in ``content_block_start``, and
citations as ``citations_delta``. The hits are fixed made-up pages under ``example.com``:
nothing is fetched.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from agentflow.testing import Reply

__all__ = ["SERVER_TOOL", "server_blocks", "server_events", "server_tool_problem"]

#: The server tool types the emulation knows, as the API versions them.
SERVER_TOOL = re.compile(r"(web_search|web_fetch|code_execution)_\d{8}")

_HITS = [
    {"type": "web_search_result", "url": "https://example.com/agentflow/server-tools",
     "title": "Server tools, explained", "encrypted_content": "ZmFrZQ==", "page_age": None},
    {"type": "web_search_result", "url": "https://example.com/agentflow/citations",
     "title": "Citations in answers", "encrypted_content": "ZmFrZQ==", "page_age": None},
]


def server_tool_problem(index: int, tool: dict[str, Any]) -> str | None:
    """What the service says of a ``tools`` entry with a ``type`` (``None``: a server tool it
    knows, or a custom tool)."""
    kind = tool.get("type")
    if kind is None or kind == "custom":
        return None
    if not isinstance(kind, str) or not SERVER_TOOL.fullmatch(kind):
        return (f"tools.{index}: Input tag {kind!r} found using 'type' does not match any of "
                "the expected tags")
    if not isinstance(tool.get("name"), str):
        return f"tools.{index}.{kind}.name: Field required"
    return None


def _query(messages: list[dict[str, Any]]) -> str:
    content = messages[-1].get("content")
    if isinstance(content, str):
        return content
    return " ".join(block.get("text", "") for block in content or ()
                    if isinstance(block, dict) and block.get("type") == "text")


def server_blocks(body: dict[str, Any], reply: Reply) -> list[dict[str, Any]] | None:
    """The answer's content blocks when the request offers a server tool (else ``None``)."""
    tools = [tool for tool in body.get("tools") or () if isinstance(tool, dict)
             and SERVER_TOOL.fullmatch(str(tool.get("type", "")))]
    if not tools or reply.tool_calls:
        return None
    query = _query(body["messages"])
    blocks: list[dict[str, Any]] = []
    searched = False
    for tool in tools:
        use_id = f"srvtoolu_{secrets.token_hex(12)}"
        kind = tool["type"].rsplit("_", 1)[0]
        if kind == "web_search":
            given: dict[str, Any] = {"query": query}
            result: Any = _HITS
            searched = True
        elif kind == "web_fetch":
            given = {"url": _HITS[0]["url"]}
            result = {"type": "web_fetch_result", "url": _HITS[0]["url"],
                      "retrieved_at": "2025-01-01T00:00:00Z",
                      "content": {"type": "document", "source": {
                          "type": "text", "media_type": "text/plain",
                          "data": "Server tools run on the provider's side."},
                          "title": _HITS[0]["title"]}}
        else:
            given = {"code": "print(len('agentflow'))"}
            result = {"type": "code_execution_result", "stdout": "9\n", "stderr": "",
                      "return_code": 0, "content": []}
        blocks.append({"type": "server_tool_use", "id": use_id, "name": tool["name"],
                       "input": given})
        blocks.append({"type": f"{kind}_tool_result", "tool_use_id": use_id,
                       "content": result})
    answer = reply.text if reply.text is not None else f"Here is what I found about {query}."
    cited = {"type": "web_search_result_location", "url": _HITS[0]["url"],
             "title": _HITS[0]["title"], "encrypted_index": "ZmFrZQ==",
             "cited_text": "Server tools run on the provider's side."}
    blocks.append({"type": "text", "text": "Based on the search: "})
    blocks.append({"type": "text", "text": answer,
                   **({"citations": [cited]} if searched else {})})
    return blocks


def server_events(blocks: list[dict[str, Any]], reply: Reply) -> list[tuple[dict[str, Any],
                                                                         list[dict[str, Any]]]]:
    """Each block as a stream sends it: how it starts, and its deltas."""
    out: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for block in blocks:
        kind = block["type"]
        if kind == "server_tool_use":
            text = json.dumps(block["input"], separators=(",", ":"))
            middle = max(1, len(text) // 2)
            out.append(({**block, "input": {}}, [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in (text[:middle], text[middle:]) if piece]))
        elif kind == "text":
            deltas: list[dict[str, Any]] = [
                {"type": "citations_delta", "citation": cited}
                for cited in block.get("citations", ())]
            deltas += [{"type": "text_delta", "text": piece}
                       for piece in reply.split(block["text"])]
            start = {"type": "text", "text": "",
                     **({"citations": []} if "citations" in block else {})}
            out.append((start, deltas))
        else:
            out.append((block, []))
    return out
