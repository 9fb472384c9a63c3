"""``plugins.redis`` in agentflow.yml (or ``AGENTFLOW_REDIS_URL``), checked with located errors."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from agentflow_redis._resp import RedisAddress

if TYPE_CHECKING:
    from agentflow.config import Config

__all__ = ["URL_ENV", "RedisSettings", "SettingProblem"]

#: The environment variable that switches sharing on when the file has no ``plugins.redis.url``.
URL_ENV = "AGENTFLOW_REDIS_URL"
_KEYS = ("url", "key_prefix", "on_store_failure", "timeout_seconds", "reconnect_seconds")
_PREFIX = re.compile(r"[A-Za-z0-9_.:{}-]{1,100}\Z")


class SettingProblem(ValueError):
    """A setting that cannot be used: ``key`` names it, the message says why."""

    def __init__(self, key: str, message: str, *, anchor: Literal["key", "value"] = "value"
                 ) -> None:
        super().__init__(message)
        self.key = key
        self.anchor: Literal["key", "value"] = anchor


@attrs.frozen(kw_only=True)
class RedisSettings:
    """Where the shared state lives and what to do when it cannot be reached.

    ``url``: the Redis server (``redis://``, ``rediss://`` or ``unix://``); ``key_prefix``:
    the start of every key written (processes share limits only under the same prefix);
    ``on_store_failure``: ``local`` (default: go on with this process's own limits until Redis
    answers again) or ``fail`` (calls fail while Redis cannot be reached);
    ``timeout_seconds``: the longest one Redis step may take (default 0.25);
    ``reconnect_seconds``: how long to stay on local limits before trying Redis again.
    """

    address: RedisAddress
    key_prefix: str = "agentflow"
    on_store_failure: Literal["local", "fail"] = "local"
    timeout_seconds: float = 0.25
    reconnect_seconds: float = 1.0

    @classmethod
    def parse(cls, section: Mapping[str, Any], env: Mapping[str, str] | None = None
              ) -> RedisSettings | None:
        """The settings of ``section`` (``plugins.redis``); ``None`` when no URL is set
        there nor in ``AGENTFLOW_REDIS_URL`` (the plugin then stays out of the way).

        :raises SettingProblem: naming the key that is wrong.
        """
        if not isinstance(section, Mapping):
            raise SettingProblem("", f"must be a mapping of settings, got {section!r}")
        for key in section:
            if key not in _KEYS:
                raise SettingProblem(str(key), f"unknown key; keys here are: {', '.join(_KEYS)}",
                                     anchor="key")
        env = os.environ if env is None else env
        url = section.get("url", env.get(URL_ENV) or None)
        if url is None:
            return None
        if not isinstance(url, str):
            raise SettingProblem("url", f"must be a redis:// URL, got {type(url).__name__}")
        try:
            address = RedisAddress.parse(url)
        except ValueError as exc:  # the message never repeats the URL: it may hold a password
            raise SettingProblem("url", str(exc)) from None
        prefix = section.get("key_prefix", "agentflow")
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise SettingProblem("key_prefix", "must be 1 to 100 letters, digits or _ . : - { }, "
                                 f"got {prefix!r}")
        policy = section.get("on_store_failure", "local")
        if policy not in ("local", "fail"):
            raise SettingProblem("on_store_failure", f"must be local or fail, got {policy!r}")
        timeout = _seconds(section, "timeout_seconds", 0.25)
        reconnect = _seconds(section, "reconnect_seconds", 1.0)
        return cls(address=address, key_prefix=prefix, on_store_failure=policy,
                   timeout_seconds=timeout, reconnect_seconds=reconnect)

    @classmethod
    def of(cls, config: Config, name: str = "redis") -> RedisSettings | None:
        """The settings in ``config.plugins[name]``; a bad one raises the configuration's
        located :class:`~agentflow.errors.ConfigurationError`."""
        section = config.plugins.get(name, {})
        try:
            return cls.parse(section if section is not None else {})
        except SettingProblem as problem:
            path = ("plugins", name, problem.key) if problem.key else ("plugins", name)
            raise config.setting_error(path, str(problem), anchor=problem.anchor) from None


def _seconds(section: Mapping[str, Any], key: str, default: float) -> float:
    value = section.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value <= 0):
        raise SettingProblem(key, f"must be a number of seconds greater than 0, got {value!r}")
    return float(value)
