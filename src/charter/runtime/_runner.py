"""The run loop: perceive → reason → govern → act → record.

The loop itself stays short; the charter decides, tools act, the journal records. Anything
a reasoner gets wrong (unknown tool, bad arguments) and anything a tool does wrong (error,
timeout) becomes an observation the reasoner sees next, never a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from charter.agent import Agent
from charter.errors import JournalError, ReasonerUnavailableError, UnknownToolError
from charter.journal import Journal, Record, canonical_json
from charter.journal._store import Entry
from charter.policy import BudgetMeter
from charter.reasoners._base import (
    FinalAnswer,
    Observation,
    Proposal,
    RunContext,
    ToolCall,
    Turn,
)
from charter.runtime._controls import Controls, ControlState
from charter.runtime._provenance import RunLabels
from charter.runtime._run import Run, Step
from charter.tools import Tool, ToolArgumentsError

RecordListener = Callable[[Record], None]


def new_run_id() -> str:
    """A 32-hex-digit id that sorts by creation time (journal indexes grow at the end)."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


class Runner:
    """Runs agents against goals, journaling every step.

    Args:
        journal: where every record goes.
        on_record: called with each record once it is durably stored (progress, UIs).
        tool_workers: threads available to tools that declare a timeout.
    """

    def __init__(
        self, journal: Journal, *, on_record: RecordListener | None = None, tool_workers: int = 4
    ) -> None:
        self.journal = journal
        self._on_record = on_record
        self._pool = ThreadPoolExecutor(max_workers=tool_workers, thread_name_prefix="charter-tool")
        self._journaled_policies: set[str] = set()
        self.controls = Controls(journal)
        """Operator controls (kill switch, revocations), checked before every step."""

    def close(self) -> None:
        """Stop the tool threads (calls still running are abandoned)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def run(self, agent: Agent, goal: str) -> Run:
        """Run ``agent`` on ``goal`` until it answers, a budget stops it, or it fails."""
        run = Run(run_id=new_run_id(), agent=agent.name, goal=goal)
        pending: list[Entry] = []

        def record(kind: str, payload: dict[str, Any]) -> None:
            pending.append((run.run_id, kind, payload))

        def flush(*, checkpoint: bool = False) -> None:
            stored = self.journal.append(pending, checkpoint=checkpoint)
            pending.clear()
            if self._on_record is not None:
                for item in stored:
                    self._on_record(item)

        record("run.started", agent.manifest() | {"goal": goal})
        self._record_policy(agent, record)
        flush()
        context = RunContext(
            goal=goal, instructions=agent.instructions, tools=agent.tools(), run_id=run.run_id
        )
        meter = BudgetMeter(agent.charter.budgets)
        completed: set[str] = set()  # canonical calls that took effect, for the repeat rule
        labels = RunLabels(goal)
        try:
            while run.status == "running":
                self._step(agent, run, context, meter, completed, labels, record, flush)
        except ReasonerUnavailableError as exc:
            run.status, run.error = "failed", str(exc)
        except BaseException as exc:
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            record("run.finished", _finish(run, meter))
            with contextlib.suppress(JournalError):  # if the journal failed, its error stands
                flush(checkpoint=True)
            raise
        record("run.finished", _finish(run, meter))
        flush(checkpoint=True)  # a run's end is signed with it (when the journal has a key)
        return run

    @staticmethod
    def _paused(
        agent: Agent,
        run: Run,
        record: Callable[[str, dict[str, Any]], None],
        controls: ControlState,
    ) -> bool:
        """Stop ``run`` if an operator paused its agent."""
        reason = controls.pause_reason(agent.name)
        if reason is not None:
            record("run.paused", {"agent": agent.name, "reason": reason})
            run.status, run.error = "stopped", f"agent {agent.name!r} paused: {reason}"
        return reason is not None

    def _record_policy(self, agent: Agent, record: Callable[[str, dict[str, Any]], None]) -> None:
        # Each policy version is journaled once, so any decision can be explained later
        # from the journal alone (`charter policy explain`).
        version = agent.charter.policy_hash
        if version not in self._journaled_policies:
            known = {
                r.payload.get("policy") for r in self.journal.records_of_kind("policy.version")
            }
            self._journaled_policies |= {str(v) for v in known}
        if version not in self._journaled_policies:
            record("policy.version", {"policy": version, "charter": agent.charter.model_dump()})
            self._journaled_policies.add(version)

    def _step(
        self,
        agent: Agent,
        run: Run,
        context: RunContext,
        meter: BudgetMeter,
        completed: set[str],
        labels: RunLabels,
        record: Callable[[str, dict[str, Any]], None],
        flush: Callable[[], None],
    ) -> None:
        # A paused agent starts no run; a running one is stopped after its next proposal
        # (below), before anything it proposed can act: one control check per step.
        if not run.steps and self._paused(agent, run, record, self.controls.state()):
            return
        breach = meter.breach()
        if breach is not None:
            rule, message = breach
            record("budget.exceeded", {"rule": rule, "reason": message})
            run.status, run.error = "stopped", message
            return
        proposal = agent.reasoner.propose(context)  # reason
        meter.steps += 1
        usage = proposal.usage
        meter.charge_tokens(
            proposal.model, usage.prompt_tokens, usage.completion_tokens, agent.charter.prices
        )
        step = Step(index=meter.steps, action=proposal.action, usage=proposal.usage)
        run.steps.append(step)
        action = proposal.action
        record(
            "step.proposed",
            {
                "step": step.index,
                "action": _action_json(action),
                "tokens": {
                    "prompt": proposal.usage.prompt_tokens,
                    "completion": proposal.usage.completion_tokens,
                },
                "model": proposal.model,
            },
        )
        if isinstance(action, FinalAnswer):
            run.status, run.answer = "completed", action.text
            return
        controls = self.controls.state()  # read after reasoning, which may take seconds
        if self._paused(agent, run, record, controls):
            return
        revoked = controls.revocation(action.tool, agent.name)
        observation = self._govern_and_act(
            agent, step, proposal, meter, completed, revoked, labels, record, flush
        )
        step.observation = observation
        record(
            "step.observed",
            {"step": step.index, "status": observation.status, "text": observation.render()},
        )
        flush()
        context.turns.append(Turn(action, observation))  # perceive

    def _govern_and_act(
        self,
        agent: Agent,
        step: Step,
        proposal: Proposal,
        meter: BudgetMeter,
        completed: set[str],
        revoked: str | None,
        labels: RunLabels,
        record: Callable[[str, dict[str, Any]], None],
        flush: Callable[[], None],
    ) -> Observation:
        call = proposal.action
        assert isinstance(call, ToolCall)
        try:
            found = agent.inventory.get(call.tool)
        except UnknownToolError as exc:
            return Observation("unknown_tool", str(exc))
        try:
            validated = found.validate_args(call.args)
        except ToolArgumentsError as exc:
            return Observation("invalid_arguments", str(exc))
        args = validated.model_dump(mode="json")
        key = ""
        if found.contract.side_effect != "read":  # only writes are held to the repeat rule
            key = canonical_json([found.name, args])
        arg_labels = labels.arg_labels(found, args, proposal.sources)
        decision = agent.govern(  # govern
            found, args, repeat=key in completed, revoked=revoked, labels=arg_labels
        )
        step.decision = decision
        record(
            "step.decided",
            {"step": step.index, "tool": found.name, "labels": labels.context.to_json()}
            | decision.to_json(),
        )
        if not decision.allowed:
            return Observation("denied", f"{decision.reason} (rule {', '.join(decision.rules)})")
        if found.contract.side_effect != "read":
            flush()  # a write is journaled as decided before it can touch the world
        observation, effect = self._act(found, validated)
        if found.contract.confidentiality == "secret" and observation.status == "ok":
            observation, effect = _withhold_secret(found, observation, effect)
        if observation.status in ("ok", "error"):  # the tool's own output reached the model
            labels.observe(found, observation.render(), step.index)
        if key and observation.status == "ok":
            completed.add(key)
        meter.cost_usd += found.contract.cost_usd
        record("step.effect", {"step": step.index, "tool": found.name} | effect)
        return observation

    def _act(self, found: Tool, validated: Any) -> tuple[Observation, dict[str, Any]]:
        started = time.perf_counter()
        timeout = found.contract.timeout_s
        try:
            if timeout is None:
                result = found.invoke(validated)
            else:
                result = self._pool.submit(found.invoke, validated).result(timeout=timeout)
        except FutureTimeout:
            elapsed = int((time.perf_counter() - started) * 1e6)
            message = f"tool {found.name!r} did not finish within {timeout}s"
            in_doubt = found.contract.side_effect != "read"
            effect = {"status": "timeout", "error": message, "in_doubt": in_doubt, "us": elapsed}
            return Observation("timeout", message), effect
        except Exception as exc:
            elapsed = int((time.perf_counter() - started) * 1e6)
            message = f"{type(exc).__name__}: {exc}"
            return Observation("error", message), {
                "status": "error",
                "error": message,
                "us": elapsed,
            }
        elapsed = int((time.perf_counter() - started) * 1e6)
        return Observation("ok", result), {"status": "ok", "result": result, "us": elapsed}


def _withhold_secret(
    found: Tool, observation: Observation, effect: dict[str, Any]
) -> tuple[Observation, dict[str, Any]]:
    # Secret outputs reach neither the model nor the journal: both get a digest only.
    digest = hashlib.sha256(canonical_json(observation.content).encode()).hexdigest()
    shown = f"[secret output of {found.name} withheld; sha256 {digest[:16]}]"
    return Observation("ok", shown), effect | {"result": {"withheld": "secret", "sha256": digest}}


def _action_json(action: ToolCall | FinalAnswer) -> dict[str, Any]:
    if isinstance(action, FinalAnswer):
        return {"answer": action.text}
    return {"tool": action.tool, "args": action.args}


def _finish(run: Run, meter: BudgetMeter) -> dict[str, Any]:
    run.tokens, run.cost_usd = meter.tokens, meter.cost_usd
    return {
        "status": run.status,
        "answer": run.answer,
        "error": run.error,
        "steps": meter.steps,
        "tokens": meter.tokens,
        "cost_usd": round(meter.cost_usd, 6),
    }
