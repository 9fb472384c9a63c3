"""agentflow: one clean async API for many LLM providers.

``from agentflow import AgentFlow`` and go::

    text = await AgentFlow.model("gpt-4o").prompt("Hi").temperature(0.7).execute()

The public names below are loaded on first access, so ``import agentflow`` stays cheap and
imports no plugin, and no HTTP library, until a request needs one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = [
    "AgentFlow",
    "AgentRun",
    "CircuitOpenError",
    "ConfigurationError",
    "ExecutionEvent",
    "HttpError",
    "ImagePart",
    "LLMClient",
    "LLMClientBuilder",
    "LLMError",
    "LLMTimeoutError",
    "Message",
    "MetricsCollector",
    "MissingApiKeyError",
    "ModelNotFoundError",
    "ProviderError",
    "RateLimitError",
    "Response",
    "StreamChunk",
    "StreamingError",
    "StreamingResponse",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolLoopLimitError",
    "UnsupportedProviderError",
    "Usage",
    "ValidationError",
    "ValidationReport",
    "hookimpl",
]

_LOCATIONS = {
    "AgentFlow": "agentflow.facade",
    "LLMClient": "agentflow.client",
    "LLMClientBuilder": "agentflow.builder",
    "StreamingResponse": "agentflow.streaming",
    "ExecutionEvent": "agentflow.observability",
    "MetricsCollector": "agentflow.observability",
    "ValidationReport": "agentflow.config",
    "hookimpl": "agentflow.hookspecs",
    "Message": "agentflow.types",
    "ImagePart": "agentflow.types",
    "TextPart": "agentflow.types",
    "Tool": "agentflow.types",
    "ToolCall": "agentflow.types",
    "AgentRun": "agentflow.agent",
    "ToolLoopLimitError": "agentflow.agent",
    "Response": "agentflow.types",
    "StreamChunk": "agentflow.types",
    "Usage": "agentflow.types",
    **dict.fromkeys(
        (
            "CircuitOpenError", "ConfigurationError", "HttpError", "LLMError",
            "LLMTimeoutError",
            "MissingApiKeyError", "ModelNotFoundError", "ProviderError", "RateLimitError",
            "StreamingError", "UnsupportedProviderError", "ValidationError",
        ),
        "agentflow.errors",
    ),
}


__getattr__, __dir__ = lazy_exports('agentflow', globals(), _LOCATIONS)


if TYPE_CHECKING:
    from agentflow.agent import AgentRun, ToolLoopLimitError
    from agentflow.builder import LLMClientBuilder
    from agentflow.client import LLMClient
    from agentflow.config import ValidationReport
    from agentflow.errors import (
        ConfigurationError,
        HttpError,
        LLMError,
        LLMTimeoutError,
        MissingApiKeyError,
        ModelNotFoundError,
        ProviderError,
        RateLimitError,
        StreamingError,
        UnsupportedProviderError,
        ValidationError,
    )
    from agentflow.facade import AgentFlow
    from agentflow.hookspecs import hookimpl
    from agentflow.observability import ExecutionEvent, MetricsCollector
    from agentflow.streaming import StreamingResponse
    from agentflow.types import (
        ImagePart,
        Message,
        Response,
        StreamChunk,
        TextPart,
        Tool,
        ToolCall,
        Usage,
    )
