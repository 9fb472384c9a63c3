"""The audit trail: which credentials the process used, and which configurations it ran on.

Records go to the ``agentflow.audit`` logger and, as ``audit.*`` execution events, to the
runtime's collectors and exporter plugins:

* ``audit.key.access``: an API key was read from the environment for a request (or a health
  check). It names the provider, the variable and a fingerprint (the first 8 hex digits of the
  key's SHA-256), never the key. The logger says INFO for a key's first use and whenever the
  variable's value changes (a rotated key), DEBUG for every other access; the event is made
  for every access.
* ``audit.config.load``: a configuration was loaded or reloaded, with its path and the
  SHA-256 of its text; ``audit.config.rejected``: a reload was refused, with the count of
  errors (the old configuration stays in force).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from agentflow._observe.events import ExecutionEvent

if TYPE_CHECKING:
    from pathlib import Path

    from agentflow._runtime.runtime import Runtime
    from agentflow.config import Config

__all__ = ["AuditTrail", "fingerprint"]

logger = logging.getLogger("agentflow.audit")


@functools.lru_cache(maxsize=64)  # a key is marked on every request that reads it
def fingerprint(secret: str) -> str:
    """A short, one-way mark of ``secret``: tells two keys apart without revealing either."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


class AuditTrail:
    """Writes the audit records of one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], str] = {}  # (provider, variable) -> fingerprint

    def key_accessed(self, *, provider: str, variable: str, secret: str,
                     model: str | None) -> None:
        """A key was read from ``variable`` for ``provider`` (and ``model``, if any)."""
        mark = fingerprint(secret)
        with self._lock:
            previous = self._seen.get((provider, variable))
            self._seen[(provider, variable)] = mark
        if previous != mark:
            what = "first use of" if previous is None else "a new value in"
            logger.info("%s %s for provider %s (key fingerprint %s)", what, variable, provider,
                        mark)
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("read %s for provider %s, model %s", variable, provider, model)
        self._emit("audit.key.access", f"provider.{provider}", {
            "provider": provider, "variable": variable, "model": model, "fingerprint": mark,
            "first_use": previous is None, "changed": previous is not None and previous != mark})

    def config_loaded(self, config: Config, *, text_sha256: str | None, reload: bool) -> None:
        """``config`` became the active configuration."""
        where = str(config.source) if config.source is not None else "no file (catalogs only)"
        logger.info("%s configuration %s (sha256 %s): %d models, %d providers",
                    "reloaded" if reload else "loaded", where, (text_sha256 or "-")[:12],
                    len(config.models), len(config.providers))
        self._emit("audit.config.load", "config", {
            "path": str(config.source) if config.source is not None else None,
            "sha256": text_sha256, "reload": reload, "models": len(config.models),
            "providers": len(config.providers)})

    def config_rejected(self, path: Path, errors: int, first: str) -> None:
        """A reload of ``path`` was refused; the configuration in force stays."""
        logger.error("refused to reload %s: %d error(s), first: %s; the previous "
                     "configuration stays in force", path, errors, first)
        self._emit("audit.config.rejected", "config",
                   {"path": str(path), "errors": errors, "first_error": first})

    def _emit(self, kind: str, node: str, metadata: dict[str, Any]) -> None:
        runtime = self._runtime
        if runtime.has_event_listeners():
            runtime.emit(ExecutionEvent(event_type=kind, node_id=node, metadata=metadata))
