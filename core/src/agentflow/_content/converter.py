"""The one cattrs converter agentflow structures tool arguments and structured answers with.

Built on first use (cattrs is not imported with ``agentflow``). Besides cattrs' own rules it
reads and writes ``datetime``, ``date`` and ``time`` as ISO 8601 text, as their JSON Schema
(``format: date-time`` and friends) tells the model to write them.
"""

from __future__ import annotations

import datetime
import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import cattrs

__all__ = ["converter"]


@functools.cache
def converter() -> cattrs.Converter:
    """The shared converter (thread-safe once built: hooks are registered only here)."""
    import cattrs

    made = cattrs.Converter(forbid_extra_keys=True)
    for kind in (datetime.datetime, datetime.date, datetime.time):
        made.register_structure_hook(
            kind, lambda value, cls: value if isinstance(value, cls) else cls.fromisoformat(value))
        made.register_unstructure_hook(kind, lambda value: value.isoformat())
    return made
