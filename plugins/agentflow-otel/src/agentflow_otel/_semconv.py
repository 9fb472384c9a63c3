"""What agentflow's event metadata is called in the OpenTelemetry GenAI semantic conventions.

Names are those of semantic conventions v1.41.0, the last release that holds the GenAI
conventions before they moved to their own repository (open-telemetry/semantic-conventions-
genai): ``docs/gen-ai/gen-ai-spans.md`` and ``gen-ai-metrics.md``. They are the "latest
experimental" names, the ones ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``
asks of older instrumentations (``gen_ai.provider.name``, not ``gen_ai.system``). Pure
functions of plain data: nothing here imports OpenTelemetry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["DURATION_BUCKETS", "PROVIDER_NAMES", "SCHEMA_URL", "TOKEN_BUCKETS",
           "end_attributes", "metric_attributes", "span_name", "start_attributes"]

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"
#: The conventions' advised boundaries for ``gen_ai.client.operation.duration`` and
#: ``gen_ai.client.operation.time_to_first_chunk`` (seconds).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)
#: ... and for ``gen_ai.client.token.usage`` (tokens).
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)
#: The conventions' well-known ``gen_ai.provider.name`` values where agentflow's vendor name
#: differs; other vendors keep their own name.
PROVIDER_NAMES = {"google": "gcp.gemini", "moonshot_cn": "moonshot"}
OPERATION = "chat"

# Request parameters, should the start event carry them (the core does not, today).
_REQUEST_PARAMETERS = {"temperature": "gen_ai.request.temperature",
                       "top_p": "gen_ai.request.top_p",
                       "max_tokens": "gen_ai.request.max_tokens"}
# End-event metadata -> span attribute, copied when not None.
_END_ATTRIBUTES = {"response_model": "gen_ai.response.model",
                   "prompt_tokens": "gen_ai.usage.input_tokens",
                   "completion_tokens": "gen_ai.usage.output_tokens",
                   "cached_tokens": "gen_ai.usage.cache_read.input_tokens",
                   "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
                   "status": "http.response.status_code",
                   # the vendor's request id, from a header: not always the completion's id
                   # that gen_ai.response.id means, so it keeps a name of our own
                   "request_id": "agentflow.request_id",
                   "attempts": "agentflow.attempts",
                   "cost_usd": "agentflow.cost_usd",
                   # a stream's chunks, summed up by its end event (no event per chunk)
                   "chunks": "agentflow.stream.chunks",
                   "chunk_gap_mean_ms": "agentflow.stream.chunk_gap_mean_ms",
                   "chunk_gap_max_ms": "agentflow.stream.chunk_gap_max_ms"}


def request_model(meta: Mapping[str, Any]) -> str:
    """The model id that was sent (the alias when the id is unknown)."""
    return str(meta.get("model_id") or meta.get("model") or "")


def span_name(meta: Mapping[str, Any]) -> str:
    """``{gen_ai.operation.name} {gen_ai.request.model}``."""
    return f"{OPERATION} {request_model(meta)}"


def provider_name(meta: Mapping[str, Any]) -> str:
    """``gen_ai.provider.name``: the vendor that speaks the wire format."""
    vendor = str(meta.get("vendor") or "")
    return PROVIDER_NAMES.get(vendor, vendor)


def start_attributes(meta: Mapping[str, Any], *, capture_text: bool) -> dict[str, Any]:
    """The attributes a call's span starts with (those samplers may look at)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": provider_name(meta),
        "gen_ai.request.model": request_model(meta),
        "agentflow.model": str(meta.get("model") or ""),
        "agentflow.provider": str(meta.get("provider") or ""),
        "agentflow.call_id": str(meta.get("call_id") or "")}
    if meta.get("stream"):
        attributes["gen_ai.request.stream"] = True  # set only on streams, as advised
    for key, name in _REQUEST_PARAMETERS.items():
        value = meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[name] = value
    prompt = meta.get("prompt")
    if capture_text and prompt:
        attributes["gen_ai.input.messages"] = _json([
            {"role": str(message["role"]),
             "parts": [{"type": "text", "content": str(message["content"])}]}
            for message in prompt])
    return attributes


def end_attributes(event_type: str, meta: Mapping[str, Any], *,
                   capture_text: bool) -> dict[str, Any]:
    """The attributes a call's span gets from its end event."""
    attributes = {name: meta[key] for key, name in _END_ATTRIBUTES.items()
                  if meta.get(key) is not None}
    finish = meta.get("finish_reason")
    if finish:
        attributes["gen_ai.response.finish_reasons"] = (str(finish),)
    first_token_ms = meta.get("time_to_first_token_ms")
    if first_token_ms is not None:
        attributes["gen_ai.response.time_to_first_chunk"] = first_token_ms / 1000
    if event_type == "llm.request.error":
        attributes["error.type"] = error_type(meta)
    answer = meta.get("answer")
    if capture_text and answer is not None:
        attributes["gen_ai.output.messages"] = _json([
            {"role": "assistant", "parts": [{"type": "text", "content": str(answer)}],
             "finish_reason": str(finish or "")}])
    return attributes


def error_type(meta: Mapping[str, Any]) -> str:
    """``error.type``: the agentflow error class (``HttpError``, ``LLMTimeoutError``, ...)."""
    return str(meta.get("error_type") or "_OTHER")


def metric_attributes(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of every metric point of a call (low cardinality only)."""
    attributes: dict[str, Any] = {"gen_ai.operation.name": OPERATION,
                                  "gen_ai.provider.name": provider_name(meta),
                                  "gen_ai.request.model": request_model(meta)}
    if meta.get("response_model"):
        attributes["gen_ai.response.model"] = str(meta["response_model"])
    return attributes


def _json(messages: list[dict[str, Any]]) -> str:
    # A JSON string, as the conventions allow: structured attribute values are not supported
    # by every OpenTelemetry version, exporter and backend this plugin may meet.
    return json.dumps(messages, ensure_ascii=False)
