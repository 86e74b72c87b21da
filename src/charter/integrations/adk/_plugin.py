"""A Runner plugin that governs every tool call an ADK agent makes.

ADK runs a plugin's ``before_tool_callback`` before any agent callback or the tool, and
uses its answer instead of running the tool; ``after_tool_callback`` sees the result and
may replace it. So the plugin asks charter first, lets the tool run only when the verdict
runs, records the result (its labels flow into later calls), and answers anything else
as the tool response ``{"error": ...}`` the model reads. An ``ask`` becomes ADK's tool
confirmation, whose payload names charter's approval request; the confirmed call, in
this process or another, runs only on the signed receipt of exactly that call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from google.adk.agents.base_agent import BaseAgent
from google.adk.agents.callback_context import CallbackContext
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from google.adk.models.llm_response import LlmResponse
from google.adk.plugins.base_plugin import BasePlugin
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.tool_context import ToolContext
from google.genai import types
from pydantic_core import to_jsonable_python

from charter.agent import Agent
from charter.errors import CharterError, ConfigError, RunStateError
from charter.governance import CallVerdict, GovernedRun, Inherited
from charter.journal import Journal
from charter.reasoners._base import ToolCall
from charter.runtime._approvals import Approvals
from charter.runtime._history import history, run_state
from charter.runtime._lineage import waiting_child

RUN_KEY = "charter_run_id"
"""The session-state key holding the charter run of the session's current task (so a
confirmation answered in another process resumes that run)."""
REQUEST_KEY = "charter_request"
"""The confirmation payload's key naming charter's approval request."""
_FINISHED_KEPT = 4096
"""How many runs finished in this process are remembered (the oldest forgotten first: a
session whose state still names it then reads it back, as another process would)."""


@dataclass(slots=True)
class _Allowed:
    run: GovernedRun
    verdict: CallVerdict
    lock: asyncio.Lock


class CharterPlugin(BasePlugin):
    """Governs the tool calls of every agent a Runner runs with the charter ``agent``.

    One charter run per task: it opens at the task's first model answer (the user's
    message is its goal), waits while a confirmation is pending, and finishes when the
    invocation ends with the model's final answer. Calls of one session are governed
    one at a time, in the order ADK starts them.

    Args:
        journal: where the runs are journaled (and approvals decided).
        agent: the charter agent (identity, charter, declared tools), e.g. from
            :func:`~charter.integrations.adk.charter_agent`.
        actor: who drives the runs (journaled).
        name: the plugin's name in the Runner.
    """

    def __init__(
        self, journal: Journal, agent: Agent, *, actor: str = "adk", name: str = "charter"
    ) -> None:
        super().__init__(name)
        self.journal = journal
        self.agent = agent
        self.actor = actor
        self._runs: dict[str, tuple[str, GovernedRun]] = {}
        self._allowed: dict[str, _Allowed] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._finished: dict[str, None] = {}
        """The runs this process finished (oldest first): a session's next task need
        not read back the run its state names to settle it when it is one of them."""
        self._answers: dict[str, str] = {}
        self._holds = agent.charter.flows.answer in ("ask", "redact", "deny")
        self._pending: dict[str, Any] = {}
        """Per session, the text-only response held back until its agent's turn ends."""
        self._notices: dict[str, tuple[types.Content, dict[str, Any]]] = {}
        """Per session, a held answer's notice and the metadata its event carries."""

    def run_id(self, session_id: str) -> str | None:
        """The charter run this process holds for ADK session ``session_id``, if any."""
        held = self._runs.get(session_id)
        return None if held is None else held[1].run_id

    # --- ADK callbacks ---

    async def after_model_callback(
        self, *, callback_context: CallbackContext, llm_response: LlmResponse
    ) -> LlmResponse | None:
        """Count the model's tokens against the run's budgets; keep its final text. Under
        ``flows.answer: ask``, ``redact`` or ``deny`` a text-only response's text is held
        back until ADK shows whether it ends the agent's turn (see :mod:`._answer`)."""
        run = self._governed(callback_context)
        usage = llm_response.usage_metadata
        if usage is not None:
            run.report_usage(
                prompt_tokens=usage.prompt_token_count or 0,
                completion_tokens=usage.candidates_token_count or 0,
                model=llm_response.model_version or "",
            )
        content = llm_response.content
        parts = content.parts or [] if content is not None else []
        if self._holds:  # governed first
            from charter.integrations.adk._answer import withheld

            return withheld(self, callback_context, llm_response) if parts else None
        if parts and not llm_response.partial and not any(p.function_call for p in parts):
            text = "".join(p.text or "" for p in parts if not p.thought)
            if text:
                self._answers[callback_context.session.id] = text
        return None

    async def after_agent_callback(
        self, *, agent: BaseAgent, callback_context: CallbackContext
    ) -> types.Content | None:
        """An agent's turn ended: a text it ended with, held back, was its final answer;
        govern it now, and the event ADK makes of what this returns shows it as kept."""
        if not self._pending:
            return None
        from charter.integrations.adk._answer import answered

        output_key = getattr(agent, "output_key", None)
        return answered(self, agent.name, callback_context, output_key)

    async def on_event_callback(
        self, *, invocation_context: InvocationContext, event: Event
    ) -> Event | None:
        """The event of a held answer's notice names the approval request and the run."""
        if not self._notices:
            return None
        notice = self._notices.get(invocation_context.session.id)
        if notice is None or event.content is not notice[0]:
            return None
        del self._notices[invocation_context.session.id]
        return event.model_copy(update={"custom_metadata": notice[1]})

    async def before_run_callback(
        self, *, invocation_context: InvocationContext
    ) -> types.Content | None:
        """Refuse a live (bidi) run under a governed answer: ADK shows the plugin no
        text a live model answers with, so charter could not hold it."""
        if self._holds and invocation_context.live_request_queue is not None:
            raise ConfigError(
                f"{self.agent.charter.name}: flows.answer: {self.agent.charter.flows.answer} "
                "governs the final answer, which a live run (run_live) streams to its reader "
                "unseen by charter; run the agent with run_async (SSE streaming is governed)"
            )
        return None

    async def before_tool_callback(
        self, *, tool: BaseTool, tool_args: dict[str, Any], tool_context: ToolContext
    ) -> dict[str, Any] | None:
        """Charter's decision first: None lets the tool run; a dict answers the call."""
        session_id = tool_context.session.id
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        await lock.acquire()
        try:
            if tool_context.tool_confirmation is not None:
                outcome = self._confirmed(tool, tool_args, tool_context)
            else:
                outcome = self._decide(tool, tool_args, tool_context)
        except BaseException:
            lock.release()
            raise
        if isinstance(outcome, dict):
            lock.release()
            return outcome
        run, verdict = outcome
        self._allowed[_call_key(tool_context)] = _Allowed(run, verdict, lock)
        return None

    async def after_tool_callback(
        self,
        *,
        tool: BaseTool,
        tool_args: dict[str, Any],
        tool_context: ToolContext,
        result: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Record what an allowed call returned; the model gets what charter lets it see."""
        allowed = self._allowed.pop(_call_key(tool_context), None)
        if allowed is None:  # charter answered the call itself
            return None
        try:
            kept = to_jsonable_python(result, fallback=str)
            observation = allowed.run.record(allowed.verdict, result=kept)
        finally:
            allowed.lock.release()
        if observation.content == kept:
            return None
        content: Any = observation.content
        return cast(dict[str, Any], content) if isinstance(content, dict) else {"result": content}

    async def on_tool_error_callback(
        self,
        *,
        tool: BaseTool,
        tool_args: dict[str, Any],
        tool_context: ToolContext,
        error: BaseException,
    ) -> dict[str, Any] | None:
        """Record the error an allowed call raised (or its cancellation); ADK handles it."""
        allowed = self._allowed.pop(_call_key(tool_context), None)
        if allowed is not None:
            try:
                allowed.run.record(allowed.verdict, error=f"{type(error).__name__}: {error}")
            finally:
                allowed.lock.release()
        return None

    async def after_run_callback(self, *, invocation_context: InvocationContext) -> None:
        """The invocation ended: finish the run with the model's answer, or, when it
        waits for a confirmation, let it go (the confirmation resumes it, anywhere)."""
        session_id = invocation_context.session.id
        held = self._runs.get(session_id)
        if held is None or held[0] != invocation_context.invocation_id:
            return
        del self._runs[session_id]
        lock = self._locks.get(session_id)
        if lock is not None and not lock.locked():
            del self._locks[session_id]
        answer = self._answers.pop(session_id, "")
        self._pending.pop(session_id, None)  # the turn ended unseen: finished with it below
        self._notices.pop(session_id, None)
        self._ending(held[1], answer=answer)

    async def on_run_error_callback(
        self, *, invocation_context: InvocationContext, error: Exception
    ) -> None:
        """An error ended the invocation: the run fails with it (a confirmation still
        pending keeps the run waiting)."""
        held = self._runs.get(invocation_context.session.id)
        if held is None or held[0] != invocation_context.invocation_id:
            return
        del self._runs[invocation_context.session.id]
        self._answers.pop(invocation_context.session.id, None)
        self._pending.pop(invocation_context.session.id, None)
        self._notices.pop(invocation_context.session.id, None)
        self._ending(held[1], error=f"{type(error).__name__}: {error}")

    async def close(self) -> None:
        """Release every run this process still holds (they can be resumed elsewhere)."""
        for _, run in self._runs.values():
            run.close()
        self._runs.clear()

    # --- decisions ---

    def _decide(
        self, tool: BaseTool, tool_args: dict[str, Any], context: ToolContext
    ) -> dict[str, Any] | tuple[GovernedRun, CallVerdict]:
        try:
            run = self._governed(context)
            if context.state.get(RUN_KEY) != run.run_id:  # a state delta only when it changes
                context.state[RUN_KEY] = run.run_id
            verdict = run.govern(tool.name, tool_args)
        except RunStateError as exc:  # the run was stopped or ended: no more calls
            return _refused(context, f"charter: {exc}", stop=True)
        if verdict.runs:
            return run, verdict
        if verdict.verdict == "ask" and verdict.approval is not None:
            return _ask(context, run.run_id, verdict.approval.request_id, verdict.reason)
        return _answer(context, verdict, stop=run.run.status != "running")

    def _confirmed(
        self, tool: BaseTool, tool_args: dict[str, Any], context: ToolContext
    ) -> dict[str, Any] | tuple[GovernedRun, CallVerdict]:
        """A confirmed call: it runs only if charter's approval of exactly this call is
        granted, its signed receipt valid, and the charter still allows it."""
        confirmation = context.tool_confirmation
        assert confirmation is not None
        payload: Any = confirmation.payload
        request = (
            str(cast(dict[str, Any], payload).get(REQUEST_KEY) or "")
            if isinstance(payload, dict)
            else ""
        )
        run_id = str(context.state.get(RUN_KEY) or "")
        if not request or not run_id:
            return _refused(
                context, "charter: this confirmation carries no charter approval; not run"
            )
        if not confirmation.confirmed:
            return _refused(context, f"charter: approval {request} was not confirmed; not run")
        try:
            state = Approvals(self.journal).get(request)
        except CharterError as exc:  # no such request
            return _refused(context, f"charter: {exc}; not run")
        if state.request.run_id != run_id and not self._waits_with_child(run_id, request):
            return _refused(
                context, f"charter: approval {request} is for another run than this one; not run"
            )
        if state.status == "pending":  # ADK has consumed the confirmation: the call is over
            return _refused(
                context,
                f"charter: approval {request} is still undecided; the call did not run "
                "(confirm only once it is decided)",
                stop=True,
            )
        try:
            run = GovernedRun.resume(self.journal, self.agent, run_id, actor=self.actor)
        except CharterError as exc:
            return _refused(context, f"charter: {exc}", stop=True)
        self._hold(context, run)
        if run.run.waiting_for != request:
            return _refused(
                context,
                f"charter: run {run_id} waits for approval {run.run.waiting_for}, "
                f"not {request}; not run",
            )
        if state.request.run_id != run_id and not _same_call(run, tool.name, tool_args):
            return _refused(
                context, f"charter: the confirmed call differs from approval {request}; not run"
            )  # checked first: the approved call is a delegation, continued by charter
        verdict = run.approved_call()
        if not verdict.runs:
            return _answer(context, verdict, stop=run.run.status != "running")
        if verdict.tool != tool.name or not _same_args(verdict.args, tool_args):
            run.record(verdict, error="the confirmed call is not the approved one; not run")
            return _refused(
                context, f"charter: the confirmed call differs from approval {request}; not run"
            )
        return run, verdict

    def _waits_with_child(self, run_id: str, request: str) -> bool:
        """Whether run ``run_id`` waits on ``request`` with the sub-agent it delegated to
        (the child's own approval, which the parent's call is confirmed by)."""
        try:
            return waiting_child(history(self.journal, run_id), request) is not None
        except CharterError:  # no such run
            return False

    def _governed(self, context: CallbackContext) -> GovernedRun:
        """The run of this session's current task, opened on its first use."""
        session_id, invocation = context.session.id, context.invocation_id
        held = self._runs.get(session_id)
        if held is not None:
            if held[0] == invocation or held[1].run.status == "running":
                return held[1]
            held[1].close()
        previous = str(context.state.get(RUN_KEY) or "")
        if previous not in self._finished:
            self._settle(previous)
        run = GovernedRun.open(
            self.journal, self.agent, _goal(context.user_content), actor=self.actor
        )
        self._runs[session_id] = (invocation, run)
        run.inherit(_inherited(context.session.events, invocation))
        return run

    def _ending(self, run: GovernedRun, *, answer: str = "", error: str | None = None) -> None:
        """End the invocation's run (see :func:`_end`), noting it once finished (a run
        let go while it waits may be resumed, and left running, by another process)."""
        if _end(run, answer=answer, error=error):
            if len(self._finished) >= _FINISHED_KEPT:
                self._finished.pop(next(iter(self._finished)))
            self._finished[run.run_id] = None

    def _settle(self, run_id: str) -> None:
        """The session's previous run, if a process stopped while it ran (the task never
        ended), is ended now: a write it had let run is journaled in doubt (its target
        blocked until ``charter runs resolve``) and the run fails. A run still waiting for
        its approval, or held by a live process, is left alone."""
        if not run_id or any(r.run_id == run_id for _, r in self._runs.values()):
            return
        try:
            if run_state(history(self.journal, run_id)) != "running":
                return
            stopped = GovernedRun.resume(self.journal, self.agent, run_id, actor=self.actor)
        except CharterError:  # not found, another agent's, or owned by a live process
            return
        with stopped:
            stopped.finish(error="the process driving it stopped before the task ended")

    def _hold(self, context: CallbackContext, run: GovernedRun) -> None:
        held = self._runs.pop(context.session.id, None)
        if held is not None and held[1] is not run:
            held[1].close()
        self._runs[context.session.id] = (context.invocation_id, run)


def _end(run: GovernedRun, *, answer: str = "", error: str | None = None) -> bool:
    """Finish a running run with the answer (or the error); let any other go. Returns
    whether the run is over for good (finished: no process can take it up again)."""
    if run.run.status != "running":
        run.close()
    else:
        try:
            run.finish(answer, error=error)
        except RunStateError:  # an allowed call left unrecorded (cancelled): resume settles it
            run.close()
    return run.run.status not in ("running", "waiting")


def _inherited(events: Sequence[Event], invocation: str) -> list[Inherited]:
    """The tool responses of the session's earlier tasks, which the model reads with this
    one's: each labelled by its tool (the function call of the same id gives the
    arguments). A response that is only an ``error`` (a tool's failure, or charter's
    refusal) is its text, as the run reads an error: it vouches for nothing."""
    calls: dict[str, dict[str, Any]] = {}
    found: list[Inherited] = []
    for event in events:
        if event.invocation_id == invocation or event.content is None:
            continue
        for part in event.content.parts or ():
            call, response = part.function_call, part.function_response
            if call is not None and call.id:
                calls[call.id] = dict(call.args or {})
            if response is None:
                continue
            output: Any = to_jsonable_python(response.response or {}, fallback=str)
            failed = isinstance(output, dict) and set(cast(dict[str, Any], output)) == {"error"}
            if failed:
                output = cast(dict[str, Any], output)["error"]
            args = calls.get(response.id or "")
            found.append(Inherited(response.name, output, args, failed=failed))
    return found


def _call_key(context: ToolContext) -> str:
    return f"{context.session.id}:{context.function_call_id}"


def _goal(content: types.Content | None) -> str:
    parts = content.parts if content is not None and content.parts else []
    text = " ".join(p.text for p in parts if p.text)
    return text or "(no text)"


def _same_args(approved: dict[str, Any], proposed: dict[str, Any]) -> bool:
    """The arguments ADK is about to run are the ones approved (defaults aside)."""
    kept = {k: v for k, v in approved.items() if v is not None or k in proposed}
    return kept == proposed


def _same_call(run: GovernedRun, tool: str, tool_args: dict[str, Any]) -> bool:
    """Whether ``tool`` with ``tool_args`` is the call ``run`` waits with (as journaled)."""
    waited = run.run.steps[-1].action
    return isinstance(waited, ToolCall) and waited.tool == tool and waited.args == tool_args


def _answer(context: ToolContext, verdict: CallVerdict, *, stop: bool) -> dict[str, Any]:
    """The tool response of a call that does not run in ADK: what charter answered it
    with (a ``delegate:`` tool's child run, whatever became of it; a shadow-phase
    simulation), or why it was refused."""
    observation = verdict.observation
    if observation is None or (verdict.child_run is None and observation.status != "ok"):
        return _refused(context, _denial(verdict), stop=stop)
    if stop:
        context.actions.skip_summarization = True
    content: Any = observation.content
    if isinstance(content, dict):
        return cast(dict[str, Any], content)
    return {"result": content} if observation.status == "ok" else {"error": content}


def _denial(verdict: CallVerdict) -> str:
    why = verdict.reason  # what the model is told when the call does not run, if anything
    if verdict.observation is not None and verdict.observation.content:
        why = str(verdict.observation.content)
    rules = f" ({', '.join(verdict.rules)})" if verdict.rules else ""
    return f"charter denied {verdict.tool or 'the call'}{rules}: {why}"


def _refused(context: ToolContext, error: str, *, stop: bool = False) -> dict[str, Any]:
    if stop:  # the run is over: ADK does not call the model again in this invocation
        context.actions.skip_summarization = True
    return {"error": error}


def _ask(context: ToolContext, run_id: str, request: str, reason: str) -> dict[str, Any]:
    hint = (
        f"charter approval {request} required ({reason}): "
        f"`charter approvals approve {request}`, then confirm this call"
    )
    context.request_confirmation(hint=hint, payload={REQUEST_KEY: request, "run_id": run_id})
    context.actions.skip_summarization = True  # pause: the model is not asked again
    return {"error": hint}
