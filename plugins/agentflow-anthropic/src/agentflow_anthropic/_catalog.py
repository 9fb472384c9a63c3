"""The Claude models that work with no configuration file (as of late 2026).

Context windows and output limits are Anthropic's published figures. Prices are Anthropic's
base rates in US dollars per million tokens (input, cache hits, output) from its pricing page in
late 2026. Cache writes cost more than plain input and are counted here at the input price, so a
call that writes the cache costs a little more than reported. Models priced by prompt length
(Claude Haiku 5.5) or without a published price have none: their cost is reported as unknown.
Each entry may carry these
``options`` (a configuration file can set the same keys under a model's ``options``):

``default_max_tokens`` (int)
    The output limit sent when the request sets none: the Messages API requires one.
``single_sampling_parameter`` (bool)
    The model refuses ``temperature`` and ``top_p`` together (Claude 4.5 and later).
"""

from __future__ import annotations

from typing import Any

from agentflow.types import ModelInfo, Pricing

__all__ = ["DEFAULT_MAX_TOKENS", "MODELS", "PROVIDER", "model_options"]

PROVIDER = "anthropic"
#: Sent as ``max_tokens`` when neither the call nor the configuration sets one. Long enough for
#: most answers, short enough that a non-streamed call stays well within Anthropic's limits.
DEFAULT_MAX_TOKENS = 8192

_CURRENT: dict[str, Any] = {"single_sampling_parameter": True}


def _model(name: str, context: int, output: int,
           price: tuple[float, float, float] | None = None) -> ModelInfo:
    pricing = None if price is None else Pricing(
        input_per_million=price[0], cached_input_per_million=price[1],
        output_per_million=price[2])
    return ModelInfo(name=name, provider=PROVIDER, context_window=context,
                     max_output_tokens=output, pricing=pricing, options=dict(_CURRENT))


MODELS: tuple[ModelInfo, ...] = (
    _model("claude-fable-5-2", 1_000_000, 128_000),
    _model("claude-opus-5-5", 1_000_000, 128_000, price=(4.00, 0.20, 20.00)),
    _model("claude-sonnet-5-5", 1_000_000, 128_000, price=(2.00, 0.10, 10.00)),
    _model("claude-haiku-5-5", 1_000_000, 128_000),
    _model("claude-fable-5-1", 1_000_000, 128_000, price=(10.00, 0.25, 50.00)),
    _model("claude-opus-5", 1_000_000, 128_000, price=(5.00, 0.50, 25.00)),
    _model("claude-sonnet-5", 1_000_000, 128_000, price=(2.00, 0.20, 10.00)),
    _model("claude-opus-4-5", 200_000, 64_000, price=(5.00, 0.50, 25.00)),
    _model("claude-sonnet-4-5", 200_000, 64_000, price=(3.00, 0.30, 15.00)),
    _model("claude-haiku-4-5", 200_000, 64_000, price=(1.00, 0.10, 5.00)),
)

_OPTIONS = {model.name: model.options for model in MODELS}


def model_options(model_id: str) -> dict[str, Any] | None:
    """The catalog options of ``model_id`` (or of the model a dated snapshot id names, such as
    ``claude-sonnet-4-5-20250929``), or None for a model the catalog does not know."""
    options = _OPTIONS.get(model_id)
    if options is None:
        base, _, date = model_id.rpartition("-")
        options = _OPTIONS.get(base) if date.isdigit() and len(date) == 8 else None
    return dict(options) if options is not None else None
