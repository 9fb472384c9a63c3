"""Configuration: the ``agentflow.yml`` file, its validation, discovery and JSON Schema.

The file has three sections, each optional::

    models:                      # aliases for AgentFlow.model()
      gpt-4o: {vendor: openai, temperature: 0.7}
    providers:                   # endpoints, keyed by the names models use as `vendor`
      openai: {api_key_env: OPENAI_API_KEY}
    defaults: {timeout_seconds: 60}

Importing this package is cheap: ruamel.yaml, cattrs and platformdirs are imported on first
use. A file in the plain subset of YAML (block mappings and lists of plain or simply quoted
scalars) without problems needs neither ruamel.yaml nor cattrs: a reader of that subset and a
direct walk over the config classes give the same result; anything else, and every problem, go
through ruamel.yaml and the cattrs converter as before (docs/performance.md, issue 17). See
docs/configuration.md for every key.
"""

from __future__ import annotations

from agentflow.config.discovery import discover_config_path
from agentflow.config.loader import (
    load_config,
    load_config_text,
    validate_config,
    validate_config_text,
)
from agentflow.config.models import (
    CircuitBreakerConfig,
    Config,
    Defaults,
    ModelConfig,
    ObservabilityConfig,
    PricingConfig,
    ProviderConfig,
    RateLimitConfig,
    RetryConfig,
)
from agentflow.config.report import Issue, ValidationReport
from agentflow.config.schema import config_json_schema

__all__ = [
    "CircuitBreakerConfig",
    "Config",
    "Defaults",
    "Issue",
    "ModelConfig",
    "ObservabilityConfig",
    "PricingConfig",
    "ProviderConfig",
    "RateLimitConfig",
    "RetryConfig",
    "ValidationReport",
    "config_json_schema",
    "discover_config_path",
    "load_config",
    "load_config_text",
    "validate_config",
    "validate_config_text",
]
