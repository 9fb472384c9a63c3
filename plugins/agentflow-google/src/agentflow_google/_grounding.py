"""Grounding with Google Search: the ``googleSearch`` tool, and the ``groundingMetadata`` of a
candidate as agentflow's shared :class:`~agentflow.types.Citation` and
:class:`~agentflow.types.ServerToolUse` (https://ai.google.dev/gemini-api/docs/google-search,
https://ai.google.dev/api/generate-content#GroundingMetadata).

* The model option ``server_tools: [web_search]`` (the name agentflow's vendors share; also
  ``google_search``) adds ``{"googleSearch": {}}`` to ``tools``.
* Each ``webSearchQueries`` entry is a ``ServerToolUse`` named ``google_search`` with input
  ``{"query": ...}`` (Gemini runs the searches itself; the hits are the grounding chunks).
* Each ``groundingSupports`` entry cites, for each of its ``groundingChunkIndices``, that
  chunk's ``web`` source: a ``Citation`` of kind ``grounding`` with ``url`` and ``title``, the
  supported ``text`` and its ``start`` / ``end`` offsets as Gemini gives them (UTF-8 bytes of
  the part). A chunk no support points at is cited on its own. ``retrievedContext`` sources
  (Vertex AI Search) are read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentflow.errors import ValidationError
from agentflow.types import Citation, ServerToolUse

__all__ = ["citations", "search_tools", "server_tools"]

_NAMES = ("web_search", "google_search")


def search_tools(options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``tools`` entries the model option ``server_tools`` asks for."""
    given = options.get("server_tools")
    if not given:
        return []
    if not isinstance(given, (list, tuple)) or any(name not in _NAMES for name in given):
        raise ValidationError(
            "the model option server_tools takes, for Gemini, ['web_search'] (Grounding with "
            "Google Search); see docs/vendors/google.md", parameter="server_tools")
    return [{"googleSearch": {}}]


def server_tools(metadata: Any) -> tuple[ServerToolUse, ...]:
    """The searches Gemini ran, from a candidate's ``groundingMetadata``."""
    if not isinstance(metadata, dict):
        return ()
    queries = metadata.get("webSearchQueries") or ()
    return tuple(ServerToolUse(id=f"google_search_{index}", name="google_search",
                               input={"query": query}, result_type="groundingChunks",
                               result=metadata.get("groundingChunks"))
                 for index, query in enumerate(queries) if isinstance(query, str))


def _source(chunk: Any) -> tuple[str | None, str | None]:
    if not isinstance(chunk, dict):
        return None, None
    source = chunk.get("web") or chunk.get("retrievedContext") or {}
    uri, title = source.get("uri"), source.get("title")
    return (uri if isinstance(uri, str) else None, title if isinstance(title, str) else None)


def citations(metadata: Any) -> tuple[Citation, ...]:
    """The sources the text cites, from a candidate's ``groundingMetadata``."""
    if not isinstance(metadata, dict):
        return ()
    chunks = metadata.get("groundingChunks") or []
    cited: list[Citation] = []
    used: set[int] = set()
    for support in metadata.get("groundingSupports") or ():
        if not isinstance(support, dict):
            continue
        segment = support.get("segment") or {}
        for index in support.get("groundingChunkIndices") or ():
            if not isinstance(index, int) or not 0 <= index < len(chunks):
                continue
            used.add(index)
            url, title = _source(chunks[index])
            cited.append(Citation(
                kind="grounding", url=url, title=title, text=segment.get("text"),
                start=segment.get("startIndex", 0 if "endIndex" in segment else None),
                end=segment.get("endIndex"), extra={"chunk_index": index}))
    for index, chunk in enumerate(chunks):
        if index not in used:
            url, title = _source(chunk)
            cited.append(Citation(kind="grounding", url=url, title=title,
                                  extra={"chunk_index": index}))
    return tuple(cited)
