"""Reading YAML text into plain data plus a map of where every key and value is.

ruamel.yaml's round-trip loader keeps the position of every mapping key and value (``.lc``)
and constructs only plain data: no tag can make it build an arbitrary object. Its output is
turned into plain ``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` values, and the
positions into a :class:`SourceMap` keyed by path. Tags other than YAML's standard ones are
reported as problems.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from agentflow.config._plain_yaml import read_plain_yaml
from agentflow.config._problems import Key, Path, Problem

_STANDARD_TAG = re.compile(r"tag:yaml\.org,2002:(str|map|seq|omap|int|float|bool|null)\Z")


class YamlSyntaxError(Exception):
    """The text is not YAML (or not a single YAML document); 1-based position."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@attrs.define
class SourceMap:
    """1-based (line, column) of the keys and values of a document, by path."""

    keys: dict[Path, tuple[int, int]] = attrs.field(factory=dict)
    values: dict[Path, tuple[int, int]] = attrs.field(factory=dict)

    def locate(self, path: Path, anchor: str = "value") -> tuple[int, int]:
        """Where the key (``anchor="key"``) or value at ``path`` is.

        A path that is not in the document (a key that a merge brought in, say) is placed at
        the key of its nearest ancestor that is.
        """
        table = self.keys if anchor == "key" else self.values
        if path in table:
            return table[path]
        while path:
            if path in self.keys:
                return self.keys[path]
            path = path[:-1]
        return self.values.get((), (1, 1))


