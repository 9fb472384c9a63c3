"""The OpenAI-compatible presets as the fake server plays them: the Chat Completions emulation
(:func:`~agentflow_openai.testing.chat_completions_fake`) under each preset's name, its streams
reshaped the way that service sends them (``Preset.emulation``):

* ``usage``: ``"chunk"`` keeps OpenAI's usage chunk (sent when ``stream_options`` asks);
  ``"last"`` puts the usage in the chunk with the finish reason, always; ``"choice"`` inside
  that chunk's choice; ``"x_groq"`` in its ``x_groq`` object, as Groq does;
* a preset with a ``reasoning_field`` streams a reasoning delta first (``reasoning_content`` or
  ``reasoning``), which is not the answer;
* ``done: False`` ends streams without ``data: [DONE]``;
* ``comments: True`` sends ``: PROCESSING`` comment lines between events (OpenRouter's
  keep-alive), except when the reply scripts a transport fault (then the events go out plain);
* ``error: "choices"`` sends an error after the answer began as OpenRouter does: the error
  object beside a choice whose finish reason is ``error``.

Local servers (a ``key_optional`` preset) take requests without a key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from agentflow.testing import FakeCall, FakeJSON, FakeProvider, FakeRaw, FakeRoute, FakeStream
from agentflow.testing.app import sse_frame
from agentflow_openai.testing._service import chat_completions_fake

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from agentflow_openai.presets import Preset

__all__ = ["preset_fake", "preset_fakes"]

COMMENT = b": PROCESSING\n\n"
REASONING = "Thinking it over."


def preset_fakes() -> list[FakeProvider]:
    """The emulation of every preset."""
    from agentflow_openai.presets import PRESETS

    return [preset_fake(preset) for preset in PRESETS]


def preset_fake(preset: Preset) -> FakeProvider:
    """The emulation of one preset (mounted at ``/<name>/v1``)."""
    base = chat_completions_fake(preset.name, require_key=not preset.key_optional,
                                 models=list(preset.models) or ["local-model"],
                                 owned_by=preset.name)
    routes = [FakeRoute(method=route.method, path=route.path,
                        handler=_reshaped(preset, route.handler))
              if route.path == "/chat/completions" else route for route in base.routes]
    return attrs.evolve(base, routes=routes)


def _reshaped(preset: Preset, inner: Callable[[FakeCall], Awaitable[Any]]
              ) -> Callable[[FakeCall], Awaitable[FakeJSON | FakeRaw | FakeStream]]:
    emulation = preset.emulation
    usage_where = emulation.get("usage", "chunk")

    async def handler(call: FakeCall) -> FakeJSON | FakeRaw | FakeStream:
        body = call.json
        if isinstance(body, dict) and body.get("stream") and usage_where != "chunk":
            # The service reports usage whatever was asked: have the usage chunk made, then
            # move it where this service puts it.
            body = {**body, "stream_options": {"include_usage": True}}
            call = attrs.evolve(call, json=body, body=json.dumps(body).encode())
        answer = await inner(call)
        if not isinstance(answer, FakeStream):
            return answer  # type: ignore[no-any-return]
        events = _events(preset, list(answer.events), usage_where, call)
        if emulation.get("comments") and not _faulty(call):
            frames = [COMMENT]
            for event in events:
                name, data = event if isinstance(event, tuple) else (None, event)
                frames += [sse_frame(data, name), COMMENT]
            return FakeRaw(body=b"".join(frames), content_type="text/event-stream",
                           headers=answer.headers)
        return attrs.evolve(answer, events=events)

    return handler


def _faulty(call: FakeCall) -> bool:
    reply = call.reply
    return bool(reply.malformed or reply.cut_after is not None or reply.chunk_delay)


def _events(preset: Preset, events: list[Any], usage_where: str,
            call: FakeCall) -> list[Any]:
    parsed: list[Any] = []
    usage: Any = None
    for event in events:
        if not isinstance(event, str) or event == "[DONE]":
            parsed.append(event)
            continue
        payload = json.loads(event)
        if usage_where != "chunk" and "choices" in payload and not payload["choices"] and (
                payload.get("usage")):
            usage = payload["usage"]  # the usage chunk: moved below
            continue
        parsed.append(payload)
    finish = next((i for i, p in enumerate(parsed) if isinstance(p, dict)
                   and p.get("choices") and p["choices"][0].get("finish_reason")), None)
    for payload in parsed:
        if isinstance(payload, dict) and usage_where != "chunk":
            payload.pop("usage", None)
    if finish is not None and usage is not None:
        last = parsed[finish]
        if usage_where == "last":
            last["usage"] = usage
        elif usage_where == "choice":
            last["choices"][0]["usage"] = usage
        elif usage_where == "x_groq":
            last["x_groq"] = {"id": "req_fake", "usage": usage}
    if preset.reasoning_field and parsed and isinstance(parsed[0], dict):
        head = {key: value for key, value in parsed[0].items() if key != "choices"}
        parsed.insert(1, {**head, "choices": [{"index": 0, "delta": {
            "content": None, preset.reasoning_field: REASONING}, "finish_reason": None}]})
    if call.reply.error_after is not None and preset.emulation.get("error") == "choices":
        last_payload = parsed[-1]
        if isinstance(last_payload, dict) and "error" in last_payload:
            last_payload["choices"] = [{"index": 0, "delta": {"content": ""},
                                        "finish_reason": "error"}]
    out = [json.dumps(p, separators=(",", ":")) if isinstance(p, dict) else p for p in parsed]
    if not preset.emulation.get("done", True):
        out = [event for event in out if event != "[DONE]"]
    return out
