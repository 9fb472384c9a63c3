"""Logging with API keys redacted, whatever a message or an exception happens to contain.

agentflow logs through the standard :mod:`logging` module under the ``agentflow`` logger
(``agentflow.requests`` for calls, ``agentflow.plugins`` for plugin loading, plugins under
their own ``agentflow.<name>``). Configure it like any other library's logger::

    logging.getLogger("agentflow").setLevel(logging.DEBUG)

Keys are redacted when a record is made, before any handler sees it: the values of the keys
agentflow has read from the environment, and anything shaped like a vendor key or a credential
header. The records of ``agentflow.*`` and of ``httpx`` (whose request lines name URLs) are
covered. :func:`install` does it; the runtime calls it on first use.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

__all__ = ["REDACTED", "install", "redact", "remember_secret"]

REDACTED = "***"

_KEY_SHAPES = re.compile(
    r"sk-[A-Za-z0-9_\-]{16,}"                      # OpenAI, Anthropic (sk-ant-), Moonshot
    r"|AIza[0-9A-Za-z_\-]{30,}"                    # Google
    r"|(?<=[Bb]earer )[A-Za-z0-9._~+/\-]{8,}=*"     # an Authorization header's token
    r"|(?<=api[_-]key=)[^\s\"',;&]{8,}"             # ?key= style query parameters
    r"|(?<=api-key: )[^\s\"',;&]{8,}"               # x-api-key / x-goog-api-key headers
    r"|(?<=[?&]key=)[^\s\"',;&]{8,}",
    re.IGNORECASE)
_LOGGERS = ("agentflow", "httpx")

_secrets: set[str] = set()
_secrets_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()
_installed = False


def remember_secret(value: str) -> None:
    """Redact ``value`` from every agentflow log record from now on."""
    global _secrets_pattern
    if len(value) < 8 or value in _secrets:  # no real key is shorter; short words would go
        return
    with _lock:
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)  # the longest first: no partial hits
        _secrets_pattern = re.compile("|".join(map(re.escape, ordered)))


def redact(text: str) -> str:
    """``text`` with every remembered key and every key-shaped string replaced by ``***``."""
    known = _secrets_pattern
    if known is not None:
        text = known.sub(REDACTED, text)
    return _KEY_SHAPES.sub(REDACTED, text)


def install() -> None:
    """Make every record of the ``agentflow`` and ``httpx`` loggers redacted. Idempotent."""
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
    """Format the message now, redacted, so no handler can format the key back in."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: leave it for logging to report as usual
        return
    record.msg = redact(message)
    record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
