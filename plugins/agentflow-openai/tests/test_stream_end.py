"""A stream that ends cleanly after its finish reason but without ``data: [DONE]`` (several
OpenAI-compatible servers stop there) is a complete answer, over real HTTP on loopback, for
OpenAI and an OpenAI-compatible preset (issue 15, item 11). A clean end before the finish
reason is still a cut."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

from agentflow import LLMClientBuilder
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ModelConfig, ProviderConfig
from agentflow.errors import StreamingError
from agentflow.testing.hostile import HostileServer, fixed_answer
from agentflow_openai import PLUGIN
from agentflow_openai.presets import PLUGIN as PRESETS

pytestmark = pytest.mark.anyio

VENDORS = [("openai", "gpt-4o-mini", "OPENAI_API_KEY"), ("deepseek", "deepseek-chat",
                                                          "DEEPSEEK_API_KEY")]
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def _event(choices: list, **extra: object) -> bytes:
    body = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": choices,
            **extra}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _delta(content: str | None, finish: str | None = None) -> dict:
    delta = {"content": content} if content is not None else {}
    return {"index": 0, "delta": delta, "finish_reason": finish}


TEXT = _event([_delta("Hello")]) + _event([_delta(" there")])
FINISH = _event([_delta(None, "length")])
USAGE_CHUNK = _event([], usage=USAGE)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


async def _stream(hostile, monkeypatch, vendor, model_id, key_env, body: bytes):
    monkeypatch.setenv(key_env, "test-" + secrets.token_hex(8))  # no key-shaped literal
    hostile.serve(fixed_answer(body, content_type="text/event-stream"))
    host = PluginHost(entry_points=False)
    host.register(PLUGIN)
    host.register(PRESETS)
    runtime = Runtime(host=host, config=Config(
        models={"m": ModelConfig(vendor=vendor, model_id=model_id)},
        providers={vendor: ProviderConfig(base_url=hostile.base_url)},
        defaults=Defaults(max_retries=0, timeout_seconds=10)))
    try:
        async with await LLMClientBuilder("m", runtime=runtime).prompt(
                "hi").execute_streaming() as stream:
            text = await stream.collect_all()
        return text, stream.final_chunk
    finally:
        await runtime.aclose()


@pytest.mark.parametrize(("vendor", "model_id", "key_env"), VENDORS)
async def test_a_clean_end_after_the_usage_chunk_without_done_is_complete(
        hostile, monkeypatch, vendor, model_id, key_env):
    text, final = await _stream(hostile, monkeypatch, vendor, model_id, key_env,
                                TEXT + FINISH + USAGE_CHUNK)
    assert text == "Hello there"
    assert final.is_final
    assert (final.finish_reason, final.raw_finish_reason) == ("length", "length")
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (3, 2)


@pytest.mark.parametrize(("vendor", "model_id", "key_env"), VENDORS)
async def test_a_clean_end_after_the_finish_chunk_before_usage_is_complete_without_usage(
        hostile, monkeypatch, vendor, model_id, key_env):
    text, final = await _stream(hostile, monkeypatch, vendor, model_id, key_env,
                                TEXT + FINISH)
    assert text == "Hello there"
    assert final.finish_reason == "length"
    assert final.usage is None


@pytest.mark.parametrize(("vendor", "model_id", "key_env"), VENDORS)
async def test_done_still_ends_the_stream_with_the_usage(
        hostile, monkeypatch, vendor, model_id, key_env):
    text, final = await _stream(hostile, monkeypatch, vendor, model_id, key_env,
                                TEXT + FINISH + USAGE_CHUNK + b"data: [DONE]\n\n")
    assert text == "Hello there"
    assert final.finish_reason == "length"
    assert final.usage is not None
    assert final.usage.completion_tokens == 2


@pytest.mark.parametrize(("vendor", "model_id", "key_env"), VENDORS)
async def test_a_clean_end_before_the_finish_reason_is_still_a_cut(
        hostile, monkeypatch, vendor, model_id, key_env):
    with pytest.raises(StreamingError, match="closed before") as caught:
        await _stream(hostile, monkeypatch, vendor, model_id, key_env, TEXT)
    assert caught.value.partial_text == "Hello there"
