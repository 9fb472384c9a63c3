"""Checks that span keys, or need to know the installed plugins.

These run on the plain data (not the structured config), value by value, so that they still
report their problems when some other part of the file has the wrong type: a file with a bad
temperature *and* an unknown vendor gets both lines. Values of the wrong type are skipped here;
the structuring step reports them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from agentflow.config._install_hints import find_plugin, install_phrase
from agentflow.config._problems import Anchor, Problem, did_you_mean, suggestion
from agentflow.config._secrets import api_key_env_problem, unset_phrase
from agentflow.config._urls import base_url_problem, insecure_host, insecure_http_message
from agentflow.types import ModelInfo, ProviderSpec


def _section(data: Mapping[Any, Any], name: str) -> dict[Any, Mapping[Any, Any]]:
    section = data.get(name)
    if not isinstance(section, Mapping):
        return {}
    return {key: value for key, value in section.items() if isinstance(value, Mapping)}


def _str(entry: Mapping[Any, Any], key: str) -> str | None:
    value = entry.get(key)
    return value if isinstance(value, str) else None


def check_http(data: Mapping[Any, Any]) -> list[Problem]:
    """Plain http to another machine without ``allow_insecure_http``: one error per URL."""
    problems: list[Problem] = []
    entries = _section(data, "providers")
    for name, entry in entries.items():
        allowed = entry.get("allow_insecure_http") is True
        problems += _http_problem(_str(entry, "base_url"), allowed, str(name),
                                  ("providers", name, "base_url"))
    for alias, model in _section(data, "models").items():
        ref = _str(model, "vendor")
        entry = entries.get(ref, {}) if ref is not None else {}
        allowed = entry.get("allow_insecure_http") is True
        problems += _http_problem(_str(model, "base_url"), allowed, ref or "<name>",
                                  ("models", alias, "base_url"))
    return problems


def check_ca_bundles(data: Mapping[Any, Any], folder: Path) -> list[Problem]:
    """Each ``ca_bundle`` must be a readable PEM file of certificates (relative paths are
    taken from ``folder``, the configuration file's)."""
    places: list[tuple[tuple[Any, ...], Any]] = [
        (("providers", name, "ca_bundle"), entry.get("ca_bundle"))
        for name, entry in _section(data, "providers").items()]
    defaults = data.get("defaults")
    if isinstance(defaults, Mapping):
        places.append((("defaults", "ca_bundle"), defaults.get("ca_bundle")))
    problems = []
    for path, value in places:
        if isinstance(value, str) and value.strip():
            message = ca_bundle_problem(folder / value)
            if message:
                problems.append(Problem(path, message))
    return problems


def ca_bundle_problem(path: Path) -> str | None:
    """What makes ``path`` unusable as a CA bundle, or None."""
    import ssl

    if not path.is_file():
        return f"no such file: {path.resolve()}"
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        return (f"{path.resolve()} is not a PEM file of CA certificates "
                f"({getattr(exc, 'reason', None) or exc})")
    return None


def _http_problem(url: str | None, allowed: bool, provider: str,
                  path: tuple[Any, ...]) -> list[Problem]:
    if url is None or allowed or base_url_problem(url) is not None:
        return []
    host = insecure_host(url)
    return [Problem(path, insecure_http_message(host, provider))] if host else []


def check_fallbacks(data: Mapping[Any, Any],
                    catalog: Mapping[str, ModelInfo] | None) -> list[Problem]:
    """Every fallback names another model: an alias of the file or, when the installed
    catalogs are known, a catalog model."""
    problems: list[Problem] = []
    models = _section(data, "models")
    for alias, model in models.items():
        fallbacks = model.get("fallbacks")
        if not isinstance(fallbacks, list):
            continue
        for index, name in enumerate(fallbacks):
            path = ("models", alias, "fallbacks", index)
            if not isinstance(name, str):
                continue  # reported as a wrong type
            if name == alias:
                problems.append(Problem(path, f"model {alias!r} cannot be its own fallback"))
            elif name not in models and catalog is not None and name not in catalog:
                known = [str(other) for other in models] + list(catalog)
                close = did_you_mean(name, known)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(Problem(path, f"{name!r} is neither a model alias of this file "
                                              f"nor a catalog model{hint}"))
    return problems


def check_vendors(data: Mapping[Any, Any], providers: Mapping[str, ProviderSpec],
                  catalog: Mapping[str, ModelInfo] | None) -> list[Problem]:
    """Every vendor named in the file is installed; every model has one; vendor ranges hold."""
    problems: list[Problem] = []
    entries = _section(data, "providers")
    for name, entry in entries.items():
        vendor = entry.get("vendor")
        if isinstance(vendor, str) and vendor not in providers:
            problems.append(Problem(("providers", name, "vendor"),
                                    _unknown_vendor(vendor, providers)))
        elif vendor is None and str(name) not in providers:
            problems.append(Problem(
                ("providers", name),
                f"no installed vendor is named {name!r}; set providers.{name}.vendor to the "
                f"vendor this endpoint speaks{_installed(providers)}"
                f"{suggestion(str(name), providers)}", "key"))
    models = data.get("models")
    for alias, model in (models.items() if isinstance(models, Mapping) else ()):
        if model is None:  # `mymodel:` alone is a model with nothing set: checked as such
            model = {}
        if isinstance(model, Mapping):
            problems += _check_model(alias, model, entries, providers, catalog)
    return problems


def _check_model(alias: Any, model: Mapping[Any, Any], entries: Mapping[Any, Any],
                 providers: Mapping[str, ProviderSpec],
                 catalog: Mapping[str, ModelInfo] | None) -> list[Problem]:
    raw = model.get("vendor")
    if raw is None:
        if catalog is None:
            return []  # whether the alias is a catalog model cannot be told
        if alias not in catalog:
            return [Problem(("models", alias),
                            f"model {alias!r} has no vendor and is in no installed plugin's "
                            f"catalog; set models.{alias}.vendor to a provider entry or an "
                            f"installed vendor{_installed(providers)}", "key")]
        raw = catalog[alias].provider
    if not isinstance(raw, str):
        return []  # reported as a wrong type
    if raw not in entries and raw not in providers:
        known = [str(name) for name in entries] + list(providers)
        close = did_you_mean(raw, known)
        hint = f"; did you mean {close[0]!r}?" if close else _vendor_advice(raw, providers)
        return [Problem(("models", alias, "vendor"),
                        f"{raw!r} is neither a provider entry nor an installed vendor"
                        f"{_installed(providers)}{hint}")]
    return _check_temperature(alias, model, providers.get(_vendor_of(raw, entries)))


def _check_temperature(alias: Any, model: Mapping[Any, Any],
                       spec: ProviderSpec | None) -> list[Problem]:
    temperature = model.get("temperature")
    if spec is None or not isinstance(temperature, int | float) or isinstance(temperature, bool):
        return []
    low, high = spec.temperature_range
    if 0 <= temperature <= 2 and not low <= temperature <= high:
        return [Problem(("models", alias, "temperature"),
                        f"must be between {low:g} and {high:g} for vendor {spec.name}, "
                        f"got {temperature!r}")]
    return []


def _vendor_of(ref: str, entries: Mapping[Any, Any]) -> str:
    entry = entries.get(ref)
    if entry is None:
        return ref
    vendor = _str(entry, "vendor")
    return vendor if vendor is not None else ref


def _installed(providers: Mapping[str, ProviderSpec]) -> str:
    if not providers:
        return "; no vendor plugin is installed (pip install agentflow-openai, for one)"
    return f"; installed vendors: {', '.join(sorted(providers))}"


def _unknown_vendor(vendor: str, providers: Mapping[str, ProviderSpec]) -> str:
    phrase = install_phrase(vendor, providers)
    if not providers:
        if phrase is not None:
            return f"unknown vendor {vendor!r}; no vendor plugin is installed (try {phrase})"
        return (f"unknown vendor {vendor!r}; no vendor plugin is installed; "
                f"{find_plugin(any_installed=False)}")
    if phrase is not None:
        return f"unknown vendor {vendor!r}{_installed(providers)}; to use it: {phrase}"
    hint = suggestion(vendor, providers) or f"; {find_plugin()}"
    return f"unknown vendor {vendor!r}{_installed(providers)}{hint}"


def _vendor_advice(vendor: str, providers: Mapping[str, ProviderSpec]) -> str:
    phrase = install_phrase(vendor, providers)
    if phrase is not None:
        return f"; to use it: {phrase}"
    return f"; {find_plugin(any_installed=bool(providers))}"


def check_api_keys(data: Mapping[Any, Any], providers: Mapping[str, ProviderSpec],
                   environ: Mapping[str, str]) -> list[Problem]:
    """A warning for each key variable in use that is not set (once per variable)."""
    problems: list[Problem] = []
    warned: set[str] = set()
    entries = _section(data, "providers")

    def warn(path: tuple[Any, ...], anchor: Anchor, spec: ProviderSpec | None,
             own: str | None, who: str) -> None:
        if spec is None or spec.api_key_optional:
            return
        variables = (own,) if own else (
            (spec.api_key_env, *spec.api_key_env_fallbacks) if spec.api_key_env else ())
        if not variables or variables[0] in warned:
            return
        if any((environ.get(variable) or "").strip() for variable in variables):
            return
        warned.add(variables[0])
        problems.append(Problem(path, f"{unset_phrase(variables)}; requests {who} will fail "
                                      f"until you export {variables[0]}=...", anchor, "warning"))

    for name, entry in entries.items():
        if not isinstance(name, str):
            continue
        spec = providers.get(_vendor_of(name, entries))
        own = _str(entry, "api_key_env")
        if own is not None and api_key_env_problem(own) is not None:
            continue  # reported as malformed; it may even be a key, so never repeat it
        if own:
            path: tuple[Any, ...] = ("providers", name, "api_key_env")
            anchor: Anchor = "value"
        else:
            path, anchor = ("providers", name), "key"
        warn(path, anchor, spec, own, f"through providers.{name}")
    for alias, model in _section(data, "models").items():
        ref = _str(model, "vendor")
        if ref is not None and ref not in entries:
            spec = providers.get(ref)
            warn(("models", alias, "vendor"), "value", spec, None, f"to model {alias}")
    return problems


def check_plugin_sections(data: Mapping[Any, Any], plugins: Collection[str]) -> list[Problem]:
    """A warning for each ``plugins.<name>`` section no installed plugin is named after: a
    misspelt name (``promethus``) would otherwise be ignored without a word."""
    sections = data.get("plugins")
    if not isinstance(sections, Mapping):
        return []
    installed = sorted(plugins)
    problems = []
    for name in sections:
        if str(name) not in plugins:
            shown = ", ".join(installed) or "none"
            problems.append(Problem(
                ("plugins", name),
                f"no installed plugin is named {name!r}, so this section is ignored "
                f"(installed plugins: {shown}){suggestion(str(name), installed)}", "key",
                severity="warning"))
    return problems
