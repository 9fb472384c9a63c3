"""Text as the rules see it: Unicode NFKC, zero-width characters removed, and the way back.

A key written in full-width letters, or split by a zero-width space, is the same key to the
vendor's model. The rules match the normalised text; what they find is mapped back to the
text as written, which is what is redacted: text without anything to redact is sent exactly
as it was. Each character is normalised on its own (NFKC's composition of a letter with a
following combining mark is not applied), which keeps the mapping exact and the work linear.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from array import array

__all__ = ["ZERO_WIDTH", "Normalised"]

#: Characters that show nothing: zero-width spaces and joiners, the word joiner, the byte
#: order mark, the soft hyphen, direction marks and invisible operators.
ZERO_WIDTH = ("\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
              "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff")
_INVISIBLE = re.compile(f"[{ZERO_WIDTH}]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@functools.lru_cache(maxsize=4096)
def _normal(char: str) -> str:
    return "" if char in ZERO_WIDTH else unicodedata.normalize("NFKC", char)


class Normalised:
    """``original`` normalised (``text``), and where each of its characters came from."""

    __slots__ = ("_origin", "original", "text")

    def __init__(self, original: str) -> None:
        self.original = original
        self._origin: array[int] | None = None
        if original.isascii() or (unicodedata.is_normalized("NFKC", original)
                                  and _INVISIBLE.search(original) is None):
            self.text = original
            return
        parts: list[str] = []
        origin = array("q")
        last = 0
        for run in _NON_ASCII.finditer(original):
            start, end = run.span()
            parts.append(original[last:start])
            origin.extend(range(last, start))
            for index in range(start, end):
                normal = _normal(original[index])
                parts.append(normal)
                origin.extend([index] * len(normal))
            last = end
        parts.append(original[last:])
        origin.extend(range(last, len(original)))
        self.text = "".join(parts)
        self._origin = origin

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The part of the original text that ``text[start:end]`` came from."""
        origin = self._origin
        if origin is None:
            return start, end
        if end <= start:
            at = origin[start] if start < len(origin) else len(self.original)
            return at, at
        return origin[start], origin[end - 1] + 1
