"""The guard's settings, from ``plugins.guard`` or from ``PromptGuard(...)``, checked.

Every problem is a :class:`SettingProblem` with the path of the offending key below the
section, so the caller can place it: in the configuration file (``plugins.guard.deny.0``, at
its line and column) or in the constructor call. Messages never repeat a string the user wrote:
a pattern may well be the secret it is meant to redact.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from agentflow_guard._rules import BUILTIN_REDACTIONS, DenyRule, Pattern, Redaction, linear_pattern

if TYPE_CHECKING:
    from agentflow.config import Config

__all__ = ["CONFIG_SECTION", "DEFAULT_REPLACEMENT", "KEYS", "GuardRules", "SettingProblem",
           "key_variables", "parse_rules"]

#: Where the installed guard's settings are, in agentflow.yml.
CONFIG_SECTION = "plugins.guard"
DEFAULT_REPLACEMENT = "[REDACTED:{name}]"
DEFAULT_DENY_MESSAGE = "this content is not allowed"
#: How long the guard may take over one request before it refuses it (milliseconds).
DEFAULT_TIME_BUDGET_MS = 1000
#: The keys of ``plugins.guard``, in the order the documentation lists them.
KEYS = ("enabled", "max_prompt_chars", "max_prompt_tokens", "redact", "deny", "replacement",
        "time_budget_ms")

Path = tuple[str | int, ...]


class SettingProblem(Exception):
    """A setting the guard cannot use: ``path`` below the guard's section, and what is wrong."""

    def __init__(self, path: Path, message: str,
                 anchor: Literal["key", "value"] = "value") -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.anchor = anchor


@attrs.frozen(kw_only=True)
class GuardRules:
    """Everything one guard enforces. ``origin`` names where the settings came from, for
    messages (``plugins.guard`` or ``PromptGuard``); ``key_variables`` are the environment
    variables that hold the configured providers' API keys."""

    origin: str
    enabled: bool = True
    max_prompt_chars: int | None = None
    max_prompt_tokens: int | None = None
    redactions: tuple[Redaction, ...] = (BUILTIN_REDACTIONS["api_keys"],)
    deny: tuple[DenyRule, ...] = ()
    replacement: str = DEFAULT_REPLACEMENT
    time_budget_ms: int = DEFAULT_TIME_BUDGET_MS
    key_variables: tuple[str, ...] = ()

    def setting(self, key: str) -> str:
        """How the user wrote setting ``key``: ``plugins.guard.max_prompt_chars`` or
        ``PromptGuard(max_prompt_chars=...)``."""
        return f"{self.origin}.{key}" if self.origin == CONFIG_SECTION else (
            f"{self.origin}({key}=...)")

    @property
    def redacts_keys(self) -> bool:
        """Whether ``api_keys`` is on, so the keys in use are redacted too."""
        return BUILTIN_REDACTIONS["api_keys"] in self.redactions


def parse_rules(section: Mapping[str, Any], *, origin: str) -> GuardRules:
    """The rules a settings mapping (``plugins.guard``, or the constructor's arguments) asks
    for; keys left out take their defaults.

    :raises SettingProblem: for the first setting that cannot be used.
    """
    for key in section:
        if key not in KEYS:
            raise SettingProblem((key,), _unknown_key(key), anchor="key")
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SettingProblem(("enabled",), f"must be true or false, got {_describe(enabled)}")
    return GuardRules(
        origin=origin,
        enabled=enabled,
        max_prompt_chars=_limit(section, "max_prompt_chars"),
        max_prompt_tokens=_limit(section, "max_prompt_tokens"),
        redactions=tuple(_redaction(item, index) for index, item in
                         enumerate(_items(section.get("redact", ("api_keys",)), "redact"))),
        deny=tuple(_deny_rule(item, index) for index, item in
                   enumerate(_items(section.get("deny", ()), "deny"))),
        replacement=_replacement(section.get("replacement", DEFAULT_REPLACEMENT)),
        time_budget_ms=_limit(section, "time_budget_ms") or DEFAULT_TIME_BUDGET_MS,
    )


