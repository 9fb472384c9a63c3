"""The tool loop behind :meth:`~agentflow._api.builder.LLMClientBuilder.run_tools`.

Call the model; if it asks for tools, run them (at once, each in its own task), append its
answer and their results to the conversation, and call it again; stop at an answer without
tool calls, or raise :class:`ToolLoopLimitError` after ``max_steps`` calls. A tool that fails,
is unknown, or gets arguments that do not fit its parameters is reported to the model as a
failed call (``is_error``), so the model can correct itself.

Each step emits an ``agent.step`` event, each tool run an ``agent.tool`` event, and the run's
end an ``agent.complete`` event, to the same collectors and exporters as the model calls.
"""

from __future__ import annotations

import copy
import itertools
import time
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from agentflow._content.tools import invoke
from agentflow.errors import ToolError, ToolLoopLimitError, ValidationError
from agentflow.types import Message, Usage

if TYPE_CHECKING:
    from agentflow._api.builder import LLMClientBuilder
    from agentflow.types import Response, Tool, ToolCall

__all__ = ["AgentRun", "AgentStep", "ToolLoopLimitError", "ToolRun", "run_tools"]

_run_ids = itertools.count(1)


@attrs.frozen(kw_only=True)
class ToolRun:
    """One tool call as it was run: the call, the text sent back to the model, whether it
    failed, how long it took, and (``value``) what the Python function returned."""

    call: ToolCall
    result: str
    is_error: bool = False
    duration_ms: float = 0.0
    value: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class AgentStep:
    """One model call of a run (``index`` from 1) and the tools it asked for."""

    index: int
    response: Response
    tool_runs: tuple[ToolRun, ...] = ()


@attrs.frozen(kw_only=True)
class AgentRun:
    """A finished tool loop: the final ``response``, every ``step``, and the whole
    conversation (``messages``, ending with the final answer) to continue from."""

    response: Response
    steps: tuple[AgentStep, ...]
    messages: tuple[Message, ...]

    @property
    def text(self) -> str:
        """The final answer's text."""
        return self.response.text

    @property
    def parsed(self) -> Any:
        """The final answer's structured value, when an output type or schema was given."""
        return self.response.parsed

    @property
    def usage(self) -> Usage:
        """The tokens of every step added up (steps whose vendor reported none count 0)."""
        reported = [step.response.usage for step in self.steps if step.response.usage]
        return Usage.of(sum(u.prompt_tokens for u in reported),
                        sum(u.completion_tokens for u in reported),
                        sum(u.total_tokens for u in reported))


