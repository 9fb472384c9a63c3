"""A quick reader for the plain subset of YAML that configuration files are written in.

Most files are block mappings of plain or simply quoted scalars, perhaps with lists of them::

    providers:
      openai:
        base_url: https://api.openai.com/v1   # a comment
        fallbacks:
          - gpt-4o-mini

Reading such a file with ruamel.yaml's round-trip loader costs more than the rest of loading
the configuration (importing ruamel.yaml alone is a fair part of a first request). This module
reads exactly that subset, with the positions ruamel.yaml would give, and answers ``None`` for
anything else: flow collections, anchors, tags, block and multi-line scalars, tabs, documents
markers, scalars whose type is not plainly a string, a number, a boolean or null (``yes``,
``0x1F``, ``1e3``, dates), duplicate keys, errors of any kind. The caller then reads the text
with ruamel.yaml, which words errors at their line and column as before. For every text it
accepts, it gives the same data and source map as ruamel.yaml does (tests/test_plain_yaml.py
checks this against ruamel.yaml on generated documents).
"""

from __future__ import annotations

import re
from typing import Any

from agentflow.config._problems import Key, Path

__all__ = ["read_plain_yaml"]

#: A mapping key: a plain word that YAML resolves to a string whatever its version.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
#: Words that YAML 1.1 or 1.2 may resolve to something else than a string.
_RESERVED = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})
#: A plain string: no indicator first, no ": " or " #" inside, no ":" at the end.
_PLAIN = re.compile(r"[A-Za-z_$/][A-Za-z0-9_./:${}@+=%?&,()~ -]*")
_INT = re.compile(r"0|-?[1-9][0-9]{0,99}")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,99})\.[0-9]{1,100}")
_QUOTED = re.compile(r"\"[ !#-\[\]-~]*\"|'[ -&(-~]*'")
_COMMENT = re.compile(r" +#.*| *")
_ITEM = re.compile(r"- +")


class _Outside(Exception):
    """The text leaves the subset this reader decides."""


class _Line:
    __slots__ = ("column", "commented", "indent", "is_item", "key", "number", "value",
                 "value_column")

    def __init__(self, number: int, indent: int, is_item: bool, key: str | None,
                 value: str, column: int, value_column: int, commented: bool) -> None:
        self.number, self.indent, self.is_item = number, indent, is_item
        self.key, self.value, self.column, self.value_column = key, value, column, value_column
        self.commented = commented  # nothing but a comment after the key's colon


def read_plain_yaml(text: str, *, max_depth: int, max_values: int, max_line: int,
                    ) -> tuple[dict[Key, Any], dict[Path, tuple[int, int]],
                               dict[Path, tuple[int, int]]] | None:
    """The mapping in ``text`` and the 1-based positions of its keys and values by path (as
    :class:`~agentflow.config._source.SourceMap` holds them, the document's own at ``()``), or
    ``None`` when ``text`` is not in the plain subset (then ruamel.yaml must read it)."""
    if "\t" in text or "\r" in text:
        return None
    try:
        lines = _lines(text, max_line)
        if not lines or lines[0].is_item:
            return None
        reader = _Reader(lines, max_depth, max_values, last_line=text.count("\n") + 1)
        first = lines[0]
        reader.values[()] = (first.number, first.column)
        data = reader.mapping(first.indent, ())
        if reader.index != len(lines):
            return None
    except _Outside:
        return None
    return data, reader.keys, reader.values


def _lines(text: str, max_line: int) -> list[_Line]:
    found: list[_Line] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) > max_line:
            raise _Outside
        content = line.lstrip(" ")
        if not content or content.startswith("#"):
            continue
        indent = len(line) - len(content)
        item = _ITEM.match(content)
        if item is not None:
            found.append(_Line(number, indent, True, None, content[item.end():], indent + 1,
                               indent + item.end() + 1, False))
            continue
        key = _KEY.match(content)
        if key is None or key.group().lower() in _RESERVED:
            raise _Outside
        rest = content[key.end():]
        if not rest.startswith(":") or rest[1:2] not in ("", " "):
            raise _Outside
        value = rest[1:].lstrip(" ")
        value_column = indent + key.end() + len(rest) - len(value) + 1
        commented = value.startswith("#")
        found.append(_Line(number, indent, False, key.group(), "" if commented else value,
                           indent + 1, value_column, commented))
    return found


class _Reader:
    def __init__(self, lines: list[_Line], max_depth: int, max_values: int, *,
                 last_line: int) -> None:
        self.lines, self.index, self.last_line = lines, 0, last_line
        self.max_depth, self.budget = max_depth, max_values - 1  # the document counts too
        self.keys: dict[Path, tuple[int, int]] = {}
        self.values: dict[Path, tuple[int, int]] = {}

    def _count(self, path: Path) -> None:
        self.budget -= 1
        if self.budget < 0 or len(path) > self.max_depth:
            raise _Outside

    def mapping(self, indent: int, path: Path) -> dict[Key, Any]:
        result: dict[Key, Any] = {}
        lines = self.lines
        while self.index < len(lines):
            line = lines[self.index]
            if line.indent < indent:
                break
            if line.indent > indent or line.is_item or line.key in result:
                raise _Outside
            assert line.key is not None
            self.index += 1
            child = (*path, line.key)
            self._count(child)
            self.keys[child] = (line.number, line.column)
            if line.value:
                self.values[child] = (line.number, line.value_column)
                result[line.key] = _scalar(line.value)
                continue
            following = lines[self.index] if self.index < len(lines) else None
            if following is not None and following.is_item and following.indent >= indent:
                self.values[child] = (following.number, following.column)
                result[line.key] = self.sequence(following.indent, child)
            elif following is not None and following.indent > indent:
                self.values[child] = (following.number, following.column)
                result[line.key] = self.mapping(following.indent, child)
            elif line.commented:
                raise _Outside  # ruamel places null by the comment, not always in one place
            elif line.number == self.last_line:
                # the text's last line, with no newline: ruamel places null at the text's
                # end, past any spaces after the colon (which is where value_column is)
                self.values[child] = (line.number, line.value_column)
                result[line.key] = None
            else:
                self.values[child] = (line.number, line.column)
                result[line.key] = None
        return result

    def sequence(self, indent: int, path: Path) -> list[Any]:
        items: list[Any] = []
        lines = self.lines
        while self.index < len(lines):
            line = lines[self.index]
            if line.indent < indent or (not line.is_item and line.indent == indent):
                break
            if line.indent > indent or not line.is_item or not line.value:
                raise _Outside
            self.index += 1
            child = (*path, len(items))
            self._count(child)
            self.keys[child] = self.values[child] = (line.number, line.value_column)
            items.append(_scalar(line.value))
        return items


def _scalar(text: str) -> Any:
    """The value of a scalar written ``text`` (comment included), if it is in the subset."""
    if text[0] in "\"'":
        quoted = _QUOTED.match(text)
        if quoted is None or _COMMENT.fullmatch(text, quoted.end()) is None:
            raise _Outside
        return quoted.group()[1:-1]
    value = text.split(" #", 1)[0].rstrip(" ")
    if value in ("true", "false"):
        return value == "true"
    if value in ("null", "~"):
        return None
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if (_PLAIN.fullmatch(value) is None or value.lower() in _RESERVED or ": " in value
            or value.endswith(":")):
        raise _Outside
    return value