def key_variables(config: Config) -> tuple[str, ...]:
    """The environment variables that the configured providers take their API keys from."""
    return tuple(sorted({entry.api_key_env for entry in config.providers.values()
                         if entry.api_key_env}))


def _unknown_key(key: object) -> str:
    close = difflib.get_close_matches(key, KEYS, n=1) if isinstance(key, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}; keys here are: {', '.join(KEYS)}"


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a value of type {type(value).__name__}"


def _limit(section: Mapping[str, Any], key: str) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SettingProblem((key,), "must be a whole number greater than 0, got "
                                     f"{_describe(value)}")
    return value


def _items(value: Any, key: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise SettingProblem((key,), f"must be a list, got {_describe(value)}")
    return value


def _replacement(value: Any) -> str:
    if not isinstance(value, str):
        raise SettingProblem(("replacement",), f"must be text, got {_describe(value)}")
    try:
        value.format(name="x")
    except (KeyError, IndexError, ValueError):
        raise SettingProblem(("replacement",), "may hold {name} (the redaction's name) and no "
                                               "other field in braces; write {{ and }} for "
                                               "braces") from None
    return value


def _pattern(value: Any, path: Path, *, what: str) -> Pattern:
    """``value`` compiled for linear-time matching (RE2), after Python's own parser has
    checked it (whose messages give a position, never the pattern)."""
    if not isinstance(value, str) or not value:
        raise SettingProblem(path, f"must be a regular expression, got {_describe(value)}")
    try:
        re.compile(value, re.IGNORECASE)
    except re.error as exc:  # its message gives a position, never the pattern
        raise SettingProblem(path, f"is not a valid regular expression: {exc}") from None
    try:
        compiled = linear_pattern(value)
    except ValueError as exc:
        raise SettingProblem(path, str(exc)) from None
    if compiled.search("") is not None:
        raise SettingProblem(path, f"matches empty text, so it would {what}")
    return compiled


def _name(item: Mapping[str, Any], path: Path, default: str | None) -> str:
    name = item.get("name", default)
    if not isinstance(name, str) or not name.strip():
        raise SettingProblem((*path, "name"), f"must be a name, got {_describe(name)}")
    return name


def _redaction(item: Any, index: int) -> Redaction:
    path: Path = ("redact", index)
    if isinstance(item, str):
        found = BUILTIN_REDACTIONS.get(item)
        if found is None:
            close = difflib.get_close_matches(item, BUILTIN_REDACTIONS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SettingProblem(path, f"not a built-in redaction; {hint}built in are "
                                       f"{', '.join(BUILTIN_REDACTIONS)}, or give "
                                       "{name: ..., pattern: ...} for your own")
        return found
    if isinstance(item, Mapping):
        _only(item, ("name", "pattern"), path)
        return Redaction(_name(item, path, None),
                         (_pattern(item.get("pattern"), (*path, "pattern"),
                                   what="redact between every two characters"),))
    raise SettingProblem(path, "must be a built-in name or {name: ..., pattern: ...}, got "
                               f"{_describe(item)}")


def _deny_rule(item: Any, index: int) -> DenyRule:
    path: Path = ("deny", index)
    default_name = f"deny[{index}]"
    if isinstance(item, str):
        return DenyRule(default_name, _pattern(item, path, what="refuse every prompt"),
                        DEFAULT_DENY_MESSAGE)
    if isinstance(item, Mapping):
        _only(item, ("name", "pattern", "message"), path)
        message = item.get("message", DEFAULT_DENY_MESSAGE)
        if not isinstance(message, str) or not message.strip():
            raise SettingProblem((*path, "message"), f"must be text, got {_describe(message)}")
        return DenyRule(_name(item, path, default_name),
                        _pattern(item.get("pattern"), (*path, "pattern"),
                                 what="refuse every prompt"), message)
    raise SettingProblem(path, "must be a regular expression or {pattern: ..., message: ...}, "
                               f"got {_describe(item)}")


def _only(item: Mapping[str, Any], allowed: tuple[str, ...], path: Path) -> None:
    for key in item:
        if key not in allowed:
            raise SettingProblem((*path, key), f"unknown key; keys here are: "
                                               f"{', '.join(allowed)}", anchor="key")
