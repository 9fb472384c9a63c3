"""Execution events over loopback HTTP: what each call tells, and what collectors make of it."""

from __future__ import annotations

import logging
import math

import anyio
import pytest
from echo_vendor import EchoVendor

from agentflow import HttpError, LLMClientBuilder, LLMError, MetricsCollector, StreamingError
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import (
    Config,
    Defaults,
    ModelConfig,
    ObservabilityConfig,
    PricingConfig,
    ProviderConfig,
)
from agentflow.hookspecs import hookimpl
from agentflow.testing import Reply

pytestmark = pytest.mark.anyio

KEY = "test-key"
COMMON = {"call_id", "provider", "vendor", "model", "model_id", "stream"}


def make_runtime(server, *, include_text=False, host=None):
    if host is None:
        host = PluginHost(entry_points=False)
        host.register(EchoVendor())
    url = server.base_url("echo")
    return Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=url)},
        models={
            "priced": ModelConfig(vendor="echo", model_id="priced-1", pricing=PricingConfig(
                input_per_million=2.0, output_per_million=10.0)),
            "unpriced": ModelConfig(vendor="echo", model_id="unpriced-1"),
        },
        defaults=Defaults(max_retries=2, retry_delay_ms=1),
        observability=ObservabilityConfig(include_text=include_text)))


