"""Replay: re-render a journaled run and decide every call again, executing nothing.

The journal holds each proposal, decision and observation, so a run can be walked again
without touching any tool or model. Each proposed call is decided anew by the same
:func:`~charter.runtime._decide.decide` the live run used, under an agent's current
charter, in the state rebuilt from the journal as it stood when the step was decided:
the labels its arguments carried, the run's task scope (its ``run.scoped`` record), the
operator controls then in force (revocations, supervision, rollout phase), the run's
completed and in-doubt writes, and the rate-limit and anomaly windows of the records
before it. That answers "what would today's policy
have said?" before a charter change is rolled out. Differences are flagged step by step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from charter.agent import Agent, load_agent
from charter.journal import Journal, Record
from charter.journal._kinds import (
    AnomalyDetected,
    ProposedAction,
    RunStarted,
    StepDecided,
    StepEffect,
    StepObserved,
    StepProposed,
    payload_as,
)
from charter.policy import Decision, Label
from charter.policy._scope import TaskScope
from charter.runtime._anomaly import AnomalyWatch, JournalRateLimiter
from charter.runtime._controls import CONTROL_KINDS, fold_controls
from charter.runtime._decide import CallState, ProposedCall, decide
from charter.runtime._history import history, run_scope
from charter.runtime._inherit import replay as inherited
from charter.runtime._ledger import EffectLedger
from charter.runtime._lineage import DELEGATED_BY, relabelled, run_labels
from charter.runtime._provenance import RunLabels
from charter.runtime._redaction import journaled_masks
from charter.tools import ToolArgumentsError


@dataclass(frozen=True, slots=True)
class ReplayedStep:
    """One journaled step and the decision the agent's charter makes on it now."""

    step: int
    action: ProposedAction
    then: StepDecided | None
    """The journaled decision (verdict, rules, reason, policy); None if none was made."""
    now: Decision | None
    """Today's decision; None for a final answer or arguments that no longer validate."""

    @property
    def changed(self) -> bool:
        """Whether today's verdict differs from the journaled one."""
        if self.then is None or self.now is None:
            return (self.then is None) != (self.now is None)
        return self.then["verdict"] != self.now.verdict


def replay(
    journal: Journal, agent: Agent, run_id: str, *, ancestors: Sequence[Agent] | None = None
) -> list[ReplayedStep]:
    """Every step of ``run_id`` with its journaled decision and today's, in order.

    A sub-agent's run is decided under the charters above it too: ``ancestors``, the
    agents that delegated it, nearest first (default: loaded from the files its parent
    runs started from, those still there).
    """
    records = history(journal, run_id)
    controls = list(journal.records_of_kinds(CONTROL_KINDS))
    labels = run_labels(records[0].payload)
    scope = run_scope(agent, records)
    above = tuple(ancestors if ancestors is not None else _ancestors(journal, records[0]))
    actions: dict[int, ProposedAction] = {}
    then: dict[int, StepDecided] = {}
    now: dict[int, Decision | None] = {}
    effects: dict[int, StepEffect] = {}
    for index, record in enumerate(records[1:], start=1):
        p = record.payload
        step = int(p.get("step", 0))
        match record.kind:
            case "step.proposed":
                actions[step] = payload_as(StepProposed, p)["action"]
            case "step.decided" if step not in then:  # a resume decides again: keep the first
                decided = then[step] = payload_as(StepDecided, p)
                state = _state_at(journal, agent, records, index, controls, scope)
                state.ancestors = above
                now[step] = _decide(agent, labels, actions.get(step, {}), decided, state)
            case "step.effect":
                effects[step] = payload_as(StepEffect, p)
            case "step.observed":
                _observe(
                    agent, labels, actions.get(step, {}), then.get(step), record, effects.get(step)
                )
            case "run.inherited":
                inherited(labels, agent.inventory, p)
            case _:
                pass
    return [
        ReplayedStep(step, action, then.get(step), now.get(step))
        for step, action in sorted(actions.items())
    ]


