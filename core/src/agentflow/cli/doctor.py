"""``agentflow doctor``: which providers work, and why the others do not, on one screen.

Exit status: 0 when every provider that matters is usable, 1 when one is not (or none at all
is), 2 for usage errors. A provider that nobody configured and whose key is unset is shown but
does not fail the command (see :attr:`agentflow._ops.health.ProviderHealth.required`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from agentflow._ops.health import ProviderHealth

__all__ = ["healthy", "render", "run_doctor"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def run_doctor(*, timeout: float, slow_after: float, as_json: bool,
               out: TextIO | None = None) -> int:
    """Check the active configuration's providers, print the results, return the exit status.

    The configuration must be loaded already (``AgentFlow.runtime().load_config(...)``).
    """
    out = out or sys.stdout
    if timeout <= 0 or slow_after < 0:
        print("agentflow: error: --timeout must be > 0 and --slow-after >= 0 seconds",
              file=sys.stderr)
        return EXIT_USAGE
    import anyio

    from agentflow._api.facade import AgentFlow

    async def check() -> list[ProviderHealth]:
        try:
            return await AgentFlow.check_providers(timeout=timeout, slow_after=slow_after)
        finally:
            await AgentFlow.aclose()

    results: list[ProviderHealth] = anyio.run(check)
    if as_json:
        out.write(json.dumps([result.as_dict() for result in results], indent=2) + "\n")
    elif results:
        out.write(render(results))
    else:
        print("agentflow: no provider to check: no vendor plugin is installed; install one, "
              "e.g. pip install agentflow-openai", file=sys.stderr)
    return EXIT_OK if healthy(results) else EXIT_FAILURE


def healthy(results: Sequence[ProviderHealth]) -> bool:
    """Whether no required provider failed and at least one provider can be used."""
    if any(result.required and result.failed for result in results):
        return False
    return any(not result.failed for result in results)


def render(results: Sequence[ProviderHealth]) -> str:
    """The results as a table, and a closing line that counts them."""
    rows = [["PROVIDER", "VENDOR", "STATUS", "LATENCY", "DETAIL"]]
    for result in results:
        latency = "-" if result.latency_ms is None else f"{result.latency_ms:.0f} ms"
        status = result.status if result.required or not result.failed else (
            f"({result.status})")
        rows.append([result.provider, result.vendor, status, latency, result.detail])
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
                        row[4]]).rstrip() for row in rows]
    usable = sum(result.usable for result in results)
    failing = [result.provider for result in results if result.required and result.failed]
    closing = f"{usable} of {len(results)} provider(s) usable"
    if failing:
        closing += f"; not working: {', '.join(failing)}"
    elif not healthy(results):
        closing += "; set up at least one (see DETAIL)"
    if any(not result.required and result.failed for result in results):
        closing += ("\n(status in parentheses: not configured and no key set, so it does not "
                    "count)")
    return "\n".join([*lines, "", closing]) + "\n"
