"""API keys redacted from every text agentflow shows: log records, errors and their whole
exception chain, execution events.

agentflow logs through the standard :mod:`logging` module under the ``agentflow`` logger
(``agentflow.requests`` for calls, ``agentflow.plugins`` for plugin loading, plugins under
their own ``agentflow.<name>``). Configure it like any other library's logger::

    logging.getLogger("agentflow").setLevel(logging.DEBUG)

What :func:`redact` replaces with ``***``:

- the keys agentflow has read from the environment (:func:`remember_secret`), also URL-encoded
  and in base64 (as in a ``Basic`` header), and any run of 8 or more of their characters (a
  server quoting a key's first 20 characters), unless the run looks like an ordinary word
  (letters of one case and ``-_.``, shorter than 16: a test key ``anthropic-key`` must not
  take the word ``anthropic`` out of every message);
- masked echoes: a token with four or more ``*`` (or two ``•``) in it, as vendors quote a
  refused key (``sk-proj-abcd****wxyz``), and a key's first characters before ``...``/``…``;
- whatever is shaped like a credential: vendor key prefixes (``sk-``, ``AIza``, ``sk_live_``,
  ``hf_``, ``glpat-``, ``xai-``, ``gsk_``, ``ya29.``, ``ghp_``, ``xox.-``), JWTs, PEM private
  keys, the token after ``Bearer`` or ``Basic`` (any case, any spacing), ``x-api-key:``
  headers and ``key=`` / ``api_key=`` / ``token=`` parameters.

Records of the ``agentflow``, ``httpx``, ``httpcore`` and ``hpack`` loggers are redacted when
they are made, before any handler sees them (:func:`install`, called by the runtime on first
use): httpcore's DEBUG lines carry headers. Errors redact their message and every field a
server sent (``request_id``, ``error_type``, ``vendor_message``); :func:`redact_exception`
cleans the exceptions chained to them (``__cause__``, ``__context__``), which the core calls on
every failed call before the error reaches the caller.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["REDACTED", "install", "redact", "redact_exception", "redact_fields",
           "remember_secret"]

REDACTED = "***"

#: Credential shapes, whoever's key they are. Every repetition is bounded, so one match
#: attempt reads a bounded number of characters and a search stays linear in the text.
#: Compiled by :func:`_key_shapes` when a text first holds a trigger (compiling it at import
#: was about 7 ms of every process's first request).
_KEY_SHAPES_SOURCE = (
    r"(?<![A-Za-z0-9])(?:"
    r"sk-[A-Za-z0-9_\-]{16,512}"                    # OpenAI, Anthropic (sk-ant-), Moonshot
    r"|AIza[0-9A-Za-z_\-]{30,64}"                   # Google
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{10,256}"     # Stripe
    r"|hf_[A-Za-z0-9]{20,128}"                      # Hugging Face
    r"|glpat-[A-Za-z0-9_\-]{20,128}"                # GitLab
    r"|xai-[A-Za-z0-9]{20,256}"                     # xAI
    r"|gsk_[A-Za-z0-9]{20,256}"                     # Groq
    r"|ya29\.[A-Za-z0-9_\-.]{20,4096}"              # Google OAuth access tokens
    r"|gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{30,255}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,255}"           # Slack
    r"|eyJ[A-Za-z0-9_\-]{8,4096}\.eyJ[A-Za-z0-9_\-]{8,8192}\.[A-Za-z0-9_\-]{0,4096}"  # JWT
    r")"
    r"|-----BEGIN[A-Z ]{0,32} PRIVATE KEY-----[A-Za-z0-9+/=\s]{0,16384}"
    r"(?:-----END[A-Z ]{0,32} PRIVATE KEY-----)?"
    r"|(?<=bearer)[ \t:=]{1,8}[A-Za-z0-9._~+/\-]{8,4096}={0,2}"  # Authorization header tokens
    r"|(?<=basic)[ \t]{1,8}[A-Za-z0-9+/]{8,4096}={0,2}"
    # x-api-key, x-goog-api-key, api_key: as a header line, JSON, or httpcore's (b'', b'')
    r"|(?<=api[-_]key)[\"']?[ \t]{0,8}[:=,][ \t]{0,8}b?[\"']?[^\s\"',;&]{8,4096}"
    r"|(?<=[?&]key)=[^\s\"',;&]{8,4096}"
    r"|(?<=[?&]token)=[^\s\"',;&]{8,4096}"
    r"|(?<=[?&]access_token)=[^\s\"',;&]{8,4096}")


@functools.cache
def _key_shapes() -> re.Pattern[str]:
    return re.compile(_KEY_SHAPES_SOURCE, re.IGNORECASE)


#: What a text must hold (in lower case) for the credential shapes to be found in it.
_TRIGGERS = ("sk-", "aiza", "sk_", "rk_", "hf_", "glpat-", "xai-", "gsk_", "ya29.", "ghp_",
             "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "eyj", "-----begin",
             "bearer", "basic", "api-key", "api_key", "key=", "token=")
#: The loggers whose records are redacted. httpcore and hpack log headers at DEBUG.
_LOGGERS = ("agentflow", "httpx", "httpcore", "hpack")
#: The shortest run of a key's characters that counts as an echo of it.
RUN = 8
_MASK = re.compile(r"\*{3,}|•{2,}|…|\.{3,}")
_TAIL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_HEAD_CHARS = _TAIL_CHARS | {"."}


class _Known:
    """The remembered keys and what finding them takes, replaced whole on each change.

    Remembering one more key costs what that key adds (:meth:`with_key`); the two patterns are
    compiled when a text first needs them. Compiling the alternation of every key's forms at
    each change made remembering key after key quadratic: a test suite with a key per test
    remembers thousands, and spent most of its time here.
    """

    def __init__(self, keys: tuple[str, ...] = (), forms: frozenset[str] = frozenset(),
                 grams: frozenset[str] = frozenset()) -> None:
        self.keys = tuple(sorted(keys, key=len, reverse=True))
        self.forms = tuple(sorted(forms, key=len, reverse=True))  # the longest first
        self.grams = grams

    def with_key(self, key: str) -> _Known:
        """These keys and ``key``."""
        grams = frozenset(key[i:i + RUN] for i in range(len(key) - RUN + 1))
        return _Known((*self.keys, key), frozenset(self.forms) | encoded_forms(key),
                      self.grams | grams)

    @functools.cached_property
    def pattern(self) -> re.Pattern[str] | None:
        """Any form of any key, the longest first."""
        return re.compile("|".join(map(re.escape, self.forms))) if self.forms else None

    @functools.cached_property
    def tokens(self) -> re.Pattern[str] | None:
        """Stretches of 8 or more characters that keys and their forms are made of: only
        there can a key, or a run of one, be (most texts have few such stretches)."""
        chars = sorted(set("".join(self.forms)))
        if not chars:
            return None
        return re.compile("[" + "".join("\\" + c if c in "\\]^-[" else c for c in chars)
                          + f"]{{{RUN},}}")


_known = _Known()
_lock = threading.Lock()
_installed = False


def encoded_forms(key: str) -> set[str]:
    """``key`` as it may travel: itself, URL-encoded, and the part of its base64 that is
    the same wherever the key sits in the encoded bytes (as in ``Basic`` credentials)."""
    forms = {key, quote(key, safe=""), quote_plus(key, safe="")}
    raw = key.encode()
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + raw).decode("ascii")
            first = -(-8 * shift // 6)                    # the first char of key bits only
            last = 8 * (shift + len(raw)) // 6            # past the last char of key bits only
            forms.add(encoded[first:last])
    return {form for form in forms if len(form) >= RUN}


def remember_secret(value: str) -> None:
    """Redact ``value`` (and its encodings and runs of it) from now on."""
    global _known
    if len(value) < RUN or value in _known.keys:  # no real key is shorter; words would go
        return
    with _lock:
        if value not in _known.keys:  # not remembered by another thread meanwhile
            _known = _known.with_key(value)


def redact(text: str) -> str:
    """``text`` with every remembered key (whole, encoded, a run of 8 or more of its
    characters, masked) and every credential-shaped string replaced by ``***``."""
    if len(text) < RUN:
        return text
    known = _known
    # Each step first asks, at C speed, whether it can find anything: most texts hold nothing.
    if "**" in text or "•" in text or "…" in text or "..." in text:
        text = _replace(text, _masked_spans(text, known.keys))
    # Shapes before remembered keys: another key sharing a remembered key's first characters
    # (every Anthropic key starts ``sk-ant-api03-``) is then taken whole, where replacing the
    # shared run first would leave the rest of it in the text, no longer key-shaped.
    lowered = text.lower()
    if any(trigger in lowered for trigger in _TRIGGERS):
        text = _key_shapes().sub(_shape_replacement, text)
    if known.tokens is not None:
        tokens = [token.span() for token in known.tokens.finditer(text)]
        if tokens and known.pattern is not None:
            text = known.pattern.sub(REDACTED, text)
            tokens = [token.span() for token in known.tokens.finditer(text)]
        if tokens:
            text = _replace(text, _run_spans(text, tokens, known.grams))
    return text


_SEPARATOR = re.compile(r"[\"']?[ \t]*[:=,]?[ \t]*b?[\"']?")


def _shape_replacement(match: re.Match[str]) -> str:
    """``***``, after what separates a header's name from its value: ``Bearer ***``."""
    found = match.group()
    if found[:1].isalnum() or found[:1] == "-":
        return REDACTED
    kept = _SEPARATOR.match(found)
    return (kept.group() if kept is not None else "") + REDACTED


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    pieces: list[str] = []
    last = 0
    for start, end in spans:
        pieces += (text[last:start], REDACTED)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _merged(spans: Iterator[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans as one, in order."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _run_spans(text: str, tokens: list[tuple[int, int]],
               grams: frozenset[str]) -> list[tuple[int, int]]:
    """Where runs of 8 or more characters of a remembered key are in ``text``, looking only
    inside ``tokens``, the stretches made of their characters."""
    starts: list[int] = []
    for first, end in tokens:
        if 4 * (end - first) < len(grams):  # short: look each window up
            starts += [i for i in range(first, end - RUN + 1) if text[i:i + RUN] in grams]
        else:  # long: search each gram in it, at C speed; most are absent
            token = text[first:end]
            starts += [first + start for gram in grams if gram in token
                       for start in _find_all(token, gram)]
    runs = _merged((start, start + RUN) for start in starts)
    return [(start, end) for start, end in runs if not _word_like(text[start:end])]


def _word_like(run: str) -> bool:
    """Whether ``run`` could be an ordinary word: short, no digit, one case of letters."""
    if len(run) >= 16 or any(char.isdigit() for char in run):
        return False
    return not (any(char.isupper() for char in run) and any(char.islower() for char in run))


def _find_all(text: str, part: str) -> Iterator[int]:
    start = text.find(part)
    while start >= 0:
        yield start
        start = text.find(part, start + 1)


def _masked_spans(text: str, keys: tuple[str, ...]) -> list[tuple[int, int]]:
    """Tokens that quote a key masked: ``sk-proj-abcd****wxyz``, ``abcd1234...``."""
    spans: list[tuple[int, int]] = []
    for mask in _MASK.finditer(text):
        start, end = mask.span()
        head = start
        while head > 0 and start - head < 64 and text[head - 1] in _HEAD_CHARS:
            head -= 1
        tail = end
        while tail < len(text) and tail - end < 64 and text[tail] in _TAIL_CHARS:
            tail += 1
        if _is_masked_key(text[head:start], mask.group(), text[end:tail], keys):
            spans.append((head, tail))
    return _merged(iter(spans))


def _is_masked_key(head: str, mask: str, tail: str, keys: tuple[str, ...]) -> bool:
    starred = mask[0] in "*•" and (len(mask) >= 4 or mask[0] == "•")
    if starred and max(len(head), len(tail)) >= 2:
        return True  # a vendor's masked quote, whoever's key it is
    for key in keys:
        if any(key.startswith(head[i:]) and not _word_like(head[i:])
               for i in range(len(head) - RUN + 1)):
            return True
        if mask[0] != "." and len(tail) >= 4 and key.endswith(tail):
            return True
    return False


def redact_fields(value: Any) -> Any:
    """``value`` with every string in it redacted: in dicts, lists and tuples too."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_fields(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_fields(item) for item in value)
    return value


class RedactedException(Exception):
    """Stands in a chain for an exception whose text showed a key and could not be cleaned."""


def redact_exception(exc: BaseException | None) -> None:
    """Clean ``exc`` and every exception chained to it (``__cause__``, ``__context__``,
    members of exception groups), in place, so that no str, repr or formatted traceback of
    any of them shows a key. One whose text cannot be cleaned (its own ``__str__``) is
    replaced in the chain by a :class:`RedactedException` with the redacted text."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc] if exc is not None else []
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        _clean(current)
        for link in ("__cause__", "__context__"):
            linked = getattr(current, link)
            if linked is None:
                continue
            if id(linked) not in seen:
                _clean(linked)
                if _shows_a_key(linked):
                    linked = _stand_in(linked)
                    setattr(current, link, linked)
            pending.append(linked)
        members = getattr(current, "exceptions", ())
        if isinstance(members, list | tuple):
            pending.extend(member for member in members if isinstance(member, BaseException))


def _clean(exc: BaseException) -> None:
    try:
        exc.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in exc.args)
        for name, value in list(getattr(exc, "__dict__", {}).items()):
            if isinstance(value, str) and redact(value) != value:
                setattr(exc, name, redact(value))
        notes = getattr(exc, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [redact(note) if isinstance(note, str) else note for note in notes]
        if isinstance(exc, OSError):
            for name in ("strerror", "filename", "filename2"):
                value = getattr(exc, name, None)
                if isinstance(value, str):
                    setattr(exc, name, redact(value))
    except Exception:  # an exception type that refuses new attributes: the stand-in covers it
        pass


def _shows_a_key(exc: BaseException) -> bool:
    try:
        shown = f"{exc}\n{exc!r}"
    except Exception:
        return False
    return redact(shown) != shown


def _stand_in(exc: BaseException) -> RedactedException:
    try:
        text = redact(str(exc))
    except Exception:
        text = ""
    stand_in = RedactedException(f"{type(exc).__module__}.{type(exc).__qualname__}: {text}")
    stand_in.__cause__ = exc.__cause__
    stand_in.__context__ = exc.__context__
    stand_in.__suppress_context__ = exc.__suppress_context__
    stand_in.__traceback__ = exc.__traceback__
    return stand_in


def redact_handled_exceptions(error: BaseException) -> None:
    """Clean ``error``'s chain and the exception being handled, which Python will chain to
    ``error`` as its ``__context__`` when it is raised in an ``except`` block."""
    redact_exception(error)
    redact_exception(sys.exc_info()[1])


def install() -> None:
    """Make every record of the ``agentflow``, ``httpx``, ``httpcore`` and ``hpack`` loggers
    redacted. Idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.name.startswith(_LOGGERS):
                _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _redact_record(record: logging.LogRecord) -> None:
    """Format the message now, redacted, so no handler can format the key back in; a record
    with nothing to redact keeps its format and arguments."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: leave it for logging to report as usual
        return
    redacted = redact(message)
    if redacted != message:
        record.msg = redacted
        record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        redact_exception(record.exc_info[1])
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
