"""The OpenAI models that work with no configuration file (as of late 2026).

Context windows and output limits are OpenAI's published figures; ``None`` where OpenAI has
not published one (the GPT-5.6 tiers at the time of writing). Prices are OpenAI's standard
rates in US dollars per million tokens (input, cached input, output) as listed in late 2026,
for prompts under the long-context threshold; a model without a confirmed price has none, so
its cost is reported as unknown. A configuration's ``models.<alias>.pricing`` overrides them.

Every entry may carry these ``options``, read by :func:`agentflow_openai._codec.build_request`
and by the fake server's emulation (a configuration file can set the same keys under a model's
``options`` to describe a model this catalog does not know):

``max_completion_tokens`` (bool)
    Send the output limit as ``max_completion_tokens``: the o-series and the GPT-5 family
    refuse the older ``max_tokens``.
``supports_temperature`` (``True``, ``False`` or ``"reasoning_none"``)
    Whether ``temperature`` and ``top_p`` may be sent. Reasoning models accept only the
    default; ``"reasoning_none"`` models (GPT-5.1 and later) accept them only while reasoning
    is off, that is when the effective ``reasoning_effort`` is ``"none"``. Values the model
    would refuse are left out of the request, so the model's default applies.
``default_reasoning_effort`` (str)
    The effort the model uses when the request names none.
``reasoning_effort`` (str)
    Sent as the request's ``reasoning_effort`` (set it in configuration, not here).
``api`` (``"chat"`` or ``"responses"``)
    The API the model is sent to (default ``chat``). The catalog sets ``responses`` for the
    models OpenAI serves only through its Responses API (the ``-pro`` models, the Codex
    models); a configuration may set it for any model that OpenAI serves there too.

:data:`AZURE_MODELS` are Azure OpenAI aliases (``azure-gpt-4o``...) whose ``model_id`` is
the deployment name, as Azure's portal names a deployment after its model by default; they
carry no price (Azure's depend on the deployment type and region).
"""

from __future__ import annotations

from typing import Any

from agentflow.types import ModelInfo, Pricing

__all__ = ["AZURE_MODELS", "CATALOG", "MODELS", "model_options"]

PROVIDER = "openai"

# Option sets shared by model families.
_O_SERIES: dict[str, Any] = {"max_completion_tokens": True, "supports_temperature": False}
_GPT5: dict[str, Any] = {"max_completion_tokens": True, "supports_temperature": False,
                         "default_reasoning_effort": "medium"}
_GPT5_NONE_DEFAULT: dict[str, Any] = {"max_completion_tokens": True,
                                      "supports_temperature": "reasoning_none",
                                      "default_reasoning_effort": "none"}
_GPT5_MEDIUM_DEFAULT: dict[str, Any] = {"max_completion_tokens": True,
                                        "supports_temperature": "reasoning_none",
                                        "default_reasoning_effort": "medium"}
#: Models OpenAI serves only through the Responses API.
_O_PRO: dict[str, Any] = {**_O_SERIES, "api": "responses"}
_GPT5_RESPONSES_ONLY: dict[str, Any] = {**_GPT5, "api": "responses"}


def _model(name: str, context: int | None, output: int | None,
           options: dict[str, Any] | None = None,
           price: tuple[float, float, float] | None = None) -> ModelInfo:
    pricing = None if price is None else Pricing(
        input_per_million=price[0], cached_input_per_million=price[1],
        output_per_million=price[2])
    return ModelInfo(name=name, provider=PROVIDER, context_window=context,
                     max_output_tokens=output, pricing=pricing, options=dict(options or {}))


