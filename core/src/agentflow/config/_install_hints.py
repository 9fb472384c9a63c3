"""What to install for a vendor: the distributions published from agentflow's repository.

An install hint names only a distribution that exists. A name guessed from the vendor
(``agentflow-quasar``) may belong to nobody, and then to whoever registers it first: suggesting
it invites typosquatting. The core knows no vendor's behaviour; this table only knows, for its
messages, which first-party distribution serves a vendor name, including the services that
agentflow-openai has presets for (Ollama, vLLM, Groq, ...) and other spellings of their
names. For any other vendor the messages say how to find its plugin (:func:`find_plugin`),
never a name.
"""

from __future__ import annotations

from collections.abc import Collection

#: A vendor name as a configuration may write it -> (the distribution, the vendor to write).
KNOWN_VENDORS: dict[str, tuple[str, str]] = {
    "openai": ("agentflow-openai", "openai"),
    "openai_compatible": ("agentflow-openai", "openai_compatible"),
    "anthropic": ("agentflow-anthropic", "anthropic"),
    "google": ("agentflow-google", "google"),
    "moonshot": ("agentflow-moonshot", "moonshot"),
    "moonshot_cn": ("agentflow-moonshot", "moonshot_cn"),
    "claude": ("agentflow-anthropic", "anthropic"),
    "gemini": ("agentflow-google", "google"),
    "kimi": ("agentflow-moonshot", "moonshot"),
    # Services with a preset in agentflow-openai: a vendor of their own, on OpenAI's format.
    **{preset: ("agentflow-openai", preset) for preset in (
        "ollama", "vllm", "llamacpp", "lmstudio", "deepseek", "groq", "mistral", "openrouter",
        "together", "fireworks", "huggingface", "cerebras", "xai")},
    "llama_cpp": ("agentflow-openai", "llamacpp"),
    "lm_studio": ("agentflow-openai", "lmstudio"),
}

#: The sentence for a process with no vendor plugin at all.
NO_VENDOR_PLUGIN = (
    "no vendor plugin is installed; install one, e.g. pip install agentflow-openai (or "
    "agentflow-anthropic, agentflow-google, agentflow-moonshot)")


def install_phrase(vendor: str, installed: Collection[str]) -> str | None:
    """How to get ``vendor``, given the vendors ``installed``; None for a vendor that no
    first-party distribution serves.

    ``pip install agentflow-anthropic``; for another spelling of a vendor's name,
    ``write vendor: llamacpp (agentflow-openai, installed, serves llama.cpp)`` or
    ``pip install agentflow-openai and write vendor: llamacpp``.
    """
    known = KNOWN_VENDORS.get(vendor.lower().replace("-", "_").replace(".", "_"))
    if known is None:
        return None
    distribution, target = known
    if target == vendor:
        return f"pip install {distribution}"
    if target in installed:
        return f"write vendor: {target} ({distribution}, installed, serves {vendor})"
    return f"pip install {distribution} and write vendor: {target}"


def find_plugin(*, any_installed: bool = True) -> str:
    """How to find the plugin for a vendor no first-party distribution serves.

    No distribution name is guessed from the vendor: the advice is where to look and to check
    the publisher, since anyone may register ``agentflow-<anything>`` on a package index.
    """
    listed = "`agentflow plugins` lists what is installed; " if any_installed else ""
    return (f"{listed}third-party vendor plugins are named agentflow-<vendor>: check who "
            "publishes one before installing it")
