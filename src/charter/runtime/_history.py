"""A run read back from the journal: its records (a fork's with its parent's), its
lifecycle state, and the session it left, rebuilt to continue it."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, Literal, cast

from charter.agent import Agent
from charter.errors import (
    RunNotFoundError,
    RunStateError,
)
from charter.journal import Journal, Record, canonical_json
from charter.journal._kinds import (
    AnomalyDetected,
    ApprovalUsed,
    BudgetExtended,
    RunResumed,
    RunStarted,
    StepDecided,
    StepEffect,
    StepObserved,
    StepProposed,
    payload_as,
)
from charter.policy import BudgetMeter
from charter.policy._scope import TaskScope, derive_scope
from charter.reasoners._base import (
    FinalAnswer,
    Observation,
    ObservationStatus,
    RunContext,
    ToolCall,
    Turn,
    Usage,
)
from charter.runtime._inherit import replay as inherited
from charter.runtime._ledger import (
    RESOLVED,
    EffectLedger,
)
from charter.runtime._lineage import relabelled, run_budgets, run_labels
from charter.runtime._run import Run, Step
from charter.runtime._session import Session
from charter.tools import ToolArgumentsError


def history(journal: Journal, run_id: str) -> list[Record]:
    """A run's records; for a fork, its own ``run.started``, then the steps it kept from
    its parent, then its own records.

    Raises:
        RunNotFoundError: no such run.
    """
    own = list(journal.records(run_id))
    if not own or own[0].kind != "run.started":
        raise RunNotFoundError(f"no run with id {run_id!r}; `charter runs` lists them")
    origin = payload_as(RunStarted, own[0].payload).get("forked_from")
    if not origin:
        return own
    at = int(origin["step"])
    kept = [r for r in history(journal, str(origin["run"]))[1:] if kept_by_fork(r, at)]
    return [own[0], *kept, *own[1:]]


def kept_by_fork(record: Record, at: int) -> bool:
    """Whether a fork at step ``at`` keeps its parent's ``record``: the steps before ``at``
    and what resolved their in-doubt writes."""
    step_record = record.kind.startswith("step.") or record.kind == RESOLVED
    return step_record and int(record.payload.get("step", 0)) < at


def resumed_undecided(records: list[Record]) -> str | None:
    """The request id a run was resumed for, if nothing was decided since the resume."""
    for record in reversed(records):
        if record.kind == "step.decided":
            return None
        if record.kind == "run.resumed":
            return str(payload_as(RunResumed, record.payload)["request_id"])
    return None


def interrupted_write(records: list[Record]) -> tuple[int, str] | None:
    """``(step, tool)`` of a write allowed to run but with no journaled effect, if any."""
    decided: dict[int, str] = {}
    allowed: dict[int, str] = {}
    for record in records:
        if record.kind == "step.decided":
            p = payload_as(StepDecided, record.payload)
            tool = str(p["tool"])
            decided[int(p["step"])] = tool
            if p["verdict"] in ("allow", "redact"):  # redact: it runs, masked
                allowed[int(p["step"])] = tool
        elif record.kind == "approval.used":
            used = int(payload_as(ApprovalUsed, record.payload).get("step", 0))
            if used in decided:
                allowed[used] = decided[used]
        elif record.kind in ("step.effect", "step.observed"):
            allowed.pop(int(record.payload.get("step", 0)), None)
    return max(allowed.items()) if allowed else None


def check_driven_here(records: list[Record]) -> None:
    """Raise RunStateError if the run's caller drives it (the governance API), not
    charter's run loop."""
    if payload_as(RunStarted, records[0].payload).get("governed_by") == "caller":
        raise RunStateError(
            f"run {records[0].run_id} is governed from its caller's own loop "
            "(charter.governance): its caller resumes it, with GovernedRun.resume"
        )


def check_owner(records: list[Record], agent: Agent) -> None:
    """Raise RunStateError unless the run whose records these are is ``agent``'s."""
    owner = payload_as(RunStarted, records[0].payload)["agent"]
    if owner != agent.name:
        raise RunStateError(
            f"run {records[0].run_id} belongs to agent {owner!r}, not {agent.name!r}"
        )


def run_state(records: list[Record]) -> Literal["running", "waiting", "finished"]:
    """A run's lifecycle state, from its latest ``run.finished|waiting|resumed`` record."""
    for record in reversed(records):
        match record.kind:
            case "run.finished":
                return "finished"
            case "run.waiting":
                return "waiting"
            case "run.resumed":
                return "running"
            case _:
                pass
    return "running"


def waiting_record(records: list[Record]) -> Record | None:
    """The run's ``run.waiting`` record if waiting is its latest state, else None."""
    for record in reversed(records):
        if record.kind == "run.waiting":
            return record
        if record.kind in ("run.resumed", "run.finished"):
            return None
    return None


def _observation(status: ObservationStatus, text: str) -> Observation:
    """An observation as the reasoner saw it, rebuilt from its journaled text."""
    if status == "ok":
        try:
            return Observation("ok", json.loads(text))
        except ValueError:
            return Observation("ok", text)  # cut for length, or withheld: the text it saw
    return Observation(status, text.removeprefix(f"{status}: "))


