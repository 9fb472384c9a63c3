"""The plugin's model options checked when a configuration becomes active, each problem at its
line in the file (``agentflow_configure``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentflow.config import Config

__all__ = ["check_options"]

#: Option -> the values it takes, and the vendors that read it.
_CHOICES: dict[str, tuple[tuple[str, ...], frozenset[str] | None]] = {
    "api": (("chat", "responses"), None),
    "auth": (("api_key", "bearer"), frozenset({"azure_openai"})),
}


def check_options(config: Config, vendors: frozenset[str]) -> None:
    """Raise the located :class:`~agentflow.errors.ConfigurationError` of the first option
    of a provider entry or model of ``vendors`` that has a value the plugin does not know."""
    for name, entry in config.providers.items():
        if (entry.vendor or name) in vendors:
            _check(config, ("providers", name, "options"), entry.options, entry.vendor or name)
    for alias, model in config.models.items():
        vendor = _vendor_of(config, model.vendor, alias)
        if vendor in vendors:
            _check(config, ("models", alias, "options"), model.options, vendor)


def _vendor_of(config: Config, named: str | None, alias: str) -> str | None:
    if named is None:
        from agentflow_openai._catalog import CATALOG

        return next((info.provider for info in CATALOG if info.name == alias), None)
    entry = config.providers.get(named)
    return (entry.vendor or named) if entry is not None else named


def _check(config: Config, path: Sequence[str], options: Mapping[str, Any], vendor: str) -> None:
    for option, (values, readers) in _CHOICES.items():
        if option not in options or (readers is not None and vendor not in readers):
            continue
        value = options[option]
        if value not in values:
            raise config.setting_error((*path, option), "must be "
                                       + " or ".join(map(repr, values)) + f", got {value!r}")
