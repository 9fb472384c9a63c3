"""Finding the configuration file when none is named.

In order: the file named by ``AGENTFLOW_CONFIG`` (which must exist), ``./agentflow.yml`` (or
``./agentflow.yaml``), then ``agentflow.yml`` (or ``.yaml``) in the user configuration
directory (``~/.config/agentflow`` on Linux, as ``platformdirs`` says elsewhere). With none of
them, agentflow runs on the installed plugins' catalogs alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from agentflow.errors import ConfigurationError

__all__ = ["CONFIG_ENV", "FILE_NAMES", "discover_config_path", "user_config_dir"]

CONFIG_ENV = "AGENTFLOW_CONFIG"
FILE_NAMES = ("agentflow.yml", "agentflow.yaml")


def user_config_dir() -> Path:
    """The user's agentflow configuration directory (it may not exist)."""
    import platformdirs

    # appauthor=False: %LOCALAPPDATA%\agentflow on Windows, not %LOCALAPPDATA%\agentflow\agentflow
    return platformdirs.user_config_path("agentflow", appauthor=False)


def discover_config_path(environ: Mapping[str, str] | None = None,
                         cwd: str | os.PathLike[str] | None = None) -> Path | None:
    """The configuration file to use when none is named, or None for catalogs only.

    :param environ: where ``AGENTFLOW_CONFIG`` is read (default ``os.environ``).
    :param cwd: the directory searched for ``agentflow.yml`` (default the current one); a
        relative ``AGENTFLOW_CONFIG`` is taken relative to it too.
    :raises ConfigurationError: when ``AGENTFLOW_CONFIG`` names a file that does not exist.
    """
    env = os.environ if environ is None else environ
    base = Path.cwd() if cwd is None else Path(cwd)
    named = env.get(CONFIG_ENV)
    if named:
        path = base / Path(named).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"{CONFIG_ENV} is set to {named}, but there is no file at {path}; create it, "
                f"or unset {CONFIG_ENV} to use ./agentflow.yml or the user configuration")
        return path
    for directory in (base, user_config_dir()):
        for name in FILE_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None
