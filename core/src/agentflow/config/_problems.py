"""Problems found while reading a configuration file, before they are given a position.

Every stage of validation (YAML, literal keys, interpolation, structuring, cross-references)
reports :class:`Problem` values that name a *path* into the document; the loader turns them into
located :class:`~agentflow.config.Issue` lines with the document's source map.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Literal, TypeAlias

import attrs

#: One step of a path into the document: a mapping key (a string, unless the file has a
#: key of another type, which is reported) or a list index.
Key: TypeAlias = str | int | float | None
Path: TypeAlias = tuple[Key, ...]
Severity: TypeAlias = Literal["error", "warning"]
#: Whether a problem is about a mapping key itself or about the value under it.
Anchor: TypeAlias = Literal["key", "value"]


@attrs.frozen
class Problem:
    """A problem at ``path``; ``anchor`` says whether the key or its value is at fault."""

    path: Path
    message: str
    anchor: Anchor = "value"
    severity: Severity = "error"


def did_you_mean(word: str, candidates: Iterable[str], *, limit: int = 1) -> list[str]:
    """The closest candidates to ``word`` (difflib), best first; empty when none is close."""
    import difflib  # only when a key is misspelt

    return difflib.get_close_matches(word, sorted(set(candidates)), n=limit, cutoff=0.6)


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or an empty string."""
    close = did_you_mean(word, candidates)
    return f"; did you mean {close[0]!r}?" if close else ""


def describe_value(value: object) -> str:
    """A short description of a YAML value for messages; strings are never echoed.

    Strings in a configuration file may be anything, a misplaced key included, so messages
    say "a string" and never show one.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true (a boolean)" if value else "false (a boolean)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.date):
        return "a date"
    return f"a value of type {type(value).__name__}"
