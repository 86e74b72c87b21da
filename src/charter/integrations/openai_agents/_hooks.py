"""Agent hooks that count the model's usage against the charter run's budgets, and check
that a governed answer's model is the one that answered."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agents import Agent as SdkAgent
from agents import AgentHooks, ModelResponse, RunContextWrapper, Tool
from agents.exceptions import UserError
from agents.run_context import AgentHookContext

from charter.governance import GovernedRun
from charter.integrations.openai_agents._model import AnswerModel


class UsageHooks(AgentHooks[Any]):
    """The agent's own hooks, plus: each model response's usage is reported to charter
    (journaled with the next proposed call, counted against token and dollar budgets).

    When the charter governs final answers, ``answers`` is the agent's model that does so:
    a response that did not come through it (a ``RunConfig(model=...)`` replacing the
    agent's) ends the run with :class:`~agents.exceptions.UserError` before the SDK uses it.
    """

    def __init__(
        self,
        inner: AgentHooks[Any] | None,
        run: GovernedRun,
        model: str,
        answers: AnswerModel | None = None,
        history: Callable[[Sequence[Any]], None] | None = None,
    ) -> None:
        self._inner = inner
        self._run = run
        self._model = model
        self._answers = answers
        self._served = 0
        self._history = history

    async def on_llm_end(
        self, context: RunContextWrapper[Any], agent: SdkAgent[Any], response: ModelResponse
    ) -> None:
        answers = self._answers
        if answers is not None and answers.served == self._served:
            raise UserError(
                f"agent {agent.name!r} answered through a model charter does not hold (a "
                "RunConfig model?): the charter governs final answers (flows.answer), so "
                "give the agent its model and leave RunConfig.model unset"
            )
        usage = response.usage
        if self._run.run.status == "running":  # else its answer finished it, usage counted
            self._run.report_usage(
                prompt_tokens=max(int(usage.input_tokens or 0), 0),
                completion_tokens=max(int(usage.output_tokens or 0), 0),
                model=self._model,
            )
        if self._inner is not None:
            await self._inner.on_llm_end(context, agent, response)

    async def on_llm_start(
        self,
        context: RunContextWrapper[Any],
        agent: SdkAgent[Any],
        system_prompt: str | None,
        input_items: list[Any],
    ) -> None:
        if self._history is not None:  # what the model reads from before the run
            self._history(input_items)
        if self._answers is not None:
            self._served = self._answers.served
        if self._inner is not None:
            await self._inner.on_llm_start(context, agent, system_prompt, input_items)

    async def on_start(self, context: AgentHookContext[Any], agent: SdkAgent[Any]) -> None:
        if self._inner is not None:
            await self._inner.on_start(context, agent)

    async def on_end(
        self, context: AgentHookContext[Any], agent: SdkAgent[Any], output: Any
    ) -> None:
        if self._inner is not None:
            await self._inner.on_end(context, agent, output)

    async def on_handoff(
        self, context: RunContextWrapper[Any], agent: SdkAgent[Any], source: SdkAgent[Any]
    ) -> None:
        if self._inner is not None:
            await self._inner.on_handoff(context, agent, source)

    async def on_tool_start(
        self, context: RunContextWrapper[Any], agent: SdkAgent[Any], tool: Tool
    ) -> None:
        if self._inner is not None:
            await self._inner.on_tool_start(context, agent, tool)

    async def on_tool_end(
        self, context: RunContextWrapper[Any], agent: SdkAgent[Any], tool: Tool, result: object
    ) -> None:
        if self._inner is not None:
            await self._inner.on_tool_end(context, agent, tool, result)
