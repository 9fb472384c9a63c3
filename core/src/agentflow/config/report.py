"""Located validation results: :class:`Issue` and :class:`ValidationReport`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import attrs

__all__ = ["Issue", "ValidationReport"]


@attrs.frozen(kw_only=True)
class Issue:
    """One problem in a configuration file, at a 1-based line and column.

    ``path`` is the dotted path of the offending key (``models.gpt-4o.temperature``), empty
    for problems of the file as a whole (a YAML syntax error). ``str(issue)`` is the line
    ``agentflow validate`` prints::

        agentflow.yml:12:5: models.gpt-4o.temperature: must be between 0 and 2, got 3.5
        agentflow.yml:20:18: warning: providers.openai.api_key_env: OPENAI_API_KEY is not set
    """

    file: str
    path: str
    line: int
    column: int
    message: str
    severity: Literal["error", "warning"] = "error"

    @property
    def is_error(self) -> bool:
        """Whether this issue makes the file unusable (warnings do not)."""
        return self.severity == "error"

    def __str__(self) -> str:
        label = "warning: " if self.severity == "warning" else ""
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {label}{where}{self.message}"


def _ordered(issues: Iterable[Issue]) -> tuple[Issue, ...]:
    return tuple(sorted(issues, key=lambda i: (i.line, i.column, not i.is_error, i.path,
                                               i.message)))


@attrs.frozen(kw_only=True)
class ValidationReport:
    """Every problem found in one configuration file, sorted by line and column.

    The file is valid (:attr:`is_valid`) when no issue is an error; warnings (an API key
    variable that is not set, say) are reported but do not stop the file from loading.
    """

    file: str
    issues: tuple[Issue, ...] = attrs.field(default=(), converter=_ordered)

    @property
    def is_valid(self) -> bool:
        """True when no issue is an error."""
        return not any(issue.is_error for issue in self.issues)

    @property
    def errors(self) -> tuple[Issue, ...]:
        """The issues that are errors."""
        return tuple(issue for issue in self.issues if issue.is_error)

    @property
    def warnings(self) -> tuple[Issue, ...]:
        """The issues that are warnings."""
        return tuple(issue for issue in self.issues if not issue.is_error)

    def format(self) -> str:
        """One line per issue, as ``agentflow validate`` prints them (empty when none)."""
        return "\n".join(str(issue) for issue in self.issues)
