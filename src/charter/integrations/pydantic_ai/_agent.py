"""A Pydantic AI agent whose runs charter governs (see :func:`govern`)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, cast

from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import DeferredToolRequests, DeferredToolResults, ToolApproved
from pydantic_ai.agent import AgentRunResult
from pydantic_ai.messages import BaseToolReturnPart, ModelMessage, ToolCallPart
from pydantic_ai.result import StreamedRunResult
from pydantic_ai.run import AgentRun
from pydantic_ai.tools import DeferredToolApprovalResult
from pydantic_ai.toolsets import FunctionToolset
from pydantic_core import to_jsonable_python

from charter.agent import Agent
from charter.errors import ConfigError, ReasonerUnavailableError
from charter.governance import GovernedRun, Inherited
from charter.integrations.pydantic_ai import _answer
from charter.integrations.pydantic_ai._toolset import (
    RUN_KEY,
    CharterCapability,
    Gate,
    jsonable,
)
from charter.journal import Journal
from charter.policy import Charter, load_charter
from charter.reasoners import Proposal, RunContext
from charter.runtime._rollback import RollbackReport, rollback
from charter.tools import Inventory, Tool, declared_tool


class FrameworkReasoner:
    """The reasoner of a governed Pydantic AI agent: its own model proposes the calls, so
    charter's run loop never asks this one."""

    kind = "pydantic-ai"

    def propose(self, context: RunContext) -> Proposal:
        """Never called: charter's own loop does not run a framework's agent."""
        raise ReasonerUnavailableError(
            "a Pydantic AI agent proposes its own calls; run it with GovernedAgent.run"
        )

    def describe(self) -> dict[str, Any]:
        """What is journaled about it."""
        return {"framework": "pydantic-ai"}


def _schemas(agent: PydanticAgent[Any, Any]) -> dict[str, dict[str, Any]]:
    """The argument schemas of the agent's function tools (other toolsets list their
    tools only during a run)."""
    found: dict[str, dict[str, Any]] = {}
    for toolset in agent.toolsets:
        if isinstance(toolset, FunctionToolset):
            for name, item in toolset.tools.items():
                found[name] = dict(item.tool_def.parameters_json_schema)
    return found


def charter_agent(
    agent: PydanticAgent[Any, Any],
    charter: Charter,
    *,
    name: str | None = None,
    compensate: Mapping[str, Callable[..., Any] | None] | None = None,
) -> Agent:
    """The charter agent identity a Pydantic AI ``agent`` is governed as: one declared
    tool per tool the charter's ``contracts:`` names (its schema from the agent's function
    tools when it has one), the charter's contracts applied; a tool the charter does not
    name is not declared, so every call of it is refused.

    Raises:
        ConfigError: ``compensate`` names a tool the charter does not.
    """
    schemas = _schemas(agent)
    compensate = {**charter.compensation_callables(), **(compensate or {})}
    unknown = sorted(set(compensate) - set(charter.contracts))
    if unknown:
        raise ConfigError(
            f"compensate: {', '.join(unknown)} not in the charter's contracts "
            f"({', '.join(sorted(charter.contracts)) or 'none'})"
        )
    tools: list[Tool] = []
    for tool_name, spec in sorted(charter.contracts.items()):
        schema: dict[str, Any] | None = schemas.get(tool_name)
        if schema is None and spec.targets:  # a toolset's tool: its targets are arguments
            schema = {
                "type": "object",
                "properties": {target: {} for target in spec.targets},
                "additionalProperties": True,
            }
        tools.append(
            declared_tool(
                tool_name,
                description=f"{tool_name} (a Pydantic AI tool)",
                args_schema=schema,
                compensate=compensate.get(tool_name),
            )
        )
    return Agent(
        name=name or charter.name,
        instructions=agent.name or "",
        inventory=Inventory(tools),
        reasoner=FrameworkReasoner(),
        charter=charter,
    )


def _run_of(results: DeferredToolResults | None) -> str | None:
    if results is None:
        return None
    runs = {
        str(meta[RUN_KEY])
        for meta in results.metadata.values()
        if isinstance(meta, dict) and meta.get(RUN_KEY)  # pyright: ignore[reportUnnecessaryIsInstance]
    }
    if len(runs) > 1:
        raise ValueError(f"deferred tool results name several charter runs: {sorted(runs)}")
    return next(iter(runs), None)


