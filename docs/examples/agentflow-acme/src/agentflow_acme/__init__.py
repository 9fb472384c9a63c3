"""agentflow plugin for the Acme LLM API (a fictional vendor, used by the tutorial).

:data:`PLUGIN` is what the ``acme`` entry point names: a :class:`agentflow.vendor.VendorPlugin`
that declares the ``acme`` provider and answers agentflow's vendor hooks with the functions of
:mod:`agentflow_acme.codec` (Acme's wire format). The catalog is below; the emulation of Acme's
API for the fake server is :mod:`agentflow_acme.testing`, loaded only when the server asks.
"""

from __future__ import annotations

from agentflow.types import ModelInfo, ProviderSpec
from agentflow.vendor import VendorPlugin
from agentflow_acme import codec

MODELS = [ModelInfo(name="acme-large", provider=codec.NAME, model_id="acme-large-2026-01",
                    context_window=32_000, max_output_tokens=4_096)]

PLUGIN = VendorPlugin(
    providers=[ProviderSpec(name=codec.NAME, default_base_url="https://api.acme.example/v1",
                            api_key_env="ACME_API_KEY", temperature_range=(0.0, 1.0),
                            description="Acme LLM API (tutorial)")],
    codec=codec,
    models="agentflow_acme:MODELS",
    emulations="agentflow_acme.testing:emulations",
)
