"""PromptGuard: checks and redacts a request's messages, and which guard acts on a call.

The installed guard (the entry point's, configured from ``plugins.guard``) and guards
registered in code must not both act on one call. A guard registered in code runs first
(``tryfirst``) and notes, in a context variable, the call it checked; the installed guard runs
last (``trylast``) and stands aside for that call. The note is the call's ``settings`` object,
which the core hands to every plugin of one call's chain, and the guard that checked it. A note
that a failed chain left behind is harmless: the next chain through a guard in code replaces
it, and one without such a guard only honours it for that very settings object, in the same
task, while the guard that left it is alive and enabled.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import attrs

from agentflow.errors import ConfigurationError
from agentflow.hookspecs import hookimpl
from agentflow_guard._errors import PromptRejectedError
from agentflow_guard._rules import Redaction, key_redaction
from agentflow_guard._settings import (
    CONFIG_SECTION,
    DEFAULT_REPLACEMENT,
    DEFAULT_TIME_BUDGET_MS,
    GuardRules,
    SettingProblem,
    key_variables,
    parse_rules,
)
from agentflow_guard._text import Normalised
from agentflow_guard._walk import Where, rewrite

if TYPE_CHECKING:
    from agentflow.config import Config
    from agentflow.types import Message, ModelSettings, Request

__all__ = ["PromptGuard", "installed_guard_stands_aside"]

logger = logging.getLogger("agentflow.guard")

#: Characters per token of the estimate ``max_prompt_tokens`` is checked on: the core's rate
#: limits estimate with the same figure (``agentflow._limits.rates``, not imported: it pulls anyio).
CHARS_PER_TOKEN = 4

_checked_in_code: ContextVar[tuple[ModelSettings, weakref.ref[PromptGuard]] | None] = (
    ContextVar("agentflow_guard_checked_in_code", default=None))


def installed_guard_stands_aside(settings: ModelSettings) -> bool:
    """Whether a guard registered in code has checked the call being prepared for
    ``settings``; the note is used up either way."""
    note = _checked_in_code.get()
    if note is None:
        return False
    _checked_in_code.set(None)
    checked, guard = note[0], note[1]()
    return checked is settings and guard is not None and guard.enabled


class PromptGuard:
    """Enforces a prompt size limit, refuses prompts that match deny rules and redacts secrets
    and personal data, before any vendor plugin sees the request.

    Built in code, it enforces what it was given, and registering it
    (``AgentFlow.register_plugin(PromptGuard(...))``) makes it act on every call in place of
    the installed guard. The installed one, :data:`agentflow_guard.GUARD`, is a
    ``PromptGuard`` too, configured from ``plugins.guard`` by :meth:`configure`.

    :param enabled: ``False``: do nothing (and leave the calls to the installed guard).
    :param max_prompt_chars: refuse a prompt whose messages hold more characters in all.
    :param max_prompt_tokens: refuse a prompt of more tokens, estimated at four characters a
        token.
    :param redact: built-in redactions by name (``api_keys``, ``emails``, ``card_numbers``) or
        ``{"name": ..., "pattern": ...}`` for your own (a case-insensitive regular expression).
    :param deny: regular expressions, or ``{"name": ..., "pattern": ..., "message": ...}``, of
        prompts to refuse.
    :param replacement: what a redacted match becomes; ``{name}`` is the redaction's name.
    :param time_budget_ms: refuse a request that takes longer than this to check.
    :param clock: the clock the time budget is measured on (seconds; tests pass their own).
    :raises ConfigurationError: for a setting it cannot use, naming it.
    """

    def __init__(self, *, enabled: bool = True, max_prompt_chars: int | None = None,
                 max_prompt_tokens: int | None = None,
                 redact: Iterable[str | Mapping[str, str]] = ("api_keys",),
                 deny: Iterable[str | Mapping[str, str]] = (),
                 replacement: str = DEFAULT_REPLACEMENT,
                 time_budget_ms: int = DEFAULT_TIME_BUDGET_MS,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        arguments = {"enabled": enabled, "max_prompt_chars": max_prompt_chars,
                     "max_prompt_tokens": max_prompt_tokens, "redact": _listed(redact),
                     "deny": _listed(deny), "replacement": replacement,
                     "time_budget_ms": time_budget_ms}
        self._clock = clock
        try:
            self._rules = parse_rules(arguments, origin="PromptGuard")
        except SettingProblem as problem:
            where = ".".join(str(step) for step in problem.path)
            raise ConfigurationError(f"PromptGuard {where}: {problem.message}") from None
        self._lock = threading.Lock()
        #: Redactions made so far, by redaction name (``{"email": 3}``).
        self.counts: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        """Whether this guard acts at all."""
        return self._rules.enabled

    def configure(self, config: Config) -> None:
        """Take the rules of ``plugins.guard`` in ``config`` (the defaults where it is silent),
        as the installed guard does whenever a configuration becomes active.

        :raises ConfigurationError: for a setting it cannot use, located in the file.
        """
        self._rules = attrs.evolve(rules_of(config), key_variables=key_variables(config))

    # hooks, for a guard registered in code -------------------------------------------------

    @hookimpl
    def agentflow_configure(self, config: Config) -> None:
        """Keep this guard's own rules; learn only which variables hold the configured
        providers' API keys, whose values are redacted with ``api_keys``."""
        self._rules = attrs.evolve(self._rules, key_variables=key_variables(config))

    @hookimpl(tryfirst=True)
    def agentflow_prepare_request(self, request: Request, settings: ModelSettings
                                  ) -> Request | None:
        """:meth:`prepare` the request, before other plugins, and note that the installed
        guard need not."""
        prepared = self.prepare(request, settings)
        if self._rules.enabled:
            _checked_in_code.set((settings, weakref.ref(self)))
        return prepared

    # the work ------------------------------------------------------------------------------

    def prepare(self, request: Request, settings: ModelSettings) -> Request | None:
        """Refuse ``request``, or return it with what it sends redacted (``None``: unchanged).

        The size limits look at the messages' text as written. Then every text the request
        sends (:mod:`agentflow_guard._walk`) is normalised (:mod:`agentflow_guard._text`),
        checked against the deny rules and redacted.

        :raises PromptRejectedError: when a limit or a deny rule refuses the prompt, or when
            checking it takes longer than the time budget.
        """
        rules = self._rules
        if not rules.enabled:
            return None
        _check_size(request.messages, rules, settings)
        redactions = _redactions(rules, settings)
        counts: dict[str, int] = {}
        deadline = self._clock() + rules.time_budget_ms / 1000

        def visit(text: str, where: Where) -> str:
            if not text:
                return text
            if self._clock() > deadline:
                raise _over_budget(rules, settings)
            return _checked(text, where, rules, redactions, counts, settings)

        changed = rewrite(request, visit)
        if not counts:
            return None
        with self._lock:
            for name, count in counts.items():
                self.counts[name] = self.counts.get(name, 0) + count
        logger.info("redacted %s before sending to %s",
                    ", ".join(f"{count} {name}" for name, count in sorted(counts.items())),
                    settings.provider)
        return changed


