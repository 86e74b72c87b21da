"""Production KPIs of an agent version, and the automatic demotion its charter declares.

After each finished run of a version whose charter has ``rollout.demote``, the runner
measures the version's newest finished runs (``window`` of them, from the journal, so
runs in every process count) and, if a KPI is out of bounds, moves the version back to
``demote.to`` with a ``control.phase`` record naming the breach. Every process sees the
new phase from its next step on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from charter.journal import Journal, Record
from charter.journal._outcome import OutcomeTally, run_outcome
from charter.journal._reads import payloads_of_runs
from charter.policy import PHASES, Demotion, Phase, RunKpi
from charter.runtime._controls import Controls

DEMOTER = "charter:demote"
"""Actor of automatic demotions."""


@dataclass(frozen=True, slots=True)
class RunKpis:
    """KPIs of an agent version's newest finished runs."""

    runs: int
    values: dict[RunKpi, float]


def production_kpis(journal: Journal, agent: str, version_id: str, window: int) -> RunKpis:
    """KPIs over the newest ``window`` finished runs of ``agent`` at ``version_id``."""

    def mine(record: Record) -> bool:
        p = record.payload
        return p.get("agent") == agent and p.get("version_id") == version_id

    finished = journal.newest_matching("run.finished", mine, limit=window)
    runs = len(finished)
    if runs == 0:
        return RunKpis(0, {})
    outcomes = _outcomes(journal, finished)

    def mean(key: str) -> float:
        return sum(float(r.payload.get(key) or 0) for r in finished) / runs

    values: dict[RunKpi, float] = {
        "success_rate": outcomes.count("succeeded") / runs,
        "denial_rate": outcomes.count("denied") / runs,
        "failure_rate": sum(1 for o in outcomes if o not in ("succeeded", "denied")) / runs,
        "cost_per_run_usd": mean("cost_usd"),
        "denials_per_run": mean("denied"),
        "approvals_per_run": mean("asked"),
        "steps_per_run": mean("steps"),
    }
    return RunKpis(runs, values)


def _outcomes(journal: Journal, finished: list[Record]) -> list[str | None]:
    """The outcome of each run whose ``run.finished`` is in ``finished``: as journaled,
    updated by a later ``rollback.finished`` (one query), or derived from the run's
    records for a journal written before runs journaled outcomes."""
    tallies = {r.run_id: OutcomeTally() for r in finished}
    for record in finished:
        tallies[record.run_id].add(record.kind, record.payload)
    undone = payloads_of_runs(journal, list(tallies), ["rollback.finished"])
    for run_id, _seq, kind, payload in undone:
        tallies[run_id].add(kind, payload)
    return [
        tallies[r.run_id].outcome()
        if "outcome" in r.payload
        else run_outcome(journal.records(r.run_id))
        for r in finished
    ]


def breaches(demotion: Demotion, kpis: RunKpis) -> list[dict[str, Any]]:
    """Each KPI out of its bounds, as journaled evidence (none before ``min_runs``)."""
    if kpis.runs < demotion.min_runs:
        return []
    return [
        {
            "kpi": gate.kpi,
            "value": round(kpis.values[gate.kpi], 6),
            "bound": gate.describe(gate.kpi),
            "runs": kpis.runs,
        }
        for gate in demotion.kpis
        if not gate.holds(kpis.values[gate.kpi])
    ]


def demote_if_breached(
    journal: Journal,
    controls: Controls,
    *,
    agent: str,
    version_id: str,
    phase: Phase,
    demotion: Demotion,
) -> list[dict[str, Any]]:
    """Demote the version if its recent runs breach a KPI; return the breaches found.

    Nothing happens when the version is already at or before ``demotion.to``.
    """
    if PHASES.index(phase) <= PHASES.index(demotion.to):
        return []
    found = breaches(demotion, production_kpis(journal, agent, version_id, demotion.window))
    if found:
        controls.set_phase(
            agent,
            version_id,
            demotion.to,
            actor=DEMOTER,
            reason="; ".join(f"{b['bound']} breached ({b['kpi']} = {b['value']:g})" for b in found),
            previous=phase,
            evidence=found,
        )
    return found
