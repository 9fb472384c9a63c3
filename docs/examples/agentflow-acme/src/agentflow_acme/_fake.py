"""Acme's API as the fake provider server plays it, so the plugin can be tested offline."""

from __future__ import annotations

import json
import uuid

from agentflow.testing import FakeCall, FakeJSON, FakeProvider, FakeRoute, FakeStream


def acme_fake() -> FakeProvider:
    return FakeProvider(provider="acme", base_path="/v1",
                        routes=[FakeRoute(method="POST", path="/complete", handler=complete)])


async def complete(call: FakeCall) -> FakeJSON | FakeStream:
    reply = call.reply
    if not call.headers.get("x-acme-key"):
        return FakeJSON(status=401, body={"problem": "missing x-acme-key header"})
    if reply.status >= 400:
        headers = {} if reply.retry_after is None else {"retry-after": f"{reply.retry_after:g}"}
        return FakeJSON(status=reply.status, body={"problem": reply.error_message},
                        headers=headers)
    prompt = next((m["text"] for m in reversed(call.json["input"]) if m["role"] == "user"), "")
    text = reply.text_for(prompt)
    tokens_in, tokens_out = reply.usage or (len(prompt.split()), len(text.split()))
    tokens = {"in": tokens_in, "out": tokens_out}
    stop_reason = reply.finish_reason or "end"
    if call.json.get("stream"):
        events: list[str | tuple[str, str]] = [
            ("delta", json.dumps({"text": piece})) for piece in reply.split(text)]
        events.append(("done", json.dumps({"stop_reason": stop_reason, "tokens": tokens})))
        return FakeStream(events=events)
    return FakeJSON(body={"id": f"acme-{uuid.uuid4().hex[:12]}", "model": call.json["model"],
                          "output": text, "stop_reason": stop_reason, "tokens": tokens})
