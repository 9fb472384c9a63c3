"""Log records never carry a key: redaction of known keys, key shapes and exceptions."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest
from echo_vendor import EchoVendor
from hypothesis import given
from hypothesis import strategies as st

from agentflow import HttpError, LLMClientBuilder
from agentflow._observe import logs
from agentflow._observe.logs import REDACTED, install, redact, remember_secret
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.testing import FakeServer, Reply

KEY_SHAPED = [
    "sk-proj-abcdefghijklmnopqrstuvwx",
    "sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUV_-xyz",
    "AIzaSyA1234567890abcdefghijklmnopqrstu",
]


@pytest.mark.parametrize("key", KEY_SHAPED)
def test_key_shaped_strings_are_redacted(key):
    assert redact(f"the key {key} was refused") == f"the key {REDACTED} was refused"


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer ***"),
    ("x-api-key: abcdefgh12345678 sent", "x-api-key: *** sent"),
    ("GET /v1/models?key=abcdefgh12345678&x=1", "GET /v1/models?key=***&x=1"),
    ("nothing secret here, sk-short", "nothing secret here, sk-short"),
])
def test_credential_headers_and_parameters_are_redacted(text, expected):
    assert redact(text) == expected


secret_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=8,
                      max_size=40)


@contextmanager
def remembered(secret):
    """Remember ``secret`` for the block only: other tests must not see random words redacted."""
    saved = (set(logs._secrets), logs._secrets_pattern)
    remember_secret(secret)
    try:
        yield
    finally:
        logs._secrets, logs._secrets_pattern = saved


@given(secret=secret_text, before=st.text(max_size=30), after=st.text(max_size=30))
def test_a_remembered_key_never_survives_whatever_surrounds_it(secret, before, after):
    with remembered(secret):
        assert secret not in redact(before + secret + after + secret)


def test_short_values_are_not_remembered():
    with remembered("seconds"):
        assert redact("timeout_seconds") == "timeout_seconds"


@pytest.fixture
def own_key():
    with remembered("my-very-own-key-value"):
        yield


def test_records_of_agentflow_loggers_are_redacted_when_made(caplog, own_key):
    install()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("agentflow.some.plugin").warning(
        "failed with %s and %r", "my-very-own-key-value", {"auth": "Bearer abcdefgh12345678"})
    try:
        raise RuntimeError("key my-very-own-key-value rejected")
    except RuntimeError:
        logging.getLogger("agentflow").exception("boom")
    logging.getLogger("elsewhere").warning("my-very-own-key-value")  # not ours: untouched
    text = caplog.text
    agentflow_lines = [line for line in text.splitlines() if "elsewhere" not in line]
    assert not any("my-very-own-key-value" in line for line in agentflow_lines)
    assert "abcdefgh12345678" not in text
    assert "rejected" in text  # the rest of the exception is kept
    assert [r.getMessage() for r in caplog.records if r.name == "elsewhere"] == [
        "my-very-own-key-value"]


@pytest.fixture(scope="module")
def server():
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    with FakeServer.from_plugins(host) as running:
        yield running


@pytest.mark.anyio
async def test_debug_logging_of_real_calls_shows_no_key(server, monkeypatch, caplog):
    key = "echo-secret-key-123456"
    monkeypatch.setenv("ECHO_API_KEY", key)
    caplog.set_level(logging.DEBUG)
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"))},
        defaults=Defaults(max_retries=1, retry_delay_ms=1)))
    server.script("echo", Reply(status=500, error_message=f"bad key {key}"),
                  Reply(status=500, error_message=f"bad key {key}"))
    try:
        with pytest.raises(HttpError) as caught:
            await LLMClientBuilder("echo-1", runtime=runtime).prompt("hi").execute()
        logging.getLogger("agentflow").error("call failed: %s", caught.value.message)
    finally:
        await runtime.aclose()
    assert key not in str(caught.value)
    assert key not in caught.value.vendor_message
    assert "bad key ***" in caught.value.message
    messages = [r.getMessage() for r in caplog.records]
    assert any("retry 1 of 1" in m for m in messages)
    assert any(m.startswith("call-") and "failed after" in m for m in messages)
    assert key not in caplog.text
