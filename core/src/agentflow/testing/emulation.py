"""What every vendor emulation does the same way, written once: counting tokens, cutting an
answer where the request says to stop, and the scripted Retry-After.

The emulations agentflow ships (and the tutorial's) count one token per whitespace-separated
word, so tests can predict usage figures; an answer is cut where the first stop sequence
starts, then after the request's token limit, and the vendor reports why in its own words.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from agentflow.testing.fake import Reply

__all__ = ["Cut", "count_tokens", "cut_answer", "retry_after_header"]


@attrs.frozen
class Cut:
    """An answer as the request's stop sequences and token limit leave it.

    :param text: what remains of the answer.
    :param stop_sequence: the stop sequence it was cut at, if one was.
    :param at_limit: the token limit cut it (the vendor's ``length`` finish reason).
    """

    text: str
    stop_sequence: str | None = None
    at_limit: bool = False


def count_tokens(text: str) -> int:
    """The emulations' token count of ``text``: one per whitespace-separated word."""
    return len(text.split())


def cut_answer(text: str, stop: str | Iterable[str] | None = None,
               limit: int | None = None) -> Cut:
    """``text`` cut where a stop sequence in ``stop`` starts (empty ones are ignored), then
    after ``limit`` tokens (words)."""
    found: str | None = None
    for sequence in [stop] if isinstance(stop, str) else (stop or ()):
        at = text.find(sequence) if sequence else -1
        if at >= 0:
            text, found = text[:at], sequence
    if isinstance(limit, int) and count_tokens(text) > limit:
        return Cut(" ".join(text.split()[:limit]), at_limit=True)
    return Cut(text, found)


def retry_after_header(reply: Reply) -> dict[str, str]:
    """The ``Retry-After`` header a scripted ``reply`` asks for, as a dict to merge into the
    answer's headers (empty when it asks for none)."""
    return {} if reply.retry_after is None else {"retry-after": f"{reply.retry_after:g}"}
