"""The guard's rules: what to redact, what to refuse. Pure functions of text, no I/O."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator

import attrs

__all__ = ["BUILTIN_REDACTIONS", "DenyRule", "Redaction", "key_redaction", "luhn_valid"]

Span = tuple[int, int]


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` passes the Luhn check that every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


@attrs.frozen
class Redaction:
    """Text matching ``pattern`` is replaced; ``spans``, when given, says which parts of a
    match are to be replaced (all of it, by default; nothing for an empty match)."""

    name: str
    pattern: re.Pattern[str]
    spans: Callable[[re.Match[str]], Iterable[Span]] | None = None

    def find(self, text: str) -> Iterator[Span]:
        """The ``(start, end)`` of every part of ``text`` to replace, in order."""
        for match in self.pattern.finditer(text):
            if self.spans is not None:
                yield from self.spans(match)
            elif match.end() > match.start():
                yield match.span()

    def apply(self, text: str, replacement: str) -> tuple[str, int]:
        """``text`` redacted, and how many parts were replaced."""
        label = replacement.format(name=self.name)
        pieces: list[str] = []
        last = 0
        for start, end in self.find(text):
            pieces += (text[last:start], label)
            last = end
        if not pieces:
            return text, 0
        pieces.append(text[last:])
        return "".join(pieces), len(pieces) // 2


@functools.lru_cache(maxsize=16)
def key_redaction(values: tuple[str, ...]) -> Redaction | None:
    """A redaction of these literal values (the API keys in use), longest first; values under
    8 characters are left out (they would redact ordinary words)."""
    ordered = sorted({value for value in values if len(value) >= 8}, key=len, reverse=True)
    if not ordered:
        return None
    return Redaction("api_key", re.compile("|".join(map(re.escape, ordered))))


_DIGIT_GROUP = re.compile(r"\d+")


def _card_spans(match: re.Match[str]) -> Iterator[Span]:
    """Card numbers inside a run of digit groups: from each group, the longest stretch of
    whole groups holding 13 to 19 digits that passes the Luhn check, left to right. So a card
    followed by its security code, or after a quantity, is found; a longer number is not cut."""
    groups = [(match.start() + found.start(), match.start() + found.end())
              for found in _DIGIT_GROUP.finditer(match.group())]
    first = 0
    while first < len(groups):
        best = None
        digits = ""
        for last in range(first, len(groups)):
            start, end = groups[last]
            digits += match.string[start:end]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_valid(digits):
                best = last
        if best is None:
            first += 1
            continue
        yield groups[first][0], groups[best][1]
        first = best + 1


#: Redactions known by name in ``plugins.guard.redact``.
BUILTIN_REDACTIONS: dict[str, Redaction] = {
    # Vendor keys (OpenAI and Anthropic sk-..., Google AIza...), bearer tokens, GitHub tokens,
    # AWS access key ids and Slack tokens: shapes no ordinary text has.
    "api_keys": Redaction("api_key", re.compile(
        r"\bsk-[A-Za-z0-9_\-]{16,}|\bAIza[0-9A-Za-z_\-]{30,}"
        r"|(?<=[Bb]earer )[A-Za-z0-9._~+/\-]{16,}=*"
        r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"
        r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bxox[abposr]-[A-Za-z0-9\-]{10,}")),
    # Bounded parts (64 characters before the @, as RFC 5321 allows) keep the scan linear on
    # long text without an address.
    "emails": Redaction("email", re.compile(
        r"\b[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}"
        r"\.[A-Za-z]{2,24}\b")),
    # Runs of digit groups separated by single spaces or dashes; only Luhn-valid stretches of
    # 13 to 19 digits in them are cards, so order and phone numbers stay.
    "card_numbers": Redaction("card_number", re.compile(r"(?<!\d)\d+(?:[ -]\d+)*"),
                              spans=_card_spans),
}


@attrs.frozen
class DenyRule:
    """A prompt matching ``pattern`` is refused, with ``message`` (never the matched text)."""

    name: str
    pattern: re.Pattern[str]
    message: str

    def matches(self, text: str) -> bool:
        """Whether ``text`` breaks this rule."""
        return self.pattern.search(text) is not None
