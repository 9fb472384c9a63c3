"""Rules for ``base_url``: an http(s) URL with a host, plain http only to this machine.

An API key travels in a header on every request, so plain http is allowed only to loopback
hosts (``localhost``, 127.0.0.0/8, ``::1``) unless a provider sets ``allow_insecure_http``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit


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
        return ("must not carry credentials (user:password@): API keys are never read from "
                "files; name the variable that holds the key with api_key_env")
    return None


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is this machine: localhost, 127.0.0.0/8 or ::1."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
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