def _inherited(history: Sequence[ModelMessage]) -> list[Inherited]:
    """The tool returns of a message history a new run starts from, each labelled by its
    tool (the model's call of the same id gives the arguments); a failed one is read as
    an error's text, vouching for nothing; a provider's built-in tool's (a web search) is
    of unknown origin: untrusted."""
    calls: dict[str, dict[str, Any]] = {}
    found: list[Inherited] = []
    for message in history:
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                calls[part.tool_call_id] = part.args_as_dict()
            elif isinstance(part, BaseToolReturnPart):
                content: Any = to_jsonable_python(part.content, fallback=str)
                if part.part_kind != "tool-return":  # a provider's own tool: not ours to vouch
                    found.append(Inherited(None, content))
                    continue
                args = calls.get(part.tool_call_id)
                failed = part.outcome != "success"
                found.append(Inherited(part.tool_name, content, args, failed=failed))
    return found


def _with_deferred(output_type: Any) -> list[Any]:
    """The run's output types, with the held calls of an ``ask`` among them."""
    kinds: list[Any] = (
        list(cast("Sequence[Any]", output_type))
        if isinstance(output_type, Sequence) and not isinstance(output_type, str)
        else [output_type]
    )
    if DeferredToolRequests not in kinds:
        kinds.append(DeferredToolRequests)
    return kinds


def approvals(requests: DeferredToolRequests) -> DeferredToolResults:
    """The answers to pass back as ``deferred_tool_results`` for the calls charter held:
    each goes back to charter, which runs it only on its approval request's signed receipt
    (granted in any process: ``charter approvals approve``, the API, the dashboard) for
    exactly that call; a denied or unmatched request is refused to the model. Calls held
    for another reason are left for the caller to answer."""
    answered: dict[str, DeferredToolApprovalResult | bool] = {}
    metadata: dict[str, dict[str, Any]] = {}
    for call in requests.approvals:
        meta = requests.metadata.get(call.tool_call_id) or {}
        if meta.get(RUN_KEY):
            answered[call.tool_call_id] = ToolApproved()
            metadata[call.tool_call_id] = dict(meta)
    return DeferredToolResults(approvals=answered, metadata=metadata)


_HOLDING = frozenset({"redact", "ask", "deny"})
"""The ``flows.answer`` settings that may change or hold a final answer once it is whole."""


