"""ModelRegistry: layer precedence, catalog-only models, lookups that fail helpfully, keys, http."""

from __future__ import annotations

import attrs
import pytest
from test_config_support import AcmePlugin

from agentflow._plugins.host import PluginHost
from agentflow._runtime.registry import ModelRegistry
from agentflow.config import (
    Config,
    Defaults,
    ModelConfig,
    PricingConfig,
    ProviderConfig,
    RateLimitConfig,
    RetryConfig,
    load_config_text,
)
from agentflow.errors import (
    ConfigurationError,
    MissingApiKeyError,
    ModelNotFoundError,
    UnsupportedProviderError,
)
from agentflow.types import Pricing, Secret

KEY = "acme-key-0123456789"
ENV = {"ACME_API_KEY": KEY}


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(entry_points=False)
    host.register(AcmePlugin())
    return host


def registry(host: PluginHost, config: Config | None = None,
             environ: dict[str, str] | None = None) -> ModelRegistry:
    return ModelRegistry(config or Config(), host, environ=ENV if environ is None else environ)


class TestCatalogOnly:
    def test_a_catalog_model_resolves_with_no_file(self, host):
        settings = registry(host).resolve("acme-large")
        assert settings.name == "acme-large"
        assert settings.provider == "acme"
        assert settings.vendor == "acme"
        assert settings.model_id == "acme-large-2026"
        assert settings.base_url == "https://api.acme.test/v1"
        assert settings.api_key_env == "ACME_API_KEY"
        assert settings.api_key == Secret(KEY)
        assert settings.options == {"reasoning": "high", "cache": True}
        assert settings.supports_streaming is True
        defaults = Defaults()
        assert (settings.timeout_seconds, settings.connect_timeout_seconds,
                settings.max_retries, settings.retry_delay_ms) == (
            defaults.timeout_seconds, defaults.connect_timeout_seconds, defaults.max_retries,
            defaults.retry_delay_ms)
        assert (settings.temperature, settings.top_p, settings.max_tokens) == (None, None, None)

    def test_the_catalog_model_id_defaults_to_the_alias(self, host):
        assert registry(host).resolve("acme-medium").model_id == "acme-medium"

    def test_the_catalog_says_whether_a_model_streams(self, host):
        assert registry(host).resolve("acme-small").supports_streaming is False


def config_with(model: dict | None = None, provider: dict | None = None,
                defaults: dict | None = None, *, entry: str = "acme") -> Config:
    return Config(
        models={"m": ModelConfig(vendor=entry, **(model or {}))},
        providers={entry: ProviderConfig(**(provider or {}))},
        defaults=Defaults(**(defaults or {})),
    )