def parse_yaml(text: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Plain data, its source map, and problems with tags, from one YAML document.

    Text in the plain subset of YAML most files are written in is read by
    :func:`~agentflow.config._plain_yaml.read_plain_yaml`, without importing ruamel.yaml;
    anything else (and every error) by ruamel.yaml's round-trip loader.

    :raises YamlSyntaxError: for text that is not a single well-formed YAML document.
    """
    plain = read_plain_yaml(text, max_depth=MAX_DEPTH, max_values=MAX_VALUES,
                            max_line=MAX_LINE)
    if plain is not None:
        data, keys, values = plain
        return data, SourceMap(keys=keys, values=values), []
    return _parse_with_ruamel(text)


def _parse_with_ruamel(text: str) -> tuple[Any, SourceMap, list[Problem]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    _check_lines(text)
    try:
        document = YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as exc:
        raise _syntax_error(exc) from None
    except RecursionError:
        raise YamlSyntaxError(f"invalid YAML: nested more than {MAX_DEPTH} levels deep", 1,
                              1) from None
    except ValueError as exc:  # a number too long for Python to convert
        line = _line_of(text, re.compile(r"\d{4000,}"))
        reason = str(exc).split(";")[0]  # not Python's advice to raise its own limit
        raise YamlSyntaxError(f"invalid YAML: a value cannot be read ({reason})", line,
                              1) from None
    source = SourceMap()
    source.values[()] = _document_start(document, text)
    problems: list[Problem] = []
    budget = _Budget()
    try:
        plain = _plain(document, (), source, problems, budget)
    except _TooMuch as exc:
        raise YamlSyntaxError(exc.message, *exc.position) from None
    return plain, source, problems


#: The most values a file may expand to (YAML aliases repeat what they point at: ten aliases of
#: ten aliases of ... make an "alias bomb"), and the deepest nesting it may have.
MAX_VALUES = 10_000
MAX_DEPTH = 64
#: The longest line read (ruamel's scanner is quadratic on long lines).
MAX_LINE = 20_000


class _TooMuch(Exception):
    def __init__(self, message: str, position: tuple[int, int]) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class _Budget:
    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values = 0


_FLOW = re.compile(r"""[\[\]{}"'#\n]""")


def _check_lines(text: str) -> None:
    """Refuse, before parsing, what ruamel's pure-Python parser takes minutes over: very long
    lines, and flow collections (``[[[[...``) nested deeper than :data:`MAX_DEPTH`."""
    for number, text_line in enumerate(text.split("\n"), start=1):
        if len(text_line) > MAX_LINE:
            raise YamlSyntaxError(f"invalid YAML: line {number} is longer than {MAX_LINE} "
                                  "characters", number, 1)
    depth, quote, comment, line = 0, "", False, 1
    for found in _FLOW.finditer(text):
        mark = found.group()
        if mark == "\n":
            line, comment = line + 1, False
        elif comment:
            continue
        elif quote:
            quote = "" if mark == quote else quote
        elif mark in "\"'":
            quote = mark
        elif mark == "#":
            comment = True
        elif mark in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlSyntaxError(
                    f"invalid YAML: nested more than {MAX_DEPTH} levels deep", line, 1)
        elif depth:
            depth -= 1


def _line_of(text: str, pattern: re.Pattern[str]) -> int:
    found = pattern.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else 1


def _syntax_error(exc: Any) -> YamlSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = str(exc.problem or "invalid YAML")
    found = re.match(r'found duplicate key "(.*?)" with value', problem)
    if found:  # ruamel's own wording repeats both values, and a value may be a secret
        problem = f"duplicate key {found.group(1)!r}; a key may appear only once in a mapping"
    elif exc.context:
        problem = f"{problem} ({exc.context})"
    return YamlSyntaxError(f"invalid YAML: {problem}", line, column)


def _document_start(document: Any, text: str) -> tuple[int, int]:
    lc = getattr(document, "lc", None)
    if lc is not None and lc.line is not None:
        return lc.line + 1, lc.col + 1
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if stripped and not stripped.startswith(("#", "---", "%")):
            return number, len(line) - len(stripped) + 1
    return 1, 1


def _plain(node: Any, path: Path, source: SourceMap, problems: list[Problem],
           budget: _Budget) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
    from ruamel.yaml.scalarbool import ScalarBoolean

    budget.values += 1
    if budget.values > MAX_VALUES or len(path) > MAX_DEPTH:
        where = source.locate(path[:MAX_DEPTH], "key")
        what = (f"nested more than {MAX_DEPTH} levels deep" if len(path) > MAX_DEPTH else
                f"expands to more than {MAX_VALUES} values (aliases repeating aliases?)")
        raise _TooMuch(f"invalid YAML: the document {what}", where)
    _check_tag(node, path, problems)
    if isinstance(node, CommentedMap):
        result: dict[Key, Any] = {}
        for raw_key, value in node.items():
            key = _plain_key(raw_key)
            child = (*path, key)
            _record((node.lc.data or {}).get(raw_key), child, value, source)
            result[key] = _plain(value, child, source, problems, budget)
        return result
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, value in enumerate(node):
            child = (*path, index)
            position = (node.lc.data or {}).get(index)
            if position is not None:
                source.keys[child] = source.values[child] = (position[0] + 1, position[1] + 1)
            items.append(_plain(value, child, source, problems, budget))
        return items
    if isinstance(node, TaggedScalar):
        return str(node.value)
    if isinstance(node, ScalarBoolean):
        return bool(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node  # dates and timestamps: reported as wrong types where they do not belong


def _plain_key(key: Any) -> Key:
    # Keys that are not strings are kept as they are (as int/float/bool/None) so that the
    # structuring step can report them; anything more exotic (a complex key) becomes text.
    from ruamel.yaml.scalarbool import ScalarBoolean

    if isinstance(key, ScalarBoolean):
        return bool(key)
    if isinstance(key, bool) or key is None:
        return key
    if isinstance(key, int):
        return int(key)
    if isinstance(key, float):
        return float(key)
    return str(key)


def _record(position: list[int] | None, path: Path, value: Any, source: SourceMap) -> None:
    if position is None:
        return
    key_line, key_col, value_line, value_col = (p + 1 for p in position)
    source.keys[path] = (key_line, key_col)
    # An empty value has no token of its own (ruamel points at the next one), and an alias
    # points at its anchor: in both cases the key is the honest place to point at.
    if (value is None and value_line != key_line) or value_line < key_line:
        source.values[path] = (key_line, key_col)
    else:
        source.values[path] = (value_line, value_col)


def _check_tag(node: Any, path: Path, problems: list[Problem]) -> None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", None) if tag is not None else None
    if value and not _STANDARD_TAG.match(value):
        shown = value.replace("tag:yaml.org,2002:", "!!")
        problems.append(Problem(path, f"the YAML tag {shown} is not supported: configuration "
                                      "files hold plain data only"))
