"""``${VAR}`` and ``${VAR:-default}`` in string values, from the environment.

``${VAR}`` is replaced by the variable's value and is an error when the variable is not set;
``${VAR:-default}`` falls back to ``default`` when it is unset or empty; ``$${`` stands for a
literal ``${``. Substitution happens once, in values only (never in keys), and a substituted
value is not scanned again. The result is always a string: a number such as
``timeout_seconds`` must be written literally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentflow.config._problems import Path, Problem

__all__ = ["InterpolationError", "expand", "expand_tree"]

_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\})?")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?\Z", re.DOTALL)


class InterpolationError(ValueError):
    """A ``${...}`` reference that cannot be expanded; the message never holds a value."""


def expand(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with every ``${...}`` reference replaced from ``environ``.

    :raises InterpolationError: for an unset variable without default or a malformed
        reference (the first one found).
    """
    if "$" not in text:
        return text
    return _TOKEN.sub(lambda match: _replacement(match, environ), text)


def _replacement(match: re.Match[str], environ: Mapping[str, str]) -> str:
    if match.group(0) == "$${":
        return "${"
    body = _BODY.match(match.group("body"))
    if match.group("close") is None or body is None:
        raise InterpolationError(
            "malformed ${...} reference: write ${NAME} or ${NAME:-default}, or $${ for a "
            "literal ${")
    name, default = body.group("name"), body.group("default")
    value = environ.get(name)
    if default is not None:
        return value if value else default
    if value is None:
        raise InterpolationError(
            f"environment variable {name} is not set; export {name}=... or write "
            f"${{{name}:-default}}")
    return value


def expand_tree(data: Any, environ: Mapping[str, str], path: Path = ()
                ) -> tuple[Any, list[Problem]]:
    """``data`` with every string value expanded, and a problem per failed reference.

    A mapping entry whose value cannot be expanded is left out of the result, so that it is
    reported once, here, and not again as a wrong value later.
    """
    problems: list[Problem] = []
    if isinstance(data, str):
        try:
            return expand(data, environ), problems
        except InterpolationError as exc:
            return data, [Problem(path, str(exc))]
    if isinstance(data, dict):
        result: dict[Any, Any] = {}
        for key, value in data.items():
            expanded, found = expand_tree(value, environ, (*path, key))
            if found and isinstance(value, str):
                problems.extend(found)
                continue
            result[key] = expanded
            problems.extend(found)
        return result, problems
    if isinstance(data, list):
        items: list[Any] = []
        for index, value in enumerate(data):
            expanded, found = expand_tree(value, environ, (*path, index))
            items.append(expanded)
            problems.extend(found)
        return items, problems
    return data, problems
