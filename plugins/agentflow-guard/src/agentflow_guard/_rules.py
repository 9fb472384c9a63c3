"""The guard's rules: what to redact, what to refuse. Pure functions of text, no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import attrs

__all__ = ["BUILTIN_REDACTIONS", "DenyRule", "Redaction", "luhn_valid"]


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
    """Text matching ``pattern`` is replaced (when ``accept`` agrees that a match counts)."""

    name: str
    pattern: re.Pattern[str]
    accept: Callable[[str], bool] | None = None

    def apply(self, text: str, replacement: str) -> tuple[str, int]:
        """``text`` redacted, and how many matches were replaced."""
        count = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal count
            if self.accept is not None and not self.accept(match.group(0)):
                return match.group(0)
            count += 1
            return replacement.format(name=self.name)

        return self.pattern.sub(replace, text), count

    @classmethod
    def of_values(cls, name: str, values: Iterable[str]) -> Redaction | None:
        """A redaction of these literal values (the API keys in use), longest first."""
        ordered = sorted({value for value in values if len(value) >= 8}, key=len, reverse=True)
        if not ordered:
            return None
        return cls(name, re.compile("|".join(map(re.escape, ordered))))


def _card_number(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


#: Redactions known by name in ``plugins.guard.redact``.
BUILTIN_REDACTIONS: dict[str, Redaction] = {
    "api_keys": Redaction("api_key", re.compile(
        r"\bsk-[A-Za-z0-9_\-]{16,}|\bAIza[0-9A-Za-z_\-]{30,}"
        r"|(?<=[Bb]earer )[A-Za-z0-9._~+/\-]{16,}=*")),
    "emails": Redaction("email", re.compile(
        r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")),
    # 13 to 19 digits, in groups separated by single spaces or dashes, Luhn-valid only: an
    # order number or a phone number is left alone.
    "card_numbers": Redaction("card_number", re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)"),
                              accept=_card_number),
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
