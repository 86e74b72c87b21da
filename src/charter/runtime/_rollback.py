"""Rollback: undo a run's completed effects in reverse order (a saga's compensation).

Every write or external call that completed is looked up in the journal, newest first.
A tool with a ``compensate`` callable is undone by calling it with the call's arguments
and its journaled ``result``; a tool without one is reported as irreversible; a call
whose outcome is unknown (``in_doubt`` after a timeout) is reported for a human, never
guessed at. Each outcome is journaled under the run's id (``rollback.*``), so the audit
trail shows what was undone, by whom, and what could not be.

Rollback is resumable: after a crash half-way, running it again skips the effects already
compensated. A rolled-back waiting run is finished, so it can no longer resume.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from charter.agent import Agent
from charter.errors import RunNotFoundError, RunStateError
from charter.journal import Journal, Record
from charter.journal._kinds import (
    EffectResolved,
    Payload,
    RollbackCompensated,
    RunWaiting,
    StepProposed,
    payload_as,
)
from charter.journal._outcome import Outcome, OutcomeTally
from charter.runtime._approvals import closing_entry
from charter.runtime._history import check_owner, history, run_state, waiting_record
from charter.runtime._lineage import waiting_child
from charter.tools import ToolArgumentsError

RollbackOutcome = Literal["compensated", "irreversible", "in_doubt", "failed"]


@dataclass(frozen=True, slots=True)
class RollbackItem:
    """What became of one completed effect."""

    step: int
    tool: str
    outcome: RollbackOutcome
    detail: str = ""


@dataclass(slots=True)
class RollbackReport:
    """A run's rollback, effect by effect, newest first."""

    run_id: str
    items: list[RollbackItem] = field(default_factory=lambda: [])
    outcome: Outcome | None = None
    """The run's outcome after the rollback (``rolled_back`` once a write was undone;
    journaled in ``rollback.finished``)."""

    @property
    def complete(self) -> bool:
        """Whether every effect was compensated (nothing left for a human)."""
        return all(item.outcome == "compensated" for item in self.items)


