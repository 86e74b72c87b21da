"""The gate every tool call of a governed Pydantic AI run passes through.

:class:`GovernedToolset` wraps the agent's assembled toolset (Pydantic AI's
``WrapperToolset``); :class:`CharterCapability` installs it for one run and reports each
model response's token usage. Built against pydantic-ai-slim 2.68.0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic_ai import ApprovalRequired, CallDeferred, ModelRetry, RunContext, ToolFailed
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import ModelResponse
from pydantic_ai.toolsets import AbstractToolset, ToolsetTool, WrapperToolset
from pydantic_core import to_jsonable_python

from charter.errors import CharterError
from charter.governance import CallVerdict, GovernedRun
from charter.tools import Inventory, ToolArgumentsError

RUN_KEY = "charter_run_id"
"""Metadata key of a deferred call: the governed run it belongs to."""
REQUEST_KEY = "charter_request_id"
"""Metadata key of a deferred call: the charter approval request that decides it."""
AFTER_KEY = "charter_after"
"""Metadata key of a call deferred only because an earlier call of its response waits
for approval: charter decides it when the run resumes."""


class RunStoppedError(CharterError):
    """Charter stopped the governed run (kill switch, budget, anomaly playbook): the
    Pydantic AI run ends here instead of calling the model again."""


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (what is journaled and compared)."""
    return to_jsonable_python(value, fallback=str)


def _request_of(ctx: RunContext[Any]) -> str | None:
    """The charter approval request an approved call's metadata names, if any."""
    metadata: object = ctx.tool_call_metadata if ctx.tool_call_approved else None
    if not isinstance(metadata, dict):
        return None
    request = cast("dict[str, object]", metadata).get(REQUEST_KEY)
    return None if request is None else str(request)


def _refusal(verdict: CallVerdict) -> str:
    if verdict.verdict == "invalid" and verdict.observation is not None:
        return f"charter refused {verdict.tool or 'the call'}: {verdict.observation.content}"
    rules = f" ({', '.join(verdict.rules)})" if verdict.rules else ""
    return f"charter denied {verdict.tool or 'the call'}: {verdict.reason or 'not allowed'}{rules}"


