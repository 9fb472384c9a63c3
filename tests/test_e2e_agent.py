"""run_tools, the agent loop, over real HTTP against the OpenAI emulation: tools run as the
model asks, failures go back to the model, the step limit holds, and events tell each step."""

from __future__ import annotations

import threading

import anyio
import attrs
import pytest

from agentflow import AgentFlow, ExecutionEvent, MetricsCollector, ToolLoopLimitError
from agentflow.testing import FakeToolCall, Reply
from agentflow.testing.fake import tool_result_text

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(fake_agentflow):
    return fake_agentflow.server


class EventLog:
    wants_chunk_events = False

    def __init__(self) -> None:
        self.events: list[ExecutionEvent] = []

    def record_event(self, event: ExecutionEvent) -> None:
        self.events.append(event)

    def kinds(self, prefix: str) -> list[str]:
        return [e.event_type for e in self.events if e.event_type.startswith(prefix)]


def call(name: str, **arguments: object) -> FakeToolCall:
    return FakeToolCall(name=name, arguments=arguments)


async def test_tools_run_and_the_model_answers_from_their_results(server):
    seen_threads: list[str] = []

    def slow_square(x: int) -> int:
        """Square a number."""
        seen_threads.append(threading.current_thread().name)
        return x * x

    async def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    server.script("openai", Reply(tool_calls=[call("slow_square", x=7), call("shout", text="hi")]),
                  Reply(tool_calls=[call("slow_square", x=2)]))
    run = await AgentFlow.model("gpt-4o").prompt("go").tools(slow_square, shout).run_tools()
    assert run.text == tool_result_text([("slow_square", "4")])
    assert [[(r.call.name, r.result, r.value) for r in s.tool_runs] for s in run.steps] == [
        [("slow_square", "49", 49), ("shout", "HI", "HI")], [("slow_square", "4", 4)], []]
    assert seen_threads
    assert threading.main_thread().name not in seen_threads
    sent = server.requests[1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert run.usage.total_tokens == sum(s.response.usage.total_tokens for s in run.steps)


async def test_failures_are_reported_to_the_model_not_raised(server):
    def divide(a: int, b: int) -> float:
        """Divide."""
        return a / b

    server.script("openai", Reply(tool_calls=[
        call("divide", a=1, b=0), call("nope"), call("divide", a="x", b=1)]))
    run = await AgentFlow.model("gpt-4o").prompt("go").tools(divide).run_tools()
    results = [(r.is_error, r.result) for r in run.steps[0].tool_runs]
    assert results[0] == (True, "Error: ZeroDivisionError: division by zero")
    assert results[1][0]
    assert "no tool named 'nope'" in results[1][1]
    assert results[2][0]
    assert "a expected integer" in results[2][1]
    assert all(m.is_error for m in run.messages if m.role == "tool")


async def test_raise_tool_errors(server):
    def broken() -> str:
        """Fail."""
        raise RuntimeError("boom")

    server.script("openai", Reply(tool_calls=[call("broken")]))
    with pytest.raises(RuntimeError, match="boom"):
        await AgentFlow.model("gpt-4o").prompt("go").tools(broken).run_tools(
            raise_tool_errors=True)


async def test_a_slow_tool_times_out_and_the_model_is_told(server):
    async def sleepy() -> str:
        """Sleep."""
        await anyio.sleep(600)
        return "late"

    server.script("openai", Reply(tool_calls=[call("sleepy")]))
    with anyio.fail_after(60):  # a guard against a hang: the tool is given up at 0.05 s
        run = await AgentFlow.model("gpt-4o").prompt("go").tools(sleepy).run_tools(
            tool_timeout=0.05)
    (tool_run,) = run.steps[0].tool_runs
    assert tool_run.is_error
    assert "did not finish within 0.05 s" in tool_run.result


async def test_the_step_limit_raises_with_the_run_so_far(server):
    def ping() -> str:
        """Ping."""
        return "pong"

    server.script("openai", *[Reply(tool_calls=[call("ping")]) for _ in range(3)])
    with pytest.raises(ToolLoopLimitError, match="after 2 steps") as caught:
        await AgentFlow.model("gpt-4o").prompt("go").tools(ping).run_tools(max_steps=2)
    run = caught.value.run
    assert len(run.steps) == 2
    assert run.messages[-1].role == "tool"
    assert len(server.requests) == 2


async def test_a_forced_choice_applies_to_the_first_step_only(server):
    def ping() -> str:
        """Ping."""
        return "pong"

    run = await AgentFlow.model("gpt-4o").prompt("go").tools(ping).tool_choice(
        "required").run_tools()
    assert [len(s.tool_runs) for s in run.steps] == [1, 0]
    choices = [r.json.get("tool_choice") for r in server.requests]
    assert choices == ["required", None]


@attrs.frozen
class Verdict:
    ok: bool


async def test_the_final_answer_can_be_structured(server):
    def check() -> str:
        """Check."""
        return "fine"

    server.script("openai", Reply(tool_calls=[call("check")]), Reply(text='{"ok": true}'))
    run = await AgentFlow.model("gpt-4o").prompt("go").tools(check).output_type(
        Verdict).run_tools()
    assert run.parsed == Verdict(ok=True)


async def test_events_tell_each_step_and_tool(server):
    def ping() -> str:
        """Ping."""
        return "pong"

    log, metrics = EventLog(), MetricsCollector()
    server.script("openai", Reply(tool_calls=[call("ping"), call("ping")]))
    await AgentFlow.model("gpt-4o").prompt("go").tools(ping).with_metrics(log).with_metrics(
        metrics).run_tools()
    assert log.kinds("agent.") == ["agent.tool", "agent.tool", "agent.step", "agent.step",
                                   "agent.complete"]
    steps = [e.metadata for e in log.events if e.event_type == "agent.step"]
    assert [(s["step"], s["tool_calls"]) for s in steps] == [(1, ["ping", "ping"]), (2, [])]
    assert len({e.metadata["run_id"] for e in log.events if e.event_type.startswith("agent.")}) == 1
    figures = metrics.get_metrics_by_prefix("llm.")
    assert figures["llm.agent.runs"] == 1
    assert figures["llm.agent.steps"] == 2
    assert figures["llm.agent.tool_calls"] == 2
    assert figures["llm.model.gpt-4o.agent.tool_ms.count"] == 2
    assert figures["llm.requests.total"] == 2
