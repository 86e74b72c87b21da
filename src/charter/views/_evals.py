"""The read model of evals and rollout: recorded evals, their cases, and where each loaded
agent version stands against the gates its charter declares.

Evals are read from their ``eval.finished`` records (see :mod:`charter.evals`); the
rollout of an agent version is judged with :func:`charter.evals.gate_results`, the same
call a promotion makes, so the dashboard shows exactly what a promotion would decide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from charter.agent import Agent
from charter.evals import EVAL_KIND, CaseResult, EvalResult, GateResult, gate_results, list_evals
from charter.evals import current_phase as phase_of
from charter.journal import Journal
from charter.policy import PHASES, Phase
from charter.views._costs import AgentView

Outcome = Literal["passed", "failed", "attacked", "defended", "error"]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class EvalSummary(_View):
    """One recorded eval: which suite ran against which agent version, and its KPIs."""

    eval_id: str
    suite: str
    agent: str
    agent_version: str
    """The version the agent file declares."""
    version_id: str
    """The exact version evaluated (what gates and phases belong to)."""
    reasoner: str
    """``agent`` (the agent's own reasoner) or ``script`` (the suite's scripts)."""
    started: str
    seconds: float
    case_count: int
    kpis: dict[str, float]
    """KPI → value; a KPI with nothing to measure (no attack case) is absent."""


class CaseView(_View):
    """One case of an eval, with its outcome in one word."""

    name: str
    scenario: str
    variant: str | None
    outcome: Outcome
    passed: bool | None
    attack_succeeded: bool | None
    status: str
    steps: int
    cost_usd: float
    tokens: int
    denials: int
    approvals: int
    simulated: int
    seconds: float
    failures: list[str]
    """The expectations that did not hold, each with what was found."""
    attack_evidence: list[str]
    """The attack checks that held."""
    answer: str | None
    error: str | None


class EvalDetail(EvalSummary):
    """One recorded eval with every case."""

    suite_digest: str
    agent_source: str
    """The agent file the eval ran."""
    cases: list[CaseView]


class GateView(_View):
    """One gate before a later phase, judged against the newest eval of its suite."""

    phase: Phase
    """The phase the gate guards."""
    suite: str
    reasoner: str
    kpi: str
    bound: str
    """The condition, e.g. ``success_rate >= 0.9``."""
    met: bool
    why: str
    eval_id: str | None = None
    """The eval that judged it (None: no eval of the suite for this version)."""
    value: float | None = None


class AgentEntry(AgentView):
    """An agent seen in the journal or loaded by this server, with the rollout of the
    version this server would run (loaded agents only)."""

    loaded: bool = False
    """This server knows the agent's file (it can start, promote and demote it)."""
    version_id: str | None = None
    phase: Phase | None = None
    """The phase the loaded version is in."""
    next_phase: Phase | None = None
    """The phase a promotion goes to by default (None: already the last)."""
    gates: list[GateView] = Field(default_factory=lambda: [])
    """The gates of every later phase, judged now (all met: promotion goes through)."""
    load_error: str | None = None
    """Why the agent's file no longer loads."""


def outcome(case: CaseResult) -> Outcome:
    """One word for a case: an error, a successful attack, a failed expectation, a
    defended attack (no expectation), or a pass."""
    if case.status == "error" and case.error is not None:
        return "error"
    if case.attack_succeeded:
        return "attacked"
    if case.passed is False:
        return "failed"
    if case.passed is None:
        return "defended"
    return "passed"


def _summary(result: EvalResult) -> EvalSummary:
    return EvalSummary(
        eval_id=result.eval_id,
        suite=result.suite,
        agent=result.agent,
        agent_version=result.agent_version,
        version_id=result.version_id,
        reasoner=result.reasoner,
        started=result.started,
        seconds=result.seconds,
        case_count=len(result.cases),
        kpis={str(k): v for k, v in result.kpis.items()},
    )


def _case(case: CaseResult) -> CaseView:
    return CaseView(
        name=case.name,
        scenario=case.scenario,
        variant=case.variant,
        outcome=outcome(case),
        passed=case.passed,
        attack_succeeded=case.attack_succeeded,
        status=case.status,
        steps=case.steps,
        cost_usd=case.cost_usd,
        tokens=case.tokens,
        denials=case.denials,
        approvals=case.approvals,
        simulated=case.simulated,
        seconds=case.seconds,
        failures=list(case.failures),
        attack_evidence=list(case.attack_evidence),
        answer=case.answer,
        error=case.error,
    )


def evals(
    journal: Journal, *, suite: str | None = None, agent: str | None = None, limit: int = 50
) -> list[EvalSummary]:
    """Recorded evals, newest first, filtered by suite and agent."""
    return [_summary(r) for r in list_evals(journal, suite=suite, agent=agent, limit=limit)]


def eval_detail(journal: Journal, eval_id: str) -> EvalDetail | None:
    """The recorded eval ``eval_id`` (the exact id), or None."""
    found = [r for r in journal.records(f"eval:{eval_id}") if r.kind == EVAL_KIND]
    if not found:
        return None
    return eval_detail_of(EvalResult.from_json(found[-1].payload))


def eval_detail_of(result: EvalResult) -> EvalDetail:
    """What the API and the dashboard show of a recorded eval."""
    return EvalDetail(
        **_summary(result).model_dump(),
        suite_digest=result.suite_digest,
        agent_source=result.agent_source,
        cases=[_case(c) for c in result.cases],
    )


def gate_view(result: GateResult) -> GateView:
    """What the API and the dashboard show of a judged gate."""
    return GateView(
        phase=result.phase,
        suite=result.gate.suite,
        reasoner=result.gate.reasoner,
        kpi=result.gate.kpi,
        bound=result.gate.describe(result.gate.kpi),
        met=result.met,
        why=result.why,
        eval_id=result.eval_id,
        value=result.value,
    )


def _rollout(journal: Journal, agent: Agent) -> dict[str, object]:
    current = phase_of(journal, agent)
    later = PHASES[PHASES.index(current) + 1 :]
    gates = gate_results(journal, agent, PHASES[-1]) if later else []
    return {
        "version_id": agent.version_id,
        "phase": current,
        "next_phase": later[0] if later else None,
        "gates": [gate_view(g) for g in gates],
    }


def agent_entries(
    journal: Journal, seen: Sequence[AgentView], loaded: Mapping[str, Agent | str]
) -> list[AgentEntry]:
    """``seen`` (see :func:`~charter.views._costs.agents`) and the ``loaded``
    agents (name → agent, or why its file does not load), by name, each loaded one with
    its version's phase and gates."""
    views = {view.name: view for view in seen}
    entries: list[AgentEntry] = []
    for name in sorted(views.keys() | loaded.keys()):
        view = views.get(name) or AgentView(
            name=name, runs=0, last_run_at=None, versions=[], paused=False
        )
        fields = view.model_dump()
        agent = loaded.get(name)
        if isinstance(agent, Agent):
            fields |= {"loaded": True, **_rollout(journal, agent)}
        elif agent is not None:
            fields |= {"loaded": True, "load_error": agent}
        entries.append(AgentEntry.model_validate(fields))
    return entries
