"""The toolkit for vendor plugin authors: what every provider plugin needs and should not rewrite.

A provider plugin maps one vendor's wire format to agentflow's types. The pieces that do not
depend on the vendor live here, written once, so plugins stay a few hundred lines of mapping:

* :func:`parse_arguments` reads a tool call's JSON arguments (or raises a clear error);
* :func:`is_strict` tells whether a JSON schema qualifies for a vendor's strict mode;
* :func:`sniff_media_type` reads an image's type from its first bytes;
* :func:`parse_retry_after` reads a ``Retry-After`` header in either of its forms.
"""

from __future__ import annotations

from agentflow._content.images import sniff_media_type
from agentflow._content.tools import parse_arguments
from agentflow._content.typeschema import is_strict
from agentflow.vendor._headers import parse_retry_after

__all__ = ["is_strict", "parse_arguments", "parse_retry_after", "sniff_media_type"]
