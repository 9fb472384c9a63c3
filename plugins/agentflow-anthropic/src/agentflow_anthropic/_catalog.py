"""The Claude models that work with no configuration file (as of late 2026).

Context windows and output limits are Anthropic's published figures. Each entry may carry these
``options`` (a configuration file can set the same keys under a model's ``options``):

``default_max_tokens`` (int)
    The output limit sent when the request sets none: the Messages API requires one.
``single_sampling_parameter`` (bool)
    The model refuses ``temperature`` and ``top_p`` together (Claude 4.5 and later).
"""

from __future__ import annotations

from typing import Any

from agentflow.types import ModelInfo

__all__ = ["DEFAULT_MAX_TOKENS", "MODELS", "PROVIDER", "model_options"]

PROVIDER = "anthropic"
#: Sent as ``max_tokens`` when neither the call nor the configuration sets one. Long enough for
#: most answers, short enough that a non-streamed call stays well within Anthropic's limits.
DEFAULT_MAX_TOKENS = 8192

_CURRENT: dict[str, Any] = {"single_sampling_parameter": True}


def _model(name: str, context: int, output: int) -> ModelInfo:
    return ModelInfo(name=name, provider=PROVIDER, context_window=context,
                     max_output_tokens=output, options=dict(_CURRENT))


MODELS: tuple[ModelInfo, ...] = (
    _model("claude-fable-5-2", 1_000_000, 128_000),
    _model("claude-opus-5-5", 1_000_000, 128_000),
    _model("claude-sonnet-5-5", 1_000_000, 128_000),
    _model("claude-haiku-5-5", 1_000_000, 128_000),
    _model("claude-fable-5-1", 1_000_000, 128_000),
    _model("claude-opus-5", 1_000_000, 128_000),
    _model("claude-sonnet-5", 1_000_000, 128_000),
    _model("claude-opus-4-5", 200_000, 64_000),
    _model("claude-sonnet-4-5", 200_000, 64_000),
    _model("claude-haiku-4-5", 200_000, 64_000),
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