class GovernedAgent:
    """A Pydantic AI agent whose every tool call charter governs, one governed run per
    agent run (built by :func:`govern`)."""

    def __init__(
        self, agent: PydanticAgent[Any, Any], journal: Journal, identity: Agent, actor: str = ""
    ) -> None:
        self.agent = agent
        """The Pydantic AI agent, unchanged."""
        self.journal = journal
        self.identity = identity
        """The charter agent it is governed as (name, charter, declared tools)."""
        self.actor = actor
        self.last_run_id: str | None = None
        """The charter run of the latest :meth:`run` (also in each held call's metadata)."""

    @contextmanager
    def _governed(
        self,
        user_prompt: Any,
        charter_run_id: str | None,
        message_history: Sequence[ModelMessage] | None,
        deferred_tool_results: DeferredToolResults | None,
        output_type: Any,
    ) -> Generator[tuple[GovernedRun, CharterCapability, Any]]:
        run_id = charter_run_id or _run_of(deferred_tool_results)
        if run_id is not None:
            governed = GovernedRun.resume(self.journal, self.identity, run_id, actor=self.actor)
        else:
            if deferred_tool_results is not None:
                raise ValueError(
                    "these deferred tool results name no charter run: pass charter_run_id= "
                    "to continue the governed run they came from"
                )
            if not isinstance(user_prompt, str) or not user_prompt:
                raise ValueError("a governed run needs its goal: a text user_prompt")
            governed = GovernedRun.open(self.journal, self.identity, user_prompt, actor=self.actor)
            try:  # the history's tool outputs: read before the run, labelled as read
                governed.inherit(_inherited(message_history or ()))
            except BaseException:
                governed.close()
                raise
        self.last_run_id = governed.run_id
        kinds = _with_deferred(self.agent.output_type if output_type is None else output_type)
        gate = Gate(governed, self.identity.inventory)
        try:
            yield governed, CharterCapability(gate), kinds
        except BaseException as exc:
            if gate.interrupted:
                # Like a crash mid-call: the run stays open, and resuming it journals the
                # interrupted call in doubt (a write's target blocked until resolved).
                governed.close()
            else:
                governed.__exit__(type(exc), exc, exc.__traceback__)
            raise
        governed.close()

    def rollback(self, run_id: str, *, actor: str) -> RollbackReport:
        """Undo the completed writes of governed run ``run_id``, newest first, with the
        ``compensate`` callables given to :func:`govern` (what ``charter runs rollback``
        does for an agent file; a Pydantic AI agent's compensations live in Python).

        Raises:
            RunNotFoundError: no such run.
            RunStateError: the run belongs to another agent, is still running, or was
                already rolled back.
        """
        return rollback(self.journal, self.identity, run_id, actor=actor)

    def _handler(self, kwargs: Mapping[str, Any]) -> str | None:
        """What in a run's arguments streams its events (None: nothing)."""
        if kwargs.get("event_stream_handler") or self.agent.event_stream_handler:
            return "an event_stream_handler"
        return None

    def _refuse_streaming(self, how: str | None) -> None:
        """Refuse to run so that ``how`` hands the answer's text out as the model streams
        it, when the charter governs the answer (it is checked once whole)."""
        policy = self.identity.charter.flows.answer
        if how is not None and policy in _HOLDING:
            raise ConfigError(
                f"flows.answer: {policy} governs the final answer once it is whole, and "
                f"{how} hands its text out as the model streams it: use run_stream() "
                "(the governed answer given whole) or run() without an event_stream_handler"
            )

    @asynccontextmanager
    async def run_stream(
        self,
        user_prompt: Any = None,
        *,
        charter_run_id: str | None = None,
        message_history: Sequence[ModelMessage] | None = None,
        deferred_tool_results: DeferredToolResults | None = None,
        output_type: Any = None,
        capabilities: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[StreamedRunResult[Any, Any]]:
        """:meth:`run` streamed (``Agent.run_stream``, an async context manager).

        When the charter governs the final answer (``flows.answer``: ``redact``, ``ask``,
        ``deny``), its text is withheld until the run has governed it: the run goes to its
        end first, and the stream gives the output as the run kept it (released typed,
        redacted, the held call, or the withheld notice), in one piece. Otherwise the
        model's output streams as it comes, the tool calls before it governed as in
        :meth:`run`, and the governed run finishes once the stream has been read whole.

        Raises:
            ConfigError: an ``event_stream_handler`` would see the answer's text before
                ``flows.answer`` governs it.
        """
        if self.identity.charter.flows.answer in _HOLDING:
            result = await self.run(
                user_prompt,
                charter_run_id=charter_run_id,
                message_history=message_history,
                deferred_tool_results=deferred_tool_results,
                output_type=output_type,
                capabilities=capabilities,
                **kwargs,
            )
            messages = result.all_messages()
            start = len(messages) - len(result.new_messages())
            yield StreamedRunResult(messages, start, run_result=result)
            return
        with self._governed(
            user_prompt, charter_run_id, message_history, deferred_tool_results, output_type
        ) as (governed, capability, kinds):
            async with self.agent.run_stream(
                user_prompt,
                output_type=kinds,
                message_history=message_history,
                deferred_tool_results=deferred_tool_results,
                capabilities=[capability, *(capabilities or ())],
                **kwargs,
            ) as streamed:
                yield streamed
            if streamed.is_complete:
                self._finish(governed, streamed.result)

    @asynccontextmanager
    async def iter(
        self,
        user_prompt: Any = None,
        *,
        charter_run_id: str | None = None,
        message_history: Sequence[ModelMessage] | None = None,
        deferred_tool_results: DeferredToolResults | None = None,
        output_type: Any = None,
        capabilities: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[AgentRun[Any, Any]]:
        """:meth:`run` node by node (``Agent.iter``, an async context manager): every
        tool call governed as in :meth:`run`; the governed run finishes with the run's
        output once the iteration has reached it.

        Raises:
            ConfigError: the charter governs the final answer (``flows.answer``:
                ``redact``, ``ask``, ``deny``): the nodes hand the model's answer to the
                caller before it can be governed; :meth:`run_stream` gives it governed.
        """
        self._refuse_streaming("iter()")
        with self._governed(
            user_prompt, charter_run_id, message_history, deferred_tool_results, output_type
        ) as (governed, capability, kinds):
            async with self.agent.iter(
                user_prompt,
                output_type=kinds,
                message_history=message_history,
                deferred_tool_results=deferred_tool_results,
                capabilities=[capability, *(capabilities or ())],
                **kwargs,
            ) as agent_run:
                yield agent_run
            if agent_run.result is not None:
                self._finish(governed, agent_run.result)

    def _finish(self, governed: GovernedRun, result: AgentRunResult[Any]) -> None:
        output = result.output
        if isinstance(output, DeferredToolRequests):
            return  # the run waits: resume it with approvals(output)
        if governed.run.status != "running":
            return
        answer = output if isinstance(output, str) else json.dumps(jsonable(output))
        governed.finish(answer)

    async def run(
        self,
        user_prompt: Any = None,
        *,
        charter_run_id: str | None = None,
        message_history: Sequence[ModelMessage] | None = None,
        deferred_tool_results: DeferredToolResults | None = None,
        output_type: Any = None,
        capabilities: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> AgentRunResult[Any]:
        """Run the agent (``Agent.run``'s arguments) as a governed run whose goal is
        ``user_prompt``; or continue the governed run ``charter_run_id`` (or the one
        ``deferred_tool_results`` names) with its ``message_history``.

        The output is :class:`~pydantic_ai.DeferredToolRequests` when a call waits for an
        approval: answer it in any process, then pass :func:`approvals` of it back.

        Raises:
            RunStoppedError: charter stopped the run (kill switch, budget, playbook).
            RunStateError: the run to continue waits for an approval not yet decided, or
                finished.
            ValueError: no text goal for a new run, or a history with tool outputs
                without the run they came from.
            ConfigError: an ``event_stream_handler`` would see the answer's text before
                ``flows.answer`` (``redact``, ``ask``, ``deny``) governs it.
        """
        self._refuse_streaming(self._handler(kwargs))
        with self._governed(
            user_prompt, charter_run_id, message_history, deferred_tool_results, output_type
        ) as (governed, capability, kinds):
            held = _answer.released(governed, deferred_tool_results, message_history, kinds)
            if held is not None:  # the run held its answer: released, or withheld
                return held
            result = await self.agent.run(
                user_prompt,
                output_type=kinds,
                message_history=message_history,
                deferred_tool_results=deferred_tool_results,
                capabilities=[capability, *(capabilities or ())],
                **kwargs,
            )
            self._finish(governed, result)
            return _answer.held(governed, result, kinds)

    def run_sync(
        self,
        user_prompt: Any = None,
        *,
        charter_run_id: str | None = None,
        message_history: Sequence[ModelMessage] | None = None,
        deferred_tool_results: DeferredToolResults | None = None,
        output_type: Any = None,
        capabilities: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> AgentRunResult[Any]:
        """:meth:`run`, synchronously (``Agent.run_sync``)."""
        self._refuse_streaming(self._handler(kwargs))
        with self._governed(
            user_prompt, charter_run_id, message_history, deferred_tool_results, output_type
        ) as (governed, capability, kinds):
            held = _answer.released(governed, deferred_tool_results, message_history, kinds)
            if held is not None:  # the run held its answer: released, or withheld
                return held
            result = self.agent.run_sync(
                user_prompt,
                output_type=kinds,
                message_history=message_history,
                deferred_tool_results=deferred_tool_results,
                capabilities=[capability, *(capabilities or ())],
                **kwargs,
            )
            self._finish(governed, result)
            return _answer.held(governed, result, kinds)


def govern(
    agent: PydanticAgent[Any, Any],
    *,
    journal: Journal,
    charter: Charter | str | Path,
    name: str | None = None,
    compensate: Mapping[str, Callable[..., Any] | None] | None = None,
    actor: str = "",
) -> GovernedAgent:
    """Govern every tool call of a Pydantic AI ``agent`` by ``charter`` (a
    :class:`~charter.Charter` or the path of its YAML), journaled in ``journal``.

    Args:
        agent: the agent, unchanged (its tools and toolsets keep running its calls).
        journal: where the runs are journaled.
        charter: the policy; its ``contracts:`` names the agent's tools by their Pydantic
            AI names (side effect, labels, targets, cost), and a tool it does not name is
            refused.
        name: the agent's name in charter (default: the charter's name).
        compensate: per tool, a callable that undoes a completed call (``result=`` and
            the call's arguments), for ``charter runs rollback``.
        actor: who runs the agent (journaled).
    """
    loaded = charter if isinstance(charter, Charter) else load_charter(charter)
    identity = charter_agent(agent, loaded, name=name, compensate=compensate)
    return GovernedAgent(agent, journal, identity, actor)
