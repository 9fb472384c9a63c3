"""Azure OpenAI as the fake provider server plays it.

Mounted at ``/azure_openai`` (that is the resource's endpoint): Chat Completions by deployment
(``POST /openai/deployments/{deployment}/chat/completions?api-version=...``), the Responses
API (``POST /openai/responses?api-version=...``), the v1 endpoint (``/openai/v1/...``, no
``api-version``) and the model lists. A request needs the ``api-key`` header or an
``Authorization: Bearer`` token, and ``api-version`` where Azure asks for it. Answers are
OpenAI's (the Chat Completions and Responses emulations), errors Azure's: ``{"error": {"code":
"429", "message": ...}}`` for scripted statuses, and for ``Reply(status=400,
error_type="content_filter")`` the content-filter refusal with ``innererror.code ==
"ResponsibleAIPolicyViolation"`` and its ``content_filter_result``, with the
``x-ms-error-code`` and ``apim-request-id`` headers. Shapes from
https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference and
https://learn.microsoft.com/en-us/azure/ai-foundry/openai/concepts/content-filter.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from agentflow.testing import FakeCall, FakeJSON, FakeProvider, FakeRoute, FakeStream
from agentflow.testing.emulation import retry_after_header

__all__ = ["azure_openai_fake"]

Handler = Callable[[FakeCall], Awaitable[Any]]
_DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
           "provide a valid key for an active subscription and use a correct regional API "
           "endpoint for your resource.")
_FILTERED = ("The response was filtered due to the prompt triggering Azure OpenAI's content "
             "management policy. Please modify your prompt and retry.")


def _error(status: int, body: dict[str, Any], code: str | None = None,
           extra: dict[str, str] | None = None) -> FakeJSON:
    request_id = secrets.token_hex(16)
    headers = {"apim-request-id": request_id, "x-request-id": request_id, **(extra or {})}
    if code:
        headers["x-ms-error-code"] = code
    return FakeJSON(status=status, body=body, headers=headers)


def _header(call: FakeCall, name: str) -> str | None:
    return next((v for k, v in call.headers.items() if k.lower() == name), None)


def _refuse(call: FakeCall, *, versioned: bool) -> FakeJSON | None:
    key = _header(call, "api-key")
    scheme, _, token = (_header(call, "authorization") or "").partition(" ")
    if not key and not (scheme.lower() == "bearer" and token.strip()):
        return _error(401, {"error": {"code": "401", "message": _DENIED}})
    if versioned and not call.query.get("api-version"):
        return _error(404, {"error": {"code": "404", "message": "Resource not found"}})
    reply = call.reply
    if reply.status < 400:
        return None
    if reply.error_type == "content_filter":
        return _error(reply.status, {"error": {
            "message": _FILTERED, "type": None, "param": "prompt", "code": "content_filter",
            "status": reply.status, "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": {"filtered": False, "severity": "safe"},
                    "self_harm": {"filtered": False, "severity": "safe"},
                    "sexual": {"filtered": False, "severity": "safe"},
                    "violence": {"filtered": True, "severity": "medium"},
                    "jailbreak": {"filtered": False, "detected": False}}}}},
            code="content_filter")
    code = reply.error_type or str(reply.status)
    return _error(reply.status, {"error": {"code": code, "message": reply.error_message}},
                  extra=retry_after_header(reply))


def _as(call: FakeCall, model: str) -> FakeCall:
    body = call.json if isinstance(call.json, dict) else None
    if body is None:
        return call
    body = {**body, "model": model}
    return attrs.evolve(call, json=body, body=json.dumps(body).encode())


def azure_openai_fake() -> FakeProvider:
    """The emulation of the ``azure_openai`` vendor."""
    from agentflow_openai._catalog import AZURE_MODELS, model_options
    from agentflow_openai.testing._service import chat_completions_fake

    inner = chat_completions_fake("azure_openai", require_key=False, model_options=model_options,
                                  models=[m.model_id or m.name for m in AZURE_MODELS],
                                  responses=True)
    handlers = {route.path: route.handler for route in inner.routes}

    def guarded(path: str, *, versioned: bool, deployment: bool = False) -> Handler:
        async def handle(call: FakeCall) -> FakeJSON | FakeStream:
            refused = _refuse(call, versioned=versioned)
            if refused is not None:
                return refused
            if deployment:
                call = _as(call, call.path_params["deployment"])
            answer = await handlers[path](call)
            assert isinstance(answer, (FakeJSON, FakeStream))
            return answer

        return handle

    return FakeProvider(provider="azure_openai", base_path="", routes=[
        FakeRoute(method="POST", path="/openai/deployments/{deployment}/chat/completions",
                  handler=guarded("/chat/completions", versioned=True, deployment=True)),
        FakeRoute(method="POST", path="/openai/responses",
                  handler=guarded("/responses", versioned=True)),
        FakeRoute(method="GET", path="/openai/models",
                  handler=guarded("/models", versioned=True)),
        FakeRoute(method="POST", path="/openai/v1/chat/completions",
                  handler=guarded("/chat/completions", versioned=False)),
        FakeRoute(method="POST", path="/openai/v1/responses",
                  handler=guarded("/responses", versioned=False)),
        FakeRoute(method="GET", path="/openai/v1/models",
                  handler=guarded("/models", versioned=False)),
    ])
