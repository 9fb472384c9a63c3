"""PromptGuard: the plugin object, and its settings from ``plugins.guard``."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from agentflow.errors import ConfigurationError, ValidationError
from agentflow.hookspecs import hookimpl
from agentflow_guard._rules import BUILTIN_REDACTIONS, DenyRule, Redaction

if TYPE_CHECKING:
    from agentflow.config import Config
    from agentflow.types import ModelSettings, Request

__all__ = ["PromptGuard", "PromptRejectedError"]

logger = logging.getLogger("agentflow.guard")

DEFAULT_REPLACEMENT = "[REDACTED:{name}]"
_KEYS = ("enabled", "max_prompt_chars", "redact", "deny", "replacement")


class PromptRejectedError(ValidationError):
    """The guard refused a prompt; nothing was sent. ``rule`` names the rule that fired and
    ``message_index`` the message it fired on (the matched text is never repeated)."""

    def __init__(self, message: str, *, rule: str, message_index: int | None = None,
                 **context: Any) -> None:
        super().__init__(message, parameter="messages", **context)
        self.rule = rule
        self.message_index = message_index


class PromptGuard:
    """Enforces a prompt size limit, redacts secrets and personal data, and refuses prompts
    that match deny rules, before any vendor plugin sees the request.

    It acts through the ``agentflow_prepare_request`` hook, the one every cross-cutting plugin
    can use: size and deny rules are checked on the prompt as written, then the redactions
    replace what they match with ``[REDACTED:<name>]``. The API key of the provider being
    called is always redacted when ``api_keys`` is on.
    """

    def __init__(self, *, max_prompt_chars: int | None = None,
                 redact: Iterable[str | Mapping[str, str]] = ("api_keys",),
                 deny: Iterable[str | Mapping[str, str]] = (),
                 replacement: str = DEFAULT_REPLACEMENT, enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self._apply(_Settings.build(enabled=enabled, max_prompt_chars=max_prompt_chars,
                                    redact=redact, deny=deny, replacement=replacement,
                                    where="PromptGuard"))

    # hooks ------------------------------------------------------------------------------------

    @hookimpl
    def agentflow_configure(self, config: Config) -> None:
        """Apply ``plugins.guard`` (the defaults when the section is absent)."""
        section = config.plugins.get("guard", {})
        unknown = [key for key in section if key not in _KEYS]
        if unknown:
            raise ConfigurationError(f"plugins.guard.{unknown[0]}: unknown key; keys here are: "
                                     f"{', '.join(_KEYS)}")
        self._apply(_Settings.build(where="plugins.guard", **section))

    @hookimpl
    def agentflow_prepare_request(self, request: Request, settings: ModelSettings
                                  ) -> Request | None:
        """Refuse, or return the request with its messages redacted (``None``: unchanged)."""
        rules = self._settings
        if not rules.enabled:
            return None
        context = {"provider": settings.provider, "model": settings.name}
        self._check(request, rules, context)
        redactions = list(rules.redactions)
        if rules.redact_keys and settings.api_key is not None:
            own_key = Redaction.of_values("api_key", [settings.api_key.reveal()])
            if own_key is not None:
                redactions.insert(0, own_key)
        if not redactions:
            return None
        counts: dict[str, int] = {}
        messages = []
        for message in request.messages:
            content = message.content
            for redaction in redactions:
                content, count = redaction.apply(content, rules.replacement)
                if count:
                    counts[redaction.name] = counts.get(redaction.name, 0) + count
            messages.append(message if content == message.content
                            else attrs.evolve(message, content=content))
        if not counts:
            return None
        with self._lock:
            for name, count in counts.items():
                self.counts[name] = self.counts.get(name, 0) + count
        logger.info("redacted %s before sending to %s",
                    ", ".join(f"{count} {name}" for name, count in sorted(counts.items())),
                    settings.provider)
        return attrs.evolve(request, messages=tuple(messages))

    # helpers ----------------------------------------------------------------------------------

    def _apply(self, settings: _Settings) -> None:
        self._settings = settings

    @staticmethod
    def _check(request: Request, rules: _Settings, context: dict[str, Any]) -> None:
        size = sum(len(message.content) for message in request.messages)
        limit = rules.max_prompt_chars
        if limit is not None and size > limit:
            logger.warning("refused a prompt of %d characters (limit %d) to %s", size, limit,
                           context["provider"])
            raise PromptRejectedError(
                f"the prompt has {size} characters, over the guard's limit of {limit} "
                "(plugins.guard.max_prompt_chars); shorten it or raise the limit",
                rule="max_prompt_chars", **context)
        for index, message in enumerate(request.messages):
            for rule in rules.deny:
                if rule.matches(message.content):
                    logger.warning("refused a prompt to %s: deny rule %s matched message %d",
                                   context["provider"], rule.name, index)
                    raise PromptRejectedError(
                        f"the prompt was refused by the guard's deny rule {rule.name} "
                        f"(message {index}, {message.role}): {rule.message}",
                        rule=rule.name, message_index=index, **context)


@attrs.frozen
class _Settings:
    enabled: bool
    max_prompt_chars: int | None
    redactions: tuple[Redaction, ...]
    redact_keys: bool
    deny: tuple[DenyRule, ...]
    replacement: str

    @classmethod
    def build(cls, *, where: str, enabled: Any = True, max_prompt_chars: Any = None,
              redact: Any = ("api_keys",), deny: Any = (),
              replacement: Any = DEFAULT_REPLACEMENT) -> _Settings:
        if not isinstance(enabled, bool):
            raise ConfigurationError(f"{where}.enabled must be true or false, got {enabled!r}")
        if max_prompt_chars is not None and (isinstance(max_prompt_chars, bool) or not isinstance(
                max_prompt_chars, int) or max_prompt_chars <= 0):
            raise ConfigurationError(f"{where}.max_prompt_chars must be a whole number greater "
                                     f"than 0, got {max_prompt_chars!r}")
        if not isinstance(replacement, str):
            raise ConfigurationError(f"{where}.replacement must be text, got {replacement!r}")
        redactions = tuple(_redaction(item, f"{where}.redact[{index}]")
                           for index, item in enumerate(_sequence(redact, f"{where}.redact")))
        rules = tuple(_deny_rule(item, f"{where}.deny[{index}]", index)
                      for index, item in enumerate(_sequence(deny, f"{where}.deny")))
        names = [redaction.name for redaction in redactions]
        return cls(enabled=enabled, max_prompt_chars=max_prompt_chars, redactions=redactions,
                   redact_keys="api_key" in names, deny=rules, replacement=replacement)


def _sequence(value: Any, where: str) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"{where} must be a list, got {value!r}")
    return value


def _compile(pattern: Any, where: str) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigurationError(f"{where} must be a regular expression, got {pattern!r}")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigurationError(f"{where} is not a valid regular expression: {exc}") from None


def _redaction(item: Any, where: str) -> Redaction:
    if isinstance(item, str):
        found = BUILTIN_REDACTIONS.get(item)
        if found is None:
            raise ConfigurationError(f"{where}: unknown redaction {item!r}; built in are "
                                     f"{', '.join(BUILTIN_REDACTIONS)}, or give "
                                     "{name: ..., pattern: ...}")
        return found
    if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
        return Redaction(item["name"], _compile(item.get("pattern"), f"{where}.pattern"))
    raise ConfigurationError(f"{where} must be a built-in name or {{name: ..., pattern: ...}}, "
                             f"got {item!r}")


def _deny_rule(item: Any, where: str, index: int) -> DenyRule:
    if isinstance(item, str):
        return DenyRule(f"deny[{index}]", _compile(item, where), "this content is not allowed")
    if isinstance(item, Mapping):
        message = item.get("message", "this content is not allowed")
        if not isinstance(message, str):
            raise ConfigurationError(f"{where}.message must be text, got {message!r}")
        name = item.get("name", f"deny[{index}]")
        return DenyRule(str(name), _compile(item.get("pattern"), f"{where}.pattern"), message)
    raise ConfigurationError(f"{where} must be a regular expression or "
                             f"{{pattern: ..., message: ...}}, got {item!r}")
