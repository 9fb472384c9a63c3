"""The Moonshot models that work with no configuration file (as of late 2026).

Context windows are Moonshot's published figures. The Kimi K2.x and K3 models accept only their
default sampling (a ``temperature`` other than 1 is refused with a 400), so they carry
``supports_temperature: False``: agentflow then leaves ``temperature`` and ``top_p`` out of the
request and the model's default applies. The ``moonshot-v1`` models take 0 to 1.

Moonshot bills in yuan; only Kimi K3 has a published dollar price (input, cache hit, output per
million tokens), so the others have none and their cost is reported as unknown.
"""

from __future__ import annotations

from typing import Any

from agentflow.types import ModelInfo, Pricing

__all__ = ["MODELS", "PROVIDER", "model_options"]

PROVIDER = "moonshot"

_FIXED_SAMPLING: dict[str, Any] = {"supports_temperature": False}


def _model(name: str, context: int, options: dict[str, Any] | None = None,
           price: tuple[float, float, float] | None = None) -> ModelInfo:
    pricing = None if price is None else Pricing(
        input_per_million=price[0], cached_input_per_million=price[1],
        output_per_million=price[2])
    return ModelInfo(name=name, provider=PROVIDER, context_window=context,
                     pricing=pricing, options=dict(options or {}))


MODELS: tuple[ModelInfo, ...] = (
    _model("kimi-k3", 262_144, _FIXED_SAMPLING, price=(3.00, 0.30, 15.00)),
    _model("kimi-k3.1-pro", 262_144, _FIXED_SAMPLING),
    _model("kimi-k2.6", 262_144, _FIXED_SAMPLING),
    _model("kimi-k2.5", 262_144, _FIXED_SAMPLING),
    _model("kimi-k2.7-code", 262_144, _FIXED_SAMPLING),
    _model("kimi-k2.7-code-highspeed", 262_144, _FIXED_SAMPLING),
    _model("moonshot-v1-8k", 8_192),
    _model("moonshot-v1-32k", 32_768),
    _model("moonshot-v1-128k", 131_072),
    _model("moonshot-v1-auto", 131_072),
    _model("moonshot-v1-8k-vision-preview", 8_192),
    _model("moonshot-v1-32k-vision-preview", 32_768),
    _model("moonshot-v1-128k-vision-preview", 131_072),
)

_OPTIONS = {model.name: model.options for model in MODELS}


def model_options(model_id: str) -> dict[str, Any] | None:
    """The catalog options of ``model_id``, or None for a model the catalog does not know."""
    options = _OPTIONS.get(model_id)
    return dict(options) if options is not None else None
