"""Endpoint URLs, parsed once: a vendor's endpoint is the same URL on every request."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = ["endpoint_url"]


@functools.lru_cache(maxsize=256)
def endpoint_url(url: str) -> httpx.URL:
    """``url`` as an ``httpx.URL``, parsed on its first use only.

    ``httpx.Request(method, "https://...")`` parses and checks its URL every time, about half
    of what building a request costs; given this ``httpx.URL`` it takes it as it is. Build
    the string as usual (``f"{settings.base_url}/chat/completions"``) and pass it through
    this. Invalid URLs raise ``httpx.InvalidURL`` as httpx would, and are not remembered.
    """
    import httpx

    return httpx.URL(url)