def _state_at(
    journal: Journal,
    agent: Agent,
    records: list[Record],
    index: int,
    controls: list[Record],
    scope: TaskScope | None,
) -> CallState:
    """The state the call decided by ``records[index]`` was decided in, from the journal."""
    decided, before = records[index], records[:index]
    at = datetime.fromisoformat(decided.ts)
    ledger = EffectLedger.replay(before, agent.inventory.find)
    effects = [payload_as(StepEffect, r.payload) for r in before if r.kind == "step.effect"]
    return CallState(
        agent,
        decided.run_id,
        str(payload_as(RunStarted, records[0].payload).get("version_id", agent.version_id)),
        fold_controls(controls, decided.seq),
        ledger,
        {call for call, done in ledger.done.items() if done},
        JournalRateLimiter(journal, agent.name, lambda: at, before=decided.seq),
        AnomalyWatch(journal, lambda: at, before=decided.seq),
        [str(p["tool"]) for p in effects if p.get("status") != "simulated"],
        {
            str(payload_as(AnomalyDetected, r.payload)["rule"])
            for r in before
            if r.kind == "anomaly.detected"
        },
        scope=scope,
    )


def _ancestors(journal: Journal, started: Record) -> list[Agent]:
    """The agents above a delegated run, nearest first, from their runs' agent files."""
    found: list[Agent] = []
    origin = payload_as(RunStarted, started.payload).get(DELEGATED_BY)
    while origin:
        parent = payload_as(RunStarted, history(journal, str(origin["run"]))[0].payload)
        source = parent.get("source")
        if source and Path(str(source)).exists():
            found.append(load_agent(str(source)))
        origin = parent.get(DELEGATED_BY)
    return found


def _decide(
    agent: Agent,
    labels: RunLabels,
    action: Mapping[str, Any],
    then: StepDecided | None,
    state: CallState,
) -> Decision | None:
    tool = agent.inventory.find(str(action.get("tool", "")))
    if tool is None:
        return (
            None
            if "answer" in action
            else agent.charter.deny(
                "inventory.unknown", f"the agent has no tool {action.get('tool')!r} now"
            )
        )
    try:
        args = tool.validate_args(dict(action["args"])).model_dump(mode="json")
    except ToolArgumentsError:
        return None
    sources = _sources(then)
    step = int((then or {}).get("step", 0))
    state.scope = labels.resolve(state.scope)  # what the goal designated, as read by then
    arg_labels = labels.arg_labels(tool, args, sources, state.scope)
    # Values given back from placeholders are not in the journal: their labels are.
    restored = {str(r["arg"]): r for r in (then or {}).get("restored", [])}
    for name, record in restored.items():
        if isinstance(record.get("label"), dict):
            arg_labels[name] = Label(**record["label"])
    # Values masked before the call was journaled are there by their placeholders: their
    # labels are journaled with them, and the rules that masked them mask them still.
    premasked = journaled_masks(args, (then or {}).get("redacted", []), arg_labels)
    call = ProposedCall(step, tool, args, arg_labels, frozenset(restored), premasked=premasked)
    return decide(call, state).decision


def _sources(decided: StepDecided | None) -> dict[str, tuple[int, ...]] | None:
    raw = (decided or {}).get("sources")
    return None if raw is None else {k: tuple(v) for k, v in raw.items()}


def _observe(
    agent: Agent,
    labels: RunLabels,
    action: Mapping[str, Any],
    decided: StepDecided | None,
    observed: Record,
    effect: StepEffect | None,
) -> None:
    tool = agent.inventory.find(str(action.get("tool", "")))
    if tool is None or (effect or {}).get("status") not in ("ok", "error"):
        return
    tool = relabelled(tool, effect or {})  # a delegation's result: what its child read
    try:
        args = tool.validate_args(dict(action["args"])).model_dump(mode="json")
    except ToolArgumentsError:
        return
    shown = payload_as(StepObserved, observed.payload)
    labels.observe(
        tool, str(shown["text"]), int(shown["step"]), args=args, sources=_sources(decided)
    )
