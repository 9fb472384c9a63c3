"""Transport security against a real local TLS server whose certificate is made in the test:
verification always on, ca_bundle for private CAs, proxies only with trust_env."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme
from echo_vendor import EchoVendor

from agentflow import ConfigurationError, LLMClientBuilder, ProviderError
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig, load_config, validate_config


class EchoHandler(BaseHTTPRequestHandler):
    """Answers the echo vendor's POST /v1/generate."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        answer = json.dumps({"text": "over TLS", "model": body["model"], "finish": "stop",
                             "usage": [1, 2]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(ca):
    """An HTTPS server on loopback whose certificate (for ``localhost``) only ``ca`` signs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / "certs" / "private-ca.pem"
    path.parent.mkdir()
    ca.cert_pem.write_to_path(str(path))
    return path


def runtime(port: int, *, host: str = "localhost", **provider: object) -> Runtime:
    plugins = PluginHost(entry_points=False)
    plugins.register(EchoVendor())
    return Runtime(host=plugins, config=Config(
        providers={"echo": ProviderConfig(base_url=f"https://{host}:{port}/v1", **provider)},
        defaults=Defaults(max_retries=0)))


async def ask(runtime: Runtime) -> str:
    try:
        return await LLMClientBuilder("echo-1", runtime=runtime).prompt("hi").execute()
    finally:
        await runtime.aclose()


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "test-key")
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy",
                 "http_proxy", "all_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.anyio
async def test_an_untrusted_certificate_is_refused_with_the_way_out(tls_server):
    with pytest.raises(ProviderError) as caught:
        await ask(runtime(tls_server))
    message = str(caught.value)
    assert "TLS certificate" in message
    assert "could not be verified" in message
    assert "providers.echo.ca_bundle" in message


@pytest.mark.anyio
async def test_a_ca_bundle_makes_the_private_ca_trusted(tls_server, ca_file):
    assert await ask(runtime(tls_server, ca_bundle=str(ca_file))) == "over TLS"


@pytest.mark.anyio
async def test_the_host_name_is_still_checked_with_a_ca_bundle(tls_server, ca_file):
    with pytest.raises(ProviderError, match="could not be verified"):
        await ask(runtime(tls_server, host="127.0.0.1", ca_bundle=str(ca_file)))


@pytest.mark.anyio
async def test_defaults_ca_bundle_applies_to_every_provider(tls_server, ca_file):
    plugins = PluginHost(entry_points=False)
    plugins.register(EchoVendor())
    configured = Runtime(host=plugins, config=Config(
        providers={"echo": ProviderConfig(base_url=f"https://localhost:{tls_server}/v1")},
        defaults=Defaults(max_retries=0, ca_bundle=str(ca_file))))
    assert await ask(configured) == "over TLS"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.anyio
async def test_proxy_variables_are_ignored_unless_trust_env(tls_server, ca_file, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}")
    assert await ask(runtime(tls_server, ca_bundle=str(ca_file))) == "over TLS"
    with pytest.raises(ProviderError, match="could not connect"):
        await ask(runtime(tls_server, ca_bundle=str(ca_file), trust_env=True))


def test_a_relative_ca_bundle_is_read_from_the_files_folder(ca_file, tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    path = tmp_path / "agentflow.yml"
    path.write_text("providers:\n  echo:\n    ca_bundle: certs/private-ca.pem\n"
                    "defaults:\n  ca_bundle: ./certs/private-ca.pem\n")
    config = load_config(path)
    assert config.providers["echo"].ca_bundle == str(ca_file.resolve())
    assert config.defaults.ca_bundle == str(ca_file.resolve())


def test_a_missing_or_unusable_ca_bundle_is_a_located_error(tmp_path):
    (tmp_path / "notes.pem").write_text("not a certificate\n")
    path = tmp_path / "agentflow.yml"
    path.write_text("providers:\n  echo:\n    ca_bundle: missing.pem\n"
                    "defaults:\n  ca_bundle: notes.pem\n")
    report = validate_config(path, providers={})
    found = {(issue.path, issue.line, issue.column): issue.message for issue in report.errors}
    assert found[("providers.echo.ca_bundle", 3, 16)] == (
        f"no such file: {tmp_path.resolve() / 'missing.pem'}")
    assert found[("defaults.ca_bundle", 5, 14)].startswith(
        f"{tmp_path.resolve() / 'notes.pem'} is not a PEM file of CA certificates")
    with pytest.raises(ConfigurationError, match=r"missing\.pem"):
        load_config(path)


def test_no_setting_turns_verification_off(tmp_path):
    path = tmp_path / "agentflow.yml"
    path.write_text("providers:\n  echo:\n    verify: false\n")
    report = validate_config(path, providers={})
    assert [(issue.path, issue.message.split(";")[0]) for issue in report.errors
            if issue.path.endswith("verify")] == [("providers.echo.verify",
                                                   "unknown key 'verify'")]
