"""The exporter's settings (``plugins.otel`` in agentflow.yml, or constructor arguments),
checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

__all__ = ["OTelSettings", "SettingProblem"]


class SettingProblem(ValueError):
    """A setting that cannot be used: ``key`` (``None`` for the section itself) and why."""

    def __init__(self, key: str | None, message: str, anchor: Literal["key", "value"]) -> None:
        super().__init__(message)
        self.key, self.message, self.anchor = key, message, anchor


@attrs.frozen(kw_only=True)
class OTelSettings:
    """``enabled``, ``spans``, ``metrics`` (each default true) and ``capture_text`` (default
    false: prompts and answers go into spans only with it on *and* the core's
    ``observability.include_text`` on, which puts them into events in the first place)."""

    enabled: bool = True
    spans: bool = True
    metrics: bool = True
    capture_text: bool = False

    @classmethod
    def parse(cls, section: Mapping[str, Any] | None) -> OTelSettings:
        """The settings in ``section`` (``None``, an empty ``otel:``, means the defaults).

        :raises SettingProblem: naming the key that cannot be used.
        """
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise SettingProblem(None, f"must be a mapping of settings, got {section!r}",
                                 "value")
        names = [field.name for field in attrs.fields(cls)]
        values: dict[str, bool] = {}
        for key, value in section.items():
            if key not in names:
                raise SettingProblem(str(key), f"unknown key; keys here are: {', '.join(names)}",
                                     "key")
            if not isinstance(value, bool):
                raise SettingProblem(key, f"must be true or false, got {value!r}", "value")
            values[key] = value
        return cls(**values)
