"""The guard's rules: what to redact, what to refuse. Pure functions of text, no I/O.

Every rule matches in time linear in the text. The built-in patterns are Python regular
expressions of bounded width (each repetition has an upper bound, no repetition holds another
one), so one match attempt reads a bounded number of characters; patterns that users write are
compiled with RE2 (``google-re2``), whose matching is linear whatever the pattern. Card numbers
are checked within stretches of at most 19 digits.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

import attrs

__all__ = ["BUILTIN_REDACTIONS", "DenyRule", "Redaction", "encoded_forms", "key_redaction",
           "linear_pattern", "luhn_valid"]

Span = tuple[int, int]


class Pattern(Protocol):
    """What the rules need of a compiled pattern (Python's ``re`` or RE2)."""

    @property
    def groupindex(self) -> Mapping[str, int]: ...

    def finditer(self, text: str, /) -> Iterator[Any]: ...

    def search(self, text: str, /) -> Any: ...


_DOUBLED = str.maketrans("0123456789", "0246813579")  # a digit doubled, its digits summed


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` passes the Luhn check that every payment card number passes."""
    kept = digits[::-2].encode()
    doubled = digits[-2::-2].translate(_DOUBLED).encode()
    return (sum(kept) + sum(doubled) - 48 * len(digits)) % 10 == 0


@attrs.frozen
class Redaction:
    """Text matching any of ``patterns`` is replaced: the whole match, or only its group
    named ``secret`` where the pattern has one (``Bearer`` stays, the token goes); ``spans``,
    when given, says instead which parts of a match are to be replaced."""

    name: str
    patterns: tuple[Pattern, ...]
    spans: Callable[[Any], Iterable[Span]] | None = None

    def find(self, text: str) -> Iterator[Span]:
        """The ``(start, end)`` of every part of ``text`` to replace, in order, none
        overlapping."""
        found: list[Span] = []
        for pattern in self.patterns:
            group = pattern.groupindex.get("secret", 0)
            for match in pattern.finditer(text):
                if self.spans is not None:
                    found.extend(self.spans(match))
                elif match.end(group) > match.start(group):
                    found.append(match.span(group))
        merged: list[Span] = []
        for start, end in sorted(found):
            if merged and start < merged[-1][1]:  # overlapping matches are redacted as one
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        yield from merged

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


def encoded_forms(key: str) -> set[str]:
    """``key`` as it may be pasted: itself, URL-encoded, and the part of its base64 that is
    the same wherever the key sits in the encoded bytes (``Basic`` credentials, a data URL).
    Forms under 8 characters are left out (they would redact ordinary words)."""
    forms = {key, quote(key, safe=""), quote_plus(key, safe="")}
    raw = key.encode()
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + raw).decode("ascii")
            forms.add(encoded[-(-8 * shift // 6):8 * (shift + len(raw)) // 6])
    return {form for form in forms if len(form) >= 8}


@functools.lru_cache(maxsize=16)
def key_redaction(values: tuple[str, ...]) -> Redaction | None:
    """A redaction of these literal values (the API keys in use) and their encoded forms,
    longest first; values under 8 characters are left out."""
    forms = {form for value in values if len(value) >= 8 for form in encoded_forms(value)}
    if not forms:
        return None
    ordered = sorted(forms, key=len, reverse=True)
    return Redaction("api_key", (re.compile("|".join(map(re.escape, ordered))),))


_DIGIT_GROUP = re.compile(r"\d+")


def _card_spans(match: re.Match[str]) -> Iterator[Span]:
    """Card numbers inside a run of digit groups: from each group of 3 digits or more, the
    longest stretch of whole groups holding 13 to 19 digits that passes the Luhn check, left
    to right; a group under 3 digits may only end a stretch. So a card followed by its
    security code, or after a quantity, is found; a longer number is not cut. Each group
    starts at most 7 groups' worth of work (19 digits in groups of 3), so a run of any length
    costs time in proportion to it."""
    groups = [(match.start() + found.start(), match.start() + found.end())
              for found in _DIGIT_GROUP.finditer(match.group())]
    text = match.string
    first = 0
    while first < len(groups):
        if groups[first][1] - groups[first][0] < 3:
            first += 1
            continue
        best = None
        digits = ""
        for last in range(first, len(groups)):
            start, end = groups[last]
            digits += text[start:end]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_valid(digits):
                best = last
            if end - start < 3:
                break
        if best is None:
            first += 1
            continue
        yield groups[first][0], groups[best][1]
        first = best + 1


def _compiled(*patterns: str, flags: int = 0) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern, flags) for pattern in patterns)


_NOT_AFTER = r"(?<![A-Za-z0-9])"  # a key may follow "_" or "-" (KEY_sk-...), not a letter
_B64 = "A-Za-z0-9/+"

#: The credential shapes of ``api_keys``, by whose they are. Every repetition is bounded.
KEY_SHAPES: dict[str, str] = {
    "OpenAI, Anthropic, Moonshot (sk-...)": r"sk-[A-Za-z0-9_\-]{16,512}",
    "Google API keys (AIza...)": r"AIza[0-9A-Za-z_\-]{30,64}",
    "Google OAuth access tokens (ya29....)": r"ya29\.[A-Za-z0-9_\-.]{20,4096}",
    "Stripe (sk_live_, sk_test_, rk_live_...)": r"[sr]k_(?:live|test)_[A-Za-z0-9]{10,256}",
    "Hugging Face (hf_...)": r"hf_[A-Za-z0-9]{20,128}",
    "GitLab (glpat-...)": r"glpat-[A-Za-z0-9_\-]{20,128}",
    "xAI (xai-...)": r"xai-[A-Za-z0-9]{20,256}",
    "Groq (gsk_...)": r"gsk_[A-Za-z0-9]{20,256}",
    "GitHub (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)":
        r"gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{30,255}",
    "Slack (xoxb-, xoxp-...)": r"xox[abposr]-[A-Za-z0-9\-]{10,255}",
    "AWS access key ids (AKIA..., ASIA...)": r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])",
    "JSON Web Tokens (eyJ....eyJ....)":
        r"eyJ[A-Za-z0-9_\-]{8,4096}\.eyJ[A-Za-z0-9_\-]{8,8192}\.[A-Za-z0-9_\-]{0,4096}",
}

#: Shapes that need what stands around them; only their group ``secret`` is replaced.
CONTEXT_SHAPES: dict[str, str] = {
    "Authorization tokens (Bearer ..., any case and spacing)":
        r"(?i:bearer)[ \t:]{1,8}(?P<secret>[A-Za-z0-9._~+/\-]{16,4096}={0,2})",
    "PEM private keys (-----BEGIN ... PRIVATE KEY-----)":
        r"(?P<secret>-----BEGIN[A-Z ]{0,32} PRIVATE KEY-----[A-Za-z0-9+/=\s]{0,16384}"
        r"(?:-----END[A-Z ]{0,32} PRIVATE KEY-----)?)",
    "AWS secret access keys (after aws_secret_access_key)":
        r"(?i:secret_?access_?key)[\"']?[ \t]{0,4}[:=][ \t]{0,4}[\"']?"
        rf"(?P<secret>[{_B64}]{{40}})(?![{_B64}])",
    "AWS secret access keys (40 characters of base64 mixing cases and digits)":
        rf"(?<![{_B64}=])(?P<secret>(?=[{_B64}]{{0,39}}[A-Z])(?=[{_B64}]{{0,39}}[a-z])"
        rf"(?=[{_B64}]{{0,39}}[0-9])[{_B64}]{{40}})(?![{_B64}=])",
}

#: Redactions known by name in ``plugins.guard.redact``.
BUILTIN_REDACTIONS: dict[str, Redaction] = {
    "api_keys": Redaction("api_key", (
        *_compiled(_NOT_AFTER + "(?:" + "|".join(KEY_SHAPES.values()) + ")"),
        *_compiled(*CONTEXT_SHAPES.values()))),
    # Bounded parts (64 characters before the @, as RFC 5321 allows) keep the scan linear on
    # long text without an address.
    "emails": Redaction("email", _compiled(
        r"\b[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}"
        r"\.[A-Za-z]{2,24}\b")),
    # Runs of digit groups separated by single spaces or dashes, every group of 3 digits or
    # more but the last; only Luhn-valid stretches of 13 to 19 digits in them are cards, so
    # order and phone numbers stay. Once started, a run cannot fail (no backtracking), and
    # "1 1 1 ..." starts none.
    "card_numbers": Redaction("card_number", _compiled(
        r"(?<!\d)\d{3,}(?:[ -]\d{3,})*(?:[ -]\d{1,2})?"), spans=_card_spans),
}


def linear_pattern(pattern: str) -> Pattern:
    """``pattern`` compiled with RE2, matched ignoring case: linear time whatever it is.

    :raises ValueError: RE2 cannot compile it (backreferences and lookaround need
        backtracking); the message never repeats the pattern.
    """
    import re2  # type: ignore[import-untyped]  # no stubs; used through Pattern

    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print the pattern on stderr
    try:
        compiled: Pattern = re2.compile(pattern, options)
    except re2.error:
        raise ValueError("uses a construct that needs backtracking (a backreference, "
                         "lookahead or lookbehind); the guard matches in linear time only, "
                         "so write the pattern without it") from None
    return compiled


@attrs.frozen
class DenyRule:
    """A prompt matching ``pattern`` is refused, with ``message`` (never the matched text)."""

    name: str
    pattern: Pattern
    message: str

    def matches(self, text: str) -> bool:
        """Whether ``text`` breaks this rule."""
        return self.pattern.search(text) is not None