def _listed(value: Iterable[Any]) -> Any:
    """A list of the items, but a string as it is (so that it is reported, not split)."""
    return value if isinstance(value, str | Mapping) else list(value)


def _context(settings: ModelSettings) -> dict[str, Any]:
    return {"provider": settings.provider, "model": settings.name}


def _check_size(messages: tuple[Message, ...], rules: GuardRules,
                settings: ModelSettings) -> None:
    size = sum(len(message.text) for message in messages)
    for rule, limit, amount, unit in (
            ("max_prompt_chars", rules.max_prompt_chars, size, "characters"),
            ("max_prompt_tokens", rules.max_prompt_tokens, math.ceil(size / CHARS_PER_TOKEN),
             f"tokens (estimated: {size} characters at {CHARS_PER_TOKEN} a token)")):
        if limit is not None and amount > limit:
            logger.warning("refused a prompt to %s: %d %s, over the limit of %d",
                           settings.provider, amount, unit.split()[0], limit)
            raise PromptRejectedError(
                f"the prompt has {amount} {unit}, over the guard's limit of {limit} "
                f"({rules.setting(rule)}); shorten it or raise the limit. Nothing was sent",
                rule=rule, **_context(settings))


def _over_budget(rules: GuardRules, settings: ModelSettings) -> PromptRejectedError:
    logger.warning("refused a prompt to %s: checking it took over %d ms", settings.provider,
                   rules.time_budget_ms)
    return PromptRejectedError(
        f"the guard could not check the prompt within its time budget of "
        f"{rules.time_budget_ms} ms ({rules.setting('time_budget_ms')}); shorten the prompt "
        "or raise the budget. Nothing was sent", rule="time_budget_ms", **_context(settings))