class TestLayers:
    def test_timeout_model_beats_provider_beats_defaults(self, host):
        layers = ({"timeout_seconds": 1.0}, {"timeout_seconds": 2.0}, {"timeout_seconds": 3.0})
        assert registry(host, config_with(*layers)).resolve("m").timeout_seconds == 1.0
        assert registry(host, config_with(None, *layers[1:])).resolve("m").timeout_seconds == 2.0
        assert registry(host, config_with(None, None, layers[2])).resolve(
            "m").timeout_seconds == 3.0
        assert registry(host, config_with()).resolve("m").timeout_seconds == 60.0

    def test_connect_timeout_provider_beats_defaults(self, host):
        config = config_with(None, {"connect_timeout_seconds": 4.0},
                             {"connect_timeout_seconds": 5.0})
        assert registry(host, config).resolve("m").connect_timeout_seconds == 4.0
        config = config_with(None, None, {"connect_timeout_seconds": 5.0})
        assert registry(host, config).resolve("m").connect_timeout_seconds == 5.0

    @pytest.mark.parametrize("name", ["temperature", "top_p", "max_tokens"])
    def test_sampling_model_beats_defaults(self, host, name):
        high, low = (1, 7) if name == "max_tokens" else (0.5, 0.25)
        both = config_with({name: high}, None, {name: low})
        assert getattr(registry(host, both).resolve("m"), name) == high
        only_defaults = config_with(None, None, {name: low})
        assert getattr(registry(host, only_defaults).resolve("m"), name) == low

    def test_a_zero_at_a_higher_layer_still_wins(self, host):
        config = config_with({"temperature": 0.0}, None, {"temperature": 0.9})
        assert registry(host, config).resolve("m").temperature == 0.0
        retry = config_with(None, {"retry_config": RetryConfig(max_retries=0)},
                            {"max_retries": 5})
        assert registry(host, retry).resolve("m").max_retries == 0

    def test_retries_provider_beats_defaults_field_by_field(self, host):
        config = config_with(None, {"retry_config": RetryConfig(max_retries=7)},
                             {"max_retries": 1, "retry_delay_ms": 99})
        settings = registry(host, config).resolve("m")
        assert (settings.max_retries, settings.retry_delay_ms) == (7, 99)

    def test_base_url_model_beats_provider_beats_vendor(self, host):
        model, provider = {"base_url": "https://m.test"}, {"base_url": "https://p.test"}
        assert registry(host, config_with(model, provider)).resolve("m").base_url == (
            "https://m.test")
        assert registry(host, config_with(None, provider)).resolve("m").base_url == (
            "https://p.test")
        assert registry(host, config_with()).resolve("m").base_url == "https://api.acme.test/v1"

    def test_key_variable_provider_beats_vendor(self, host):
        config = config_with(None, {"api_key_env": "OTHER_KEY"})
        settings = registry(host, config, {"OTHER_KEY": "other"}).resolve("m")
        assert settings.api_key_env == "OTHER_KEY"
        assert settings.api_key == Secret("other")

    def test_model_id_model_beats_catalog_beats_alias(self, host):
        config = Config(models={"acme-large": ModelConfig(model_id="pinned"),
                                "acme-small": ModelConfig(temperature=0.1),
                                "custom": ModelConfig(vendor="acme")})
        reg = registry(host, config)
        assert reg.resolve("acme-large").model_id == "pinned"
        assert reg.resolve("acme-small").model_id == "acme-small"
        assert reg.resolve("acme-small").temperature == 0.1
        assert reg.resolve("custom").model_id == "custom"

    def test_streaming_model_beats_catalog_beats_vendor_capabilities(self, host):
        config = Config(models={"acme-small": ModelConfig(supports_streaming=True),
                                "plain": ModelConfig(vendor="local")})
        reg = registry(host, config)
        assert reg.resolve("acme-small").supports_streaming is True
        assert reg.resolve("plain").supports_streaming is False  # LOCAL has no "streaming"

    def test_options_from_the_model_merge_over_the_catalogs(self, host):
        config = Config(models={"acme-large": ModelConfig(options={"cache": False, "seed": 1})})
        assert registry(host, config).resolve("acme-large").options == {
            "reasoning": "high", "cache": False, "seed": 1}

    def test_pricing_model_beats_catalog_and_aliases_of_catalog_models_inherit_it(self, host):
        config = Config(models={
            "acme-large": ModelConfig(pricing=PricingConfig(input_per_million=1.0,
                                                            output_per_million=2.0)),
            "house": ModelConfig(vendor="acme", model_id="acme-large-2026"),
            "custom": ModelConfig(vendor="acme", model_id="acme-custom")})
        reg = registry(host, config)
        assert reg.resolve("acme-large").pricing == Pricing(input_per_million=1.0,
                                                            output_per_million=2.0)
        assert reg.resolve("house").pricing == Pricing(input_per_million=3.0,
                                                       output_per_million=15.0)
        assert reg.resolve("custom").pricing is None
        assert reg.resolve("acme-medium").pricing is None
        assert registry(host).resolve("acme-large").pricing.output_per_million == 15.0

    def test_a_catalog_model_goes_through_the_provider_entry_named_after_its_vendor(self, host):
        config = Config(providers={"acme": ProviderConfig(base_url="https://proxy.test",
                                                          timeout_seconds=9.0)})
        settings = registry(host, config).resolve("acme-large")
        assert (settings.base_url, settings.timeout_seconds) == ("https://proxy.test", 9.0)

    def test_two_entries_of_one_vendor(self, host):
        config = load_config_text("""
providers:
  gpu-a: {vendor: local, base_url: "http://127.0.0.1:8001/v1"}
  gpu-b: {vendor: local, base_url: "http://localhost:8002/v1"}
models:
  small: {vendor: gpu-a, model_id: "qwen:0.5b"}
  large: {vendor: gpu-b}
""")
        reg = registry(host, config, {})
        small, large = reg.resolve("small"), reg.resolve("large")
        assert (small.provider, small.vendor, small.base_url) == (
            "gpu-a", "local", "http://127.0.0.1:8001/v1")
        assert (large.provider, large.vendor, large.base_url) == (
            "gpu-b", "local", "http://localhost:8002/v1")
        assert small.api_key is None  # optional key, unset

    def test_rate_limits_are_available_per_provider(self, host):
        limits = RateLimitConfig(requests_per_minute=60)
        reg = registry(host, config_with(None, {"rate_limit": limits}))
        assert reg.rate_limit("acme") == limits
        assert reg.rate_limit("nowhere") is None


