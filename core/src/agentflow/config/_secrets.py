"""Keeping credentials out of configuration files.

API keys are read only from the environment variable a provider names with ``api_key_env``.
A key in a file ends up in version control, backups and screenshots; so any key *named* like
a credential is refused wherever it appears, and an ``api_key_env`` whose value looks like a key
rather than a variable name is refused too. Messages never repeat the value.
"""

from __future__ import annotations

import re
from typing import Any

from agentflow.config._problems import Path, Problem

REFUSAL = ("API keys are never read from files; put the key in an environment variable and "
           "name it with api_key_env")

#: Normalised names (lower case, separators removed) that are credentials on their own.
_SECRET_NAMES = frozenset({
    "apikey", "key", "token", "secret", "password", "passwd", "passphrase", "authorization",
    "bearer", "credential", "credentials", "accesskey", "privatekey", "secretkey",
})
#: Endings that make a compound name a credential (``openai_api_key``, ``client_secret``).
_SECRET_SUFFIXES = ("apikey", "secret", "password", "passwd", "accesstoken", "authtoken",
                    "apitoken", "bearertoken", "refreshtoken", "sessiontoken", "secretkey",
                    "privatekey", "accesskey")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: How well-known keys start. Case matters: ``hf_`` is a key, ``HF_TOKEN`` a variable name.
_KEY_PREFIXES = ("sk-", "sk_", "pk-", "pk_", "rk-", "xai-", "gsk_", "hf_", "ghp_",
                 "github_pat_", "glpat-", "AIza", "Bearer ", "bearer ", "ya29.")


def is_secret_key_name(name: object) -> bool:
    """Whether a mapping key is named like a credential (``api_key``, ``token``, ...).

    ``api_key_env``, ``max_tokens`` and ``tokens_per_minute`` are not credentials.
    """
    if not isinstance(name, str):
        return False
    normal = re.sub(r"[^a-z0-9]", "", name.lower())
    return normal in _SECRET_NAMES or normal.endswith(_SECRET_SUFFIXES)


def env_name_from(provider: str) -> str:
    """A conventional variable name for ``provider``'s key: ``local-vllm`` -> LOCAL_VLLM_API_KEY."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", provider).strip("_").upper() or "PROVIDER"
    return f"{stem}_API_KEY"


def has_key_prefix(value: str) -> bool:
    """Whether ``value`` starts the way well-known keys start (``sk-``, ``AIza``, ``hf_``...)."""
    return value.startswith(_KEY_PREFIXES)


def looks_like_a_key(value: str) -> bool:
    """Whether ``value`` looks like a credential rather than the name of a variable.

    Known key prefixes (``sk-``, ``AIza``, ...) always do; otherwise a long value with digits
    does when it is one unbroken token, mixes letter cases, or is no valid variable name.
    """
    if value.startswith(_KEY_PREFIXES):
        return True
    if len(value) < 20 or not any(char.isdigit() for char in value):
        return False
    mixed_case = any(char.islower() for char in value) and any(char.isupper() for char in value)
    return "_" not in value or mixed_case or not _ENV_NAME.match(value)


def api_key_env_problem(value: str) -> str | None:
    """What is wrong with ``value`` as the name of the variable holding a key, or None."""
    if looks_like_a_key(value):
        return ("looks like an API key itself, not the name of an environment variable; "
                f"{REFUSAL} (export OPENAI_API_KEY=... and write api_key_env: OPENAI_API_KEY)")
    if not _ENV_NAME.match(value):
        return ("must be the name of an environment variable, in UPPER_SNAKE_CASE like "
                "OPENAI_API_KEY")
    return None


#: Mappings whose keys are names chosen by the user (model aliases, provider entries), not
#: settings: a model may well be called "secret-model".
_NAME_LEVELS = frozenset({("models",), ("providers",)})


def strip_literal_keys(data: Any, path: Path = ()) -> tuple[Any, list[Problem]]:
    """``data`` without credential-named keys, and a refusal for each one found.

    The refused entries are left out so that they are not reported again as unknown keys.
    """
    problems: list[Problem] = []
    if isinstance(data, dict):
        result: dict[Any, Any] = {}
        for key, value in data.items():
            child = (*path, key)
            if path not in _NAME_LEVELS and is_secret_key_name(key):
                problems.append(Problem(child, _refusal(path), "key"))
                continue
            result[key], found = strip_literal_keys(value, child)
            problems += found
        return result, problems
    if isinstance(data, list):
        items = []
        for index, value in enumerate(data):
            item, found = strip_literal_keys(value, (*path, index))
            items.append(item)
            problems += found
        return items, problems
    return data, problems


def _refusal(path: Path) -> str:
    if len(path) >= 2 and path[0] == "providers" and isinstance(path[1], str):
        example = env_name_from(path[1])
        return f"refused: {REFUSAL} (api_key_env: {example}, then export {example}=...)"
    return f"refused: {REFUSAL}"


def unset_phrase(variables: tuple[str, ...]) -> str:
    """``A is not set``, ``neither A nor B is set``, ``none of A, B, C is set``."""
    if len(variables) == 1:
        return f"{variables[0]} is not set"
    if len(variables) == 2:
        return f"neither {variables[0]} nor {variables[1]} is set"
    return f"none of {', '.join(variables)} is set"
