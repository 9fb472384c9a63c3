"""The Gemini models that work with no configuration file (as of late 2026).

Figures are Google's published limits for the Gemini API: ``context_window`` is the input
token limit, ``max_output_tokens`` the output limit of one request. Gemini 4 models share one
1,048,576-token budget between input and output (thinking included); one request still stops
at 65,536 output tokens, which is what is listed.

Google deprecated ``gemini-2.5-pro`` and ``gemini-2.5-flash`` in 2026 and announced their
shutdown for the end of the year (requests are then routed to ``gemini-3.8-flash`` and
``gemini-3.5-flash-lite``); they stay here so that existing code keeps resolving them until
then. ``gemini-2.5-flash-lite`` is not deprecated.

Prices (US dollars per million tokens) are given only where Google's price is flat and known:
``gemini-2.5-flash`` and ``gemini-2.5-flash-lite``; cached input is counted at the input price.
Models priced by prompt length (``gemini-2.5-pro`` above 200,000 tokens) or without a
confirmed price have none, so their cost is reported as unknown.

Entries carry no ``options``: every model takes the same request. A configuration file may set
these options on any Gemini model (read by :func:`agentflow_google._codec.build_request`):

``thinking_level`` (``"minimal"``, ``"low"``, ``"medium"``, ``"high"``)
    Sent as ``generationConfig.thinkingConfig.thinkingLevel`` (Gemini 3 and later).
``thinking_budget`` (int)
    Sent as ``generationConfig.thinkingConfig.thinkingBudget`` (Gemini 2.5; ``0`` turns
    thinking off where the model allows it).
"""

from __future__ import annotations

from agentflow.types import ModelInfo, Pricing

__all__ = ["MODELS"]

PROVIDER = "google"

_CONTEXT = 1_048_576
_OUTPUT = 65_536


def _model(name: str, context: int = _CONTEXT, output: int = _OUTPUT,
           price: tuple[float, float] | None = None) -> ModelInfo:
    pricing = None if price is None else Pricing(input_per_million=price[0],
                                                 output_per_million=price[1])
    return ModelInfo(name=name, provider=PROVIDER, context_window=context,
                     max_output_tokens=output, pricing=pricing)


#: The catalog, oldest family first.
MODELS: tuple[ModelInfo, ...] = (
    _model("gemini-2.5-pro"),
    _model("gemini-2.5-flash", price=(0.30, 2.50)),
    _model("gemini-2.5-flash-lite", price=(0.10, 0.40)),
    _model("gemini-3.1-pro-preview"),
    _model("gemini-3.1-flash-lite"),
    _model("gemini-3.5-flash-lite"),
    _model("gemini-3.6-flash"),
    _model("gemini-3.8-flash"),
    _model("gemini-4-argon"),
    _model("gemini-4-carbon"),
)
