"""The OpenAI-compatible presets: what each declares, the stream differences the Chat
Completions codec reads (each test cites the service's published reference), the health check
of each (``agentflow doctor``) and the catalogs ``agentflow models`` lists."""

from __future__ import annotations

import json
from dataclasses import dataclass

import attrs
import pytest

from agentflow import AgentFlow
from agentflow.config import ModelConfig
from agentflow.errors import HttpError
from agentflow.sse import SSEDecoder
from agentflow.types import Message, ModelSettings, Request, StreamState
from agentflow_openai import chat
from agentflow_openai.presets import BY_NAME, PLUGIN, PRESETS


@dataclass(frozen=True)
class Event:
    data: str


def _state(model: str = "m") -> StreamState:
    return StreamState(provider="p", model=model, request=Request(
        model=model, messages=(Message(role="user", content="hi"),), stream=True))


def _feed(dialect: chat.Dialect, raw: bytes, state: StreamState | None = None) -> list:
    """The chunks of a whole SSE body, through the core's decoder."""
    state = state or _state()
    decoder = SSEDecoder()
    chunks = []
    for event in [*decoder.feed(raw), *decoder.close()]:
        chunks += dialect.parse_stream_event(event, state)
    return chunks


def _chunk(delta: dict, finish: str | None = None, **extra) -> str:
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [
        {"index": 0, "delta": delta, "finish_reason": finish}], **extra})


USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_every_preset_is_a_vendor_with_its_url_and_key():
    specs = {spec.name: spec for spec in PLUGIN.agentflow_register_providers()}
    assert list(specs) == [preset.name for preset in PRESETS]
    assert {"ollama", "vllm", "llamacpp", "lmstudio", "deepseek", "groq", "mistral",
            "openrouter", "together", "fireworks", "huggingface", "cerebras", "xai"} == set(specs)
    assert specs["groq"].default_base_url == "https://api.groq.com/openai/v1"
    assert specs["groq"].api_key_env == "GROQ_API_KEY"
    assert specs["ollama"].api_key_env is None
    assert specs["ollama"].api_key_optional
    assert specs["huggingface"].api_key_env == "HF_TOKEN"
    assert "images" not in specs["deepseek"].capabilities


def test_the_catalogs_name_their_service_and_set_no_price():
    models = PLUGIN.agentflow_default_models()
    assert {model.provider for model in models} <= set(BY_NAME)
    assert all(model.pricing is None for model in models)
    assert all(model.name == f"{model.provider}/{model.model_id}" for model in models)


def test_reasoning_deltas_are_not_the_answer():
    """DeepSeek streams ``reasoning_content`` before ``content``
    (https://api-docs.deepseek.com/guides/reasoning_model); OpenRouter and Ollama send
    ``reasoning`` (https://openrouter.ai/docs/use-cases/reasoning-tokens)."""
    raw = "".join(f"data: {data}\n\n" for data in (
        _chunk({"role": "assistant", "content": None, "reasoning_content": "hmm"}),
        _chunk({"content": None, "reasoning": "more"}),
        _chunk({"content": "Answer."}),
        _chunk({}, "stop"), "[DONE]")).encode()
    chunks = _feed(BY_NAME["deepseek"].as_dialect(), raw)
    assert [chunk.content for chunk in chunks if chunk.content] == ["Answer."]
    assert chunks[-1].is_final


def test_usage_in_the_choice_and_in_x_groq_is_read():
    """Groq reports a stream's usage in ``x_groq.usage`` of the last chunk
    (https://console.groq.com/docs/api-reference#chat-create, streamed responses); some
    servers put it inside the choice."""
    for extra, choice_usage in (({"x_groq": {"id": "r", "usage": USAGE}}, None), ({}, USAGE)):
        last = json.loads(_chunk({}, "stop", **extra))
        if choice_usage:
            last["choices"][0]["usage"] = choice_usage
        raw = f"data: {_chunk({'content': 'hi'})}\n\ndata: {json.dumps(last)}\n\n" \
              "data: [DONE]\n\n"
        final = _feed(BY_NAME["groq"].as_dialect(), raw.encode())[-1]
        assert final.usage.total_tokens == 5