class TestLookups:
    def test_an_unknown_alias_suggests_up_to_three_and_the_models_command(self, host):
        with pytest.raises(ModelNotFoundError) as caught:
            registry(host).resolve("acme-mall")
        error = caught.value
        assert error.suggestions == ("acme-small", "acme-large", "acme-medium")
        assert str(error) == (
            "no model named 'acme-mall' in the configuration or in the installed plugins' "
            "catalogs. Did you mean 'acme-small', 'acme-large', 'acme-medium'? Run `agentflow "
            "models` to list the available models. (model=acme-mall)")

    def test_never_more_than_three_suggestions(self, host):
        config = Config(models={f"acme-smal{i}": ModelConfig(vendor="acme") for i in range(6)})
        with pytest.raises(ModelNotFoundError) as caught:
            registry(host, config).resolve("acme-smal")
        assert len(caught.value.suggestions) == 3

    def test_an_unknown_alias_with_nothing_close(self, host):
        with pytest.raises(ModelNotFoundError) as caught:
            registry(host).resolve("zzz")
        assert caught.value.suggestions == ()
        assert "Did you mean" not in str(caught.value)
        assert "agentflow models" in str(caught.value)

    def test_a_configured_alias_is_suggested_and_the_file_is_named(self, host, tmp_path):
        config = attrs.evolve(config_with(), source=tmp_path / "agentflow.yml")
        with pytest.raises(ModelNotFoundError) as caught:
            registry(host, config).resolve("mm")
        assert f"in {tmp_path / 'agentflow.yml'}" in str(caught.value)
        assert caught.value.suggestions == ("m",)

    def test_an_unregistered_vendor(self, host):
        config = Config(models={"m": ModelConfig(vendor="acne")})
        with pytest.raises(UnsupportedProviderError) as caught:
            registry(host, config).resolve("m")
        assert str(caught.value) == (
            "no installed plugin provides vendor 'acne' (used by model 'm'); installed vendors: "
            "acme, keyless, local. Did you mean 'acme'? `agentflow plugins` lists what is "
            "installed; third-party vendor plugins are named agentflow-<vendor>: check who "
            "publishes one before installing it. (provider=acne, model=m)")
        assert isinstance(caught.value, ConfigurationError)

    def test_an_entry_whose_vendor_is_not_installed(self, host):
        config = Config(models={"m": ModelConfig(vendor="mine")},
                        providers={"mine": ProviderConfig(vendor="open_router")})
        with pytest.raises(UnsupportedProviderError) as caught:
            registry(host, config).resolve("m")
        # no distribution name is guessed from the vendor: anyone may register one
        assert "agentflow-open" not in str(caught.value)
        assert "check who publishes one before installing it" in str(caught.value)

    def test_catalog_models_of_uninstalled_vendors_are_not_available(self, host):
        assert "ghost" not in registry(host).available_models()

    def test_a_configured_model_without_vendor_and_catalog_entry(self, host):
        config = Config(models={"m": ModelConfig(temperature=0.1)})
        with pytest.raises(ConfigurationError, match=r"set models\.m\.vendor"):
            registry(host, config).resolve("m")


class TestApiKeys:
    def test_a_missing_key_names_the_variable_and_the_fix(self, host):
        with pytest.raises(MissingApiKeyError) as caught:
            registry(host, environ={}).resolve("acme-large")
        error = caught.value
        assert error.env_var == "ACME_API_KEY"
        assert str(error) == (
            "ACME_API_KEY is not set: export ACME_API_KEY=... or set providers.acme.api_key_env "
            "to the variable that holds the key (provider=acme, model=acme-large)")

    def test_an_empty_key_is_missing(self, host):
        with pytest.raises(MissingApiKeyError):
            registry(host, environ={"ACME_API_KEY": ""}).resolve("acme-large")

    def test_an_optional_key_may_be_missing_and_is_used_when_set(self, host):
        assert registry(host, environ={}).resolve("tiny-local").api_key is None
        keyed = registry(host, environ={"LOCAL_API_KEY": "lk"}).resolve("tiny-local")
        assert keyed.api_key == Secret("lk")

    def test_a_vendor_without_key_variable_needs_none(self, host):
        config = Config(models={"k": ModelConfig(vendor="keyless")})
        settings = registry(host, config, {}).resolve("k")
        assert (settings.api_key, settings.api_key_env) == (None, None)

    def test_the_key_never_shows(self, host):
        settings = registry(host).resolve("acme-large")
        assert settings.api_key is not None
        assert settings.api_key.reveal() == KEY
        assert KEY not in repr(settings)
        assert KEY not in str(settings)

    def test_the_key_is_read_at_resolve_time(self, host):
        environ = {"ACME_API_KEY": "first"}
        reg = registry(host, environ=environ)
        first = reg.resolve("acme-large")
        assert reg.resolve("acme-large") is first  # cached while the key is unchanged
        environ["ACME_API_KEY"] = "second"
        second = reg.resolve("acme-large")
        assert second.api_key == Secret("second")
        assert attrs.evolve(second, api_key=first.api_key) == first
        del environ["ACME_API_KEY"]
        with pytest.raises(MissingApiKeyError):
            reg.resolve("acme-large")

    def test_the_process_environment_is_the_default(self, host, monkeypatch):
        monkeypatch.setenv("ACME_API_KEY", "from-process")
        settings = ModelRegistry(Config(), host).resolve("acme-large")
        assert settings.api_key == Secret("from-process")


