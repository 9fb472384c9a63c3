"""Test code that uses agentflow offline, against a fake provider server on loopback.

Each vendor plugin contributes an emulation of its API (``agentflow_fake_routes``);
:class:`FakeServer` serves them over real HTTP, and tests script what it answers with
:class:`Reply`: fixed text or an echo, streams of N chunks, any status with Retry-After, delays,
a connection cut after K chunks, malformed bodies. With ``agentflow-core[testing]`` installed,
pytest gets the ``fake_llm_server`` and ``fake_agentflow`` fixtures (see docs/testing.md).

The names below load on first access: importing this package imports no web server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow._lazy import lazy_exports

if TYPE_CHECKING:
    from agentflow._plugins.host import PluginHost
    from agentflow.testing.app import RecordedRequest
    from agentflow.testing.emulation import Cut, count_tokens, cut_answer, retry_after_header
    from agentflow.testing.fake import (
        FakeCall,
        FakeJSON,
        FakeProvider,
        FakeRaw,
        FakeRoute,
        FakeStream,
        FakeToolCall,
        Reply,
    )
    from agentflow.testing.server import FakeServer

__all__ = [
    "Cut",
    "FakeCall",
    "FakeJSON",
    "FakeProvider",
    "FakeRaw",
    "FakeRoute",
    "FakeServer",
    "FakeStream",
    "FakeToolCall",
    "PluginHost",
    "RecordedRequest",
    "Reply",
    "count_tokens",
    "cut_answer",
    "retry_after_header",
]

_LOCATIONS = {
    "FakeServer": "agentflow.testing.server",
    "PluginHost": "agentflow._plugins.host",
    "RecordedRequest": "agentflow.testing.app",
    **dict.fromkeys(("Cut", "count_tokens", "cut_answer", "retry_after_header"),
                    "agentflow.testing.emulation"),
    **dict.fromkeys(("FakeCall", "FakeJSON", "FakeProvider", "FakeRaw", "FakeRoute",
                     "FakeStream", "FakeToolCall", "Reply"), "agentflow.testing.fake"),
}


__getattr__, __dir__ = lazy_exports('agentflow.testing', globals(), _LOCATIONS)
