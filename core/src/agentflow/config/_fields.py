"""The metadata every configuration setting carries: its documentation and its limits.

One :class:`Setting` per attrs field drives three things, so they cannot drift apart: the
checks applied while structuring a file, the JSON Schema, and the reference documentation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

SETTING_KEY = "agentflow.config.setting"

#: A check of one well-typed value: returns what is wrong with it, or None.
Check = Callable[[Any], "str | None"]


@attrs.frozen(kw_only=True)
class Setting:
    """Documentation and limits of one configuration key.

    ``minimum`` and ``maximum`` are inclusive, ``above`` is an exclusive lower bound.
    ``check`` validates a value that already has the right type; ``schema`` adds JSON Schema
    keywords (``pattern``, ``format``, ``examples``).
    """

    doc: str
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    check: Check | None = None
    schema: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def has_limits(self) -> bool:
        """Whether a numeric range applies."""
        return self.minimum is not None or self.maximum is not None or self.above is not None

    def problem(self, value: Any) -> str | None:
        """What is wrong with the well-typed ``value``, or None if it is acceptable."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            message = self._range_problem(value)
            if message:
                return message
        return self.check(value) if self.check is not None else None

    def _range_problem(self, value: float) -> str | None:
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        low, high = self.minimum, self.maximum
        if low is not None and high is not None and not low <= value <= high:
            return f"must be between {low:g} and {high:g}, got {value!r}"
        if low is not None and high is None and value < low:
            return f"must be at least {low:g}, got {value!r}"
        if self.above is not None and value <= self.above:
            return f"must be greater than {self.above:g}, got {value!r}"
        return None


def setting(
    doc: str,
    *,
    default: Any = None,
    factory: Callable[[], Any] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    check: Check | None = None,
    schema: Mapping[str, Any] | None = None,
    required: bool = False,
) -> Any:
    """An attrs field that is a configuration key documented by ``doc``.

    A ``required`` key has no default: a section that sets any key must set it.
    """
    meta = {SETTING_KEY: Setting(doc=doc, minimum=minimum, maximum=maximum, above=above,
                                 check=check, schema=dict(schema or {}))}
    if required:
        return attrs.field(metadata=meta)
    if factory is not None:
        return attrs.field(factory=factory, metadata=meta)
    return attrs.field(default=default, metadata=meta)


def setting_of(field: attrs.Attribute[Any]) -> Setting | None:
    """The :class:`Setting` of an attrs field, or None for fields that are not file keys."""
    found = field.metadata.get(SETTING_KEY)
    return found if isinstance(found, Setting) else None


def file_keys(cls: type) -> list[str]:
    """The keys a configuration class accepts in a file, in declaration order."""
    return [field.name for field in attrs.fields(cls) if setting_of(field) is not None]


def required_keys(cls: type) -> list[str]:
    """The keys a configuration class cannot do without, in declaration order."""
    return [field.name for field in attrs.fields(cls)
            if setting_of(field) is not None and field.default is attrs.NOTHING]


def non_empty(value: Any) -> str | None:
    """Check: a string that is not empty or blank."""
    return "must not be empty" if isinstance(value, str) and not value.strip() else None
