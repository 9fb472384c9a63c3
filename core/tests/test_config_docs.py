"""docs/configuration.md stays true: every key documented, its examples valid, its output real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_config_support import PROVIDERS

from agentflow.config import (
    CircuitBreakerConfig,
    Defaults,
    ModelConfig,
    ObservabilityConfig,
    PricingConfig,
    ProviderConfig,
    RateLimitConfig,
    RetryConfig,
    load_config_text,
    validate_config_text,
)
from agentflow.config._fields import file_keys

DOC = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")


def section(heading: str) -> str:
    start = DOC.index(heading)
    end = DOC.find("\n#", start + len(heading))
    return DOC[start:end if end != -1 else None]


def table_keys(text: str, after: str = "") -> list[str]:
    text = text[text.index(after):] if after else text
    table = text[text.index("| Key |"):]
    table = table[: table.find("\n\n")] if "\n\n" in table else table
    return re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)


@pytest.mark.parametrize(("cls", "heading", "after"), [
    (ModelConfig, "### `models.<alias>`", ""),
    (PricingConfig, "### `models.<alias>`", "`models.<alias>.pricing`"),
    (ObservabilityConfig, "### `observability`", ""),
    (ProviderConfig, "### `providers.<entry>`", ""),
    (RateLimitConfig, "### `providers.<entry>`", "`providers.<entry>.rate_limit`:"),
    (RetryConfig, "### `providers.<entry>`", "`providers.<entry>.retry_config`:"),
    (CircuitBreakerConfig, "### `providers.<entry>`", "`providers.<entry>.circuit_breaker`"),
    (Defaults, "### `defaults`", ""),
])
def test_every_key_has_a_row_in_order(cls, heading, after):
    assert table_keys(section(heading), after) == file_keys(cls)


def test_documented_defaults_are_the_real_ones():
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| `([\d.]+)` \|", section("### `defaults`"),
                           re.MULTILINE))
    defaults = Defaults()
    assert {key: float(value) for key, value in rows.items()} == {
        "timeout_seconds": defaults.timeout_seconds,
        "connect_timeout_seconds": defaults.connect_timeout_seconds,
        "max_retries": defaults.max_retries, "retry_delay_ms": defaults.retry_delay_ms,
        "max_retry_delay_ms": defaults.max_retry_delay_ms,
        "max_stream_chars": defaults.max_stream_chars}


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)


def test_every_yaml_example_parses_and_all_but_the_broken_one_are_valid(tmp_path,
                                                                          monkeypatch):
    import trustme

    monkeypatch.chdir(tmp_path)  # the TLS example names a CA file relative to its folder
    (tmp_path / "certs").mkdir()
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "certs" / "internal-ca.pem"))
    blocks = yaml_blocks()
    assert len(blocks) >= 5
    for block in blocks:
        if "opnai" in block:  # the example of validation output
            continue
        report = validate_config_text(block, providers=PROVIDERS,
                                      environ={"OPENAI_API_KEY": "k", "GPU_B_KEY": "k"})
        assert report.issues == (), (block, report.format())
    load_config_text(blocks[0], environ={})


def test_the_validate_example_prints_what_the_doc_shows():
    broken = next(block for block in yaml_blocks() if "opnai" in block)
    report = validate_config_text(broken, source_name="agentflow.yml", providers=PROVIDERS,
                                  environ={})
    shown = re.search(r"\$ agentflow validate agentflow.yml\n(.*?)```", DOC, re.DOTALL)
    assert shown is not None
    lines = shown.group(1).strip().splitlines()
    assert lines[:-1] == report.format().splitlines()
    assert lines[-1] == (f"agentflow.yml: {len(report.errors)} error(s), "
                         f"{len(report.warnings)} warning(s)")


def test_the_refusal_example_is_the_real_message():
    report = validate_config_text("models: {}\nproviders:\n  openai:\n    api_key: x\n",
                                  source_name="agentflow.yml", providers=PROVIDERS)
    assert str(report.errors[0]) in DOC
