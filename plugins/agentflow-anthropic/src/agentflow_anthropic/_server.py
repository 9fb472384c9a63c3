"""Anthropic's server tools and citations: what the API runs itself, and what the text cites.

Server tools (web search, web fetch, code execution) are offered in ``tools`` with a versioned
``type`` (``web_search_20250305``, ...); this plugin sends the model option ``server_tools``
there, after the user's tools. Each item is a tool object, sent as written, or one of the names
of :data:`SHORTHANDS` (``web_search``, ``web_fetch``, ``code_execution``), sent as that tool's
current version, with the ``anthropic-beta`` header it needs (if any). The answer then carries:

* ``server_tool_use`` blocks ``{id, name, input}``: the call the API made. They are never
  client tool calls (nothing for ``run_tools`` to run): they become
  :class:`~agentflow.types.ServerToolUse` values on ``Response.server_tools``;
* a result block per call, of a type ending in ``_tool_result`` (``web_search_tool_result``,
  ``web_fetch_tool_result``, ``code_execution_tool_result``,
  ``bash_code_execution_tool_result``, ``text_editor_code_execution_tool_result``, and those
  added later) with ``tool_use_id`` and ``content``: kept raw on the matching
  ``ServerToolUse``; a content object whose type ends in ``_error`` marks it ``is_error``;
* ``text`` blocks with ``citations`` (``web_search_result_location``, ``char_location``,
  ``page_location``, ``content_block_location``, ``search_result_location``): each becomes a
  :class:`~agentflow.types.Citation`. In a stream a citation arrives as a
  ``citations_delta`` on the text block.

In a stream, a ``server_tool_use`` block's ``input_json_delta`` fragments are its input (they
are not client tool-call arguments). Block types this module does not know are skipped.
References: https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool,
https://docs.anthropic.com/en/docs/build-with-claude/citations,
https://docs.anthropic.com/en/api/messages-streaming.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentflow.errors import ValidationError
from agentflow.types import Citation, ServerToolUse

__all__ = ["SHORTHANDS", "ServerTools", "beta_flags", "citation", "server_tool_fields"]

#: Server tool name -> (the tool object sent, the ``anthropic-beta`` flag it needs or ``None``),
#: as Anthropic's tool pages give them. The flags of web fetch and code execution are the ones
#: documented when this was written; a tool object given in full bypasses this table.
SHORTHANDS: dict[str, tuple[dict[str, str], str | None]] = {
    "web_search": ({"type": "web_search_20250305", "name": "web_search"}, None),
    "web_fetch": ({"type": "web_fetch_20250910", "name": "web_fetch"}, "web-fetch-2025-09-10"),
    "code_execution": ({"type": "code_execution_20250825", "name": "code_execution"},
                       "code-execution-2025-08-25"),
}

_CITATION_FIELDS = ("type", "url", "title", "cited_text", "document_title")


def server_tool_fields(options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The server tools the model option ``server_tools`` asks for, as sent in ``tools``."""
    return [dict(SHORTHANDS[tool][0]) if isinstance(tool, str) else dict(tool)
            for tool in _given(options)]


def beta_flags(options: Mapping[str, Any]) -> list[str]:
    """The ``anthropic-beta`` flags the server tools named by shorthand need."""
    flags = (SHORTHANDS[tool][1] for tool in _given(options) if isinstance(tool, str))
    return list(dict.fromkeys(flag for flag in flags if flag))


def _given(options: Mapping[str, Any]) -> list[Any]:
    given = options.get("server_tools")
    if not given:
        return []
    if not isinstance(given, (list, tuple)) or not all(
            (isinstance(tool, str) and tool in SHORTHANDS)
            or (isinstance(tool, Mapping) and isinstance(tool.get("type"), str)
                and isinstance(tool.get("name"), str)) for tool in given):
        raise ValidationError(
            "the model option server_tools must be a list of server tool names ("
            + ", ".join(SHORTHANDS) + ") or tool objects, each with its versioned 'type' and "
            "its 'name' (for example {type: web_search_20250305, name: web_search, max_uses: "
            "3}); see docs/vendors/anthropic.md", parameter="server_tools")
    return list(given)


def citation(raw: Mapping[str, Any]) -> Citation:
    """A :class:`Citation` from one of Anthropic's citation objects."""
    title = raw.get("title") or raw.get("document_title")
    url = raw.get("url") or raw.get("source")
    return Citation(
        kind=str(raw.get("type") or "unknown"),
        url=url if isinstance(url, str) else None,
        title=title if isinstance(title, str) else None,
        cited_text=raw.get("cited_text") if isinstance(raw.get("cited_text"), str) else None,
        extra={key: value for key, value in raw.items() if key not in _CITATION_FIELDS})


def _is_error(content: Any) -> bool:
    return isinstance(content, Mapping) and str(content.get("type", "")).endswith("_error")


class ServerTools:
    """The server tool calls and citations of one answer, gathered block by block (a plain
    answer's ``content`` list, or a stream's events)."""

    __slots__ = ("_inputs", "_order", "_results", "citations", "uses")

    def __init__(self) -> None:
        self.uses: dict[str, ServerToolUse] = {}
        self._order: list[str] = []
        self._inputs: dict[Any, tuple[str, list[str]]] = {}  # stream index -> id, fragments
        self._results: dict[str, tuple[str, Any]] = {}
        self.citations: list[Citation] = []

    def __bool__(self) -> bool:
        return bool(self.uses or self.citations or self._inputs)

    def read(self, block: Mapping[str, Any], index: Any = None) -> bool:
        """Take ``block`` if it is a server tool's call or result; whether it was one."""
        kind = block.get("type")
        if kind == "server_tool_use":
            given = block.get("input")
            use = ServerToolUse(id=str(block["id"]), name=str(block["name"]),
                                input=dict(given) if isinstance(given, Mapping) else {})
            self.uses[use.id] = use
            self._order.append(use.id)
            if index is not None:
                self._inputs[index] = (use.id, [])
            return True
        if isinstance(kind, str) and kind.endswith("_tool_result") and "tool_use_id" in block:
            self._results[str(block["tool_use_id"])] = (kind, block.get("content"))
            return True
        return False

    def takes_input(self, index: Any) -> bool:
        """Whether the stream's block ``index`` is a server tool call (its input deltas)."""
        return index in self._inputs

    def add_input(self, index: Any, fragment: str) -> None:
        """Some of the input JSON of the server tool call streamed as block ``index``."""
        if not isinstance(fragment, str):
            raise TypeError(f"partial_json is {type(fragment).__name__}, not text")
        self._inputs[index][1].append(fragment)

    def cite(self, raw: Any) -> None:
        """One citation of the text (ignored unless it is an object)."""
        if isinstance(raw, Mapping):
            self.citations.append(citation(raw))

    def tools(self) -> tuple[ServerToolUse, ...]:
        """The calls, in the order they began, with their streamed input and their results."""
        import attrs

        streamed = {use_id: "".join(parts) for use_id, parts in self._inputs.values()}
        out = []
        for use_id in self._order:
            use = self.uses[use_id]
            text = streamed.get(use_id)
            if text:
                try:
                    given = json.loads(text)
                except ValueError:
                    given = {"raw": text}
                use = attrs.evolve(use, input=given if isinstance(given, dict) else
                                   {"raw": text})
            result = self._results.get(use_id)
            if result is not None:
                use = attrs.evolve(use, result_type=result[0], result=result[1],
                                   is_error=_is_error(result[1]))
            out.append(use)
        return tuple(out)
