"""Delegation: an agent's call of a sub-agent, run as a child run governed from above.

A parent's call of a delegate tool (see :class:`charter.agent.Delegate`) is decided like
any other call; when it may run, it starts a run of the sub-agent on the task the
parent's reasoner wrote, driven by the same runner, in the parent's process:

- linked both ways: the parent journals ``delegate.started`` (the child's run id and the
  call's idempotency key) before the child starts, and the child's id in the step's
  effect; the child's ``run.started`` names its parent run, step and root run
  (``delegated_by``);
- authority only narrows: each call of the child is decided by its own charter and by
  every charter above it (:func:`._decide.decide`, ``ancestors``), the stricter verdict
  winning, every matched rule reported;
- budgets are shared: the child's limits are its own, cut to what its parent has left
  (steps, tokens, dollars, seconds); what it spent is added to its parent's;
- labels travel: the child's task carries the label the parent's call gave it (an
  untrusted task vouches for nothing), and its result the join of everything it read;
- controls cascade: cancelling or pausing a run or an agent above stops the child at its
  next step; an approval it needs names the chain of agents and is answered by the
  approvers of the strictest charter on the chain; its parent waits on the same request,
  and resuming either continues the child under its parent.

Exactly once: the child's run id is journaled with the parent call's idempotency key
before the child starts. A parent recovered after a crash finds it there and continues,
or reads, that child; it never starts a second one for the same step.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from charter.agent import Agent
from charter.errors import CharterError
from charter.journal import Record
from charter.journal._kinds import (
    CallOutcome,
    DelegateStarted,
    DelegateWaiting,
    RunFinished,
    RunWaiting,
    payload_as,
)
from charter.policy import BudgetMeter, Budgets, Decision
from charter.reasoners._base import Observation, RunContext, ToolCall
from charter.runtime._decide import ProposedCall, Verdict
from charter.runtime._governor import Governed
from charter.runtime._history import history, rebuild, run_state, waiting_record
from charter.runtime._lineage import (
    DELEGATE_STARTED,
    DELEGATE_WAITING,
    DELEGATED_BY,
    children,
    waiting_child,
)
from charter.runtime._provenance import RunLabels
from charter.runtime._run import Run, Step
from charter.runtime._session import Session, new_run_id
from charter.tools import Tool

if TYPE_CHECKING:
    from charter.runtime._runner import Runner

__all__ = [
    "DELEGATE_STARTED",
    "DELEGATE_WAITING",
    "children",
    "continue_delegation",
    "delegate",
    "end_waiting_child",
]


def _started(
    records: list[Record], *, key: str | None = None, step: int | None = None
) -> Record | None:
    for record in records:
        if record.kind != DELEGATE_STARTED:
            continue
        started = payload_as(DelegateStarted, record.payload)
        if key is not None and started["idempotency_key"] == key:
            return record
        if step is not None and int(started["step"]) == step:
            return record
    return None


def delegate(
    runner: Runner,
    session: Session,
    step: Step,
    found: Tool,
    key: str,
    args: dict[str, Any] | None = None,
) -> tuple[Observation, CallOutcome] | None:
    """Run (or, after a crash or an approval, continue) the child run of the delegation
    ``found`` that ``session``'s ``step`` makes under idempotency ``key``; ``args``: the
    call's arguments as governed (masked where the charter says; default: as proposed).

    Returns the observation and effect for the parent's step, or None when the child
    waits for an approval (the parent's run is then set waiting on the same request).
    """
    child_agent = session.agent.delegates[found.name].agent
    call = step.action
    assert isinstance(call, ToolCall)
    task = str((call.args if args is None else args)["task"])
    clock = time.perf_counter()
    earlier = _started(history(runner.journal, session.run.run_id), key=key)
    try:
        if earlier is None:
            budgets = child_budgets(session.meter, child_agent.charter.budgets)
            if isinstance(budgets, str):
                error = f"not delegated to {child_agent.name}: {budgets}"
                return Observation("error", error), CallOutcome(status="error", error=error, us=0)
            child_id = new_run_id()
            session.record(
                DELEGATE_STARTED,
                DelegateStarted(
                    step=step.index,
                    tool=found.name,
                    agent=child_agent.name,
                    child_run=child_id,
                    idempotency_key=key,
                ),
            )
            runner.governor.flush(session)  # the child is found by its key, should we crash
            _start(runner, session, step, child_agent, child_id, key, budgets, task)
        else:
            child_id = str(payload_as(DelegateStarted, earlier.payload)["child_run"])
            _continue(runner, session, step, child_agent, child_id, key, task)
    except CharterError as exc:  # the child could not be driven: the parent's reasoner hears why
        error = f"delegation to {child_agent.name} failed: {exc}"
        return Observation("error", error), CallOutcome(status="error", error=error, us=0)
    return _returned(runner, session, step, child_agent, child_id, clock)


def child_budgets(parent: BudgetMeter, own: Budgets) -> Budgets | str:
    """``own`` budgets cut to what ``parent`` has left, or why nothing is left."""
    limits = parent.budgets
    steps = limits.max_steps - parent.steps - parent.delegated_steps
    if steps < 1:
        return f"the step budget of {limits.max_steps} is used up"
    update: dict[str, Any] = {"max_steps": min(own.max_steps, steps)}
    if limits.max_tokens is not None:
        left = limits.max_tokens - parent.tokens - parent.delegated_tokens
        if left < 1:
            return f"the token budget of {limits.max_tokens} is used up"
        update["max_tokens"] = min(own.max_tokens or left, left)
    if limits.max_cost_usd is not None:
        left_usd = limits.max_cost_usd - parent.cost_usd - parent.delegated_cost_usd
        if left_usd <= 0:
            return f"the cost budget of ${limits.max_cost_usd} is used up"
        update["max_cost_usd"] = min(own.max_cost_usd or left_usd, left_usd)
    if limits.max_wall_seconds is not None:
        left_s = limits.max_wall_seconds - (time.monotonic() - parent.started)
        if left_s <= 0:
            return f"the wall-time budget of {limits.max_wall_seconds}s is used up"
        update["max_wall_seconds"] = min(own.max_wall_seconds or left_s, left_s)
    # A child that overruns stops: extending a budget is its parent's approvers' call.
    return own.model_copy(update=update | {"on_breach": "stop"})


def _start(
    runner: Runner,
    parent: Session,
    step: Step,
    child_agent: Agent,
    child_id: str,
    key: str,
    budgets: Budgets,
    task: str,
) -> Run:
    label = (step.labels or {}).get("task", parent.labels.context)
    above = parent.ancestors()
    root = above[-1] if above else parent
    origin = {
        "run": parent.run.run_id,
        "step": step.index,
        "agent": parent.agent.name,
        "root": root.run.run_id,
        "depth": len(above) + 1,
        "idempotency_key": key,
        "task_label": label.to_json(),
        "root_goal": root.run.goal,  # what whoever started the chain asked: trusted
        "budgets": budgets.model_dump(mode="json"),
    }
    run = Run(run_id=child_id, agent=child_agent.name, goal=task)
    session = Session(
        child_agent,
        run,
        RunContext(task, child_agent.instructions, child_agent.tools(), run_id=child_id),
        BudgetMeter(budgets),
        RunLabels(task, label, vouching=root.run.goal),
        parent.actor,
        parent=parent,
    )
    return runner.start(session, claim=True, started={DELEGATED_BY: origin})


def _continue(
    runner: Runner,
    parent: Session,
    step: Step,
    child_agent: Agent,
    child_id: str,
    key: str,
    task: str,
) -> Run | None:
    """Drive on a child its parent already started: start it if it never journaled its
    start, recover it if its process stopped, resume it if its request was decided."""
    from charter.runtime import _recovery  # it imports this module

    own = list(runner.journal.records(child_id))
    if not own:  # the parent stopped between journaling the child and starting it
        budgets = child_budgets(parent.meter, child_agent.charter.budgets)
        if isinstance(budgets, str):
            raise CharterError(budgets)
        return _start(runner, parent, step, child_agent, child_id, key, budgets, task)
    state = run_state(own)
    if state == "finished":
        return None
    if state == "running":
        return _recovery.recover(runner, child_agent, child_id, actor=parent.actor, parent=parent)
    waiting = waiting_record(own)
    assert waiting is not None
    request_id = str(payload_as(RunWaiting, waiting.payload)["request_id"])
    if runner.approvals.get(request_id).status == "pending":
        return None  # still undecided: the parent waits on with it
    return _recovery.resume(runner, child_agent, child_id, actor=parent.actor, parent=parent)


def _returned(
    runner: Runner,
    session: Session,
    step: Step,
    child_agent: Agent,
    child_id: str,
    clock: float,
) -> tuple[Observation, CallOutcome] | None:
    """What the parent's step observes of its child, read from the child's journal."""
    records = history(runner.journal, child_id)
    if run_state(records) == "waiting":
        waiting = waiting_record(records)
        assert waiting is not None
        request_id = str(payload_as(RunWaiting, waiting.payload)["request_id"])
        session.record(
            DELEGATE_WAITING,
            DelegateWaiting(step=step.index, child_run=child_id, request_id=request_id),
        )
        session.run.status, session.run.waiting_for = "waiting", request_id
        return None
    finished = next(
        payload_as(RunFinished, r.payload) for r in reversed(records) if r.kind == "run.finished"
    )
    read = rebuild(child_agent, records, "").labels.context  # everything the child saw
    steps, tokens = int(finished.get("steps", 0)), int(finished.get("tokens", 0))
    cost = float(finished.get("cost_usd") or 0.0)
    spent: dict[str, Any] = {"steps": steps, "tokens": tokens, "cost_usd": cost}
    meter = session.meter
    meter.delegated_steps += steps
    meter.delegated_tokens += tokens
    meter.delegated_cost_usd += cost
    result: dict[str, Any] = {
        "agent": child_agent.name,
        "run": child_id,
        "status": finished["status"],
        "answer": finished.get("answer"),
    }
    if error := finished.get("error"):
        result["error"] = error
    effect: CallOutcome = {
        "status": "ok",  # the delegation took place, whatever became of the child
        "result": result,
        "child_run": child_id,
        "labels": read.to_json(),
        "delegated": spent,
        "us": int((time.perf_counter() - clock) * 1e6),
    }
    status = "ok" if finished["status"] == "completed" else "error"
    return Observation(status, result), effect


def continue_delegation(runner: Runner, session: Session, *, recovered: bool = False) -> None:
    """Continue the delegation ``session``'s last step made (its child waited for an
    approval, or, ``recovered``, the parent's process stopped while the child ran), then
    journal what the parent observes of it, as :meth:`Runner._govern_and_act` does for a
    live call."""
    step = session.run.steps[-1]
    call = step.action
    assert isinstance(call, ToolCall)
    found = session.agent.inventory.get(call.tool)
    validated = found.validate_args(call.args)
    args = validated.model_dump(mode="json")
    # As journaled: masked where the charter masks the task (the child was given that).
    action = runner.governor.proposal(session, step)["action"]
    assert "args" in action  # a call's proposal
    kept = found.validate_args(action["args"])
    journaled = kept.model_dump(mode="json")
    proposed = ProposedCall(step.index, found, args, step.labels or {}, journaled=journaled)
    earlier = _started(history(runner.journal, session.run.run_id), step=step.index)
    key = (
        str(payload_as(DelegateStarted, earlier.payload)["idempotency_key"])
        if earlier is not None
        else session.ledger.key(session.run.run_id, step.index, proposed.identity)
    )
    outcome = delegate(runner, session, step, found, key, journaled)
    if outcome is None:
        return
    observation, effect = outcome
    if recovered:
        effect["recovered"] = True
    allowed = Decision("allow", (), "decided when the step was proposed", "")
    governed = Governed(proposed, Verdict(allowed, "autonomous"), kept, key, journaled)
    observation = runner.governor.record_effect(session, step, governed, observation, effect)
    runner.governor.observed(session, step, call, observation)


def end_waiting_child(runner: Runner, session: Session, request_id: str) -> None:
    """End the child ``session``'s run waited with on ``request_id`` (and its own
    children), now that the parent stopped instead of continuing it."""
    from charter.runtime import _recovery  # it imports this module

    below = waiting_child(history(runner.journal, session.run.run_id), request_id)
    if below is None:
        return
    why = f"run {session.run.run_id} that delegated it stopped: {session.run.error}"
    with contextlib.suppress(CharterError):  # it ended meanwhile: nothing to end
        _recovery.cancel(runner, below[2], actor="charter", reason=why)