class TestHttpRule:
    @pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://127.255.0.9/v1",
                                     "http://localhost:1234", "http://[::1]:80/v1",
                                     "https://anywhere.test"])
    def test_loopback_and_https_are_fine(self, host, url):
        assert registry(host, config_with(None, {"base_url": url})).resolve("m").base_url == url

    def test_plain_http_elsewhere_is_refused_with_the_way_out(self, host):
        with pytest.raises(ConfigurationError) as caught:
            registry(host, config_with(None, {"base_url": "http://10.0.0.8/v1"})).resolve("m")
        assert str(caught.value) == (
            "providers.acme.base_url: plain http to 10.0.0.8 would send the API key "
            "unencrypted; use https, or set providers.acme.allow_insecure_http: true to allow "
            "it (provider=acme, model=m)")

    def test_a_model_url_is_checked_and_named(self, host):
        config = config_with({"base_url": "http://gpu.lan/v1"})
        with pytest.raises(ConfigurationError, match=r"^models\.m\.base_url: plain http"):
            registry(host, config).resolve("m")

    def test_allow_insecure_http_allows_it(self, host):
        config = config_with({"base_url": "http://gpu.lan/v1"}, {"allow_insecure_http": True})
        settings = registry(host, config).resolve("m")
        assert settings.allow_insecure_http is True
        assert settings.base_url == "http://gpu.lan/v1"

    def test_a_malformed_url_from_code_is_refused(self, host):
        with pytest.raises(ConfigurationError, match="must be an http"):
            registry(host, config_with(None, {"base_url": "gpu.lan:80"})).resolve("m")


class TestListing:
    def test_available_models_is_the_sorted_union(self, host):
        config = Config(models={"zeta": ModelConfig(vendor="acme"),
                                "acme-large": ModelConfig(temperature=0.3),
                                "broken": ModelConfig(vendor="not-installed")})
        assert registry(host, config).available_models() == [
            "acme-large", "acme-medium", "acme-small", "broken", "tiny-local", "zeta"]

    def test_describe_rows(self, host):
        config = Config(models={"zeta": ModelConfig(vendor="acme", model_id="z-1"),
                                "acme-large": ModelConfig(temperature=0.3),
                                "broken": ModelConfig(vendor="not-installed")})
        rows = {row["name"]: row for row in registry(host, config, {}).describe()}
        assert rows["zeta"] == {"name": "zeta", "provider": "acme", "vendor": "acme",
                                "model_id": "z-1", "source": "config"}
        assert rows["acme-large"]["source"] == "config"
        assert rows["acme-medium"] == {"name": "acme-medium", "provider": "acme",
                                       "vendor": "acme", "model_id": "acme-medium",
                                       "source": "catalog"}
        assert rows["broken"] == {"name": "broken", "provider": "not-installed",
                                  "vendor": "not-installed", "model_id": "broken",
                                  "source": "config"}
        assert rows["tiny-local"]["model_id"] == "tiny:1b"


def test_each_alias_is_merged_once(host, monkeypatch):
    reg = registry(host)
    calls: list[str] = []
    original = ModelRegistry._merge

    def counting(self, name):
        calls.append(name)
        return original(self, name)

    monkeypatch.setattr(ModelRegistry, "_merge", counting)
    for _ in range(100):
        reg.resolve("acme-large")
        reg.resolve("acme-small")
    reg.describe()
    assert sorted(calls) == ["acme-large", "acme-medium", "acme-small", "tiny-local"]