def _checked(text: str, where: Where, rules: GuardRules, redactions: tuple[Redaction, ...],
             counts: dict[str, int], settings: ModelSettings) -> str:
    """``text`` redacted, after the deny rules found nothing in it (all on its normalised
    form; the redactions are mapped back to the text as written)."""
    normal = Normalised(text)
    for deny in rules.deny:
        if deny.matches(normal.text):
            shown = (f"message {where.message_index} ({where.role})"
                     if where.message_index is not None else where.label)
            logger.warning("refused a prompt to %s: deny rule %s matched %s",
                           settings.provider, deny.name, shown)
            raise PromptRejectedError(
                f"the prompt was refused by the guard's deny rule {deny.name!r} "
                f"({where.label}): {deny.message}. Nothing was sent",
                rule=deny.name, message_index=where.message_index, role=where.role,
                **_context(settings))
    found = sorted((start, rank, end, redaction.name)
                   for rank, redaction in enumerate(redactions)
                   for start, end in redaction.find(normal.text))
    if not found:
        return text
    pieces: list[str] = []
    last = 0
    for start, _, end, name in found:
        start, end = normal.span(start, end)
        if start < last:  # overlaps what another redaction took: that one grows to cover it
            last = max(last, end)
            continue
        pieces += (text[last:start], rules.replacement.format(name=name))
        counts[name] = counts.get(name, 0) + 1
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


#: Environment variables whose names say they hold a credential: their values are redacted
#: as keys in use, for providers that do not name their ``api_key_env`` too.
_CREDENTIAL_SUFFIXES = ("API_KEY", "APIKEY", "_TOKEN", "_SECRET", "SECRET_KEY", "ACCESS_KEY")


def keys_in_use(rules: GuardRules, settings: ModelSettings) -> tuple[str, ...]:
    """The API keys in use: the called provider's, those in the variables the configured
    providers name, and those in every variable named like a credential (``*_API_KEY``,
    ``*_TOKEN``, ``*_SECRET``...) whose value looks like a key, without surrounding
    whitespace. Every value is read at each call: a key rotated in the environment is
    redacted from the next request on."""
    keys = {os.environ.get(name, "").strip() for name in rules.key_variables}
    for name in _credential_variables():
        value = os.environ.get(name, "").strip()
        if _random_looking(value):
            keys.add(value)
    if settings.api_key is not None:
        keys.add(settings.api_key.reveal())
    return tuple(sorted(key for key in keys if len(key) >= 8))


#: The environment's variable names when :func:`_credential_variables` last looked, and which
#: of them are named like a credential.
_credential_names: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


def _credential_variables() -> tuple[str, ...]:
    """The names of the environment variables named like a credential, looked for again
    whenever the variables' names change (one added, removed or renamed). Listing the names
    costs a fifth of decoding every variable with its value and testing it, as a scan does,
    which was most of a guarded request's cost."""
    global _credential_names
    current = tuple(os.environ)
    seen, names = _credential_names
    if current != seen:
        names = tuple(name for name in current if name.upper().endswith(_CREDENTIAL_SUFFIXES))
        _credential_names = (current, names)
    return names


def _random_looking(value: str) -> bool:
    """Whether a value found by its variable's name alone looks like a key, not a word or a
    setting (``SOME_TOKEN=disabled``): a digit, both cases of letters, or 16 characters."""
    return len(value) >= 16 or (any(char.isdigit() for char in value)
                                and any(char.isalpha() for char in value)) or (
        any(char.isupper() for char in value) and any(char.islower() for char in value))


def _redactions(rules: GuardRules, settings: ModelSettings) -> tuple[Redaction, ...]:
    """The rules' redactions, led by one of the API keys in use when ``api_keys`` is on."""
    if not rules.redacts_keys:
        return rules.redactions
    own = _key_redaction(keys_in_use(rules, settings))
    return rules.redactions if own is None else (own, *rules.redactions)


#: The redaction of the keys in use, made again only when they change (it compiles a pattern
#: of every key's encoded forms).
_key_redaction = functools.lru_cache(maxsize=16)(key_redaction)


def rules_of(config: Config) -> GuardRules:
    """The rules of ``plugins.guard`` in ``config`` (the defaults where it is silent).

    :raises ConfigurationError: for a setting the guard cannot use, located in the file.
    """
    section = config.plugins.get("guard") or {}
    try:
        return parse_rules(section, origin=CONFIG_SECTION)
    except SettingProblem as problem:
        raise config.setting_error(("plugins", "guard", *problem.path), problem.message,
                                   anchor=problem.anchor) from None
