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

# Every public name, by the module that defines it: the one list of the package's public API.
# ``__all__`` is derived from it; tests/test_exported_members.py checks it against the
# TYPE_CHECKING imports below (which give type checkers the same names, re-exported with
# ``as``) and against the objects themselves.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "agentflow._api.agent": ("AgentRun",),
    "agentflow._api.builder": ("LLMClientBuilder",),
    "agentflow._api.facade": ("AgentFlow",),
    "agentflow._call.client": ("LLMClient",),
    "agentflow._call.streaming": ("StreamingResponse",),
    "agentflow._observe.events": ("ExecutionEvent", "MetricsCollector"),
    "agentflow._observe.logs": ("redact",),
    "agentflow._observe.table": ("metrics_table",),
    "agentflow._ops.health": ("ProviderHealth",),
    "agentflow.config": ("ValidationReport",),
    "agentflow.errors": (
        "CircuitOpenError", "ConfigurationError", "HttpError", "LLMError", "LLMTimeoutError",
        "MissingApiKeyError", "ModelNotFoundError", "ProviderError", "RateLimitError",
        "StreamingError", "ToolError", "ToolLoopLimitError", "UnsupportedProviderError",
        "ValidationError",
    ),
    "agentflow.hookspecs": ("hookimpl",),
    "agentflow.types": (
        "ImagePart", "Message", "Response", "StreamChunk", "TextPart", "Tool", "ToolCall",
        "Usage",
    ),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(
    "agentflow", globals(),
    {name: module for module, names in _EXPORTS.items() for name in names},
)

if TYPE_CHECKING:
    from agentflow._api.agent import AgentRun as AgentRun
    from agentflow._api.builder import LLMClientBuilder as LLMClientBuilder
    from agentflow._api.facade import AgentFlow as AgentFlow
    from agentflow._call.client import LLMClient as LLMClient
    from agentflow._call.streaming import StreamingResponse as StreamingResponse
    from agentflow._observe.events import ExecutionEvent as ExecutionEvent
    from agentflow._observe.events import MetricsCollector as MetricsCollector
    from agentflow._observe.logs import redact as redact
    from agentflow._observe.table import metrics_table as metrics_table
    from agentflow._ops.health import ProviderHealth as ProviderHealth
    from agentflow.config import ValidationReport as ValidationReport
    from agentflow.errors import CircuitOpenError as CircuitOpenError
    from agentflow.errors import ConfigurationError as ConfigurationError
    from agentflow.errors import HttpError as HttpError
    from agentflow.errors import LLMError as LLMError
    from agentflow.errors import LLMTimeoutError as LLMTimeoutError
    from agentflow.errors import MissingApiKeyError as MissingApiKeyError
    from agentflow.errors import ModelNotFoundError as ModelNotFoundError
    from agentflow.errors import ProviderError as ProviderError
    from agentflow.errors import RateLimitError as RateLimitError
    from agentflow.errors import StreamingError as StreamingError
    from agentflow.errors import ToolError as ToolError
    from agentflow.errors import ToolLoopLimitError as ToolLoopLimitError
    from agentflow.errors import UnsupportedProviderError as UnsupportedProviderError
    from agentflow.errors import ValidationError as ValidationError
    from agentflow.hookspecs import hookimpl as hookimpl
    from agentflow.types import ImagePart as ImagePart
    from agentflow.types import Message as Message
    from agentflow.types import Response as Response
    from agentflow.types import StreamChunk as StreamChunk
    from agentflow.types import TextPart as TextPart
    from agentflow.types import Tool as Tool
    from agentflow.types import ToolCall as ToolCall
    from agentflow.types import Usage as Usage
