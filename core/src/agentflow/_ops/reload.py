"""Watching the configuration file, and reloading it when it changes.

:class:`ConfigWatcher` reads the file every ``interval`` seconds and calls
:meth:`Runtime.reload_config` when its text changed and then stayed the same for one more look
(a configuration file is small; comparing its text, not its modification time, also catches two
saves within one clock tick). Waiting for the text to settle keeps a file caught while it is
being written (emptied, then filled) from being loaded: an empty or cut file may well validate,
as a configuration without models. Polling
works the same on every platform, under asyncio and trio, and on network file systems where
change notifications do not. A file that does not validate (an editor saving half a file, a
typo) is refused with its located errors in the ``agentflow.audit`` log, and the configuration
in force stays; the next change is tried again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from agentflow.errors import ConfigurationError

if TYPE_CHECKING:
    from agentflow._runtime.runtime import Runtime

__all__ = ["ConfigWatcher"]

class ConfigWatcher:
    """Reloads ``path`` into ``runtime`` whenever its text changes."""

    def __init__(self, runtime: Runtime, path: str | os.PathLike[str], *,
                 interval: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be greater than 0, got {interval!r}")
        self.runtime = runtime
        self.path = Path(path)
        self.interval = interval
        #: Reloads that took effect, and changes that were refused.
        self.reloads = 0
        self.refused = 0
        self._digest = self._digest_now()
        self._changed_to: str | None = None  # the new text's digest, seen once so far

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await anyio.sleep(self.interval)
            await anyio.to_thread.run_sync(self.check)  # a slow file never freezes the loop

    def check(self) -> bool:
        """Reload if the file changed and has not changed since the last look; whether a
        reload took effect."""
        digest = self._digest_now()
        if digest is None or digest == self._digest:
            self._changed_to = None
            return False  # gone for a moment (an editor replacing it), or touched only
        if digest != self._changed_to:
            self._changed_to = digest  # maybe still being written: look again first
            return False
        self._digest, self._changed_to = digest, None
        try:
            self.runtime.reload_config(self.path)
        except ConfigurationError:
            self.refused += 1  # the audit log has the located errors
            return False
        self.reloads += 1
        return True

    def _digest_now(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None
