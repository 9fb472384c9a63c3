"""Rules for ``base_url``: an http(s) URL with a host, no credential in it, plain http only
to this machine.

An API key travels in a header on every request, so plain http is allowed only to loopback
hosts (``localhost``, 127.0.0.0/8, ``::1``) unless a provider sets ``allow_insecure_http``.
A name under ``.localhost`` is not among them: only ``localhost`` itself is sure to stay on
this machine, a resolver may send ``api.localhost`` anywhere. A key in the URL
(``?key=...``, ``user:password@``) would be sent, logged and shown with it, so it is refused:
keys are read from the variable ``api_key_env`` names.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, parse_qsl, urlsplit

from agentflow.config._secrets import has_key_prefix, is_secret_key_name

_IN_URL = ("API keys are never read from files; name the variable that holds the key with "
           "api_key_env")


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    return parts


def base_url_problem(url: str) -> str | None:
    """What is wrong with the form of ``url`` as a base URL, or None."""
    if any(char.isspace() for char in url):
        return "must be an http(s) URL with a host, without spaces"
    parts = _split(url)
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host, like https://api.example.com/v1"
    if parts.username is not None or parts.password is not None:
        return f"must not carry credentials (user:password@): {_IN_URL}"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if is_secret_key_name(name) or has_key_prefix(value) or has_key_prefix(name):
            shown = "" if has_key_prefix(name) else f" ({name}=...)"
            return (f"must not carry a key in its query{shown}, where it would be sent, logged "
                    f"and shown with every request: {_IN_URL}")
    if any(has_key_prefix(segment) for segment in parts.path.split("/")):
        return f"must not carry a key in its path: {_IN_URL}"
    return None


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is surely this machine: localhost, 127.0.0.0/8 or ::1 (not a name
    under ``.localhost``, which a resolver may send elsewhere)."""
    name = host.lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def insecure_host(url: str) -> str | None:
    """The host of a well-formed plain-http ``url`` to another machine, else None."""
    parts = _split(url)
    if parts is None or parts.scheme.lower() != "http" or not parts.hostname:
        return None
    return None if is_loopback_host(parts.hostname) else parts.hostname


def insecure_http_message(host: str, provider: str) -> str:
    """Why plain http to ``host`` is refused, and the two ways out."""
    return (f"plain http to {host} would send the API key unencrypted; use https, or set "
            f"providers.{provider}.allow_insecure_http: true to allow it")
