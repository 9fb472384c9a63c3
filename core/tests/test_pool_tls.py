"""A fresh process's first call builds no TLS context it does not need: plain-http pools get
one that loads no certificate (and refuses every handshake), https pools share one verifying
context per ca_bundle."""

from __future__ import annotations

import ssl

import pytest
from echo_vendor import EchoVendor

import agentflow._http.transport as transport
from agentflow import LLMClientBuilder
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, ProviderConfig


@pytest.mark.anyio
async def test_a_plain_http_pool_loads_no_certificates(server, monkeypatch):
    def refuse(ca_bundle=None):
        raise AssertionError("a CA bundle was loaded for a plain-http base URL")

    monkeypatch.setattr(transport, "tls_context", refuse)
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"))}))
    try:
        assert await LLMClientBuilder("echo-1", runtime=runtime).prompt("hi").execute()
    finally:
        await runtime.aclose()


def test_the_plain_http_context_refuses_every_certificate():
    context = transport._no_tls()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.get_ca_certs() == []  # nothing to trust: any TLS handshake fails


def test_pools_share_one_verifying_context_per_ca_bundle():
    assert transport.tls_context(None) is transport.tls_context(None)
    assert transport.tls_context(None).verify_mode == ssl.CERT_REQUIRED
