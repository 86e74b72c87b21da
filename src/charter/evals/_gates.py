"""Promotion on evidence: an agent version moves to a later rollout phase only when every
gate its charter declares for that phase is met by a recorded eval of this exact version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from charter.agent import Agent
from charter.errors import CharterError
from charter.evals._results import EvalResult, list_evals
from charter.journal import Journal
from charter.policy import PHASES, Gate, Phase
from charter.runtime import Controls


class PromotionRefusedError(CharterError):
    """A promotion whose gates are not all met (nothing was changed)."""

    def __init__(self, message: str, results: list[GateResult]) -> None:
        super().__init__(message)
        self.results = results


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate, the eval that judged it, and whether it is met."""

    phase: Phase
    gate: Gate
    met: bool
    why: str
    eval_id: str | None = None
    value: float | None = None

    def evidence(self) -> dict[str, Any]:
        """What the ``control.phase`` record keeps of this gate."""
        return {
            "phase": self.phase,
            "suite": self.gate.suite,
            "reasoner": self.gate.reasoner,
            "kpi": self.gate.kpi,
            "bound": self.gate.describe(self.gate.kpi),
            "value": self.value,
            "eval_id": self.eval_id,
        }


def current_phase(journal: Journal, agent: Agent) -> Phase:
    """The phase ``agent``'s version is in: the last promotion or demotion of it, or
    the charter's starting phase."""
    phase = Controls(journal).state().phase_of(agent.name, agent.version_id)
    return phase or agent.charter.phase


def gate_results(
    journal: Journal, agent: Agent, target: Phase, *, now: datetime | None = None
) -> list[GateResult]:
    """Every gate between the version's current phase and ``target``, judged."""
    now = now or datetime.now(UTC)
    rollout = agent.charter.rollout
    start = PHASES.index(current_phase(journal, agent)) + 1
    oldest = now - timedelta(days=rollout.max_eval_age_days)
    newest: dict[tuple[str, str], EvalResult | None] = {}
    results: list[GateResult] = []
    for phase in PHASES[start : PHASES.index(target) + 1]:
        for gate in rollout.gates.get(phase, []):
            key = (gate.suite, gate.reasoner)
            if key not in newest:
                found = [
                    e
                    for e in list_evals(
                        journal, suite=gate.suite, agent=agent.name, version_id=agent.version_id
                    )
                    # An eval whose approver said yes or no to everything measured an
                    # assumption about people, not the version: it never counts.
                    if e.reasoner == gate.reasoner and e.approver == "none"
                ]
                newest[key] = found[0] if found else None
            results.append(_judge(phase, gate, newest[key], oldest, agent))
    return results


def _judge(
    phase: Phase, gate: Gate, found: EvalResult | None, oldest: datetime, agent: Agent
) -> GateResult:
    bound = gate.describe(gate.kpi)
    if found is None:
        how = " --reasoner script" if gate.reasoner == "script" else ""
        why = (
            f"no eval of suite {gate.suite!r}{how} for version {agent.version_id}: "
            f"run charter eval <suite file> --agent <agent file>{how}"
        )
        return GateResult(phase, gate, False, why)
    if found.started_at < oldest:
        why = f"the newest eval of {gate.suite!r} ({found.eval_id}) is too old to count"
        return GateResult(phase, gate, False, why, found.eval_id)
    value = found.kpis.get(gate.kpi)
    if value is None:
        why = f"eval {found.eval_id} of {gate.suite!r} measured no {gate.kpi}"
        return GateResult(phase, gate, False, why, found.eval_id)
    met = gate.holds(value)
    why = f"{bound}: {gate.kpi} = {value:g} in eval {found.eval_id}"
    return GateResult(phase, gate, met, why, found.eval_id, value)


def promote(
    journal: Journal,
    agent: Agent,
    *,
    actor: str,
    reason: str = "",
    to: Phase | None = None,
    now: datetime | None = None,
) -> tuple[Phase, list[GateResult]]:
    """Move ``agent``'s version to ``to`` (default: the next phase) if every gate is met.

    Returns the phase it left and the gates judged (journaled as the promotion's evidence).

    Raises:
        PromotionRefusedError: a gate is not met (nothing is journaled).
        CharterError: ``to`` is not later than the current phase.
    """
    current = current_phase(journal, agent)
    if to is None:
        if current == PHASES[-1]:
            raise CharterError(f"{agent.name} {agent.version_id} is already {current}")
        to = PHASES[PHASES.index(current) + 1]
    if PHASES.index(to) <= PHASES.index(current):
        raise CharterError(
            f"{agent.name} {agent.version_id} is {current}: promotion goes to a later phase "
            "(charter agents demote goes back)"
        )
    results = gate_results(journal, agent, to, now=now)
    unmet = [r for r in results if not r.met]
    if unmet:
        lines = "; ".join(f"[{r.phase}] {r.why}" for r in unmet)
        raise PromotionRefusedError(
            f"{agent.name} {agent.version_id} stays {current}: {len(unmet)} of {len(results)} "
            f"gate(s) unmet: {lines}",
            results,
        )
    Controls(journal).set_phase(
        agent.name,
        agent.version_id,
        to,
        actor=actor,
        reason=reason or f"{len(results)} gate(s) met",
        previous=current,
        evidence=[r.evidence() for r in results],
    )
    return current, results


def demote(journal: Journal, agent: Agent, to: Phase, *, actor: str, reason: str) -> Phase:
    """Move ``agent``'s version back to ``to`` (no gate: stepping back is always allowed).

    Raises:
        CharterError: ``to`` is not earlier than the current phase.
    """
    current = current_phase(journal, agent)
    if PHASES.index(to) >= PHASES.index(current):
        raise CharterError(f"{agent.name} {agent.version_id} is {current}: {to} is not earlier")
    Controls(journal).set_phase(
        agent.name, agent.version_id, to, actor=actor, reason=reason, previous=current
    )
    return current
