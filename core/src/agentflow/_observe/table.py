"""A MetricsCollector's figures as a table of one row per model, for people to read.

``agentflow run --metrics`` and ``agentflow demo`` print it; :func:`metrics_table` is public
so scripts can print the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentflow._observe.events import MetricsCollector

__all__ = ["HEADERS", "format_cost", "metrics_rows", "metrics_table"]

HEADERS = ["MODEL", "CALLS", "OK", "ERRORS", "LATENCY P50/P99", "FIRST TOKEN P50",
           "TOKENS IN/OUT", "TOKENS/S", "RETRIES", "COST"]


def metrics_rows(collector: MetricsCollector) -> list[list[str]]:
    """One row per model alias (sorted), then an ``all`` row when there are several."""
    figures = collector.snapshot()
    models = sorted(name.removeprefix("llm.model.").removesuffix(".requests.total")
                    for name in figures
                    if name.startswith("llm.model.") and name.endswith(".requests.total"))
    rows = [_row(model, f"llm.model.{model}.", figures) for model in models]
    if len(models) > 1:
        rows.append(_row("all", "llm.", figures))
    return rows


def metrics_table(collector: MetricsCollector) -> str:
    """The rows of :func:`metrics_rows` under :data:`HEADERS`, in aligned columns; empty when
    no call was recorded."""
    rows = metrics_rows(collector)
    if not rows:
        return ""
    table = [HEADERS, *rows]
    widths = [max(len(cell) for cell in column) for column in zip(*table, strict=True)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     .rstrip() for row in table) + "\n"


def format_cost(cost: float | None, unpriced: float) -> str:
    """A cost that says when it is unknown or leaves calls out, and is never a made-up 0."""
    if cost is None:
        return "unknown" if unpriced else "-"
    text = f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}"
    return f"{text} + {unpriced:.0f} unpriced" if unpriced else text


def _row(label: str, scope: str, figures: dict[str, float]) -> list[str]:
    def get(name: str) -> float | None:
        return figures.get(scope + name)

    def ms(name: str) -> str:
        value = get(name)
        return "-" if value is None else f"{value:.1f} ms"

    latency = "-" if get("latency_ms.p50") is None else (
        f"{get('latency_ms.p50'):.1f} / {get('latency_ms.p99'):.1f} ms")
    speed = get("output_tokens_per_second.p50")
    return [
        label,
        f"{get('requests.total') or 0:.0f}",
        f"{get('requests.success') or 0:.0f}",
        f"{get('requests.failure') or 0:.0f}",
        latency,
        ms("time_to_first_token_ms.p50"),
        f"{get('tokens.prompt') or 0:.0f} / {get('tokens.completion') or 0:.0f}",
        "-" if speed is None else f"{speed:.0f}",
        f"{get('retries') or 0:.0f}",
        format_cost(get("cost_usd"), get("cost.unpriced_requests") or 0),
    ]