#: The catalog, oldest family first. ``gpt-4o`` stays first: it is the model the demo and the
#: quick start use.
MODELS: tuple[ModelInfo, ...] = (
    _model("gpt-4o", 128_000, 16_384, price=(2.50, 1.25, 10.00)),
    _model("gpt-4o-mini", 128_000, 16_384, price=(0.15, 0.075, 0.60)),
    _model("gpt-4.1", 1_047_576, 32_768, price=(2.00, 0.50, 8.00)),
    _model("gpt-4.1-mini", 1_047_576, 32_768, price=(0.40, 0.10, 1.60)),
    _model("gpt-4.1-nano", 1_047_576, 32_768, price=(0.10, 0.025, 0.40)),
    _model("o1", 200_000, 100_000, _O_SERIES, price=(15.00, 7.50, 60.00)),
    _model("o3", 200_000, 100_000, _O_SERIES, price=(2.00, 0.50, 8.00)),
    _model("o3-mini", 200_000, 100_000, _O_SERIES, price=(1.10, 0.55, 4.40)),
    _model("o4-mini", 200_000, 100_000, _O_SERIES, price=(1.10, 0.275, 4.40)),
    _model("gpt-5", 400_000, 128_000, _GPT5, price=(1.25, 0.125, 10.00)),
    _model("gpt-5-mini", 400_000, 128_000, _GPT5, price=(0.25, 0.025, 2.00)),
    _model("gpt-5-nano", 400_000, 128_000, _GPT5, price=(0.05, 0.005, 0.40)),
    _model("gpt-5.1", 400_000, 128_000, _GPT5_NONE_DEFAULT, price=(1.25, 0.125, 10.00)),
    _model("gpt-5.2", 400_000, 128_000, _GPT5_NONE_DEFAULT, price=(1.75, 0.175, 14.00)),
    _model("gpt-5.4", 1_050_000, 128_000, _GPT5_MEDIUM_DEFAULT, price=(2.50, 0.25, 15.00)),
    _model("gpt-5.4-mini", 400_000, 128_000, _GPT5_MEDIUM_DEFAULT, price=(0.75, 0.075, 4.50)),
    _model("gpt-5.4-nano", 400_000, 128_000, _GPT5_MEDIUM_DEFAULT, price=(0.20, 0.02, 1.25)),
    _model("gpt-5.5", 1_050_000, 128_000, _GPT5_MEDIUM_DEFAULT, price=(5.00, 0.50, 30.00)),
    _model("gpt-5.6", None, None, _GPT5),  # OpenAI's alias of the Sol tier
    _model("gpt-5.6-sol", None, None, _GPT5),
    _model("gpt-5.6-terra", None, None, _GPT5),
    _model("gpt-5.6-luna", None, None, _GPT5),
    # Served only through the Responses API.
    _model("o3-pro", 200_000, 100_000, _O_PRO, price=(20.00, 20.00, 80.00)),
    _model("gpt-5-pro", 400_000, 272_000, _GPT5_RESPONSES_ONLY, price=(15.00, 15.00, 120.00)),
    _model("gpt-5-codex", 400_000, 128_000, _GPT5_RESPONSES_ONLY, price=(1.25, 0.125, 10.00)),
)

#: Azure OpenAI aliases: the deployment (``model_id``) named after its model.
AZURE_MODELS: tuple[ModelInfo, ...] = tuple(
    ModelInfo(name=f"azure-{name}", provider="azure_openai", model_id=name,
              context_window=info.context_window, max_output_tokens=info.max_output_tokens,
              options=dict(info.options))
    for info in MODELS for name in [info.name]
    if name in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3", "o4-mini", "gpt-5",
                "gpt-5-mini", "gpt-5-nano"))

#: Everything the plugin's catalog hook gives.
CATALOG: tuple[ModelInfo, ...] = MODELS + AZURE_MODELS


def model_options(model_id: str) -> dict[str, Any] | None:
    """The catalog options of the model whose vendor id is ``model_id``, or ``None``.

    Dated snapshots (``o3-2025-04-16``) resolve to their family's entry.
    """
    best: ModelInfo | None = None
    for info in MODELS:
        vendor_id = info.model_id or info.name
        if model_id == vendor_id:
            return dict(info.options)
        if model_id.startswith(vendor_id + "-") and model_id[len(vendor_id) + 1:][:1].isdigit() \
                and (best is None or len(vendor_id) > len(best.model_id or best.name)):
            best = info
    return dict(best.options) if best is not None else None
