"""Eval results: per-case outcomes, suite KPIs, their record in the journal, and comparison.

A finished eval is journaled as one ``eval.finished`` record (run id ``eval:<id>``), so
the evidence a promotion relies on is hash-chained with everything else and cannot be
edited unnoticed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from charter.errors import CharterError
from charter.evals._suite import Case
from charter.journal import Journal, Record
from charter.journal._kinds import payload_as
from charter.journal._kinds_platform import EvalFinished
from charter.policy import SuiteKpi

EVAL_KIND = "eval.finished"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one case's run did and how its checks judged it."""

    name: str
    scenario: str
    variant: str | None
    passed: bool | None
    """Every expectation held (None: the case has none, it only judges an attack)."""
    attack_succeeded: bool | None
    """Some attack check held (None: the case is not an attack)."""
    status: str
    outcome: str | None = None
    """The run's outcome (``succeeded``, ``denied``, ``failed``, ...); None if it did not
    finish (it waits) or never ran."""
    steps: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    denials: int = 0
    approvals: int = 0
    simulated: int = 0
    seconds: float = 0.0
    failures: tuple[str, ...] = ()
    """The expectations that did not hold, each with what was found."""
    attack_evidence: tuple[str, ...] = ()
    """The attack checks that held."""
    answer: str | None = None
    error: str | None = None
    """Why the case could not be run or its run failed."""

    @classmethod
    def errored(cls, case: Case, error: str, seconds: float) -> CaseResult:
        """A case that could not be run at all (its world, its agent)."""
        return cls(
            name=case.name,
            scenario=case.scenario.name,
            variant=case.variant.name if case.variant else None,
            passed=None if case.expect.empty else False,
            attack_succeeded=None,
            status="error",
            seconds=seconds,
            error=error,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        """Inverse of :func:`dataclasses.asdict`."""
        fields = dict(data)
        fields["failures"] = tuple(fields.get("failures", ()))
        fields["attack_evidence"] = tuple(fields.get("attack_evidence", ()))
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class EvalResult:
    """One run of a suite against one agent version."""

    eval_id: str
    suite: str
    suite_digest: str
    agent: str
    agent_version: str
    version_id: str
    agent_source: str
    reasoner: str
    started: str
    seconds: float
    cases: tuple[CaseResult, ...] = field(default_factory=tuple)
    approver: str = "none"
    """Who answered approval requests (``none``: nobody, runs that asked wait)."""

    @property
    def kpis(self) -> dict[SuiteKpi, float]:
        """The suite's KPIs; a KPI with nothing to measure (no attack case) is absent."""
        runs = [c for c in self.cases if c.status != "error"]
        judged = [c for c in self.cases if c.passed is not None]
        attacks = [c for c in self.cases if c.attack_succeeded is not None]
        kpis: dict[SuiteKpi, float] = {
            "errors": float(sum(1 for c in self.cases if c.status == "error")),
        }
        if judged:
            kpis["success_rate"] = sum(1 for c in judged if c.passed) / len(judged)
        if attacks:
            succeeded = sum(1 for c in attacks if c.attack_succeeded)
            kpis["attack_successes"] = float(succeeded)
            kpis["attack_success_rate"] = succeeded / len(attacks)
        if runs:
            kpis["cost_per_run_usd"] = sum(c.cost_usd for c in runs) / len(runs)
            kpis["steps_per_run"] = sum(c.steps for c in runs) / len(runs)
            kpis["denials_per_run"] = sum(c.denials for c in runs) / len(runs)
            kpis["approvals_per_run"] = sum(c.approvals for c in runs) / len(runs)
        return kpis

    def to_json(self) -> dict[str, Any]:
        """The journaled payload (KPIs included, for readers that do not recompute)."""
        return asdict(self) | {"kpis": {k: round(v, 6) for k, v in self.kpis.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalResult:
        """Inverse of :meth:`to_json`."""
        fields = {k: v for k, v in data.items() if k != "kpis"}
        fields["cases"] = tuple(CaseResult.from_json(c) for c in data.get("cases", ()))
        return cls(**fields)

    @property
    def started_at(self) -> datetime:
        """When the eval started (UTC)."""
        return datetime.fromisoformat(self.started)


def record_eval(journal: Journal, result: EvalResult) -> Record:
    """Journal ``result`` as the evidence promotions read."""
    return journal.append([(f"eval:{result.eval_id}", EVAL_KIND, result.to_json())])[0]


def list_evals(
    journal: Journal,
    *,
    suite: str | None = None,
    agent: str | None = None,
    version_id: str | None = None,
    limit: int = 50,
) -> list[EvalResult]:
    """Recorded evals, newest first, filtered by suite, agent and exact version."""

    def wanted(record: Record) -> bool:
        p = payload_as(EvalFinished, record.payload)
        return (
            (suite is None or p.get("suite") == suite)
            and (agent is None or p.get("agent") == agent)
            and (version_id is None or p.get("version_id") == version_id)
        )

    found = journal.newest_matching(EVAL_KIND, wanted, limit=limit)
    return [EvalResult.from_json(r.payload) for r in found]


def get_eval(journal: Journal, eval_id: str) -> EvalResult:
    """The recorded eval ``eval_id`` (a unique prefix is enough).

    Raises:
        CharterError: no eval, or several, match.
    """
    found = journal.newest_matching(
        EVAL_KIND,
        lambda r: str(payload_as(EvalFinished, r.payload).get("eval_id", "")).startswith(eval_id),
        limit=2,
    )
    if not found:
        raise CharterError(f"no recorded eval {eval_id!r} (charter eval list shows them)")
    if len(found) > 1 and payload_as(EvalFinished, found[0].payload)["eval_id"] != eval_id:
        raise CharterError(f"{eval_id!r} matches several evals; give more of the id")
    return EvalResult.from_json(found[0].payload)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two evals of one suite side by side: KPI deltas and the cases whose outcome flipped."""

    before: EvalResult
    after: EvalResult
    kpis: dict[str, tuple[float | None, float | None]]
    """KPI → (before, after)."""
    fixed: tuple[str, ...]
    """Cases that failed before and pass now."""
    broken: tuple[str, ...]
    """Cases that passed before and fail now."""
    newly_attacked: tuple[str, ...]
    """Attacks that failed before and succeed now."""
    defended: tuple[str, ...]
    """Attacks that succeeded before and fail now."""
    same_suite: bool
    """Both evals ran the same suite content (else the figures may not be comparable)."""


def compare(before: EvalResult, after: EvalResult) -> Comparison:
    """How ``after`` differs from ``before`` (evals of the same suite).

    Raises:
        CharterError: the evals are of different suites.
    """
    if before.suite != after.suite:
        raise CharterError(
            f"cannot compare evals of different suites ({before.suite!r}, {after.suite!r})"
        )
    names: list[SuiteKpi] = list(dict.fromkeys([*before.kpis, *after.kpis]))
    kpis: dict[str, tuple[float | None, float | None]] = {
        k: (before.kpis.get(k), after.kpis.get(k)) for k in names
    }
    old = {c.name: c for c in before.cases}
    pairs = [(old[c.name], c) for c in after.cases if c.name in old]
    return Comparison(
        before,
        after,
        kpis,
        fixed=tuple(n.name for o, n in pairs if o.passed is False and n.passed),
        broken=tuple(n.name for o, n in pairs if o.passed and n.passed is False),
        newly_attacked=tuple(
            n.name for o, n in pairs if not o.attack_succeeded and n.attack_succeeded
        ),
        defended=tuple(
            n.name for o, n in pairs if o.attack_succeeded and n.attack_succeeded is False
        ),
        same_suite=before.suite_digest == after.suite_digest,
    )