@pytest.fixture
async def runtime(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", KEY)
    server.clear()
    runtime = make_runtime(server)
    yield runtime
    await runtime.aclose()


class Recorder:
    def __init__(self):
        self.events = []

    def record_event(self, event):
        self.events.append(event)

    def types(self):
        return [e.event_type for e in self.events]

    def one(self, kind):
        found = [e for e in self.events if e.event_type == kind]
        assert len(found) == 1, (kind, self.types())
        return found[0]


def ask(runtime, model="priced", prompt="one two three", *collectors):
    builder = LLMClientBuilder(model, runtime=runtime).prompt(prompt)
    for collector in collectors:
        builder = builder.with_metrics(collector)
    return builder


async def test_a_plain_call_tells_its_start_and_its_answer(runtime, server):
    server.script("echo", Reply(text="four five six seven", usage=(1000, 2000)))
    recorder, metrics = Recorder(), MetricsCollector()
    response = await ask(runtime, "priced", "hello", recorder, metrics).execute_response()
    assert recorder.types() == ["llm.request.start", "llm.request.complete"]
    start, done = recorder.events
    assert set(start.metadata) == COMMON
    assert start.metadata["call_id"] == done.metadata["call_id"]
    assert start.node_id == "llm.priced"
    assert done.metadata["model_id"] == "priced-1"
    assert done.metadata["stream"] is False
    assert done.metadata["status"] == 200
    assert done.metadata["attempts"] == 1
    assert done.metadata["request_id"] == response.request_id == "req-echo-1"
    assert done.metadata["response_model"] == "priced-1"
    assert (done.metadata["prompt_tokens"], done.metadata["completion_tokens"]) == (1000, 2000)
    assert math.isclose(done.metadata["cost_usd"], (1000 * 2.0 + 2000 * 10.0) / 1e6)
    assert done.duration_ms > 0
    figures = metrics.snapshot()
    assert figures["llm.model.priced.tokens.completion"] == 2000
    assert math.isclose(figures["llm.provider.echo.cost_usd"], 0.022)


async def test_token_totals_match_the_usage_the_server_reported(runtime, server):
    usages = [(3, 5), (7, 11), (13, 17), (19, 23)]
    server.script("echo", *(Reply(usage=usage) for usage in usages))
    metrics = MetricsCollector()
    for index, _ in enumerate(usages):
        builder = ask(runtime, "priced", f"prompt {index}", metrics)
        if index % 2:
            await (await builder.execute_streaming()).collect_all()
        else:
            await builder.execute()
    figures = metrics.snapshot()
    assert figures["llm.tokens.prompt"] == sum(p for p, _ in usages)
    assert figures["llm.tokens.completion"] == sum(c for _, c in usages)
    assert figures["llm.tokens.total"] == sum(p + c for p, c in usages)
    assert figures["llm.requests.success"] == 4
    assert figures["llm.requests.in_flight"] == 0


async def test_a_stream_tells_first_token_chunks_and_speed(runtime, server):
    server.script("echo", Reply(text="a b c d e", chunks=5, usage=(4, 50)))
    recorder, metrics = Recorder(), MetricsCollector()
    stream = await ask(runtime, "priced", "go", recorder, metrics).execute_streaming()
    text = await stream.collect_all()
    kinds = recorder.types()
    assert kinds[:3] == ["llm.request.start", "llm.stream.start", "llm.stream.first_token"]
    assert kinds.count("llm.stream.chunk") == 6  # five pieces and the final chunk
    assert kinds[-1] == "llm.stream.complete"
    chunks = [e.metadata for e in recorder.events if e.event_type == "llm.stream.chunk"]
    assert [c["index"] for c in chunks] == [1, 2, 3, 4, 5, 6]
    assert sum(c["chars"] for c in chunks) == len(text)
    assert [c["is_final"] for c in chunks][-1] is True
    done = recorder.one("llm.stream.complete").metadata
    assert done["chunks"] == 6
    assert done["finish_reason"] == "stop"
    assert done["completion_tokens"] == 50
    assert 0 < done["time_to_first_token_ms"] <= recorder.events[-1].duration_ms
    assert done["output_tokens_per_second"] > 0
    assert done["request_id"] == "req-echo-stream"
    assert metrics.snapshot()["llm.model.priced.time_to_first_token_ms.count"] == 1
    assert metrics.snapshot()["llm.stream.chunks"] == 6


async def test_collectors_alone_are_spared_an_event_per_chunk(runtime, server):
    server.script("echo", Reply(text="a b c d", chunks=4))

    class Quiet(Recorder):
        wants_chunk_events = False

    quiet = Quiet()
    stream = await ask(runtime, "priced", "go", quiet).execute_streaming()
    await stream.collect_all()
    assert "llm.stream.chunk" not in quiet.types()
    assert quiet.one("llm.stream.complete").metadata["chunks"] == 5


async def test_retries_then_failure_tell_every_attempt(runtime, server):
    server.script("echo", *(Reply(status=500) for _ in range(3)))
    recorder, metrics = Recorder(), MetricsCollector()
    with pytest.raises(HttpError):
        await ask(runtime, "priced", "x", recorder, metrics).execute()
    assert recorder.types() == ["llm.request.start", "llm.retry", "llm.retry",
                                "llm.request.error"]
    retries = [e.metadata for e in recorder.events if e.event_type == "llm.retry"]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(r["status"] == 500 and r["error_type"] == "HttpError" for r in retries)
    error = recorder.one("llm.request.error").metadata
    assert (error["error_type"], error["status"], error["attempts"]) == ("HttpError", 500, 3)
    figures = metrics.snapshot()
    assert figures["llm.errors.HttpError"] == 1
    assert figures["llm.retries"] == 2
    assert figures["llm.requests.failure_rate"] == 1.0


async def test_error_distribution_after_scripted_faults(runtime, server):
    server.script("echo", Reply(status=400), Reply(status=429, retry_after=0),
                  Reply(status=429, retry_after=0), Reply(status=429, retry_after=0),
                  Reply(text="fine"), Reply(status=404))
    metrics = MetricsCollector()
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(await ask(runtime, "priced", "x", metrics).execute())
        except LLMError as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes == ["HttpError", "RateLimitError", "fine", "HttpError"]
    figures = metrics.get_metrics_by_prefix("llm.model.priced.")
    assert figures["llm.model.priced.errors.HttpError"] == 2
    assert figures["llm.model.priced.errors.RateLimitError"] == 1
    assert figures["llm.model.priced.ratelimit.hits"] == 3
    assert figures["llm.model.priced.requests.success"] == 1
    assert figures["llm.model.priced.retries"] == 2


async def test_a_cut_stream_ends_in_an_error_event_counting_what_arrived(runtime, server):
    server.script("echo", Reply(text="alpha beta gamma delta", chunks=4, cut_after=2))
    recorder = Recorder()
    stream = await ask(runtime, "priced", "x", recorder).execute_streaming()
    with pytest.raises(StreamingError) as caught:
        await stream.collect_all()
    error = recorder.one("llm.request.error").metadata
    assert error["error_type"] == "StreamingError"
    assert error["partial_chars"] == len(caught.value.partial_text) > 0
    assert "llm.stream.complete" not in recorder.types()


# trio reports httpx's body iterator closed early; the connection is released all the same
@pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")
async def test_a_stream_the_caller_leaves_is_ended_as_cancelled(runtime, server):
    server.script("echo", Reply(text="one two three four", chunks=4, chunk_delay=0.01))
    recorder, metrics = Recorder(), MetricsCollector()
    async with await ask(runtime, "priced", "x", recorder, metrics).execute_streaming() as s:
        async for _ in s:
            break
    done = recorder.one("llm.stream.complete").metadata
    assert done["finish_reason"] == "cancelled"
    assert done["cost_usd"] is None
    figures = metrics.snapshot()
    assert figures["llm.requests.in_flight"] == 0
    assert "llm.cost.unpriced_requests" not in figures


async def test_a_model_without_a_price_has_an_unknown_cost_never_zero(runtime, server):
    metrics, recorder = MetricsCollector(), Recorder()
    await ask(runtime, "unpriced", "x", metrics, recorder).execute()
    assert recorder.one("llm.request.complete").metadata["cost_usd"] is None
    figures = metrics.snapshot()
    assert "llm.model.unpriced.cost_usd" not in figures
    assert figures["llm.model.unpriced.cost.unpriced_requests"] == 1


async def test_text_stays_out_of_events_unless_turned_on(server, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", KEY)
    for configured, override, expected in [(False, None, False), (True, None, True),
                                           (True, False, False), (False, True, True)]:
        runtime = make_runtime(server, include_text=configured)
        runtime.include_text = override
        recorder = Recorder()
        try:
            await ask(runtime, "priced", "secret plans", recorder).execute()
            stream = await ask(runtime, "priced", "more plans", recorder).execute_streaming()
            await stream.collect_all()
        finally:
            await runtime.aclose()
        starts = [e for e in recorder.events if e.event_type == "llm.request.start"]
        ends = [e for e in recorder.events if e.event_type.endswith(".complete")]
        assert all(("prompt" in e.metadata) is expected for e in starts)
        assert all(("answer" in e.metadata) is expected for e in ends)
        if expected:
            assert starts[0].metadata["prompt"] == ({"role": "user",
                                                     "content": "secret plans"},)
            assert ends[1].metadata["answer"] == "You said: more plans"
        else:
            assert "plans" not in repr(recorder.events)


async def test_no_event_holds_the_key(runtime, server):
    server.script("echo", Reply(), Reply(status=500), Reply(status=500), Reply(status=500))
    recorder = Recorder()
    await ask(runtime, "priced", "x", recorder).execute()
    with pytest.raises(HttpError):
        await ask(runtime, "priced", "x", recorder).execute()
    assert len(recorder.events) >= 6
    assert KEY not in repr(recorder.events)


async def test_global_and_per_call_collectors_each_see_a_call_once(runtime, server):
    everywhere, here = MetricsCollector(), MetricsCollector()
    runtime.collectors.append(everywhere)
    await ask(runtime, "priced", "x", here).execute()
    await ask(runtime, "priced", "x").execute()
    assert everywhere.snapshot()["llm.requests.total"] == 2
    assert here.snapshot()["llm.requests.total"] == 1


class Broken:
    """An exporter plugin that fails on every event."""

    def __init__(self):
        self.calls = 0
        self.call_events = 0

    @hookimpl
    def agentflow_record_event(self, event):
        self.calls += 1
        self.call_events += event.event_type.startswith("llm.")
        raise RuntimeError("exporter down")


async def test_a_failing_exporter_never_breaks_a_request(server, monkeypatch, caplog):
    monkeypatch.setenv("ECHO_API_KEY", KEY)
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    broken = Broken()
    host.register(broken, name="broken-exporter")
    runtime = make_runtime(server, host=host)
    metrics = MetricsCollector()
    caplog.set_level(logging.ERROR, logger="agentflow")
    try:
        assert await ask(runtime, "priced", "hi", metrics).execute() == "You said: hi"
        stream = await ask(runtime, "priced", "hi", metrics).execute_streaming()
        assert await stream.collect_all() == "You said: hi"
    finally:
        await runtime.aclose()
    assert broken.calls > 4
    logged = [r for r in caplog.records if "broken-exporter" in r.getMessage()]
    assert len(logged) == 1
    # the call's own collector hears of the failures on the call's events (audit events, not
    # part of a call, go to global collectors only)
    assert metrics.snapshot()["llm.exporter.errors.broken-exporter"] == broken.call_events
    assert broken.calls > broken.call_events
    assert metrics.snapshot()["llm.requests.success"] == 2


async def test_exact_figures_under_heavy_concurrency(runtime, server):
    metrics = MetricsCollector()
    runtime.collectors.append(metrics)
    count = 200

    async def one(index):
        builder = ask(runtime, "priced", f"w{index} x y")
        if index % 4 == 0:
            await (await builder.execute_streaming()).collect_all()
        else:
            await builder.execute()

    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(one, index)
    figures = metrics.snapshot()
    assert figures["llm.requests.total"] == count
    assert figures["llm.requests.success"] == count
    assert figures["llm.requests.in_flight"] == 0
    assert figures["llm.latency_ms.count"] == count
    assert figures["llm.tokens.prompt"] == 3 * count
    assert figures["llm.time_to_first_token_ms.count"] == count // 4


@pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning")
async def test_closing_a_stream_unread_ends_it_once_as_cancelled(runtime, server):
    server.script("echo", Reply(text="one two three", chunks=3, chunk_delay=0.01))
    recorder = Recorder()
    stream = await ask(runtime, "priced", "x", recorder).execute_streaming()
    await stream.aclose()
    await stream.aclose()
    assert recorder.types() == ["llm.request.start", "llm.stream.start", "llm.stream.complete"]
    assert recorder.events[-1].metadata["finish_reason"] == "cancelled"
