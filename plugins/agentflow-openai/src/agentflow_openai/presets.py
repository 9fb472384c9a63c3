"""Named presets for OpenAI-compatible services: each a vendor of its own, on the Chat
Completions codec (:mod:`agentflow_openai.chat`), with its base URL, key variable, catalog and
known differences, so ``vendor: groq`` works without looking anything up.

:data:`PRESETS` lists them; :data:`PLUGIN` (the ``openai_presets`` entry point of
agentflow-openai) registers them. Local servers (Ollama, vLLM, llama.cpp's server, LM Studio)
need no key; a key set in their variable is sent. What each service does differently, and what
is not known for sure, is in docs/vendors/openai-compatible.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from agentflow.types import ModelInfo, ProviderSpec
from agentflow.vendor import VendorPlugin
from agentflow_openai.chat import Dialect

__all__ = ["BY_NAME", "PLUGIN", "PRESETS", "Preset", "catalog"]

USER_AGENT = "agentflow-openai/0.1.0"
_ALL = frozenset({"streaming", "tools", "structured_output", "images", "image_urls"})
_TEXT_TOOLS = frozenset({"streaming", "tools", "structured_output"})


@attrs.frozen(kw_only=True)
class Preset:
    """One OpenAI-compatible service: where it is, its key, its catalog and its differences.

    :param name: the vendor name (``vendor: <name>`` in a configuration).
    :param label: how messages name it.
    :param base_url: the default base URL (``/chat/completions`` is added).
    :param api_key_env: the key variable; ``None`` for a local server that needs none.
    :param key_optional: a key is sent when set, and a missing one is no error (local servers).
    :param docs_url: the service's OpenAI-compatibility reference.
    :param capabilities: what agentflow sends it (``images`` only where the service takes them).
    :param models: a small catalog (the ids the service documents; prices left unset).
    :param reasoning_field: where the service streams reasoning text (``reasoning_content`` or
        ``reasoning``): read and kept out of the answer, never sent back.
    :param dialect: the :class:`~agentflow_openai.chat.Dialect` fields where it differs.
    :param emulation: how the fake server plays it (see
        :mod:`agentflow_openai.testing._presets`): ``usage`` ``"chunk"`` (a usage chunk when
        asked), ``"last"`` (in the last chunk, always), ``"choice"`` (inside the choice) or
        ``"x_groq"``; ``done`` whether ``[DONE]`` ends a stream; ``comments`` whether
        keep-alive comment lines are sent; ``error`` the shape of an error inside a 200 stream
        (``"plain"``: an error object; ``"choices"``: with a choice whose finish reason is
        ``error``, as OpenRouter sends).
    """

    name: str
    label: str
    base_url: str
    api_key_env: str | None
    key_optional: bool = False
    docs_url: str
    capabilities: frozenset[str] = _ALL
    models: tuple[str, ...] = ()
    reasoning_field: str | None = None
    dialect: Mapping[str, Any] = attrs.field(factory=dict)
    emulation: Mapping[str, Any] = attrs.field(factory=dict)
    description: str = ""

    def as_dialect(self) -> Dialect:
        """The Chat Completions dialect of this service."""
        return Dialect(vendor=self.name, label=self.label, api_key_env=self.api_key_env,
                       user_agent=USER_AGENT, **self.dialect)

    def as_spec(self) -> ProviderSpec:
        """What the plugin declares for it."""
        return ProviderSpec(
            name=self.name, default_base_url=self.base_url,
            api_key_env=self.api_key_env,
            api_key_optional=self.key_optional, temperature_range=(0.0, 2.0),
            description=self.description or f"{self.label} (OpenAI-compatible)",
            docs_url=self.docs_url, capabilities=self.capabilities,
            max_image_bytes=20_000_000 if "images" in self.capabilities else None)

    def catalog(self) -> list[ModelInfo]:
        """The catalog entries, named ``<preset>/<model id>`` (ids repeat across services)."""
        return [ModelInfo(name=f"{self.name}/{model}", provider=self.name, model_id=model)
                for model in self.models]


#: The presets, in the order ``agentflow models`` and the docs show them.
PRESETS: tuple[Preset, ...] = (
    Preset(name="ollama", label="Ollama", base_url="http://127.0.0.1:11434/v1",
           api_key_env=None, key_optional=True,
           docs_url="https://github.com/ollama/ollama/blob/main/docs/openai.md",
           models=("llama3.2", "qwen3"), reasoning_field="reasoning",
           emulation={"usage": "chunk"}, description="Ollama's OpenAI-compatible /v1"),
    Preset(name="vllm", label="vLLM", base_url="http://127.0.0.1:8000/v1",
           api_key_env="VLLM_API_KEY", key_optional=True,
           docs_url="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
           reasoning_field="reasoning_content", emulation={"usage": "chunk"},
           description="vLLM's OpenAI-compatible server"),
    Preset(name="llamacpp", label="llama.cpp's server", base_url="http://127.0.0.1:8080/v1",
           api_key_env="LLAMA_API_KEY", key_optional=True,
           docs_url="https://github.com/ggml-org/llama.cpp/tree/master/tools/server",
           reasoning_field="reasoning_content", dialect={"stream_usage": False},
           emulation={"usage": "last"}, description="llama.cpp's llama-server"),
    Preset(name="lmstudio", label="LM Studio", base_url="http://127.0.0.1:1234/v1",
           api_key_env=None, key_optional=True,
           docs_url="https://lmstudio.ai/docs/app/api/endpoints/openai",
           dialect={"stream_usage": False}, emulation={"usage": "last"},
           description="LM Studio's local server"),
    Preset(name="deepseek", label="DeepSeek", base_url="https://api.deepseek.com/v1",
           api_key_env="DEEPSEEK_API_KEY", docs_url="https://api-docs.deepseek.com/",
           capabilities=_TEXT_TOOLS, models=("deepseek-chat", "deepseek-reasoner"),
           reasoning_field="reasoning_content", dialect={"json_schema": False},
           emulation={"usage": "chunk"}),
    Preset(name="groq", label="Groq", base_url="https://api.groq.com/openai/v1",
           api_key_env="GROQ_API_KEY", docs_url="https://console.groq.com/docs/openai",
           models=("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-120b"),
           reasoning_field="reasoning",
           dialect={"max_completion_tokens": True, "stream_usage": False},
           emulation={"usage": "x_groq"}),
    Preset(name="mistral", label="Mistral", base_url="https://api.mistral.ai/v1",
           api_key_env="MISTRAL_API_KEY",
           docs_url="https://docs.mistral.ai/api/#tag/chat",
           models=("mistral-large-latest", "mistral-small-latest", "codestral-latest"),
           dialect={"stream_usage": False}, emulation={"usage": "last"}),
    Preset(name="openrouter", label="OpenRouter", base_url="https://openrouter.ai/api/v1",
           api_key_env="OPENROUTER_API_KEY",
           docs_url="https://openrouter.ai/docs/api-reference/overview",
           models=("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5"),
           reasoning_field="reasoning", dialect={"stream_usage": False},
           emulation={"usage": "last", "comments": True, "error": "choices"}),
    Preset(name="together", label="Together AI", base_url="https://api.together.xyz/v1",
           api_key_env="TOGETHER_API_KEY",
           docs_url="https://docs.together.ai/docs/openai-api-compatibility",
           models=("meta-llama/Llama-3.3-70B-Instruct-Turbo",),
           dialect={"stream_usage": False}, emulation={"usage": "last"}),
    Preset(name="fireworks", label="Fireworks AI",
           base_url="https://api.fireworks.ai/inference/v1", api_key_env="FIREWORKS_API_KEY",
           docs_url="https://docs.fireworks.ai/tools-sdks/openai-compatibility",
           models=("accounts/fireworks/models/llama-v3p3-70b-instruct",),
           dialect={"stream_usage": False}, emulation={"usage": "last"}),
    Preset(name="huggingface", label="Hugging Face's router",
           base_url="https://router.huggingface.co/v1", api_key_env="HF_TOKEN",
           docs_url="https://huggingface.co/docs/inference-providers/index",
           models=("meta-llama/Llama-3.3-70B-Instruct",), emulation={"usage": "chunk"}),
    Preset(name="cerebras", label="Cerebras", base_url="https://api.cerebras.ai/v1",
           api_key_env="CEREBRAS_API_KEY",
           docs_url="https://inference-docs.cerebras.ai/resources/openai",
           capabilities=_TEXT_TOOLS, models=("llama-3.3-70b", "qwen-3-32b"),
           dialect={"max_completion_tokens": True, "stream_usage": False},
           emulation={"usage": "last"}),
    Preset(name="xai", label="xAI", base_url="https://api.x.ai/v1", api_key_env="XAI_API_KEY",
           docs_url="https://docs.x.ai/docs/api-reference", models=("grok-4", "grok-3-mini"),
           reasoning_field="reasoning_content", emulation={"usage": "chunk"}),
)

#: Each preset by vendor name.
BY_NAME: dict[str, Preset] = {preset.name: preset for preset in PRESETS}


def catalog() -> list[ModelInfo]:
    """Every preset's catalog (``agentflow models`` lists them)."""
    return [model for preset in PRESETS for model in preset.catalog()]


#: The plugin that registers every preset (the ``openai_presets`` entry point names it).
PLUGIN = VendorPlugin(
    providers=[preset.as_spec() for preset in PRESETS],
    codec={preset.name: preset.as_dialect() for preset in PRESETS},
    models="agentflow_openai.presets:catalog",
    emulations="agentflow_openai.testing._presets:preset_fakes",
)
