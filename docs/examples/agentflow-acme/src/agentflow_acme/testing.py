"""Acme's API as the fake provider server plays it, so the plugin can be tested offline.

It follows the emulation contract of agentflow's conformance suite (see ``Reply``): one token
per word, the answer cut at ``max_tokens`` words (``max_length``) or where a stop sequence
starts, the scripted status, finish reason and usage, and an ``x-request-id`` on every answer.
Nothing at run time imports this module: the plugin's ``agentflow_fake_routes`` loads it when
the fake server asks.
"""

from __future__ import annotations

import json
import uuid

from agentflow.testing import (
    FakeCall,
    FakeJSON,
    FakeProvider,
    FakeRoute,
    FakeStream,
    Reply,
    count_tokens,
    cut_answer,
    retry_after_header,
)


def emulations() -> list[FakeProvider]:
    return [acme_fake()]


def acme_fake() -> FakeProvider:
    return FakeProvider(provider="acme", base_path="/v1", routes=[
        FakeRoute(method="POST", path="/complete", handler=complete),
        FakeRoute(method="GET", path="/models", handler=models),
    ])


def _refusal(call: FakeCall, headers: dict[str, str]) -> FakeJSON | None:
    """401 without a key; the scripted error status, if any; None to go on."""
    if not call.headers.get("x-acme-key"):
        return FakeJSON(status=401, body={"problem": "missing x-acme-key header"},
                        headers=headers)
    reply = call.reply
    if reply.status >= 400:
        headers.update(retry_after_header(reply))
        return FakeJSON(status=reply.status, body={"problem": reply.error_message},
                        headers=headers)
    return None


async def models(call: FakeCall) -> FakeJSON:
    headers = {"x-request-id": f"acme-{uuid.uuid4().hex[:12]}"}
    return _refusal(call, headers) or FakeJSON(
        headers=headers, body={"models": [{"id": "acme-large-2026-01"}]})


async def complete(call: FakeCall) -> FakeJSON | FakeStream:
    reply = call.reply
    headers = {"x-request-id": f"acme-{uuid.uuid4().hex[:12]}"}
    refused = _refusal(call, headers)
    if refused is not None:
        return refused
    request = call.json
    prompt = next((m["text"] for m in reversed(request["input"]) if m["role"] == "user"), "")
    cut = cut_answer(reply.text_for(prompt), request.get("stop"), request.get("max_tokens"))
    text = cut.text
    stop_reason = reply.finish_reason or ("max_length" if cut.at_limit else "end")
    tokens_in, tokens_out = reply.usage or (
        sum(count_tokens(m["text"]) for m in request["input"]), count_tokens(text))
    tokens = {"in": tokens_in, "out": tokens_out}
    if request.get("stream"):
        return FakeStream(events=_events(reply, text, stop_reason, tokens), headers=headers)
    return FakeJSON(headers=headers, body={
        "id": headers["x-request-id"], "model": request["model"], "output": text,
        "stop_reason": stop_reason, "tokens": tokens})


def _events(reply: Reply, text: str, stop_reason: str,
            tokens: dict[str, int]) -> list[str | tuple[str, str]]:
    pieces = reply.split(text)
    if reply.error_after is not None:  # Acme reports a failure mid-stream with an error event
        sent = pieces[:reply.error_after]
        return [*(("delta", json.dumps({"text": piece})) for piece in sent),
                ("error", json.dumps({"problem": reply.error_message, "status": 503}))]
    events: list[str | tuple[str, str]] = [
        ("delta", json.dumps({"text": piece})) for piece in pieces]
    events.append(("done", json.dumps({"stop_reason": stop_reason, "tokens": tokens})))
    return events