def test_comment_lines_are_skipped():
    """OpenRouter sends ``: OPENROUTER PROCESSING`` comment lines to keep a stream alive
    (https://openrouter.ai/docs/api-reference/streaming); SSE says to ignore them."""
    raw = (f": OPENROUTER PROCESSING\n\ndata: {_chunk({'content': 'a'})}\n\n"
           f": OPENROUTER PROCESSING\n\ndata: {_chunk({}, 'stop', usage=USAGE)}\n\n"
           "data: [DONE]\n\n").encode()
    chunks = _feed(BY_NAME["openrouter"].as_dialect(), raw)
    assert [chunk.content for chunk in chunks] == ["a", ""]
    assert chunks[-1].usage.completion_tokens == 2


def test_an_error_beside_a_choice_in_a_200_stream_raises():
    """OpenRouter's mid-stream error: an ``error`` object in a chunk whose choice ends with
    ``finish_reason: "error"`` (https://openrouter.ai/docs/api-reference/streaming, "Stream
    Cancellation" / errors during streaming)."""
    error = json.loads(_chunk({"content": ""}, "error"))
    error["error"] = {"code": "server_error", "message": "Provider disconnected"}
    raw = f"data: {_chunk({'content': 'a'})}\n\ndata: {json.dumps(error)}\n\n".encode()
    with pytest.raises(HttpError, match="Provider disconnected"):
        _feed(BY_NAME["openrouter"].as_dialect(), raw)


def test_a_stream_may_end_at_the_finish_reason():
    """For a dialect whose streams end without ``data: [DONE]``, the chunk with the finish
    reason (and usage) is the last one; no ``stream_options`` is sent then."""
    dialect = chat.Dialect(vendor="p", label="P", api_key_env=None, user_agent="t",
                           ends_without_done=True)
    raw = f"data: {_chunk({'content': 'a'})}\n\ndata: {_chunk({}, 'stop', usage=USAGE)}\n\n"
    chunks = _feed(dialect, raw.encode())
    assert chunks[-1].is_final
    assert chunks[-1].usage.total_tokens == 5
    settings = ModelSettings(name="m", provider="p", vendor="p", model_id="m",
                             base_url="http://127.0.0.1:1/v1")
    sent = json.loads(dialect.build_request(_state().request, settings).content)
    assert "stream_options" not in sent


def test_max_completion_tokens_where_the_service_asks_for_it():
    """Groq documents ``max_completion_tokens`` (``max_tokens`` deprecated)
    (https://console.groq.com/docs/api-reference#chat-create); Mistral takes ``max_tokens``
    (https://docs.mistral.ai/api/#tag/chat)."""
    request = Request(model="m", messages=(Message(role="user", content="hi"),), max_tokens=9)
    for name, field in (("groq", "max_completion_tokens"), ("cerebras", "max_completion_tokens"),
                        ("mistral", "max_tokens"), ("ollama", "max_tokens")):
        settings = ModelSettings(name="m", provider=name, vendor=name, model_id="m",
                                 base_url=BY_NAME[name].base_url)
        sent = json.loads(BY_NAME[name].as_dialect().build_request(request, settings).content)
        assert sent[field] == 9, name


@pytest.mark.anyio
@pytest.mark.parametrize("name", [preset.name for preset in PRESETS])
async def test_doctor_checks_each_preset(fake_agentflow, name):
    [result] = await AgentFlow.check_providers(providers=[name])
    assert (result.status, result.status_code) == ("ok", 200)
    sent = fake_agentflow.server.requests[-1]
    assert (sent.method, sent.path) == ("GET", f"/{name}/v1/models")


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["openrouter", "groq", "deepseek", "llamacpp"])
async def test_each_preset_streams_through_its_differences(fake_agentflow, name):
    model = f"{name}/{BY_NAME[name].models[0]}" if BY_NAME[name].models else "ollama/llama3.2"
    config = fake_agentflow.config
    fake_agentflow.runtime.set_config(attrs.evolve(config, models={
        "m": ModelConfig(vendor=name, model_id=model.split("/", 1)[1])}))
    stream = await AgentFlow.model("m").prompt("hello there").execute_streaming()
    assert await stream.collect_all() == "You said: hello there"
    assert stream.final_chunk.usage is not None
    assert stream.final_chunk.usage.completion_tokens == 4