@dataclass
class Gate:
    """One governed run's calls, made one at a time (the run proposes, decides and
    records a call before the next; Pydantic AI may start a response's calls together)."""

    run: GovernedRun
    inventory: Inventory
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    interrupted: bool = False
    """A call that may run was interrupted (cancelled, a ``KeyboardInterrupt``) before it
    returned: whether it had an effect is unknown."""

    async def call(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[Any],
        execute: Callable[[], Awaitable[Any]],
    ) -> Any:
        """Govern the call of ``name`` with ``tool_args``; run it with ``execute`` only
        if charter lets it run, and record what happened."""
        async with self.lock:
            args = jsonable(tool_args)
            run = self.run
            request = _request_of(ctx)
            if request is not None:
                verdict = self._approved(request, name, args)
            else:
                if run.run.status == "waiting" and not ctx.tool_call_approved:
                    # An earlier call of this response waits for a person: this one waits
                    # with it and is decided on resume (Pydantic AI allows one pause per run).
                    raise ApprovalRequired(
                        metadata={RUN_KEY: run.run_id, AFTER_KEY: run.run.waiting_for}
                    )
                self._settle_waiting()
                verdict = run.govern(name, args)
            return await self._act(verdict, execute)

    def report_usage(self, response: ModelResponse) -> None:
        """Count a model response's tokens against the run's budgets."""
        usage = response.usage
        if self.run.run.status in ("running", "waiting"):
            self.run.report_usage(
                prompt_tokens=usage.input_tokens,
                completion_tokens=usage.output_tokens,
                model=response.model_name or "",
            )

    def _approved(self, request: str, name: str, args: dict[str, Any]) -> CallVerdict:
        """The call an approval names, re-governed on charter's signed receipt; refused
        unless the framework is about to run exactly the approved call."""
        run = self.run
        if run.run.status != "waiting" or run.run.waiting_for != request:
            waits = run.run.waiting_for or "no approval"
            raise ToolFailed(
                f"charter refused {name}: approval {request} is not the one run "
                f"{run.run_id} waits for ({waits})"
            )
        verdict = run.approved_call()
        if verdict.runs and not self._same_call(verdict, name, args):
            run.record(
                verdict,
                error=(
                    f"not run: the approved call was {verdict.tool} {verdict.args}, "
                    f"the call about to run was {name} {args}"
                ),
            )
            raise ToolFailed(
                f"charter refused {name}: approval {request} was given for another call "
                f"({verdict.tool} with other arguments)"
            )
        return verdict

    def _same_call(self, verdict: CallVerdict, name: str, args: dict[str, Any]) -> bool:
        if verdict.tool != name:
            return False
        found = self.inventory.find(name)
        if found is None:
            return False
        try:
            validated = found.validate_args(args)
        except ToolArgumentsError:
            return False
        return jsonable(validated.model_dump(mode="json")) == jsonable(verdict.args)

    def _settle_waiting(self) -> None:
        """A run still waiting when another call comes (its own call's answer was never
        passed back) takes the decided approval first: charter journals its outcome."""
        run = self.run
        if run.run.status != "waiting":
            return
        verdict = run.approved_call()
        if verdict.runs:
            run.record(verdict, error="not run: the approved call was not passed back to the agent")

    async def _act(self, verdict: CallVerdict, execute: Callable[[], Awaitable[Any]]) -> Any:
        run = self.run
        if verdict.runs:
            try:
                result = await execute()
            except (ApprovalRequired, CallDeferred):
                run.record(verdict, error="not run: the tool deferred the call")
                raise
            except (ModelRetry, ToolFailed) as exc:
                run.record(verdict, error=f"{type(exc).__name__}: {exc.message}")
                raise
            except Exception as exc:
                run.record(verdict, error=f"{type(exc).__name__}: {exc}")
                raise
            except BaseException:
                self.interrupted = True  # left unrecorded: resuming journals it in doubt
                raise
            observation = run.record(verdict, result=jsonable(result))
            if observation.status != "ok":
                return observation.content
            found = self.inventory.find(verdict.tool)
            withheld = found is not None and found.contract.confidentiality == "secret"
            return observation.content if withheld else result
        if verdict.observation is not None and verdict.observation.status == "ok":
            return verdict.observation.content  # simulated (shadow phase): not run
        if verdict.verdict == "ask" and verdict.approval is not None:
            raise ApprovalRequired(
                metadata={
                    RUN_KEY: run.run_id,
                    REQUEST_KEY: verdict.approval.request_id,
                    "charter_step": verdict.step,
                    "charter_reason": verdict.reason,
                }
            )
        if run.run.status not in ("running", "waiting"):
            raise RunStoppedError(f"charter stopped run {run.run_id}: {verdict.reason}")
        raise ToolFailed(_refusal(verdict))


@dataclass
class GovernedToolset(WrapperToolset[Any]):
    """A toolset whose every call charter governs first (see :class:`Gate`)."""

    gate: Gate

    async def call_tool(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[Any],
        tool: ToolsetTool[Any],
    ) -> Any:
        """Run the wrapped tool only when charter lets the call run."""

        def execute() -> Awaitable[Any]:
            return self.wrapped.call_tool(name, tool_args, ctx, tool)

        return await self.gate.call(name, tool_args, ctx, execute)


@dataclass
class CharterCapability(AbstractCapability[Any]):
    """Governs one Pydantic AI run: wraps its toolset in :class:`GovernedToolset` and
    counts each model response's usage against the charter's budgets."""

    gate: Gate

    def get_wrapper_toolset(self, toolset: AbstractToolset[Any]) -> AbstractToolset[Any] | None:
        """Every non-output tool of the run goes through the gate."""
        return GovernedToolset(wrapped=toolset, gate=self.gate)

    async def after_model_request(
        self, ctx: RunContext[Any], *, request_context: Any, response: ModelResponse
    ) -> ModelResponse:
        """Report the response's tokens (journaled with the next call or the finish)."""
        self.gate.report_usage(response)
        return response

    @classmethod
    def get_serialization_name(cls) -> str | None:
        """Not built from a spec: it holds a live governed run."""
        return None