async def run_tools(builder: LLMClientBuilder, *, max_steps: int = 8,
                    tool_timeout: float | None = None,
                    raise_tool_errors: bool = False) -> AgentRun:
    """Run the tool loop for ``builder``'s request; see the module docstring."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValidationError(f"max_steps must be a positive integer, got {max_steps!r}",
                              parameter="max_steps")
    tools = {tool.name: tool for tool in builder._tools}
    if not tools:
        raise ValidationError("run_tools needs tools: give them with .tools(...)",
                              parameter="tools")
    missing = [name for name, tool in tools.items() if tool.function is None]
    if missing:
        raise ValidationError(f"run_tools runs Python functions, and these tools have none: "
                              f"{', '.join(missing)}; build them from functions",
                              parameter="tools")
    loop = _Loop(builder, tools, tool_timeout=tool_timeout, raise_tool_errors=raise_tool_errors)
    return await loop.run(max_steps)


class _Loop:
    def __init__(self, builder: LLMClientBuilder, tools: dict[str, Tool], *,
                 tool_timeout: float | None, raise_tool_errors: bool) -> None:
        self.builder = builder
        self.tools = tools
        self.tool_timeout = tool_timeout
        self.raise_tool_errors = raise_tool_errors
        self.runtime = builder._runtime_in_use()
        self.run_id = f"run-{next(_run_ids)}"
        self.node_id = f"agent.{builder._model}"
        self.started = time.perf_counter()

    async def run(self, max_steps: int) -> AgentRun:
        messages = self.builder._conversation()
        steps: list[AgentStep] = []
        for index in range(1, max_steps + 1):
            response = await self._step_builder(messages, first=index == 1).execute_response()
            messages.append(response.message())
            if not response.tool_calls:
                steps.append(AgentStep(index=index, response=response))
                self._step_event(steps[-1])
                run = AgentRun(response=response, steps=tuple(steps), messages=tuple(messages))
                self._emit("agent.complete", {"status": "answered", "steps": index})
                return run
            runs = await self._run_calls(index, response.tool_calls)
            messages.extend(Message.tool_result(run.call, run.result, is_error=run.is_error)
                            for run in runs)
            steps.append(AgentStep(index=index, response=response, tool_runs=runs))
            self._step_event(steps[-1])
        self._emit("agent.complete", {"status": "step_limit", "steps": max_steps})
        run = AgentRun(response=steps[-1].response, steps=tuple(steps), messages=tuple(messages))
        raise ToolLoopLimitError(
            f"the model still asked for tools after {max_steps} steps; raise max_steps, or "
            "look at .run.steps for what it kept asking", run=run, model=self.builder._model)

    def _step_builder(self, messages: list[Message], *, first: bool) -> LLMClientBuilder:
        """The builder for one step: the conversation so far as history. A forced
        ``tool_choice`` applies to the first step only, or the model could never answer."""
        step = copy.copy(self.builder)
        step._history = list(messages)
        step._system = None
        step._prompt = None
        step._images = []
        step._streaming = False
        if not first and step._tool_choice is not None and step._tool_choice.mode != "none":
            step._tool_choice = None
        return step

    async def _run_calls(self, step: int, calls: tuple[ToolCall, ...]) -> tuple[ToolRun, ...]:
        results: list[ToolRun | None] = [None] * len(calls)
        raised: list[Exception] = []

        async def run_one(position: int, call: ToolCall) -> None:
            try:
                results[position] = await self._run_call(step, call)
            except Exception as exc:  # only with raise_tool_errors: stop the others, re-raise
                raised.append(exc)
                group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            for position, call in enumerate(calls):
                group.start_soon(run_one, position, call)
        if raised:  # raised as it is, not wrapped in an exception group
            raise raised[0]
        return tuple(run for run in results if run is not None)

    async def _run_call(self, step: int, call: ToolCall) -> ToolRun:
        from agentflow._content.tools import result_text

        started = time.perf_counter()
        value: Any = None
        error: Exception | None
        try:
            tool = self.tools.get(call.name)
            if tool is None:
                raise ToolError(f"there is no tool named {call.name!r}; the tools are "
                                f"{', '.join(self.tools)}")
            if self.tool_timeout is None:
                value = await invoke(tool, call)
            else:
                with anyio.fail_after(self.tool_timeout):
                    value = await invoke(tool, call)
            text, failed, error = result_text(value), False, None
        except ToolError as exc:
            text, failed, error = f"Error: {exc.message}", True, exc
        except TimeoutError as exc:
            text, failed, error = (f"Error: the tool did not finish within "
                                   f"{self.tool_timeout:g} s", True, exc)
        except Exception as exc:
            if self.raise_tool_errors:
                raise
            text, failed, error = f"Error: {type(exc).__name__}: {exc}", True, exc
        elapsed = (time.perf_counter() - started) * 1000
        self._emit("agent.tool", {
            "step": step, "tool": call.name, "tool_call_id": call.id,
            "status": "error" if failed else "ok",
            "error_class": type(error).__name__ if error is not None else None,
        }, duration_ms=elapsed)
        return ToolRun(call=call, result=text, is_error=failed, duration_ms=elapsed, value=value)

    def _step_event(self, step: AgentStep) -> None:
        response = step.response
        self._emit("agent.step", {
            "step": step.index, "finish_reason": response.finish_reason,
            "tool_calls": [call.name for call in response.tool_calls],
            "failed_tools": sum(run.is_error for run in step.tool_runs),
        })

    def _emit(self, kind: str, extra: dict[str, Any], *,
              duration_ms: float | None = None) -> None:
        from agentflow._observe.events import ExecutionEvent

        if duration_ms is None:
            duration_ms = (time.perf_counter() - self.started) * 1000
        self.runtime.emit(ExecutionEvent(
            event_type=kind, node_id=self.node_id, duration_ms=duration_ms,
            metadata={"run_id": self.run_id, "model": self.builder._model, **extra}),
            self.builder._collectors)
