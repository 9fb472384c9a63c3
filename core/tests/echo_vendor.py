"""A minimal vendor plugin used by the core's own tests, so they need no real vendor plugin.

Its wire format is deliberately simple: ``POST {base}/generate`` with ``{"model", "messages",
...params}``; the answer is ``{"text", "finish", "usage": [prompt, completion]}``; a stream is a
series of ``{"delta": "..."}`` events closed by ``{"finish": ..., "usage": [...]}``; errors are
``{"error": "message"}``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from agentflow.errors import HttpError, LLMError, ProviderError, RateLimitError, StreamingError
from agentflow.hookspecs import hookimpl
from agentflow.testing.fake import FakeCall, FakeJSON, FakeProvider, FakeRoute, FakeStream
from agentflow.types import ModelInfo, ProviderSpec, Response, StreamChunk, Usage

NAME = "echo"
KEY_ENV = "ECHO_API_KEY"


class EchoVendor:
    """The hook implementations of the ``echo`` vendor."""

    @hookimpl
    def agentflow_register_providers(self) -> list[ProviderSpec]:
        return [ProviderSpec(name=NAME, default_base_url="https://echo.invalid/v1",
                             api_key_env=KEY_ENV, temperature_range=(0.0, 1.5))]

    @hookimpl
    def agentflow_default_models(self) -> list[ModelInfo]:
        return [ModelInfo(name="echo-1", provider=NAME, model_id="echo-1-2026"),
                ModelInfo(name="echo-nostream", provider=NAME, supports_streaming=False)]

    @hookimpl
    def agentflow_build_request(self, vendor: str, request: Any, settings: Any) -> Any:
        if vendor != NAME:
            return None
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": request.stream,
        }
        for name in ("temperature", "top_p", "max_tokens"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.stop:
            body["stop"] = list(request.stop)
        headers = {"authorization": f"Bearer {settings.api_key.reveal()}"}
        return httpx.Request("POST", settings.base_url.rstrip("/") + "/generate",
                             json=body, headers=headers)

    @hookimpl
    def agentflow_parse_response(self, vendor: str, response: httpx.Response) -> Any:
        if vendor != NAME:
            return None
        try:
            body = response.json()
            return Response(text=body["text"], model=body["model"], provider=NAME,
                            finish_reason=body["finish"], raw_finish_reason=body["finish"],
                            usage=Usage.of(*body["usage"]),
                            request_id=response.headers.get("x-request-id"))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(f"echo sent an answer that is not understood: {exc!r}") from exc

    @hookimpl
    def agentflow_parse_stream_event(self, vendor: str, event: Any, state: Any) -> Any:
        if vendor != NAME:
            return None
        try:
            body = json.loads(event.data)
        except ValueError as exc:
            raise StreamingError(f"echo sent a stream event that is not JSON: {exc}") from exc
        if "error" in body:
            raise HttpError(f"echo failed mid-stream: {body['error']}", status_code=500)
        if "delta" in body:
            return [StreamChunk(content=body["delta"])]
        return [StreamChunk(is_final=True, finish_reason=body["finish"],
                            raw_finish_reason=body["finish"], usage=Usage.of(*body["usage"]))]

    @hookimpl
    def agentflow_map_error(self, vendor: str, response: httpx.Response) -> LLMError | None:
        if vendor != NAME:
            return None
        message = response.json().get("error", "unknown")
        if response.status_code == 429:
            retry = response.headers.get("retry-after")
            return RateLimitError(f"echo is busy: {message}",
                                  retry_after=float(retry) if retry else None)
        return HttpError(f"echo answered {response.status_code}: {message}",
                         status_code=response.status_code, vendor_message=message)

    @hookimpl
    def agentflow_fake_routes(self) -> list[FakeProvider]:
        return [FakeProvider(provider=NAME, base_path="/v1",
                             routes=[FakeRoute(method="POST", path="/generate",
                                               handler=_generate)])]


async def _generate(call: FakeCall) -> Any:
    reply = call.reply
    if reply.status >= 400:
        headers = {"retry-after": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
        return FakeJSON(status=reply.status, body={"error": reply.error_message}, headers=headers)
    if call.headers.get("authorization", "") != "Bearer test-key":
        return FakeJSON(status=401, body={"error": "bad key"})
    prompt = next((m["content"] for m in reversed(call.json["messages"]) if m["role"] == "user"),
                  "")
    text = reply.text_for(prompt)
    usage = list(reply.usage or (len(prompt.split()), len(text.split())))
    finish = reply.finish_reason or "stop"
    if call.json.get("stream"):
        events = [json.dumps({"delta": piece}) for piece in reply.split(text)]
        events.append(json.dumps({"finish": finish, "usage": usage}))
        return FakeStream(events=events, headers={"x-request-id": "req-echo-stream"})
    return FakeJSON(body={"text": text, "model": call.json["model"], "finish": finish,
                          "usage": usage}, headers={"x-request-id": "req-echo-1"})