def run_scope(agent: Agent, records: list[Record]) -> TaskScope | None:
    """The task scope a run's calls are decided in: the one it journaled when it started
    (``run.scoped``), else the one ``agent``'s charter gives its goal (a run started before
    the charter had ``scope`` rules), else None."""
    for record in records:
        if record.kind == "run.scoped":
            return TaskScope.from_json(record.payload)
    scope = agent.charter.scope
    goal = payload_as(RunStarted, records[0].payload)["goal"]
    return None if scope is None else derive_scope(scope, str(goal))


def rebuild(agent: Agent, records: list[Record], actor: str) -> Session:
    """The session of a journaled run, as it stood when it began waiting."""
    started = records[0]
    manifest = payload_as(RunStarted, started.payload)
    goal = str(manifest["goal"])
    run = Run(run_id=started.run_id, agent=agent.name, goal=goal)
    meter = BudgetMeter(run_budgets(started.payload, agent.charter.budgets))
    session = Session(
        agent,
        run,
        RunContext(goal, agent.instructions, agent.tools(), run_id=run.run_id),
        meter,
        run_labels(started.payload),
        actor or str(manifest.get("actor", "")),
        scope=run_scope(agent, records),
    )
    steps: dict[int, Step] = {}
    effects: dict[int, dict[str, Any]] = {}
    active, segment = 0.0, datetime.fromisoformat(started.ts)
    for record in records[1:]:
        session.tally.add(record.kind, record.payload)
        match record.kind:
            case "step.proposed":
                p = payload_as(StepProposed, record.payload)
                action = p["action"]
                tokens = p.get("tokens", {"prompt": 0, "completion": 0})
                usage = Usage(int(tokens.get("prompt", 0)), int(tokens.get("completion", 0)))
                step = Step(
                    int(p["step"]),
                    FinalAnswer(action["answer"])
                    if "answer" in action
                    else ToolCall(action["tool"], dict(action["args"])),
                    usage,
                )
                step.masked = list(p.get("redacted") or [])  # its values are not held
                steps[step.index] = step
                run.steps.append(step)
                meter.steps = step.index
                meter.charge_tokens(
                    str(p.get("model", "")),
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    agent.charter.prices,
                )
            case "step.decided":
                decided = payload_as(StepDecided, record.payload)
                sources = decided.get("sources")
                if sources is not None and int(decided["step"]) in steps:
                    steps[int(decided["step"])].sources = {k: tuple(v) for k, v in sources.items()}
            case "step.effect":
                p = record.payload
                effects[int(p["step"])] = p
                session.calls.append(str(p["tool"]))
                tool = agent.inventory.find(str(p["tool"]))
                if tool is not None:
                    meter.cost_usd += tool.contract.cost_usd
                effect = payload_as(StepEffect, p)
                spent: dict[str, Any] = effect.get("delegated") or {}  # a sub-agent's spending
                if spent:
                    meter.delegated_steps += int(spent.get("steps", 0))
                    meter.delegated_tokens += int(spent.get("tokens", 0))
                    meter.delegated_cost_usd += float(spent.get("cost_usd", 0.0))
            case "step.observed":
                observed = payload_as(StepObserved, record.payload)
                _replay_observation(session, steps[int(observed["step"])], observed, effects)
            case "run.inherited":
                inherited(session.labels, agent.inventory, record.payload)
            case "run.waiting":
                active += (datetime.fromisoformat(record.ts) - segment).total_seconds()
            case "run.resumed":
                segment = datetime.fromisoformat(record.ts)
            case "anomaly.detected":
                session.fired.add(str(payload_as(AnomalyDetected, record.payload)["rule"]))
            case "budget.extended":
                extended = payload_as(BudgetExtended, record.payload)
                meter.budgets = meter.budgets.extended(str(extended["rule"]))
            case _:
                pass
    meter.started = time.monotonic() - active
    session.ledger = EffectLedger.replay(records, agent.inventory.find)
    session.completed |= {call for call, done in session.ledger.done.items() if done}
    return session


def _replay_observation(
    session: Session, step: Step, payload: StepObserved, effects: dict[int, dict[str, Any]]
) -> None:
    call = step.action
    assert isinstance(call, ToolCall)
    effect = effects.get(step.index, {})
    status = effect.get("status")
    result = effect.get("result")
    if status == "ok" and not (isinstance(result, dict) and "withheld" in result):
        observation = Observation("ok", result)  # whole, where the rendered text was cut
    else:
        observation = _observation(cast(ObservationStatus, payload["status"]), str(payload["text"]))
    step.observation = observation
    session.context.turns.append(Turn(call, observation))
    tool = session.agent.inventory.find(call.tool)
    if tool is None or status not in ("ok", "error"):
        return  # the tool never ran: nothing of its own reached the model
    try:
        args = tool.validate_args(call.args).model_dump(mode="json")
    except ToolArgumentsError:
        return
    session.labels.observe(
        relabelled(tool, effect), str(payload["text"]), step.index, args=args, sources=step.sources
    )
    if status == "ok" and tool.contract.side_effect != "read":
        session.completed.add(canonical_json([tool.name, args]))