def _json_ready(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _pending_effects(
    records: list[Record],
) -> list[tuple[int, str, dict[str, Any], dict[str, Any]]]:
    """Completed or in-doubt non-read effects not yet compensated, newest first. An
    in-doubt effect since resolved counts as what it was resolved to: done (with its late
    result, if one arrived), or nothing to undo."""
    resolved: dict[int, EffectResolved] = {}
    for record in records:
        if record.kind == "effect.resolved":
            settled = payload_as(EffectResolved, record.payload)
            resolved.setdefault(int(settled["step"]), settled)
    args_of: dict[int, dict[str, Any]] = {}
    for record in records:
        if record.kind == "step.proposed":
            proposed = payload_as(StepProposed, record.payload)
            action = proposed["action"]
            if "tool" in action:
                args_of[int(proposed["step"])] = dict(action["args"])
    done = {
        int(payload_as(RollbackCompensated, r.payload)["step"])  # every undone item alike
        for r in records
        if r.kind in ("rollback.compensated", "rollback.irreversible", "rollback.in_doubt")
    }
    found: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = []
    for record in records:
        p: dict[str, Any] = record.payload
        if record.kind != "step.effect" or int(p["step"]) in done:
            continue
        settled = resolved.get(int(p["step"])) if p.get("in_doubt") else None
        if settled is not None:
            if settled["outcome"] != "happened":
                continue
            p = {**p, "in_doubt": False, "status": "ok", "result": settled.get("result")}
        if p["status"] == "ok" or p.get("in_doubt"):
            found.append((int(p["step"]), str(p["tool"]), args_of.get(int(p["step"]), {}), p))
    return list(reversed(found))


def refuse_fileless_caller_run(journal: Journal, run_id: str, *, hint: str = "") -> None:
    """Refuse to roll back, from an agent file, a run its caller's code governs (a
    framework integration's or the governance API's) when no agent file describes its
    agent: its compensations live in that code, so the rollback must be made there.

    Args:
        journal: the journal holding the run.
        run_id: the whole run id.
        hint: another way the caller can give the agent, added to the error.

    Raises:
        RunNotFoundError: no such run.
        RunStateError: the run is such a run (the message names the API to use).
    """
    started = history(journal, run_id)[0].payload
    if started.get("governed_by") != "caller":
        return
    source = started.get("source")
    if source and Path(str(source)).exists():
        return
    raise RunStateError(
        f"run {run_id} is governed by its caller's code and agent {started.get('agent')!r} "
        "has no agent file: roll it back in that code, with "
        "charter.runtime.rollback(journal, agent, run_id, actor=...) for the agent it "
        "governs with, or the integration's rollback (Pydantic AI: "
        f"governed.rollback(run_id, actor=...)){hint}"
    )


def rollback(
    journal: Journal,
    agent: Agent,
    run_id: str,
    *,
    actor: str,
    on_record: Callable[[Record], None] | None = None,
) -> RollbackReport:
    """Undo the completed effects of ``run_id`` (a run of ``agent``), newest first.

    Raises:
        RunNotFoundError: no such run.
        RunStateError: the run belongs to another agent, is still running, or was
            already rolled back.
    """
    records = list(journal.records(run_id))
    if not records or records[0].kind != "run.started":
        raise RunNotFoundError(f"no run with id {run_id!r}; `charter runs` lists them")
    check_owner(records, agent)
    if any(r.kind == "rollback.finished" for r in records):
        raise RunStateError(f"run {run_id} was already rolled back")
    state = run_state(records)
    if state == "running":
        raise RunStateError(f"run {run_id} is still running; pause its agent or wait for it")

    tally = OutcomeTally()
    for record in records:
        tally.add(record.kind, record.payload)

    def append(kind: str, payload: Payload, *, checkpoint: bool = False) -> None:
        tally.add(kind, payload)
        if kind in ("run.finished", "rollback.finished"):
            payload = {**payload, "outcome": tally.outcome()}
        stored = journal.append([(run_id, kind, payload)], checkpoint=checkpoint)
        if on_record is not None:
            for item in stored:
                on_record(item)

    append("rollback.started", {"actor": actor})
    if state == "waiting":  # a run that is undone must not resume afterwards
        append(
            "run.finished",
            {
                "status": "stopped",
                "error": f"rolled back by {actor}",
                "answer": None,
                "steps": 0,
                "tokens": 0,
                "cost_usd": 0.0,
            },
        )
    waiting = waiting_record(records) if state == "waiting" else None
    asked = None if waiting is None else payload_as(RunWaiting, waiting.payload)["request_id"]
    below = asked and waiting_child(records, str(asked))
    if asked is not None and not below:  # its request leaves every inbox with it
        request_id = str(asked)
        append(*closing_entry(run_id, request_id, f"run rolled back by {actor}")[1:])
    report = RollbackReport(run_id)
    if below:  # a child it waits with: its writes are the newest, and it ends with it
        step, tool_name, child_id = below
        item = _undo_child(
            journal, agent.delegates[tool_name].agent, step, tool_name, child_id, actor
        )
        report.items.append(item)
        append(
            f"rollback.{item.outcome}",
            {"step": item.step, "tool": item.tool, "detail": item.detail, "actor": actor},
        )
    for step, tool_name, args, effect in _pending_effects(records):
        known = agent.inventory.find(tool_name)
        if tool_name in agent.delegates and "child_run" in effect:
            child = agent.delegates[tool_name].agent
            item = _undo_child(journal, child, step, tool_name, str(effect["child_run"]), actor)
        elif known is not None and known.contract.side_effect == "read":
            continue  # reads changed nothing
        else:
            item = _undo(agent, step, tool_name, args, effect)
        report.items.append(item)
        append(
            f"rollback.{item.outcome}",
            {"step": item.step, "tool": item.tool, "detail": item.detail, "actor": actor},
        )
    append(
        "rollback.finished",
        {
            "actor": actor,
            "complete": report.complete,
            "outcomes": dict(Counter(item.outcome for item in report.items)),
        },
        checkpoint=True,
    )
    report.outcome = tally.outcome()
    return report


def _undo_child(
    journal: Journal, child: Agent, step: int, tool_name: str, child_id: str, actor: str
) -> RollbackItem:
    """Roll back the run a delegation started (its own writes, newest first, and its
    children's), as one item of its parent's rollback."""
    try:
        report = rollback(journal, child, child_id, actor=actor)
    except RunStateError as exc:
        if "already rolled back" not in str(exc):
            return RollbackItem(step, tool_name, "failed", f"sub-agent run {child_id}: {exc}")
        return RollbackItem(step, tool_name, "compensated", f"sub-agent run {child_id}: {exc}")
    counts = Counter(item.outcome for item in report.items)
    detail = f"sub-agent run {child_id}: " + (
        ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing to undo"
    )
    if report.complete:
        return RollbackItem(step, tool_name, "compensated", detail)
    worst: RollbackOutcome = next(
        o
        for o in ("in_doubt", "failed", "irreversible")
        if counts[o]  # type: ignore[misc]
    )
    return RollbackItem(step, tool_name, worst, detail)


def _undo(
    agent: Agent, step: int, tool_name: str, args: dict[str, Any], effect: dict[str, Any]
) -> RollbackItem:
    if effect.get("in_doubt"):
        return RollbackItem(
            step, tool_name, "in_doubt", "the call timed out: whether it took effect is unknown"
        )
    tool = agent.inventory.find(tool_name)
    if tool is None:
        return RollbackItem(step, tool_name, "failed", "the agent no longer has this tool")
    if tool.compensate is None:
        return RollbackItem(step, tool_name, "irreversible", "the tool declares no compensation")
    result = effect.get("result")
    if isinstance(result, dict) and "withheld" in result:
        return RollbackItem(step, tool_name, "failed", "the result was withheld as secret")
    try:
        validated = dict(tool.validate_args(args))
        undone = tool.compensate(result=result, **validated)
    except ToolArgumentsError as exc:
        return RollbackItem(step, tool_name, "failed", str(exc))
    except Exception as exc:  # the compensation's own failure is reported, not raised
        return RollbackItem(step, tool_name, "failed", f"{type(exc).__name__}: {exc}")
    return RollbackItem(step, tool_name, "compensated", str(_json_ready(undone))[:500])
