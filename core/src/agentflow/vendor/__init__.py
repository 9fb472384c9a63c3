"""The toolkit for vendor plugin authors: what every provider plugin needs and should not rewrite.

A provider plugin maps one vendor's wire format to agentflow's types. The pieces that do not
depend on the vendor live here, written once, so plugins stay a few hundred lines of mapping
(docs/hooks.md, "The vendor toolkit"):

* :class:`VendorPlugin` answers the vendor hooks for the vendors a plugin declares, through
  each vendor's :class:`Codec`, and every other vendor with ``None``;
* :func:`endpoint_url` parses an endpoint's URL once, for every request to it;
* :func:`parse_json` reads an answer or a stream event, or raises the error that says it could
  not; :class:`ErrorBody`, :func:`read_error_body` and :func:`excerpt` read an error answer;
  :class:`ErrorWords` words the error for a status (the 429, quota and key messages included);
* :func:`token_count` reads a usage figure, :func:`parse_retry_after` a ``Retry-After`` header;
* :func:`parse_arguments` reads a tool call's JSON arguments (or raises a clear error);
* :func:`is_strict` tells whether a JSON schema qualifies for a vendor's strict mode;
* :func:`sniff_media_type` reads an image's type from its first bytes.

The emulation side (the fake server's vocabulary, answer cutting, token counting) is in
:mod:`agentflow.testing`. The names below load on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow._lazy import lazy_exports

if TYPE_CHECKING:
    from agentflow._content.images import sniff_media_type
    from agentflow._content.tools import parse_arguments
    from agentflow._content.typeschema import is_strict
    from agentflow.vendor._errors import (
        EXCERPT_LIMIT,
        STATUS_WORDING,
        ErrorBody,
        ErrorWords,
        excerpt,
        parse_json,
        read_error_body,
        token_count,
    )
    from agentflow.vendor._headers import parse_retry_after
    from agentflow.vendor._plugin import Codec, VendorPlugin
    from agentflow.vendor._urls import endpoint_url

__all__ = [
    "EXCERPT_LIMIT",
    "STATUS_WORDING",
    "Codec",
    "ErrorBody",
    "ErrorWords",
    "VendorPlugin",
    "endpoint_url",
    "excerpt",
    "is_strict",
    "parse_arguments",
    "parse_json",
    "parse_retry_after",
    "read_error_body",
    "sniff_media_type",
    "token_count",
]

_LOCATIONS = {
    "sniff_media_type": "agentflow._content.images",
    "parse_arguments": "agentflow._content.tools",
    "is_strict": "agentflow._content.typeschema",
    "parse_retry_after": "agentflow.vendor._headers",
    "endpoint_url": "agentflow.vendor._urls",
    **dict.fromkeys(("Codec", "VendorPlugin"), "agentflow.vendor._plugin"),
    **dict.fromkeys(("EXCERPT_LIMIT", "STATUS_WORDING", "ErrorBody", "ErrorWords", "excerpt",
                     "parse_json", "read_error_body", "token_count"), "agentflow.vendor._errors"),
}

__getattr__, __dir__ = lazy_exports("agentflow.vendor", globals(), _LOCATIONS)
