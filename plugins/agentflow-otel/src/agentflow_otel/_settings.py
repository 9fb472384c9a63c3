"""``plugins.otel`` in agentflow.yml, checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from agentflow.errors import ConfigurationError

__all__ = ["OTelSettings"]


@attrs.frozen
class OTelSettings:
    """``enabled``, ``spans``, ``metrics`` (each default true) and ``capture_text`` (default
    false: prompts and answers go into spans only with it on *and* the core's
    ``observability.include_text`` on, which puts them into events in the first place)."""

    enabled: bool = True
    spans: bool = True
    metrics: bool = True
    capture_text: bool = False

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> OTelSettings:
        """The settings in ``section``; :class:`ConfigurationError` names a bad key."""
        names = [field.name for field in attrs.fields(cls)]
        values: dict[str, bool] = {}
        for key, value in section.items():
            if key not in names:
                raise ConfigurationError(
                    f"plugins.otel.{key}: unknown key; keys here are: {', '.join(names)}")
            if not isinstance(value, bool):
                raise ConfigurationError(f"plugins.otel.{key} must be true or false, got "
                                         f"{value!r}")
            values[key] = value
        return cls(**values)
