"""An SDK agent whose every function-tool call charter governs.

The SDK asks a tool's ``needs_approval`` before it invokes the tool, in the task that
then invokes it; that is where charter decides. An allowed call holds the run until its
invocation records what happened (charter governs one call at a time, so the SDK's
parallel calls of one turn run one after the other); a denied call's invocation returns
the denial as the tool's output; an ``ask`` makes ``needs_approval`` answer yes, so the
SDK interrupts the run with a tool approval item, and the call runs later only on
charter's signed receipt (:meth:`GovernedAgent.apply_approvals`).
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from agents import Agent as SdkAgent
from agents import (
    FunctionTool,
    RunContextWrapper,
    RunState,
    ToolGuardrailFunctionOutput,
    ToolInputGuardrail,
    ToolInputGuardrailData,
)
from agents import Tool as SdkTool
from agents.exceptions import AgentsException, UserError
from agents.models.interface import Model
from agents.tool import with_function_tool_failure_error_handler
from agents.tool_context import ToolContext
from pydantic_core import to_jsonable_python

from charter.agent import Agent
from charter.errors import RunStateError
from charter.governance import CallVerdict, GovernedRun, Inherited
from charter.integrations.openai_agents import _answer
from charter.integrations.openai_agents._hooks import UsageHooks
from charter.integrations.openai_agents._inventory import (
    agent_graph,
    answer_models,
    charter_agent,
    function_tools,
)
from charter.integrations.openai_agents._model import AnswerModel
from charter.journal import Journal
from charter.policy import Charter
from charter.reasoners._base import ToolCall
from charter.runtime._run import Run
from charter.tools import ToolOutcomeUnknownError

Ready = tuple[CallVerdict, dict[str, Any]] | str
"""A call decided in ``needs_approval``: its verdict and the arguments governed, or the
text its invocation returns without running it."""


class RunStopped(AgentsException):
    """Charter stopped the run (kill switch, budget, an operator's cancel): the SDK run
    ends with this error at the next tool call."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"charter run {run_id} stopped: {reason}")
        self.run_id = run_id
        self.reason = reason


class GovernedAgent:
    """An SDK agent governed by charter: run :attr:`agent` with ``Runner.run``.

    Build it with :func:`govern` (a new charter run) or :func:`resume` (a run that
    waited for an approval, in any process). It holds the charter run's lease until
    :meth:`finish` or :meth:`close` (or the end of a ``with`` block).
    """

    def __init__(
        self, agent: SdkAgent[Any], run: GovernedRun, *, governs_answers: bool = False
    ) -> None:
        self._run = run
        self._ready: dict[str, Ready] = {}
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._governs_answers = governs_answers
        self._answer_governed = False
        self._history_read = False
        self.agent: SdkAgent[Any] = self._governed(agent)
        """The agent to run: the original's clone whose function tools (and whose
        handoff agents' tools) charter governs."""

    @property
    def run_id(self) -> str:
        """The charter run's id (resume it by this id)."""
        return self._run.run_id

    @property
    def run(self) -> Run:
        """The charter run as it stands."""
        return self._run.run

    @property
    def governed_run(self) -> GovernedRun:
        """The underlying :class:`~charter.governance.GovernedRun`."""
        return self._run

    async def apply_approvals(self, state: RunState[Any, Any]) -> list[str]:
        """Answer the SDK's tool approval items in ``state`` as charter decided them:
        the call the charter run waits for is approved only if its signed receipt
        matches exactly this call (tool, arguments, run, step, policy version) and the
        charter still allows it; otherwise it is rejected, with the reason as the text
        the model sees. Returns, per item, ``approved`` or the rejection text.
        """
        answers: list[str] = []
        for item in state.get_interruptions():
            raw = item.raw_item
            call_id = str(_field(raw, "call_id") or "")
            args = _parse(_field(raw, "arguments"))
            ready = await self._take_approved(str(item.tool_name or ""), args)
            if isinstance(ready, str):
                state.reject(item, rejection_message=ready)
                answers.append(ready)
            else:
                self._ready[call_id] = ready
                state.approve(item)
                answers.append("approved")
        return answers

    def finish(self, answer: Any = None, *, error: str | None = None) -> Run:
        """End the charter run with the agent's final output (or the SDK's run result,
        or the ``error`` that ended it); see :meth:`~charter.governance.GovernedRun.finish`.

        When the charter holds the answer for approval, the run returned is ``waiting``
        (``waiting_for``: the request) and a result given has its ``final_output``
        replaced by a notice; once the request is decided, ``finish()`` with no answer
        (here or after :func:`resume`) releases the journaled answer, or withholds it.
        """
        run = self._run.run
        if (
            self._answer_governed
            and error is None
            and (answer is not None or run.status != "waiting")
        ):
            return run  # the model's answer was governed as it arrived
        return _answer.finish(self._run, answer, error)

    def close(self) -> None:
        """Stop governing in this process without finishing (e.g. the run waits for an
        approval and will be resumed elsewhere): the lease is released."""
        self._run.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._run.__exit__(kind, exc, tb)

    # --- the governed agent graph ---

    def _governed(self, agent: SdkAgent[Any]) -> SdkAgent[Any]:
        clones: dict[int, SdkAgent[Any]] = {}
        for current in agent_graph(agent):
            changes: dict[str, Any] = {}
            model = None
            if self._governs_answers and isinstance(current.model, Model):
                changes["model"] = model = AnswerModel(current.model, self._answer)
            clones[id(current)] = _copied(
                current,
                tools=[self._tool(t) for t in current.tools],
                hooks=UsageHooks(
                    current.hooks, self._run, _model_name(current), model, self._inherit
                ),
                **changes,
            )
        for current in agent_graph(agent):
            clones[id(current)].handoffs = [clones.get(id(h), h) for h in current.handoffs]  # pyright: ignore[reportAttributeAccessIssue]
        return clones[id(agent)]

    def _tool(self, tool: SdkTool) -> SdkTool:
        assert isinstance(tool, FunctionTool)  # function_tools() refused the others
        name = tool.name
        inner = _raising(tool)

        async def needs_approval(
            context: RunContextWrapper[Any], params: dict[str, Any], call_id: str
        ) -> bool:
            ready = await self._decide(name, params, call_id)
            return not isinstance(ready, str) and ready[0].approval is not None

        async def invoke(context: ToolContext[Any], arguments: str) -> Any:
            return await self._invoke(inner, context, arguments)

        guards = [self._guarded(g) for g in tool.tool_input_guardrails or ()]
        governed = _copied(
            tool, needs_approval=needs_approval, tool_input_guardrails=guards or None
        )
        invoker: Any = with_function_tool_failure_error_handler(invoke, _reported)
        # The SDK binds its failure handler to the tool it runs for (the copy's error policy).
        governed.on_invoke_tool = invoker.__agents_bind_function_tool__(governed)
        return governed

    def _guarded(self, guardrail: ToolInputGuardrail[Any]) -> ToolInputGuardrail[Any]:
        """A tool input guardrail that, when it blocks a call charter allowed, journals
        the call as not run (and lets the next call be governed)."""

        async def check(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
            output = await guardrail.run(data)
            if output.behavior["type"] != "allow":
                why = f"not run: tool input guardrail {guardrail.get_name()!r} blocked it"
                self._drop(data.context.tool_call_id, why)
            return output

        return ToolInputGuardrail(guardrail_function=check, name=guardrail.get_name())

    def _answer(self, text: str, prompt_tokens: int, completion_tokens: int) -> str | None:
        """Finish the run with the model's final ``text`` as it arrives (see
        :class:`AnswerModel`): the text to show instead, or None when it stands.

        Raises:
            UserError: the run already ended with an answer, or holds one for approval
                (the agent run again): no answer after it would be governed.
            RunStopped: charter stopped the run.
        """
        run = self._run.run
        if run.status == "completed" or run.status == "waiting":
            now = (
                "has finished with its answer"
                if run.status == "completed"
                else f"waits for approval {run.waiting_for}"
            )
            raise UserError(
                f"charter run {run.run_id} {now}, so it governs no further answer: "
                "govern(...) a new run for each Runner.run of the agent (resume(...) "
                "continues a run that waited for a tool approval)"
            )
        if run.status != "running":
            raise RunStopped(run.run_id, run.error or f"the run is {run.status}")
        self._run.report_usage(
            prompt_tokens=max(prompt_tokens, 0),
            completion_tokens=max(completion_tokens, 0),
        )
        self._answer_governed = True
        return _answer.kept(self._run.finish(text))

    def _inherit(self, items: Sequence[Any]) -> None:
        """Before a new charter run's first model call: the tool outputs its input carries
        from before the run (a Session's earlier runs, an input list) are what the run
        inherits (each labelled by the tool of its ``function_call``; a hosted or custom
        tool's output, of unknown origin, untrusted)."""
        if self._history_read:
            return
        self._history_read = True
        run = self._run.run
        if run.steps or run.status != "running":  # a run taken up again: its own items
            return
        calls = {
            str(_field(item, "call_id")): item
            for item in items
            if _field(item, "type") == "function_call"
        }
        outputs: list[Inherited] = []
        for item in items:
            kind = _field(item, "type")
            if kind != "function_call_output":
                output = _field(item, "output")  # a hosted or custom tool's: untrusted
                if isinstance(kind, str) and kind != "message" and output is not None:
                    outputs.append(Inherited(None, _output(item)))
                continue
            call = calls.get(str(_field(item, "call_id")))
            name = None if call is None else _field(call, "name")
            args = None if call is None else _parse(_field(call, "arguments"))
            outputs.append(Inherited(None if name is None else str(name), _output(item), args))
        self._run.inherit(outputs)

    # --- one call: decide (needs_approval), then run and record (invoke) ---

    async def _decide(self, tool: str, args: dict[str, Any], call_id: str) -> Ready:
        await self._acquire()
        try:
            ready = self._govern(tool, args)
        except BaseException:
            self._release()
            raise
        if isinstance(ready, str) or not ready[0].runs:
            self._release()
        if isinstance(ready, str) or ready[0].approval is None:
            self._ready[call_id] = ready  # an ask is taken back on its receipt instead
        return ready

    def _govern(self, tool: str, args: dict[str, Any]) -> Ready:
        run = self._run
        if run.run.status == "waiting":
            waited = _waited_call(run.run)
            return (
                f"not run: charter run {run.run_id} waits for approval "
                f"{run.run.waiting_for} of step {len(run.run.steps)} ({waited.tool}); "
                "call it again once that is decided"
            )
        if run.run.status != "running":
            raise RunStopped(run.run_id, run.run.error or f"the run is {run.run.status}")
        try:
            verdict = run.govern(tool, args)
        except RunStateError as exc:
            raise RunStopped(run.run_id, str(exc)) from exc
        if run.run.status not in ("running", "waiting"):
            raise RunStopped(run.run_id, verdict.reason or run.run.error or "stopped")
        return verdict, dict(args)

    async def _invoke(self, inner: FunctionTool, context: ToolContext[Any], arguments: str) -> Any:
        args = _parse(arguments)
        ready = self._ready.pop(context.tool_call_id, None)
        if ready is None:  # invoked without needs_approval: an SDK approval, or a direct call
            if self._run.run.status == "waiting":
                ready = await self._take_approved(inner.name, args)
            else:
                try:
                    ready = await self._decide(inner.name, args, context.tool_call_id)
                except RunStopped as exc:
                    return str(exc)
                self._ready.pop(context.tool_call_id, None)
        if isinstance(ready, str):
            return ready
        verdict, governed = ready
        if not verdict.runs:
            return _verdict_text(verdict)
        try:
            if governed != args:
                why = f"not run: the arguments of {inner.name} differ from those charter governed"
                self._run.record(verdict, error=why)
                return why
            try:
                output = await inner.on_invoke_tool(context, arguments)
            except BaseException as exc:
                # Stopped midway (the SDK's timeout, a cancelled run) or unsure: a write
                # may have happened, so it is in doubt, never silently retried.
                unknown = isinstance(exc, asyncio.CancelledError | ToolOutcomeUnknownError)
                why = f"{type(exc).__name__}: {exc}"[:2000]
                self._run.record(verdict, error=why, in_doubt=unknown)
                raise
            result = to_jsonable_python(output, fallback=str)
            observation = self._run.record(verdict, result=result)
            if observation.status == "ok" and observation.content == result:
                return output
            return observation.render()  # charter withheld it (a secret output)
        finally:
            self._release()

    async def _take_approved(self, tool: str, args: dict[str, Any]) -> Ready:
        """The call the charter run waits for, taken back on its decided approval; the
        run is held until the call is recorded when it may run."""
        run = self._run
        if run.run.status != "waiting":
            return f"not run: charter run {run.run_id} waits for no approval of {tool}"
        waited = _waited_call(run.run)
        if waited.tool != tool or dict(waited.args) != args:  # the approval stays unused
            return (
                f"not run: charter run {run.run_id} waits for approval of another call "
                f"({waited.tool} with other arguments); this {tool} call was not approved"
            )
        await self._acquire()
        try:
            verdict = run.approved_call()
        except RunStateError as exc:
            self._release()
            return f"not run: {exc}"
        if not verdict.runs:
            self._release()
            # A delegation continued on its child's approval is answered, not refused.
            return (verdict, args) if _answered(verdict) else _denial(verdict)
        return verdict, args

    def _drop(self, call_id: str, why: str) -> None:
        ready = self._ready.pop(call_id, None)
        if ready is not None and not isinstance(ready, str) and ready[0].runs:
            try:
                self._run.record(ready[0], error=why)
            finally:
                self._release()

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        await self._lock.acquire()

    def _release(self) -> None:
        if self._lock is not None and self._lock.locked():
            self._lock.release()


_T = TypeVar("_T")
_CACHE_SIZE = 64
_RAISING: dict[int, tuple[FunctionTool, FunctionTool]] = {}
_IDENTITIES: dict[tuple[Any, ...], tuple[Any, Agent]] = {}


def _raising(tool: FunctionTool) -> FunctionTool:
    """A copy of ``tool`` that raises its errors to the governed invocation (so a failed
    write is journaled as failed); the governed tool formats them for the model by the
    original's policy. Copies are kept per tool: each is built once."""
    kept = _RAISING.get(id(tool))
    if kept is not None and kept[0] is tool:
        return kept[1]
    inner = dataclasses.replace(
        tool,
        _failure_error_function=None,
        _use_default_failure_error_function=False,
    )
    if len(_RAISING) >= _CACHE_SIZE:
        _RAISING.pop(next(iter(_RAISING)))
    _RAISING[id(tool)] = (tool, inner)
    return inner


def _copied(original: _T, **changes: Any) -> _T:
    """A shallow copy of an SDK agent or tool with ``changes``. ``clone()`` and
    ``dataclasses.replace`` run the class's ``__post_init__`` again, which re-derives what
    the original already holds (an agent's model settings through ``get_type_hints``, a
    tool's strict JSON schema, deep-copied): ~150 µs a governed run for one tool."""
    copied = object.__new__(type(original))
    copied.__dict__.update(original.__dict__)  # pyright: ignore[reportUnknownMemberType]
    for name, value in changes.items():
        setattr(copied, name, value)  # an agent's tools go through its own __setattr__
    return copied


def _identity(
    agent: SdkAgent[Any],
    charter: Charter,
    name: str | None,
    compensate: Mapping[str, Callable[..., Any]] | None,
) -> Agent:
    """The charter identity of ``agent`` (see :func:`charter_agent`), built once for the
    same agent, tools, charter and compensations (the objects themselves, kept alive by
    the cache so their ids stay theirs)."""
    tools = tuple((t.name, id(t)) for t in function_tools(agent).values())
    undo = tuple(sorted((k, id(v)) for k, v in (compensate or {}).items()))
    key = (id(agent), id(charter), name, tools, undo)
    kept = _IDENTITIES.get(key)
    if kept is not None:
        return kept[1]
    identity = charter_agent(agent, charter, name=name, compensate=compensate)
    if len(_IDENTITIES) >= _CACHE_SIZE:
        _IDENTITIES.pop(next(iter(_IDENTITIES)))
    _IDENTITIES[key] = ((agent, charter, dict(compensate or {})), identity)
    return identity


def _waited_call(run: Run) -> ToolCall:
    call = run.steps[-1].action
    assert isinstance(call, ToolCall)
    return call


def _answered(verdict: CallVerdict) -> bool:
    """Whether charter answered the call itself: a ``delegate:`` tool's sub-agent ran as
    a child run (its result, whatever became of the child), or the call was simulated
    (the shadow phase)."""
    observation = verdict.observation
    return observation is not None and (verdict.child_run is not None or observation.status == "ok")


def _verdict_text(verdict: CallVerdict) -> str:
    """The tool output the model sees of a call that did not run here: what charter
    answered it with, or why it was not run."""
    if not _answered(verdict):
        return _denial(verdict)
    assert verdict.observation is not None
    content = verdict.observation.content
    return content if isinstance(content, str) else json.dumps(content, default=str)


def _denial(verdict: CallVerdict) -> str:
    """What the model is told of a call charter did not let run."""
    observation = verdict.observation
    if verdict.approval is not None:
        return (
            f"not run: charter asks a person to approve this call of {verdict.tool} "
            f"(request {verdict.approval.request_id}): {verdict.reason}"
        )
    if observation is not None and observation.status == "unknown_tool":
        return f"charter denied {verdict.tool}: the charter does not name this tool"
    if observation is not None and verdict.verdict == "invalid":
        return f"charter refused {verdict.tool}: {observation.content}"
    if observation is not None:
        return f"charter denied {verdict.tool}: {observation.content}"
    rules = f" (rule {', '.join(verdict.rules)})" if verdict.rules else ""
    return f"charter denied {verdict.tool}: {verdict.reason or 'not allowed'}{rules}"


def _parse(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return dict(arguments)  # pyright: ignore[reportUnknownArgumentType]
    try:
        parsed = json.loads(arguments or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}  # pyright: ignore[reportUnknownVariableType]


def _output(item: Any) -> Any:
    """A ``function_call_output``'s output as the model read it (text, or its parts)."""
    output = _field(item, "output")
    if isinstance(output, str):
        return _read_back(output)
    if isinstance(output, list):
        parts = cast(list[Any], output)
        texts = [_field(p, "text") for p in parts]
        if all(isinstance(t, str) for t in texts):
            return "".join(cast(list[str], texts))
        return [p.model_dump() if hasattr(p, "model_dump") else p for p in parts]
    return output


def _read_back(text: str) -> Any:
    """What a tool returned, from the text the SDK made of it: JSON as it is; a Python
    literal (the SDK gives the model ``str()`` of a dict or list) as that value, so its
    fields are labelled as the run labels them when it reads them itself."""
    if text[:1] not in ("{", "["):
        return text
    try:
        json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return text
    return text


def _field(raw: Any, name: str) -> Any:
    if isinstance(raw, Mapping):
        return cast(Mapping[str, Any], raw).get(name)
    return getattr(raw, name, None)


def _reported(tool: FunctionTool, error: Exception, arguments: str) -> None:
    """Tool errors are journaled by the governed invocation itself."""


def _model_name(agent: SdkAgent[Any]) -> str:
    model = agent.model
    if model is None or isinstance(model, str):
        return model or ""
    return str(getattr(model, "model", "") or type(model).__name__)


def govern(
    agent: SdkAgent[Any],
    *,
    journal: Journal,
    charter: Charter,
    goal: str,
    name: str | None = None,
    actor: str = "",
    compensate: Mapping[str, Callable[..., Any]] | None = None,
) -> GovernedAgent:
    """Open a governed charter run for ``agent`` on ``goal`` (trusted input).

    Args:
        agent: the SDK agent (left unchanged; run the returned :attr:`GovernedAgent.agent`).
        journal: charter's journal.
        charter: the policy; its ``contracts:`` names the tools that may be called, by
            their SDK names, with their contracts (side effect, labels, targets, cost).
        goal: what the run is for (its task scope is derived from it).
        name: the agent identity in charter (kill switch, rate limits); default
            ``agent.name``.
        actor: who started the run.
        compensate: callables undoing a completed call, by tool name (for rollback).

    Raises:
        ConfigError: the charter names a tool the agent lacks, or the agent has a tool
            charter cannot govern.
    """
    identity = _identity(agent, charter, name, compensate)
    answers = answer_models(agent, charter)
    run = GovernedRun.open(journal, identity, goal, actor=actor)
    return GovernedAgent(agent, run, governs_answers=answers)


def resume(
    agent: SdkAgent[Any],
    *,
    journal: Journal,
    charter: Charter,
    run_id: str,
    name: str | None = None,
    actor: str = "",
    compensate: Mapping[str, Callable[..., Any]] | None = None,
) -> GovernedAgent:
    """Take up charter run ``run_id`` in this process, e.g. once the approval it waited
    for is decided; restore the SDK's ``RunState`` against :attr:`GovernedAgent.agent`
    and call :meth:`GovernedAgent.apply_approvals` before ``Runner.run``.

    Raises:
        RunStateError: the run finished, or its approval is not decided yet.
        RunNotFoundError, RunOwnedError: as :meth:`GovernedRun.resume`.
    """
    identity = _identity(agent, charter, name, compensate)
    answers = answer_models(agent, charter)
    run = GovernedRun.resume(journal, identity, run_id, actor=actor)
    return GovernedAgent(agent, run, governs_answers=answers)
